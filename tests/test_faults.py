"""Faults while running: a source that disappears and comes back, a disk
that fills up, a stream target that goes away.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import MemorySink, SquareDetector, square_frame
from synthetic import count_decodable_frames, write_clip
from waiting import DEADLINE, Running, listening, wait_for

from livefilter.apps.live import LiveConfig, LivePipeline
from livefilter.boxes import iou_matrix_xyxy
from livefilter.errors import SourceError
from livefilter.io.capture import SourceConfig, open_source
from livefilter.regions import RedactionConfig

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FlakySource:
    """A live source that dies after ``die_after`` frames; ``reopen`` fails
    ``refusals`` times before a new one works.
    """

    def __init__(self, frames: list[np.ndarray], die_after: int | None) -> None:
        self.frames, self.die_after = frames, die_after
        self.height, self.width = frames[0].shape[:2]
        self.fps, self.live, self.name = 30.0, True, "flaky"
        self._next = 0
        self._started = time.monotonic()

    def read(self):
        if self.die_after is not None and self._next >= self.die_after:
            raise SourceError("flaky: unplugged")
        due = self._started + self._next / self.fps
        time.sleep(max(0.0, due - time.monotonic()))
        image = self.frames[self._next % len(self.frames)]
        self._next += 1
        return image, time.monotonic()

    def close(self) -> None:
        pass


def test_lost_source_gives_signal_lost_curtain_then_resumes():
    frames = [square_frame(160, 120, [(50 + i, 60, 30)], seed=i) for i in range(60)]
    attempts = {"count": 0}

    def reopen():
        attempts["count"] += 1
        if attempts["count"] < 3:
            raise SourceError("still unplugged")
        return FlakySource(frames, die_after=None)

    seen = {"lost": 0, "resumed": 0}
    pipeline = None

    def count(item) -> None:
        # Stop once 15 real frames came after the filler: no fixed duration.
        if "curtain: signal-lost" in item.notes:
            seen["lost"] += 1
        elif seen["lost"] and item.frame.index >= 0:
            seen["resumed"] += 1
            if seen["resumed"] == 15:
                pipeline.request_stop("enough")

    memory = MemorySink(on_write=count)
    pipeline = LivePipeline(
        FlakySource(frames, die_after=30), SquareDetector(), redaction=RedactionConfig(),
        config=LiveConfig(stats_interval=0, duration=DEADLINE), sinks=[memory], reopen=reopen,
    )
    stats = pipeline.run()
    lost = [r for r in memory.items if "curtain: signal-lost" in r.notes]
    # Backoff 0.5 + 1 + 2 s before the third attempt works: ~3.5 s of filler
    # at 30 fps; fewer on a loaded machine, but never none.
    assert len(lost) >= 10, len(lost)
    assert attempts["count"] == 3
    first_lost = memory.items.index(lost[0])
    resumed = [r for r in memory.items[first_lost:] if r.index >= 0]
    assert resumed, "frames did not resume after the source came back"
    # The filler never shows the square (nothing raw, not even the last
    # frame); only its "signal lost" text has sharp edges.
    last_square = np.array([[50 + 29 - 15, 45, 50 + 29 + 15, 75]], np.float32)
    for record in lost:
        found = SquareDetector.find(record.image)
        assert not len(found) or iou_matrix_xyxy(found, last_square).max() < 0.3
    # (More if the sink had to drop some of them: it never blocks the output.)
    assert stats["curtain_reasons"]["signal-lost"] >= len(lost)
    assert stats["stop_reason"] == "enough"


def _frames_in(run: Running) -> int:
    """The newest "in N" of the stats lines printed so far."""
    counts = re.findall(r"\| in (\d+) out", run.stderr)
    return int(counts[-1]) if counts else 0


def test_stream_source_stopped_and_restarted(tmp_path):
    """A real ffmpeg HTTP source stops and starts again: the run survives.
    Each step waits for what livefilter says (stderr), not for the clock."""
    clip = tmp_path / "face.mp4"
    write_clip(clip, frames=60, fps=15, audio=False)
    port = _free_port()

    def serve() -> subprocess.Popen:
        server = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c:v",
             "libx264", "-g", "15", "-f", "mpegts", "-listen", "1",
             f"http://127.0.0.1:{port}/live.ts"])
        wait_for(lambda: listening(port) or server.poll() is not None, "the ffmpeg server")
        return server

    server = serve()
    stats_path = tmp_path / "stats.json"
    run = Running("run", "--source", f"http://127.0.0.1:{port}/live.ts", "--null",
                  "--stats-interval", "0.5", "--stats-json", stats_path)
    try:
        wait_for(lambda: _frames_in(run) >= 30 or run.ended(), "frames from the source")
        server.kill()
        server.wait()
        wait_for(lambda: "source lost" in run.stderr or run.ended(), "the source to be lost")
        server = serve()
        wait_for(lambda: "source back" in run.stderr or run.ended(), "the source to come back")
        back_at = _frames_in(run)
        wait_for(lambda: _frames_in(run) >= back_at + 30 or run.ended(),
                 "frames after the source came back")
        run.process.send_signal(signal.SIGTERM)
        code = run.wait()
    finally:
        server.kill()
        run.kill()
    assert code == 0, run.stderr
    assert "Traceback" not in run.stderr
    data = json.loads(stats_path.read_text())
    assert data["curtain_reasons"].get("signal-lost", 0) > 0
    assert data["frames_in"] > 60


def _limit_file_size(limit: int):
    def apply() -> None:
        # Ignore SIGXFSZ so a write past the limit fails with EFBIG instead
        # of killing the process: what a full disk looks like to a program.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_while_recording_keeps_other_outputs(tmp_path):
    clip = tmp_path / "face.mp4"
    write_clip(clip, frames=90, fps=15, audio=False)
    out = tmp_path / "rec.mkv"
    regions = tmp_path / "regions.json"
    process = subprocess.run(
        # Not --realtime: read as fast as the pipeline goes, no frame is
        # dropped however loaded the machine, so the regions log is complete.
        [sys.executable, "-m", "livefilter", "run", "--source", clip, "--record",
         out, "--null", "-q", "--regions-json", regions, "--record-crf", "0"],
        capture_output=True, text=True, preexec_fn=_limit_file_size(150_000), timeout=DEADLINE,
        check=False,
    )
    assert process.returncode == 1, process.stderr
    assert "Traceback" not in process.stderr
    errors = [line for line in process.stderr.splitlines() if "error" in line.lower()]
    assert errors and any("record" in line for line in errors), process.stderr
    # The recording holds what was written before the disk filled, and decodes.
    assert count_decodable_frames(out) > 0
    # The other output went on to the end of the file.
    log = json.loads(regions.read_text())
    assert len(log["frames"]) >= 85


def test_stream_target_that_goes_away_is_retried(tmp_path):
    short = tmp_path / "short.mp4"
    write_clip(short, frames=60, fps=15, audio=False)
    # 15 copies end to end, 60 s: far longer than the run needs, which is
    # stopped by a signal.
    clip = tmp_path / "face.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "14", "-i", short, "-c", "copy",
                    clip], check=True, timeout=DEADLINE)
    port = _free_port()
    received = {"first": 0, "second": 0}

    def receive(key: str, server: socket.socket, enough: int) -> None:
        server.settimeout(DEADLINE)
        connection, _ = server.accept()
        connection.settimeout(DEADLINE)
        while received[key] < enough:
            data = connection.recv(65536)
            if not data:
                break
            received[key] += len(data)
        connection.close()

    def listen() -> socket.socket:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(1)
        return server

    server = listen()
    stats_path = tmp_path / "stats.json"
    run = Running("run", "--source", clip, "--realtime", "--stream",
                  f"tcp://127.0.0.1:{port}", "--null", "-q", "--stats-json", stats_path)
    try:
        receive("first", server, 20_000)  # then the target "goes away"
        server.close()
        wait_for(lambda: "write failed" in run.stderr or run.ended(),
                 "livefilter to notice the target is gone")
        server = listen()
        thread = threading.Thread(target=receive, args=("second", server, 10_000), daemon=True)
        thread.start()
        wait_for(lambda: not thread.is_alive() or run.ended(), "the second connection's data")
        run.process.send_signal(signal.SIGTERM)
        code = run.wait()
        thread.join(timeout=10)
    finally:
        server.close()
        run.kill()
    stderr = run.stderr
    # Frames were lost for the stream while its target was away: said in the
    # stats and the exit status, not reported as success.
    assert code == 1, stderr
    assert received["first"] >= 20_000 and received["second"] >= 10_000, received
    assert "reconnected" in stderr
    data = json.loads(stats_path.read_text())
    assert data["stop_reason"] == "SIGTERM"
    assert data["sinks"]["null"]["dropped"] == 0
    assert data["sinks"]["null"]["written"] == data["frames_out"]
    stream = data["sinks"]["stream"]
    assert stream["skipped"] > 0 and stream["written"] < data["frames_out"]
    assert "frames not sent" in data["sink_errors"]["stream"]
    assert "livefilter: error: stream:" in stderr


def test_file_source_is_not_retried(tmp_path):
    missing = Path(tmp_path / "gone.mp4")
    with pytest.raises(Exception, match="no such file"):
        open_source(SourceConfig(source=str(missing)))
