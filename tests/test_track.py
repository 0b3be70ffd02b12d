"""Tracker and planner on synthetic moving faces with known boxes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SquareDetector, square_frame
from scoring import covered_share

from livefilter.detections import Detections
from livefilter.frame import Frame
from livefilter.hide.composite import hidden_mask
from livefilter.track import plan as plan_module
from livefilter.track.plan import PlanConfig, RegionPlanner
from livefilter.track.tracker import Tracker, TrackerConfig, make_thumbnail, propagate_boxes

W, H, FPS = 320, 240, 30.0


def square_box(cx: float, cy: float, side: float) -> np.ndarray:
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


def test_propagate_boxes_follows_a_moved_square():
    a = square_frame(W, H, [(100, 120, 40)], seed=1)
    b = square_frame(W, H, [(112, 114, 40)], seed=1)
    moved, followed, _ = propagate_boxes(make_thumbnail(a), make_thumbnail(b),
                                         square_box(100, 120, 40)[None])
    assert followed.tolist() == [True]
    np.testing.assert_allclose(moved[0], square_box(112, 114, 40), atol=2.5)


@pytest.mark.parametrize("speed", [2.0, 6.0])
def test_tracker_follows_a_moving_face_between_detections(speed):
    """One detection at frame 0, then 40 frames of flow only."""
    tracker = Tracker(TrackerConfig(hold=5.0))
    for i in range(40):
        cx, cy = 60 + speed * i, 80 + speed * 0.5 * i
        frame = square_frame(W, H, [(cx, cy, 40)], seed=i)
        tracker.step(frame, i, i / FPS)
        if i == 0:
            tracker.add_detections(Detections(square_box(cx, cy, 40)[None], [1.0]), 0, 0.0)
        boxes = tracker.boxes().xyxy
        assert len(boxes) == 1
        truth = square_box(cx, cy, 40)
        # The (grown) box still contains the face.
        inside = np.clip(np.minimum(boxes[0, 2:], truth[2:]) - np.maximum(boxes[0, :2],
                                                                         truth[:2]), 0, None)
        assert inside.prod() / 1600 > 0.95, (i, boxes[0], truth)
        # Followed, not just grown: the centres agree.
        centre = (boxes[0, :2] + boxes[0, 2:]) / 2
        assert np.abs(centre - (truth[:2] + truth[2:]) / 2).max() < 3.0, (i, boxes[0], truth)


def test_tracker_drops_a_track_after_hold():
    tracker = Tracker(TrackerConfig(hold=0.5))
    for i in range(30):
        frame = square_frame(W, H, [(100, 100, 40)], seed=i)
        tracker.step(frame, i, i / FPS)
        if i == 0:
            tracker.add_detections(Detections(square_box(100, 100, 40)[None], [1.0]), 0, 0.0)
        expected = 1 if i / FPS <= 0.5 else 0
        assert len(tracker.boxes()) == expected, i



@pytest.mark.parametrize(
    ("scores", "kept_for"),
    [
        ([0.15], 0.3),  # one weak detection: clutter until confirmed
        ([0.35], 1.0),  # one confident detection
        ([0.15, 0.15], 1.0),  # two weak detections of the same face
    ],
)
def test_weak_tracks_are_held_briefly_until_confirmed(scores, kept_for):
    config = TrackerConfig(hold=1.0, weak_hold=0.3, confirm_score=0.3, confirm_hits=2)
    tracker = Tracker(config)
    last_detection = (len(scores) - 1) * 2 / FPS
    for i in range(50):
        frame = square_frame(W, H, [(100, 100, 40)], seed=i)
        tracker.step(frame, i, i / FPS)
        if i % 2 == 0 and i // 2 < len(scores):
            tracker.add_detections(
                Detections(square_box(100, 100, 40)[None], [scores[i // 2]]), i, i / FPS)
        expected = 1 if i / FPS - last_detection <= kept_for else 0
        assert len(tracker.boxes()) == expected, i

def _planner_run(frames, detect_at, result_lag, delay):
    """Feed frames in order; the result of frame k arrives ``result_lag`` frames later."""
    planner = RegionPlanner(PlanConfig(delay=delay, max_stale=0.5))
    detector = SquareDetector()
    pending: dict[int, list] = {}
    out = []
    for i, image in enumerate(frames):
        frame = Frame(image.copy(), i, i / FPS)
        planner.advance(frame, i, i / FPS)
        if i in detect_at:
            pending.setdefault(i + result_lag, []).append((i, detector.detect(image)))
        for seq, detections in pending.pop(i, []):
            planner.add_result(seq, seq / FPS, detections)
        out += planner.pop_ready(now=i / FPS)
    out += planner.pop_ready(flush=True)
    return out


def _exposed(planned, truth_by_frame) -> list[int]:
    exposed = []
    for p in planned:
        truth = truth_by_frame.get(p.frame.index)
        if truth is None or p.curtain is not None:
            continue
        mask = hidden_mask(p.regions, "ellipse", H, W)
        if covered_share(truth[None], mask)[0] < 0.6:
            exposed.append(p.frame.index)
    return exposed


def test_look_ahead_hides_a_face_from_its_first_visible_frame():
    # A face walks in at frame 12; the detector sees frames 0, 5, 10, 15, ...
    squares = {i: (70 + 3 * i, 120, 40) for i in range(12, 40)}
    frames = [square_frame(W, H, [squares[i]] if i in squares else [], seed=i) for i in range(40)]
    truth = {i: square_box(*s) for i, s in squares.items()}
    detect_at = set(range(0, 40, 5))
    without = _planner_run(frames, detect_at, result_lag=2, delay=0.0)
    with_look_ahead = _planner_run(frames, detect_at, result_lag=2, delay=0.3)
    # Without look-ahead the face shows until the first result reaches the output...
    assert _exposed(without, truth)[:3] == [12, 13, 14]
    # ...with it, never: the result of frame 15 is carried back to frames 12-14.
    assert _exposed(with_look_ahead, truth) == []
    assert [p.frame.index for p in with_look_ahead] == list(range(40))
    assert all(p.curtain is None for p in with_look_ahead if p.frame.index >= 1)


def test_only_faces_not_yet_hidden_are_carried_back(monkeypatch):
    # One face is there from the start, a second walks in at frame 22.
    calls: list[int] = []
    real = plan_module.propagate_boxes

    def counting(prev, nxt, boxes):
        calls.append(len(boxes))
        return real(prev, nxt, boxes)

    monkeypatch.setattr(plan_module, "propagate_boxes", counting)
    walker = {i: (40 + 3 * i, 180, 36) for i in range(22, 40)}
    frames = [square_frame(W, H, [(250, 70, 40)] + ([walker[i]] if i in walker else []), seed=i)
              for i in range(40)]
    truth = {i: square_box(*s) for i, s in walker.items()}
    detect_at = set(range(0, 40, 5))
    planned = _planner_run(frames, detect_at, result_lag=2, delay=0.3)
    assert _exposed(planned, truth) == []
    # Of the 8 results, two bring a face not yet hidden in its frame: the
    # first (the resident face) and that of frame 25 (the walker). Each is
    # carried to the other held frames (at most 9, the 0.3 s look-ahead),
    # one box at a time; the resident face, tracked by then, is not carried
    # again.
    assert calls and all(n == 1 for n in calls)
    assert len(calls) <= 2 * 9


def test_cut_gives_curtain_until_a_detection_of_the_new_scene():
    def scene_a(i: int) -> np.ndarray:
        return square_frame(W, H, [(100, 120, 40)], seed=i)

    def scene_b(i: int) -> np.ndarray:
        image = square_frame(W, H, [(220, 80, 50)], seed=i)
        return np.ascontiguousarray(255 - image)  # a very different picture

    frames = [scene_a(i) if i < 20 else scene_b(i) for i in range(40)]
    planned = _planner_run(frames, detect_at=set(range(0, 40, 4)) | {20}, result_lag=3,
                           delay=0.0)
    reasons = {p.frame.index: p.curtain for p in planned}
    assert reasons[19] is None
    assert [reasons[i] for i in (20, 21, 22)] == ["scene-cut"] * 3
    assert reasons[23] is None  # the result of frame 20 is in
    assert all(reasons[i] is None for i in range(23, 40))
