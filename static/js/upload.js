// Upload with a progress bar; then go to the batch page, which shows processing live.
(function () {
  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    bar.hidden = false;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round((100 * e.loaded) / e.total);
        status.textContent = "Uploading: " + bar.value + " %";
      }
    });
    xhr.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 200 && body.url) {
        status.textContent = "Uploaded. Processing…";
        window.location.assign(body.url);
      } else {
        status.textContent = body.error || "Upload failed (HTTP " + xhr.status + ").";
      }
    });
    xhr.addEventListener("error", function () { status.textContent = "Upload failed: network error."; });
    xhr.send(new FormData(form));
  });
})();
