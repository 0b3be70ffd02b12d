"""The file path: anonymize a whole video file, every frame, nothing dropped.

Three threads: the decoder reads frames (and audio packets) into a small
bounded queue, the main thread detects and hides faces, and the encoder
writes frames out. A worker's exception stops the others and is re-raised
here; the output then never appears under its final name.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livefilter.composite import redact
from livefilter.detect import Detector
from livefilter.errors import ConfigError
from livefilter.frame import Frame
from livefilter.media import AudioPacket, VideoReader, VideoWriter
from livefilter.regions import RedactionConfig, RegionsLog, regions_from_faces
from livefilter.threads import Worker, get_or_stop, put_or_stop

__all__ = ["FileJobConfig", "anonymize_video"]

logger = logging.getLogger(__name__)

_END = object()
_QUEUE_SIZE = 8


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
    """

    input: Path
    output: Path
    crf: int = 20
    preset: str = "veryfast"
    regions_json: Path | None = None
    stats_json: Path | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf: expected 0..51, got {self.crf!r}")
        presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")
        if self.preset not in presets:
            raise ConfigError(f"preset: expected one of {', '.join(presets)}; got {self.preset!r}")
        if Path(self.input).resolve() == Path(self.output).resolve():
            raise ConfigError("output: must differ from the input file")


ProgressCallback = Callable[[int], None]


def anonymize_video(
    job: FileJobConfig,
    detector: Detector,
    redaction: RedactionConfig,
    *,
    on_frame: ProgressCallback | None = None,
    total_frames: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Anonymize ``job.input`` into ``job.output``; returns the run statistics.

    ``total_frames`` is called once with the expected frame count (for a
    progress bar), ``on_frame`` after each frame is written.
    """
    started = time.monotonic()
    stop = threading.Event()
    decoded: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_SIZE)
    hidden: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_SIZE)
    counts = {"frames_out": 0, "detections": 0}

    with VideoReader(job.input) as reader:
        info = reader.info
        if total_frames is not None:
            total_frames(info.frames)
        writer = VideoWriter(
            job.output,
            width=info.width,
            height=info.height,
            fps=info.fps,
            time_base=info.time_base,
            crf=job.crf,
            preset=job.preset,
            audio_templates=reader.audio_streams,
        )
        regions_log = None
        try:
            if job.regions_json is not None:
                regions_log = RegionsLog(
                    job.regions_json, width=info.width, height=info.height,
                    fps=float(info.fps), shape=redaction.shape,
                )

            def decode() -> None:
                for item in reader:
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
                        writer.write(item)
                        counts["frames_out"] += 1
                        if on_frame is not None:
                            on_frame(1)

            decoder = Worker(
                "livefilter-decode", decode, stop=stop,
                on_exit=lambda: put_or_stop(decoded, _END, stop),
            ).start()
            encoder = Worker("livefilter-encode", encode, stop=stop).start()
            try:
                _hide_faces(decoded, hidden, stop, detector, redaction, regions_log, counts)
                put_or_stop(hidden, _END, stop)
                encoder.join()
            finally:
                stop.set()
                decoder.join(timeout=5)
                encoder.join(timeout=5)
            for worker in (decoder, encoder):
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

    seconds = time.monotonic() - started
    frames = counts["frames_out"]
    stats: dict[str, object] = {
        "frames": frames,
        "seconds": round(seconds, 3),
        "fps": round(frames / seconds, 2) if seconds > 0 else 0.0,
        "frames_in": frames,
        "frames_out": frames,
        "dropped": 0,
        "fps_out": round(frames / seconds, 2) if seconds > 0 else 0.0,
        "detector_hz": round(counts["detections"] / seconds, 2) if seconds > 0 else 0.0,
        "curtain_frames": 0,
        "decode_errors": decode_errors,
    }
    return stats


def _hide_faces(
    decoded: queue.Queue[object],
    hidden: queue.Queue[object],
    stop: threading.Event,
    detector: Detector,
    redaction: RedactionConfig,
    regions_log: RegionsLog | None,
    counts: dict[str, int],
) -> None:
    """Detect and hide faces in every frame; forward audio untouched."""
    while True:
        ok, item = get_or_stop(decoded, stop)
        if not ok or item is _END:
            return
        if isinstance(item, Frame):
            detections = detector.detect(item.image)
            counts["detections"] += 1
            regions = regions_from_faces(detections.xyxy, redaction.mask_scale)
            _redact(item.image, regions, redaction)
            if regions_log is not None:
                regions_log.add(item.index, False, regions)
        if not put_or_stop(hidden, item, stop):
            return


def _redact(image: np.ndarray, regions: np.ndarray, redaction: RedactionConfig) -> None:
    redact(image, regions, redaction.method, redaction.shape, strength=redaction.strength)
