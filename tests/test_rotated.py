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


def test_a_pass_turned_by_an_odd_angle_is_refused():
    with pytest.raises(ConfigError, match="rotate"):
        FramePass(rotate=45)


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
    height, width = turned.shape[:2]
    # The face box turned with the photo (found from a white stand-in).
    marker = np.zeros(image.shape[:2], np.uint8)
    x1, y1, x2, y2 = face.round().astype(int)
    marker[y1:y2, x1:x2] = 255
    ys, xs = np.nonzero(cv2.rotate(marker, _CODES[angle]))
    box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)

    def share(detector, threshold: float = 0.0) -> float:
        found = detector.detect(turned)
        found = found[found.scores >= threshold]
        regions = regions_from_faces(found.xyxy, PRESETS["thorough"].mask_scale)
        return float(covered_share(box, hidden_mask(regions, "ellipse", height, width))[0])

    thorough = build_detector(DetectorConfig(kind="centerface", quality="thorough"))
    assert share(thorough) >= 0.99
    turned_only = replace(PRESETS["thorough"],
                          passes=tuple(p for p in PRESETS["thorough"].passes if p.rotate))
    assert share(MultiPassDetector(thorough.centerface, turned_only), threshold=0.8) >= 0.99


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
