/* Draws the overview's charts with Chart.js from the page's data (a json_script tag:
   the CSP runs no inline script). Each chart shows the numbers of the table under it.
   When every chart is drawn, <body data-charts="drawn"> says so. */
(function () {
  "use strict";

  var COLORS = ["#3b5bdb", "#2b8a3e", "#f08c00", "#c2255c", "#0c8599", "#7048e8", "#5c940d", "#e8590c"];
  var GREY = "#adb5bd";
  var LATE = "#c92a2a";
  // Legends in the page's language: the page gives the words (a json_script tag).
  var WORDS = JSON.parse(document.getElementById("chart-words").textContent);

  function color(index, total) {
    // The last series of the trend is "No group": grey, so the groups stand out.
    return index === total - 1 && total > 1 ? GREY : COLORS[index % COLORS.length];
  }

  function base(extra) {
    var options = {
      animation: false,
      locale: document.documentElement.lang, // numbers on the axes and in tooltips as the page writes them
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
    };
    return Object.assign(options, extra || {});
  }

  var builders = {
    groups: function (data) {
      return {
        type: "bar",
        data: { labels: data.labels, datasets: [{ label: WORDS.leads, data: data.values,
          backgroundColor: data.labels.map(function (_, i) { return color(i, data.labels.length); }) }] },
        options: base()
      };
    },
    trend: function (data) {
      return {
        type: "line",
        data: { labels: data.labels, datasets: data.series.map(function (s, i) {
          return { label: s.label, data: s.values, borderColor: color(i, data.series.length),
            backgroundColor: color(i, data.series.length), pointRadius: 0, borderWidth: 2, spanGaps: false };
        }) },
        options: base({ plugins: { legend: { display: true, position: "bottom" } },
          scales: { x: { ticks: { maxTicksLimit: 12 } }, y: { beginAtZero: true, ticks: { precision: 0 } } } })
      };
    },
    funnel: function (data) {
      return {
        type: "bar",
        data: { labels: data.labels, datasets: [{ label: WORDS.reached, data: data.values, backgroundColor: COLORS[0] }] },
        options: base({ indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } })
      };
    },
    fit: function (data) {
      return {
        type: "bar",
        data: { labels: data.labels, datasets: [{ label: WORDS.leads, data: data.values, backgroundColor: COLORS[4] }] },
        options: base()
      };
    },
    engagement: function (data) {
      return {
        type: "bar",
        data: { labels: data.labels, datasets: [{ label: WORDS.leads, data: data.values, backgroundColor: COLORS[2] }] },
        options: base()
      };
    },
    queues: function (data) {
      return {
        type: "bar",
        data: { labels: data.labels, datasets: [
          { label: WORDS.within_sla, data: data.within, backgroundColor: COLORS[0] },
          { label: WORDS.past_sla, data: data.late, backgroundColor: LATE }
        ] },
        options: base({ plugins: { legend: { display: true, position: "bottom" } },
          scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } })
      };
    },
    mqls: function (data) {
      return {
        type: "bar",
        data: { labels: data.labels, datasets: [
          { type: "bar", label: WORDS.mqls_delivered, data: data.delivered, backgroundColor: COLORS[1], order: 2 },
          { type: "line", label: WORDS.target, data: data.target, borderColor: LATE, backgroundColor: LATE,
            borderWidth: 2, pointRadius: 4, spanGaps: false, order: 1 }
        ] },
        options: base({ plugins: { legend: { display: true, position: "bottom" } } })
      };
    }
  };

  function draw() {
    var source = document.getElementById("overview-charts");
    if (!source || typeof Chart === "undefined") {
      return;
    }
    var charts = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var key = canvas.getAttribute("data-chart");
      if (charts[key] && builders[key]) {
        new Chart(canvas, builders[key](charts[key]));
      }
    });
    document.body.setAttribute("data-charts", "drawn");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
