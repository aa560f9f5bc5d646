// PHI report: one key map (shown in the "Keyboard" panel from the same table), a row cursor,
// and the count of selected values in the sticky bar.
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-phi-row]"));
  var form = document.getElementById("phi-mark");
  var counter = document.querySelector("[data-selected-count]");
  var cursor = -1;
  function boxes() { return document.querySelectorAll('#phi-mark input[name="value"]'); }
  function count() {
    if (!counter) return;
    counter.textContent = Array.prototype.filter.call(boxes(), function (b) { return b.checked; }).length;
  }
  function move(to) {
    if (!rows.length) return;
    if (cursor >= 0) rows[cursor].classList.remove("phi-cursor");
    cursor = Math.max(0, Math.min(rows.length - 1, to));
    rows[cursor].classList.add("phi-cursor");
    rows[cursor].scrollIntoView({ block: "nearest" });
  }
  function toggle() {
    if (cursor < 0) move(0);
    var box = rows[cursor] && rows[cursor].querySelector('input[name="value"]');
    if (box) { box.checked = !box.checked; count(); }
  }
  var KEYS = [
    { key: "j", label: "next value", run: function () { move(cursor + 1); } },
    { key: "k", label: "previous value", run: function () { move(cursor - 1); } },
    { key: "x", label: "select / unselect the value", run: toggle },
    { key: "m", label: "mark the selected values (bar below)", run: function () { if (form) form.requestSubmit(document.getElementById("m-submit")); } },
    { key: "d", label: "choose a disposition", run: function () { var s = document.getElementById("m-action"); if (s) s.focus(); } },
    { key: "n", label: "next page", run: function () { var a = document.querySelector('a[rel="next"]'); if (a) a.click(); } }
  ];
  var legend = document.querySelector("[data-phi-keys]");
  KEYS.forEach(function (k) {
    if (!legend) return;
    var dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k.key; dd.textContent = k.label;
    legend.appendChild(dt); legend.appendChild(dd);
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(t.tagName) && t.type !== "checkbox")) return;
    for (var i = 0; i < KEYS.length; i++) {
      if (KEYS[i].key === e.key) { e.preventDefault(); KEYS[i].run(); return; }
    }
  });
  document.addEventListener("change", function (e) { if (e.target && e.target.type === "checkbox") count(); });
  count();
})();
