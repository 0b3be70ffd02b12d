"""Video files through PyAV: a reader that yields upright BGR frames and the
audio packets to copy, and a writer that encodes H.264 into a temporary file
beside the output and renames it only when everything went well.

What the writer leaves out on purpose (it identifies people, places or
devices): container and stream metadata of the source (GPS/location, make and
model, creation time, handler and encoder names), the source's rotation
matrix (frames are turned upright before detection) and every data or
subtitle stream. Audio streams are copied packet for packet.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from livefilter.errors import ConfigError, InputError, OutputError
from livefilter.frame import Frame

__all__ = [
    "OUTPUT_FORMATS",
    "AudioPacket",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "output_format_for",
    "partial_path_for",
]

logger = logging.getLogger(__name__)

# Containers that take H.264 and keep a file playable from a plain player.
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

_ROTATIONS = {
    90: cv2.ROTATE_90_COUNTERCLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_CLOCKWISE,
}


def output_format_for(path: Path) -> str:
    """The muxer for ``path``'s extension; :class:`ConfigError` for others."""
    try:
        return OUTPUT_FORMATS[path.suffix.lower()]
    except KeyError:
        allowed = ", ".join(sorted(OUTPUT_FORMATS))
        raise ConfigError(
            f"output: {path.name!r} has an unsupported extension; use one of {allowed}"
        ) from None


def partial_path_for(path: Path) -> Path:
    """Hidden temporary name beside ``path``: renamed onto ``path`` at the end."""
    return path.with_name(f".{path.name}.{os.getpid()}.part")


@dataclass(frozen=True, kw_only=True)
class VideoInfo:
    """What the reader learned from the container.

    ``width`` and ``height`` are of the upright frames (after rotation).
    ``frames`` is the container's count, or an estimate from the duration
    (``0`` when neither is known).
    """

    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frames: int
    duration: float
    rotation: int
    audio_streams: int


@dataclass(frozen=True, slots=True)
class AudioPacket:
    """An audio packet to copy, with the index of its stream among the audio streams."""

    packet: av.Packet
    audio_index: int
    time: float


def _normalised_rotation(degrees: float) -> int:
    return round(degrees / 90.0) * 90 % 360


class VideoReader:
    """Decode a video file into upright BGR :class:`Frame` records.

    ``timestamp`` is the frame's presentation time in seconds and ``index``
    its position in decode order, counting from 0. Use as a context manager.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, not a video file")
        if self.path.stat().st_size == 0:
            raise InputError(f"{self.path}: file is empty")
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: not a readable video ({_reason(exc)})") from exc
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path}: has no video stream")
        self._video = self._container.streams.video[0]
        self._video.thread_type = "AUTO"
        self._audio = list(self._container.streams.audio)
        self.info = self._probe()

    def _probe(self) -> VideoInfo:
        video = self._video
        if video.codec_context.width <= 0 or video.codec_context.height <= 0:
            raise InputError(f"{self.path}: video stream has no frame size (corrupt header?)")
        fps = video.average_rate or video.guessed_rate or video.base_rate or Fraction(30)
        time_base = video.time_base or Fraction(1, 90000)
        duration = 0.0
        if video.duration is not None:
            duration = float(video.duration * time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / av.time_base
        frames = int(video.frames) if video.frames else round(duration * float(fps))
        rotation = self._peek_rotation()
        width, height = video.codec_context.width, video.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            width=width,
            height=height,
            fps=Fraction(fps),
            time_base=Fraction(time_base),
            frames=frames,
            duration=duration,
            rotation=rotation,
            audio_streams=len(self._audio),
        )

    def _peek_rotation(self) -> int:
        """The display rotation of the stream, read from its first frame."""
        try:
            for frame in self._container.decode(self._video):
                rotation = _normalised_rotation(getattr(frame, "rotation", 0) or 0)
                break
            else:
                raise InputError(f"{self.path}: video stream has no decodable frame")
        except av.error.FFmpegError as exc:
            self._container.close()
            raise InputError(f"{self.path}: cannot decode video ({_reason(exc)})") from exc
        self._container.close()
        # Re-open: seeking back is unreliable on damaged files and for some
        # demuxers; a fresh demuxer always starts at the first packet.
        self._container = av.open(str(self.path), metadata_errors="ignore")
        self._video = self._container.streams.video[0]
        self._video.thread_type = "AUTO"
        self._audio = list(self._container.streams.audio)
        return rotation

    @property
    def audio_streams(self) -> list[av.audio.stream.AudioStream]:
        return self._audio

    def __iter__(self) -> Iterator[Frame | AudioPacket]:
        """Frames and audio packets, in demux order.

        Decoding errors in the middle of a file (a damaged packet) are logged
        and skipped, like a player would; the count is in ``decode_errors``.
        """
        self.decode_errors = 0
        index = 0
        audio_index = {stream.index: i for i, stream in enumerate(self._audio)}
        rotate = _ROTATIONS.get(self.info.rotation)
        try:
            packets = self._container.demux(self._video, *self._audio)
            for packet in packets:
                if packet.stream.type == "audio":
                    if packet.dts is None or packet.size == 0:
                        continue
                    time = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
                    yield AudioPacket(packet, audio_index[packet.stream.index], time)
                    continue
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError as exc:
                    self.decode_errors += 1
                    logger.warning("%s: skipped a damaged video packet (%s)", self.path, exc)
                    continue
                for video_frame in decoded:
                    image = video_frame.to_ndarray(format="bgr24")
                    if rotate is not None:
                        image = cv2.rotate(image, rotate)
                    pts = video_frame.pts if video_frame.pts is not None else index
                    yield Frame(
                        np.ascontiguousarray(image), index, float(pts * video_frame.time_base)
                    )
                    index += 1
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{self.path}: cannot read past frame {index} ({_reason(exc)})"
            ) from exc

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().rstrip(".") or type(exc).__name__


class VideoWriter:
    """Encode frames to H.264 (yuv420p) in a hidden temporary file beside
    ``path``; :meth:`close` renames it onto ``path``, :meth:`abort` deletes it.

    Output timestamps are the frames' own (``Frame.timestamp`` in the source's
    time base), so frame count, variable frame rates and duration are kept.
    Audio packets are interleaved by time as they arrive.
    """

    def __init__(
        self,
        path: Path,
        *,
        width: int,
        height: int,
        fps: Fraction,
        time_base: Fraction,
        crf: int = 20,
        preset: str = "veryfast",
        audio_templates: list[av.audio.stream.AudioStream] | None = None,
    ) -> None:
        self.path = Path(path)
        container_format = output_format_for(self.path)
        if not self.path.parent.is_dir():
            raise OutputError(f"{self.path.parent}: output directory does not exist")
        if not os.access(self.path.parent, os.W_OK):
            raise OutputError(f"{self.path.parent}: output directory is not writable")
        self.partial_path = partial_path_for(self.path)
        try:
            self._container = av.open(str(self.partial_path), "w", format=container_format)
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"{self.path}: cannot create ({_reason(exc)})") from exc
        self._closed = False
        try:
            # H.264 in yuv420p needs even sizes; odd frames get one column or
            # row of edge pixels (a copy of redacted pixels, nothing new).
            self.width = width + (width % 2)
            self.height = height + (height % 2)
            stream = self._container.add_stream("libx264", rate=fps)
            stream.width, stream.height = self.width, self.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
            stream.options = {"crf": str(crf), "preset": preset}
            self._video = stream
            self._time_base = time_base
            self._audio = [
                self._container.add_stream_from_template(template)
                for template in (audio_templates or [])
            ]
            for out_stream in [self._video, *self._audio]:
                out_stream.metadata.clear()
        except (av.error.FFmpegError, ValueError) as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot set up the encoder ({_reason(exc)})") from exc
        self._pending_audio: deque[AudioPacket] = deque()
        self._last_pts: int | None = None
        self.frames_written = 0

    def _mux(self, packet: av.Packet) -> None:
        try:
            self._container.mux(packet)
        except OSError as exc:
            raise OutputError(f"{self.path}: write failed ({_reason(exc)})") from exc
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"{self.path}: muxing failed ({_reason(exc)})") from exc

    def add_audio(self, item: AudioPacket) -> None:
        """Queue an audio packet; it is written once the video reaches its time."""
        if item.audio_index < len(self._audio):
            self._pending_audio.append(item)

    def _flush_audio(self, until: float) -> None:
        while self._pending_audio and self._pending_audio[0].time <= until:
            item = self._pending_audio.popleft()
            item.packet.stream = self._audio[item.audio_index]
            self._mux(item.packet)

    def write(self, frame: Frame) -> None:
        """Encode one redacted BGR frame at its own timestamp."""
        image = frame.image
        if image.shape[1] != self.width or image.shape[0] != self.height:
            image = cv2.copyMakeBorder(
                image, 0, self.height - image.shape[0], 0, self.width - image.shape[1],
                cv2.BORDER_REPLICATE,
            )
        video_frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        pts = round(frame.timestamp / self._time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # the muxer needs strictly increasing pts
        self._last_pts = pts
        video_frame.pts = pts
        video_frame.time_base = self._time_base
        self._flush_audio(frame.timestamp)
        try:
            packets = self._video.encode(video_frame)
        except av.error.FFmpegError as exc:
            raise OutputError(f"{self.path}: encoding failed ({_reason(exc)})") from exc
        for packet in packets:
            self._mux(packet)
        self.frames_written += 1

    def close(self) -> Path:
        """Flush the encoder, finish the file and move it to its final name."""
        if self._closed:
            return self.path
        try:
            for packet in self._video.encode(None):
                self._mux(packet)
            self._flush_audio(float("inf"))
            self._container.close()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        os.replace(self.partial_path, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; nothing appears under the final name."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.close()
        except (av.error.FFmpegError, OSError, ValueError):
            logger.debug("closing an aborted output failed", exc_info=True)
        self.partial_path.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
