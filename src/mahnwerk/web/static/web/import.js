/* The import page's progress: polls the job's status endpoint while a background task works
   on the file, moves the bar and the count of rows read, and reloads the page when the task is
   done (the report is then rendered by the server). No inline script (Content-Security-Policy). */
(function () {
  "use strict";
  var box = document.getElementById("import-state");
  if (!box || !box.dataset.statusUrl) { return; }
  var bar = document.getElementById("import-progress");
  var text = document.getElementById("import-progress-text");
  var url = box.dataset.statusUrl;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status) { window.setTimeout(poll, 3000); return; }
        if (bar) { bar.value = status.percent; bar.textContent = status.percent + " %"; }
        if (text) { text.textContent = status.text; }
        if (status.running) {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
}());
