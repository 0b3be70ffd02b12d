"""The page's live view: one :class:`~livefilter.apps.live.LivePipeline` at a
time, its protection state and stats, and a preview of its *hidden* output.

The preview is a sink like the recording: it gets the frames after they were
hidden (or curtained), keeps the newest few per second as a JPEG in memory,
and the page polls it. No raw frame ever reaches the page.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2

from livefilter.errors import ConfigError
from livefilter.io.sinks import OutputItem

__all__ = ["LiveSession", "PreviewSink", "mask_url", "protection_state"]

logger = logging.getLogger(__name__)

_PREVIEW_FPS = 4.0
_PREVIEW_WIDTH = 640


def mask_url(url: str) -> str:
    """A stream URL with its key (last path part, query, user info) masked."""
    if not url:
        return ""
    masked = re.sub(r"//[^/@]*@", "//****@", url)
    masked = re.sub(r"\?.*$", "?****", masked)
    scheme_host, _, path = masked.partition("://")
    if "/" in path:
        head, _, tail = path.rpartition("/")
        if tail and tail != "****":
            path = f"{head}/****"
    return f"{scheme_host}://{path}"


class PreviewSink:
    """Keeps the newest hidden frame, a few times a second, as JPEG bytes."""

    name = "page-preview"

    def __init__(self) -> None:
        self.jpeg: bytes | None = None
        self.curtain = False
        self.frames = 0
        self._last = 0.0

    def open(self, width: int, height: int, fps: float) -> None:
        self.jpeg = None

    def write(self, item: OutputItem) -> None:
        now = time.monotonic()
        if now - self._last < 1.0 / _PREVIEW_FPS:
            return
        self._last = now
        image = item.frame.image
        scale = min(1.0, _PREVIEW_WIDTH / image.shape[1])
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            self.jpeg = data.tobytes()
            self.curtain = item.curtain
            self.frames += 1

    def close(self) -> None:
        pass


def protection_state(summary: dict[str, Any], previous: dict[str, Any] | None,
                     running: bool) -> dict[str, Any]:
    """``{"state", "reason"}``: the pipeline's own ``protection`` record when it
    has one; until then derived from what the curtain counts and drops did
    since the previous summary.
    """
    if not running:
        return {"state": "stopped", "reason": ""}
    if isinstance(summary.get("protection"), dict):
        return summary["protection"]
    before = (previous or {}).get("curtain_reasons", {})
    now = summary.get("curtain_reasons", {})
    grown = {k: v - before.get(k, 0) for k, v in now.items() if v > before.get(k, 0)}
    frames = summary.get("frames_out", 0) - (previous or {}).get("frames_out", 0)
    if grown.get("signal-lost"):
        return {"state": "signal-lost", "reason": "the source is lost; outputs get a hidden "
                "'signal lost' frame"}
    if grown and sum(grown.values()) * 2 >= max(frames, 1):
        reason = max(grown, key=lambda k: grown[k])
        return {"state": "curtain", "reason": f"hidden whole: {reason}"}
    dropped = summary.get("dropped", 0) - (previous or {}).get("dropped", 0)
    if grown or dropped > 0 or summary.get("detector_errors", 0):
        what = []
        if grown:
            what.append("some frames hidden whole (" + ", ".join(sorted(grown)) + ")")
        if dropped > 0:
            what.append(f"{dropped} frames dropped")
        if summary.get("detector_errors", 0):
            what.append("detector errors")
        return {"state": "degraded", "reason": "; ".join(what)}
    if frames <= 0:
        return {"state": "protected", "reason": "waiting for frames"}
    return {"state": "protected", "reason": "faces hidden on every frame"}


class LiveSession:
    """Start, stop, panic; status for the page. Thread-safe."""

    def __init__(self, detector_factory: Callable[..., Any]) -> None:
        self._factory = detector_factory
        self._lock = threading.Lock()
        self._pipeline: Any = None
        self._thread: threading.Thread | None = None
        self._preview = PreviewSink()
        self._options: dict[str, Any] = {}
        self._error = ""
        self._final: dict[str, Any] | None = None
        self._previous: dict[str, Any] | None = None
        self._protection: dict[str, Any] = {"state": "stopped", "reason": ""}
        self._protection_at = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, options: dict[str, Any]) -> dict[str, Any]:
        from livefilter.apps.live import LiveConfig, LivePipeline
        from livefilter.detect import DetectorConfig, preset_mask_scale
        from livefilter.io.capture import SourceConfig, open_source
        from livefilter.io.sinks import RecordSink, StreamSink, VirtualCameraSink
        from livefilter.regions import RedactionConfig
        from livefilter.track.tracker import TrackerConfig
        from livefilter.ui.server import SECRET_FILTER

        with self._lock:
            if self.running:
                raise ConfigError("a live run is already going: stop it first")
            source_text = str(options.get("source", "")).strip()
            if not source_text:
                raise ConfigError("source: choose a camera, a file or a URL")
            quality = str(options.get("quality", "fast"))
            redaction = RedactionConfig(
                method=str(options.get("method", "blur")),
                shape=str(options.get("shape", "ellipse")),
                mask_scale=preset_mask_scale(DetectorConfig(quality=quality)) or 1.6,
            )
            live = LiveConfig(delay=float(options.get("delay", 0.0)), stats_interval=0)
            sinks: list[Any] = [self._preview]
            if options.get("record"):
                from pathlib import Path

                sinks.append(RecordSink(Path(str(options["record"]))))
            stream = str(options.get("stream") or "")
            if stream:
                SECRET_FILTER.secrets.add(stream)
                key = stream.rstrip("/").rpartition("/")[2]
                if key:
                    SECRET_FILTER.secrets.add(key)
                sinks.append(StreamSink(stream))
            if options.get("vcam"):
                device = str(options.get("vcam_device") or "") or None
                sinks.append(VirtualCameraSink(device))
            source_config = SourceConfig(source=source_text,
                                         realtime=bool(options.get("realtime", True)))
            detector = self._factory(quality=quality, video=True, threads=1)
            source = open_source(source_config)
            reopen = ((lambda: open_source(source_config))
                      if source_config.kind in ("camera", "url") else None)
            try:
                pipeline = LivePipeline(source, detector, redaction=redaction, config=live,
                                        tracker=TrackerConfig(hold=1.0, weak_hold=1.0),
                                        sinks=sinks, reopen=reopen)
            except BaseException:
                source.close()
                raise
            self._pipeline = pipeline
            self._preview.jpeg = None
            self._error = ""
            self._final = None
            self._previous = None
            self._options = {"source": source_text, "quality": quality,
                             "method": redaction.method, "stream": mask_url(stream),
                             "record": str(options.get("record") or ""),
                             "vcam": bool(options.get("vcam"))}

            def body() -> None:
                try:
                    self._final = pipeline.run()
                except BaseException as exc:
                    text = " ".join(str(exc).split()) or type(exc).__name__
                    self._error = SECRET_FILTER.mask(text)  # a stream key never reaches the page
                    logger.error("live run failed: %s", self._error)
                finally:
                    source.close()

            self._thread = threading.Thread(target=body, name="livefilter-ui-live", daemon=True)
            self._thread.start()
            return self.status()

    def stop(self, *, wait: bool = False) -> dict[str, Any]:
        pipeline, thread = self._pipeline, self._thread
        if pipeline is not None:
            pipeline.request_stop("stopped from the page")
        if wait and thread is not None:
            thread.join(timeout=30)
        return self.status()

    def panic(self, on: bool | None = None) -> dict[str, Any]:
        pipeline = self._pipeline
        if pipeline is None or not self.running:
            raise ConfigError("panic: no live run")
        if on is None or on != pipeline.panic.is_set():
            pipeline.toggle_panic()
        return self.status()

    def _summary(self) -> dict[str, Any]:
        pipeline = self._pipeline
        if pipeline is None:
            return {}
        if self._final is not None:
            return self._final
        capture = getattr(pipeline, "_capture", None)
        ring = getattr(pipeline, "_ring", None)
        summary = pipeline.stats.summary(capture.frames if capture else 0,
                                         ring.dropped if ring else 0, {})
        if hasattr(pipeline, "protection"):
            # The pipeline's own judgement, as the stats JSON will carry it.
            state, reason = pipeline.protection()
            summary["protection"] = {"state": state, "reason": reason}
        return summary

    def status(self) -> dict[str, Any]:
        summary = self._summary()
        running = self.running
        now = time.monotonic()
        # The derived state compares with the summary of about a second ago.
        if now - self._protection_at >= 1.0 or not running:
            self._protection = protection_state(summary, self._previous, running)
            self._previous = summary
            self._protection_at = now
        pipeline = self._pipeline
        panic = bool(pipeline is not None and pipeline.panic.is_set() and running)
        protection = self._protection
        if panic:
            protection = {"state": "curtain", "reason": "panic: every frame hidden whole"}
        keys = ("frames_in", "frames_out", "dropped", "fps_out", "detector_hz",
                "curtain_frames", "latency_ms", "curtain_reasons", "seconds")
        return {"running": running, "panic": panic, "error": self._error,
                "options": self._options, "protection": protection,
                "stats": {k: summary[k] for k in keys if k in summary},
                "preview_frames": self._preview.frames}

    def preview(self) -> bytes | None:
        return self._preview.jpeg


def routes(state: Any) -> list[Any]:
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from livefilter.io.devices import list_devices
    from livefilter.ui.server import body_json, handler

    session: LiveSession = state.live

    @handler
    async def devices(request):
        return JSONResponse({"devices": [
            {"path": d.path, "name": d.name, "loopback": d.loopback} for d in list_devices()]})

    @handler
    async def start(request):
        import asyncio

        options = await body_json(request)
        # Opening a camera and loading the detector take a moment: not on the loop.
        return JSONResponse(await asyncio.to_thread(session.start, options))

    @handler
    async def stop(request):
        return JSONResponse(session.stop())

    @handler
    async def panic(request):
        data = await body_json(request)
        return JSONResponse(session.panic(data.get("on")))

    @handler
    async def status(request):
        return JSONResponse(session.status())

    @handler
    async def preview(request):
        jpeg = session.preview()
        if jpeg is None:
            return Response(status_code=204)
        return Response(jpeg, media_type="image/jpeg")

    return [
        Route("/api/devices", devices),
        Route("/api/live/start", start, methods=["POST"]),
        Route("/api/live/stop", stop, methods=["POST"]),
        Route("/api/live/panic", panic, methods=["POST"]),
        Route("/api/live/status", status),
        Route("/api/live/preview.jpg", preview),
    ]
