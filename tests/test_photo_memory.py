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
    VIDEO_NETWORK_PIXELS,
    FramePass,
    MultiPassDetector,
    QualityPreset,
)
from livefilter.detect.presets import is_tilt
from livefilter.detect.tiles import network_pixels
from livefilter.detect.tilt import tilt_canvas
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
        assert _seen_pixels(run) <= MAX_NETWORK_PIXELS, run
    # A turned pass is cut into tiles that are still turned, each run at the
    # pass's scale as the network sees it (a quarter turn: the tile's height).
    for run in runs:
        spec = PRESETS["thorough"].passes[run.pass_index]
        assert run.rotate == spec.rotate, run
        if spec.tilt:
            continue  # shrunk to the budget, not cut (test_rotated)
        whole_width = size[1] if run.rotate in (90, 270) else size[0]
        x1, y1, x2, y2 = run.region
        seen_width = (y2 - y1) if run.rotate in (90, 270) else (x2 - x1)
        # The scale the whole run would have had (its width a multiple of 32).
        scale = round(spec.network_width(whole_width) / 32) * 32 / whole_width
        assert run.network_width == pytest.approx(seen_width * scale, abs=16), run
    # The tiles of one pass share one size, but for the last column and row,
    # which start on the cell grid too and so end flush with the image a
    # little larger (under one grid step of 15 cells).
    for index in passes:
        tiles = [r.region for r in runs if r.pass_index == index]
        for axis in (0, 1):
            sizes = sorted({t[axis + 2] - t[axis] for t in tiles})
            assert len(sizes) <= 2 and sizes[-1] - sizes[0] < 15 * 32 / 0.5, (index, sizes)


def _seen_pixels(run) -> int:
    """Network input pixels of ``run``, as the network sees its region."""
    x1, y1, x2, y2 = run.region
    width, height = x2 - x1, y2 - y1
    if run.rotate in (90, 270):
        width, height = height, width
    elif is_tilt(run.rotate):
        width, height = tilt_canvas(width, height, run.rotate)
    return network_pixels(width, height, run.network_width)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (3840, 2160)])
def test_video_frames_run_the_network_on_smaller_inputs(size):
    """A video keeps its largest run's activations from frame to frame, so its
    runs have a tighter budget than a photo's; every pass still runs, turned
    passes still turned."""
    detector = MultiPassDetector(_BlobNetwork(), PRESETS["thorough"],  # type: ignore[arg-type]
                                 video=True)
    passes = PRESETS["thorough"].passes_for(video=True)
    runs = [run for call in range(detector.cycle_length) for run in detector.plan(*size, call)]
    assert {run.pass_index for run in runs} == set(range(len(passes)))
    for run in runs:
        assert _seen_pixels(run) <= VIDEO_NETWORK_PIXELS, run
        assert run.rotate == passes[run.pass_index].rotate, run
    upscaled = [run for run in runs if passes[run.pass_index].scale == 1.5]
    assert len(upscaled) > 1  # the 1.5x pass is tiled at 720p already
    # Its tiles, the last column and row too, lie on the network's 32-pixel
    # cell grid of the whole frame at the same scale, so a face inside a tile
    # is seen as without tiles.
    whole_scale = min(round(1.5 * size[0]), 2560) / size[0]
    for run in upscaled:
        x1, y1, x2, _ = run.region
        assert run.network_width % 32 == 0, run
        assert run.network_width / (x2 - x1) == pytest.approx(whole_scale, abs=1e-9), run
        for start in (x1, y1):
            off_grid = (start * whole_scale) % 32
            assert min(off_grid, 32 - off_grid) < 1e-6, run
    assert max(run.region[2] for run in upscaled) == size[0]
    assert max(run.region[3] for run in upscaled) == size[1]


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


def test_a_video_tile_on_the_cell_grid_scores_a_face_as_the_whole_frame_does(centerface):
    """The 1.5x pass of a 720p frame runs as four tiles (2 x 2); a face inside
    the last of them, which ends flush with the frame, gets the box and score
    the whole-frame run gives it (small faces' scores sit near the threshold:
    a second row starting off the grid lost a face of clips clip01)."""
    from synthetic import face_scene

    image, face = face_scene(1280, 720, face_height=24, centre=(1000.0, 560.0))
    detector = MultiPassDetector(centerface, PRESETS["thorough"], video=True)
    upscaled = [run for run in detector.plan(1280, 720, 0)
                if detector.passes[run.pass_index].scale == 1.5]
    assert len(upscaled) == 4
    whole = centerface.detect(image, 1920, threshold=0.05)
    x1, y1, x2, y2 = upscaled[-1].region  # the bottom right tile holds the face
    assert (x2, y2) == (1280, 720) and x1 < face[0] - 20 and y1 < face[1] - 20
    assert y1 > upscaled[0].region[1]  # a tile of the second row
    tile = centerface.detect(image[y1:y2, x1:x2], upscaled[-1].network_width, threshold=0.05)
    near_whole = whole.scores[iou_matrix_xyxy(face[None], whole.xyxy)[0] > 0.3]
    in_frame = tile.xyxy + np.array([x1, y1, x1, y1], np.float32)  # tile to frame pixels
    near_tile = tile.scores[iou_matrix_xyxy(face[None], in_frame)[0] > 0.3]
    assert len(near_whole) > 0
    np.testing.assert_allclose(np.sort(near_tile), np.sort(near_whole), atol=1e-4)
