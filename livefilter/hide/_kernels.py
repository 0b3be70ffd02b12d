"""Numba kernels of the compositor (private; see ``livefilter.hide.composite``).

The region table layout is defined here, not in ``composite``: numba freezes
module globals into its on-disk cache and only notices edits to this file, so
constants the kernels read must live in the same file as the kernels.

Speed notes (measured on the 2-core target, see benchmarks/composite.py):

* Work runs over contiguous rows of the flattened frame (``W * 3`` bytes per
  row), so LLVM vectorises the inner loops; per-pixel gathers were slower.
* ``blur`` and ``solid`` covers are linear down each column, so a row of
  cover is two per-byte arrays (``a + row * g``) and costs about as much as
  the blend itself; only the few rows sampled above and below each region are
  read column by column.
* One region per parallel task: regions of a batch never overlap, nor read
  rows another one writes, so the tasks never race.
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "CELLS_X",
    "CELLS_Y",
    "CONTRAST",
    "CX",
    "CY",
    "FEATHER",
    "OPACITY",
    "PARALLEL_LOCK",
    "REGION_COLUMNS",
    "SEMI_X",
    "SEMI_Y",
    "SMEAR_ROWS",
    "SMOOTH",
    "STRIPE_PERIODS",
    "X0",
    "X1",
    "Y0",
    "Y1",
    "batches",
    "curtain_kernel",
    "hidden_mask_kernel",
    "redact_kernel",
    "region_table",
]

# With numba's default OpenMP layer every 2-thread parallel region cost about
# 8 ms on the loaded 2-core target, more than the whole redaction; the simple
# workqueue layer removed that. It must be chosen before the first parallel
# call, which is why this happens at import. A user's explicit
# NUMBA_THREADING_LAYER wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

#: workqueue aborts the whole process (not an exception) when two threads
#: launch parallel kernels at once, and the live path calls the compositor
#: from worker threads, so every parallel launch in livefilter holds this lock.
PARALLEL_LOCK = threading.Lock()

# Columns of the ``(N, REGION_COLUMNS) float64`` region table.
(
    CX,
    CY,
    SEMI_X,
    SEMI_Y,
    FEATHER,
    X0,
    Y0,
    X1,
    Y1,
    CELLS_X,
    CELLS_Y,
    OPACITY,
    CONTRAST,
    SMOOTH,
) = range(14)
REGION_COLUMNS = 14

METHOD_BLUR, METHOD_PIXELATE, METHOD_SOLID = 0, 1, 2

#: The cover of a region is drawn from this many pixel rows just above and
#: just below its shape in each column (never from the pixels it hides), so
#: regions whose rectangles come within this many rows of each other are not
#: hidden in parallel (:func:`batches`).
SMEAR_ROWS = 3
#: Vertical stripes (``blur``), bars (``solid``) and alternating block columns
#: (``pixelate``, two per period) across the full width of each region. In
#: prototype runs on the 150-photo sample of benchmarks/redaction_strength.py,
#: sine stripes at 12 periods left 5 of 1,080 hidden faces found, at 5 periods
#: 19 and at 24 periods 20, all of these under 60 px tall, where a stripe is
#: about 2 px wide.
STRIPE_PERIODS = 12.0


@njit(cache=True, nogil=True)
def region_table(
    boxes: np.ndarray,
    height: int,
    width: int,
    cells: float,
    opacity: float,
    contrast: float,
    smooth: float,
    feather: float,
    far: float,
) -> np.ndarray:
    """``(M, REGION_COLUMNS) float64`` regions of ``(N, 4) float64`` boxes.

    ``cells`` is the cell count across each region's longer side (pixelate),
    ``smooth`` the half width of the cover's horizontal smoothing as a
    fraction of the region's width. See ``composite._regions``, which
    validates the boxes first.
    """
    table = np.zeros((boxes.shape[0], REGION_COLUMNS), np.float64)
    count = 0
    for i in range(boxes.shape[0]):
        x1 = min(max(min(boxes[i, 0], boxes[i, 2]), -far), far)
        x2 = min(max(max(boxes[i, 0], boxes[i, 2]), -far), far)
        y1 = min(max(min(boxes[i, 1], boxes[i, 3]), -far), far)
        y2 = min(max(max(boxes[i, 1], boxes[i, 3]), -far), far)
        semi_x = (x2 - x1) * 0.5
        semi_y = (y2 - y1) * 0.5
        # Only pixels whose centre lies strictly inside the box can get alpha > 0.
        col0 = min(max(np.floor(x1 - 0.5) + 1.0, 0.0), float(width))
        col1 = min(max(np.ceil(x2 - 0.5), 0.0), float(width))
        row0 = min(max(np.floor(y1 - 0.5) + 1.0, 0.0), float(height))
        row1 = min(max(np.ceil(y2 - 0.5), 0.0), float(height))
        if not (semi_x > 0.0 and semi_y > 0.0 and col1 > col0 and row1 > row0):
            continue
        row = table[count]
        row[CX] = (x1 + x2) * 0.5
        row[CY] = (y1 + y2) * 0.5
        row[SEMI_X] = semi_x
        row[SEMI_Y] = semi_y
        row[FEATHER] = feather
        row[X0] = col0
        row[Y0] = row0
        row[X1] = col1
        row[Y1] = row1
        # The cell size and the smoothing follow the whole box (not its
        # clipped part), so a face at the frame edge looks like one inside.
        cell_px = max(1.0, 2.0 * max(semi_x, semi_y) / cells)
        row[CELLS_X] = max(1.0, np.round((col1 - col0) / cell_px))
        row[CELLS_Y] = max(1.0, np.round((row1 - row0) / cell_px))
        row[OPACITY] = opacity
        row[CONTRAST] = contrast
        row[SMOOTH] = min(np.floor(2.0 * semi_x * smooth), 4096.0)
        count += 1
    return table[:count].copy()


@njit(cache=True, nogil=True)
def batches(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regions grouped into batches that can be hidden in parallel.

    Two regions conflict when their pixel rectangles share columns and come
    within ``SMEAR_ROWS`` rows of each other: one may then read rows the
    other writes. Greedy colouring in table order: each region joins the
    first batch in which it conflicts with nothing. Returns ``order``
    ``(M,) int64`` (region indices, batch after batch, table order within a
    batch) and ``starts`` ``(B + 1,) int64``: batch ``b`` is
    ``order[starts[b]:starts[b + 1]]``.
    """
    count = table.shape[0]
    batch_of = np.zeros(count, np.int64)
    taken = np.zeros(count + 1, np.bool_)
    batch_count = 0
    for i in range(count):
        for b in range(batch_count + 1):
            taken[b] = False
        for j in range(i):
            if (
                table[i, X0] < table[j, X1]
                and table[j, X0] < table[i, X1]
                and table[i, Y0] < table[j, Y1] + SMEAR_ROWS
                and table[j, Y0] < table[i, Y1] + SMEAR_ROWS
            ):
                taken[batch_of[j]] = True
        b = 0
        while taken[b]:
            b += 1
        batch_of[i] = b
        batch_count = max(batch_count, b + 1)
    starts = np.zeros(batch_count + 1, np.int64)
    for i in range(count):
        starts[batch_of[i] + 1] += 1
    for b in range(batch_count):
        starts[b + 1] += starts[b]
    order = np.empty(count, np.int64)
    filled = starts[:-1].copy()
    for i in range(count):
        order[filled[batch_of[i]]] = i
        filled[batch_of[i]] += 1
    return order, starts


@njit(cache=True, nogil=True)
def _feather(
    out: np.ndarray,
    offset: float,
    inv_x: float,
    v: float,
    gain: float,
    opacity: float,
    ellipse: bool,
) -> None:
    """``out[i]`` (float64) <- alpha of the pixel centred ``offset + i`` right of the centre.

    ``v`` is the row's vertical offset in semi-axes. The ellipse ramps in the
    squared radius, ``(1 - r²) * gain``: no square root per pixel, and over a
    ramp this short it is nearly linear in the radius. Loops start at 0 over
    a slice: a loop index numba cannot prove non-negative costs a wraparound
    check per access, which stops vectorisation.
    """
    if ellipse:
        rest = 1.0 - v * v
        for i in range(len(out)):
            u = (offset + i) * inv_x
            out[i] = min(max((rest - u * u) * gain, 0.0), 1.0) * opacity
    else:
        rest = 1.0 - abs(v)
        for i in range(len(out)):
            depth = min(1.0 - abs((offset + i) * inv_x), rest)
            out[i] = min(max(depth * gain, 0.0), 1.0) * opacity


@njit(cache=True, nogil=True)
def _row_alpha(
    region: np.ndarray, ellipse: bool, y: int, alpha: np.ndarray
) -> tuple[int, int, int, int]:
    """The feathered alpha of row ``y`` of one region: the single definition of the mask.

    With ``u, v`` a pixel centre's offsets from the shape's centre in
    semi-axes and ``f`` the feather fraction, alpha is ``clip((1 - u² - v²) /
    (1 - (1 - f)²), 0, 1)`` for the ellipse and ``clip((1 - max(|u|, |v|)) /
    f, 0, 1)`` for the box, times the region's opacity: 0 on the boundary, 1
    from ``1 - f`` of the radius inwards.

    Returns absolute columns ``xa <= ia <= ib <= xb``: pixels outside
    ``[xa, xb)`` have alpha 0 (never written); ``[ia, ib)`` is the core, where
    alpha is exactly the opacity (the formula clips to 1 there with at least
    a pixel to spare). ``alpha[x - xa]`` (float64) is filled for ``x`` in
    ``[xa, xb)``.
    """
    x0 = int(region[X0])
    x1 = int(region[X1])
    cx = region[CX]
    semi_x = region[SEMI_X]
    inv_x = 1.0 / semi_x
    inv_y = 1.0 / region[SEMI_Y]
    inner = 1.0 - region[FEATHER]  # radius where alpha reaches 1
    opacity = region[OPACITY]
    v = ((y + 0.5) - region[CY]) * inv_y
    if ellipse:
        gain = 1.0 / (1.0 - inner * inner)
        rest = 1.0 - v * v
        if rest <= 0.0:
            return x0, x0, x0, x0
        half = semi_x * np.sqrt(rest)
        # A pixel of slack each side: _feather decides, this only bounds.
        xa = max(x0, int(np.floor(cx - half - 0.5)) - 1)
        xb = max(xa, min(x1, int(np.ceil(cx + half - 0.5)) + 1))
        rest_inner = inner * inner - v * v
        half_inner = semi_x * np.sqrt(rest_inner) if rest_inner > 0.0 else 0.0
    else:
        gain = 1.0 / region[FEATHER]
        xa = x0
        xb = x1
        # A pixel row of margin keeps the core clear of rounding at its edge.
        half_inner = semi_x * inner if abs(v) <= inner - inv_y else 0.0
    if half_inner > 1.0:
        # Shrunk by a pixel each side, so rounding cannot put a pixel whose
        # formula gives less than 1 into the core.
        ia = min(max(xa, int(np.ceil(cx - half_inner - 0.5)) + 1), xb)
        ib = max(ia, min(xb, int(np.floor(cx + half_inner - 0.5))))
    else:
        ia = xa
        ib = xa
    _feather(alpha[: ia - xa], (xa + 0.5) - cx, inv_x, v, gain, opacity, ellipse)
    core = alpha[ia - xa : ib - xa]
    for i in range(len(core)):  # 4x faster than a slice assignment in numba
        core[i] = opacity
    _feather(alpha[ib - xa : xb - xa], (ib + 0.5) - cx, inv_x, v, gain, opacity, ellipse)
    return xa, ia, ib, xb


@njit(cache=True, nogil=True)
def _area_means(
    flat: np.ndarray,
    stride: int,
    x0: int,
    y0: int,
    width: int,
    height: int,
    cells_x: int,
    cells_y: int,
    r: int,
    grid: np.ndarray,
    buf: np.ndarray,
) -> None:
    """``grid[r]`` (``(cells_x, 3) float32``) <- area means of cell row ``r``.

    ``flat`` is the frame flattened, ``stride`` its row length in bytes; the
    block is ``width x height`` pixels at ``x0, y0``, cut into a
    ``cells_x x cells_y`` grid of equal (fractional) cells, as OpenCV's
    ``INTER_AREA`` cuts it. ``buf`` is ``(>= width * 3,) float32`` scratch.
    """
    scale_x = width / cells_x
    scale_y = height / cells_y
    lo = r * scale_y
    hi = height if r == cells_y - 1 else (r + 1) * scale_y
    n = width * 3
    for i in range(n):
        buf[i] = 0.0
    ya = int(lo)
    yb = min(height, int(np.ceil(hi)))
    for y in range(ya, yb):
        weight = np.float32(min(y + 1.0, hi) - max(float(y), lo))
        start = (y0 + y) * stride + x0 * 3
        # Slices, not flat[start + i]: an index that might be negative gets
        # a wraparound check that stops LLVM vectorising (4x slower).
        row = flat[start : start + n]
        for i in range(n):
            buf[i] += weight * row[i]
    norm = 1.0 / (scale_x * scale_y)
    for c in range(cells_x):
        clo = c * scale_x
        chi = width if c == cells_x - 1 else (c + 1) * scale_x
        xa = int(clo)
        xb = min(width, int(np.ceil(chi)))
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        for x in range(xa, xb):
            weight = min(x + 1.0, chi) - max(float(x), clo)
            s0 += weight * buf[3 * x]
            s1 += weight * buf[3 * x + 1]
            s2 += weight * buf[3 * x + 2]
        grid[r, c, 0] = s0 * norm
        grid[r, c, 1] = s1 * norm
        grid[r, c, 2] = s2 * norm


@njit(cache=True, nogil=True)
def _box3(grid: np.ndarray) -> None:
    """3x3 box blur of a ``(cy, cx, 3) float32`` grid in place, edges replicated."""
    cells_y, cells_x = grid.shape[0], grid.shape[1]
    tmp = np.empty_like(grid)
    for r in range(cells_y):
        for c in range(cells_x):
            left = max(c - 1, 0)
            right = min(c + 1, cells_x - 1)
            for k in range(3):
                tmp[r, c, k] = grid[r, left, k] + grid[r, c, k] + grid[r, right, k]
    third = np.float32(1.0 / 9.0)
    for r in range(cells_y):
        up = max(r - 1, 0)
        down = min(r + 1, cells_y - 1)
        for c in range(cells_x):
            for k in range(3):
                grid[r, c, k] = (tmp[up, c, k] + tmp[r, c, k] + tmp[down, c, k]) * third


@njit(cache=True, nogil=True)
def _linear_tap(position: float, count: int) -> tuple[int, float]:
    """Bilinear source cell and weight for output coordinate ``position`` (OpenCV's rule)."""
    f = np.floor(position)
    t = position - f
    i = int(f)
    if i < 0:
        return 0, 0.0
    if i >= count - 1:
        return count - 1, 0.0
    return i, t


@njit(cache=True, nogil=True)
def _nearest_cell(position: int, cells: int, size: int) -> int:
    """Cell under the centre of pixel ``position`` of ``size`` pixels cut into ``cells``.

    OpenCV's ``INTER_NEAREST_EXACT`` in its own 16-bit fixed point, so block
    edges fall on the same pixels in both backends.
    """
    step = ((cells << 16) + size // 2) // size
    start = step // 2 - cells % 2
    return min((step * position + start) >> 16, cells - 1)


@njit(cache=True, nogil=True)
def _widen(grid: np.ndarray, width: int, nearest: bool) -> np.ndarray:
    """``(cy, width * 3) float32``: each row of a ``(cy, cx, 3)`` grid upsampled across.

    Bilinear with OpenCV's ``INTER_LINEAR`` rule, or the cell under each pixel
    centre (``INTER_NEAREST_EXACT``) when ``nearest``.
    """
    cells_y, cells_x = grid.shape[0], grid.shape[1]
    left = np.empty(width, np.int64)
    right = np.empty(width, np.int64)
    frac = np.empty(width, np.float32)
    step = cells_x / width
    for x in range(width):
        if nearest:
            left[x] = _nearest_cell(x, cells_x, width)
            right[x] = left[x]
            frac[x] = 0.0
        else:
            i, t = _linear_tap((x + 0.5) * step - 0.5, cells_x)
            left[x] = i
            right[x] = min(i + 1, cells_x - 1)
            frac[x] = t
    wide = np.empty((cells_y, width * 3), np.float32)
    for r in range(cells_y):
        row = grid[r]
        out = wide[r]
        for x in range(width):
            t = frac[x]
            for k in range(3):
                out[3 * x + k] = row[left[x], k] * (np.float32(1.0) - t) + row[right[x], k] * t
    return wide


@njit(cache=True, nogil=True)
def _blend(out: np.ndarray, cover: np.ndarray, weights: np.ndarray) -> None:
    """Blend ``out`` (uint8 bytes) towards ``cover`` (float32) by ``weights`` (one per byte).

    Spreading alpha to one weight per byte first (:func:`_spread`) lets the
    loop run over contiguous bytes, which LLVM vectorises (2-3x faster than a
    loop over pixels and channels).
    """
    for i in range(len(out)):
        old = np.float32(out[i])
        out[i] = np.uint8(np.int32(old + weights[i] * (cover[i] - old) + np.float32(0.5)))


@njit(cache=True, nogil=True)
def _cover(out: np.ndarray, cover: np.ndarray) -> None:
    """``out`` (uint8 bytes) <- ``cover`` (float32, 0..255) rounded: the fully hidden core."""
    for i in range(len(out)):
        out[i] = np.uint8(np.int32(cover[i] + np.float32(0.5)))


@njit(cache=True, nogil=True)
def _column_edges(region: np.ndarray, ellipse: bool, x: int) -> tuple[float, float]:
    """Top and bottom of the shape in column ``x`` (at its pixel centre), in frame rows.

    Equal (the centre row) when the column's centre misses the ellipse.
    """
    if ellipse:
        u = ((x + 0.5) - region[CX]) / region[SEMI_X]
        rest = 1.0 - u * u
        half = region[SEMI_Y] * np.sqrt(rest) if rest > 0.0 else 0.0
    else:
        half = region[SEMI_Y]
    return region[CY] - half, region[CY] + half


@njit(cache=True, nogil=True)
def _sample_rows(
    flat: np.ndarray, stride: int, height: int, x: int, first: int, last: int, out: np.ndarray
) -> bool:
    """``out`` (3 float64) <- mean BGR of rows ``first..last`` (clipped) of column ``x``.

    Returns False, leaving ``out`` alone, when no such row is in the frame.
    """
    first = max(first, 0)
    last = min(last, height - 1)
    if last < first:
        return False
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for y in range(first, last + 1):
        at = y * stride + 3 * x
        s0 += flat[at]
        s1 += flat[at + 1]
        s2 += flat[at + 2]
    count = float(last - first + 1)
    out[0] = s0 / count
    out[1] = s1 / count
    out[2] = s2 / count
    return True


@njit(cache=True, nogil=True)
def _fill_missing(values: np.ndarray, valid: np.ndarray) -> None:
    """Rows of ``values`` (``(n, k)``) not ``valid`` <- the nearest valid row (left on a tie).

    All zeros when no row is valid.
    """
    n = len(valid)
    left = np.full(n, -1, np.int64)
    last = -1
    for j in range(n):
        if valid[j]:
            last = j
        left[j] = last
    if last < 0:
        values[:] = 0.0
        return
    nxt = -1
    for j in range(n - 1, -1, -1):
        if valid[j]:
            nxt = j
            continue
        source = left[j]
        if source < 0 or (nxt >= 0 and nxt - j < j - source):
            source = nxt
        values[j] = values[source]


@njit(cache=True, nogil=True)
def _box_smooth(values: np.ndarray, half: int) -> np.ndarray:
    """``(n, k)`` running mean over ``2 * half + 1`` rows, edges replicated."""
    n = values.shape[0]
    out = np.empty_like(values)
    if half <= 0 or n == 0:
        out[:] = values
        return out
    norm = 1.0 / (2 * half + 1)
    for k in range(values.shape[1]):
        total = 0.0
        for i in range(-half, half + 1):
            total += values[min(max(i, 0), n - 1), k]
        for j in range(n):
            out[j, k] = total * norm
            total += values[min(j + half + 1, n - 1), k] - values[max(j - half, 0), k]
    return out


@njit(cache=True, nogil=True)
def _smear_profiles(
    flat: np.ndarray, stride: int, height: int, region: np.ndarray, ellipse: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The region's surroundings, column by column: ``top, bottom, edge, inv``.

    For each column ``x`` of ``[X0, X1)``: ``top`` and ``bottom`` (``(n, 3)
    float64`` BGR) are the mean of the ``SMEAR_ROWS`` pixel rows just above
    and just below the shape, every one outside it (alpha 0), so none of the
    pixels the region hides contributes; a side missing at the frame edge
    takes the other side, a column missing both the nearest column's. Both
    are then box-smoothed across ``2 * SMOOTH + 1`` columns (a row of another,
    unhidden face near the region is not copied sharp). ``edge`` ``(n,)`` is
    the shape's top in the column and ``inv`` ``(n,)`` one over its height
    (0 where the column misses the shape): ``t = (row + 0.5 - edge) * inv``
    runs from 0 at the top of the shape to 1 at its bottom.
    """
    x0 = int(region[X0])
    n = int(region[X1]) - x0
    top = np.zeros((n, 3), np.float64)
    bottom = np.zeros((n, 3), np.float64)
    edge = np.empty(n, np.float64)
    inv = np.empty(n, np.float64)
    has_top = np.zeros(n, np.bool_)
    has_bottom = np.zeros(n, np.bool_)
    valid = np.zeros(n, np.bool_)
    for j in range(n):
        upper, lower = _column_edges(region, ellipse, x0 + j)
        edge[j] = upper
        inv[j] = 1.0 / (lower - upper) if lower > upper else 0.0
        # Rows whose centres lie strictly above / below the shape.
        last = int(np.ceil(upper - 0.5)) - 1
        first = int(np.floor(lower - 0.5)) + 1
        has_top[j] = _sample_rows(flat, stride, height, x0 + j, last - SMEAR_ROWS + 1, last, top[j])
        has_bottom[j] = _sample_rows(
            flat, stride, height, x0 + j, first, first + SMEAR_ROWS - 1, bottom[j]
        )
        if has_top[j] and not has_bottom[j]:
            bottom[j] = top[j]
        elif has_bottom[j] and not has_top[j]:
            top[j] = bottom[j]
        valid[j] = has_top[j] or has_bottom[j]
    _fill_missing(top, valid)
    _fill_missing(bottom, valid)
    half = int(region[SMOOTH])
    return _box_smooth(top, half), _box_smooth(bottom, half), edge, inv


@njit(cache=True, nogil=True)
def _stripe_phase(region: np.ndarray, x: int) -> float:
    """Stripe periods from the region box's left edge to the centre of column ``x``."""
    left = region[CX] - region[SEMI_X]
    return ((x + 0.5) - left) / (2.0 * region[SEMI_X]) * STRIPE_PERIODS


@njit(cache=True, nogil=True)
def _linear_cover(
    flat: np.ndarray, stride: int, height: int, region: np.ndarray, ellipse: bool, method: int
) -> tuple[np.ndarray, np.ndarray]:
    """``a, g`` (``(n * 3,) float32``): the cover of row ``Y0 + i`` is ``a + i * g``.

    ``blur``: the surroundings interpolated from the top of the shape to its
    bottom in each column, plus vertical sine stripes of amplitude
    ``CONTRAST`` (each end clipped to 0..255 first, so the cover stays in
    range inside the shape). ``solid``: bars, ``CONTRAST`` grey and black,
    read nothing. The rows are linear only inside the shape; outside it
    (alpha 0) the values are never used.
    """
    x0 = int(region[X0])
    n = int(region[X1]) - x0
    y_first = region[Y0] + 0.5
    a = np.empty(n * 3, np.float32)
    g = np.empty(n * 3, np.float32)
    contrast = region[CONTRAST]
    if method == METHOD_SOLID:
        for j in range(n):
            half_periods = np.floor(2.0 * _stripe_phase(region, x0 + j))
            bar = contrast if half_periods - 2.0 * np.floor(half_periods * 0.5) == 0.0 else 0.0
            for k in range(3):
                a[3 * j + k] = bar
                g[3 * j + k] = 0.0
        return a, g
    top, bottom, edge, inv = _smear_profiles(flat, stride, height, region, ellipse)
    for j in range(n):
        stripe = contrast * np.sin(2.0 * np.pi * _stripe_phase(region, x0 + j))
        for k in range(3):
            upper = min(max(top[j, k] + stripe, 0.0), 255.0)
            lower = min(max(bottom[j, k] + stripe, 0.0), 255.0)
            step = (lower - upper) * inv[j]
            a[3 * j + k] = upper + (y_first - edge[j]) * step
            g[3 * j + k] = step
    return a, g


@njit(cache=True, nogil=True)
def _smear_grid(
    flat: np.ndarray, stride: int, height: int, region: np.ndarray, ellipse: bool
) -> np.ndarray:
    """``pixelate``: ``(CELLS_Y, CELLS_X, 3) float32`` area means of the unstriped smear.

    The smear is the ``blur`` cover without stripes, ``t`` clipped to 0..1 so
    the rectangle's corners outside the shape take the nearer end.
    """
    x0 = int(region[X0])
    width = int(region[X1]) - x0
    rows = int(region[Y1]) - int(region[Y0])
    cells_x = int(region[CELLS_X])
    cells_y = int(region[CELLS_Y])
    top, bottom, edge, inv = _smear_profiles(flat, stride, height, region, ellipse)
    n = width * 3
    upper = np.empty(n, np.float32)
    span = np.empty(n, np.float32)
    edge3 = np.empty(n, np.float32)
    inv3 = np.empty(n, np.float32)
    for j in range(width):
        for k in range(3):
            upper[3 * j + k] = top[j, k]
            span[3 * j + k] = bottom[j, k] - top[j, k]
            edge3[3 * j + k] = edge[j]
            inv3[3 * j + k] = inv[j]
    smear = np.empty(rows * n, np.float32)
    for i in range(rows):
        centre = np.float32(int(region[Y0]) + i + 0.5)
        out = smear[i * n : (i + 1) * n]
        for b in range(n):
            t = min(max((centre - edge3[b]) * inv3[b], np.float32(0.0)), np.float32(1.0))
            out[b] = upper[b] + t * span[b]
    grid = np.empty((cells_y, cells_x, 3), np.float32)
    line = np.empty(n, np.float32)
    for r in range(cells_y):
        _area_means(smear, n, 0, 0, width, rows, cells_x, cells_y, r, grid, line)
    return grid


@njit(cache=True, nogil=True)
def _spread(alpha: np.ndarray, weights: np.ndarray) -> None:
    """``weights[3 x + k]`` (float32) <- ``alpha[x]``: one weight per byte, so blends vectorise."""
    for x in range(len(alpha)):
        weight = np.float32(alpha[x])
        weights[3 * x] = weight
        weights[3 * x + 1] = weight
        weights[3 * x + 2] = weight


@njit(cache=True, nogil=True)
def _blend_linear(
    out: np.ndarray, a: np.ndarray, g: np.ndarray, row: np.float32, weights: np.ndarray
) -> None:
    """Blend ``out`` (uint8 bytes) towards ``a + row * g`` (clipped to 0..255) by ``weights``."""
    for i in range(len(out)):
        cover = min(max(a[i] + row * g[i], np.float32(0.0)), np.float32(255.0))
        old = np.float32(out[i])
        out[i] = np.uint8(np.int32(old + weights[i] * (cover - old) + np.float32(0.5)))


@njit(cache=True, nogil=True)
def _cover_linear(out: np.ndarray, a: np.ndarray, g: np.ndarray, row: np.float32) -> None:
    """``out`` (uint8 bytes) <- ``a + row * g`` clipped and rounded: the fully hidden core."""
    for i in range(len(out)):
        cover = min(max(a[i] + row * g[i], np.float32(0.0)), np.float32(255.0))
        out[i] = np.uint8(np.int32(cover + np.float32(0.5)))


@njit(cache=True, nogil=True)
def _redact_one(
    flat: np.ndarray,
    stride: int,
    height: int,
    region: np.ndarray,
    method: int,
    ellipse: bool,
    noise: np.ndarray,
    noise_start: int,
) -> None:
    """Hide one region of the flattened ``(H * W * 3,) uint8`` frame in place."""
    x0 = int(region[X0])
    y0 = int(region[Y0])
    width = int(region[X1]) - x0
    rows = int(region[Y1]) - y0
    full = region[OPACITY] == 1.0
    alpha = np.empty(width, np.float64)
    weights = np.empty(width * 3, np.float32)
    if method == METHOD_PIXELATE:
        cells_x = int(region[CELLS_X])
        cells_y = int(region[CELLS_Y])
        grid = _smear_grid(flat, stride, height, region, ellipse)
        contrast = np.float32(region[CONTRAST])
        for r in range(cells_y):
            for c in range(cells_x):
                # Alternate block columns lighter and darker: the blocks'
                # version of blur's stripes.
                shift = contrast if c % 2 == 0 else -contrast
                for k in range(3):
                    value = grid[r, c, k] + shift + noise[noise_start + (r * cells_x + c) * 3 + k]
                    grid[r, c, k] = min(max(value, np.float32(0.0)), np.float32(255.0))
        wide = _widen(grid, width, True)
        for y in range(y0, y0 + rows):
            xa, ia, ib, xb = _row_alpha(region, ellipse, y, alpha)
            if xb <= xa:
                continue
            cell = _nearest_cell(y - y0, cells_y, rows)
            start = y * stride + xa * 3
            out = flat[start : start + (xb - xa) * 3]
            cover = wide[cell, 3 * (xa - x0) : 3 * (xb - x0)]
            left = 3 * (ia - xa)
            right = 3 * (ib - xa)
            if full:
                _spread(alpha[: ia - xa], weights)
                _blend(out[:left], cover[:left], weights)
                _cover(out[left:right], cover[left:right])
                _spread(alpha[ib - xa : xb - xa], weights)
                _blend(out[right:], cover[right:], weights)
            else:
                _spread(alpha[: xb - xa], weights)
                _blend(out, cover, weights)
        return
    a, g = _linear_cover(flat, stride, height, region, ellipse, method)
    for y in range(y0, y0 + rows):
        xa, ia, ib, xb = _row_alpha(region, ellipse, y, alpha)
        if xb <= xa:
            continue
        row = np.float32(y - y0)
        start = y * stride + xa * 3
        out = flat[start : start + (xb - xa) * 3]
        span_a = a[3 * (xa - x0) : 3 * (xb - x0)]
        span_g = g[3 * (xa - x0) : 3 * (xb - x0)]
        # Byte offsets of the core's ends within the span; the feathered rims
        # either side are blended, the core only needs the cover.
        left = 3 * (ia - xa)
        right = 3 * (ib - xa)
        if full:
            _spread(alpha[: ia - xa], weights)
            _blend_linear(out[:left], span_a[:left], span_g[:left], row, weights)
            _cover_linear(out[left:right], span_a[left:right], span_g[left:right], row)
            _spread(alpha[ib - xa : xb - xa], weights)
            _blend_linear(out[right:], span_a[right:], span_g[right:], row, weights)
        else:
            _spread(alpha[: xb - xa], weights)
            _blend_linear(out, span_a, span_g, row, weights)


@njit(cache=True, nogil=True, parallel=True)
def redact_kernel(
    frame: np.ndarray,
    table: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    method: int,
    ellipse: bool,
    noise: np.ndarray,
    noise_starts: np.ndarray,
) -> None:
    """Hide every region of ``table`` in ``frame`` in place.

    Args:
        frame: ``(H, W, 3) uint8`` C-contiguous.
        table: ``(M, REGION_COLUMNS) float64`` regions.
        order, starts: ``int64`` batches of disjoint regions (``composite._batches``).
        method: ``METHOD_*`` code; ellipse: ``True`` for ellipses, else boxes.
        noise: ``float32`` pixelate noise; noise_starts ``(M,) int64`` offsets into it.
    """
    height = frame.shape[0]
    stride = frame.shape[1] * 3
    flat = frame.reshape(-1)
    for b in range(len(starts) - 1):
        first = starts[b]
        for task in prange(starts[b + 1] - first):
            index = order[first + task]
            _redact_one(
                flat, stride, height, table[index], method, ellipse, noise, noise_starts[index]
            )


@njit(cache=True, nogil=True, parallel=True)
def curtain_kernel(frame: np.ndarray, cells_x: int, cells_y: int) -> None:
    """Hide all of ``frame`` (``(H, W, 3) uint8`` C-contiguous) via a blurred cell grid."""
    height, width = frame.shape[0], frame.shape[1]
    stride = width * 3
    flat = frame.reshape(-1)
    grid = np.empty((cells_y, cells_x, 3), np.float32)
    # Typed like _redact_one's arguments (not literals, not prange's uint64)
    # so both share one compiled specialisation of each helper.
    origin = height - height
    bilinear = height < 0
    for task in prange(cells_y):
        buf = np.empty(stride, np.float32)
        r = np.int64(task)
        _area_means(flat, stride, origin, origin, width, height, cells_x, cells_y, r, grid, buf)
    _box3(grid)
    wide = _widen(grid, width, bilinear)
    step_y = cells_y / height
    for y in prange(height):
        top, t64 = _linear_tap((y + 0.5) * step_y - 0.5, cells_y)
        bottom = min(top + 1, cells_y - 1)
        t = np.float32(t64)
        s = np.float32(1.0) - t
        out = flat[y * stride : (y + 1) * stride]
        upper = wide[top]
        lower = wide[bottom]
        for i in range(stride):
            out[i] = np.uint8(np.int32(upper[i] * s + lower[i] * t + 0.5))


@njit(cache=True, nogil=True)
def hidden_mask_kernel(table: np.ndarray, ellipse: bool, height: int, width: int) -> np.ndarray:
    """``(height, width) bool``: pixels whose alpha is at least 0.5 in any region."""
    mask = np.zeros((height, width), np.bool_)
    alpha = np.empty(width, np.float64)
    for index in range(table.shape[0]):
        region = table[index]
        for y in range(int(region[Y0]), int(region[Y1])):
            xa, _, _, xb = _row_alpha(region, ellipse, y, alpha)
            row = mask[y]
            for i in range(xb - xa):
                if alpha[i] >= 0.5:
                    row[xa + i] = True
    return mask
