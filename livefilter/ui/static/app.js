// livefilter page: shared helpers (token, API calls, tabs, server-sent events).
"use strict";

const LF = (() => {
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);

  function url(path, params = {}) {
    const query = new URLSearchParams({ token, ...params });
    return `${path}?${query}`;
  }

  async function get(path) {
    const response = await fetch(path, { headers: { "X-Livefilter-Token": token } });
    return unwrap(response);
  }

  // State changes: POST with the token in a header (never only in the URL).
  async function post(path, body, headers = {}) {
    const isJson = !(body instanceof Blob);
    const response = await fetch(path, {
      method: "POST",
      headers: { "X-Livefilter-Token": token,
                 ...(isJson ? { "Content-Type": "application/json" } : {}), ...headers },
      body: isJson ? JSON.stringify(body || {}) : body,
    });
    return unwrap(response);
  }

  async function unwrap(response) {
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const text = data.error || `${response.status} ${response.statusText}`;
      say(text);
      throw new Error(text);
    }
    return data;
  }

  function say(text) { $("message").textContent = text || ""; }

  // One place draws boxes on a canvas laid over an image.
  function drawBoxes(canvas, img, sourceWidth, boxes) {
    canvas.width = img.clientWidth;
    canvas.height = img.clientHeight;
    const scale = img.clientWidth / sourceWidth;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const b of boxes) {
      ctx.strokeStyle = b.color || "#3d8bfd";
      ctx.lineWidth = 2;
      ctx.setLineDash(b.dashed ? [6, 4] : []);
      const [x1, y1, x2, y2] = b.box.map((v) => v * scale);
      if (b.shape === "ellipse") {
        ctx.beginPath();
        ctx.ellipse((x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2, 0, 0, 2 * Math.PI);
        ctx.stroke();
      } else {
        ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      }
    }
    return scale;
  }

  // Drag to draw a box on a canvas; ``done`` gets it in source pixels
  // (a click without a drag gets a zero-size box at the point).
  function dragBox(canvas, scaleOf, done) {
    let start = null;
    const point = (e) => {
      const r = canvas.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    canvas.addEventListener("mousedown", (e) => { start = point(e); e.preventDefault(); });
    canvas.addEventListener("mouseup", (e) => {
      if (!start) return;
      const end = point(e);
      const s = scaleOf();
      const box = [Math.min(start[0], end[0]) / s, Math.min(start[1], end[1]) / s,
                   Math.max(start[0], end[0]) / s, Math.max(start[1], end[1]) / s];
      start = null;
      done(box.map((v) => Math.round(v * 10) / 10));
    });
  }

  function showView(name) {
    for (const tab of document.querySelectorAll(".tab")) {
      tab.classList.toggle("active", tab.dataset.view === name);
    }
    for (const view of document.querySelectorAll(".view")) {
      view.classList.toggle("active", view.id === `view-${name}`);
    }
    document.dispatchEvent(new CustomEvent("lf-view", { detail: name }));
  }

  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }

  const listeners = [];
  function onEvent(fn) { listeners.push(fn); }
  const events = new EventSource(url("/api/events"));
  events.onmessage = (message) => {
    const data = JSON.parse(message.data);
    for (const fn of listeners) fn(data);
  };

  return { token, $, url, get, post, say, drawBoxes, dragBox, onEvent, showView };
})();
