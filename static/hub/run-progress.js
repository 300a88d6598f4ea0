// Live progress of a running sync run: the tenant's run page (#run) and the admin's run page (#run-live).
// Each element carries the address of its progress JSON and whether the run is still active.
(function () {
  "use strict";

  function text(id, value) {
    var element = document.getElementById(id);
    if (element) { element.textContent = value; }
  }

  function follow(url, show) {
    function refresh() {
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (d) {
        show(d);
        if (d.active) { setTimeout(refresh, 1500); } else { setTimeout(function () { window.location.reload(); }, 500); }
      }).catch(function () { setTimeout(refresh, 5000); });
    }
    setTimeout(refresh, 1000);
  }

  function tenantPage(box) {
    follow(box.dataset.progressUrl, function (d) {
      var status = document.getElementById("run-status");
      status.textContent = d.status_display; status.className = "status status-" + d.status;
      text("run-progress", d.seen + (d.total ? " / " + d.total : ""));
      var bar = document.getElementById("run-bar"); bar.max = d.total || 0; bar.value = d.seen;
      text("run-counts", d.synced + " synced · " + d.errors + " error(s) · " + d.waiting + " waiting · " + d.skipped + " skipped");
      text("run-calls", d.external_calls);
      text("run-message", d.message || "—");
    });
  }

  function adminPage(box) {
    follow(box.dataset.url, function (d) {
      text("run-live-status", d.status_display);
      text("run-live-counts", d.seen + " / " + (d.total || "?") + " looked at · " + d.synced + " synced · " +
        d.errors + " error(s) · " + d.waiting + " waiting");
    });
  }

  function start() {
    var box = document.getElementById("run");
    if (box && box.dataset.active === "1") { tenantPage(box); }
    var live = document.getElementById("run-live");
    if (live && live.dataset.active === "1" && !live.dataset.followed) {
      live.dataset.followed = "1";
      adminPage(live);
    }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
