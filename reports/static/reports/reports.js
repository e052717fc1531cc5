// Draws a report's chart from the data its page put in <script type="application/json"
// id="report-chart"> (the Content-Security-Policy runs no inline script, so the page
// carries data only). Chart.js is loaded before this file.
(function () {
  "use strict";
  var data = document.getElementById("report-chart");
  var canvas = document.getElementById("report-chart-canvas");
  if (!data || !canvas || typeof Chart === "undefined") {
    return;
  }
  var spec = JSON.parse(data.textContent);
  var colours = ["#3b5bdb", "#2b8a3e", "#f59f00", "#c92a2a", "#7048e8"];
  var chart = new Chart(canvas, {
    type: spec.type || "bar",
    data: {
      labels: spec.labels,
      datasets: spec.datasets.map(function (set, i) {
        return { label: set.label, data: set.data, backgroundColor: colours[i % colours.length] };
      }),
    },
    options: {
      indexAxis: spec.horizontal ? "y" : "x",
      animation: false, // drawn at once: what the page shows is final
      locale: document.documentElement.lang, // numbers on the axes and in tooltips as the page writes them
      maintainAspectRatio: false,
      plugins: { legend: { display: spec.datasets.length > 1 } },
      scales: spec.percent ? { y: { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } } } : {},
    },
  });
  canvas.dataset.drawn = String(chart.data.labels.length);
})();
