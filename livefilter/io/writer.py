"""The writer of video files: H.264 into a hidden temporary file beside the
output, renamed only when everything went well.

What it leaves out on purpose (it identifies people, places or devices):
container and stream metadata of the source (GPS/location, make and model,
creation time, handler and encoder names), the source's rotation matrix
(frames are turned upright before detection) and every data or subtitle
stream. Audio streams are copied packet for packet, or with an
``audio_mode`` other than ``keep`` decoded, muted or disguised, and
re-encoded by our own AAC encoder (:mod:`livefilter.audio.transcode`).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from fractions import Fraction
from pathlib import Path

import av
import cv2

from livefilter.audio.transcode import AudioReencoder
from livefilter.errors import LivefilterError, OutputError, error_reason
from livefilter.frame import Frame
from livefilter.io.media import AudioPacket, output_format_for, partial_path_for

__all__ = ["X264_PRESETS", "VideoWriter"]

logger = logging.getLogger(__name__)

# x264 holds the frames of its rate-control look-ahead (each with its
# half-pel planes, about three times the source bytes): at 4K, veryfast's 10
# frames peaked at 580 MB against 455 MB with 5 (decode and encode only,
# 2026-12-07). The look-ahead is bounded by the bytes of the frames it holds,
# so 720p and 1080p keep the preset's own and 4K gets half.
_LOOKAHEAD_BYTES = 64 * 1024 * 1024
_MIN_LOOKAHEAD = 3
# The x264 presets a file output may use, with the frames of rc-lookahead
# each one holds (x264's own table).
_PRESET_LOOKAHEAD = {"ultrafast": 0, "superfast": 0, "veryfast": 10, "faster": 20,
                     "fast": 30, "medium": 40, "slow": 50}
X264_PRESETS = tuple(_PRESET_LOOKAHEAD)


def _x264_options(width: int, height: int, *, crf: int, preset: str) -> dict[str, str]:
    """The x264 options for a ``width x height`` encode at ``crf`` and
    ``preset``, its look-ahead shortened where the preset's would hold more
    than :data:`_LOOKAHEAD_BYTES` of frames."""
    options = {"crf": str(crf), "preset": preset}
    fits = max(_MIN_LOOKAHEAD, _LOOKAHEAD_BYTES // (width * height * 3 // 2))
    if _PRESET_LOOKAHEAD.get(preset, 0) > fits:
        options["x264-params"] = f"rc-lookahead={fits}"
    return options


class VideoWriter:
    """Encode frames to H.264 (yuv420p) in a hidden temporary file beside
    ``path``; :meth:`close` renames it onto ``path``, :meth:`abort` deletes it.

    Output timestamps are the frames' own (``Frame.timestamp`` in the source's
    time base), so frame count, variable frame rates and duration are kept.
    Audio packets are interleaved by time as they arrive: copied (``--audio
    keep``), or decoded, transformed and re-encoded (``mute``, ``reencode``,
    ``disguise``).
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
        audio_mode: str = "keep",
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
            raise OutputError(f"{self.path}: cannot create ({error_reason(exc)})") from exc
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
            stream.options = _x264_options(self.width, self.height, crf=crf, preset=preset)
            self._video = stream
            self._time_base = time_base
            self._reencoders = [
                AudioReencoder(self._container, template, audio_mode)
                for template in (audio_templates or []) if audio_mode != "keep"
            ]
            self._audio = [reencoder.stream for reencoder in self._reencoders] or [
                self._container.add_stream_from_template(template)
                for template in (audio_templates or []) if audio_mode == "keep"
            ]
            for out_stream in [self._video, *self._audio]:
                out_stream.metadata.clear()
            # The header now, not at the first packet: a container that
            # cannot hold the audio (FLAC in .mov) is refused before any
            # frame is decoded, not after a run.
            self._container.start_encoding()
        except (av.error.FFmpegError, ValueError) as exc:
            self.abort()
            codecs = ", ".join(sorted({t.codec_context.name for t in audio_templates or []}))
            what = f"; its audio ({codecs}) may not fit this container" if codecs else ""
            raise OutputError(
                f"{self.path}: cannot set up the output ({error_reason(exc)}){what}; try .mkv"
            ) from exc
        self._pending_audio: deque[AudioPacket] = deque()
        self._last_pts: int | None = None
        self.frames_written = 0

    @property
    def audio_damaged(self) -> int:
        """Audio packets the decoder rejected while re-encoding (silence in their place)."""
        return sum(reencoder.damaged for reencoder in self._reencoders)

    def _mux(self, packet: av.Packet) -> None:
        try:
            self._container.mux(packet)
        except OSError as exc:
            raise OutputError(f"{self.path}: write failed ({error_reason(exc)})") from exc
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"{self.path}: muxing failed ({error_reason(exc)})") from exc

    def add_audio(self, item: AudioPacket) -> None:
        """Queue an audio packet; it is written once the video reaches its time."""
        if item.audio_index < len(self._audio):
            self._pending_audio.append(item)

    def _flush_audio(self, until: float) -> None:
        while self._pending_audio and self._pending_audio[0].time <= until:
            item = self._pending_audio.popleft()
            if self._reencoders:
                for packet in self._reencoders[item.audio_index].feed(item.packet):
                    self._mux(packet)
                continue
            item.packet.stream = self._audio[item.audio_index]
            self._mux(item.packet)

    def write(self, frame: Frame) -> None:
        """Encode one redacted BGR frame at its own timestamp."""
        image = frame.image
        if image.shape[1] > self.width or image.shape[0] > self.height:
            raise OutputError(
                f"{self.path}: frame {image.shape[1]}x{image.shape[0]} does not fit the "
                f"{self.width}x{self.height} output"
            )
        if image.shape[1] != self.width or image.shape[0] != self.height:
            # Odd sizes: repeat the last (already redacted) column or row.
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
            raise OutputError(f"{self.path}: encoding failed ({error_reason(exc)})") from exc
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
            for reencoder in self._reencoders:
                for packet in reencoder.flush():
                    self._mux(packet)
            self._container.close()
        except LivefilterError:
            self.abort()
            raise
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot finish the file ({error_reason(exc)})") from exc
        except BaseException:
            self.abort()
            raise
        self._closed = True
        try:
            os.replace(self.partial_path, self.path)
        except OSError as exc:
            self.partial_path.unlink(missing_ok=True)
            raise OutputError(f"{self.path}: cannot put the finished file in place "
                              f"({error_reason(exc)})") from exc
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
