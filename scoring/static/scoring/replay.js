// A replay's page: while it runs, polls its progress (JSON) and reloads once it is
// finished; once done, draws the ROC curves from <script type="application/json"
// id="replay-roc-data"> with Chart.js (the Content-Security-Policy runs no inline script).
(function () {
  "use strict";
  var box = document.getElementById("replay-run");
  if (box && box.dataset.finished !== "true") {
    var poll = function () {
      fetch(box.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (run) {
          document.getElementById("replay-status").textContent = run.label;
          document.getElementById("replay-progress").value = run.progress;
          document.getElementById("replay-percent").textContent = run.progress + "%";
          if (run.finished) {
            window.location.reload();
          } else {
            window.setTimeout(poll, 1000);
          }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 1000);
  }

  var data = document.getElementById("replay-roc-data");
  var canvas = document.getElementById("replay-roc");
  if (!data || !canvas || typeof Chart === "undefined") {
    return;
  }
  var roc = JSON.parse(data.textContent);
  var points = function (pairs) {
    return pairs.map(function (p) { return { x: p[0], y: p[1] }; });
  };
  var line = function (label, pairs, colour, dashed) {
    return {
      label: label, data: points(pairs), borderColor: colour, backgroundColor: colour,
      showLine: true, fill: false, pointRadius: 2, borderDash: dashed ? [4, 4] : [],
    };
  };
  var chart = new Chart(canvas, {
    type: "scatter",
    data: {
      datasets: [
        line(roc.words.live, roc.live, "#3b5bdb", false),
        line(roc.words.draft, roc.draft, "#f59f00", false),
        line(roc.words.coin, [[0, 0], [1, 1]], "#adb5bd", true),
      ],
    },
    options: {
      animation: false, // drawn at once: what the page shows is final
      locale: document.documentElement.lang, // numbers on the axes as the page writes them
      maintainAspectRatio: false,
      scales: {
        x: { min: 0, max: 1, title: { display: true, text: roc.words.x } },
        y: { min: 0, max: 1, title: { display: true, text: roc.words.y } },
      },
    },
  });
  canvas.dataset.drawn = String(chart.data.datasets[0].data.length + chart.data.datasets[1].data.length);
})();
