// Review view: process or open a video, scrub its processed frames with the
// hidden regions drawn, mark by hand what was missed or hidden wrongly,
// re-render, save the regions file the CLI reads (--regions-file).
"use strict";

(() => {
  const { $, post, get, url, say, onEvent, drawBoxes, dragBox } = LF;
  let summary = { frames: 0 };
  let regions = { version: 1, regions: [] };
  let index = 0;
  let wasBusy = false;
  let scale = 1;
  let tracked = {};  // region number -> frame -> box: where a tracked region goes

  async function start(path, body) {
    say("");
    try { await post(path, body); wasBusy = true; } catch (e) { /* said */ }
  }

  $("review-process").addEventListener("click", () => start("/api/review/process", {
    source: $("review-source").value, output: $("review-output").value }));
  // A picked video is copied into the server's private folder, then processed.
  $("review-upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    say(`copying ${file.name}…`);
    try {
      const { path } = await post("/api/review/upload", file, { "X-Filename": file.name });
      $("review-source").value = path;
      await start("/api/review/process", { source: path, output: $("review-output").value });
    } catch (err) { /* said */ }
  });
  $("review-regions-download").addEventListener("click", async (e) => {
    // The page's regions are sent first, so the file has every edit.
    e.preventDefault();
    try {
      await post("/api/review/regions", { regions });
      location.href = url("/api/review/regions.json");
    } catch (err) { /* said */ }
  });
  $("review-open").addEventListener("click", () => start("/api/review/open", {
    output: $("review-processed").value, regions_json: $("review-log").value,
    source: $("review-source").value }));
  $("review-rerender").addEventListener("click", () => start("/api/review/rerender", {
    source: $("review-source").value, output: $("review-output").value, regions }));
  $("review-save").addEventListener("click", async () => {
    try {
      const result = await post("/api/review/regions",
                                 { regions, path: $("review-regions-path").value });
      say(result.saved ? `saved ${result.saved}` : "kept (give a path to save)");
    } catch (e) { /* said */ }
  });

  onEvent(async (data) => {
    const s = data.review;
    $("review-progress").max = Math.max(1, s.total);
    $("review-progress").value = s.done;
    $("review-status").textContent = s.busy ? `${s.done} / ${s.total || "?"} frames`
      : s.error ? `error: ${s.error}` : s.frames ? `${s.frames} frames: ${s.output}` : "";
    document.body.dataset.reviewBusy = s.busy ? "1" : "0";
    if (wasBusy && !s.busy) {
      wasBusy = false;
      if (!s.error) await load();
    }
  });

  async function load() {
    summary = await get("/api/review/summary");
    if (summary.regions) regions = summary.regions;
    $("review-slider").max = Math.max(0, summary.frames - 1);
    $("review-download").hidden = !summary.frames;
    $("review-download").href = url("/api/review/output");
    document.body.dataset.reviewLoaded = String(summary.frames);
    document.body.dataset.reviewVersion = String(Number(document.body.dataset.reviewVersion || 0) + 1);
    drawTimeline();
    listRegions();
    go(Math.min(index, Math.max(0, summary.frames - 1)));
  }

  function go(i) {
    if (!summary.frames) return;
    index = Math.max(0, Math.min(summary.frames - 1, i));
    $("review-slider").value = index;
    $("review-index").textContent = `frame ${index} / ${summary.frames - 1}`;
    // The version makes the browser fetch a re-rendered frame afresh.
    $("review-frame").src = url(`/api/review/frame/${index}`,
                                { v: document.body.dataset.reviewVersion || "0" });
  }

  function covers(region, i) {
    return !region.frames || (region.frames[0] <= i && i <= region.frames[1]);
  }

  function redraw() {
    if (!summary.frames) return;
    // As wide as the panel, but no taller than about half the window.
    const fit = Math.round(window.innerHeight * 0.55 * summary.width / summary.height);
    $("review-frame").style.width = `${fit}px`;
    const entry = summary.log[index] || { regions: [], curtain: false };
    const boxes = entry.regions.map((r) => ({ box: r.box, shape: r.shape, color: "#3d8bfd" }));
    regions.regions.forEach((r, n) => {
      if (!covers(r, index)) return;
      const box = (tracked[n] && tracked[n][index]) || r.box;
      boxes.push({ box, shape: r.shape, dashed: true,
                   color: r.action === "unhide" ? "#ff4d4d" : "#4dff88" });
    });
    scale = drawBoxes($("review-canvas"), $("review-frame"), summary.width, boxes);
  }
  $("review-frame").addEventListener("load", redraw);
  window.addEventListener("resize", redraw);

  $("review-slider").addEventListener("input", (e) => go(parseInt(e.target.value, 10)));
  $("review-prev").addEventListener("click", () => go(index - 1));
  $("review-next").addEventListener("click", () => go(index + 1));
  $("review-next-mark").addEventListener("click", () => {
    const t = summary.timeline || {};
    const marks = [...(t.curtain || []), ...(t.low_score || []), ...(t.short_tracks || [])];
    const next = marks.filter((m) => m > index).sort((a, b) => a - b)[0];
    if (next !== undefined) go(next);
  });

  function drawTimeline() {
    const canvas = $("review-timeline");
    canvas.width = canvas.clientWidth || 800;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const n = Math.max(1, summary.frames);
    const w = Math.max(1, canvas.width / n);
    const t = summary.timeline || {};
    const rows = [["curtain", "#d63b3b", 0], ["low_score", "#ffe14d", 9], ["short_tracks", "#ff8c1a", 18]];
    for (const [key, color, y] of rows) {
      ctx.fillStyle = color;
      for (const i of t[key] || []) ctx.fillRect(i * canvas.width / n, y, w, 9);
    }
  }
  $("review-timeline").addEventListener("click", (e) => {
    const r = e.target.getBoundingClientRect();
    go(Math.floor((e.clientX - r.left) / r.width * summary.frames));
  });

  // Follow the tracked regions on the server (optical flow on the frames
  // under review) so each frame shows where a region will be.
  let followed = 0;
  async function followRegions() {
    const mine = ++followed;  // only the newest answer counts
    tracked = {};
    if (!regions.regions.some((r) => r.mode === "tracked")) return;
    let answer = {};
    try { answer = await post("/api/review/track", { regions }); } catch (e) { /* said */ }
    if (mine !== followed) return;
    tracked = answer;
    document.body.dataset.followed = String(mine);
    redraw();
  }

  function listRegions() {
    const list = $("review-regions");
    list.innerHTML = "";
    regions.regions.forEach((r, n) => {
      const li = document.createElement("li");
      li.textContent = `${r.action} ${r.mode} ${r.shape}, frames `;
      if (!r.frames) r.frames = [0, Math.max(0, summary.frames - 1)];
      // The frame range stays adjustable: first and last, inclusive.
      [0, 1].forEach((end) => {
        const input = document.createElement("input");
        input.type = "number";
        input.min = "0";
        input.max = String(Math.max(0, summary.frames - 1));
        input.value = String(r.frames[end]);
        input.className = `range-${end ? "last" : "first"}`;
        input.addEventListener("change", () => {
          const value = Math.max(0, Math.min(summary.frames - 1, parseInt(input.value, 10) || 0));
          r.frames[end] = value;
          if (r.frames[0] > r.frames[1]) r.frames[1 - end] = value;
          if (r.keyframe !== undefined) {
            r.keyframe = Math.max(r.frames[0], Math.min(r.frames[1], r.keyframe));
          }
          listRegions();
          redraw();
        });
        li.appendChild(input);
        if (!end) li.appendChild(document.createTextNode("–"));
      });
      const drop = document.createElement("button");
      drop.textContent = "remove";
      drop.addEventListener("click", () => { regions.regions.splice(n, 1); listRegions(); redraw(); });
      li.appendChild(drop);
      list.appendChild(li);
    });
    followRegions();
  }

  // A click (no drag) in un-hide mode picks the drawn region under it.
  function regionAt(x, y) {
    const entry = summary.log[index] || { regions: [] };
    return entry.regions.find((r) => r.box[0] <= x && x <= r.box[2] && r.box[1] <= y && y <= r.box[3]);
  }

  dragBox($("review-canvas"), () => scale, (box) => {
    if (!summary.frames) return;
    const tool = $("review-tool").value;
    if (box[2] - box[0] < 4 || box[3] - box[1] < 4) {
      if (tool !== "unhide") return;
      const hit = regionAt(box[0], box[1]);
      if (!hit) return;
      const [x1, y1, x2, y2] = hit.box;
      const g = 0.05 * Math.max(x2 - x1, y2 - y1);
      box = [x1 - g, y1 - g, x2 + g, y2 + g];
    }
    box = [Math.max(0, box[0]), Math.max(0, box[1]),
           Math.min(summary.width, box[2]), Math.min(summary.height, box[3])];
    const span = Math.round(parseFloat($("review-span").value || "0") * summary.fps);
    const region = {
      frames: [Math.max(0, index - span), Math.min(summary.frames - 1, index + span)],
      box, mode: $("review-mode").value, action: tool, shape: $("review-shape").value,
    };
    if (region.mode === "tracked") region.keyframe = index;
    regions.regions.push(region);
    listRegions();
    redraw();
  });

  document.addEventListener("lf-view", (e) => { if (e.detail === "review") { drawTimeline(); redraw(); } });
})();
