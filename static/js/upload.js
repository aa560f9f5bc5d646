// The uploader: a large selection goes as many requests into one batch (at most FILES_PER_REQUEST
// files and about BYTES_PER_REQUEST bytes each), with one progress bar over all of it. A request
// that fails (network error, server busy) is sent again with a growing pause; after a few tries the
// upload pauses with a Resume button and goes on from where it stopped. Every file carries a key,
// so a request sent twice stages nothing twice. Files over the per-file limit are not sent: the
// server records them as rejected with the reason, and the other files go on.
(function () {
  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData || !window.Promise) return;
  const input = form.querySelector("input[type=file]");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const resume = document.getElementById("upload-resume");
  const button = form.querySelector("button[type=submit]");
  const maxFile = +form.dataset.maxFileBytes;
  const maxRequest = +form.dataset.maxRequestBytes;
  const FILES_PER_REQUEST = 50;
  const BYTES_PER_REQUEST = Math.min(64 * 1024 * 1024, maxRequest);
  const TRIES = 5;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  function chunksOf(files) {
    const out = [];
    let current = [], bytes = 0;
    files.forEach(function (entry) {
      if (current.length && (current.length >= FILES_PER_REQUEST || bytes + entry.file.size > BYTES_PER_REQUEST)) {
        out.push(current); current = []; bytes = 0;
      }
      current.push(entry); bytes += entry.file.size;
    });
    if (current.length) out.push(current);
    return out;
  }

  function post(url, data, onProgress) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.setRequestHeader("X-CSRFToken", csrf);
      if (onProgress) xhr.upload.addEventListener("progress", function (e) { onProgress(e.loaded); });
      xhr.addEventListener("load", function () {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status === 200) resolve(body);
        else if (xhr.status >= 500 || xhr.status === 429 || xhr.status === 0) reject({ retry: true, message: "HTTP " + xhr.status });
        else reject({ retry: false, message: body.error || "HTTP " + xhr.status });
      });
      xhr.addEventListener("error", function () { reject({ retry: true, message: "network error" }); });
      xhr.send(data);
    });
  }

  function wait(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function resumeClicked() {
    return new Promise(function (r) {
      resume.hidden = false;
      resume.onclick = function () { resume.hidden = true; r(); };
    });
  }

  async function send(url, build, onProgress, label) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await post(url, build(), onProgress);
      } catch (err) {
        if (!err.retry) throw err;
        if (attempt >= TRIES) {
          status.textContent = "Upload paused (" + err.message + ") at " + label + ". Resume when the connection is back.";
          await resumeClicked();
          attempt = 0;
        } else {
          status.textContent = "Retrying " + label + " (" + err.message + ", attempt " + (attempt + 1) + " of " + TRIES + ")…";
          await wait(1000 * Math.pow(2, attempt - 1));
        }
      }
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const selected = Array.from(input.files || []);
    if (!selected.length) { status.textContent = "Choose at least one file."; return; }
    const token = Math.random().toString(36).slice(2, 10);
    const skipped = [], sendable = [];
    selected.forEach(function (file, i) {
      const entry = { file: file, key: token + "-" + i };
      if (file.size > maxFile) skipped.push({ name: file.name, size: file.size, reason: "file of " + file.size + " bytes exceeds the per-file limit of " + maxFile + " bytes (not sent)" });
      else if (file.size > maxRequest) skipped.push({ name: file.name, size: file.size, reason: "file of " + file.size + " bytes exceeds the per-upload limit of " + maxRequest + " bytes (not sent)" });
      else sendable.push(entry);
    });
    const chunks = chunksOf(sendable);
    if (!chunks.length) chunks.push([]);  // only skipped files: one request records them
    const total = sendable.reduce(function (n, e) { return n + e.file.size; }, 0) || 1;
    let done = 0, batch = null, url = null;
    bar.hidden = false; bar.value = 0; button.disabled = true;
    try {
      for (let c = 0; c < chunks.length; c++) {
        const chunk = chunks[c];
        const label = "part " + (c + 1) + " of " + chunks.length;
        const bytes = chunk.reduce(function (n, e) { return n + e.file.size; }, 0);
        const body = await send(form.action, function () {
          const data = new FormData();
          data.append("more", "1");
          if (batch) data.append("batch", batch);
          if (c === 0 && skipped.length) data.append("skipped", JSON.stringify(skipped));
          chunk.forEach(function (e) { data.append("file:" + e.key, e.file, e.file.name); });
          return data;
        }, function (loaded) {
          bar.value = Math.round((100 * (done + Math.min(loaded, bytes))) / total);
          status.textContent = "Uploading " + label + ": " + bar.value + " %";
        }, label);
        batch = body.batch; url = body.url; done += bytes;
        bar.value = Math.round((100 * done) / total);
      }
      const closed = await send(form.dataset.closeUrl.replace("/0/", "/" + batch + "/"), function () { return new FormData(); }, null, "the last step");
      status.textContent = "Uploaded. Processing…";
      window.location.assign(closed.url || url);
    } catch (err) {
      status.textContent = "Upload failed: " + err.message;
      button.disabled = false;
    }
  });
})();
