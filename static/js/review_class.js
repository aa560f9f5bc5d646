// The class page: keys from the one key map (curation/review/keymap.py, read from the page).
// A verdict key judges the whole class and takes the next class in the same request.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("class-config").textContent);
  const $ = (id) => document.getElementById(id);
  const csrf = (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value || "";
  const status = (text, bad) => { const s = $("status"); s.textContent = text; s.classList.toggle("error", !!bad); };
  let busy = false;

  async function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}),
    });
  }

  async function take() {
    const r = await post(cfg.urls.take, {});
    const j = await r.json().catch(() => ({}));
    if (!r.ok) return status(j.error || "Could not take the class; try again.", true);
    cfg.held = true;
    $("lease").textContent = "yours until " + new Date(j.expires).toISOString().slice(11, 16) + " UTC";
    const f = $("take-form"); if (f) f.hidden = true;
    status("You hold this class for 15 minutes.");
  }

  async function record(verdict, note) {
    if (busy) return;
    busy = true;
    try {
      const r = await post(cfg.urls.verdict, { verdict, note: note || "", next: true });
      const j = await r.json().catch(() => ({}));
      if (!r.ok) return status(j.error || "The verdict was not recorded; try again.", true);
      $("class-verdict").textContent = cfg.verdicts[verdict];
      $("class-progress").textContent = j.progress.classes;
      $("collection-progress").textContent = j.progress.images;
      status(`${cfg.verdicts[verdict]} recorded for ${j.images} image(s).`);
      if (j.next) window.location.href = j.next;
    } catch (e) {
      status("The verdict was not recorded (network); try again.", true);
    } finally {
      busy = false;
    }
  }

  function verdictKey(kind) {
    if (kind === "other") { $("note-box").hidden = false; $("note").focus(); return; }
    record(kind);
  }

  const actions = {
    verdict: verdictKey, take,
    drill: () => { window.location.href = cfg.urls.drill; },
    grid: () => { window.location.href = $("class-grid").href; },
    help: () => { $("keys").open = !$("keys").open; },
    cancel: () => { $("note-box").hidden = true; },
  };
  window.reviewKeys(cfg.keymap, actions);
  document.querySelectorAll(".verdict-btn").forEach((b) => b.addEventListener("click", () => verdictKey(b.dataset.verdict)));
  $("note-save").addEventListener("click", () => {
    const n = $("note").value.trim(); if (!n) { $("note").focus(); return; }
    $("note-box").hidden = true; $("note").value = ""; record("other", n);
  });
  const tf = $("take-form");
  if (tf) tf.addEventListener("submit", (e) => { e.preventDefault(); take(); });
  $("montage-stage").focus();
})();
