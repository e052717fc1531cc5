// A routing rule's actions show only the settings their kind uses (the kind's select
// lists them in data-kind-settings). Hidden settings are emptied when the form is
// sent, so a value left from another kind is not kept; the server checks the same.
"use strict";
(function () {
  function settingsOf(select) {
    var all = JSON.parse(select.dataset.kindSettings);
    var names = {};
    Object.keys(all).forEach(function (kind) {
      all[kind].forEach(function (name) { names[name] = true; });
    });
    return { all: Object.keys(names), used: all[select.value] || null };
  }

  function rowOf(action, name) {
    return action.querySelector(".form-row.field-" + name);
  }

  function show(select) {
    var action = select.closest(".inline-related");
    if (!action) { return; }
    var settings = settingsOf(select);
    settings.all.forEach(function (name) {
      var row = rowOf(action, name);
      if (row) {
        // No kind chosen yet: everything stays shown.
        var unused = settings.used !== null && settings.used.indexOf(name) < 0;
        row.hidden = unused;
        row.style.display = unused ? "none" : "";
      }
    });
  }

  function showAll(root) {
    root.querySelectorAll("select[data-kind-settings]").forEach(show);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-kind-settings]")) {
      show(event.target);
    }
  });
  document.addEventListener("formset:added", function (event) { showAll(event.target); });
  document.addEventListener("submit", function (event) {
    event.target.querySelectorAll(".inline-related .form-row[hidden]").forEach(function (row) {
      row.querySelectorAll("input, select, textarea").forEach(function (input) {
        if (input.type === "checkbox") { input.checked = false; } else { input.value = ""; }
      });
    });
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { showAll(document); });
  } else {
    showAll(document);
  }
})();
