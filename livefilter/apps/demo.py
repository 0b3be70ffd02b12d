"""``livefilter demo``: a moving-camera clip made from scikit-image's
astronaut photo (public domain, NASA), anonymized end to end.

Needs no camera and no data set: it shows the whole file path (decode,
detect, hide, encode, audio-less container) on a machine fresh from
``make setup``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from livefilter.apps.offline import FileJobConfig, anonymize_video
from livefilter.detect import Detector
from livefilter.errors import OutputError
from livefilter.regions import RedactionConfig

__all__ = ["DEMO_FPS", "DEMO_SIZE", "make_demo_clip", "run_demo"]

DEMO_SIZE = (640, 360)
DEMO_FPS = 30
DEMO_SECONDS = 4


def _scene() -> np.ndarray:
    """A 1600x1000 BGR canvas: the astronaut photo on a textured wall."""
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(7)
    wall = rng.integers(60, 120, size=(250, 400, 3), dtype=np.uint8)
    canvas = cv2.resize(cv2.GaussianBlur(wall, (0, 0), 3), (1600, 1000))
    photo = cv2.resize(astronaut, (760, 760), interpolation=cv2.INTER_CUBIC)
    canvas[120:880, 420:1180] = photo
    return canvas


def make_demo_clip(path: Path, *, seconds: float = DEMO_SECONDS) -> Path:
    """Write the source clip: a hand-held camera panning and zooming."""
    scene = _scene()
    width, height = DEMO_SIZE
    frames = int(seconds * DEMO_FPS)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=DEMO_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        stream.time_base = Fraction(1, DEMO_FPS)
        for i in range(frames):
            t = i / DEMO_FPS
            zoom = 1.0 + 0.35 * math.sin(t * 0.9)
            crop_w = 1200 / zoom
            crop_h = crop_w * height / width
            centre_x = 800 + 160 * math.sin(t * 1.3) + 6 * math.sin(t * 17)
            centre_y = 480 + 60 * math.cos(t * 1.1) + 5 * math.cos(t * 23)
            x0, y0 = centre_x - crop_w / 2, centre_y - crop_h / 2
            sx, sy = width / crop_w, height / crop_h
            matrix = np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]], np.float32)
            image = cv2.warpAffine(scene, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _middle_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    return frames[len(frames) // 2]


def run_demo(out_dir: Path, *, detector: Detector, redaction: RedactionConfig) -> list[Path]:
    """Build, anonymize and compare; returns the paths written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create ({exc.strerror})") from exc
    source = make_demo_clip(out_dir / "astronaut.mp4")
    result = out_dir / "astronaut_anonymized.mp4"
    anonymize_video(FileJobConfig(input=source, output=result), detector, redaction)
    before, after = _middle_frame(source), _middle_frame(result)
    divider = np.full((before.shape[0], 8, 3), 255, np.uint8)
    comparison = out_dir / "before_after.png"
    if not cv2.imwrite(str(comparison), np.hstack([before, divider, after])):
        raise OutputError(f"{comparison}: cannot write")
    return [source, result, comparison]
