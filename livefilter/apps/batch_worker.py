"""One batch task (a photo or a video), and the worker process that runs them.

A worker builds its detectors once, on its first photo or video, then runs
one task at a time sent by the batch (:mod:`livefilter.apps.batch`). Every
error of a task becomes part of its result: one bad file never stops the
worker. SIGTERM (the batch stopping) raises :class:`SystemExit` in the task,
so the file being written is aborted and its hidden ``.part`` removed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from livefilter.apps.manifest import is_disk_full
from livefilter.detect import DetectorConfig
from livefilter.errors import LivefilterError
from livefilter.regions import RedactionConfig
from livefilter.track.tracker import TrackerConfig

__all__ = ["BatchSettings", "Task", "TaskResult", "Worker", "run_task", "worker_main"]

logger = logging.getLogger(__name__)

# Progress messages at most this often per worker (a queue message per frame
# would cost more than the bar is worth).
_PROGRESS_INTERVAL = 0.3


@dataclass(frozen=True, kw_only=True)
class BatchSettings:
    """Everything that decides how a batch's outputs look."""

    photo_detector: DetectorConfig
    video_detector: DetectorConfig
    photo_redaction: RedactionConfig
    video_redaction: RedactionConfig
    tracker: TrackerConfig
    crf: int = 20
    preset: str = "veryfast"
    detect_every: int = 1
    # What is hidden (``--hide``), the sound (``--audio``; ``None`` = keep)
    # and whether a damaged input's readable part is kept (``--allow-damaged``).
    hide: str = "faces"
    audio: str | None = None
    allow_damaged: bool = False

    @property
    def splits_audio_safely(self) -> bool:
        """Segments are joined with the source's audio packets copied: only
        right when the sound is to be kept as it is."""
        return self.audio in (None, "keep")

    def digest(self) -> str:
        """A hash of the settings that change outputs (not the thread counts)."""
        plain = replace(
            self,
            photo_detector=replace(self.photo_detector, threads=0),
            video_detector=replace(self.video_detector, threads=0),
        )
        return hashlib.sha256(repr(plain).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Task:
    """Anonymize ``source`` (``kind``: photo or video) into ``target``."""

    index: int
    source: Path
    target: Path
    kind: str
    # A segment of a video: see anonymize_video's ``window``.
    window: tuple[float, float, float, float] | None = None
    regions_json: Path | None = None
    # The source frame number of the window's first frame: where the
    # detector's cycle of passes stands there in a one-piece run.
    first_frame: int = 0


@dataclass(frozen=True)
class TaskResult:
    index: int
    ok: bool
    frames: int = 0
    faces: int = 0
    curtain_share: float = 0.0
    curtain_frames: int = 0
    seconds: float = 0.0
    error: str = ""
    disk_full: bool = False
    output_size: int = 0


class Worker:
    """Detectors built on first use, kept for the tasks after."""

    def __init__(self, settings: BatchSettings) -> None:
        self.settings = settings
        self._detectors: dict[str, Any] = {}

    def detector(self, kind: str) -> Any:
        if kind not in self._detectors:
            from livefilter.detect import build_target_detector

            config = self.settings.photo_detector if kind == "photo" else \
                self.settings.video_detector
            self._detectors[kind] = build_target_detector(config, self.settings.hide)
        return self._detectors[kind]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, LivefilterError):
        return text
    return f"internal error: {type(exc).__name__}: {text}"


def run_task(task: Task, worker: Worker, send: Any = None) -> TaskResult:
    """Run one task; ``send(kind, value)`` gets ``("total", frames)`` and
    ``("advance", frames)`` for the progress bar. Errors become the result.
    """
    started = time.monotonic()
    try:
        task.target.parent.mkdir(parents=True, exist_ok=True)
        if task.kind == "photo":
            result = _run_photo(task, worker)
        else:
            result = _run_video(task, worker, send)
    except Exception as exc:
        logger.debug("%s failed", task.source, exc_info=True)
        return TaskResult(task.index, False, seconds=round(time.monotonic() - started, 3),
                          error=_one_line(exc), disk_full=is_disk_full(exc))
    return replace(result, seconds=round(time.monotonic() - started, 3),
                   output_size=task.target.stat().st_size)


def _run_photo(task: Task, worker: Worker) -> TaskResult:
    from livefilter.apps.photos import anonymize_photo

    found = anonymize_photo(task.source, task.target, worker.detector("photo"),
                            worker.settings.photo_redaction)
    return TaskResult(task.index, True, frames=1, faces=len(found.faces))


def _run_video(task: Task, worker: Worker, send: Any) -> TaskResult:
    from livefilter.apps.offline import FileJobConfig, anonymize_video

    settings = worker.settings
    job = FileJobConfig(input=task.source, output=task.target, crf=settings.crf,
                        preset=settings.preset, detect_every=settings.detect_every,
                        regions_json=task.regions_json, audio=settings.audio,
                        allow_damaged=settings.allow_damaged)
    pending = [0, time.monotonic()]

    def on_frame(count: int) -> None:
        pending[0] += count
        now = time.monotonic()
        if send is not None and now - pending[1] >= _PROGRESS_INTERVAL:
            send("advance", pending[0])
            pending[0], pending[1] = 0, now

    def on_total(frames: int) -> None:
        if send is not None:
            send("total", frames)

    detector = worker.detector("video")
    if hasattr(detector, "seek_cycle"):
        # With one detector call per frame (the default), every frame then
        # gets the passes it gets in a one-piece run.
        detector.seek_cycle(task.first_frame // settings.detect_every)
    stats = anonymize_video(job, detector, settings.video_redaction,
                            on_frame=on_frame, total_frames=on_total, tracker=settings.tracker,
                            window=task.window)
    if send is not None and pending[0]:
        send("advance", pending[0])
    frames = int(stats["frames"])  # type: ignore[call-overload]
    curtain = int(stats["curtain_frames"])  # type: ignore[call-overload]
    damaged = int(stats.get("decode_errors", 0))  # type: ignore[call-overload]
    note = f"{damaged} damaged video packet(s) skipped" if damaged else ""
    return TaskResult(task.index, True, frames=frames,
                      faces=int(stats.get("regions_hidden", 0)),  # type: ignore[call-overload]
                      curtain_share=round(curtain / frames, 4) if frames else 0.0,
                      curtain_frames=curtain, error=note)


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when the batch process dies (kill -9),
    so a worker never goes on writing for nobody."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        logger.debug("no PR_SET_PDEATHSIG here; workers check their parent instead")


def worker_main(wid: int, settings: BatchSettings, tasks: Any, results: Any,
                parent: int) -> None:
    """A worker process: run tasks from ``tasks`` until ``None``; send
    ``(message, wid, task index, value)`` tuples to ``results``."""
    # Ctrl-C reaches the whole process group; the batch process decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)
    _die_with_parent()
    worker = Worker(settings)
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return
            continue
        if task is None:
            return

        def send(kind: str, value: object, index: int = task.index) -> None:
            results.put((kind, wid, index, value))

        results.put(("done", wid, task.index, run_task(task, worker, send)))
