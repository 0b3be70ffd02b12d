"""Signals: every requested stop of `run` is a clean stop (stats written,
recording finalized), also while the source is reconnecting and on SIGHUP;
`file` stopped by SIGTERM or SIGHUP leaves no `.part` behind; signals while
`run` exits never print a traceback.

Every wait is on a condition (a stderr line, a file) with a generous
deadline: these tests must pass on a loaded machine.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import av
import pytest
from conftest import SquareDetector, square_frame
from synthetic import write_clip
from waiting import DEADLINE, Running, listening, wait_for

from livefilter.apps.live import LiveConfig, LivePipeline
from livefilter.errors import SourceError
from livefilter.regions import RedactionConfig

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "face.mp4"
    write_clip(path, frames=150, fps=15, audio=False)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- run: reconnecting
class _DiesSource:
    """A live source that is unplugged after 10 frames."""

    def __init__(self) -> None:
        self.frames = [square_frame(160, 120, [(40 + i, 60, 30)], seed=i) for i in range(10)]
        self.height, self.width = 120, 160
        self.fps, self.live, self.name = 30.0, True, "dies"
        self._next = 0

    def read(self):
        if self._next >= len(self.frames):
            raise SourceError("dies: unplugged")
        time.sleep(1 / 30)
        self._next += 1
        return self.frames[self._next - 1], time.monotonic()

    def close(self) -> None:
        pass


def test_stop_while_reconnecting_is_a_clean_stop():
    attempts = threading.Event()

    def reopen():
        attempts.set()
        raise SourceError("still unplugged")

    pipeline = LivePipeline(_DiesSource(), SquareDetector(), redaction=RedactionConfig(),
                            config=LiveConfig(stats_interval=0), reopen=reopen)

    def stop_once_reconnecting() -> None:
        attempts.wait(DEADLINE)
        pipeline.request_stop("SIGTERM")

    threading.Thread(target=stop_once_reconnecting, daemon=True).start()
    stats = pipeline.run()  # used to raise the source's error
    assert attempts.is_set()
    assert stats["stop_reason"] == "SIGTERM"
    assert stats["frames_in"] == 10


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_the_stream_source_reconnects(sig, clip, tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c:v", "libx264",
         "-g", "15", "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/live.ts"])
    wait_for(lambda: listening(port), "the ffmpeg server")
    stats_path = tmp_path / "stats.json"
    run = Running("-v", "run", "--source", f"http://127.0.0.1:{port}/live.ts", "--null",
                  "-q", "--stats-json", stats_path)
    try:
        # "warm-up" is logged once the source is open and the models loaded.
        wait_for(lambda: "warm-up" in run.stderr or run.process.poll() is not None,
                 "the run to start")
        server.kill()
        server.wait()
        wait_for(lambda: "source lost" in run.stderr or run.process.poll() is not None,
                 "the source to be lost")
        run.process.send_signal(sig)
        code = run.wait()
    finally:
        server.kill()
        run.kill()
    assert code == 0, run.stderr
    assert "Traceback" not in run.stderr
    data = json.loads(stats_path.read_text())
    assert data["stop_reason"] == sig.name


def _recording(clip, out: Path, stats_path: Path) -> Running:
    """``run`` on ``clip`` at its own pace, recording to ``out``."""
    return Running("run", "--source", clip, "--realtime", "--record", out, "--stats-json",
                   stats_path, "-q")


def _wait_for_recording(run: Running, out: Path, size: int) -> None:
    wait_for(lambda: (out.exists() and out.stat().st_size > size)
             or run.process.poll() is not None, f"the recording to pass {size} bytes")


# ------------------------------------------------------------------- run: SIGHUP
def test_sighup_stops_run_cleanly_with_the_recording_finalized(clip, tmp_path):
    out = tmp_path / "rec.mp4"
    stats_path = tmp_path / "stats.json"
    run = _recording(clip, out, stats_path)
    try:
        _wait_for_recording(run, out, 20_000)
        run.process.send_signal(signal.SIGHUP)
        code = run.wait()
    finally:
        run.kill()
    assert code == 0, run.stderr
    data = json.loads(stats_path.read_text())
    assert data["stop_reason"] == "SIGHUP"
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == data["sinks"]["record"]["written"] > 0


# ---------------------------------------------------------- run: signals at exit
def test_signals_while_run_exits_print_no_traceback(clip, tmp_path):
    out = tmp_path / "rec.mkv"
    stats_path = tmp_path / "stats.json"
    run = _recording(clip, out, stats_path)
    try:
        _wait_for_recording(run, out, 5_000)
        # Ctrl-C, then Ctrl-C again and again while it stops and exits.
        while run.process.poll() is None:
            run.process.send_signal(signal.SIGINT)
            time.sleep(0.02)
        code = run.wait()
    finally:
        run.kill()
    assert "Exception ignored" not in run.stderr, run.stderr
    assert "KeyboardInterrupt" not in run.stderr and "Traceback" not in run.stderr
    assert code == 0, run.stderr
    assert json.loads(stats_path.read_text())["stop_reason"] == "SIGINT"


# -------------------------------------------------------------------------- file
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_file_stopped_by_a_signal_leaves_no_part_file(sig, tmp_path):
    source = tmp_path / "long.mp4"
    write_clip(source, frames=450, fps=15, audio=False)
    out = tmp_path / "out.mp4"
    run = Running("file", source, "-o", out, "-q")

    def parts() -> list[Path]:
        return list(tmp_path.glob(".out.mp4.*.part"))

    try:
        wait_for(lambda: parts() or run.process.poll() is not None, "the .part file")
        assert parts(), run.stderr
        run.process.send_signal(sig)
        code = run.wait()
    finally:
        run.kill()
    assert code == 128 + sig, run.stderr
    assert not parts() and not out.exists()
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines == [f"livefilter: stopped by {sig.name}"], run.stderr
