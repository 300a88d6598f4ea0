// Progress of an import preview computed by the worker (templates/admin/import_export/import_preview.html):
// #import-preview carries the address of its progress JSON; the page reloads to show the preview when it is done.
(function () {
  "use strict";

  function text(id, value) {
    var element = document.getElementById(id);
    if (element) { element.textContent = value; }
  }

  function follow(box) {
    var url = box.dataset.progressUrl;
    function refresh() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      }).then(function (d) {
        var bar = document.getElementById("import-preview-bar");
        if (bar) { bar.max = d.total || 1; bar.value = d.checked; }
        text("import-preview-count", d.checked + " / " + d.total);
        text("import-preview-status", d.status_display);
        if (d.active) { setTimeout(refresh, 1000); } else { window.location.reload(); }
      }).catch(function () { setTimeout(refresh, 5000); });
    }
    setTimeout(refresh, 500);
  }

  function start() {
    var box = document.getElementById("import-preview");
    if (box && box.dataset.active === "1" && !box.dataset.followed) {
      box.dataset.followed = "1";
      follow(box);
    }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
