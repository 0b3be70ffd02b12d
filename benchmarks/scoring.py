"""How well faces are hidden: coverage recall and over-blur.

Shared by the benchmarks and the tests so both score the same way:

* a labelled face is **covered** when at least 60 % of its box (the part
  inside the frame) lies in hidden pixels;
* **over-blur** is the share of the frame that is hidden outside every
  labelled face enlarged 1.5x about its centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livefilter.boxes import xyxy_clip, xyxy_scale_about_centre

__all__ = [
    "COVERED_SHARE",
    "HEIGHT_BUCKETS",
    "CoverageTally",
    "LeakTally",
    "box_mask",
    "covered_share",
    "over_blur",
]

COVERED_SHARE = 0.6
HEIGHT_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("16-31", 16, 32),
    ("32-63", 32, 64),
    ("64+", 64, float("inf")),
)


def _integer_boxes(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    clipped = xyxy_clip(xyxy, width, height)
    out = np.empty(clipped.shape, np.int64)
    out[:, :2] = np.floor(clipped[:, :2])
    out[:, 2:] = np.ceil(clipped[:, 2:])
    return out


def covered_share(face_xyxy: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """``(N,)`` share of each face box's in-frame pixels that are hidden.

    ``hidden`` is an ``(H, W) bool`` mask. A face wholly outside the frame
    scores 1.0 (nothing of it is visible).
    """
    height, width = hidden.shape
    integral = np.zeros((height + 1, width + 1), np.int64)
    integral[1:, 1:] = np.cumsum(np.cumsum(hidden, axis=0, dtype=np.int64), axis=1)
    boxes = _integer_boxes(face_xyxy, width, height)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    inside = integral[y2, x2] - integral[y1, x2] - integral[y2, x1] + integral[y1, x1]
    return np.where(area > 0, inside / np.maximum(area, 1), 1.0)


def box_mask(xyxy: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(H, W) bool``: pixels touched by any of the boxes."""
    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in _integer_boxes(xyxy, width, height):
        mask[y1:y2, x1:x2] = True
    return mask


def over_blur(hidden: np.ndarray, face_xyxy: np.ndarray, enlarge: float = 1.5) -> float:
    """Share of the frame hidden outside all faces enlarged ``enlarge`` x."""
    height, width = hidden.shape
    protected = box_mask(xyxy_scale_about_centre(face_xyxy, enlarge), height, width)
    return float(np.count_nonzero(hidden & ~protected)) / float(height * width)


@dataclass
class CoverageTally:
    """Running count of covered faces, overall (>= 16 px tall) and per height bucket."""

    min_height: float = 16.0
    faces: int = 0
    covered: int = 0
    bucket_faces: dict[str, int] = field(default_factory=lambda: {b[0]: 0 for b in HEIGHT_BUCKETS})
    bucket_covered: dict[str, int] = field(
        default_factory=lambda: {b[0]: 0 for b in HEIGHT_BUCKETS}
    )
    over_blur_sum: float = 0.0
    images: int = 0

    def add(self, face_xyxy: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """Score one image; returns the per-face covered flags (all faces)."""
        face_xyxy = np.asarray(face_xyxy, np.float32).reshape(-1, 4)
        share = covered_share(face_xyxy, hidden)
        covered = share >= COVERED_SHARE
        heights = face_xyxy[:, 3] - face_xyxy[:, 1]
        counted = heights >= self.min_height
        self.faces += int(counted.sum())
        self.covered += int((covered & counted).sum())
        for name, low, high in HEIGHT_BUCKETS:
            in_bucket = (heights >= low) & (heights < high)
            self.bucket_faces[name] += int(in_bucket.sum())
            self.bucket_covered[name] += int((in_bucket & covered).sum())
        self.over_blur_sum += over_blur(hidden, face_xyxy)
        self.images += 1
        return covered

    def summary(self) -> dict[str, float | int | dict[str, float | None]]:
        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "faces": self.faces,
            "recall": ratio(self.covered, self.faces),
            "recall_by_height": {
                name: ratio(self.bucket_covered[name], self.bucket_faces[name])
                for name, _, _ in HEIGHT_BUCKETS
            },
            "over_blur": round(self.over_blur_sum / self.images, 4) if self.images else None,
            "images": self.images,
        }


@dataclass
class LeakTally:
    """Leaks on labelled video, frame by frame and face by face.

    A face at least ``min_height`` px tall *leaks* in a frame when less than
    60 % of its box is hidden. Curtain frames hide everything. Over-blur is
    averaged over the frames that are not curtain (curtain frames are counted
    on their own).
    """

    min_height: float = 16.0
    face_frames: int = 0
    leaked: int = 0
    frames: int = 0
    curtain_frames: int = 0
    over_blur_sum: float = 0.0
    per_face: dict[int, list[bool]] = field(default_factory=dict)

    def add(self, faces_xywh_id: list[list[float]], hidden: np.ndarray | None,
            curtain: bool) -> None:
        """Score one frame. ``hidden`` may be ``None`` for a curtain frame."""
        self.frames += 1
        rows = np.asarray(faces_xywh_id, np.float32).reshape(-1, 5)
        boxes = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], axis=1)
        if curtain:
            self.curtain_frames += 1
            exposed = np.zeros(len(rows), bool)
        else:
            if hidden is None:
                raise ValueError("a frame that is not curtain needs its hidden mask")
            exposed = covered_share(boxes, hidden) < COVERED_SHARE
            self.over_blur_sum += over_blur(hidden, boxes)
        counted = rows[:, 3] >= self.min_height
        self.face_frames += int(counted.sum())
        self.leaked += int((exposed & counted).sum())
        for face_id, is_exposed, is_counted in zip(rows[:, 4].astype(int), exposed, counted,
                                                   strict=True):
            if is_counted:
                self.per_face.setdefault(int(face_id), []).append(bool(is_exposed))

    @staticmethod
    def _longest_run(flags: list[bool]) -> int:
        best = run = 0
        for flag in flags:
            run = run + 1 if flag else 0
            best = max(best, run)
        return best

    def summary(self) -> dict[str, float | int | None]:
        open_frames = self.frames - self.curtain_frames
        return {
            "frames": self.frames,
            "face_frames": self.face_frames,
            "leaked_face_frames": self.leaked,
            "leak_rate": round(self.leaked / self.face_frames, 4) if self.face_frames else None,
            "faces": len(self.per_face),
            "faces_ever_exposed": sum(any(f) for f in self.per_face.values()),
            "faces_exposed_half": sum(
                sum(f) * 2 >= len(f) for f in self.per_face.values() if f
            ),
            "longest_exposed_run": max(
                (self._longest_run(f) for f in self.per_face.values()), default=0
            ),
            "curtain_frames": self.curtain_frames,
            "curtain_share": round(self.curtain_frames / self.frames, 4) if self.frames else None,
            "over_blur": round(self.over_blur_sum / open_frames, 4) if open_frames else None,
        }

    def merge(self, other: LeakTally) -> None:
        """Pool another clip's tally into this one. Its faces get new ids after
        this tally's, since two clips' face ids may coincide."""
        self.face_frames += other.face_frames
        self.leaked += other.leaked
        self.frames += other.frames
        self.curtain_frames += other.curtain_frames
        self.over_blur_sum += other.over_blur_sum
        first_free = max(self.per_face, default=-1) + 1
        for rank, flags in enumerate(other.per_face.values()):
            self.per_face[first_free + rank] = list(flags)
