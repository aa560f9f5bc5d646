/* The single-image review viewer.
 * Every shortcut comes from the key map the server renders into #review-config (one source,
 * also listed on screen). Previews are server-rendered JPEGs; dragging the window switches to
 * full fidelity: float32 modality values windowed here on a canvas. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("review-config").textContent);
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const $ = (id) => document.getElementById(id);
  const stage = $("stage"), inner = $("stage-inner"), img = $("view-img"), canvas = $("view-canvas"), maskCanvas = $("mask-canvas");
  const st = {
    images: cfg.images, index: cfg.index, frame: 0, window: "default", custom: null, full: false, zoom: 1, panX: 0, panY: 0,
    masking: false, rects: [], approving: false, fullCache: new Map(), busy: false,
  };

  const cur = () => st.images[st.index];
  const url = (tpl, map) => Object.entries(map).reduce((u, [k, v]) => u.replace(k, v), tpl);
  function status(text, bad) { const s = $("status"); s.textContent = text || ""; s.classList.toggle("bad", !!bad); }

  // --- layout -------------------------------------------------------------------------------
  function fitSize(im) {
    const w = stage.clientWidth || 640, h = stage.clientHeight || 640;
    const f = Math.min(w / (im.columns || 512), h / (im.rows || 512));
    return [Math.round((im.columns || 512) * f), Math.round((im.rows || 512) * f)];
  }
  function layout() {
    const im = cur(); if (!im) return;
    const [w, h] = fitSize(im);
    for (const el of [img, canvas, maskCanvas]) { el.style.width = w + "px"; el.style.height = h + "px"; }
    inner.style.width = w + "px"; inner.style.height = h + "px";
    inner.style.transform = `translate(${st.panX}px, ${st.panY}px) scale(${st.zoom})`;
    $("zoom-label").textContent = st.zoom === 1 ? "fit" : `zoom ${Math.round(st.zoom * 100)} %`;
  }

  // --- showing an image ---------------------------------------------------------------------
  function windowName() { return st.custom ? "custom" : st.window; }
  function labelWindow(text) { $("window-label").textContent = text; }

  function show() {
    const im = cur(); if (!im) return;
    st.frame = Math.min(st.frame, im.frames - 1);
    $("position").textContent = `Image ${st.index + 1} / ${st.images.length}` + (im.frames > 1 ? ` · frame ${st.frame + 1} / ${im.frames}` : "");
    const v = $("verdict-now");
    v.textContent = im.verdict ? cfg.verdicts[im.verdict] + (im.masked ? " (masked)" : "") + (im.note ? `: ${im.note}` : "") : "no verdict";
    v.className = "badge v-" + (im.verdict || "none");
    $("image-facts").textContent = `Instance ${im.n ?? "–"} · ${im.columns}×${im.rows} · ${im.frames} frame(s) · ${im.pi} · sha256 ${im.sha.slice(0, 12)}…`;
    const tb = $("text-boxes"); tb.innerHTML = "";
    if (!im.text.length) tb.innerHTML = "<li>none</li>";
    for (const b of im.text) { const li = document.createElement("li"); li.textContent = `“${b.text}” at ${b.x},${b.y} (${b.w}×${b.h})`; tb.appendChild(li); }
    layout();
    if (st.full) showFull(); else showPreview();
    drawMask();
  }

  function showPreview() {
    const im = cur();
    canvas.hidden = true; img.hidden = false;
    const name = st.custom ? "default" : st.window;
    img.src = url(cfg.urls.preview, { SHA: im.sha, WIN: name, FRAME: st.frame });
    $("fidelity").textContent = "preview (JPEG q85, ≤1024 px, windowed on the server)";
    labelWindow(im.colour ? "colour image: shown as stored" : `window: ${name}`);
    prefetch();
  }

  function prefetch() {
    for (const d of [1, 2, -1]) {
      const n = st.images[st.index + d];
      if (n) { const p = new Image(); p.src = url(cfg.urls.preview, { SHA: n.sha, WIN: st.custom ? "default" : st.window, FRAME: 0 }); }
    }
  }

  async function fetchFull(im, frame) {
    const key = im.sha + ":" + frame;
    if (st.fullCache.has(key)) return st.fullCache.get(key);
    const r = await fetch(url(cfg.urls.full, { SHA: im.sha, FRAME: frame }), { credentials: "same-origin" });
    if (!r.ok) throw new Error((await r.json()).error || r.statusText);
    let entry;
    if (im.colour) {
      entry = { colour: true, blobUrl: URL.createObjectURL(await r.blob()) };
    } else {
      const info = JSON.parse(r.headers.get("X-Image-Info"));
      entry = { colour: false, info, values: new Float32Array(await r.arrayBuffer()) };
    }
    if (st.fullCache.size > 40) st.fullCache.delete(st.fullCache.keys().next().value);
    st.fullCache.set(key, entry);
    return entry;
  }

  function currentCW(entry) {
    if (st.custom) return st.custom;
    const p = cfg.presets[st.window];
    if (p) return { center: p.center, width: p.width };
    return { center: entry.info.center, width: entry.info.width };
  }

  async function showFull() {
    const im = cur(), idx = st.index, frame = st.frame;
    $("fidelity").textContent = "full fidelity: loading…";
    let entry;
    try { entry = await fetchFull(im, frame); } catch (e) { status("Cannot load full fidelity: " + e.message, true); st.full = false; showPreview(); return; }
    if (idx !== st.index || frame !== st.frame || !st.full) return;
    if (entry.colour) {
      canvas.hidden = true; img.hidden = false; img.src = entry.blobUrl;
      $("fidelity").textContent = "full fidelity (lossless PNG, native size)"; labelWindow("colour image: shown as stored");
      return;
    }
    paint(entry);
    img.hidden = true; canvas.hidden = false;
    $("fidelity").textContent = "full fidelity (32-bit values, windowed in the browser)";
  }

  function paint(entry) {
    const { rows, columns, invert } = entry.info;
    const { center, width } = currentCW(entry);
    canvas.width = columns; canvas.height = rows;
    const ctx = canvas.getContext("2d");
    const out = ctx.createImageData(columns, rows);
    const d = out.data, v = entry.values;
    const lo = center - 0.5 - (width - 1) / 2, scale = 255 / Math.max(width - 1, 1), shift = center - 0.5;
    for (let i = 0, j = 0; i < v.length; i++, j += 4) {
      let y = v[i] <= lo ? 0 : (v[i] - shift) * scale + 127.5;
      y = y < 0 ? 0 : y > 255 ? 255 : y;
      if (invert) y = 255 - y;
      d[j] = d[j + 1] = d[j + 2] = y; d[j + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    labelWindow(`window C ${Math.round(center)} W ${Math.round(width)}` + (st.custom ? " (dragged)" : ` (${st.window})`));
  }

  // --- navigation, window, zoom -------------------------------------------------------------
  function go(to) {
    if (st.masking) return;
    const n = Math.max(0, Math.min(st.images.length - 1, to));
    if (n !== st.index) { st.index = n; st.frame = 0; show(); }
  }
  function slice(arg) {
    if (arg === "first") return go(0);
    if (arg === "last") return go(st.images.length - 1);
    go(st.index + parseInt(arg, 10));
  }
  function frame(delta) {
    const im = cur(); const f = Math.max(0, Math.min(im.frames - 1, st.frame + delta));
    if (f !== st.frame) { st.frame = f; show(); }
  }
  function setWindow(name) { st.window = name; st.custom = null; show(); }
  function zoom(arg) {
    if (arg === "reset") { st.zoom = 1; st.panX = st.panY = 0; }
    else st.zoom = Math.max(0.25, Math.min(8, st.zoom * (arg === "in" ? 1.25 : 0.8)));
    layout();
  }
  function toggleFull() { st.full = !st.full; show(); }

  // --- verdicts -----------------------------------------------------------------------------
  async function post(u, body) {
    const r = await fetch(u, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(body) });
    return r;
  }
  function progress(p) {
    if (!p) return;
    $("series-progress").textContent = p.series; $("collection-progress").textContent = p.collection;
  }
  async function record(verdict, note) {
    if (cfg.read_only) return status("Someone else holds this series.", true);
    if (st.busy) return;
    st.busy = true;
    const im = cur();
    try {
      const r = await post(url(cfg.urls.verdict, { ID: im.id }), { verdict, note: note || "" });
      const j = await r.json();
      if (!r.ok) return status(j.error, true);
      im.verdict = verdict; im.note = note || ""; im.masked = false;
      progress(j.progress);
      const done = j.progress && j.progress.series_done ? " Every image of this series has a verdict: press g for the grid." : "";
      status(`${cfg.verdicts[verdict]} recorded for image ${st.index + 1}` + (j.supersedes ? " (replaces the earlier verdict)" : "") + "." + done);
      if (st.index < st.images.length - 1) go(st.index + 1); else show();
    } finally { st.busy = false; }
  }
  function verdictKey(kind) {
    if (kind === "phi") return startMask();
    if (kind === "other") { $("note-box").hidden = false; $("note").focus(); return; }
    record(kind);
  }
  function nextUnreviewed() {
    for (let k = 1; k <= st.images.length; k++) {
      const i = (st.index + k) % st.images.length;
      if (!st.images[i].verdict) return go(i);
    }
    status("Every image has a verdict.");
  }

  // --- masks --------------------------------------------------------------------------------
  function startMask() {
    if (cfg.read_only) return status("Someone else holds this series.", true);
    const im = cur();
    st.masking = true; st.rects = []; st.approving = false;
    maskCanvas.width = im.columns; maskCanvas.height = im.rows; maskCanvas.hidden = false;
    $("mask-panel").hidden = false; $("mask-approve-btn").hidden = true; $("mask-preview-btn").hidden = false;
    $("mask-status").textContent = im.text.length ? `${im.text.length} text box(es) detected: press t to use them.` : "";
    stage.classList.add("masking"); drawMask(); stage.focus();
  }
  function endMask() {
    st.masking = false; st.rects = []; st.approving = false;
    maskCanvas.hidden = true; $("mask-panel").hidden = true; stage.classList.remove("masking");
    show();
  }
  function drawMask(extra) {
    if (maskCanvas.hidden) return;
    const ctx = maskCanvas.getContext("2d");
    ctx.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
    const lw = Math.max(1, maskCanvas.width / 300);
    for (const r of st.rects.concat(extra ? [extra] : [])) {
      ctx.fillStyle = st.approving ? "rgba(0,0,0,0)" : "rgba(255,0,0,0.25)"; ctx.strokeStyle = st.approving ? "#0c0" : "#f33"; ctx.lineWidth = lw;
      ctx.fillRect(r.x, r.y, r.w, r.h); ctx.strokeRect(r.x, r.y, r.w, r.h);
    }
    if (!st.approving) {
      ctx.setLineDash([lw * 3, lw * 2]); ctx.strokeStyle = "#ff0";
      for (const b of cur().text) ctx.strokeRect(b.x, b.y, b.w, b.h);
      ctx.setLineDash([]);
    }
    $("rect-count").textContent = st.rects.length;
  }
  function toImage(e) {
    const r = maskCanvas.getBoundingClientRect();
    return { x: (e.clientX - r.left) / r.width * maskCanvas.width, y: (e.clientY - r.top) / r.height * maskCanvas.height };
  }
  let drawing = null;
  maskCanvas.addEventListener("mousedown", (e) => { if (!st.masking || st.approving) return; e.preventDefault(); drawing = toImage(e); });
  window.addEventListener("mousemove", (e) => {
    if (!drawing) return; const p = toImage(e);
    drawMask({ x: Math.min(p.x, drawing.x), y: Math.min(p.y, drawing.y), w: Math.abs(p.x - drawing.x), h: Math.abs(p.y - drawing.y) });
  });
  window.addEventListener("mouseup", (e) => {
    if (!drawing) return; const p = toImage(e);
    const r = { x: Math.round(Math.min(p.x, drawing.x)), y: Math.round(Math.min(p.y, drawing.y)), w: Math.round(Math.abs(p.x - drawing.x)), h: Math.round(Math.abs(p.y - drawing.y)) };
    drawing = null;
    if (r.w >= 2 && r.h >= 2) st.rects.push(r);
    drawMask();
  });
  function useProposals() {
    if (!st.masking) startMask();
    for (const b of cur().text) st.rects.push({ x: b.x, y: b.y, w: b.w, h: b.h });
    drawMask();
  }
  const scope = () => document.querySelector("input[name=scope]:checked").value;
  async function maskPreview() {
    if (!st.rects.length) { $("mask-status").textContent = "Draw at least one rectangle first."; return; }
    $("mask-status").textContent = "Rendering the masked image…";
    const r = await post(url(cfg.urls.mask_preview, { ID: cur().id }), { rects: st.rects, frame: st.frame, window: st.custom ? "default" : st.window, scope: scope() });
    if (!r.ok) { $("mask-status").textContent = (await r.json()).error; return; }
    const n = r.headers.get("X-Scope-Count");
    img.src = URL.createObjectURL(await r.blob()); img.hidden = false; canvas.hidden = true;
    $("fidelity").textContent = "MASKED PREVIEW (not saved yet)";
    st.approving = true; drawMask();
    $("mask-preview-btn").hidden = true; $("mask-approve-btn").hidden = false;
    $("mask-status").textContent = `This is the masked result. Approve to write new files for ${n} image(s) (${scope()}) and record “burned-in PHI, masked”.`;
  }
  async function maskApprove() {
    if (st.busy) return; st.busy = true;
    $("mask-status").textContent = "Applying the mask…";
    try {
      const im = cur();
      const r = await post(url(cfg.urls.mask_apply, { ID: im.id }), { rects: st.rects, scope: scope(), reason: $("mask-reason").value, save_rule: $("save-rule").checked });
      const j = await r.json();
      if (!r.ok) { $("mask-status").textContent = j.error; return; }
      progress(j.progress);
      await reload();
      status(`Mask applied as correction #${j.correction} (${j.files} new file(s)); verdict recorded: burned-in PHI, masked.`);
      endMask();
    } finally { st.busy = false; }
  }
  async function flagOnly() {
    const im = cur();
    const r = await post(url(cfg.urls.verdict, { ID: im.id }), { verdict: "phi", note: $("mask-reason").value });
    const j = await r.json();
    if (!r.ok) { $("mask-status").textContent = j.error; return; }
    im.verdict = "phi"; im.masked = false; progress(j.progress);
    status("Flagged as burned-in PHI, not masked: publication stays blocked until it is masked.");
    endMask();
  }
  async function reload() {
    const r = await fetch(cfg.urls.state, { credentials: "same-origin" });
    if (!r.ok) return;
    const j = await r.json();
    const id = cur().id;
    st.images = j.images; st.index = Math.max(0, st.images.findIndex((x) => x.id === id));
    progress(j.progress);
  }

  // --- input: keys (from the key map), wheel, drag --------------------------------------------
  const actions = {
    verdict: verdictKey, slice, frame: (a) => frame(parseInt(a, 10)), window: setWindow, fidelity: toggleFull, zoom,
    next_unreviewed: nextUnreviewed, mask: startMask, proposals: useProposals,
    approve: () => { if (st.masking) (st.approving ? maskApprove() : maskPreview()); },
    cancel: () => { if (st.masking) endMask(); $("note-box").hidden = true; },
    grid: () => { window.location.href = cfg.urls.grid; },
    help: () => { $("keys").open = !$("keys").open; },
    take: () => status("Classes are taken on their class page."),
    drill: () => {},
  };
  // while a mask is drawn only these actions work
  const maskKeys = ["approve", "cancel", "proposals", "zoom", "help", "window", "fidelity"];
  window.reviewKeys(cfg.keymap, actions, (b) => !st.masking || maskKeys.includes(b.action));
  stage.addEventListener("wheel", (e) => { e.preventDefault(); if (!st.masking) slice(e.deltaY > 0 ? "1" : "-1"); }, { passive: false });

  let drag = null;
  stage.addEventListener("mousedown", (e) => {
    if (st.masking || e.button !== 0) return;
    e.preventDefault(); stage.focus();
    drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey, panX: st.panX, panY: st.panY, start: null };
  });
  window.addEventListener("mousemove", async (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (drag.pan) { st.panX = drag.panX + dx; st.panY = drag.panY + dy; layout(); return; }
    const im = cur(); if (im.colour) return;
    if (!drag.start) {
      if (Math.abs(dx) + Math.abs(dy) < 3) return;
      const entry = await fetchFull(im, st.frame).catch(() => null);
      if (!entry || !drag) return;
      drag.entry = entry; drag.start = currentCW(entry);
      if (!st.full) { st.full = true; img.hidden = true; canvas.hidden = false; $("fidelity").textContent = "full fidelity (32-bit values, windowed in the browser)"; }
    }
    const k = Math.max(drag.start.width, 2) / 256;
    st.custom = { center: drag.start.center - dy * k, width: Math.max(1, drag.start.width + dx * k * 2) };
    paint(drag.entry);
  });
  window.addEventListener("mouseup", () => { drag = null; });

  // --- buttons --------------------------------------------------------------------------------
  document.querySelectorAll(".verdict-btn").forEach((b) => b.addEventListener("click", () => verdictKey(b.dataset.verdict)));
  document.querySelectorAll("[data-window]").forEach((b) => b.addEventListener("click", () => setWindow(b.dataset.window)));
  document.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => zoom(b.dataset.zoom)));
  $("fidelity-btn").addEventListener("click", toggleFull);
  $("note-save").addEventListener("click", () => { const n = $("note").value.trim(); if (!n) return; $("note-box").hidden = true; $("note").value = ""; record("other", n); });
  $("use-proposals").addEventListener("click", useProposals);
  $("clear-rects").addEventListener("click", () => { st.rects = []; st.approving = false; $("mask-approve-btn").hidden = true; $("mask-preview-btn").hidden = false; show(); });
  $("mask-preview-btn").addEventListener("click", maskPreview);
  $("mask-approve-btn").addEventListener("click", maskApprove);
  $("mask-flag-only").addEventListener("click", flagOnly);
  $("mask-cancel").addEventListener("click", endMask);
  window.addEventListener("resize", layout);

  // Leases this curator already holds on the series' classes are renewed while the page is open
  // (the ping never takes a class: only a key or a click on the class page does).
  setInterval(() => { if (!cfg.read_only) post(cfg.urls.lease, {}).catch(() => {}); }, 60000);

  if (st.images.length) show(); else status("This series has no images.");
  stage.focus();
})();
