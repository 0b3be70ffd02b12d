"""A long video in segments (`file --jobs N`): same frames, timestamps, audio
and duration as one piece; faces hidden across the joins."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from synthetic import write_clip

from livefilter.apps.segments import Layout, plan_segments, probe_layout
from livefilter.boxes import iou_matrix_xyxy


def _timeline(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [(f.pts, round(float(f.pts * f.time_base), 6))
                  for f in container.decode(video)]
    with av.open(str(path)) as container:
        audio = [(p.pts, p.size) for p in container.demux(*container.streams.audio)
                 if p.size]
        duration = container.duration
    with av.open(str(path)) as container:
        keys = sum(1 for p in container.demux(container.streams.video[0]) if p.is_keyframe)
    return {"times": [t for _, t in frames], "audio": audio, "duration": duration,
            "keyframes": keys}


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    boxes = write_clip(path, frames=90, fps=15, size=(320, 240), face_height=70, keyint=15)
    return path, boxes


def test_segments_match_one_piece_frame_by_frame(long_clip, tmp_path, cli, centerface):
    source, boxes = long_clip
    whole, split = tmp_path / "whole.mp4", tmp_path / "split.mp4"
    stats = tmp_path / "stats.json"
    result = cli("file", source, "-o", whole, "-q", "--regions-json", tmp_path / "r1.json")
    assert result.returncode == 0, result.stderr
    result = cli("file", source, "-o", split, "-q", "--jobs", "3", "--min-segment", "1.5",
                 "--stats-json", stats, "--regions-json", tmp_path / "r3.json")
    assert result.returncode == 0, result.stderr
    assert json.loads(stats.read_text())["segments"] == 3
    # One regions log, indexed by source frame, as a one-piece run writes it.
    one_log = json.loads((tmp_path / "r1.json").read_text())
    split_log = json.loads((tmp_path / "r3.json").read_text())
    assert [f["index"] for f in split_log["frames"]] == list(range(90))
    assert [f["index"] for f in one_log["frames"]] == list(range(90))
    assert all(f["regions"] for f in split_log["frames"])

    one, parts = _timeline(whole), _timeline(split)
    assert len(parts["times"]) == len(one["times"]) == 90
    assert parts["times"] == one["times"]
    assert parts["audio"] == one["audio"] == _timeline(source)["audio"]
    assert parts["duration"] == one["duration"]
    assert parts["keyframes"] >= 3  # each segment starts with its own IDR frame
    assert not list(tmp_path.glob(".*"))  # no .part or segment folder left

    # Faces stay hidden on every frame, the frames at the joins included.
    with av.open(str(split)) as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    for image, face in zip(images, boxes, strict=True):
        found = centerface.detect(image).xyxy
        assert not len(found) or iou_matrix_xyxy(found, face[None]).max() <= 0.3


def test_short_file_with_jobs_stays_one_piece(long_clip, tmp_path, cli):
    source, _ = long_clip
    stats = tmp_path / "stats.json"
    result = cli("file", source, "-o", tmp_path / "out.mp4", "-q", "--jobs", "2",
                 "--stats-json", stats)  # 6 s, under the default --min-segment
    assert result.returncode == 0, result.stderr
    assert "segments" not in json.loads(stats.read_text())
    assert len(_timeline(tmp_path / "out.mp4")["times"]) == 90


def test_plan_splits_at_key_frames_with_margins():
    times = [i / 10 for i in range(100)]
    layout = Layout(times, keyframes=list(range(0, 100, 10)))
    segments = plan_segments(layout, 3, min_seconds=2.0, margin=1.0)
    assert [s.frames for s in segments] == [30, 40, 30]
    assert sum(s.frames for s in segments) == 100
    assert segments[1].own_from == times[30]
    # Reading starts at the last key frame at least the margin before.
    assert (segments[1].first_frame, segments[1].read_from) == (20, times[20])
    assert (segments[2].first_frame, segments[2].read_from) == (60, times[60])
    assert segments[0].own_until == segments[1].own_from
    assert segments[1].read_until == pytest.approx(times[70] + 1.0)
    assert segments[-1].own_until == float("inf")
    # Too short for the minimum: one piece.
    assert len(plan_segments(layout, 3, min_seconds=20.0)) == 1


def test_probe_layout_reads_key_frames(long_clip):
    layout = probe_layout(long_clip[0])
    assert len(layout.times) == 90
    assert layout.keyframes == list(range(0, 90, 15))


def test_segments_interrupted_leave_nothing(long_clip, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out_dir = tmp_path / "o"
    out_dir.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "livefilter", "file", str(long_clip[0]), "-o",
         str(out_dir / "out.mp4"), "-q", "--jobs", "2", "--min-segment", "1.5"],
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    seen = False
    while not seen and time.monotonic() < deadline and process.poll() is None:
        seen = any(out_dir.glob(".out.mp4.*.segments/.*.part"))
        time.sleep(0.05)
    assert seen, "never saw a segment being written"
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert list(out_dir.iterdir()) == []


def test_segment_starts_the_detector_cycle_where_one_piece_has_it(long_clip, tmp_path):
    from livefilter.apps.batch_worker import Task, Worker, run_task
    from livefilter.cli import build_parser
    from livefilter.cli.batch import batch_settings
    from livefilter.detections import Detections

    class CycleDetector:
        """Records where its cycle is set and how often it is called."""

        def __init__(self) -> None:
            self.runs: list[int] = []
            self._next = 0

        def seek_cycle(self, run_index: int) -> None:
            self._next = run_index

        def detect(self, image):
            self.runs.append(self._next)
            self._next += 1
            return Detections.empty()

    parser, _ = build_parser()
    worker = Worker(batch_settings(parser.parse_args(["batch", "x", "-o", "y"]), 2))
    fake = CycleDetector()
    worker._detectors["video"] = fake
    layout = probe_layout(long_clip[0])
    segment = plan_segments(layout, 3, min_seconds=1.5, margin=1.0)[1]
    task = Task(0, long_clip[0], tmp_path / "seg.mp4", "video", segment.window,
                first_frame=segment.first_frame)
    result = run_task(task, worker)
    assert result.ok, result.error
    assert result.frames == segment.frames
    # Call k of the segment runs what call first_frame + k of one piece runs.
    assert fake.runs[0] == segment.first_frame == 15
    assert fake.runs == list(range(15, 15 + len(fake.runs)))
    # A whole file after it starts the cycle afresh.
    fake.runs.clear()
    result = run_task(Task(1, long_clip[0], tmp_path / "whole.mp4", "video"), worker)
    assert result.ok and fake.runs[0] == 0
