"""Faces at any angle: turned passes map their boxes back, and a face lying
sideways or upside down is found by ``thorough``."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from scoring import covered_share
from synthetic import face_scene
from test_detect import BlobNetwork, _frame_with, _model_or_skip

from livefilter.boxes import iou_matrix_xyxy, xyxy_unrotate
from livefilter.detect import DetectorConfig, build_detector
from livefilter.detect.multipass import (
    PRESETS,
    FramePass,
    MultiPassDetector,
    QualityPreset,
    TilePass,
)
from livefilter.detect.tilt import tilt_canvas, turned_ellipse_boxes
from livefilter.errors import ConfigError
from livefilter.hide.composite import hidden_mask
from livefilter.regions import regions_from_faces

_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_unrotate_inverts_cv2_rotate(angle):
    image = np.zeros((120, 200), np.uint8)
    image[30:50, 140:170] = 255  # x 140..170, y 30..50
    turned = cv2.rotate(image, _CODES[angle])
    ys, xs = np.nonzero(turned)
    box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    np.testing.assert_allclose(xyxy_unrotate(box, angle, 200, 120), [[140, 30, 170, 50]])


@pytest.mark.parametrize("angle", [90, 180, 270])
@pytest.mark.parametrize("tiled", [False, True])
def test_turned_passes_map_boxes_back(angle, tiled):
    faces = [(30, 40, 70, 100), (400, 200, 460, 290)]
    spec = (TilePass(cols=2, rows=2, overlap=0.3, rotate=angle) if tiled
            else FramePass(rotate=angle))
    preset = QualityPreset(name="test", passes=(spec,), threshold=0.5)
    network = BlobNetwork()
    found = MultiPassDetector(network, preset).detect(_frame_with(faces))  # type: ignore[arg-type]
    iou = iou_matrix_xyxy(np.array(faces, np.float32), found.xyxy)
    assert len(found) == 2 and (iou.max(axis=1) > 0.99).all(), found.xyxy
    if not tiled and angle != 180:
        assert network.calls[0][:2] == (360, 640)  # the network saw the frame turned


def test_a_tilt_is_a_frame_pass_of_whole_degrees():
    assert FramePass(rotate=45).tilt and not FramePass(rotate=90).tilt
    for bad in (360, -45, 22.5):
        with pytest.raises(ConfigError, match="rotate"):
            FramePass(rotate=bad)
    with pytest.raises(ConfigError, match="rotate"):
        TilePass(rotate=45)


@pytest.mark.parametrize("angle", [45, 315, 30])
def test_tilted_passes_map_boxes_back(angle):
    """Round faces (discs) anywhere in the frame, corners included, come
    back where they are from a pass that saw the frame tilted whole."""
    frame = np.zeros((360, 640, 3), np.uint8)
    discs = [(60, 50, 30), (560, 300, 40), (320, 180, 25)]
    for x, y, r in discs:
        cv2.circle(frame, (x, y), r, (255, 255, 255), -1)
    preset = QualityPreset(name="test", passes=(FramePass(rotate=angle),), threshold=0.5)
    network = BlobNetwork()
    found = MultiPassDetector(network, preset).detect(frame)  # type: ignore[arg-type]
    expected = np.array([(x - r, y - r, x + r + 1, y + r + 1) for x, y, r in discs], np.float32)
    iou = iou_matrix_xyxy(expected, found.xyxy)
    assert len(found) == 3 and (iou.max(axis=1) > 0.85).all(), found.xyxy
    # The network saw the whole frame turned: a canvas larger both ways.
    width, height, _ = network.calls[0]
    assert (width, height) == tilt_canvas(640, 360, angle) and width > 640 and height > 360


def test_a_tilted_pass_on_a_huge_photo_shrinks_to_the_budget():
    """A tilted canvas is not cut into tiles: over the network budget its
    width shrinks so that it fits."""
    from livefilter.detect.multipass import MAX_NETWORK_PIXELS

    preset = QualityPreset(name="test", passes=(FramePass(rotate=45),), threshold=0.5)
    (run,) = MultiPassDetector(BlobNetwork(), preset).plan(12000, 9000, 0)  # type: ignore[arg-type]
    canvas_width, canvas_height = tilt_canvas(12000, 9000, 45)
    assert run.rotate == 45 and run.region == (0, 0, 12000, 9000)
    assert run.network_width ** 2 * canvas_height / canvas_width <= MAX_NETWORK_PIXELS
    assert run.network_width > 1000
    (small,) = MultiPassDetector(BlobNetwork(), preset).plan(640, 480, 0)  # type: ignore[arg-type]
    assert small.network_width == tilt_canvas(640, 480, 45)[0]


def test_ellipse_boxes_keep_a_round_face_its_size():
    # A square (a round face's box) turned 45 degrees keeps its size; a
    # 2:1 box turned a quarter swaps its sides.
    shift = np.array([[1, 0, 10], [0, 1, 20]], np.float32)
    square = np.array([[0, 0, 40, 40]], np.float32)
    np.testing.assert_allclose(turned_ellipse_boxes(square, shift, 45), [[10, 20, 50, 60]],
                               atol=1e-4)
    wide = np.array([[0, 0, 40, 20]], np.float32)
    np.testing.assert_allclose(turned_ellipse_boxes(wide, shift, 90), [[20, 10, 40, 50]],
                               atol=1e-4)


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_thorough_finds_a_face_lying_sideways_or_upside_down(angle):
    """The astronaut's face turned round is found by ``thorough``, and by its
    turned passes alone with confidence. (This clean, well-lit face is also
    found by the upright passes, at scores 0.44-0.86 against 0.88 turned
    back; on turned WIDER FACE photos they miss most faces, see
    benchmarks/rotated.py.)"""
    _model_or_skip()
    image, face = face_scene(480, 360, 70, (170, 200))
    turned = cv2.rotate(image, _CODES[angle])
    # The face box turned with the photo (found from a white stand-in).
    marker = np.zeros(image.shape[:2], np.uint8)
    x1, y1, x2, y2 = face.round().astype(int)
    marker[y1:y2, x1:x2] = 255
    ys, xs = np.nonzero(cv2.rotate(marker, _CODES[angle]))
    box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)

    thorough = build_detector(DetectorConfig(kind="centerface", quality="thorough"))
    assert _covered(thorough, turned, box) >= 0.99
    turned_only = replace(PRESETS["thorough"], passes=tuple(
        p for p in PRESETS["thorough"].passes if p.rotate and not p.tilt))
    assert _covered(MultiPassDetector(thorough.centerface, turned_only), turned, box,
                    threshold=0.8) >= 0.99


def _covered(detector, image: np.ndarray, box: np.ndarray, threshold: float = 0.0) -> float:
    """Share of ``box`` hidden once ``detector``'s faces (from ``threshold``)
    are hidden as ``thorough`` hides them."""
    height, width = image.shape[:2]
    found = detector.detect(image)
    found = found[found.scores >= threshold]
    regions = regions_from_faces(found.xyxy, PRESETS["thorough"].mask_scale)
    return float(covered_share(box, hidden_mask(regions, "ellipse", height, width))[0])


def test_boxes_found_the_other_way_round_need_more():
    from livefilter.detect.multipass import sure_one_way_round

    def box(i: int) -> list[float]:
        return [100.0 * i, 0.0, 100.0 * i + 50, 60.0]

    xyxy = np.array([box(i) for i in range(5)], np.float32)
    # Upright-looking: two confident upright faces, none turned.
    scores = np.array([0.6, 0.7, 0.15, 0.25, 0.12], np.float32)
    turned = np.array([False, False, True, True, False])
    assert sure_one_way_round(xyxy, scores, turned, 0.3).tolist() == [
        True, True, False, True, True]
    # Turned-looking: two confident turned faces, one upright.
    scores = np.array([0.8, 0.9, 0.12, 0.25, 0.35], np.float32)
    turned = np.array([True, True, True, False, False])
    assert sure_one_way_round(xyxy, scores, turned, 0.3).tolist() == [
        True, True, True, False, True]
    # One face found by several upright passes counts once: 2 turned faces
    # outnumber it, so the weak upright box elsewhere needs 0.3.
    xyxy = np.array([box(0)] * 3 + [box(1), box(2), box(3)], np.float32)
    scores = np.array([0.9, 0.9, 0.9, 0.8, 0.7, 0.25], np.float32)
    turned = np.array([False, False, False, True, True, False])
    assert sure_one_way_round(xyxy, scores, turned, 0.3).tolist() == [True] * 5 + [False]
    # Tilted boxes (side 2) neither vote nor are judged: three confident
    # tilted boxes do not make the frame look turned, and a weak one stays.
    xyxy = np.array([box(i) for i in range(6)], np.float32)
    scores = np.array([0.9, 0.9, 0.9, 0.12, 0.6, 0.15], np.float32)
    side = np.array([2, 2, 2, 2, 0, 1])
    assert sure_one_way_round(xyxy, scores, side, 0.3).tolist() == [
        True, True, True, True, True, False]


@pytest.mark.parametrize("angle", [45, 315])
def test_thorough_finds_a_face_tilted_half_way(angle):
    """The astronaut's face tilted 45 degrees either way is found by
    ``thorough``, and by its tilted passes alone above their score floor."""
    _model_or_skip()
    from livefilter.detect.presets import TILT_MIN_SCORE

    image, face = face_scene(480, 360, 70, (170, 200))
    height, width = image.shape[:2]
    forward = cv2.getRotationMatrix2D((width / 2, height / 2), -angle, 1.0)
    turned = cv2.warpAffine(image, forward, (width, height))
    box = turned_ellipse_boxes(face[None], forward, angle)

    thorough = build_detector(DetectorConfig(kind="centerface", quality="thorough"))
    assert _covered(thorough, turned, box) >= 0.99
    tilted_only = replace(PRESETS["thorough"],
                          passes=tuple(p for p in PRESETS["thorough"].passes if p.tilt))
    assert all(p.min_score == TILT_MIN_SCORE for p in tilted_only.passes)
    assert _covered(MultiPassDetector(thorough.centerface, tilted_only), turned, box) >= 0.99
