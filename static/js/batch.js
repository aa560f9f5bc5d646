// Poll the batch's status and add result rows as files are processed.
(function () {
  const box = document.getElementById("batch");
  if (!box) return;
  const url = box.dataset.statusUrl;
  const tbody = document.querySelector("#batch-items tbody");
  let last = 0;
  tbody.querySelectorAll("tr[data-item]").forEach(function (tr) { last = Math.max(last, +tr.dataset.item); });
  function set(id, v) { const el = document.getElementById(id); if (el) el.textContent = v; }
  function live(s) { return s.state === "pending" || s.state === "running" || !s.closed; }
  function tick() {
    fetch(url + "?since=" + last, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        const bar = document.getElementById("batch-progress");
        bar.max = Math.max(s.total, s.processed, 1);
        bar.value = s.processed;
        ["processed", "total", "accepted", "unchanged", "conflicts", "rejected", "failed"].forEach(function (k) { set("batch-" + k, s[k]); });
        set("batch-state", { pending: "Waiting", running: "Running", done: "Done", failed: "Failed" }[s.state] || s.state);
        const open = document.getElementById("batch-open");
        if (open) open.hidden = s.closed;
        s.items.forEach(function (item) {
          const tr = document.createElement("tr");
          tr.dataset.item = item.id;
          tr.className = "outcome-" + item.outcome;
          [item.name, item.instance, item.label, item.reason].forEach(function (text, i) {
            const td = document.createElement("td");
            if (i === 1) { const code = document.createElement("code"); code.textContent = text; td.appendChild(code); }
            else td.textContent = text;
            tr.appendChild(td);
          });
          tbody.appendChild(tr);
          last = Math.max(last, item.id);
        });
        if (live(s)) setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  if (box.dataset.state === "pending" || box.dataset.state === "running" || box.dataset.closed === "0") tick();
})();
