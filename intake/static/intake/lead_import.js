/* A lead import's page: asks the server how far the import is every second, and shows
   the progress, the counts and the rows set aside, until it is finished. (A file, not an
   inline script: the Content Security Policy runs none.) */
(function () {
  "use strict";
  var box = document.getElementById("lead-import");
  if (!box) { return; }
  var url = box.getAttribute("data-progress-url");

  function text(selector, value) {
    var node = box.querySelector(selector);
    if (node) { node.textContent = String(value); }
  }

  function show(data) {
    box.setAttribute("data-status", data.status);
    text(".li-status", data.status_label);
    box.querySelector("progress").value = data.percent;
    text(".li-percent", data.percent + "%");
    text(".li-done", data.done_rows);
    text(".li-total", data.total_rows);
    Object.keys(data.counts).forEach(function (name) { text(".li-" + name, data.counts[name]); });
    var failure = box.querySelector(".li-failure");
    failure.hidden = !data.failure;
    failure.textContent = data.failure;
    var table = box.querySelector(".li-errors");
    var body = table.querySelector("tbody");
    body.textContent = "";
    data.errors.forEach(function (error) {
      var row = document.createElement("tr");
      [error.row, error.column, error.reason, error.value].forEach(function (value) {
        var cell = document.createElement("td");
        cell.textContent = value === undefined || value === null ? "" : String(value);
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    table.hidden = data.errors.length === 0;
    box.querySelector(".li-no-errors").hidden = data.errors.length > 0;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data) { show(data); }
        if (!data || !data.finished) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }

  if (box.getAttribute("data-status") !== "done" && box.getAttribute("data-status") !== "failed") { poll(); }
})();
