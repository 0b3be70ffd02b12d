"""`--ray ADDRESS`: batch and segments on a real local Ray cluster (a head and
a second node, both on 127.0.0.1), started here and stopped after."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import pytest
from synthetic import astronaut_bgr, write_clip

ray = pytest.importorskip("ray", reason="the ray extra is not installed (make setup installs it)")

RAY = Path(sys.executable).with_name("ray")
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    port, client_port = _free_port(), _free_port()
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
              "--object-store-memory=100000000"]
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                        f"--ray-client-server-port={client_port}", *common],
                       check=True, capture_output=True, env=ENV, timeout=300)
        subprocess.run([RAY, "start", f"--address=127.0.0.1:{port}", *common],
                       check=True, capture_output=True, env=ENV, timeout=300)
        yield {"gcs": f"127.0.0.1:{port}", "client": f"ray://127.0.0.1:{client_port}"}
    finally:
        subprocess.run([RAY, "stop"], capture_output=True, env=ENV, timeout=300, check=False)


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "livefilter-summary.csv").open(encoding="utf-8") as file:
        return {row["file"]: row for row in csv.DictReader(file)}


def _cli(*args: object, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livefilter", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout,
                          check=False)


def _times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def test_batch_on_ray_cluster_and_resume(ray_cluster, tmp_path):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    cv2.imwrite(str(source / "a.jpg"), astronaut_bgr())
    cv2.imwrite(str(source / "sub" / "b.png"), astronaut_bgr())
    write_clip(source / "sub" / "c.mp4", frames=20, fps=10, size=(256, 192))
    (source / "junk.bin").write_bytes(b"x")
    out = tmp_path / "out"
    result = _cli("batch", source, "-o", out, "--ray", ray_cluster["gcs"], "-q")
    assert result.returncode == 0, result.stderr
    rows = _summary(out)
    assert {k: v["status"] for k, v in rows.items()} == {
        "in/a.jpg": "done", "in/sub/b.png": "done", "in/sub/c.mp4": "done",
        "in/junk.bin": "skipped",
    }
    assert int(rows["in/a.jpg"]["faces_hidden"]) >= 1
    assert _times(out / "in" / "sub" / "c.mp4") == _times(source / "sub" / "c.mp4")

    # The same manifest: a re-run (through Ray Client this time) redoes nothing.
    result = _cli("batch", source, "-o", out, "--ray", ray_cluster["client"], "-q")
    assert result.returncode == 0, result.stderr
    assert {v["status"] for k, v in _summary(out).items() if k != "in/junk.bin"} == \
        {"unchanged"}


def test_segments_on_ray_cluster(ray_cluster, tmp_path):
    source = tmp_path / "long.mp4"
    write_clip(source, frames=60, fps=15, size=(256, 192), keyint=15)
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    result = _cli("file", source, "-o", out, "--ray", ray_cluster["gcs"], "--jobs", "2",
                  "--min-segment", "1.5", "--stats-json", stats, "-q")
    assert result.returncode == 0, result.stderr
    assert json.loads(stats.read_text())["segments"] == 2
    assert _times(out) == _times(source)


# Ray notices the lost worker and leases a new one; under a loaded machine that
# recovery alone has taken over the suite's 300 s default, so this test gets the
# sum of its own two deadlines.
@pytest.mark.timeout(900)
def test_ray_task_retried_when_its_worker_dies(ray_cluster, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    write_clip(source / "v.mp4", frames=90, fps=15, size=(320, 240))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "livefilter", "batch", str(source), "-o", str(out),
         "--ray", ray_cluster["gcs"], "-q"], env=ENV, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and process.poll() is None:
        for part in out.rglob(".v.mp4.*.part"):
            pid = int(part.name.split(".")[-2])  # the Ray worker writing it
            try:
                os.kill(pid, signal.SIGKILL)
                killed = pid
            except ProcessLookupError:
                continue
            break
        time.sleep(0.05)
    assert killed is not None, "never saw the worker's partial file"
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    row = _summary(out)["in/v.mp4"]
    assert row["status"] == "done" and int(row["frames"]) == 90


def test_unreachable_ray_address_is_one_line(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), astronaut_bgr())
    for address in (f"127.0.0.1:{_free_port()}", f"ray://127.0.0.1:{_free_port()}"):
        result = _cli("batch", tmp_path / "a.jpg", "-o", tmp_path / "out", "--ray", address,
                      timeout=120)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert "no Ray cluster answers" in result.stderr


def test_worker_without_the_shared_path_fails_that_file_only(tmp_path):
    from livefilter.apps.batch_worker import Task
    from livefilter.apps.ray_runner import _run_remote
    from livefilter.cli import build_parser
    from livefilter.cli.batch import batch_settings

    parser, _ = build_parser()
    args = parser.parse_args(["batch", "x", "-o", "y"])
    task = Task(0, tmp_path / "gone" / "a.mp4", tmp_path / "out" / "a.mp4", "video")
    result = _run_remote(task, batch_settings(args, 2))
    assert not result.ok and "every node shares" in result.error


class _FlakyRay:
    """A stand-in ``ray`` module whose ``init`` fails with ``errors`` in turn."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        self.inits = 0

    def is_initialized(self) -> bool:
        return False

    def init(self, **_kwargs) -> None:
        self.inits += 1
        if self.errors:
            raise RuntimeError(self.errors.pop(0))

    def shutdown(self) -> None:
        pass


def test_a_busy_head_is_retried_and_other_connect_errors_are_not(monkeypatch):
    from livefilter.apps import ray_runner

    monkeypatch.setattr(ray_runner, "_check_reachable", lambda address: None)
    monkeypatch.setattr(ray_runner.time, "sleep", lambda seconds: None)
    busy = "Initialization failure from server: Traceback ... RuntimeError()"
    flaky = _FlakyRay([busy, busy])
    monkeypatch.setattr(ray_runner, "_import_ray", lambda: flaky)
    assert ray_runner.connect("ray://127.0.0.1:1") is flaky
    assert flaky.inits == 3

    always_busy = _FlakyRay([busy] * 5)
    monkeypatch.setattr(ray_runner, "_import_ray", lambda: always_busy)
    with pytest.raises(ray_runner.RayUnavailableError, match="cannot connect"):
        ray_runner.connect("ray://127.0.0.1:1")
    assert always_busy.inits == ray_runner._CONNECT_ATTEMPTS

    refused = _FlakyRay(["version mismatch"])
    monkeypatch.setattr(ray_runner, "_import_ray", lambda: refused)
    with pytest.raises(ray_runner.RayUnavailableError, match="version mismatch"):
        ray_runner.connect("ray://127.0.0.1:1")
    assert refused.inits == 1
