// Small progressive enhancements used on public pages (the Content-Security-Policy forbids
// inline scripts and handlers, so they are wired here by data attributes):
// - [data-copy="#id"] buttons copy that element's text (e.g. a citation) to the clipboard;
// - forms marked [data-autosubmit] submit when a select changes (the style picker, catalogue
//   filters), and their .js-hide buttons are hidden since the form applies itself.
(function () {
  "use strict";
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const target = document.querySelector(button.dataset.copy);
      if (!target) return;
      const text = target.innerText.trim();
      try {
        await navigator.clipboard.writeText(text);
      } catch (err) {
        const range = document.createRange();
        range.selectNodeContents(target);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        document.execCommand("copy");
      }
      const label = button.textContent;
      button.textContent = button.dataset.copied || "Copied";
      button.setAttribute("aria-live", "polite");
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    for (const hidden of form.querySelectorAll(".js-hide")) hidden.hidden = true;
    form.addEventListener("change", (event) => {
      if (event.target.matches("select, input[type=checkbox], input[type=radio]")) form.requestSubmit();
    });
  }
})();
