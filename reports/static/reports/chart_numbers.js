// Every chart's figures grouped as the page's tables write them: Leadflow's Spanish puts a
// dot in 1.200 (project/formats/es), where the browser's Spanish groups only from 10.000.
// Value axes and their tooltips read this format (loaded after Chart.js, before a chart).
(function () {
  "use strict";
  if (typeof Chart !== "undefined") {
    Chart.defaults.scales.linear.ticks.format = { useGrouping: "always" };
  }
})();
