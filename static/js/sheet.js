// Contact-sheet thumbnails: each cell shows its tile of one sprite image. The tile comes from
// data attributes and is set through the CSSOM, since the Content-Security-Policy forbids
// style attributes in the markup.
(function () {
  "use strict";
  for (const cell of document.querySelectorAll(".sheet-cell[data-sheet]")) {
    cell.style.backgroundImage = `url("${encodeURI(cell.dataset.sheet)}")`;
    cell.style.backgroundPosition = cell.dataset.bg || "0 0";
  }
})();
