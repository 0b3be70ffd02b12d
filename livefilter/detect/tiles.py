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

__all__ = [
    "aligned_step",
    "cut_by_internal_border",
    "drop_cut_duplicates",
    "network_pixels",
    "split_for_budget",
    "tile_grid",
]

# A box edge this close (in frame pixels) to an internal tile border counts as
# cut by it: boxes are clipped to the tile, so a cut edge lies exactly on it.
_CUT_TOLERANCE = 1.0
# A cut box is a duplicate when a whole box covers at least this share of it.
_DUPLICATE_COVER = 0.5


def _spans(length: int, count: int, overlap: int, step: int = 1) -> list[tuple[int, int]]:
    """``count`` spans of equal size covering ``[0, length)``, neighbours sharing
    at least ``overlap``; with ``step``, every start and every size but the
    last are multiples of it: the last span starts on the grid too and ends
    flush with ``length``, up to ``step - 1`` longer than the others, so it
    sees the frame's far edge as the whole-frame run does."""
    if count == 1:
        return [(0, length)]
    size = math.ceil((length + (count - 1) * overlap) / count)
    if step == 1:
        size = min(length, size)
        starts = np.linspace(0, length - size, count).round().astype(int)
        return [(int(s), int(s) + size) for s in starts]
    # Between the first span and the last (flush with the ends), one step
    # more than needed leaves room to move each start down onto the grid
    # without losing overlap.
    size = min(length, -(-size // step) * step + (step if count > 2 else 0))
    starts = [(i * (length - size) // (count - 1)) // step * step for i in range(count)]
    return [(s, s + size) for s in starts[:-1]] + [(starts[-1], length)]


def aligned_step(scale: float, stride: int = 32) -> int:
    """Smallest frame-pixel step that is a whole number of the network's
    ``stride`` cells at ``scale``, or 1 when none under 16 cells is.

    Tiles starting and ending on that grid see exactly the pixels, scale and
    cell grid the whole-frame run sees, so a face away from a tile border
    gets the same score as without tiles (scores of small faces sit near the
    threshold: at 1.52x instead of 1.5x, tiles of a 720p frame lost two faces
    of the shared clips for 28-61 frames)."""
    for cells in range(1, 16):
        step = cells * stride / scale
        if abs(step - round(step)) < 1e-6:
            return round(step)
    return 1


def tile_grid(width: int, height: int, cols: int, rows: int, overlap: int,
              step: int = 1) -> np.ndarray:
    """Overlapping tiles that together cover a ``width x height`` frame.

    Tiles all have the same size, the outer ones flush with the frame edges,
    neighbours sharing at least ``overlap`` pixels (more when the frame is
    too small to need it). With ``step`` (see :func:`aligned_step`), every
    tile starts on that grid and all but the last column and row are a whole
    number of steps; those end flush with the frame, up to a step larger.

    Returns:
        ``(cols * rows, 4) int64`` tiles ``x1, y1, x2, y2`` (end exclusive),
        row by row from the top left.
    """
    if cols < 1 or rows < 1:
        raise ValueError(f"tile_grid: cols and rows must be >= 1, got {cols}x{rows}")
    xs = _spans(width, cols, overlap, step)
    ys = _spans(height, rows, overlap, step)
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


def network_pixels(width: int, height: int, network_width: int) -> int:
    """Pixels of the network input for a ``width x height`` image run at
    ``network_width`` (as :class:`~livefilter.detect.centerface.CenterFaceDetector`
    sizes it: width to a multiple of 32, height padded up to one)."""
    net_width = max(32, round(network_width / 32) * 32)
    net_height = math.ceil(max(1.0, height * net_width / width) / 32) * 32
    return net_width * net_height


def split_for_budget(
    region: tuple[int, int, int, int], network_width: int, budget: int, overlap: int
) -> list[tuple[tuple[int, int, int, int], int]]:
    """Cut one network run over ``region`` into overlapping tiles whose
    network inputs hold at most ``budget`` pixels, at the same scale.

    The network's memory grows with its input (about 150-250 bytes a
    pixel), so a pass over a 48-megapixel photo at full resolution would need
    gigabytes; tiles of one size need one session and a bounded amount.
    ``overlap`` is in network pixels: a face up to that tall (as the network
    sees it) lies whole in some tile; larger ones are seen whole by the
    coarser passes. Returns ``[(region, network_width)]``: the run itself
    when it fits.
    """
    x1, y1, x2, y2 = region
    width, height = x2 - x1, y2 - y1
    if network_pixels(width, height, network_width) <= budget:
        return [(region, network_width)]
    # The scale the network is run at (its width is a whole number of cells).
    scale = max(32, round(network_width / 32) * 32) / width
    overlap_px = round(overlap / scale)
    step = aligned_step(scale)
    cols = rows = 1
    while True:
        grid = tile_grid(width, height, cols, rows, overlap_px, step)
        tile_w = int(grid[0, 2] - grid[0, 0])
        tile_h = int(grid[0, 3] - grid[0, 1])
        last_w, last_h = (int(v) for v in grid[-1, 2:] - grid[-1, :2])  # the largest
        if (network_pixels(last_w, last_h, max(32, round(last_w * scale))) <= budget
                or max(tile_w, tile_h) <= 2 * overlap_px):  # cannot get smaller
            break
        # Cut the longer side of the tile (as the network sees it) once more.
        if tile_w >= tile_h:
            cols += 1
        else:
            rows += 1
    # Each tile at the pass's scale (the last column is wider than the others).
    return [((x1 + int(a), y1 + int(b), x1 + int(c), y1 + int(d)), max(32, round((c - a) * scale)))
            for a, b, c, d in grid]
