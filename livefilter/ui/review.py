"""The page's review view: check a processed video frame by frame before
publishing it, mark what the detector missed (or hid wrongly) and re-render.

A file is processed (or re-rendered) by the same function as ``livefilter
file`` (:func:`~livefilter.apps.offline.anonymize_video`), with the manual
regions read back from the regions file the page saved, exactly as
``file --regions-file`` reads it. The page is shown the *processed* frames
(as JPEGs held in memory), the regions log drawn over them, and a timeline of
the frames where a miss is most likely: curtain frames, low-score
detections, short tracks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livefilter.boxes import iou_matrix_xyxy
from livefilter.errors import ConfigError, InputError
from livefilter.frame import Frame
from livefilter.track.manual import (
    ManualRegions,
    load_regions_file,
    parse_regions_json,
    regions_to_json,
)

__all__ = ["ReviewSession", "timeline"]

logger = logging.getLogger(__name__)

_VIEW_WIDTH = 960
_LOW_SCORE = 0.3  # a detection under this confirms nothing by itself (tracker's confirm_score)
_SHORT_TRACK_SECONDS = 0.5


def timeline(log: dict[str, Any], low_score: set[int]) -> dict[str, list[int]]:
    """Frames to look at: ``curtain``, ``low_score`` and ``short_tracks``
    (regions that last under half a second: a face found once, likely missed
    on the frames around it).
    """
    frames = log.get("frames", [])
    fps = float(log.get("fps") or 25.0)
    curtain = [f["index"] for f in frames if f.get("curtain")]
    short: set[int] = set()
    open_tracks: list[tuple[np.ndarray, list[int]]] = []
    finished: list[list[int]] = []
    for entry in frames:
        boxes = np.array([r["box"] for r in entry.get("regions", [])], np.float32).reshape(-1, 4)
        still: list[tuple[np.ndarray, list[int]]] = []
        taken: set[int] = set()
        for box, members in open_tracks:
            if len(boxes):
                overlap = iou_matrix_xyxy(box[None], boxes)[0]
                overlap[list(taken)] = 0
                best = int(np.argmax(overlap))
                if overlap[best] >= 0.3:
                    taken.add(best)
                    still.append((boxes[best], [*members, entry["index"]]))
                    continue
            finished.append(members)
        for i, box in enumerate(boxes):
            if i not in taken:
                still.append((box, [entry["index"]]))
        open_tracks = still
    finished += [members for _, members in open_tracks]
    limit = max(2, round(fps * _SHORT_TRACK_SECONDS))
    for members in finished:
        if len(members) < limit:
            short.update(members)
    return {"curtain": curtain, "low_score": sorted(low_score), "short_tracks": sorted(short)}


class ReviewSession:
    """One video under review at a time; its processing job runs on a thread."""

    def __init__(self, workdir: Path, detector_factory: Callable[..., Any]) -> None:
        self.workdir = workdir
        self.workdir.mkdir(mode=0o700, exist_ok=True)
        self._factory = detector_factory
        self._lock = threading.Lock()
        self._job: threading.Thread | None = None
        self._progress = (0, 0)
        self._error = ""
        self._runs = 0
        self.source: Path | None = None
        self.output: Path | None = None
        self.log: dict[str, Any] = {}
        self.jpegs: list[bytes] = []
        self.view_scale = 1.0
        self.low_score: set[int] = set()
        self.regions_text = json.dumps(regions_to_json([]))
        self.regions_path = self.workdir / "regions.json"

    @property
    def busy(self) -> bool:
        return self._job is not None and self._job.is_alive()

    def status(self) -> dict[str, Any]:
        done, total = self._progress
        return {"busy": self.busy, "done": done, "total": total, "error": self._error,
                "source": str(self.source or ""), "output": str(self.output or ""),
                "frames": len(self.log.get("frames", [])), "loaded": len(self.jpegs)}

    def close(self) -> None:
        if self._job is not None:
            self._job.join(timeout=1)

    # ----------------------------------------------------------------- regions
    def set_regions(self, data: dict[str, Any]) -> dict[str, Any]:
        """Check the page's regions (as a file would be checked) and keep them."""
        text = json.dumps(data)
        regions = ManualRegions(parse_regions_json(json.loads(text)), source="regions")
        if self.log:
            regions.check(int(self.log["width"]), int(self.log["height"]),
                          len(self.log.get("frames", [])))
        self.regions_text = text
        self.regions_path.write_text(text, encoding="utf-8")
        return json.loads(text)

    def upload_path(self, filename: str) -> Path:
        """Where an uploaded video goes: the private folder, a safe name."""
        import re

        suffix = Path(filename).suffix.lower()
        if suffix not in (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mts", ".3gp"):
            raise InputError(f"{filename}: expected a video (.mp4, .mov, .mkv, ...)")
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).stem)[:80] or "video"
        folder = self.workdir / "uploads"
        folder.mkdir(mode=0o700, exist_ok=True)
        self._runs += 1
        return folder / f"{self._runs}-{stem}{suffix}"

    def track_preview(self, data: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
        """Where each tracked region of the page's list will be, frame by frame
        (``{"n": {"frame": box}}``, source pixels), followed on the processed
        frames held for the review, so the page can draw it before a re-render.
        """
        from dataclasses import replace

        regions = parse_regions_json(data)
        if not self.jpegs:
            return {}
        ManualRegions(regions).check(int(self.log["width"]), int(self.log["height"]),
                                     len(self.jpegs))
        scale = self.view_scale
        numbers = [n for n, r in enumerate(regions) if r.mode == "tracked"]
        scaled = ManualRegions([replace(regions[n], box=tuple(v * scale for v in regions[n].box))
                                for n in numbers])
        wanted = sorted({i for r in scaled.regions for i in range(len(self.jpegs))
                         if r.covers(i) or i == r.key})

        def frames():
            for i in wanted:
                image = cv2.imdecode(np.frombuffer(self.jpegs[i], np.uint8), cv2.IMREAD_COLOR)
                yield i, image

        scaled.track(frames())
        return {str(n): {str(i): [round(float(v) / scale, 1) for v in box]
                         for i, box in scaled.path(k).items()}
                for k, n in enumerate(numbers)}

    def save_regions(self, path: Path) -> Path:
        path = Path(path).expanduser()
        if not path.parent.is_dir():
            raise ConfigError(f"{path.parent}: no such folder")
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        partial.write_text(self.regions_text, encoding="utf-8")
        os.replace(partial, path)
        return path

    # -------------------------------------------------------------- processing
    def process(self, source: Path, output: Path | None, *, with_regions: bool) -> None:
        """Process ``source`` (with the page's regions when ``with_regions``)."""
        from livefilter.apps.offline import FileJobConfig, anonymize_video
        from livefilter.detect import DetectorConfig, preset_mask_scale
        from livefilter.regions import RedactionConfig
        from livefilter.track.tracker import TrackerConfig

        source = Path(source).expanduser()
        if not source.is_file():
            raise InputError(f"{source}: no such file")
        with self._lock:
            if self.busy:
                raise ConfigError("a video is being processed: wait for it")
            self._runs += 1
            if output is None:
                output = self.workdir / f"reviewed-{self._runs}{source.suffix or '.mp4'}"
            output = Path(output).expanduser()
            log_path = self.workdir / f"regions-log-{self._runs}.json"
            manual = None
            if with_regions:
                manual = ManualRegions(load_regions_file(self.regions_path),
                                       source=f"regions-file: {self.regions_path}")
            job = FileJobConfig(input=source, output=output, regions_json=log_path)
            redaction = RedactionConfig(
                mask_scale=preset_mask_scale(DetectorConfig(quality="thorough")) or 1.6)
            self._error = ""
            self._progress = (0, 0)

            def body() -> None:
                try:
                    detector = self._factory(quality="thorough", video=True, threads=0)
                    scores = self._record_scores(detector)
                    anonymize_video(job, detector, redaction, manual=manual,
                                    tracker=TrackerConfig(hold=1.0, weak_hold=0.3),
                                    total_frames=self._set_total, on_frame=self._advance)
                    self.source = source
                    self._load(output, log_path, low_score=scores)
                except BaseException as exc:
                    self._error = " ".join(str(exc).split()) or type(exc).__name__
                    logger.error("review: %s", self._error)

            self._job = threading.Thread(target=body, name="livefilter-ui-review", daemon=True)
            self._job.start()

    def _set_total(self, total: int) -> None:
        self._progress = (0, total)

    def _advance(self, count: int) -> None:
        done, total = self._progress
        self._progress = (done + count, total)

    @staticmethod
    def _record_scores(detector: Any) -> set[int]:
        """Frame indices with a low-score detection. ``file`` runs the detector
        once per frame in order (``detect_every`` 1), so call n is frame n.
        """
        frames: set[int] = set()
        inner = detector.detect
        calls = [0]

        def detect(image: np.ndarray) -> Any:
            found = inner(image)
            if len(found) and float(found.scores.min()) < _LOW_SCORE:
                frames.add(calls[0])
            calls[0] += 1
            return found

        # A detector with slots keeps its method: no marks, nothing else lost.
        with contextlib.suppress(AttributeError):
            detector.detect = detect
        return frames

    def open(self, output: Path, log_path: Path, source: Path | None) -> None:
        """Open a video processed earlier, with its ``--regions-json`` log."""
        output, log_path = Path(output).expanduser(), Path(log_path).expanduser()
        for path in (output, log_path):
            if not path.is_file():
                raise InputError(f"{path}: no such file")
        if self.busy:
            raise ConfigError("a video is being processed: wait for it")
        self.source = Path(source).expanduser() if source else None
        self._error = ""
        self._job = threading.Thread(
            target=self._load_safely, args=(output, log_path), name="livefilter-ui-review",
            daemon=True)
        self._job.start()

    def _load_safely(self, output: Path, log_path: Path) -> None:
        try:
            self._load(output, log_path, low_score=set())
        except BaseException as exc:
            self._error = " ".join(str(exc).split()) or type(exc).__name__

    def _load(self, output: Path, log_path: Path, *, low_score: set[int]) -> None:
        from livefilter.io.media import VideoReader

        try:
            log = json.loads(log_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{log_path}: not a regions log ({exc})") from None
        if not isinstance(log, dict) or "frames" not in log or "width" not in log:
            raise InputError(f"{log_path}: not a regions log (written by --regions-json)")
        jpegs: list[bytes] = []
        with VideoReader(output) as reader:
            self._progress = (0, reader.info.frames)
            scale = min(1.0, _VIEW_WIDTH / reader.info.width)
            for item in reader:
                if not isinstance(item, Frame):
                    continue
                image = item.image
                if scale < 1.0:
                    image = cv2.resize(image, None, fx=scale, fy=scale,
                                       interpolation=cv2.INTER_AREA)
                ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
                jpegs.append(data.tobytes() if ok else b"")
                self._progress = (len(jpegs), reader.info.frames)
        self.output, self.log, self.jpegs = output, log, jpegs
        self.view_scale, self.low_score = scale, low_score

    def frame(self, index: int) -> bytes:
        if not 0 <= index < len(self.jpegs):
            raise KeyError(f"frame {index}: expected 0..{len(self.jpegs) - 1}")
        return self.jpegs[index]

    def summary(self) -> dict[str, Any]:
        """What the page draws: size, fps, per-frame regions and the timeline."""
        if not self.log:
            return {"frames": 0}
        return {"frames": len(self.jpegs), "width": self.log["width"],
                "height": self.log["height"], "fps": self.log.get("fps", 25),
                "scale": self.view_scale, "log": self.log["frames"],
                "timeline": timeline(self.log, self.low_score),
                "regions": json.loads(self.regions_text)}


def routes(state: Any) -> list[Any]:
    import asyncio

    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Route

    from livefilter.ui.server import body_json, handler

    session: ReviewSession = state.review

    def _path(data: dict[str, Any], key: str) -> Path | None:
        value = str(data.get(key) or "").strip()
        return Path(value) if value else None

    @handler
    async def process(request):
        data = await body_json(request)
        source = _path(data, "source")
        if source is None:
            raise ConfigError("source: give the path of a video")
        session.process(source, _path(data, "output"), with_regions=False)
        return JSONResponse(session.status())

    @handler
    async def open_(request):
        data = await body_json(request)
        output, log = _path(data, "output"), _path(data, "regions_json")
        if output is None or log is None:
            raise ConfigError("give the processed video and its regions log (--regions-json)")
        session.open(output, log, _path(data, "source"))
        return JSONResponse(session.status())

    @handler
    async def rerender(request):
        data = await body_json(request)
        session.set_regions(data.get("regions") or {"version": 1, "regions": []})
        source = _path(data, "source") or session.source
        if source is None:
            raise ConfigError("source: re-rendering needs the original video")
        session.process(source, _path(data, "output"), with_regions=True)
        return JSONResponse(session.status())

    @handler
    async def regions(request):
        data = await body_json(request)
        kept = session.set_regions(data.get("regions") or {"version": 1, "regions": []})
        saved = ""
        if data.get("path"):
            saved = str(await asyncio.to_thread(session.save_regions, Path(str(data["path"]))))
        return JSONResponse({"regions": kept, "saved": saved})

    @handler
    async def upload(request):
        """A video from the page's file picker, streamed into the private folder."""
        name = request.headers.get("x-filename", "video.mp4")
        target = session.upload_path(name)
        try:
            with open(target, "wb") as out:
                async for chunk in request.stream():
                    await asyncio.to_thread(out.write, chunk)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return JSONResponse({"path": str(target)})

    @handler
    async def regions_file(request):
        return Response(session.regions_text, media_type="application/json", headers={
            "Content-Disposition": 'attachment; filename="regions.json"'})

    @handler
    async def track(request):
        data = await body_json(request)
        regions = data.get("regions") or {"version": 1, "regions": []}
        return JSONResponse(await asyncio.to_thread(session.track_preview, regions))

    @handler
    async def summary(request):
        return JSONResponse(session.summary())

    @handler
    async def frame(request):
        return Response(session.frame(int(request.path_params["index"])),
                        media_type="image/jpeg")

    @handler
    async def output(request):
        if session.output is None or not session.output.is_file():
            raise ConfigError("no processed video yet")
        return FileResponse(session.output, filename=session.output.name)

    return [
        Route("/api/review/process", process, methods=["POST"]),
        Route("/api/review/open", open_, methods=["POST"]),
        Route("/api/review/rerender", rerender, methods=["POST"]),
        Route("/api/review/regions", regions, methods=["POST"]),
        Route("/api/review/upload", upload, methods=["POST"]),
        Route("/api/review/regions.json", regions_file),
        Route("/api/review/track", track, methods=["POST"]),
        Route("/api/review/summary", summary),
        Route("/api/review/frame/{index:int}", frame),
        Route("/api/review/output", output),
    ]
