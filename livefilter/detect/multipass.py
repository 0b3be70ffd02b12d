"""Several CenterFace passes over one frame, merged: the quality presets.

One full-frame pass at a single resolution misses two kinds of faces: small
ones (too few network pixels) and some turned or partly hidden ones (the
network is not mirror-symmetric, so the mirrored image gives a second
chance). A :class:`MultiPassDetector` runs the passes of a
:class:`QualityPreset` and merges them:

1. every pass returns candidates down to the lowest threshold of the preset,
   keeping only the face sizes it is there for (an upscaled pass the small
   faces, a downscaled one the large);
2. each candidate must reach the threshold for its size (see
   :class:`QualityPreset`: boxes the network saw tiny need more, boxes large
   in the frame need more, since a false one hides a large area);
3. boxes cut by an internal tile border are dropped when a whole box covers
   them (:mod:`livefilter.detect.tiles`);
4. non-maximum suppression across all passes.

A tiled pass can be *cycled*: each time it runs, only its next tile runs.
Any pass can also run on some calls only (``every``, ``offsets``). A live
stream thus gets a cheap full-frame pass on most runs and the whole frame at
high resolution every few runs, and a video file the costly passes of
``thorough`` in turn, one or two a frame; the tracker and the look-ahead
hold faces in between.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, replace

import cv2
import numpy as np

from livefilter.boxes import nms_xyxy, xyxy_unrotate
from livefilter.detect.base import round_to_multiple
from livefilter.detect.centerface import CenterFaceDetector
from livefilter.detect.presets import (
    _ROTATIONS,
    BUDGET_TILE_OVERLAP,
    MAX_NETWORK_PIXELS,
    PRESETS,
    VIDEO_NETWORK_PIXELS,
    VIDEO_TILE_OVERLAP,
    FramePass,
    Pass,
    QualityPreset,
    TilePass,
    calls_to_revisit,
    cycle_length,
    is_tilt,
    reduced_passes,
    runs_to_cover,
)
from livefilter.detect.tiles import (
    cut_by_internal_border,
    drop_cut_duplicates,
    split_for_budget,
)
from livefilter.detect.tilt import tilt_canvas, tilted, turned_ellipse_boxes
from livefilter.detections import Detections
from livefilter.errors import ConfigError

# The pass and preset names are re-exported: they are what callers of a
# multi-pass detector configure it with.
__all__ = [
    "BUDGET_TILE_OVERLAP",
    "MAX_NETWORK_PIXELS",
    "PRESETS",
    "VIDEO_NETWORK_PIXELS",
    "VIDEO_TILE_OVERLAP",
    "FramePass",
    "MultiPassDetector",
    "Pass",
    "PlannedRun",
    "QualityPreset",
    "TilePass",
    "calls_to_revisit",
    "cycle_length",
    "runs_to_cover",
    "sure_one_way_round",
]

logger = logging.getLogger(__name__)

# Which way up a frame looks: the passes (upright or turned) that found more
# faces at this score or above. Boxes found the other way round then need
# more: a turned pass's box 0.2 on an upright-looking frame, an upright
# pass's box 0.3 on a turned-looking one. Measured on turned copies of every
# 25th photo of wider_dev and wider_crowds (benchmarks/rotated.py): the
# upright passes find many false faces on a turned photo (over-blur at 90
# degrees 3.7 % and 3.9 % against 2.3 % and 1.2 % upright), the turned
# passes some on an upright one (+1.1 and +1.3 points at threshold 0.1).
# This rule: upright +0.3 and +0.5 points, 90 degrees 3.4 % and 3.6 %; asking
# 0.4 or 0.5 of the upright boxes cut 90 degrees to 3.2-3.3 % but lost faces
# on an upright photo taken for a turned one (covered 1.000 -> 0.989).
_ORIENTATION_SCORE = 0.5
_OTHER_WAY_MIN_SCORE = {True: 0.2, False: 0.3}  # by "the box is from a turned pass"

@dataclass(frozen=True)
class PlannedRun:
    """One network run of a detect() call: which pass, on which part of the frame.

    ``region`` is ``x1, y1, x2, y2`` in frame pixels (the whole frame for a
    full-frame pass); ``tile`` is the tile index in its grid, or ``-1``;
    ``rotate`` the clockwise turn of the region the network sees.
    """

    pass_index: int
    region: tuple[int, int, int, int]
    tile: int
    network_width: int
    flip: bool
    rotate: int = 0


class MultiPassDetector:
    """Runs a :class:`QualityPreset` with a :class:`CenterFaceDetector` (and,
    for passes whose ``network`` is ``yunet``, a YuNet detector).

    ``detect`` takes an ``(H, W, 3) uint8`` BGR frame and returns its faces in
    frame pixels. Cycled tile passes advance one tile per call; the counter
    is per instance and guarded by a lock. With ``video``, frames are taken
    to be from a video and the preset's ``video_min_scores`` apply.
    """

    def __init__(self, centerface: CenterFaceDetector, preset: QualityPreset, *,
                 video: bool = False, yunet: object | None = None) -> None:
        self.centerface = centerface
        self.yunet = yunet
        self.preset = preset
        self.video = video
        self._full_passes = preset.passes_for(video=video)
        self.passes = self._full_passes
        if yunet is None and any(p.network == "yunet" for p in self.passes):
            raise ConfigError(f"preset {preset.name}: a pass runs YuNet but no YuNet "
                              "detector was given")
        self.name = f"centerface-{preset.name}"
        self.reduced = False
        self._runs = 0
        self._lock = threading.Lock()

    @property
    def revisit_calls(self) -> int:
        """Consecutive calls that see the whole frame with the current passes."""
        return calls_to_revisit(self.passes)

    def reduce(self, reduced: bool) -> None:
        """Swap to (or back from) the reduced passes (``reduced_passes``):
        what a live pipeline steps down to when the detector is too slow for
        the preset's passes to see the whole frame within the hold. They find
        fewer small faces, but each call sees the whole frame, where the
        preset's cycle would leave parts unseen for longer than a face is held.
        Call it between ``detect()`` calls (the live detector thread does).
        """
        with self._lock:
            self.reduced = reduced
            self.passes = (reduced_passes(yunet=self.yunet is not None) if reduced
                           else self._full_passes)

    @property
    def mask_scale(self) -> float:
        """The mask scale the preset was tuned for."""
        return self.preset.mask_scale

    @property
    def cycle_length(self) -> int:
        """Calls after which the passes run as from the first call again."""
        return cycle_length(self.passes)

    def plan(self, width: int, height: int, run_index: int,
             passes: tuple[Pass, ...] | None = None) -> list[PlannedRun]:
        """The network runs of ``detect()`` call ``run_index`` on a ``width x height`` frame."""
        runs: list[PlannedRun] = []
        for index, spec in enumerate(passes or self.passes):
            if not spec.runs_on(run_index):
                continue
            if isinstance(spec, FramePass):
                if spec.tilt:
                    seen_width = tilt_canvas(width, height, spec.rotate)[0]
                else:
                    seen_width = height if spec.rotate in (90, 270) else width
                runs.append(
                    PlannedRun(index, (0, 0, width, height), -1, spec.network_width(seen_width),
                               spec.flip, spec.rotate)
                )
                continue
            tiles = spec.tiles(width, height)
            chosen = ([spec.times_run_before(run_index) % len(tiles)] if spec.cycle
                      else range(len(tiles)))
            for tile_index in chosen:
                x1, y1, x2, y2 = (int(v) for v in tiles[tile_index])
                seen_width = (y2 - y1) if spec.rotate in (90, 270) else (x2 - x1)
                runs.append(
                    PlannedRun(index, (x1, y1, x2, y2), int(tile_index),
                               spec.network_width(seen_width), spec.flip, spec.rotate)
                )
        return [split for run in runs for split in self._within_budget(run)]

    def _within_budget(self, run: PlannedRun) -> list[PlannedRun]:
        """``run``, or overlapping tiles of it when its network input is over
        the budget (:data:`MAX_NETWORK_PIXELS` for a photo,
        :data:`VIDEO_NETWORK_PIXELS` for a video frame).

        A run turned a quarter is split as the network sees it (its width is
        the region's height), and each tile keeps the turn."""
        budget, overlap = ((VIDEO_NETWORK_PIXELS, VIDEO_TILE_OVERLAP) if self.video
                           else (MAX_NETWORK_PIXELS, BUDGET_TILE_OVERLAP))
        x1, y1, x2, y2 = run.region
        if is_tilt(run.rotate):
            # A tilted canvas is not cut: over the budget its network width
            # shrinks to fit (a tilted face on a huge photo is seen at a
            # lower scale; the upright and quarter-turned passes keep theirs).
            canvas_width, canvas_height = tilt_canvas(x2 - x1, y2 - y1, run.rotate)
            fits = int(math.sqrt(budget * canvas_width / canvas_height))
            if run.network_width <= fits:
                return [run]
            return [replace(run, network_width=max(32, fits))]
        quarter = run.rotate in (90, 270)
        seen = (y1, x1, y2, x2) if quarter else run.region
        pieces = split_for_budget(seen, run.network_width, budget, overlap)
        if len(pieces) == 1:
            return [run]
        return [PlannedRun(run.pass_index,
                           (b, a, d, c) if quarter else (a, b, c, d),
                           index, network_width, run.flip, run.rotate)
                for index, ((a, b, c, d), network_width) in enumerate(pieces)]

    def seek_cycle(self, run_index: int) -> None:
        """Make the next :meth:`detect` call run ``run_index``: a video
        processed in segments then gets, on every frame, the passes a
        one-piece run gives it (and a new file starts the cycle afresh)."""
        with self._lock:
            self._runs = run_index

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """Faces in ``frame_bgr`` (``(H, W, 3) uint8`` BGR), merged over all passes."""
        with self._lock:
            run_index = self._runs
            self._runs += 1
            passes = self.passes
        return self.detect_run(frame_bgr, run_index, passes)

    def detect_run(self, frame_bgr: np.ndarray, run_index: int,
                   passes: tuple[Pass, ...] | None = None) -> Detections:
        """Like :meth:`detect` but for an explicit position in the tile cycle."""
        height, width = frame_bgr.shape[:2]
        preset = self.preset
        passes = passes or self.passes
        lowest = preset.lowest_threshold
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        needs: list[np.ndarray] = []
        cuts: list[np.ndarray] = []
        sides: list[np.ndarray] = []
        for run in self.plan(width, height, run_index, passes):
            spec = passes[run.pass_index]
            x1, y1, x2, y2 = run.region
            image = frame_bgr[y1:y2, x1:x2]
            if run.flip:
                image = cv2.flip(image, 1)
            back = None
            if is_tilt(run.rotate):
                image, back = tilted(image, run.rotate)
            elif run.rotate:
                image = cv2.rotate(image, _ROTATIONS[run.rotate])
            network = self.yunet if spec.network == "yunet" else self.centerface
            # Boxes under the pass's min_score are dropped below anyway.
            found = network.detect(  # type: ignore[union-attr]
                image, run.network_width, threshold=max(lowest, spec.min_score))
            if len(found) == 0:
                continue
            # Sizes as the network saw the face (upright in the turned image).
            face_heights = found.xyxy[:, 3] - found.xyxy[:, 1]
            if back is None:
                xyxy = xyxy_unrotate(found.xyxy, run.rotate, x2 - x1, y2 - y1)
            else:
                xyxy = turned_ellipse_boxes(found.xyxy, back, run.rotate)
            if run.flip:
                xyxy[:, [0, 2]] = (x2 - x1) - xyxy[:, [2, 0]]
            xyxy[:, 0::2] += x1
            xyxy[:, 1::2] += y1
            sized = (face_heights >= spec.min_face) & (face_heights < spec.max_face)
            # Width is rounded to the network's stride, so take the scale
            # actually used rather than the pass's nominal one.
            network_scale = round_to_multiple(run.network_width, 32) / image.shape[1]
            need = np.maximum(
                preset.threshold_for(face_heights, face_heights * network_scale), spec.min_score
            )
            if self.video:
                need = np.maximum(need, preset.video_threshold_for(face_heights))
            if run.tile >= 0:
                cut = cut_by_internal_border(xyxy, np.array(run.region), width, height)
            else:
                cut = np.zeros(len(xyxy), bool)
            boxes.append(xyxy[sized])
            scores.append(found.scores[sized])
            needs.append(need[sized])
            cuts.append(cut[sized])
            sides.append(np.full(int(sized.sum()), _side(run.rotate)))
        if not boxes:
            return Detections.empty()
        xyxy = np.concatenate(boxes)
        score = np.concatenate(scores)
        cut = np.concatenate(cuts)
        side = np.concatenate(sides)
        strong = score >= np.concatenate(needs)
        xyxy, score, cut, side = xyxy[strong], score[strong], cut[strong], side[strong]
        sure = sure_one_way_round(xyxy, score, side, preset.nms_iou)
        xyxy, score, cut = xyxy[sure], score[sure], cut[sure]
        whole = drop_cut_duplicates(xyxy, cut)
        xyxy, score = xyxy[whole], score[whole]
        keep = nms_xyxy(xyxy, score, preset.nms_iou)
        return Detections(xyxy[keep], score[keep])



# Which side of the way-up rule a pass's boxes are on (``sure_one_way_round``).
UPRIGHT, TURNED, TILTED = 0, 1, 2


def _side(rotate: int) -> int:
    if rotate == 0:
        return UPRIGHT
    return TILTED if is_tilt(rotate) else TURNED


def sure_one_way_round(xyxy: np.ndarray, score: np.ndarray, side: np.ndarray,
                       nms_iou: float) -> np.ndarray:
    """``(N,) bool``: the boxes kept once the frame's way up is known.

    ``side`` says, per box, whether an upright (0 or False), a quarter-turned
    (1 or True) or a tilted (2) pass found it. The frame looks turned when
    the turned passes found more faces at ``_ORIENTATION_SCORE`` or above
    (each counted once, after NMS within its side) than the upright ones;
    boxes found the other way round from how it looks must reach
    ``_OTHER_WAY_MIN_SCORE``. Tilted boxes neither vote nor are judged: a
    45-degree pass sees upright and sideways faces alike half-turned, and
    its own ``min_score`` holds its false faces down.
    """
    side = np.asarray(side).astype(np.int8)
    if not (side == TURNED).any():
        return np.ones(len(score), bool)
    counts = []
    for which in (UPRIGHT, TURNED):
        chosen = side == which
        keep = nms_xyxy(xyxy[chosen], score[chosen], nms_iou)
        counts.append(int(np.count_nonzero(score[chosen][keep] >= _ORIENTATION_SCORE)))
    looks_turned = counts[1] > counts[0]
    other_way = np.where(side == TURNED, not looks_turned, looks_turned) & (side != TILTED)
    need = np.where(side == TURNED, _OTHER_WAY_MIN_SCORE[True], _OTHER_WAY_MIN_SCORE[False])
    return ~other_way | (score >= need)
