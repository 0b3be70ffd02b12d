"""Shared fixtures: data-set location, the detector, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("LIVEFILTER_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` beside the repository (not shipped with it)."""
    if not (DATA_DIR / "wider_dev" / "labels.json").is_file():
        pytest.skip(f"shared data set not found at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(scope="session")
def centerface():
    """The CenterFace detector. Missing model = a broken setup: fail, do not skip."""
    from livefilter.detect import DetectorConfig, build_detector
    from livefilter.errors import ModelMissingError

    try:
        return build_detector(DetectorConfig(kind="centerface", threshold=0.2))
    except ModelMissingError as exc:
        pytest.fail(f"{exc} — `make setup` installs it")


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: Path | None = None) -> CliResult:
    """Run ``livefilter`` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    process = subprocess.run(
        [sys.executable, "-m", "livefilter", *map(str, args)],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd, check=False,
    )
    return CliResult(process.returncode, process.stdout, process.stderr)


@pytest.fixture
def cli():
    return run_cli


# --------------------------------------------------------------------------- fakes
# A scripted world for pipeline tests: "faces" are white squares on a dark,
# textured background, found by a detector that thresholds for them. No model,
# no camera, no timing luck.

import threading  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from livefilter.detections import Detections  # noqa: E402


def square_frame(width: int, height: int, squares: list[tuple[float, float, float]],
                 seed: int = 0) -> np.ndarray:
    """A BGR frame with checkerboard squares ``(centre_x, centre_y, side)`` (4 px
    cells, black and white) on a smooth gradient with faint noise.

    Redaction destroys the fine checkerboard; nothing else in the frame has
    such contrast, so :class:`SquareDetector` sees a square only while it is
    not hidden.
    """
    rng = np.random.default_rng(seed)
    ramp = np.linspace(60, 140, width, dtype=np.float32)[None, :, None]
    image = np.repeat(np.repeat(ramp, height, axis=0), 3, axis=2)
    image += rng.normal(0, 2, image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for cx, cy, side in squares:
        left, top = round(cx - side / 2), round(cy - side / 2)
        x1, y1 = max(0, left), max(0, top)
        x2, y2 = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
        if x2 <= x1 or y2 <= y1:
            continue
        # The pattern moves with the square (its own coordinates), so optical
        # flow sees it move; cells grow towards the centre so it is not
        # periodic (a plain checkerboard would alias the flow).
        ys, xs = np.mgrid[y1 - top:y2 - top, x1 - left:x2 - left]
        u, v = xs / side - 0.5, ys / side - 0.5
        radius = np.sqrt(u * u + v * v)
        checker = ((np.floor(xs / (3 + 6 * radius)) + np.floor(ys / (3 + 6 * radius))) % 2 * 255)
        image[y1:y2, x1:x2] = checker.astype(np.uint8)[:, :, None]
    return image


class SquareDetector:
    """Finds the checkerboard squares of :func:`square_frame`; optional delays
    and failures.
    """

    name = "squares"

    def __init__(self, *, delay: float = 0.0, first_delay: float = 0.0,
                 fail_between: tuple[int, int] | None = None) -> None:
        self.delay = delay
        self.first_delay = first_delay
        self.fail_between = fail_between
        self.calls = 0
        self._lock = threading.Lock()

    @staticmethod
    def find(frame_bgr: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        edges = (np.abs(cv2.Laplacian(gray, cv2.CV_32F)) > 150).astype(np.uint8)
        edges = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(edges)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, area in stats[1:count] if area >= 64]
        return np.array(boxes, np.float32).reshape(-1, 4)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        if not frame_bgr.any():  # the pipeline's warm-up call on a blank frame
            return Detections.empty()
        with self._lock:
            call = self.calls
            self.calls += 1
        if call == 0 and self.first_delay:
            time.sleep(self.first_delay)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_between is not None and self.fail_between[0] <= call < self.fail_between[1]:
            raise RuntimeError(f"scripted detector failure on call {call}")
        boxes = self.find(frame_bgr)
        return Detections(boxes, np.ones(len(boxes)))


class ScriptedSource:
    """Frames from a list, released in real time when ``live``."""

    def __init__(self, frames: list[np.ndarray], *, fps: float = 30.0, live: bool = True,
                 fail_at: int | None = None) -> None:
        self.frames = frames
        self.fps = fps
        self.live = live
        self.height, self.width = frames[0].shape[:2]
        self.name = "scripted"
        self._next = 0
        self._started: float | None = None
        self._fail_at = fail_at

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._next >= len(self.frames):
            return None
        if self._fail_at is not None and self._next == self._fail_at:
            from livefilter.errors import SourceError

            raise SourceError("scripted source lost")
        if self.live:
            if self._started is None:
                self._started = time.monotonic()
            due = self._started + self._next / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            timestamp = time.monotonic()
        else:
            timestamp = self._next / self.fps
        image = self.frames[self._next]
        self._next += 1
        return image, timestamp

    def close(self) -> None:
        pass


@dataclass
class SinkRecord:
    index: int
    timestamp: float
    image: np.ndarray
    curtain: bool
    regions: np.ndarray
    notes: list


class MemorySink:
    """Keeps copies of everything it receives."""

    name = "memory"

    def __init__(self, on_write=None) -> None:
        self.items = []
        self.opened = None
        self.closed = False
        self._on_write = on_write

    def open(self, width: int, height: int, fps: float) -> None:
        self.opened = (width, height, fps)

    def write(self, item) -> None:
        self.items.append(SinkRecord(item.frame.index, item.frame.timestamp,
                                     item.frame.image.copy(), item.curtain,
                                     item.regions.copy(), list(item.notes)))
        if self._on_write is not None:
            self._on_write(item)

    def close(self) -> None:
        self.closed = True
