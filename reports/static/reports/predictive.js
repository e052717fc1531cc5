/* Draws the predictive report's charts with Chart.js from the page's data (a json_script
   tag: the CSP runs no inline script). When every chart is drawn, <body data-charts="drawn">. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("predictive-charts").textContent);
  var WORDS = JSON.parse(document.getElementById("chart-words").textContent);
  var base = { animation: false, locale: document.documentElement.lang, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } } };

  var charts = {
    importance: {
      type: "bar",
      data: { labels: data.importance.labels, datasets: [{ label: WORDS.effect_share, data: data.importance.values, backgroundColor: "#3b5bdb" }] },
      options: Object.assign({}, base, { indexAxis: "y", scales: { x: { beginAtZero: true, title: { display: true, text: WORDS.effect_share } } } })
    },
    calibration: {
      type: "line",
      data: { datasets: [
        { label: WORDS.leads, data: data.calibration.predicted.map(function (p, i) { return { x: p, y: data.calibration.observed[i] }; }), borderColor: "#2b8a3e", backgroundColor: "#2b8a3e" },
        { label: WORDS.perfect, data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: "#adb5bd", borderDash: [4, 4], pointRadius: 0 }
      ] },
      options: Object.assign({}, base, { plugins: { legend: { display: true, position: "bottom" } }, scales: {
        x: { type: "linear", min: 0, max: 1, title: { display: true, text: WORDS.probability_given } },
        y: { min: 0, max: 1, title: { display: true, text: WORDS.share_converted } } } })
    },
    distribution: {
      type: "bar",
      data: { labels: data.distribution.labels, datasets: [{ label: WORDS.leads, data: data.distribution.values, backgroundColor: "#f08c00" }] },
      options: Object.assign({}, base, { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } })
    }
  };

  Object.keys(charts).forEach(function (key) {
    var canvas = document.getElementById("chart-" + key);
    if (canvas) { new window.Chart(canvas, charts[key]); }
  });
  document.body.setAttribute("data-charts", "drawn");
})();
