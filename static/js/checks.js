// Findings and corrections pages: live progress of a run or correction, and select-all per group.
(function () {
  document.querySelectorAll("[data-select-group]").forEach(function (box) {
    box.addEventListener("change", function () {
      document.querySelectorAll('input[data-group="' + box.dataset.selectGroup + '"]').forEach(function (b) { b.checked = box.checked; });
    });
  });
  document.querySelectorAll("[data-url]").forEach(function (panel) {
    var bar = panel.querySelector("progress"), status = panel.querySelector("[data-status]");
    function poll() {
      fetch(panel.dataset.url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        if (bar) bar.value = s.percent;
        if (status) status.textContent = s.done + " / " + s.total + " " + (s.current || s.state) + (s.error ? " — " + s.error : "");
        if (s.state === "done" || s.state === "applied" || s.state === "failed") { window.location.reload(); return; }
        setTimeout(poll, 1500);
      }).catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, 1000);
  });
})();
