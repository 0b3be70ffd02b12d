"""Sources: cameras, video files and network streams.

A source is a camera (an index or ``/dev/videoN``, through OpenCV's V4L2
backend), a video file, or a network stream (``rtsp://``, ``http(s)://``,
``udp://``, ``rtmp://``, through PyAV; ``srt://`` is refused, see
:mod:`livefilter.io.urls`). The capture thread that reads them into a ring
of frames is in :mod:`livefilter.io.ring`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from livefilter.errors import ConfigError, InputError, SourceError, error_reason
from livefilter.io.probe import pick_video_stream
from livefilter.io.urls import check_supported_url

__all__ = [
    "CameraSource",
    "FileSource",
    "Source",
    "SourceConfig",
    "StreamSource",
    "open_source",
]

logger = logging.getLogger(__name__)

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp")


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    """Where frames come from.

    Attributes:
        source: camera index (``0``), device path (``/dev/video0``), file
            path, or URL.
        realtime: pace a file at its own frame rate and treat it like a
            camera (drop stale frames) — how tests and benchmarks stand a file
            in for a camera.
        size: requested camera mode ``(width, height)``, or ``None``.
        fps: requested camera frame rate, or ``None``.
        open_timeout: seconds to wait for a network stream to open.
        read_timeout: seconds without a frame before a stream counts as lost.
    """

    source: str = "0"
    realtime: bool = False
    size: tuple[int, int] | None = None
    fps: float | None = None
    open_timeout: float = 10.0
    read_timeout: float = 5.0

    def __post_init__(self) -> None:
        check_supported_url("source", self.source)
        if self.size is not None and (min(self.size) < 16 or max(self.size) > 8192):
            raise ConfigError(f"size: expected WxH between 16 and 8192, got {self.size!r}")
        if self.fps is not None and not 1 <= self.fps <= 240:
            raise ConfigError(f"fps: expected 1..240, got {self.fps!r}")
        if not 0.5 <= self.open_timeout <= 300 or not 0.5 <= self.read_timeout <= 300:
            raise ConfigError("timeouts: expected 0.5..300 seconds")

    @property
    def kind(self) -> str:
        """``camera``, ``url`` or ``file``."""
        text = self.source.strip()
        if re.fullmatch(r"\d+", text) or re.fullmatch(r"/dev/video\d+", text):
            return "camera"
        if re.match(rf"^({'|'.join(URL_SCHEMES)})://", text, re.IGNORECASE):
            return "url"
        return "file"


class Source(Protocol):
    """What the capture thread reads from.

    ``read`` returns ``(image_bgr, timestamp)`` or ``None`` at the end of a
    file; it raises :class:`SourceError` when a live source is lost.
    """

    width: int
    height: int
    fps: float
    live: bool
    name: str

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


class CameraSource:
    """A V4L2 camera through OpenCV; timestamps are capture times (monotonic)."""

    live = True

    def __init__(self, config: SourceConfig) -> None:
        text = config.source.strip()
        index = int(text) if text.isdigit() else int(text.removeprefix("/dev/video"))
        self.name = f"/dev/video{index}"
        if not Path(self.name).exists():
            raise SourceError(
                f"camera {self.name} not found: is it plugged in? "
                "(`livefilter devices` lists cameras)"
            )
        capture = cv2.VideoCapture(index, cv2.CAP_V4L2)
        if not capture.isOpened():
            raise SourceError(f"camera {self.name} cannot be opened (in use, or no permission?)")
        # MJPG lets USB cameras deliver HD at full rate; a short buffer keeps
        # the driver from queueing stale frames.
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if config.size is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.size[1])
        if config.fps is not None:
            capture.set(cv2.CAP_PROP_FPS, config.fps)
        ok, image = capture.read()
        if not ok or image is None:
            capture.release()
            raise SourceError(f"camera {self.name} delivers no frames")
        self._capture = capture
        self._first: np.ndarray | None = image
        self.height, self.width = image.shape[:2]
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or config.fps or 30.0)

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._first is not None:
            image, self._first = self._first, None
            return image, time.monotonic()
        ok, image = self._capture.read()
        if not ok or image is None:
            raise SourceError(f"camera {self.name} stopped delivering frames")
        return image, time.monotonic()

    def close(self) -> None:
        self._capture.release()


def _failure_text(name: str, what: str, exc: BaseException, *,
                  timeout: tuple[float, float] | None, format_name: str = "") -> str:
    """``what`` failed because of ``exc``, in words: a network source that
    sent nothing until the timeout says so, not "Immediate exit requested"
    (ffmpeg's name for its timeout callback)."""
    if timeout is not None and isinstance(exc, av.error.ExitError):
        seconds = timeout[0] if what == "cannot open" else timeout[1]
        return f"no data from {name} for {seconds:g} s"
    if what == "read failed" and format_name.startswith("mov") and "://" in name:
        # An MP4 with its index at the end needs to seek there; over a plain
        # HTTP stream (no range requests) it cannot.
        return (f"read failed ({error_reason(exc)}): an MP4 over HTTP needs its index at "
                "the front (ffmpeg -i IN -c copy -movflags +faststart OUT) or a server that allows "
                "seeking (range requests)")
    return f"{what} ({error_reason(exc)})"


def _open_container(target: str, *, options: dict[str, str],
                    timeout: tuple[float, float] | None) -> av.container.InputContainer:
    return av.open(target, options=options, timeout=timeout, metadata_errors="ignore")


class _PyAVSource:
    """Frames of the video stream of a container, decoded by PyAV.

    ``container``: one already opened (a URL is opened once to learn whether
    it is a live stream or a finite file, then handed to the right class).
    The first audio stream is demuxed alongside; with :attr:`audio_tap` set
    (:meth:`livefilter.audio.live.LiveAudio.tap`) its decoded frames go there
    with a clock reading (:meth:`_audio_reading`), else they are dropped.
    """

    audio_tap: Callable[[av.AudioFrame, float], None] | None = None

    def __init__(self, target: str, *, options: dict[str, str], timeout: tuple[float, float] | None,
                 name: str, container: av.container.InputContainer | None = None) -> None:
        self.name = name
        self._timeout = timeout
        if container is None:
            try:
                container = _open_container(target, options=options, timeout=timeout)
            except (av.error.FFmpegError, OSError) as exc:
                raise self._error(_failure_text(name, "cannot open", exc,
                                                timeout=timeout)) from exc
        self._container = container
        stream, _others = pick_video_stream(self._container)
        if stream is None:
            self._container.close()
            raise self._error("has no video stream")
        # Slice threads only: with frame threads one damaged packet made the
        # decoder drop its neighbours silently (tests/test_bad_files.py).
        stream.thread_type = "SLICE"
        self._stream = stream
        self.has_audio = bool(self._container.streams.audio)
        self._frames = self._decode()
        first = self._next_frame()
        if first is None:
            self._container.close()
            raise self._error("has no decodable frame")
        self._first: tuple[np.ndarray, float] | None = first
        self.height, self.width = first[0].shape[:2]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 30.0

    def _error(self, text: str) -> Exception:
        """The error type of this kind of source (overridden)."""
        return SourceError(f"{self.name}: {text}")

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Video frames; the audio packets met on the way go to the tap."""
        audio = self._container.streams.audio[:1]
        for packet in self._container.demux(self._stream, *audio):
            if packet.stream.type == "video":
                yield from packet.decode()
            elif self.audio_tap is not None and packet.size:
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue  # a damaged audio packet: a gap the sinks fill with silence
                for frame in frames:
                    self.audio_tap(frame, self._audio_reading(frame))

    def _audio_reading(self, frame: av.AudioFrame) -> float:
        """The clock reading of ``frame``'s first sample, on the video frames' clock."""
        if frame.pts is None or frame.time_base is None:
            return 0.0
        return float(frame.pts * frame.time_base)

    def _failure(self, what: str, exc: BaseException) -> str:
        return _failure_text(self.name, what, exc, timeout=self._timeout,
                             format_name=self._container.format.name)

    def _next_frame(self) -> tuple[np.ndarray, float] | None:
        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        except (av.error.FFmpegError, OSError) as exc:
            raise self._error(self._failure("read failed", exc)) from exc
        image = frame.to_ndarray(format="bgr24")
        rotation = round((getattr(frame, "rotation", 0) or 0) / 90) * 90 % 360
        if rotation == 90:
            image = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
        elif rotation == 180:
            image = cv2.rotate(image, cv2.ROTATE_180)
        elif rotation == 270:
            image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
        pts = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
        return np.ascontiguousarray(image), pts

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return self._next_frame()

    def close(self) -> None:
        self._container.close()


class FileSource(_PyAVSource):
    """A video file. Timestamps are presentation times; ``live`` with realtime pacing."""

    def __init__(self, config: SourceConfig, *,
                 container: av.container.InputContainer | None = None) -> None:
        self.live = config.realtime
        if container is not None:
            # A finite file behind a URL (an MP4 over HTTP): read like a file.
            super().__init__(config.source.strip(), options={},
                             timeout=(config.open_timeout, config.read_timeout),
                             name=config.source.strip(), container=container)
            return
        path = Path(config.source).expanduser()
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a video file")
        if path.exists() and not path.is_file():
            raise InputError(
                f"{path}: is not a regular file (a pipe or a device); to read from a pipe, "
                "serve it as a stream instead, e.g. ffmpeg ... -f mpegts tcp://127.0.0.1:9000"
                "?listen, then --source tcp://127.0.0.1:9000"
            )
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: file is empty")
        super().__init__(str(path), options={}, timeout=None, name=str(path))

    def _error(self, text: str) -> Exception:
        return InputError(f"{self.name}: {text}")


class StreamSource(_PyAVSource):
    """A network stream. Timestamps are arrival times (monotonic)."""

    live = True

    def __init__(self, config: SourceConfig, *,
                 container: av.container.InputContainer | None = None) -> None:
        url = config.source.strip()
        super().__init__(url, options=stream_options(url),
                         timeout=(config.open_timeout, config.read_timeout), name=url,
                         container=container)

    def _error(self, text: str) -> Exception:
        return SourceError(f"stream {self.name}: {text}")

    _pts_offset: float | None = None  # arrival minus presentation time (see read)

    def read(self) -> tuple[np.ndarray, float] | None:
        item = super().read()
        if item is None:
            raise SourceError(f"stream {self.name}: ended")
        now = time.monotonic()
        # The least-delayed frames give the offset (a backlog draining after
        # a stall, or a late frame, only raises it); it creeps up by 0.5 ms
        # a frame to follow a sender whose clock runs slower than ours.
        offset = now - item[1]
        if self._pts_offset is None or abs(offset - self._pts_offset) > 1.0:
            self._pts_offset = offset  # the first frame, or the stream's clock jumped
        else:
            self._pts_offset = min(offset, self._pts_offset + 0.0005)
        return item[0], now

    def _audio_reading(self, frame: av.AudioFrame) -> float:
        # The sound's own presentation time moved onto the video frames'
        # arrival clock: a stream sends sound ahead of or behind its video
        # (MPEG-TS by up to a second), so its arrival says little.
        if self._pts_offset is None or frame.pts is None or frame.time_base is None:
            return time.monotonic() - frame.samples / max(1, frame.sample_rate)
        return float(frame.pts * frame.time_base) + self._pts_offset


def stream_options(url: str) -> dict[str, str]:
    options = {"fflags": "nobuffer", "flags": "low_delay"}
    if url.lower().startswith("rtsp"):
        options["rtsp_transport"] = "tcp"
    return options


def is_finite(container: av.container.InputContainer) -> bool:
    """A URL that serves a file (an MP4 or MKV over HTTP, its length known)
    rather than a live stream: it states a duration. Live streams (RTSP,
    RTMP, MPEG-TS pushed as it is made, live HLS) have none."""
    return bool(container.duration and container.duration > 0)


def open_source(config: SourceConfig) -> Source:
    """Open the source ``config`` names; :class:`SourceError` / :class:`InputError` if not.

    A URL is opened once; if it turns out to be a finite file it is read
    like one (every frame, in order, ending at its end) instead of like a
    live stream (newest frame wins, reconnected when it ends).
    """
    kind = config.kind
    if kind == "camera":
        return CameraSource(config)
    if kind == "url":
        url = config.source.strip()
        timeout = (config.open_timeout, config.read_timeout)
        try:
            container = _open_container(url, options=stream_options(url), timeout=timeout)
        except (av.error.FFmpegError, OSError) as exc:
            text = _failure_text(url, "cannot open", exc, timeout=timeout)
            raise SourceError(f"stream {url}: {text}") from exc
        if not is_finite(container):
            return StreamSource(config, container=container)
        # A file: opened again without the live options (with "nobuffer"
        # and "low_delay", an MP4 over HTTP decodes no frame at all).
        container.close()
        try:
            container = _open_container(url, options={}, timeout=timeout)
        except (av.error.FFmpegError, OSError) as exc:
            text = _failure_text(url, "cannot open", exc, timeout=timeout)
            raise InputError(f"{url}: {text}") from exc
        return FileSource(config, container=container)
    return FileSource(config)

