"""Tiles: cutting a frame into overlapping pieces and merging what they find.

Small faces need more network pixels than a full-frame pass can afford, so a
tiled pass runs the network on overlapping pieces of the frame at a higher
scale. Two things go wrong at tile borders if nothing is done:

* a face cut by an internal border is found (partly) by both tiles, and
* the cut half yields a box that covers only part of the face.

With an overlap at least as tall and wide as a face, a face cut by one tile
lies whole inside its neighbour. :func:`drop_cut_duplicates` therefore drops
a box that touches an internal border **only when another box that is not
cut already covers most of it**; a cut box that nobody else found is kept,
because dropping it would publish the face if the neighbour missed it.
"""

from __future__ import annotations

import math

import numpy as np

from livefilter.boxes import inside_share_xyxy

__all__ = ["cut_by_internal_border", "drop_cut_duplicates", "tile_grid"]

# A box edge this close (in frame pixels) to an internal tile border counts as
# cut by it: boxes are clipped to the tile, so a cut edge lies exactly on it.
_CUT_TOLERANCE = 1.0
# A cut box is a duplicate when a whole box covers at least this share of it.
_DUPLICATE_COVER = 0.5


def _spans(length: int, count: int, overlap: int) -> list[tuple[int, int]]:
    """``count`` spans of equal size covering ``[0, length)``, neighbours sharing ``overlap``."""
    if count == 1:
        return [(0, length)]
    size = min(length, math.ceil((length + (count - 1) * overlap) / count))
    starts = np.linspace(0, length - size, count).round().astype(int)
    return [(int(s), int(s) + size) for s in starts]


def tile_grid(width: int, height: int, cols: int, rows: int, overlap: int) -> np.ndarray:
    """Overlapping tiles that together cover a ``width x height`` frame.

    Tiles all have the same size (so one network session serves them all),
    the outer ones flush with the frame edges, neighbours sharing at least
    ``overlap`` pixels (more when the frame is too small to need it).

    Returns:
        ``(cols * rows, 4) int64`` tiles ``x1, y1, x2, y2`` (end exclusive),
        row by row from the top left.
    """
    if cols < 1 or rows < 1:
        raise ValueError(f"tile_grid: cols and rows must be >= 1, got {cols}x{rows}")
    xs = _spans(width, cols, overlap)
    ys = _spans(height, rows, overlap)
    return np.array([(x1, y1, x2, y2) for y1, y2 in ys for x1, x2 in xs], np.int64)


def cut_by_internal_border(
    xyxy: np.ndarray, tile: np.ndarray, width: int, height: int
) -> np.ndarray:
    """``(N,) bool``: which boxes found in ``tile`` touch one of its internal borders.

    An internal border is a tile edge that is not also a frame edge: a box
    touching it may be a face cut in two. ``xyxy`` is ``(N, 4)`` in frame
    pixels, clipped to the tile (as the detector returns it).
    """
    x1, y1, x2, y2 = (float(v) for v in tile)
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    cut = np.zeros(len(boxes), bool)
    if x1 > 0:
        cut |= boxes[:, 0] <= x1 + _CUT_TOLERANCE
    if y1 > 0:
        cut |= boxes[:, 1] <= y1 + _CUT_TOLERANCE
    if x2 < width:
        cut |= boxes[:, 2] >= x2 - _CUT_TOLERANCE
    if y2 < height:
        cut |= boxes[:, 3] >= y2 - _CUT_TOLERANCE
    return cut


def drop_cut_duplicates(xyxy: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """``(N,) bool`` keep-mask: cut boxes are dropped when a whole box covers them.

    Args:
        xyxy: ``(N, 4) float32`` boxes in frame pixels, from all passes.
        cut: ``(N,) bool``, which boxes touch an internal tile border.

    A cut box is dropped when a box that is not cut covers at least half of
    its area (the neighbouring tile, or a full-frame pass, found the face
    whole). Every other box is kept.
    """
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    cut = np.asarray(cut, bool).reshape(-1)
    keep = np.ones(len(boxes), bool)
    if not cut.any() or cut.all():
        return keep
    covered = (inside_share_xyxy(boxes[cut], boxes[~cut]) >= _DUPLICATE_COVER).any(axis=1)
    keep[np.flatnonzero(cut)[covered]] = False
    return keep
