"""The file path: anonymize a whole video file, every frame, nothing dropped.

Four threads: the decoder reads frames (and audio packets) into a small
bounded queue, the detector runs on each frame as it comes (on key frames
only, in the main thread, with ``--detect-every`` over 1), the main thread
tracks and hides faces, and the encoder writes frames out. A worker's
exception stops the others and is re-raised here; the output then never
appears under its final name.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from livefilter.apps.hiding import hide_regions
from livefilter.audio import FILE_AUDIO_MODES, check_mode
from livefilter.detect import Detector, calls_per_cycle
from livefilter.detections import Detections
from livefilter.errors import ConfigError
from livefilter.frame import Frame
from livefilter.hide.composite import curtain
from livefilter.io.media import AudioPacket, VideoReader
from livefilter.io.writer import X264_PRESETS, VideoWriter
from livefilter.paths import check_distinct
from livefilter.regions import RedactionConfig, RegionsLog
from livefilter.threads import Worker, get_or_stop, put_or_stop
from livefilter.track.manual import ManualRegions
from livefilter.track.plan import PlanConfig, PlannedFrame, RegionPlanner
from livefilter.track.tracker import TrackerConfig

__all__ = ["FileJobConfig", "anonymize_video", "file_stats"]

logger = logging.getLogger(__name__)

_END = object()
# Frames waiting between the threads, bounded by bytes (at most 8 frames):
# the detector is the slow stage (benchmarks/profile_file.py), so the decoder
# needs only a few frames ahead of it and the others a few behind; at 1080p,
# 8 frames a queue held 100 MB for nothing.
_QUEUE_BYTES = 24 * 1024 * 1024
_QUEUE_FRAMES = 8


def _queue_size(width: int, height: int) -> int:
    """Frames a queue between the threads holds for ``width x height`` BGR frames."""
    return max(2, min(_QUEUE_FRAMES, _QUEUE_BYTES // max(1, width * height * 3)))


@dataclass(frozen=True, kw_only=True)
class FileJobConfig:
    """One ``livefilter file`` run.

    Attributes:
        input: the video to read.
        output: where the anonymized video goes (``.mp4``, ``.mov``, ``.mkv``).
        crf: x264 constant rate factor (0 lossless .. 51 worst; 18-23 is good).
        preset: x264 speed preset.
        regions_json: optional path of the regions log.
        stats_json: optional path of the run statistics.
        detect_every: run the detector on every N-th frame (and on the first
            frame of each new scene); the tracker fills the frames between
            from both sides.
        audio: ``keep`` (packets copied), ``mute`` (silence of the same
            duration), ``reencode`` (decoded and re-encoded by our encoder) or
            ``disguise`` (voices changed, see :mod:`livefilter.audio.disguise`);
            ``None`` = ``keep``, without the warning a file without audio gets
            when a mode is asked for.
        allow_damaged: keep the output of a damaged input (fewer frames or
            audio packets than its container declares), with a warning;
            without it such a run fails and its output is discarded.
    """

    input: Path
    output: Path
    crf: int = 20
    preset: str = "veryfast"
    regions_json: Path | None = None
    stats_json: Path | None = None
    detect_every: int = 1
    audio: str | None = None
    allow_damaged: bool = False

    def __post_init__(self) -> None:
        if self.audio is not None:
            check_mode(self.audio, FILE_AUDIO_MODES)
        if not 1 <= self.detect_every <= 30:
            raise ConfigError(f"detect-every: expected 1..30, got {self.detect_every!r}")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf: expected 0..51, got {self.crf!r}")
        if self.preset not in X264_PRESETS:
            raise ConfigError(
                f"preset: expected one of {', '.join(X264_PRESETS)}; got {self.preset!r}")
        check_distinct({"input": self.input},
                       {"-o": self.output, "--regions-json": self.regions_json,
                        "--stats-json": self.stats_json})


ProgressCallback = Callable[[int], None]


def anonymize_video(
    job: FileJobConfig,
    detector: Detector,
    redaction: RedactionConfig,
    *,
    on_frame: ProgressCallback | None = None,
    total_frames: Callable[[int], None] | None = None,
    tracker: TrackerConfig | None = None,
    manual: ManualRegions | None = None,
    window: tuple[float, float, float, float] | None = None,
) -> dict[str, object]:
    """Anonymize ``job.input`` into ``job.output``; returns the run statistics.

    ``total_frames`` is called once with the expected frame count (for a
    progress bar), ``on_frame`` after each frame is written. ``manual``:
    hand-made regions (``--region``, ``--regions-file``); tracked ones are
    followed in a first pass over the file.

    ``window`` = ``(read_from, own_from, own_until, read_until)`` seconds
    makes a segment of a longer run (:mod:`livefilter.apps.segments`):
    frames are read from the key frame at or before ``read_from`` up to
    ``read_until`` (the margins feed the tracker and the look-ahead), only
    those timed in ``[own_from, own_until)`` are written, and no audio.
    """
    started = time.monotonic()
    stop = threading.Event()
    counts = {"frames_out": 0, "detections": 0, "curtain_frames": 0, "regions_hidden": 0}

    with VideoReader(job.input, allow_damaged=job.allow_damaged) as reader:
        info = reader.info
        queue_size = _queue_size(info.width, info.height)
        decoded: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        hidden: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        if manual:
            manual.check(info.width, info.height, info.frames)
            if manual.needs_tracking:
                with VideoReader(job.input) as first_pass:
                    manual.track((f.index, f.image) for f in first_pass if isinstance(f, Frame))
        audio = job.audio or "keep"
        if job.audio is not None and not info.audio_streams:
            logger.warning("%s has no audio: --audio %s has nothing to do", job.input, job.audio)
        if window is not None and window[0] > 0:
            reader.seek(window[0])
        writer = VideoWriter(
            job.output,
            width=info.width,
            height=info.height,
            fps=info.fps,
            time_base=info.time_base,
            crf=job.crf,
            preset=job.preset,
            audio_templates=reader.audio_streams if window is None else None,
            audio_mode=audio,
        )
        regions_log = None
        try:
            if job.regions_json is not None:
                regions_log = RegionsLog(
                    job.regions_json, width=info.width, height=info.height,
                    fps=float(info.fps), shape=redaction.shape,
                )
            # Only now, with the input open and every output created, is
            # there a run to show progress for.
            if total_frames is not None:
                total_frames(info.frames)

            def decode() -> None:
                for item in reader:
                    if window is not None:
                        if isinstance(item, AudioPacket):
                            continue
                        if isinstance(item, Frame) and item.timestamp >= window[3]:
                            return
                        if isinstance(item, Frame) and item.timestamp < window[0]:
                            continue  # before the key frame sought (open GOP)
                    if not put_or_stop(decoded, item, stop):
                        return

            def encode() -> None:
                while True:
                    ok, item = get_or_stop(hidden, stop)
                    if not ok or item is _END:
                        return
                    if isinstance(item, AudioPacket):
                        writer.add_audio(item)
                    elif isinstance(item, Frame):
                        if window is not None and not window[1] <= item.timestamp < window[2]:
                            continue  # a margin frame: another segment writes it
                        writer.write(item)
                        counts["frames_out"] += 1
                        if on_frame is not None:
                            on_frame(1)

            decoder = Worker(
                "livefilter-decode", decode, stop=stop,
                on_exit=lambda: put_or_stop(decoded, _END, stop),
            ).start()
            encoder = Worker("livefilter-encode", encode, stop=stop).start()
            workers = [decoder, encoder]
            to_hide = decoded
            if job.detect_every == 1:
                # Every frame is a key frame: the detector runs a frame or
                # more ahead of the tracking and hiding of the frames before,
                # on the core the main thread leaves idle between network
                # runs. The planner still gets each result right after its
                # frame, so the output is the same as one thread's.
                to_hide = queue.Queue(maxsize=queue_size)
                workers.append(Worker(
                    "livefilter-detect",
                    lambda: _detect_ahead(decoded, to_hide, stop, detector, counts),
                    stop=stop, on_exit=lambda: put_or_stop(to_hide, _END, stop),
                ).start())
            try:
                _hide_faces(to_hide, hidden, stop, detector, redaction, regions_log, counts,
                            detect_every=job.detect_every, fps=float(info.fps), tracker=tracker,
                            manual=manual,
                            log_window=(window[1], window[2]) if window else None)
                put_or_stop(hidden, _END, stop)
                encoder.join()
            finally:
                stop.set()
                for worker in workers:
                    worker.join(timeout=5)
            for worker in workers:
                if worker.error is not None:
                    raise worker.error
            writer.close()
            if regions_log is not None:
                regions_log.close()
        except BaseException:
            writer.abort()
            if regions_log is not None:
                regions_log.abort()
            raise
        decode_errors = getattr(reader, "decode_errors", 0)
        damage = list(getattr(reader, "damage", []))

    seconds = time.monotonic() - started
    stats = file_stats(counts["frames_out"], seconds, curtain_frames=counts["curtain_frames"],
                       regions_hidden=counts["regions_hidden"])
    stats.update({
        "detector_hz": round(counts["detections"] / seconds, 2) if seconds > 0 else 0.0,
        "decode_errors": decode_errors,
        "audio": audio,
        "audio_streams": info.audio_streams,
        "audio_damaged_packets": writer.audio_damaged,
        "damage": damage,
    })
    if writer.audio_damaged:
        logger.warning("%s: %d damaged audio packet(s) could not be decoded; silence of their "
                       "length is in their place", job.input, writer.audio_damaged)
    return stats


def file_stats(frames: int, seconds: float, *, curtain_frames: int,
               regions_hidden: int) -> dict[str, object]:
    """The statistics record every file run has (one piece or in segments):
    nothing is ever dropped, so frames in = frames out."""
    fps = round(frames / seconds, 2) if seconds > 0 else 0.0
    return {
        "frames": frames, "seconds": round(seconds, 3), "fps": fps,
        "frames_in": frames, "frames_out": frames, "dropped": 0, "fps_out": fps,
        "curtain_frames": curtain_frames, "regions_hidden": regions_hidden,
    }


@dataclass(frozen=True)
class _Detected:
    """A frame and what the detector found in it."""

    frame: Frame
    detections: Detections


def _detect_ahead(decoded: queue.Queue[object], detected: queue.Queue[object],
                  stop: threading.Event, detector: Detector, counts: dict[str, int]) -> None:
    """Run the detector on every frame from ``decoded``, in order, and pass
    each on with its faces (audio packets unchanged)."""
    while True:
        ok, item = get_or_stop(decoded, stop)
        if not ok or item is _END:
            return
        if isinstance(item, Frame):
            item = _Detected(item, detector.detect(item.image))
            counts["detections"] += 1
        if not put_or_stop(detected, item, stop):
            return


def _hide_faces(
    decoded: queue.Queue[object],
    hidden: queue.Queue[object],
    stop: threading.Event,
    detector: Detector,
    redaction: RedactionConfig,
    regions_log: RegionsLog | None,
    counts: dict[str, int],
    *,
    detect_every: int,
    fps: float,
    tracker: TrackerConfig | None,
    manual: ManualRegions | None = None,
    log_window: tuple[float, float] | None = None,
) -> None:
    """Detect on key frames, track between them both ways, hide; audio passes.

    Frames from ``decoded`` come either bare (detected here, on key frames)
    or as :class:`_Detected` (every frame detected ahead, in order).

    Key frames are every ``detect_every``-th frame and the first frame of
    every new scene. Frames are held until the results of the key frames of
    a whole preset cycle after them are in
    (:class:`~livefilter.track.plan.RegionPlanner`), so each frame gets the boxes
    tracked forward from the key frames before it and carried back from
    those after it.
    """
    # A preset that spreads its passes over several calls (each frame seen by
    # some of them) needs the look-ahead to span a whole cycle, so that each
    # frame gets the faces every pass found, carried from both sides.
    cycle = calls_per_cycle(detector)
    frame_time = 1.0 / max(fps, 1.0)
    planner = RegionPlanner(
        PlanConfig(delay=detect_every * cycle * frame_time * 1.01,
                   max_stale=max(0.5, 2 * detect_every * frame_time),
                   mask_scale=redaction.mask_scale),
        tracker,
    )
    audio_waiting: list[AudioPacket] = []

    def emit(planned_frames: list[PlannedFrame]) -> bool:
        for planned in planned_frames:
            shapes = None
            regions = planned.regions
            if planned.curtain is not None:
                counts["curtain_frames"] += 1
                curtain(planned.frame.image)
            else:
                counts["regions_hidden"] += len(planned.regions)
                regions, shapes = hide_regions(planned.frame.image, planned.frame.index,
                                               regions, redaction, manual)
            if regions_log is not None and (
                log_window is None or log_window[0] <= planned.frame.timestamp < log_window[1]
            ):
                regions_log.add(planned.frame.index, planned.curtain is not None, regions, shapes)
            if not put_or_stop(hidden, planned.frame, stop):
                return False
            # Audio goes out once the video has caught up with it.
            while audio_waiting and audio_waiting[0].time <= planned.frame.timestamp:
                if not put_or_stop(hidden, audio_waiting.pop(0), stop):
                    return False
        return True

    while True:
        ok, item = get_or_stop(decoded, stop)
        if not ok:
            return
        if item is _END:
            break
        if isinstance(item, AudioPacket):
            audio_waiting.append(item)
            continue
        found = None
        if isinstance(item, _Detected):
            item, found = item.frame, item.detections
        if not isinstance(item, Frame):
            continue
        cut = planner.advance(item, item.index, 0.0)
        if found is None and (cut or item.index % detect_every == 0):
            found = detector.detect(item.image)
            counts["detections"] += 1
        if found is not None:
            planner.add_result(item.index, item.timestamp, found)
        if not emit(planner.pop_ready()):
            return
    if emit(planner.pop_ready(flush=True)):
        for packet in audio_waiting:
            if not put_or_stop(hidden, packet, stop):
                return
