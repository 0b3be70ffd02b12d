"""`livefilter run` with real I/O: local ffmpeg sources, a UDP stream read back,
recordings that survive SIGKILL, clean stops on signals, the virtual camera
through pyvirtualcam's backend registry.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import av
import numpy as np
import pytest
from synthetic import count_decodable_frames, write_clip
from waiting import DEADLINE, Running, listening, wait_for

from livefilter.boxes import iou_matrix_xyxy

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """8 s at 15 fps, 320x240, one face drifting: the live source in these tests."""
    path = tmp_path_factory.mktemp("live") / "face.mp4"
    boxes = write_clip(path, frames=120, fps=15, audio=False)
    return path, boxes


def start_livefilter(*args: str | Path, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "livefilter", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )


def _faces_visible(detector, image: np.ndarray, face: np.ndarray) -> bool:
    found = detector.detect(image).xyxy
    return bool(len(found)) and iou_matrix_xyxy(found, face[None]).max() > 0.3


def test_http_source_served_by_ffmpeg(face_clip, tmp_path, cli):
    clip, _ = face_clip
    port = free_port()
    server = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c:v", "libx264",
         "-g", "15", "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/live.ts"],
    )
    try:
        wait_for(lambda: listening(port) or server.poll() is not None, "the ffmpeg server")
        stats = tmp_path / "stats.json"
        result = cli("run", "--source", f"http://127.0.0.1:{port}/live.ts", "--null",
                     "--duration", "5", "--stats-json", stats, "-q", "--detector", "centerface")
        assert result.returncode == 0, result.stderr
        data = json.loads(stats.read_text())
        assert data["frames_out"] >= 30
        assert set(data) >= {"frames_in", "frames_out", "dropped", "fps_out", "detector_hz",
                             "curtain_frames", "latency_ms"}
        assert set(data["latency_ms"]) == {"p50", "p95", "p99"}
    finally:
        server.kill()
        server.wait()


def test_udp_source_and_udp_stream_read_back(face_clip, tmp_path, centerface):
    """ffmpeg plays a clip into UDP; livefilter reads it and streams its output
    to another UDP port, which PyAV reads back: faces are hidden there.
    """
    clip, boxes = face_clip
    port_in = free_port(socket.SOCK_DGRAM)
    port_out = free_port(socket.SOCK_DGRAM)
    received: list[np.ndarray] = []
    reader_error: list[BaseException] = []

    def read_back() -> None:
        try:
            with av.open(f"udp://127.0.0.1:{port_out}?timeout=15000000", format="mpegts",
                         timeout=15) as container:
                for frame in container.decode(video=0):
                    received.append(frame.to_ndarray(format="bgr24"))
                    if len(received) >= 40:
                        return
        except (av.error.FFmpegError, OSError) as exc:
            reader_error.append(exc)

    reader = threading.Thread(target=read_back, daemon=True)
    reader.start()
    process = start_livefilter(
        "run", "--source", f"udp://127.0.0.1:{port_in}?timeout=10000000", "--stream",
        f"udp://127.0.0.1:{port_out}?pkt_size=1316", "--duration", "9", "-q",
        "--detector", "centerface",
    )
    # livefilter is listening before the sender starts.
    wait_for(lambda: listening(port_in, udp=True) or process.poll() is not None,
             "livefilter to bind its UDP source")
    sender = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c:v", "libx264",
         "-g", "10", "-f", "mpegts", f"udp://127.0.0.1:{port_in}?pkt_size=1316"],
    )
    try:
        reader.join(timeout=DEADLINE)
        _, stderr = process.communicate(timeout=DEADLINE)
    finally:
        sender.kill()
        sender.wait()
        process.kill()
    assert process.returncode == 0, stderr
    assert not reader_error, reader_error
    assert len(received) >= 40
    assert received[0].shape == (240, 320, 3)
    # Each received frame is either hidden whole or has the face hidden: the
    # detector finds no face anywhere near where the clip has one.
    union = np.array([min(b[0] for b in boxes), min(b[1] for b in boxes),
                      max(b[2] for b in boxes), max(b[3] for b in boxes)], np.float32)
    for image in received:
        found = centerface.detect(image).xyxy
        assert not len(found) or iou_matrix_xyxy(found, union[None]).max() < 0.05 or all(
            iou_matrix_xyxy(found, b[None]).max() < 0.3 for b in boxes)


def _frames_out(run: Running) -> int:
    """The newest "out N" of the stats lines printed so far."""
    counts = re.findall(r" out (\d+) dropped", run.stderr)
    return int(counts[-1]) if counts else 0


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_recording_survives_sigkill(face_clip, tmp_path, suffix):
    clip, _ = face_clip
    out = tmp_path / f"rec{suffix}"
    run = Running("run", "--source", clip, "--realtime", "--record", out,
                  "--stats-interval", "0.5")
    try:
        # Let it record 60 frames (4 s at 15 fps: a few 1 s clusters), as the
        # stats lines say: after model load and warm-up, however long those take.
        wait_for(lambda: _frames_out(run) >= 60 or run.ended(), "60 frames out")
        run.process.send_signal(signal.SIGKILL)
        run.wait()
    finally:
        run.kill()
    assert out.stat().st_size > 0
    frames = count_decodable_frames(out)
    # 2+ s recorded at 15 fps: most of those frames are there.
    assert frames >= 25, frames


def test_sigterm_and_sigint_stop_cleanly_with_recording_finalized(face_clip, tmp_path):
    clip, _ = face_clip
    for sig in (signal.SIGTERM, signal.SIGINT):
        out = tmp_path / f"rec-{sig.name}.mp4"
        stats = tmp_path / f"stats-{sig.name}.json"
        process = start_livefilter("run", "--source", clip, "--realtime", "--record", out,
                                   "--stats-json", stats, "-q")
        def recording(out=out, process=process) -> bool:
            return (out.exists() and out.stat().st_size >= 20_000) or process.poll() is not None

        wait_for(recording, "the recording to grow")
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=DEADLINE)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        data = json.loads(stats.read_text())
        assert data["stop_reason"] == sig.name
        with av.open(str(out)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == data["sinks"]["record"]["written"] > 0


def test_duration_and_file_end_stop_cleanly(face_clip, tmp_path, cli):
    clip, _ = face_clip
    stats = tmp_path / "stats.json"
    regions = tmp_path / "regions.json"
    # Without --realtime the file is read as fast as possible and nothing is dropped.
    result = cli("run", "--source", clip, "--null", "--stats-json", stats, "--regions-json",
                 regions, "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(stats.read_text())
    assert data["stop_reason"] == "source ended"
    assert data["frames_out"] == data["frames_in"] == 120 and data["dropped"] == 0
    indices = [f["index"] for f in json.loads(regions.read_text())["frames"]]
    assert indices == list(range(120))
    result = cli("run", "--source", clip, "--realtime", "--null", "--duration", "2",
                 "--stats-json", stats, "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(stats.read_text())
    assert data["stop_reason"] == "duration reached"
    assert 10 <= data["frames_out"] <= 45


class RecordingCamera:
    """A pyvirtualcam backend that keeps the frames it is sent."""

    instances: ClassVar[list[RecordingCamera]] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int,
                 device: str | None, **_: object) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.fourcc = fourcc
        self._device = device or "/dev/video-test"
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> None:
        return None


def test_virtual_camera_receives_hidden_frames(face_clip, tmp_path, centerface):
    import pyvirtualcam

    from livefilter.cli import main

    pyvirtualcam.register_backend("livefilter-test-recorder", RecordingCamera)
    RecordingCamera.instances.clear()
    clip, boxes = face_clip
    stats = tmp_path / "stats.json"
    regions = tmp_path / "regions.json"
    status = main(["run", "--source", str(clip), "--realtime", "--vcam",
                   "--vcam-backend", "livefilter-test-recorder", "--duration", "5",
                   "--stats-json", str(stats), "--regions-json", str(regions), "-q",
                   "--detector", "centerface"])
    assert status == 0
    camera = RecordingCamera.instances[-1]
    assert camera.closed
    assert (camera.width, camera.height) == (320, 240)
    assert camera.fps == pytest.approx(15)
    assert len(camera.frames) >= 40
    assert camera.frames[0].size == 320 * 240 * 3
    log = {f["index"]: f for f in json.loads(regions.read_text())["frames"]}
    for image in camera.frames[::3]:
        image = image.reshape(240, 320, 3)
        assert not any(_faces_visible(centerface, image, b) for b in boxes)
    shown = [f for f in log.values() if not f["curtain"]]
    assert shown, "every frame was curtain"
    assert all(f["regions"] for f in shown)


def test_missing_virtual_camera_explains_modprobe(face_clip, tmp_path, cli):
    clip, _ = face_clip
    result = cli("run", "--source", clip, "--vcam", "/dev/video63", "--duration", "2")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "modprobe v4l2loopback" in lines[0], result.stderr


def test_bad_sources_and_no_output(tmp_path, cli):
    port = free_port()
    cases = [
        (["run", "--null", "--source", "/dev/video42"], "camera /dev/video42 not found"),
        (["run", "--null", "--source", str(tmp_path / "nope.mp4")], "no such file"),
        (["run", "--null", "--source", f"http://127.0.0.1:{port}/x.ts"], "stream"),
        (["run", "--source", "0"], "no output"),
        (["run", "--null", "--stream", "ftp://x"], "stream"),
    ]
    for args, expected in cases:
        result = cli(*args)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode != 0, args
        assert len(lines) == 1 and expected in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_run_options_from_config_file(face_clip, tmp_path, cli):
    clip, _ = face_clip
    config = tmp_path / "live.toml"
    config.write_text(f'[run]\nsource = "{clip}"\nnull = true\nduration = 1.5\nrealtime = true\n'
                      f'stats-json = "s.json"\nquiet = true\n')
    result = cli("--config", config, "run", "--duration", "2.5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["stop_reason"] == "duration reached"
    # The command line's 2.5 s won over the file's 1.5 s: well over 1.5 s of 15 fps frames.
    assert data["frames_out"] >= 28


def test_devices_lists_cameras_and_loopbacks(tmp_path):
    from livefilter.io.devices import list_devices

    sysfs = tmp_path / "sys" / "class" / "video4linux"
    real = tmp_path / "sys" / "devices" / "pci0000:00" / "usb1" / "video4linux" / "video0"
    virtual = tmp_path / "sys" / "devices" / "virtual" / "video4linux" / "video10"
    for target, name in ((real, "Integrated Camera"), (virtual, "livefilter")):
        target.mkdir(parents=True)
        (target / "name").write_text(name + "\n")
    sysfs.mkdir(parents=True)
    (sysfs / "video0").symlink_to(real)
    (sysfs / "video10").symlink_to(virtual)
    devices = list_devices(sysfs, Path("/dev"))
    assert [(d.path, d.name, d.loopback) for d in devices] == [
        ("/dev/video0", "Integrated Camera", False),
        ("/dev/video10", "livefilter", True),
    ]
    assert list_devices(tmp_path / "none") == []


def test_devices_command_without_devices(cli):
    result = cli("devices")
    assert result.returncode == 0
    if not Path("/sys/class/video4linux").exists() or not any(
            Path("/sys/class/video4linux").iterdir()):
        assert "modprobe v4l2loopback" in result.stdout

