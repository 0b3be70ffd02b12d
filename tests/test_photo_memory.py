"""Large photos: network runs are bounded in size (tiled), and a photo too
large for the memory available is refused from its header, before decoding.
Peak memory itself is measured by benchmarks/photo_memory.py."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import ImageFile

from livefilter.apps import photos
from livefilter.boxes import iou_matrix_xyxy, xywh_to_xyxy
from livefilter.detect.multipass import (
    MAX_NETWORK_PIXELS,
    PRESETS,
    FramePass,
    MultiPassDetector,
    QualityPreset,
)
from livefilter.detect.tiles import network_pixels
from livefilter.detections import Detections
from livefilter.errors import InputError


class _BlobNetwork:
    """Every bright blob is a face; records the network inputs it was given."""

    def __init__(self) -> None:
        self.inputs: list[int] = []

    def detect(self, image: np.ndarray, input_width: int = 0, *,
               threshold: float | None = None) -> Detections:
        self.inputs.append(network_pixels(image.shape[1], image.shape[0], input_width))
        gray = np.ascontiguousarray(image[:, :, 1])
        count, _, stats, _ = cv2.connectedComponentsWithStats((gray > 0).astype(np.uint8))
        xywh = stats[1:count, :4].astype(np.float32)
        return Detections(xywh_to_xyxy(xywh), np.full(len(xywh), 0.9, np.float32))


@pytest.mark.parametrize("size", [(4000, 3000), (12000, 9000)])
def test_thorough_on_a_large_photo_runs_the_network_on_bounded_inputs(size):
    detector = MultiPassDetector(_BlobNetwork(), PRESETS["thorough"])  # type: ignore[arg-type]
    runs = detector.plan(*size, 0)
    passes = {run.pass_index for run in runs}
    assert passes == set(range(len(PRESETS["thorough"].passes)))  # every pass still runs
    for run in runs:
        x1, y1, x2, y2 = run.region
        assert network_pixels(x2 - x1, y2 - y1, run.network_width) <= MAX_NETWORK_PIXELS, run
    # The tiles of one pass share one size (one network session).
    for index in passes:
        assert len({(r.region[2] - r.region[0], r.region[3] - r.region[1], r.network_width)
                    for r in runs if r.pass_index == index}) == 1


def test_a_face_across_a_budget_tile_border_is_found_whole():
    preset = QualityPreset(name="upscaled", passes=(FramePass(scale=2.0),), threshold=0.1)
    network = _BlobNetwork()
    detector = MultiPassDetector(network, preset)  # type: ignore[arg-type]
    frame = np.zeros((1800, 2400, 3), np.uint8)
    runs = detector.plan(2400, 1800, 0)
    assert len(runs) > 1  # 4800 x 3600 network pixels: tiled
    border = runs[0].region[2]  # the first tile's right edge, inside the frame
    face = np.array([[border - 60, 800, border + 40, 900]], np.float32)
    x1, y1, x2, y2 = face[0].astype(int)
    frame[y1:y2, x1:x2] = 255
    found = detector.detect(frame)
    assert max(network.inputs) <= MAX_NETWORK_PIXELS
    assert len(found) == 1, found.xyxy
    assert iou_matrix_xyxy(face, found.xyxy).max() > 0.95


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width x height`` and whose pixels are missing."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)))


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(self):
        raise AssertionError("the photo was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_a_photo_too_large_for_the_memory_is_refused_before_decoding(
        tmp_path, monkeypatch, no_decoding):
    path = tmp_path / "huge.png"
    _png_header_only(path, 12000, 9000)  # 108 megapixels, by its header
    monkeypatch.setattr(photos, "available_memory", lambda: 2**30)
    with pytest.raises(InputError) as caught:
        photos.read_photo(path)
    message = str(caught.value)
    assert "12000x9000" in message and "108 megapixels" in message
    assert "1.0 GB is available" in message and "\n" not in message


def test_the_memory_check_lets_through_what_fits(tmp_path, monkeypatch):
    path = tmp_path / "small.jpg"
    cv2.imwrite(str(path), np.full((480, 640, 3), 128, np.uint8))
    monkeypatch.setattr(photos, "available_memory", lambda: 2 * 2**30)
    assert photos.read_photo(path).shape == (480, 640, 3)
    monkeypatch.setattr(photos, "available_memory", lambda: 50 * 2**20)
    with pytest.raises(InputError, match="640x480"):
        photos.read_photo(path)


def test_image_command_refuses_it_in_one_line_and_goes_on(tmp_path, monkeypatch, capsys):
    from livefilter.cli import main

    huge = tmp_path / "huge.png"
    _png_header_only(huge, 12000, 9000)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(photos, "available_memory", lambda: 2**30)
    status = main(["image", str(huge), "-o", str(out), "--detector", "cascade"])
    assert status == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("livefilter: error: "), lines
    assert "needs about" in lines[0]
    assert not list(out.iterdir())
