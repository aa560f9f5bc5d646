// Keyboard input of the review pages: every key comes from the one key map
// (curation/review/keymap.py, read from the page); a page passes its actions. In a text field
// only Escape (leave it, cancel) and Enter in the note field (save the note) do anything.
window.reviewKeys = function (keymap, actions, allowed) {
  "use strict";
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
      if (e.key === "Escape") { t.blur(); if (actions.cancel) actions.cancel(); }
      if (e.key === "Enter" && t.id === "note") { e.preventDefault(); document.getElementById("note-save").click(); }
      return;
    }
    const b = keymap[e.key];
    if (!b || !actions[b.action]) return;
    if (t && t.tagName === "BUTTON" && e.key === "Enter") return; // let buttons work
    e.preventDefault();
    if (allowed && !allowed(b)) return;
    actions[b.action](b.arg);
  });
};
