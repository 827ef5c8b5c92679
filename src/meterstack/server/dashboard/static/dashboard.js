// meterstack dashboard: progressive enhancement only; every page works without this script.
(function () {
  "use strict";
  // Dates: the server writes ISO 8601 in <time datetime>; show them in the viewer's locale.
  function localDates() {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var node = times[i];
      var moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) continue;
      var options = node.dataset.style === "datetime"
        ? { dateStyle: "medium", timeStyle: "short" }
        : { dateStyle: "medium", timeZone: "UTC" };
      try {
        node.textContent = new Intl.DateTimeFormat(undefined, options).format(moment);
        node.title = node.getAttribute("datetime");
      } catch (error) {
        // Keep the ISO text the server wrote.
      }
    }
  }
  // Forms that undo something ask first (without the script they submit straight away).
  function confirmations() {
    document.addEventListener("submit", function (event) {
      var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
      if (question && !window.confirm(question)) event.preventDefault();
    });
  }
  // A one-time secret gets a copy button.
  function copyButtons() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      var button = buttons[i];
      if (!navigator.clipboard) continue;
      button.hidden = false;
      button.addEventListener("click", function (event) {
        var field = document.getElementById(event.currentTarget.getAttribute("data-copy"));
        navigator.clipboard.writeText(field.value).then(function () {
          event.currentTarget.textContent = "Copied";
        });
      });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    localDates();
    confirmations();
    copyButtons();
  });
})();
