"""What is hidden: faces, whole heads or whole people (``--hide``).

The face detector finds faces; this module turns them into the regions to
hide for the other targets:

* ``heads``: each face box grown to the whole head with hair, ears and neck
  (:data:`HEAD`);
* ``people``: each person the YOLOX person detector finds, joined with the
  heads of the faces inside it; a face with no person box around it (too
  small, too occluded, cut by the frame) is grown into a body region
  (:data:`BODY`). The person boxes win where they exist.

A :class:`TargetDetector` does this behind the detector interface, so the
tracker, the planner and the look-ahead of the video paths carry (and fail
closed on) a head or a body exactly as they do a face: its ``detect()``
returns the regions themselves, to be hidden at mask scale 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from livefilter.boxes import inside_share_xyxy, xyxy_clip
from livefilter.detect.base import Detector
from livefilter.detections import Detections

__all__ = [
    "BODY",
    "HEAD",
    "HIDE_TARGETS",
    "Grow",
    "HideTarget",
    "TargetDetector",
    "body_boxes",
    "grow_boxes",
    "head_boxes",
    "people_regions",
]

HideTarget = Literal["faces", "heads", "people"]
HIDE_TARGETS: tuple[str, ...] = get_args(HideTarget)


@dataclass(frozen=True, kw_only=True)
class Grow:
    """A box grown from a face box, in face widths (sides) and face heights
    (top, bottom), measured from the face box's edges."""

    side: float
    top: float
    bottom: float


# CenterFace's box runs from about the hairline to the chin and from cheek
# to cheek. Anthropometric ratios give the starting point (adult head:
# hairline to chin about 18 cm, the crown about 6-8 cm above the hairline
# with hair, so 0.35-0.45 face heights; head breadth with the ears about 1.3
# face box widths; the neck about 0.5 face heights to the collar). Drawn on
# 36 faces of wider_dev and wider_crowds (benchmarks/head_check.py writes
# the sheets) and looked at, the crown with hair needed 0.55 face heights
# above the box, the ears and the hair at the temples 0.35 face widths each
# side (0.3 left long hair showing at the cheeks), and the neck 0.6 face
# heights below the chin. The hidden ellipse is inscribed in this box.
HEAD = Grow(side=0.35, top=0.55, bottom=0.6)

# A body grown from a face when no person box holds it. Measured on the 831
# YOLOX person boxes of every 3rd photo of wider_dev and wider_crowds that
# hold exactly one labelled face (>= 24 px) and do not touch the photo's
# edge (benchmarks/people.py --measure-body), in face box units: each side
# median 1.2 face widths (80th percentile 1.9), top 0.38 face heights (0.66),
# bottom 4.2 face heights below the chin (7.6; many are seated or cut by
# someone in front). Recall first: the sides between median and 80th
# percentile, the bottom at the 80th percentile, the top as a head's.
BODY = Grow(side=1.5, top=0.55, bottom=7.5)


def grow_boxes(face_xyxy: np.ndarray, grow: Grow) -> np.ndarray:
    """``(N, 4) float32``: each face box grown by ``grow``."""
    faces = np.asarray(face_xyxy, np.float32).reshape(-1, 4)
    w = (faces[:, 2] - faces[:, 0])[:, None]
    h = (faces[:, 3] - faces[:, 1])[:, None]
    grow_by = np.concatenate([-grow.side * w, -grow.top * h, grow.side * w, grow.bottom * h],
                             axis=1)
    return (faces + grow_by).astype(np.float32)


def head_boxes(face_xyxy: np.ndarray) -> np.ndarray:
    """The whole head (hair, ears, neck) of each face box."""
    return grow_boxes(face_xyxy, HEAD)


def body_boxes(face_xyxy: np.ndarray) -> np.ndarray:
    """A body region grown from each face box (head included)."""
    return grow_boxes(face_xyxy, BODY)


def people_regions(faces: Detections, persons: Detections, width: int,
                   height: int) -> Detections:
    """One region per person: each person box joined with the heads of the
    faces it holds, and a grown body for each face no person box holds.

    A face belongs to the smallest person box that holds most of its box
    (60 %) in its upper half: the person detector's box wins over the grown
    one. A head that pokes out of its person box is kept whole by the join.
    """
    heads = head_boxes(faces.xyxy)
    regions = persons.xyxy.copy()
    region_scores = persons.scores.copy()
    owner = np.full(len(faces), -1, np.int64)
    if len(faces) and len(persons):
        upper = persons.xyxy.copy()
        upper[:, 3] = (persons.xyxy[:, 1] + persons.xyxy[:, 3]) / 2
        holds = inside_share_xyxy(faces.xyxy, upper) >= 0.6
        areas = np.prod(persons.xyxy[:, 2:] - persons.xyxy[:, :2], axis=1)
        for f in np.flatnonzero(holds.any(axis=1)):
            candidates = np.flatnonzero(holds[f])
            owner[f] = candidates[np.argmin(areas[candidates])]
    for f, p in enumerate(owner):
        if p < 0:
            continue
        regions[p, :2] = np.minimum(regions[p, :2], heads[f, :2])
        regions[p, 2:] = np.maximum(regions[p, 2:], heads[f, 2:])
        region_scores[p] = max(region_scores[p], faces.scores[f])
    free = owner < 0
    grown = body_boxes(faces.xyxy[free])
    boxes = np.concatenate([regions, grown]) if len(grown) else regions
    scores = np.concatenate([region_scores, faces.scores[free]])
    return Detections(xyxy_clip(boxes, width, height), scores)


class TargetDetector:
    """The regions of ``--hide heads`` or ``people``, behind the detector
    interface (``faces`` needs none: the face boxes are the regions, grown
    by the mask scale where they are hidden).

    Args:
        faces: the face detector.
        target: ``heads`` or ``people``.
        persons: the person detector (``people`` only).

    :meth:`find` gives the faces and the regions; :meth:`detect` the regions
    alone, as the boxes the tracker follows (hidden at mask scale 1).
    """

    def __init__(self, faces: Detector, target: HideTarget, *,
                 persons: Detector | None = None) -> None:
        if target not in ("heads", "people"):
            raise ValueError(f"TargetDetector: expected heads or people, got {target!r}")
        if target == "people" and persons is None:
            raise ValueError("hide people needs a person detector")
        self.faces = faces
        self.persons = persons
        self.target = target
        self.name = f"{faces.name}+{target}"

    @property
    def cycle_length(self) -> int:
        """The face detector's cycle (the person detector does the same on
        every call)."""
        from livefilter.detect import calls_per_cycle

        return calls_per_cycle(self.faces)

    def find(self, frame_bgr: np.ndarray) -> tuple[Detections, Detections]:
        """``(faces, regions)`` of ``frame_bgr``; regions in frame pixels."""
        faces = self.faces.detect(frame_bgr)
        height, width = frame_bgr.shape[:2]
        if self.target == "heads":
            return faces, Detections(head_boxes(faces.xyxy), faces.scores)
        assert self.persons is not None
        persons = self.persons.detect(frame_bgr)
        return faces, people_regions(faces, persons, width, height)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        return self.find(frame_bgr)[1]
