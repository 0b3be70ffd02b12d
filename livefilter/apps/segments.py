"""A long video in segments: cut at key frames, anonymized in parallel, joined.

Each segment *owns* the frames from one key frame of the source up to the
next segment's key frame, but reads :data:`MARGIN` seconds more on each side
so the tracker and the look-ahead see the frames around its borders as a
one-piece run would (faces are already tracked when its first owned frame
comes, and the frames before its end get the detections after it). It
encodes only its owned frames, as an H.264 run starting with an IDR frame,
at their source timestamps. The runs are then joined packet for packet (no
re-encoding) with the source's audio copied once, so the frame count,
timestamps and duration are those of a one-piece run. The join checks that
every source frame is there; a short result is an error, not a file.
"""

from __future__ import annotations

import bisect
import heapq
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from livefilter.apps.batch_worker import BatchSettings, Task
from livefilter.apps.offline import file_stats
from livefilter.apps.pool import Runner, run_tasks
from livefilter.errors import InputError, OutputError
from livefilter.io.media import VideoReader, output_format_for, partial_path_for

__all__ = [
    "MARGIN",
    "Layout",
    "Segment",
    "anonymize_in_segments",
    "join_segments",
    "plan_segments",
    "probe_layout",
]

logger = logging.getLogger(__name__)

# Seconds read before and after a segment's own frames: more than the
# tracker's default hold (1 s) before, more than the look-ahead (8 frames of
# the thorough preset's cycle, a quarter second at 30 fps) after.
MARGIN = 2.0


@dataclass(frozen=True)
class Layout:
    """Every video frame's timestamp (seconds, presentation order) and which
    of them are key frames, from the packets alone (nothing decoded)."""

    times: list[float]
    keyframes: list[int]


@dataclass(frozen=True)
class Segment:
    index: int
    first_frame: int  # the source frame number of read_from: a key frame
    read_from: float
    own_from: float
    own_until: float
    read_until: float
    frames: int

    @property
    def window(self) -> tuple[float, float, float, float]:
        return (self.read_from, self.own_from, self.own_until, self.read_until)


def probe_layout(path: Path) -> Layout:
    """Frame times and key frames of ``path``'s video stream."""
    entries: list[tuple[float, bool]] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    raise InputError(f"{path}: video packets without timestamps: cannot split")
                entries.append((float(packet.pts * packet.time_base), bool(packet.is_keyframe)))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: cannot read its packets to split it ({exc})") from exc
    entries.sort()
    return Layout([t for t, _ in entries], [i for i, (_, key) in enumerate(entries) if key])


def plan_segments(layout: Layout, pieces: int, *, min_seconds: float,
                  margin: float = MARGIN) -> list[Segment]:
    """At most ``pieces`` segments of at least ``min_seconds``, split at key
    frames near equal frame counts; one segment means "do not split"."""
    times = layout.times
    if not times:
        return []
    duration = times[-1] - times[0]
    pieces = max(1, min(pieces, int(duration // max(min_seconds, 1e-3))))
    starts = [0]
    for k in range(1, pieces):
        target = len(times) * k // pieces
        at = bisect.bisect_left(layout.keyframes, target)
        candidates = layout.keyframes[max(0, at - 1):at + 1]
        if not candidates:
            continue
        best = min(candidates, key=lambda i: abs(i - target))
        if best > starts[-1] and times[best] - times[starts[-1]] >= min_seconds / 2:
            starts.append(best)
    segments = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(times)
        own_from = times[start] if k else float("-inf")
        own_until = times[end] if end < len(times) else float("inf")
        # Reading starts exactly at a key frame, so the frames read are the
        # source's from ``first`` on, with no gap or guess.
        first = 0
        if k:
            before = bisect.bisect_right(layout.keyframes, start) - 1
            while before > 0 and times[layout.keyframes[before]] > times[start] - margin:
                before -= 1
            first = layout.keyframes[max(0, before)]
        segments.append(Segment(
            k, first_frame=first, read_from=times[first] if k else 0.0, own_from=own_from,
            own_until=own_until, read_until=own_until + margin, frames=end - start,
        ))
    return segments


def _video_packets(parts: list[Path]) -> Iterator[tuple[float, int, Any]]:
    for part in parts:
        with av.open(str(part)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size == 0 or packet.dts is None:
                    continue
                yield float(packet.dts * packet.time_base), 0, packet


def _audio_packets(container: Any) -> Iterator[tuple[float, int, Any]]:
    audio = list(container.streams.audio)
    if not audio:
        return
    for packet in container.demux(*audio):
        if packet.dts is None or packet.size == 0:
            continue
        yield float(packet.dts * packet.time_base), 1, packet


def join_segments(source: Path, parts: list[Path], output: Path, expected_frames: int) -> None:
    """Join the segments' H.264 runs and the source's audio into ``output``
    (written beside it under a hidden name, renamed when complete)."""
    partial = partial_path_for(output)
    written = 0
    try:
        with av.open(str(source), metadata_errors="ignore") as src, \
                av.open(str(parts[0])) as first, \
                av.open(str(partial), "w", format=output_format_for(output)) as dst:
            template = first.streams.video[0]
            video = dst.add_stream_from_template(template)
            video.time_base = template.time_base
            audio = {s.index: dst.add_stream_from_template(s) for s in src.streams.audio}
            for stream in [video, *audio.values()]:
                stream.metadata.clear()
            merged = heapq.merge(_video_packets(parts), _audio_packets(src),
                                 key=lambda entry: (entry[0], entry[1]))
            for _, kind, packet in merged:
                if kind == 0:
                    packet.stream = video
                    written += 1
                else:
                    packet.stream = audio[packet.stream.index]
                dst.mux(packet)
        if written != expected_frames:
            raise OutputError(f"{output}: the segments hold {written} frames, the source "
                              f"{expected_frames}; nothing written")
        os.replace(partial, output)
    except (av.error.FFmpegError, OSError) as exc:
        raise OutputError(f"{output}: cannot join the segments ({exc})") from exc
    finally:
        partial.unlink(missing_ok=True)


def _join_regions(parts: list[Path], segments: list[Segment], path: Path) -> None:
    """One regions log from the segments' (each lists its own frames, in
    order; ``index`` becomes the frame number in the source)."""
    merged: dict[str, Any] = {}
    frames: list[dict[str, Any]] = []
    start = 0
    for part, segment in zip(parts, segments, strict=True):
        data = json.loads(part.read_text(encoding="utf-8"))
        merged = merged or {k: data[k] for k in ("width", "height", "fps")}
        if len(data["frames"]) != segment.frames:
            raise OutputError(f"{path}: segment {segment.index + 1} logged "
                              f"{len(data['frames'])} frames for {segment.frames}")
        for offset, entry in enumerate(data["frames"]):
            frames.append({**entry, "index": start + offset})
        start += segment.frames
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        partial.write_text(json.dumps({**merged, "frames": frames}) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def anonymize_in_segments(
    source: Path,
    output: Path,
    settings: BatchSettings,
    *,
    jobs: int,
    min_seconds: float,
    on_frame: Callable[[int], None] | None = None,
    total_frames: Callable[[int], None] | None = None,
    runner: Runner = run_tasks,
    regions_json: Path | None = None,
) -> dict[str, object] | None:
    """Anonymize ``source`` into ``output`` in up to ``jobs`` segments run at
    once; ``None`` (nothing done) when the file is too short to split or has
    too few key frames: the caller then runs it in one piece."""
    started = time.monotonic()
    if not settings.splits_audio_safely:
        # The join copies the source's audio packets; muted, re-encoded or
        # disguised sound is made by a one-piece run.
        return None
    output_format_for(output)
    # Every check of a one-piece run, up front.
    with VideoReader(source, allow_damaged=settings.allow_damaged):
        pass
    layout = probe_layout(source)
    segments = plan_segments(layout, jobs, min_seconds=min_seconds)
    if len(segments) < 2:
        return None
    if total_frames is not None:
        total_frames(len(layout.times))
    parts_dir = output.with_name(f".{output.name}.{os.getpid()}.segments")
    parts_dir.mkdir(exist_ok=True)
    tasks = [Task(s.index, source, parts_dir / f"{s.index:04d}.mp4", "video", s.window,
                  regions_json=None if regions_json is None else
                  parts_dir / f"{s.index:04d}.regions.json", first_frame=s.first_frame)
             for s in segments]
    results: dict[int, Any] = {}

    def handle(kind: str, task: Task, value: Any) -> None:
        if kind == "advance" and on_frame is not None:
            on_frame(int(value))
        elif kind == "done":
            if not value.ok:
                cls = OutputError if value.disk_full else InputError
                raise cls(f"{source}: segment {task.index + 1} of {len(tasks)}: {value.error}")
            expected = segments[task.index].frames
            if value.frames != expected:
                raise InputError(f"{source}: segment {task.index + 1} gave {value.frames} "
                                 f"frames for {expected}")
            results[task.index] = value

    try:
        runner(tasks, settings, jobs, handle)
        if regions_json is not None:
            _join_regions([t.regions_json for t in tasks], segments,  # type: ignore[misc]
                          regions_json)
        join_segments(source, [task.target for task in tasks], output, len(layout.times))
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    seconds = time.monotonic() - started
    stats = file_stats(sum(r.frames for r in results.values()), seconds,
                       curtain_frames=sum(r.curtain_frames for r in results.values()),
                       regions_hidden=sum(r.faces for r in results.values()))
    stats["segments"] = len(segments)
    return stats
