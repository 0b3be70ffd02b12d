"""Keep faces hidden between detections: tracks that follow faces by optical flow.

The detector runs every few frames and its results arrive late: they belong
to the frame it was given, several frames ago. The tracker

* moves every track from frame to frame with one sparse Lucas-Kanade call
  for the points of all boxes together (on a small grayscale copy of the
  frame), plus a grid of background points that gives the camera's motion;
* when a result arrives, carries its boxes from the frame they were found in
  to the current frame (one more LK call) and matches them to the tracks by
  IoU and centre distance;
* falls back to the camera motion, then to the track's own velocity, when a
  face's points are lost;
* grows each box with its uncertainty (time since its face was detected,
  lost flow), and keeps a track ``hold`` seconds after its last detection.

It also measures how much the picture changed since the frame of the last
detection (on tiny thumbnails), which the pipeline uses to spot cuts and
whip-pans.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from livefilter.boxes import iou_matrix_xyxy
from livefilter.detections import Detections
from livefilter.errors import ConfigError

__all__ = [
    "FlowField",
    "Thumbnail",
    "Tracker",
    "TrackerConfig",
    "make_thumbnail",
    "propagate_boxes",
    "scene_change",
]

_FLOW_WIDTH = 320  # width of the grayscale copy the flow runs on
_CHANGE_SIZE = (32, 18)  # the tiny thumbnail scene changes are measured on
_WINDOW = (11, 11)
_LEVELS = 3
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)
_POINTS_PER_SIDE = 4  # a 4x4 grid of points in each box
_CAMERA_GRID = (10, 8)  # background points for the camera motion


@dataclass(frozen=True, kw_only=True)
class TrackerConfig:
    """How tracks are kept between detections.

    Attributes:
        hold: seconds a *confirmed* track is kept after its face was last
            detected.
        weak_hold: the same for a track not (yet) confirmed: found once, with
            a score under ``confirm_score``. Most such tracks are clutter
            the low thresholds let through, seen on one run and not the next;
            holding each of them a full second hid 2-3 % more of the frame on
            the shared clips, while a real face is found again within a few
            runs and confirmed.
        confirm_score: a detection at least this confident confirms its track.
        confirm_hits: so do this many detections matched to it.
        growth_per_second: how fast a box grows on each side, relative to its
            size, per second since its face was last detected.
        lost_flow_growth: extra growth on each side while a track's own
            points are lost (it moves with the camera or its velocity).
        match_iou: minimum IoU to match a detection to a track (a centre
            within half a face size also matches).
        max_speed: cap on a track's velocity, in face sizes per second.
    """

    hold: float = 1.0
    weak_hold: float = 0.3
    confirm_score: float = 0.3
    confirm_hits: int = 2
    growth_per_second: float = 0.4
    lost_flow_growth: float = 0.15
    match_iou: float = 0.1
    max_speed: float = 4.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.hold <= 30.0:
            raise ConfigError(f"hold: expected 0..30 seconds, got {self.hold!r}")
        if not 0.0 <= self.weak_hold <= self.hold:
            raise ConfigError(
                f"weak-hold: expected 0..hold ({self.hold}) seconds, got {self.weak_hold!r}"
            )
        if not 0.0 <= self.confirm_score <= 1.0:
            raise ConfigError(f"confirm-score: expected 0..1, got {self.confirm_score!r}")
        if not 1 <= self.confirm_hits <= 100:
            raise ConfigError(f"confirm-hits: expected 1..100, got {self.confirm_hits!r}")
        if not 0.0 <= self.growth_per_second <= 10.0:
            raise ConfigError(f"growth-per-second: expected 0..10, got {self.growth_per_second!r}")
        if not 0.0 <= self.lost_flow_growth <= 2.0:
            raise ConfigError(f"lost-flow-growth: expected 0..2, got {self.lost_flow_growth!r}")
        if not 0.0 < self.match_iou < 1.0:
            raise ConfigError(f"match-iou: expected (0, 1), got {self.match_iou!r}")
        if not 0.0 < self.max_speed <= 100.0:
            raise ConfigError(f"max-speed: expected (0, 100], got {self.max_speed!r}")


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """Small grayscale copies of one frame: ``gray`` for flow, ``tiny`` for
    scene change. ``scale`` maps full-frame pixels to thumbnail pixels.
    """

    gray: np.ndarray
    tiny: np.ndarray
    scale: float
    size: tuple[int, int]  # (width, height) of the thumbnail


def make_thumbnail(image_bgr: np.ndarray) -> Thumbnail:
    height, width = image_bgr.shape[:2]
    scale = min(1.0, _FLOW_WIDTH / width)
    size = (max(16, round(width * scale)), max(16, round(height * scale)))
    gray = cv2.cvtColor(cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2GRAY)
    tiny = cv2.resize(gray, _CHANGE_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
    return Thumbnail(gray, tiny, scale, size)


def scene_change(a: Thumbnail, b: Thumbnail) -> float:
    """Mean absolute difference of the tiny thumbnails, 0..255."""
    return float(np.mean(np.abs(a.tiny - b.tiny)))


def _box_points(boxes_small: np.ndarray) -> np.ndarray:
    """A grid in the middle 60 % of each box: ``(N, k, 2) float32``."""
    steps = np.linspace(0.2, 0.8, _POINTS_PER_SIDE, dtype=np.float32)
    grid_x, grid_y = np.meshgrid(steps, steps)
    offsets = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)  # (k, 2)
    size = boxes_small[:, 2:] - boxes_small[:, :2]
    return (boxes_small[:, None, :2] + offsets[None] * size[:, None]).astype(np.float32)


def _camera_points(size: tuple[int, int]) -> np.ndarray:
    width, height = size
    xs = np.linspace(0.05 * width, 0.95 * width, _CAMERA_GRID[0])
    ys = np.linspace(0.05 * height, 0.95 * height, _CAMERA_GRID[1])
    return np.stack(np.meshgrid(xs, ys), axis=2).reshape(-1, 2).astype(np.float32)


def _track_points(prev: Thumbnail, nxt: Thumbnail, points: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """LK with a forward-backward check: ``(moved (M, 2), good (M,) bool)``."""
    if len(points) == 0:
        return np.zeros((0, 2), np.float32), np.zeros((0,), bool)
    start = points.reshape(-1, 1, 2)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        prev.gray, nxt.gray, start, None, winSize=_WINDOW, maxLevel=_LEVELS, criteria=_CRITERIA)
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(
        nxt.gray, prev.gray, moved, None, winSize=_WINDOW, maxLevel=_LEVELS, criteria=_CRITERIA)
    fb_error = np.linalg.norm((back - start).reshape(-1, 2), axis=1)
    good = (status.ravel() == 1) & (status_back.ravel() == 1) & (fb_error < 1.0)
    return moved.reshape(-1, 2), good


@dataclass(frozen=True, slots=True)
class FlowField:
    """Camera motion between two thumbnails: a similarity ``2x3`` matrix in
    full-frame pixels, or ``None`` when it could not be estimated.
    """

    matrix: np.ndarray | None

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        if self.matrix is None or len(boxes) == 0:
            return boxes.copy()
        corners = np.concatenate([boxes[:, :2], boxes[:, 2:]], axis=0)
        moved = corners @ self.matrix[:, :2].T + self.matrix[:, 2]
        count = len(boxes)
        return np.concatenate([moved[:count], moved[count:]], axis=1).astype(np.float32)


def _fit_camera(start: np.ndarray, moved: np.ndarray, good: np.ndarray, scale: float
                ) -> FlowField:
    if good.sum() < 12:
        return FlowField(None)
    matrix, inliers = cv2.estimateAffinePartial2D(
        start[good], moved[good], method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if matrix is None or inliers is None or inliers.sum() < 10:
        return FlowField(None)
    # Thumbnail pixels -> frame pixels: the translation scales, the rest does not.
    matrix = matrix.astype(np.float32)
    matrix[:, 2] /= scale
    return FlowField(matrix)


def propagate_boxes(prev: Thumbnail, nxt: Thumbnail, boxes: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, FlowField]:
    """Move full-frame ``boxes`` from the frame of ``prev`` to that of ``nxt``.

    One LK call (forward and back) for the points of all boxes and a grid of
    background points together. Each box moves by the median motion of its
    own points and scales by their spread; a box whose points are lost moves
    with the camera (the background points' similarity transform).
    Returns ``(boxes (N, 4) float32, followed (N,) bool, camera motion)``.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    count = len(boxes)
    k = _POINTS_PER_SIDE * _POINTS_PER_SIDE
    box_points = _box_points(boxes * prev.scale)  # (N, k, 2)
    camera_points = _camera_points(prev.size)
    start = np.concatenate([box_points.reshape(-1, 2), camera_points])
    moved, good = _track_points(prev, nxt, start)
    split = count * k
    camera = _fit_camera(camera_points, moved[split:], good[split:], prev.scale)
    if count == 0:
        return boxes.copy(), np.zeros((0,), bool), camera
    src = box_points
    dst = moved[:split].reshape(count, k, 2)
    ok = good[:split].reshape(count, k)
    followed = ok.sum(axis=1) >= max(3, k // 4)
    out = camera.apply(boxes)
    if followed.any():
        with np.errstate(invalid="ignore"):
            shift = np.where(ok[..., None], dst - src, np.nan)
            median_shift = np.nanmedian(shift[followed], axis=1) / prev.scale  # (F, 2)
            src_f = np.where(ok[..., None], src, np.nan)[followed]
            dst_f = np.where(ok[..., None], dst, np.nan)[followed]
            spread_src = np.nanmedian(np.linalg.norm(
                src_f - np.nanmean(src_f, axis=1, keepdims=True), axis=2), axis=1)
            spread_dst = np.nanmedian(np.linalg.norm(
                dst_f - np.nanmean(dst_f, axis=1, keepdims=True), axis=2), axis=1)
        ratio = np.where(spread_src > 1e-3, spread_dst / np.maximum(spread_src, 1e-3), 1.0)
        ratio = np.clip(np.nan_to_num(ratio, nan=1.0), 0.8, 1.25)[:, None]
        chosen = boxes[followed]
        centre = (chosen[:, :2] + chosen[:, 2:]) / 2 + median_shift
        half = (chosen[:, 2:] - chosen[:, :2]) / 2 * ratio
        out[followed] = np.concatenate([centre - half, centre + half], axis=1)
    return out.astype(np.float32), followed, camera


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # where the face is now, xyxy float32 (ungrown)
    detected_at: float  # source time of the frame it was last detected in
    velocity: np.ndarray  # centre velocity, px/s
    lost: bool = False  # its own points were lost on the last step
    hits: int = 1  # detections matched to it
    best_score: float = 0.0


class Tracker:
    """Tracks with ids; call :meth:`step` for every frame in order and
    :meth:`add_detections` when a detector result arrives.

    Not thread-safe: one thread (the output loop) owns it. Keeps the
    thumbnails of the last ``history`` frames so late results can be
    carried forward.
    """

    def __init__(self, config: TrackerConfig | None = None, *, history: int = 120) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._history: OrderedDict[int, tuple[Thumbnail, float]] = OrderedDict()
        self._history_size = history
        self._current: tuple[int, Thumbnail, float] | None = None
        self.last_camera = FlowField(None)

    def __len__(self) -> int:
        return len(self._tracks)

    @property
    def current_seq(self) -> int | None:
        return None if self._current is None else self._current[0]

    def thumbnail(self, seq: int) -> Thumbnail | None:
        entry = self._history.get(seq)
        return None if entry is None else entry[0]

    def step(self, image_bgr: np.ndarray, seq: int, timestamp: float,
             thumbnail: Thumbnail | None = None) -> Thumbnail:
        """Advance every track to the frame ``seq`` (``image_bgr`` at ``timestamp``)."""
        thumb = thumbnail or make_thumbnail(image_bgr)
        if self._current is not None and self._tracks:
            _, prev, prev_time = self._current
            dt = max(1e-3, timestamp - prev_time)
            boxes = np.stack([t.box for t in self._tracks])
            moved, followed, self.last_camera = propagate_boxes(prev, thumb, boxes)
            for track, box, ok in zip(self._tracks, moved, followed, strict=True):
                if not ok and self.last_camera.matrix is None:
                    # Neither the face nor the camera could be followed:
                    # constant velocity.
                    shift = track.velocity * dt
                    box = track.box + np.concatenate([shift, shift]).astype(np.float32)
                else:
                    centre_shift = ((box[:2] + box[2:]) - (track.box[:2] + track.box[2:])) / 2
                    size = float(max(track.box[2] - track.box[0], track.box[3] - track.box[1], 1))
                    velocity = np.clip(centre_shift / dt, -self.config.max_speed * size,
                                       self.config.max_speed * size)
                    track.velocity = (0.5 * track.velocity + 0.5 * velocity).astype(np.float32)
                track.box = box.astype(np.float32)
                track.lost = not ok
        elif self._current is not None:
            self.last_camera = FlowField(None)
        self._current = (seq, thumb, timestamp)
        self._history[seq] = (thumb, timestamp)
        while len(self._history) > self._history_size:
            self._history.popitem(last=False)
        self._drop_expired(timestamp)
        return thumb

    def add_detections(self, detections: Detections, seq: int, timestamp: float) -> bool:
        """Merge detections found on frame ``seq`` (captured at ``timestamp``).

        Boxes are carried from that frame to the current one first. Returns
        ``False`` when frame ``seq`` is no longer in the history (the result
        is too old to place and is ignored).
        """
        if self._current is None:
            return False
        current_seq, current_thumb, _ = self._current
        boxes = detections.xyxy
        if seq != current_seq:
            entry = self._history.get(seq)
            if entry is None:
                return False
            boxes, _, _ = propagate_boxes(entry[0], current_thumb, boxes)
        self._match(boxes, detections.scores, timestamp)
        return True

    def _match(self, boxes: np.ndarray, scores: np.ndarray, detected_at: float) -> None:
        config = self.config
        current = (np.stack([t.box for t in self._tracks]) if self._tracks
                   else np.zeros((0, 4), np.float32))
        iou = iou_matrix_xyxy(boxes, current)
        if len(boxes) and len(current):
            centres_d = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2
            centres_t = (current[None, :, :2] + current[None, :, 2:]) / 2
            distance = np.linalg.norm(centres_d - centres_t, axis=2)
            size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
            close = distance < 0.5 * np.maximum(size, 1)
            affinity = np.where((iou >= config.match_iou) | close, iou + close * 0.01, -1.0)
        else:
            affinity = np.full((len(boxes), len(current)), -1.0, np.float32)
        taken_tracks: set[int] = set()
        taken_dets: set[int] = set()
        # Greedy on affinity, best pairs first.
        for flat in np.argsort(-affinity, axis=None):
            d, t = divmod(int(flat), max(1, affinity.shape[1]))
            if affinity.size == 0 or affinity[d, t] < 0:
                break
            if d in taken_dets or t in taken_tracks:
                continue
            taken_dets.add(d)
            taken_tracks.add(t)
            track = self._tracks[t]
            track.box = boxes[d].astype(np.float32).copy()
            track.detected_at = max(track.detected_at, detected_at)
            track.lost = False
            track.hits += 1
            track.best_score = max(track.best_score, float(scores[d]))
        for d in range(len(boxes)):
            if d not in taken_dets:
                self._tracks.append(_Track(self._next_id, boxes[d].astype(np.float32).copy(),
                                           detected_at, np.zeros(2, np.float32),
                                           best_score=float(scores[d])))
                self._next_id += 1

    def _hold(self, track: _Track) -> float:
        config = self.config
        confirmed = track.hits >= config.confirm_hits or track.best_score >= config.confirm_score
        return config.hold if confirmed else config.weak_hold

    def _drop_expired(self, now: float) -> None:
        self._tracks = [t for t in self._tracks if now - t.detected_at <= self._hold(t)]

    def reset(self) -> None:
        """Forget every track (a scene cut made them meaningless)."""
        self._tracks.clear()

    def boxes(self) -> Detections:
        """Face boxes at the current frame, grown with their uncertainty, with ids."""
        if not self._tracks or self._current is None:
            return Detections.empty()
        now = self._current[2]
        out = []
        for track in self._tracks:
            age = max(0.0, now - track.detected_at)
            grow = self.config.growth_per_second * age + (
                self.config.lost_flow_growth if track.lost else 0.0)
            size = track.box[2:] - track.box[:2]
            out.append(np.concatenate([track.box[:2] - size * grow, track.box[2:] + size * grow]))
        return Detections(np.stack(out), np.ones(len(out), np.float32),
                          np.array([t.track_id for t in self._tracks]))

    def change_since(self, seq: int) -> float | None:
        """Scene change between frame ``seq`` and the current frame (``None`` if unknown)."""
        entry = self._history.get(seq)
        if entry is None or self._current is None:
            return None
        return scene_change(entry[0], self._current[1])
