"""Several CenterFace passes over one frame, merged: the quality presets.

One full-frame pass at a single resolution misses two kinds of faces: small
ones (too few network pixels) and some turned or partly hidden ones (the
network is not mirror-symmetric, so the mirrored image gives a second
chance). A :class:`MultiPassDetector` runs the passes of a
:class:`QualityPreset` and merges them:

1. every pass returns candidates down to the lowest threshold of the preset;
2. each candidate must reach the threshold for its size (small boxes may use a
   low threshold: a false one hides little, a missed one is likely; large
   boxes need more, since a false one hides a large area);
3. boxes cut by an internal tile border are dropped when a whole box covers
   them (:mod:`livefilter.detect.tiles`);
4. non-maximum suppression across all passes.

A tiled pass can be *cycled*: each ``detect()`` call runs only the next tile,
so a live stream gets a cheap full-frame pass every run and the whole frame
at high resolution every few runs (the tracker holds faces in between).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from livefilter.boxes import nms_xyxy
from livefilter.detect.centerface import CenterFaceDetector
from livefilter.detect.tiles import cut_by_internal_border, drop_cut_duplicates, tile_grid
from livefilter.detections import Detections
from livefilter.errors import ConfigError

__all__ = [
    "PRESETS",
    "FramePass",
    "MultiPassDetector",
    "PlannedRun",
    "QualityPreset",
    "Quality",
    "TilePass",
]

logger = logging.getLogger(__name__)

Quality = Literal["fast", "balanced", "thorough"]


def _check_face_range(owner: str, min_face: float, max_face: float) -> None:
    if not 0.0 <= min_face < max_face:
        raise ConfigError(
            f"{owner}.min_face/max_face: expected 0 <= min_face < max_face, "
            f"got {min_face!r} and {max_face!r}"
        )


def _check_scale(owner: str, scale: float) -> None:
    if not 0.1 <= scale <= 4.0:
        raise ConfigError(f"{owner}.scale: expected 0.1..4.0, got {scale!r}")


@dataclass(frozen=True, kw_only=True)
class FramePass:
    """One network run over the whole frame.

    Attributes:
        scale: network pixels per frame pixel (``2.0`` upscales).
        max_width: cap on the network width in pixels (``0``: no cap), so a
            live preset costs the same on a 4K frame as on a 720p one.
        flip: run on the horizontally mirrored frame (boxes are mapped back).
        min_face, max_face: keep only boxes whose height in frame pixels is
            in ``[min_face, max_face)``; a pass is kept to the sizes it finds
            well, the others come from the other passes.
    """

    scale: float = 1.0
    max_width: int = 0
    flip: bool = False
    min_face: float = 0.0
    max_face: float = math.inf

    def __post_init__(self) -> None:
        _check_scale("FramePass", self.scale)
        if self.max_width != 0 and not 64 <= self.max_width <= 7680:
            raise ConfigError(
                f"FramePass.max_width: expected 0 (no cap) or 64..7680, got {self.max_width!r}"
            )
        _check_face_range("FramePass", self.min_face, self.max_face)

    def network_width(self, frame_width: int) -> int:
        """Network input width for a frame ``frame_width`` pixels wide."""
        width = frame_width * self.scale
        if self.max_width:
            width = min(width, self.max_width)
        return max(32, int(round(width)))


@dataclass(frozen=True, kw_only=True)
class TilePass:
    """The frame cut into ``cols x rows`` overlapping tiles, each run at ``scale``.

    Attributes:
        scale: network pixels per frame pixel.
        cols, rows: tile grid.
        overlap: pixels neighbouring tiles share, as a share of the frame's
            shorter side. A face up to that tall lies whole in some tile.
        cycle: run one tile per ``detect()`` call, in turn, instead of all.
        flip: run on mirrored tiles.
        min_face, max_face: keep only boxes with heights in this range
            (frame pixels).
    """

    scale: float = 1.0
    cols: int = 2
    rows: int = 2
    overlap: float = 0.1
    cycle: bool = False
    flip: bool = False
    min_face: float = 0.0
    max_face: float = math.inf

    def __post_init__(self) -> None:
        _check_scale("TilePass", self.scale)
        for name in ("cols", "rows"):
            value = getattr(self, name)
            if not 1 <= value <= 8:
                raise ConfigError(f"TilePass.{name}: expected 1..8, got {value!r}")
        if not 0.0 <= self.overlap <= 0.5:
            raise ConfigError(f"TilePass.overlap: expected 0.0..0.5, got {self.overlap!r}")
        _check_face_range("TilePass", self.min_face, self.max_face)

    def tiles(self, width: int, height: int) -> np.ndarray:
        """``(cols * rows, 4) int64`` tiles of a ``width x height`` frame."""
        overlap = int(round(self.overlap * min(width, height)))
        return tile_grid(width, height, self.cols, self.rows, overlap)


Pass = FramePass | TilePass


@dataclass(frozen=True, kw_only=True)
class QualityPreset:
    """Which passes run and how their boxes are kept.

    Attributes:
        name: preset name (``fast``, ``balanced``, ``thorough``).
        passes: the passes, run in order.
        thresholds: ``((min_height, threshold), ...)`` with ascending heights
            starting at 0: a box ``h`` frame pixels tall is kept when its
            score reaches the threshold of the last entry with
            ``min_height <= h``.
        mask_scale: the hidden region's size relative to the face box that
            these thresholds were chosen for; used when the user gives none.
        nms_iou: IoU above which boxes from all passes are merged.
    """

    name: str
    passes: tuple[Pass, ...]
    thresholds: tuple[tuple[float, float], ...]
    mask_scale: float
    nms_iou: float = 0.3

    def __post_init__(self) -> None:
        if not self.passes:
            raise ConfigError(f"preset {self.name}: passes: expected at least one pass, got none")
        if not self.thresholds or self.thresholds[0][0] != 0:
            raise ConfigError(
                f"preset {self.name}: thresholds: expected ((0, t), ...) starting at height 0, "
                f"got {self.thresholds!r}"
            )
        heights = [h for h, _ in self.thresholds]
        if heights != sorted(heights) or len(set(heights)) != len(heights):
            raise ConfigError(
                f"preset {self.name}: thresholds: expected strictly ascending heights, "
                f"got {heights!r}"
            )
        for _, threshold in self.thresholds:
            if not 0.0 < threshold < 1.0:
                raise ConfigError(
                    f"preset {self.name}: thresholds: expected scores in (0, 1), "
                    f"got {threshold!r}"
                )
        if not 1.0 <= self.mask_scale <= 4.0:
            raise ConfigError(
                f"preset {self.name}: mask_scale: expected 1.0..4.0, got {self.mask_scale!r}"
            )
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError(
                f"preset {self.name}: nms_iou: expected a value in (0, 1], got {self.nms_iou!r}"
            )

    @property
    def lowest_threshold(self) -> float:
        return min(t for _, t in self.thresholds)

    def threshold_for(self, heights: np.ndarray) -> np.ndarray:
        """``(N,) float32`` score each box needs, from ``(N,)`` box heights."""
        heights = np.asarray(heights, np.float32).reshape(-1)
        bounds = np.array([h for h, _ in self.thresholds], np.float32)
        values = np.array([t for _, t in self.thresholds], np.float32)
        index = np.searchsorted(bounds, heights, side="right") - 1
        return values[np.clip(index, 0, len(values) - 1)]

    def with_threshold(self, threshold: float) -> QualityPreset:
        """This preset with one threshold for every face size."""
        return QualityPreset(
            name=self.name,
            passes=self.passes,
            thresholds=((0.0, threshold),),
            mask_scale=self.mask_scale,
            nms_iou=self.nms_iou,
        )

    @property
    def cycle_length(self) -> int:
        """Runs after which every cycled tile has been run once (1 when none cycle)."""
        lengths = [p.cols * p.rows for p in self.passes if isinstance(p, TilePass) and p.cycle]
        return math.lcm(*lengths) if lengths else 1


PRESETS: dict[str, QualityPreset] = {
    # Placeholder definitions; see the tuned values below.
}


@dataclass(frozen=True)
class PlannedRun:
    """One network run of a detect() call: which pass, on which part of the frame.

    ``region`` is ``x1, y1, x2, y2`` in frame pixels (the whole frame for a
    full-frame pass); ``tile`` is the tile index in its grid, or ``-1``.
    """

    pass_index: int
    region: tuple[int, int, int, int]
    tile: int
    network_width: int
    flip: bool


class MultiPassDetector:
    """Runs a :class:`QualityPreset` with a :class:`CenterFaceDetector`.

    ``detect`` takes an ``(H, W, 3) uint8`` BGR frame and returns its faces in
    frame pixels. Cycled tile passes advance one tile per call; the counter
    is per instance and guarded by a lock.
    """

    def __init__(self, centerface: CenterFaceDetector, preset: QualityPreset) -> None:
        self.centerface = centerface
        self.preset = preset
        self.name = f"centerface-{preset.name}"
        self._runs = 0
        self._lock = threading.Lock()

    @property
    def mask_scale(self) -> float:
        """The mask scale the preset was tuned for."""
        return self.preset.mask_scale

    def plan(self, width: int, height: int, run_index: int) -> list[PlannedRun]:
        """The network runs ``detect()`` number ``run_index`` makes on a ``width x height`` frame."""
        runs: list[PlannedRun] = []
        for index, spec in enumerate(self.preset.passes):
            if isinstance(spec, FramePass):
                runs.append(
                    PlannedRun(index, (0, 0, width, height), -1, spec.network_width(width),
                               spec.flip)
                )
                continue
            tiles = spec.tiles(width, height)
            chosen = [run_index % len(tiles)] if spec.cycle else range(len(tiles))
            for tile_index in chosen:
                x1, y1, x2, y2 = (int(v) for v in tiles[tile_index])
                runs.append(
                    PlannedRun(index, (x1, y1, x2, y2), int(tile_index),
                               max(32, int(round((x2 - x1) * spec.scale))), spec.flip)
                )
        return runs

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """Faces in ``frame_bgr`` (``(H, W, 3) uint8`` BGR), merged over all passes."""
        with self._lock:
            run_index = self._runs
            self._runs += 1
        return self.detect_run(frame_bgr, run_index)

    def detect_run(self, frame_bgr: np.ndarray, run_index: int) -> Detections:
        """Like :meth:`detect` but for an explicit position in the tile cycle."""
        height, width = frame_bgr.shape[:2]
        preset = self.preset
        lowest = preset.lowest_threshold
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        cuts: list[np.ndarray] = []
        for run in self.plan(width, height, run_index):
            spec = preset.passes[run.pass_index]
            x1, y1, x2, y2 = run.region
            image = frame_bgr[y1:y2, x1:x2]
            if run.flip:
                image = cv2.flip(image, 1)
            found = self.centerface.detect(image, run.network_width, threshold=lowest)
            if len(found) == 0:
                continue
            xyxy = found.xyxy.copy()
            if run.flip:
                xyxy[:, [0, 2]] = (x2 - x1) - xyxy[:, [2, 0]]
            xyxy[:, 0::2] += x1
            xyxy[:, 1::2] += y1
            face_heights = xyxy[:, 3] - xyxy[:, 1]
            sized = (face_heights >= spec.min_face) & (face_heights < spec.max_face)
            if run.tile >= 0:
                cut = cut_by_internal_border(xyxy, np.array(run.region), width, height)
            else:
                cut = np.zeros(len(xyxy), bool)
            boxes.append(xyxy[sized])
            scores.append(found.scores[sized])
            cuts.append(cut[sized])
        if not boxes:
            return Detections.empty()
        xyxy = np.concatenate(boxes)
        score = np.concatenate(scores)
        cut = np.concatenate(cuts)
        strong = score >= preset.threshold_for(xyxy[:, 3] - xyxy[:, 1])
        xyxy, score, cut = xyxy[strong], score[strong], cut[strong]
        whole = drop_cut_duplicates(xyxy, cut)
        xyxy, score = xyxy[whole], score[whole]
        keep = nms_xyxy(xyxy, score, preset.nms_iou)
        return Detections(xyxy[keep], score[keep])
