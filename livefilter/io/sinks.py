"""Where hidden frames go: preview window, virtual camera, recording, live
stream, or nowhere (benchmarks).

Every sink runs on its own thread behind a small bounded queue
(:class:`SinkRunner`): when a sink cannot keep up, frames meant for it are
dropped and counted rather than stalling the other sinks or the pipeline.
Sinks are context managers with an idempotent ``close``. Only redacted
frames ever reach a sink.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from livefilter.audio.live import AudioInbox
from livefilter.audio.track import AacTrack
from livefilter.errors import ConfigError, OutputError, SinkError, error_reason
from livefilter.frame import Frame
from livefilter.io.urls import check_supported_url

__all__ = [
    "NullSink",
    "OutputItem",
    "RecordSink",
    "Sink",
    "StreamSink",
    "VirtualCameraSink",
    "parse_bitrate",
    "stream_format_for",
]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class OutputItem:
    """A redacted frame on its way to the sinks.

    ``regions`` are the boxes hidden in it (for the preview's debug view),
    ``curtain`` tells whether the whole frame is hidden, ``arrival`` is when
    the frame entered the pipeline (``time.monotonic``), for latency.
    """

    frame: Frame
    regions: np.ndarray
    curtain: bool
    arrival: float
    notes: list[str] = field(default_factory=list)


class Sink(Protocol):
    """Receives redacted frames. ``open`` is called on the sink's own thread.

    ``write`` returns ``False`` when the frame did not go out (a stream
    target that is down), so that only frames actually written are counted;
    any other return value means written.
    """

    name: str

    def open(self, width: int, height: int, fps: float) -> None: ...

    def write(self, item: OutputItem) -> bool | None: ...

    def close(self) -> None: ...


class NullSink:
    """Discards frames (benchmarks)."""

    name = "null"

    def open(self, width: int, height: int, fps: float) -> None:
        self.frames = 0

    def write(self, item: OutputItem) -> None:
        self.frames += 1

    def close(self) -> None:
        pass


class VirtualCameraSink:
    """A virtual camera through pyvirtualcam (v4l2loopback on Linux).

    ``backend`` picks a registered pyvirtualcam backend (``None``: try all);
    tests register one that records frames.
    """

    name = "vcam"

    def __init__(self, device: str | None = None, backend: str | None = None) -> None:
        self.device = device
        self.backend = backend
        self._camera = None

    def open(self, width: int, height: int, fps: float) -> None:
        import pyvirtualcam

        if self.backend is None and self.device is not None and not Path(self.device).exists():
            raise SinkError(_no_loopback_message(f"{self.device} does not exist"))
        try:
            self._camera = pyvirtualcam.Camera(
                width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR,
                device=self.device, backend=self.backend,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise SinkError(_no_loopback_message(" ".join(str(exc).split()))) from exc
        logger.info("virtual camera %s (%dx%d @ %.3g fps)", self._camera.device, width, height, fps)

    def write(self, item: OutputItem) -> None:
        if self._camera is not None:
            self._camera.send(item.frame.image)

    def close(self) -> None:
        if self._camera is not None:
            camera, self._camera = self._camera, None
            camera.close()


def _no_loopback_message(detail: str) -> str:
    return (
        f"no virtual camera ({detail}). Load the v4l2loopback kernel module: "
        "sudo modprobe v4l2loopback exclusive_caps=1 card_label=livefilter"
    )


class _Encoder:
    """H.264 through PyAV with timestamps from the frames' own clock, and AAC
    from ``audio`` (sound up to each frame's time is written before it).
    """

    def __init__(self, target: str, container_format: str, *, size: tuple[int, int] | None,
                 fps: float, options: dict[str, str], codec_options: dict[str, str],
                 what: str, error: type[Exception], timeout: float | None = None,
                 audio: AudioInbox | None = None) -> None:
        self._timeout = timeout
        self.audio_inbox = audio
        self._audio: AacTrack | None = None
        self._last_timestamp: float | None = None
        self._frame_interval = 1 / 30
        self._target, self._format = target, container_format
        self._size, self._fps = size, fps
        self._options, self._codec_options = options, codec_options
        self._what, self._error_type = what, error
        self._container = None
        self._stream = None
        self._failed = False
        self._first_timestamp: float | None = None
        self._last_pts = -1
        self._time_base = Fraction(1, 1000)

    def open(self, width: int, height: int, fps: float) -> None:
        out_width, out_height = self._size or (width, height)
        out_width, out_height = out_width + out_width % 2, out_height + out_height % 2
        rate = Fraction(self._fps or fps).limit_denominator(1001)
        self._frame_interval = 1 / float(rate)
        try:
            self._container = av.open(self._target, "w", format=self._format,
                                      options=self._options, timeout=self._timeout)
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = out_width, out_height, "yuv420p"
            stream.time_base = self._time_base
            stream.codec_context.time_base = self._time_base
            stream.options = self._codec_options
            stream.metadata.clear()
            self._stream = stream
            if self.audio_inbox is not None:
                self._audio = AacTrack(self._container, rate=self.audio_inbox.rate,
                                       layout=self.audio_inbox.layout)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._abandon()
            raise self._error_type(f"{self._what}: cannot open ({error_reason(exc)})") from exc

    def encode(self, image: np.ndarray, timestamp: float) -> None:
        if self._stream is None:
            return
        if image.shape[1] != self._stream.width or image.shape[0] != self._stream.height:
            image = cv2.resize(image, (self._stream.width, self._stream.height),
                               interpolation=cv2.INTER_AREA)
        if self._first_timestamp is None:
            self._first_timestamp = timestamp
            if self._audio is not None:
                self._audio.origin = timestamp  # sound before the first frame is dropped
        self._last_timestamp = timestamp
        self._write_audio(timestamp)
        pts = round((timestamp - self._first_timestamp) / self._time_base)
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = pts, self._time_base
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            self._failed = True
            raise self._error_type(f"{self._what}: write failed ({error_reason(exc)})") from exc

    def _write_audio(self, until: float) -> None:
        """Encode and mux the sound that starts up to ``until`` (the video's time)."""
        if self.audio_inbox is None:
            return
        chunks = self.audio_inbox.take_until(until)
        if self._audio is None or self._first_timestamp is None:
            return
        try:
            for chunk in chunks:
                for packet in self._audio.push(chunk):
                    self._container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            raise self._error_type(f"{self._what}: write failed ({error_reason(exc)})") from exc

    def close(self) -> None:
        if self._container is None:
            return
        if self._audio is not None and self._last_timestamp is not None:
            # The sound of the last frame's interval, then the rest of the encoder.
            with contextlib.suppress(self._error_type):
                self._write_audio(self._last_timestamp + self._frame_interval)
        container, self._container = self._container, None
        # After a failed write (a full disk) the flush fails the same way:
        # the write error is the one line the user gets, not three.
        report = logger.debug if self._failed else logger.warning
        try:
            if self._audio is not None:
                for packet in self._audio.flush():
                    container.mux(packet)
            if self._stream is not None:
                for packet in self._stream.encode(None):
                    container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            report("%s: could not flush the encoder (%s)", self._what, error_reason(exc))
        finally:
            self._stream = None
            self._audio = None
            try:
                container.close()
            except (av.error.FFmpegError, OSError) as exc:
                report("%s: could not finish (%s)", self._what, error_reason(exc))

    def _abandon(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError):
                logger.debug("closing a failed output", exc_info=True)
            self._container = None


_RECORD_FORMATS = {".mkv": "matroska", ".mp4": "mp4", ".mov": "mp4"}


class RecordSink:
    """Records H.264 into a file that stays playable if the process is killed.

    Matroska (``.mkv``) is written cluster by cluster; ``.mp4`` is written
    fragmented (``empty_moov``, a fragment per keyframe, a keyframe every
    second), so a recording cut short by a crash or ``SIGKILL`` still plays up
    to the last complete fragment. ``size`` and ``fps`` trade quality for
    keeping up: a recorder that cannot keep up drops frames (counted) instead
    of stalling the other outputs.
    """

    name = "record"

    def __init__(self, path: Path, *, size: tuple[int, int] | None = None,
                 fps: float | None = None, crf: int = 23, preset: str = "ultrafast") -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        _check_size("record-size", size)
        if fps is not None and not 1 <= fps <= 240:
            raise ConfigError(f"record-fps: expected 1..240, got {fps!r}")
        if not 0 <= crf <= 51:
            raise ConfigError(f"record-crf: expected 0..51, got {crf!r}")
        if suffix not in _RECORD_FORMATS:
            raise ConfigError(f"record: {self.path.name!r} must end in .mkv, .mp4 or .mov")
        if not self.path.parent.is_dir():
            raise OutputError(f"{self.path.parent}: output directory does not exist")
        self._fps = fps
        self._next_time: float | None = None
        # Write each second out as it completes, so a kill loses at most about
        # a second: Matroska clusters of 1 s, MP4 fragments of one 1 s GOP.
        options = {"flush_packets": "1"}
        if _RECORD_FORMATS[suffix] == "mp4":
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
        else:
            options["cluster_time_limit"] = "1000"
        gop = str(round(fps or 30))
        self._encoder = _Encoder(
            str(self.path), _RECORD_FORMATS[suffix], size=size, fps=fps or 0.0, options=options,
            codec_options={"crf": str(crf), "preset": preset, "g": gop},
            what=f"recording {self.path}", error=OutputError,
        )
        self.skipped_for_fps = 0

    def enable_audio(self, inbox: AudioInbox) -> None:
        """Record sound from ``inbox`` too (call before :meth:`open`)."""
        self._encoder.audio_inbox = inbox

    def open(self, width: int, height: int, fps: float) -> None:
        self._encoder.open(width, height, fps)

    def write(self, item: OutputItem) -> None:
        timestamp = item.frame.timestamp
        if self._fps:
            # --record-fps: keep a frame only when its time slot comes up.
            if self._next_time is not None and timestamp < self._next_time:
                self.skipped_for_fps += 1
                return
            step = 1.0 / self._fps
            self._next_time = (self._next_time or timestamp) + step
            if self._next_time < timestamp:
                self._next_time = timestamp + step
        self._encoder.encode(item.frame.image, timestamp)

    def close(self) -> None:
        self._encoder.close()


def _check_size(option: str, size: tuple[int, int] | None) -> None:
    if size is not None and not (16 <= size[0] <= 7680 and 16 <= size[1] <= 4320):
        raise ConfigError(f"{option}: expected WxH between 16x16 and 7680x4320, got {size!r}")


def stream_format_for(url: str) -> str:
    """The container for a streaming URL: FLV for RTMP, MPEG-TS for UDP/TCP."""
    check_supported_url("stream", url)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    formats = {"rtmp": "flv", "rtmps": "flv", "udp": "mpegts", "tcp": "mpegts",
               "rtp": "rtp_mpegts"}
    if scheme not in formats:
        raise ConfigError(f"stream: {url!r} must be an rtmp://, udp:// or tcp:// URL")
    return formats[scheme]


# A live stream's video bitrate, bits per second: below 32 kbit/s x264 gives
# up on any picture, above 100 Mbit/s no live target takes it.
_BITRATE_RANGE = (32_000, 100_000_000)
_BITRATE_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}


def parse_bitrate(text: str) -> int:
    """Bits per second from ``2500k``, ``2.5M`` or ``800000``; :class:`ConfigError`
    (naming ``stream-bitrate``, the range and the value) otherwise.

    x264 takes any string for its ``b`` option and fails only on the first
    frame, which the stream's retry loop then hides for the whole run: the
    value is checked here instead.
    """
    low, high = _BITRATE_RANGE
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(text))
    value = None
    if match:
        value = float(match.group(1)) * _BITRATE_UNITS[match.group(2).lower()]
    if value is None or not low <= value <= high:
        raise ConfigError(
            f"stream-bitrate: expected {low // 1000}k..{high // 1_000_000}M bits per second "
            f"(e.g. 2500k or 2.5M), got {text!r}"
        )
    return round(value)


class StreamSink:
    """A live stream: H.264 in FLV (RTMP) or MPEG-TS (UDP, TCP) through PyAV.

    When the target cannot be reached or goes away, the stream is retried with
    growing pauses (1 s up to 10 s), with a warning; frames meanwhile are
    skipped (counted in :attr:`skipped`) and the other outputs go on.
    """

    name = "stream"

    def __init__(self, url: str, *, size: tuple[int, int] | None = None,
                 bitrate: str = "2500k") -> None:
        self.url = url
        self._format = stream_format_for(url)
        _check_size("stream-size", size)
        self._size = size
        self._bitrate = str(parse_bitrate(bitrate))
        self._encoder: _Encoder | None = None
        self._opened_with: tuple[int, int, float] | None = None
        self._retry_at = 0.0
        self._pause = 1.0
        self.skipped = 0
        self.reconnects = 0
        self._audio_inbox: AudioInbox | None = None

    def enable_audio(self, inbox: AudioInbox) -> None:
        """Stream sound from ``inbox`` too (call before :meth:`open`)."""
        self._audio_inbox = inbox
        self._last_error = ""

    def _new_encoder(self) -> _Encoder:
        return _Encoder(
            self.url, self._format, size=self._size, fps=0.0, options={},
            codec_options={"preset": "ultrafast", "tune": "zerolatency", "b": self._bitrate,
                           "g": "30", "bf": "0"},
            what=f"stream {self.url}", error=SinkError, timeout=5.0, audio=self._audio_inbox,
        )

    def open(self, width: int, height: int, fps: float) -> None:
        self._opened_with = (width, height, fps)
        encoder = self._new_encoder()
        encoder.open(width, height, fps)
        self._encoder = encoder

    @property
    def failure(self) -> str | None:
        """What went wrong, when frames did not go out; ``None`` when all did."""
        if not self.skipped:
            return None
        return (f"{self.skipped} frames not sent while {self.url} was unreachable "
                f"(last error: {self._last_error or 'unknown'})")

    def write(self, item: OutputItem) -> bool:
        if self._encoder is None:
            if time.monotonic() < self._retry_at or self._opened_with is None:
                self.skipped += 1
                if self._audio_inbox is not None:  # the sound of a skipped frame goes too
                    self._audio_inbox.take_until(item.frame.timestamp)
                return False
            encoder = self._new_encoder()
            try:
                encoder.open(*self._opened_with)
            except SinkError as exc:
                self._pause = min(10.0, self._pause * 2)
                self._retry_at = time.monotonic() + self._pause
                logger.info("%s still unreachable (%s)", self.url, exc)
                self._last_error = " ".join(str(exc).split())
                self.skipped += 1
                return False
            self._encoder = encoder
            self.reconnects += 1
            self._pause = 1.0
            logger.warning("stream %s reconnected", self.url)
        try:
            self._encoder.encode(item.frame.image, item.frame.timestamp)
        except SinkError as exc:
            logger.warning("%s; retrying (other outputs go on)", exc)
            self._last_error = " ".join(str(exc).split())
            with contextlib.suppress(Exception):
                self._encoder.close()
            self._encoder = None
            self._retry_at = time.monotonic() + self._pause
            self.skipped += 1
            return False
        return True

    def close(self) -> None:
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            encoder.close()
