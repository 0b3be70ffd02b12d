// Live view: source, outputs, start/stop, panic, protection state, hidden preview.
"use strict";

(() => {
  const { $, post, get, url, say, onEvent } = LF;
  let running = false;
  let previewCount = -1;

  function sourceKindChanged() {
    const kind = $("source-kind").value;
    $("camera-row").hidden = kind !== "camera";
    $("path-row").hidden = kind === "camera";
    $("realtime-row").hidden = kind !== "file";
  }
  $("source-kind").addEventListener("change", sourceKindChanged);

  async function loadDevices() {
    const select = $("camera");
    select.innerHTML = "";
    try {
      const { devices } = await get("/api/devices");
      for (const d of devices.filter((d) => !d.loopback)) {
        const option = document.createElement("option");
        option.value = d.path;
        option.textContent = `${d.name} (${d.path})`;
        select.appendChild(option);
      }
      if (!select.options.length) {
        const option = document.createElement("option");
        option.value = "";
        option.textContent = "no camera found";
        select.appendChild(option);
      }
    } catch (e) { /* said already */ }
  }

  function options() {
    const kind = $("source-kind").value;
    return {
      source: kind === "camera" ? $("camera").value : $("source-path").value,
      realtime: kind !== "file" || $("realtime").checked,
      vcam: $("out-vcam").checked,
      vcam_device: $("vcam-device").value,
      record: $("out-record").value,
      stream: $("out-stream").value,
      quality: $("quality").value,
      method: $("method").value,
      shape: $("shape").value,
      delay: parseFloat($("delay").value || "0"),
    };
  }

  $("live-start").addEventListener("click", async () => {
    say("starting…");
    try { show(await post("/api/live/start", options())); say(""); } catch (e) { /* said */ }
  });
  $("live-stop").addEventListener("click", async () => {
    try { show(await post("/api/live/stop")); } catch (e) { /* said */ }
  });

  async function panic() {
    try { show(await post("/api/live/panic", {})); } catch (e) { /* said */ }
  }
  $("panic").addEventListener("click", panic);
  document.addEventListener("keydown", (e) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (e.key === "Escape" || (!typing && (e.key === "p" || e.key === "P"))) {
      e.preventDefault();
      panic();
    }
  });

  function show(status) {
    running = status.running;
    const state = status.protection.state;
    const box = $("protection");
    box.className = `protection ${state}`;
    $("protection-state").textContent = state;
    $("protection-reason").textContent = status.error || status.protection.reason || "";
    $("panic").classList.toggle("on", status.panic);
    $("panic").textContent = status.panic ? "PANIC ON — press again to resume"
                                          : "PANIC — hide everything";
    $("stream-masked").textContent = (status.options && status.options.stream) || "—";
    const table = $("live-stats");
    table.innerHTML = "";
    const s = status.stats || {};
    const rows = [["frames out", s.frames_out], ["fps", s.fps_out], ["dropped", s.dropped],
      ["detector Hz", s.detector_hz], ["hidden whole", s.curtain_frames],
      ["latency p95 ms", s.latency_ms ? s.latency_ms.p95 : undefined]];
    for (const [name, value] of rows) {
      const tr = table.insertRow();
      tr.insertCell().textContent = name;
      const cell = tr.insertCell();
      cell.textContent = value === undefined || value === null ? "—" : value;
      cell.id = `stat-${name.replace(/[^a-z0-9]+/gi, "-")}`;
    }
    if (status.preview_frames !== previewCount && status.preview_frames > 0) {
      previewCount = status.preview_frames;
      $("preview").src = url("/api/live/preview.jpg", { n: String(previewCount) });
    }
  }

  onEvent((data) => show(data.live));
  sourceKindChanged();
  loadDevices();
})();
