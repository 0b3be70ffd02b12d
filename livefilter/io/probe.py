"""What a video container declares, and whether what came out of it matches.

A damaged file often opens and demuxes without any error and simply yields
less: an MP4 cut inside its index keeps the first frames and loses its audio
track, a Matroska file with garbage in the middle skips to the next cluster,
a mutated header stops after one frame. Each of these is caught here by
comparing what the container promised with what was read:

* ISO BMFF (MP4/MOV): the top-level boxes must tile the file; one that runs
  past the end means the file was cut (even inside the index, which
  otherwise yields a few frames and no audio, silently);
* the index (MP4/MOV sample tables, Matroska cues) names packets by
  position and time: every one of them must be read;
* frame and audio packet counts, where the container states them;
* where it does not, every stream must reach the duration the header states.

:class:`Tally` collects what was read; :meth:`Tally.shortfalls` says, in
words with counts, what is missing.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field
from pathlib import Path

import av

# Holes this long in a stream without counts are data the demuxer skipped.
# Video: variable-rate video legitimately spaces frames out, so only a hole
# of at least half a second (and three frames) counts.
_AUDIO_GAP = 0.1
_VIDEO_GAP = 0.5

__all__ = [
    "Declared",
    "Tally",
    "describe_stream",
    "iso_box_overrun",
    "pick_video_stream",
    "stream_seconds",
]


def iso_box_overrun(path: Path) -> tuple[str, int] | None:
    """For an ISO BMFF file (MP4, MOV): ``(box type, bytes missing)`` of the
    top-level box that runs past the end of the file, else ``None``.

    Files that are not box-structured (or that this walk does not
    understand) give ``None``: the other checks still apply to them.
    """
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(8)
        if len(head) < 8 or head[4:8] != b"ftyp":
            return None
        position = 0
        while position + 8 <= size:
            file.seek(position)
            head = file.read(16)
            box_size, kind = struct.unpack(">I4s", head[:8])
            if box_size == 1:  # 64-bit size follows the type
                if len(head) < 16:
                    return kind.decode("latin-1"), 8
                box_size = struct.unpack(">Q", head[8:16])[0]
            elif box_size == 0:  # runs to the end of the file
                return None
            if box_size < 8:
                return None  # not a box: leave it to the demuxer
            if position + box_size > size:
                return kind.decode("latin-1"), position + box_size - size
            position += box_size
    return None


def _usable(stream: av.stream.Stream) -> bool:
    # A stream whose header is damaged can come without a codec context.
    try:
        return stream.codec_context is not None
    except (AttributeError, ValueError):
        return False


def stream_seconds(stream: av.stream.Stream) -> float | None:
    """A stream's own duration: from the container's per-stream header, or
    the ``DURATION`` tag ffmpeg and mkvmerge write into each Matroska track."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            return None
    return None


def _frames_of(stream: av.video.stream.VideoStream) -> float:
    """How much moving picture a stream holds: its frame count, or its
    duration times its rate when the container keeps no count."""
    if stream.frames:
        return float(stream.frames)
    seconds = stream_seconds(stream)
    if seconds:
        rate = stream.average_rate or stream.guessed_rate or 0
        return seconds * float(rate) if rate else seconds
    return 0.0


def describe_stream(stream: av.video.stream.VideoStream) -> str:
    context = stream.codec_context
    frames = f", {stream.frames} frame{'s' if stream.frames != 1 else ''}" if stream.frames else ""
    return f"#{stream.index} ({context.name} {context.width}x{context.height}{frames})"


def pick_video_stream(
    container: av.container.InputContainer,
) -> tuple[av.video.stream.VideoStream | None, list[av.video.stream.VideoStream]]:
    """The video to anonymize, and the other video streams left out.

    Cover art (the attached-picture flag) is not video. Of the others, the
    one with the most frames wins, then the longest; a still picture stored
    as a one-frame stream (MJPEG, PNG) without that flag loses to any moving
    one, wherever it stands in the file.
    """
    moving = [
        stream for stream in container.streams.video
        if not stream.disposition & av.stream.Disposition.attached_pic and _usable(stream)
    ]
    if not moving:
        return None, []

    def rank(stream: av.video.stream.VideoStream) -> tuple[bool, float, int]:
        still = stream.frames == 1 or (
            stream.codec_context.name in ("mjpeg", "png", "bmp") and _frames_of(stream) <= 1
        )
        return (not still, _frames_of(stream), -stream.index)

    chosen = max(moving, key=rank)
    others = [stream for stream in container.streams.video
              if stream is not chosen
              and not stream.disposition & av.stream.Disposition.attached_pic]
    return chosen, others


@dataclass(frozen=True, kw_only=True)
class Declared:
    """What the container states, read right after opening (the index grows
    as a demuxer reads, so it is taken before the first packet).

    ``video_frames`` and ``audio_packets`` are exact counts from an index
    (``0``: the container keeps none); ``*_index`` the timestamps of the
    packets the index points at; ``duration`` the header's, in seconds.
    """

    video_frames: int
    audio_packets: tuple[int, ...]
    video_index: frozenset[int]
    audio_index: tuple[frozenset[int], ...]
    video_duration: float | None
    audio_durations: tuple[float | None, ...]
    frame_step: float

    @classmethod
    def read(cls, container: av.container.InputContainer, video: av.video.stream.VideoStream,
             audio: list[av.audio.stream.AudioStream], frame_step: float) -> Declared:
        duration = container.duration / av.time_base if container.duration else None
        # Each stream against its own duration where the file states one (a
        # file may hold streams of different lengths), else the file's.
        # The MP4/MOV sample tables are exact; Matroska's cues name key
        # frames only, and other containers keep no index at all.
        counted = container.format.name.startswith("mov")
        return cls(
            video_frames=int(video.frames) if counted else 0,
            audio_packets=tuple(int(stream.frames) if counted else 0 for stream in audio),
            video_index=frozenset(() if counted else
                                  (entry.timestamp for entry in video.index_entries)),
            audio_index=tuple(frozenset(() if counted else
                                        (entry.timestamp for entry in stream.index_entries))
                              for stream in audio),
            video_duration=stream_seconds(video) or duration,
            audio_durations=tuple(stream_seconds(stream) or duration for stream in audio),
            frame_step=frame_step,
        )


@dataclass
class Tally:
    """What was read: frames decoded, audio packets demuxed, damaged packets,
    the timestamps seen and the time each stream reached."""

    audio_streams: int
    frames: int = 0
    decode_errors: int = 0
    audio_packets: list[int] = field(default_factory=list)
    video_seen: set[int] = field(default_factory=set)
    audio_seen: list[set[int]] = field(default_factory=list)
    video_reached: float = 0.0
    audio_reached: list[float] = field(default_factory=list)
    audio_gaps: list[float] = field(default_factory=list)
    video_times: list[float] = field(default_factory=list)
    stopped_early: str | None = None

    def __post_init__(self) -> None:
        self.audio_packets = [0] * self.audio_streams
        self.audio_seen = [set() for _ in range(self.audio_streams)]
        self.audio_reached = [0.0] * self.audio_streams
        self.audio_gaps = [0.0] * self.audio_streams

    def video_packet(self, packet: av.Packet, step: float) -> None:
        for stamp in (packet.pts, packet.dts):
            if stamp is not None:
                self.video_seen.add(int(stamp))
        if packet.pts is not None and packet.size:
            self.video_times.append(float(packet.pts * packet.time_base))
            length = packet.duration or 0
            end = float((packet.pts + length) * packet.time_base)
            # A video packet without a duration still shows for a frame.
            self.video_reached = max(self.video_reached, end if length else end + step)

    def audio_packet(self, which: int, packet: av.Packet) -> None:
        self.audio_packets[which] += 1
        for stamp in (packet.pts, packet.dts):
            if stamp is not None:
                self.audio_seen[which].add(int(stamp))
        if packet.pts is not None:
            start = float(packet.pts * packet.time_base)
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            if self.audio_packets[which] > 1 and start - self.audio_reached[which] > _AUDIO_GAP:
                # Sound is continuous: a hole in it is data the demuxer
                # skipped (it resynchronises past damage without an error).
                self.audio_gaps[which] += start - self.audio_reached[which]
            self.audio_reached[which] = max(self.audio_reached[which], end)

    def _video_frames_skipped(self, step: float) -> int:
        """Frames missing from holes in the video timestamps (no counts kept)."""
        times = sorted(self.video_times)
        missing = 0
        for before, after in itertools.pairwise(times):
            gap = after - before
            if gap > max(_VIDEO_GAP, 3 * step):
                missing += round(gap / step) - 1
        return missing

    def shortfalls(self, declared: Declared) -> list[str]:
        """What is missing, in words with counts; empty when nothing is."""
        found: list[str] = []
        if self.stopped_early:
            found.append(f"reading stopped after frame {self.frames} ({self.stopped_early})")
        if declared.video_frames and self.frames < declared.video_frames:
            found.append(f"{self.frames} of {declared.video_frames} video frames")
        elif self.decode_errors:
            found.append(f"{self.decode_errors} damaged video packet(s) skipped")
        missing = len(declared.video_index - self.video_seen)
        if missing:
            found.append(f"{missing} of {len(declared.video_index)} indexed video key frames "
                         "missing")
        for which in range(self.audio_streams):
            label = f"audio stream {which + 1}" if self.audio_streams > 1 else "audio"
            expected = declared.audio_packets[which]
            if expected and self.audio_packets[which] < expected:
                found.append(f"{self.audio_packets[which]} of {expected} {label} packets")
            elif not self.audio_packets[which]:
                found.append(f"{label}: no packet at all")
            missing = len(declared.audio_index[which] - self.audio_seen[which])
            if missing:
                found.append(f"{missing} of {len(declared.audio_index[which])} indexed {label} "
                             "packets missing")
        if not declared.video_frames:
            skipped = self._video_frames_skipped(declared.frame_step)
            if skipped:
                found.append(f"about {skipped} video frames missing (holes in the timestamps)")
        for which, gap in enumerate(self.audio_gaps):
            if gap and not declared.audio_packets[which]:
                label = f"audio stream {which + 1}" if self.audio_streams > 1 else "audio"
                found.append(f"{label}: {gap:.2f} s missing (holes in the timestamps)")
        if not declared.video_frames:
            # No counts (Matroska, WebM, ...): every stream must reach its
            # stated duration, give or take two frames (a last frame's
            # length is often not stored).
            slack = max(0.1, 2 * declared.frame_step)
            ends = [("video", self.video_reached, declared.video_duration)] + [
                (f"audio stream {i + 1}" if self.audio_streams > 1 else "audio", reached,
                 declared.audio_durations[i])
                for i, reached in enumerate(self.audio_reached) if self.audio_packets[i]
            ]
            short = [f"{label} ends at {reached:.2f} s of the {stated:.2f} s stated"
                     for label, reached, stated in ends if stated and reached < stated - slack]
            if short:
                found.append(f"truncated: {', '.join(short)}")
        return found
