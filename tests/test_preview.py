"""The preview window under Xvfb: it shows hidden faces, and its keys work."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from synthetic import write_clip
from waiting import DEADLINE, Running, wait_for

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
    with contextlib.suppress(AssertionError):
        wait_for(socket_path.exists, "Xvfb", timeout=60)
    if not socket_path.exists():
        server.kill()
        pytest.fail("Xvfb did not start")
    yield f":{number}"
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=10)


def _window(display: str, timeout: float = DEADLINE) -> tuple[str, tuple[int, int, int, int]]:
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
    # Two minutes: on a loaded machine the checks below take a while, and the
    # source must not end before `q` is pressed.
    boxes = write_clip(clip, frames=1800, fps=15, audio=False, size=(320, 240), face_height=90)
    stats = tmp_path / "stats.json"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    run = Running("run", "--source", clip, "--realtime", "--preview", "--stats-json", stats,
                  "-q", "--detector", "centerface", "--duration", "600", env=env)
    try:
        import cv2

        window, geometry = _window(display)
        shots = {}

        def showing_video() -> bool:
            # Past warm-up and the first detections: the video shows (not a
            # blank window, not the curtain of the first frames).
            shot = _screenshot(display, tmp_path / "shot.png", geometry)
            shots["shot"] = shot
            # A window not painted yet is flat grey and black (whose band
            # edges also have detail): most of the frame's area must be
            # neither.
            frame_area = shot[:240, :320]
            flat = float(np.mean((frame_area.max(axis=2) < 8) | (frame_area.min(axis=2) > 232)))
            # The frame is drawn at its size at the top left (the window may
            # be larger); below the overlay's lines.
            body = cv2.cvtColor(frame_area, cv2.COLOR_BGR2GRAY)[80:, :]
            # (The curtain is smooth: its detail is at most about 1; the clip's ~2.5.)
            detail = float(np.abs(cv2.Laplacian(body, cv2.CV_32F)).mean())
            return shot.std() > 10 and detail > 1.6 and flat < 0.3

        # Twice the usual deadline: on a loaded machine the run may rightly
        # stay behind its curtain a while (the detector starved of CPU).
        try:
            wait_for(showing_video, "the video in the preview", timeout=2 * DEADLINE)
        except AssertionError as error:
            raise AssertionError(f"{error}; the run said: {run.stderr[-2000:]!r}") from None
        shot = shots["shot"]
        # The face is hidden: scaled back to the frame size, the detector
        # finds nothing where the clip's face moves.

        frame = cv2.resize(shot, (320, 240), interpolation=cv2.INTER_AREA)
        found = centerface.detect(frame).xyxy
        track = np.array([min(b[0] for b in boxes), min(b[1] for b in boxes),
                          max(b[2] for b in boxes), max(b[3] for b in boxes)], np.float32)
        assert not len(found) or iou_matrix_xyxy(found, track[None]).max() < 0.2, found

        # `p` (panic): the whole picture is hidden; the overlay text aside,
        # no fine detail is left.
        key_env = {**os.environ, "DISPLAY": display}
        subprocess.run(["xdotool", "key", "--window", window, "p"], env=key_env, check=True)
        normal = cv2.cvtColor(shot[:240, :320], cv2.COLOR_BGR2GRAY)[80:, :]
        before = float(np.abs(cv2.Laplacian(normal, cv2.CV_32F)).mean())

        def hidden_whole() -> bool:
            panic = _screenshot(display, tmp_path / "panic.png", geometry)
            area = panic[:240, :320]
            body = cv2.cvtColor(area, cv2.COLOR_BGR2GRAY)[80:, :]
            painted = float(np.mean(area.max(axis=2) < 8)) < 0.3  # not a closed window
            return painted and float(np.abs(cv2.Laplacian(body, cv2.CV_32F)).mean()) < 0.5 * before

        wait_for(hidden_whole, "the panic curtain in the preview")

        # `q` quits cleanly, long before --duration.
        subprocess.run(["xdotool", "key", "--window", window, "q"], env=key_env, check=True)
        code = run.wait()
    finally:
        run.kill()
    assert code == 0, run.stderr
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
    run = Running("run", "--source", clip, "--realtime", "--preview", "-q", "--duration", "30",
                  env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            _, (_, _, width, height) = _window(display)
            if (width, height) == (720, 405) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert (width, height) == (720, 405)
    finally:
        run.process.terminate()
        run.wait(timeout=30)


def test_fit_window_keeps_small_frames_and_shrinks_large_ones():
    from livefilter.io.preview import fit_window

    assert fit_window((1280, 720), (1920, 1080)) == (1280, 720)
    assert fit_window((3840, 2160), (1920, 1080)) == (1728, 972)
    assert fit_window((1280, 720), (800, 600)) == (720, 405)
    assert fit_window((640, 480), None) == (640, 480)
