"""Detections, box maths and the coverage / over-blur scoring."""

from __future__ import annotations

import numpy as np
import pytest
from scoring import CoverageTally, covered_share, over_blur

from livefilter.boxes import (
    iou_matrix_xyxy,
    nms_xyxy,
    xywh_to_xyxy,
    xyxy_clip,
    xyxy_scale_about_centre,
    xyxy_to_xywh,
)
from livefilter.detections import Detections


def test_detections_validate_and_filter():
    dets = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 30]]), np.array([0.9, 0.4]))
    assert dets.xyxy.dtype == np.float32 and dets.xyxy.shape == (2, 4)
    assert len(dets[dets.scores > 0.5]) == 1
    np.testing.assert_array_equal(dets.heights, [10, 25])
    assert len(Detections.empty()) == 0
    merged = Detections.merge([dets, Detections.empty(), dets[[0]]])
    assert len(merged) == 3 and merged.track_ids is None
    with_ids = Detections(dets.xyxy, dets.scores, np.array([4, 7]))
    assert with_ids[np.array([False, True])].track_ids.tolist() == [7]


@pytest.mark.parametrize(
    ("xyxy", "scores", "ids", "error"),
    [
        (np.zeros((2, 4)), np.zeros(3), None, "3 scores"),
        (np.zeros((2, 4)), np.zeros(2), np.zeros(1), "1 track ids"),
    ],
)
def test_detections_reject_mismatched_shapes(xyxy, scores, ids, error):
    with pytest.raises(ValueError, match=error):
        Detections(xyxy, scores, ids)


def test_box_conversions_round_trip():
    xywh = np.array([[10, 20, 30, 40]], np.float32)
    np.testing.assert_array_equal(xywh_to_xyxy(xywh), [[10, 20, 40, 60]])
    np.testing.assert_array_equal(xyxy_to_xywh(xywh_to_xyxy(xywh)), xywh)
    np.testing.assert_allclose(
        xyxy_scale_about_centre(np.array([[10, 10, 30, 50]]), 1.5), [[5, 0, 35, 60]]
    )
    np.testing.assert_array_equal(xyxy_clip(np.array([[-5, 3, 50, 90]]), 40, 60), [[0, 3, 40, 60]])


def test_iou_and_nms():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30]], np.float32)
    iou = iou_matrix_xyxy(boxes, boxes)
    np.testing.assert_allclose(np.diag(iou), 1.0)
    assert iou[0, 1] == pytest.approx(0.5) and iou[0, 2] == 0
    keep = nms_xyxy(boxes, np.array([0.5, 0.9, 0.8]), 0.4)
    assert keep.tolist() == [1, 2]
    assert nms_xyxy(np.zeros((0, 4)), np.zeros(0), 0.3).size == 0


def test_covered_share_and_over_blur():
    hidden = np.zeros((100, 200), bool)
    hidden[10:50, 10:50] = True
    faces = np.array([[10, 10, 50, 50], [30, 10, 70, 50], [150, 80, 190, 99], [300, 0, 310, 10]])
    np.testing.assert_allclose(covered_share(faces, hidden), [1.0, 0.5, 0.0, 1.0])
    # Hidden area outside the first face enlarged 1.5x: none.
    assert over_blur(hidden, faces[:1]) == 0.0
    hidden[:, 150:] = True
    assert over_blur(hidden, faces[:1]) == pytest.approx(50 * 100 / 20000)


def test_coverage_tally_buckets():
    hidden = np.zeros((200, 200), bool)
    hidden[0:100, 0:100] = True
    tally = CoverageTally()
    faces = np.array([[0, 0, 20, 20], [0, 0, 40, 40], [120, 120, 190, 190], [0, 0, 8, 8]])
    covered = tally.add(faces, hidden)
    assert covered.tolist() == [True, True, False, True]
    summary = tally.summary()
    assert summary["faces"] == 3  # the 8 px face is below 16 px
    assert summary["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["recall_by_height"] == {"16-31": 1.0, "32-63": 1.0, "64+": 0.0}
