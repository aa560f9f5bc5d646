// Findings and corrections pages: live progress of a run or correction, and select-all per group.
(function () {
  var said = document.querySelector("[data-selected]");
  function count() {
    if (!said) return;
    var groups = document.querySelectorAll("input[name=group]:checked").length;
    var loose = Array.prototype.filter.call(document.querySelectorAll("input[name=finding]:checked"), function (b) {
      var g = document.querySelector('input[data-select-group="' + b.dataset.group + '"]');
      return !(g && g.checked);
    }).length;
    said.textContent = groups || loose ? (groups ? groups + " group" + (groups === 1 ? "" : "s") : "") +
      (groups && loose ? " and " : "") + (loose ? loose + " finding" + (loose === 1 ? "" : "s") : "") + " selected" : "Tick groups or findings.";
  }
  document.querySelectorAll("[data-select-group]").forEach(function (box) {
    box.addEventListener("click", function (e) { e.stopPropagation(); });  // ticking does not open the group
    box.addEventListener("change", function () {
      document.querySelectorAll('input[data-group="' + box.dataset.selectGroup + '"]').forEach(function (b) { b.checked = box.checked; });
      count();
    });
  });
  document.querySelectorAll("input[name=finding]").forEach(function (b) {
    b.addEventListener("change", function () {
      var g = document.querySelector('input[data-select-group="' + b.dataset.group + '"]');
      if (g && !b.checked) g.checked = false;  // the group no longer means all of it
      count();
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
