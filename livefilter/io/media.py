"""Video files through PyAV: a reader that yields upright BGR frames and the
audio packets to copy, and a writer that encodes H.264 into a temporary file
beside the output and renames it only when everything went well
(:mod:`livefilter.io.writer`).

What the writer leaves out on purpose (it identifies people, places or
devices): container and stream metadata of the source (GPS/location, make and
model, creation time, handler and encoder names), the source's rotation
matrix (frames are turned upright before detection) and every data or
subtitle stream. Audio streams are copied packet for packet, or with an
``audio_mode`` other than ``keep`` decoded, muted or disguised, and
re-encoded by our own AAC encoder (:mod:`livefilter.audio.transcode`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from livefilter.errors import ConfigError, InputError, error_reason
from livefilter.frame import Frame
from livefilter.io.probe import Declared, Tally, describe_stream, iso_box_overrun, pick_video_stream

__all__ = [
    "OUTPUT_FORMATS",
    "AudioPacket",
    "VideoInfo",
    "VideoReader",
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


# A cut-off file is refused, not silently shortened; this is how a user who
# wants the part that is there gets it (ffmpeg then rewrites the index).
_TRUNCATED_HINT = (
    "to anonymize the part that is there, add --allow-damaged, or re-mux it first: "
    "ffmpeg -i IN -c copy OUT"
)


def _normalised_rotation(degrees: float) -> int:
    return round(degrees / 90.0) * 90 % 360


class VideoReader:
    """Decode a video file into upright BGR :class:`Frame` records.

    ``timestamp`` is the frame's presentation time in seconds and ``index``
    its position in decode order, counting from 0. Use as a context manager.

    Files that cannot be anonymized whole are refused with :class:`InputError`
    (one line, naming the file): not a video, a still image, audio only, no
    decodable frame, or truncated (see :meth:`_check_not_truncated`).

    Damage is refused too: when fewer frames or audio packets come out than
    the container declares, or a stream stops short of the stated duration
    (:mod:`livefilter.io.probe`), the iteration ends with an
    :class:`InputError` naming the counts, so the caller discards its output.
    With ``allow_damaged`` a damaged file is read as far as it goes and one
    warning names the counts instead (``damage`` keeps them).
    """

    def __init__(self, path: Path, *, allow_damaged: bool = False) -> None:
        self.path = Path(path)
        self.allow_damaged = allow_damaged
        self._partial = False  # set by seek(): a part of the file is read
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, not a video file")
        if not self.path.is_file():
            # A FIFO or a device: the reader opens the file twice (a probe,
            # then the pass) and checks it against its size; a pipe has none.
            raise InputError(
                f"{self.path}: is not a regular file (a pipe or a device); save the video to "
                "a file first, or use `livefilter run --source` with a stream URL"
            )
        if self.path.stat().st_size == 0:
            raise InputError(f"{self.path}: file is empty")
        self.decode_errors = 0
        self.damage: list[str] = []
        self._header_damage: list[str] = []
        self._container = self._open(announce=True)
        try:
            self._check_not_truncated()
            self.info = self._probe()
            self._declared = self._read_declared()
        except BaseException:
            self._container.close()
            raise
        # Re-open: seeking back is unreliable on damaged files and for some
        # demuxers; a fresh demuxer always starts at the first packet.
        self._container.close()
        self._container = self._open()

    def _read_declared(self) -> Declared:
        """What the container declares (of the probing demuxer, which is
        closed afterwards). Matroska reads its cues (the index, at the end)
        only when asked to seek, so it is asked to."""
        if not self._container.format.name.startswith("mov"):
            try:
                self._container.seek(0, stream=self._video)
            except (av.error.FFmpegError, OSError):
                logger.debug("%s: cannot seek to read the index", self.path, exc_info=True)
        return Declared.read(self._container, self._video, self._audio,
                             1.0 / float(self.info.fps))

    def _damaged(self, text: str) -> None:
        """Damage seen before reading: refused, or noted with ``allow_damaged``."""
        if not self.allow_damaged:
            raise InputError(f"{self.path}: {text}; {_TRUNCATED_HINT}")
        self._header_damage.append(text)

    def _open(self, *, announce: bool = False) -> av.container.InputContainer:
        """Open the file and pick its video stream; refuse what is not a video.

        ``announce``: log which video stream was picked when there are
        several (once, at the first of the two opens).
        """
        try:
            container = av.open(str(self.path), metadata_errors="ignore")
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise self._open_error(exc) from exc
        # Cover art (a still picture in an audio file) is a "video" stream
        # for ffmpeg; it is not what anyone means by the video. Nor is a
        # one-frame still stored as a video stream beside the real one.
        video, others = pick_video_stream(container)
        # A damaged header can leave a stream without a codec context.
        audio = [stream for stream in container.streams.audio
                 if stream.codec_context is not None]
        unreadable_audio = len(container.streams.audio) - len(audio)
        format_name = container.format.name
        if video is None:
            damaged = any(not stream.disposition & av.stream.Disposition.attached_pic
                          for stream in container.streams.video)
            container.close()
            if damaged:
                raise InputError(f"{self.path}: video stream header is damaged (no codec "
                                 "parameters): cannot be decoded")
            what = " (audio only)" if audio else ""
            raise InputError(f"{self.path}: has no video stream{what}: nothing to anonymize")
        if format_name.endswith("_pipe") or format_name.startswith("image2"):
            # ffmpeg reads a lone PNG or JPEG as a one-frame video; turning a
            # photo into a 40 ms clip is never what the user meant.
            codec = video.codec_context.name.upper()
            container.close()
            raise InputError(
                f"{self.path}: is a still image ({codec}), not a video: use `livefilter image`"
            )
        if announce and others:
            logger.warning(
                "%s: %d video streams; anonymizing %s, leaving out %s",
                self.path, len(others) + 1, describe_stream(video),
                ", ".join(describe_stream(stream) for stream in others),
            )
        if announce and unreadable_audio:
            try:
                self._damaged(f"{unreadable_audio} audio stream(s) with a damaged header")
            except InputError:
                container.close()
                raise
        self._video = video
        # Slice threads only: with frame threads, a damaged packet makes the
        # decoder drop the frames in flight beside it without an error (seen
        # with H.264: 3 frames lost, none reported). The detector, not the
        # decoder, is what limits speed here.
        self._video.thread_type = "SLICE"
        self._audio = audio
        return container

    def _open_error(self, exc: BaseException) -> InputError:
        try:
            with self.path.open("rb") as file:
                head = file.read(12)
        except OSError:
            head = b""
        if head[4:8] == b"ftyp":
            # An MP4/MOV whose index (the moov atom, written last) is missing:
            # the recording was interrupted or the copy is incomplete.
            return InputError(
                f"{self.path}: not a readable video: an MP4/MOV file without its index "
                "(moov atom), so truncated or never finished recording"
            )
        return InputError(f"{self.path}: not a readable video ({error_reason(exc)})")

    def _check_not_truncated(self) -> None:
        """Refuse a file whose index points past its end.

        An MP4/MOV with its index at the front ("faststart", as most phones
        and web downloads have it) still opens when its end is cut off, and
        the demuxer then just stops early: the output would silently lack the
        rest. The index (also kept by AVI) says where every packet lies, so
        this is exact and costs no decoding. Packets an edit list trims are
        not in the index, so trimmed files are not mistaken for cut ones.
        Matroska has no such index at the start; see :meth:`_check_complete`.
        """
        size = self.path.stat().st_size
        for stream in (self._video, *self._audio):
            entries = stream.index_entries
            needed = max((entry.pos + entry.size for entry in entries), default=0)
            if needed > size:
                missing = sum(1 for entry in entries if entry.pos + entry.size > size)
                self._damaged(
                    f"truncated: the file ends {needed - size} bytes early and "
                    f"{missing} of its {len(entries)} {stream.type} packets are missing"
                )
                return
        # An MP4/MOV cut inside its index (moov at the end) may still open,
        # with a few frames and no audio track: its boxes show the cut.
        overrun = iso_box_overrun(self.path)
        if overrun is not None:
            kind, missing_bytes = overrun
            self._damaged(f"truncated: the file ends {missing_bytes} bytes early, inside its "
                          f"'{kind}' box")

    def _probe(self) -> VideoInfo:
        video = self._video
        context = video.codec_context
        if context is None or context.width <= 0 or context.height <= 0:
            raise InputError(f"{self.path}: video stream has no frame size (corrupt header?)")
        fps = video.average_rate or video.guessed_rate or video.base_rate or Fraction(30)
        time_base = video.time_base or Fraction(1, 90000)
        duration = 0.0
        if video.duration is not None:
            duration = float(video.duration * time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / av.time_base
        frames = int(video.frames) if video.frames else round(duration * float(fps))
        first = self._first_frame()
        rotation = _normalised_rotation(getattr(first, "rotation", 0) or 0)
        # Every frame is scaled to the first one's size, should a stream
        # change resolution midway (spliced or concatenated files).
        self._stored_size = (first.width, first.height)
        width, height = self._stored_size
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

    def _first_frame(self) -> av.VideoFrame:
        """The first decodable frame: its size and display rotation count."""
        try:
            for frame in self._container.decode(self._video):
                return frame
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.path}: cannot decode video ({error_reason(exc)})") from exc
        raise InputError(f"{self.path}: video stream has no decodable frame")

    def seek(self, seconds: float) -> None:
        """Make the next iteration start at the key frame at or before
        ``seconds`` (a frame's ``timestamp``); frame indices then count from
        there. A read from a seek is part of the file: its counts are not
        compared with the whole file's (a segment run checks the whole by
        counting the joined frames)."""
        self._partial = True
        target = int(seconds / float(self._video.time_base))
        try:
            self._container.seek(target, stream=self._video, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.path}: cannot seek to {seconds:.3f} s ({error_reason(exc)})") \
                from exc

    @property
    def audio_streams(self) -> list[av.audio.stream.AudioStream]:
        return self._audio

    def __iter__(self) -> Iterator[Frame | AudioPacket]:
        """Frames and audio packets, in demux order.

        A packet the decoder rejects (damage in the middle of a file) is
        skipped, like a player would: the frames around it keep their own
        timestamps, so duration and audio sync are kept. What was read is
        then checked against what the container declares
        (:meth:`_check_complete`): short of it, the file is damaged.
        """
        self.decode_errors = 0
        tally = Tally(audio_streams=len(self._audio))
        index = 0
        audio_index = {stream.index: i for i, stream in enumerate(self._audio)}
        rotate = _ROTATIONS.get(self.info.rotation)
        stored_width, stored_height = self._stored_size
        frame_step = 1.0 / float(self.info.fps)
        timestamp = -frame_step
        try:
            packets = self._container.demux(self._video, *self._audio)
            for packet in packets:
                if packet.stream.type == "audio":
                    which = audio_index[packet.stream.index]
                    tally.audio_packet(which, packet)
                    if packet.dts is None or packet.size == 0:
                        continue
                    time = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
                    yield AudioPacket(packet, which, time)
                    continue
                tally.video_packet(packet, frame_step)
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError as exc:
                    self.decode_errors += 1
                    tally.decode_errors += 1
                    logger.debug("%s: damaged video packet (%s)", self.path, exc)
                    continue
                for video_frame in decoded:
                    # Scaled to one size (a no-op unless the stream changes
                    # resolution); 10-bit and other formats become 8-bit BGR.
                    image = video_frame.to_ndarray(
                        format="bgr24", width=stored_width, height=stored_height
                    )
                    if rotate is not None:
                        image = cv2.rotate(image, rotate)
                    if video_frame.pts is not None and video_frame.time_base is not None:
                        timestamp = float(video_frame.pts * video_frame.time_base)
                    else:
                        timestamp += frame_step  # no timing: assume the nominal rate
                    yield Frame(np.ascontiguousarray(image), index, timestamp)
                    index += 1
                    tally.frames = index
        except av.error.FFmpegError as exc:
            if not self.allow_damaged:
                raise InputError(
                    f"{self.path}: cannot read past frame {index} ({error_reason(exc)}); "
                    "add --allow-damaged to anonymize the frames before it"
                ) from exc
            tally.stopped_early = error_reason(exc)
        self._check_complete(tally)

    def _check_complete(self, tally: Tally) -> None:
        """After the last packet: compare what was read with what the
        container declares; refuse a short result, or with ``allow_damaged``
        warn once with the counts.

        Matroska/WebM keep their index at the end, so a cut-off file is only
        seen here: its header states the duration and the packets stop short
        of it. (The output is then discarded by the caller.)
        """
        shortfalls = [] if self._partial else tally.shortfalls(self._declared)
        self.damage = self._header_damage + shortfalls
        if not self.damage:
            return
        what = "; ".join(self.damage)
        if not self.allow_damaged:
            raise InputError(
                f"{self.path}: damaged: {what}; the output was not kept (add --allow-damaged "
                "to keep what could be read)"
            )
        logger.warning("%s: damaged: %s; kept what could be read (%d frames)",
                       self.path, what, tally.frames)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

