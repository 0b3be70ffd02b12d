"""Numba kernels of the compositor (private; see ``livefilter.composite``).

The region table layout is defined here, not in ``composite``: numba freezes
module globals into its on-disk cache and only notices edits to this file, so
constants the kernels read must live in the same file as the kernels.

Speed notes (measured on the 2-core target, see benchmarks/composite.py):

* Work runs over contiguous rows of the flattened frame (``W * 3`` bytes per
  row), so LLVM vectorises the inner loops; per-pixel gathers were slower.
* Downsampling sums whole rows into one float32 row buffer per cell row (a
  running sum down the rows), then reduces that buffer across columns once.
* One region per parallel task: regions of a batch never overlap, so the
  tasks never touch the same pixel.
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
    "CX",
    "CY",
    "FEATHER",
    "OPACITY",
    "PARALLEL_LOCK",
    "REGION_COLUMNS",
    "SEMI_X",
    "SEMI_Y",
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
CX, CY, SEMI_X, SEMI_Y, FEATHER, X0, Y0, X1, Y1, CELLS_X, CELLS_Y, OPACITY = range(12)
REGION_COLUMNS = 12

METHOD_BLUR, METHOD_PIXELATE, METHOD_SOLID = 0, 1, 2


@njit(cache=True, nogil=True)
def region_table(
    boxes: np.ndarray,
    height: int,
    width: int,
    cells: float,
    strength: float,
    opacity: float,
    feather: float,
    far: float,
) -> np.ndarray:
    """``(M, REGION_COLUMNS) float64`` regions of ``(N, 4) float64`` boxes.

    See ``composite._regions``, which validates the boxes first.
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
        # The cell size follows the whole box (not its clipped part), so a
        # face at the frame edge is hidden as strongly as one in the middle.
        cell_px = max(1.0, 2.0 * max(semi_x, semi_y) * strength / cells)
        row[CELLS_X] = max(1.0, np.round((col1 - col0) / cell_px))
        row[CELLS_Y] = max(1.0, np.round((row1 - row0) / cell_px))
        row[OPACITY] = opacity
        count += 1
    return table[:count].copy()


@njit(cache=True, nogil=True)
def batches(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regions grouped into batches whose pixel rectangles are pairwise disjoint.

    Greedy colouring in table order: each region joins the first batch in
    which it overlaps nothing. Returns ``order`` ``(M,) int64`` (region
    indices, batch after batch, table order within a batch) and ``starts``
    ``(B + 1,) int64``: batch ``b`` is ``order[starts[b]:starts[b + 1]]``.
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
                and table[i, Y0] < table[j, Y1]
                and table[j, Y0] < table[i, Y1]
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
def _blend(
    out: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    s: np.float32,
    t: np.float32,
    alpha: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Blend ``out`` (uint8 BGR bytes) towards ``upper * s + lower * t`` by ``alpha``.

    ``alpha`` (float64) has one value per pixel, ``len(out) // 3`` of them;
    ``weights`` is ``(>= len(out),) float32`` scratch. Spreading alpha to one
    weight per byte first lets the main loop run over contiguous bytes, which
    LLVM vectorises (2-3x faster than a loop over pixels and channels).
    """
    for x in range(len(alpha)):
        weight = np.float32(alpha[x])
        weights[3 * x] = weight
        weights[3 * x + 1] = weight
        weights[3 * x + 2] = weight
    for i in range(len(out)):
        cover = upper[i] * s + lower[i] * t
        old = np.float32(out[i])
        out[i] = np.uint8(np.int32(old + weights[i] * (cover - old) + np.float32(0.5)))


@njit(cache=True, nogil=True)
def _cover(
    out: np.ndarray, upper: np.ndarray, lower: np.ndarray, s: np.float32, t: np.float32
) -> None:
    """``out`` (uint8 bytes) <- ``upper * s + lower * t``, rounded: the fully hidden core."""
    for i in range(len(out)):
        out[i] = np.uint8(np.int32(upper[i] * s + lower[i] * t + np.float32(0.5)))


@njit(cache=True, nogil=True)
def _redact_one(
    flat: np.ndarray,
    stride: int,
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
    height = int(region[Y1]) - y0
    cells_x = int(region[CELLS_X])
    cells_y = int(region[CELLS_Y])
    full = region[OPACITY] == 1.0
    alpha = np.empty(width, np.float64)
    weights = np.empty(width * 3, np.float32)
    if method != METHOD_SOLID:
        grid = np.empty((cells_y, cells_x, 3), np.float32)
        line = np.empty(width * 3, np.float32)
        for r in range(cells_y):
            _area_means(flat, stride, x0, y0, width, height, cells_x, cells_y, r, grid, line)
        if method == METHOD_BLUR:
            _box3(grid)
        else:
            for r in range(cells_y):
                for c in range(cells_x):
                    for k in range(3):
                        value = grid[r, c, k] + noise[noise_start + (r * cells_x + c) * 3 + k]
                        grid[r, c, k] = min(max(value, np.float32(0.0)), np.float32(255.0))
        wide = _widen(grid, width, method == METHOD_PIXELATE)
    else:
        wide = np.zeros((1, width * 3), np.float32)
    step_y = cells_y / height
    for y in range(y0, y0 + height):
        xa, ia, ib, xb = _row_alpha(region, ellipse, y, alpha)
        if xb <= xa:
            continue
        if method == METHOD_BLUR:
            top, t64 = _linear_tap((y - y0 + 0.5) * step_y - 0.5, cells_y)
            bottom = min(top + 1, cells_y - 1)
            t = np.float32(t64)
        elif method == METHOD_PIXELATE:
            top = _nearest_cell(y - y0, cells_y, height)
            bottom = top
            t = np.float32(0.0)
        else:
            top = 0
            bottom = 0
            t = np.float32(0.0)
        s = np.float32(1.0) - t
        start = y * stride + xa * 3
        out = flat[start : start + (xb - xa) * 3]
        upper = wide[top, 3 * (xa - x0) : 3 * (xb - x0)]
        lower = wide[bottom, 3 * (xa - x0) : 3 * (xb - x0)]
        # Byte offsets of the core's ends within the span; the feathered rims
        # either side are blended, the core only needs the cover.
        left = 3 * (ia - xa)
        right = 3 * (ib - xa)
        if full:
            _blend(out[:left], upper[:left], lower[:left], s, t, alpha[: ia - xa], weights)
            _cover(out[left:right], upper[left:right], lower[left:right], s, t)
            rim = alpha[ib - xa : xb - xa]
            _blend(out[right:], upper[right:], lower[right:], s, t, rim, weights)
        else:
            _blend(out, upper, lower, s, t, alpha[: xb - xa], weights)


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
    stride = frame.shape[1] * 3
    flat = frame.reshape(-1)
    for b in range(len(starts) - 1):
        first = starts[b]
        for task in prange(starts[b + 1] - first):
            index = order[first + task]
            _redact_one(flat, stride, table[index], method, ellipse, noise, noise_starts[index])


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
