"""The preview window under Xvfb: it shows hidden faces, and its keys work."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from synthetic import write_clip

from livefilter.boxes import iou_matrix_xyxy

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("Xvfb", "xdotool", "ffmpeg")),
    reason="needs Xvfb, xdotool and ffmpeg (installed by .ci/run)",
)


@pytest.fixture
def display(tmp_path):
    """A private X server for this test."""
    number = 90 + os.getpid() % 100
    while Path(f"/tmp/.X11-unix/X{number}").exists():
        number += 1
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten",
                               "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket_path = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 10
    while not socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not socket_path.exists():
        server.kill()
        pytest.fail("Xvfb did not start")
    yield f":{number}"
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=10)


def _window(display: str, timeout: float = 40) -> tuple[str, tuple[int, int, int, int]]:
    env = {**os.environ, "DISPLAY": display}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--name", "^livefilter$"],
                               capture_output=True, text=True, env=env, check=False)
        if found.stdout.strip():
            window = found.stdout.split()[-1]
            info = subprocess.run(["xwininfo", "-id", window], capture_output=True, text=True,
                                  env=env, check=False).stdout
            values = {}
            for line in info.splitlines():
                if ":" in line:
                    key, _, value = line.strip().partition(":")
                    values[key] = value.strip()
            geometry = (int(values["Absolute upper-left X"]), int(values["Absolute upper-left Y"]),
                        int(values["Width"]), int(values["Height"]))
            if geometry[2] > 50:
                return window, geometry
        time.sleep(0.3)
    pytest.fail("no preview window appeared")


def _screenshot(display: str, path: Path, geometry: tuple[int, int, int, int]) -> np.ndarray:
    import cv2

    x, y, width, height = geometry
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "x11grab", "-video_size",
                    f"{width}x{height}", "-i", f"{display}+{x},{y}", "-frames:v", "1", path],
                   check=True)
    image = cv2.imread(str(path))
    assert image is not None
    return image


def test_preview_shows_hidden_faces_and_keys_work(display, tmp_path, centerface):
    clip = tmp_path / "face.mp4"
    boxes = write_clip(clip, frames=300, fps=15, audio=False, size=(320, 240), face_height=90)
    stats = tmp_path / "stats.json"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    process = subprocess.Popen(
        [sys.executable, "-m", "livefilter", "run", "--source", str(clip), "--realtime",
         "--preview", "--stats-json", str(stats), "-q", "--detector", "centerface",
         "--duration", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        window, geometry = _window(display)
        time.sleep(3.0)  # past warm-up and the first detections
        shot = _screenshot(display, tmp_path / "shot.png", geometry)
        # The window shows the video (not a blank window)...
        assert shot.std() > 10
        # ...with the face hidden: scaled back to the frame size, the detector
        # finds nothing where the clip's face moves.
        import cv2

        frame = cv2.resize(shot, (320, 240), interpolation=cv2.INTER_AREA)
        found = centerface.detect(frame).xyxy
        track = np.array([min(b[0] for b in boxes), min(b[1] for b in boxes),
                          max(b[2] for b in boxes), max(b[3] for b in boxes)], np.float32)
        assert not len(found) or iou_matrix_xyxy(found, track[None]).max() < 0.2, found

        # `p` (panic): the whole picture is hidden; the overlay text aside,
        # no fine detail is left.
        key_env = {**os.environ, "DISPLAY": display}
        subprocess.run(["xdotool", "key", "--window", window, "p"], env=key_env, check=True)
        time.sleep(1.0)
        panic = _screenshot(display, tmp_path / "panic.png", geometry)
        body = cv2.cvtColor(panic, cv2.COLOR_BGR2GRAY)[geometry[3] // 3:, :]
        normal = cv2.cvtColor(shot, cv2.COLOR_BGR2GRAY)[geometry[3] // 3:, :]
        detail = float(np.abs(cv2.Laplacian(body, cv2.CV_32F)).mean())
        before = float(np.abs(cv2.Laplacian(normal, cv2.CV_32F)).mean())
        assert detail < 0.5 * before, (detail, before)

        # `q` quits cleanly, long before --duration.
        subprocess.run(["xdotool", "key", "--window", window, "q"], env=key_env, check=True)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    import json

    data = json.loads(stats.read_text())
    assert data["stop_reason"] == "quit from the preview"
    assert data["curtain_reasons"].get("panic", 0) >= 5


def test_window_opens_at_the_frame_size_fitted_to_the_screen(display, tmp_path):
    # A 1280x720 source on an 800x600 screen: scaled to 90% of the screen's
    # width, keeping the frame's shape.
    clip = tmp_path / "wide.mp4"
    write_clip(clip, frames=60, fps=15, audio=False, size=(1280, 720), face_height=120)
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    process = subprocess.Popen(
        [sys.executable, "-m", "livefilter", "run", "--source", str(clip), "--realtime",
         "--preview", "-q", "--duration", "30"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            _, (_, _, width, height) = _window(display)
            if (width, height) == (720, 405) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert (width, height) == (720, 405)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_fit_window_keeps_small_frames_and_shrinks_large_ones():
    from livefilter.io.preview import fit_window

    assert fit_window((1280, 720), (1920, 1080)) == (1280, 720)
    assert fit_window((3840, 2160), (1920, 1080)) == (1728, 972)
    assert fit_window((1280, 720), (800, 600)) == (720, 405)
    assert fit_window((640, 480), None) == (640, 480)
