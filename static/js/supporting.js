// Attaching a supporting file with a progress bar: the form is sent with XMLHttpRequest (JSON
// answer); without JavaScript it is an ordinary form post.
(function () {
  const form = document.getElementById("attach-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  const bar = document.getElementById("attach-progress");
  const status = document.getElementById("attach-status");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
      status.textContent = "Sending… " + Math.round(100 * e.loaded / (e.total || 1)) + " %";
    });
    xhr.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 200 && body.url) { status.textContent = "Attached " + body.name; window.location = body.url; }
      else status.textContent = "Not attached: " + (body.error || "HTTP " + xhr.status);
    });
    xhr.addEventListener("error", function () { status.textContent = "Not attached: network error, try again."; });
    bar.hidden = false;
    xhr.send(new FormData(form));
  });
})();
