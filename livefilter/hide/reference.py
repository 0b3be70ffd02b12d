"""Plain NumPy/OpenCV reference of the compositor: the same output as the kernels.

This is the fastest way we found to the same result without numba, so the
benchmark's baseline is a fair one. Per region: the column profiles above and
below the shape (a few hundred values, vectorised in NumPy), the cover in two
broadcast float32 passes (each cover row is ``a + i * g``),
``cv2.convertScaleAbs`` to bytes (it saturates; negative values only occur
outside the shape, where alpha is 0) and ``cv2.blendLinear`` through the
feathered mask into the frame's own memory. NumPy's per-call overhead on the
few hundred profile values, not the pixel work, is most of what separates it
from the kernels on small regions. ``pixelate`` also builds the clipped
smear, ``INTER_AREA``-averages it to the cell grid and upsamples the blocks
with ``INTER_NEAREST_EXACT``.

Results differ from the numba kernels only by OpenCV's 8-bit rounding of the
cover before the blend (at most a grey level or two), float rounding in the
cover and, for alpha exactly at a threshold, float32 versus float64 mask
arithmetic.

The region table, the processing order and the noise come from
``livefilter.hide.composite`` so both backends work from the same geometry.
"""

from __future__ import annotations

import cv2
import numpy as np

from livefilter.hide._kernels import (
    CELLS_X,
    CELLS_Y,
    CONTRAST,
    CX,
    CY,
    FEATHER,
    OPACITY,
    SEMI_X,
    SEMI_Y,
    SMEAR_ROWS,
    SMOOTH,
    STRIPE_PERIODS,
    X0,
    X1,
    Y0,
    Y1,
)

__all__ = ["alpha_map_f32", "curtain", "redact_regions"]


def alpha_map_f32(region: np.ndarray, ellipse: bool) -> np.ndarray:
    """``(Y1 - Y0, X1 - X0) float32`` feathered alpha (times opacity) of one region.

    The same formula as the kernels' ``_row_alpha``, in float32.
    """
    xs = np.arange(region[X0], region[X1], dtype=np.float32) + np.float32(0.5)
    ys = np.arange(region[Y0], region[Y1], dtype=np.float32) + np.float32(0.5)
    u = (xs - np.float32(region[CX])) / np.float32(region[SEMI_X])
    v = (ys - np.float32(region[CY])) / np.float32(region[SEMI_Y])
    inner = 1.0 - region[FEATHER]
    if ellipse:
        # (1 - u² - v²) / (1 - inner²), built in place.
        alpha = np.add.outer(v * v, u * u)
        np.subtract(np.float32(1.0), alpha, out=alpha)
        alpha *= np.float32(1.0 / (1.0 - inner * inner))
    else:
        # (1 - max(|u|, |v|)) / feather
        alpha = np.maximum.outer(np.abs(v), np.abs(u))
        np.subtract(np.float32(1.0), alpha, out=alpha)
        alpha *= np.float32(1.0 / region[FEATHER])
    np.clip(alpha, np.float32(0.0), np.float32(1.0), out=alpha)
    if region[OPACITY] != 1.0:
        alpha *= np.float32(region[OPACITY])
    return alpha


def _stripe_phase(region: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Stripe periods from the box's left edge to each column centre (the kernels' formula)."""
    left = region[CX] - region[SEMI_X]
    return ((xs + 0.5) - left) / (2.0 * region[SEMI_X]) * STRIPE_PERIODS


def _sample_rows(frame: np.ndarray, xs: np.ndarray, last: np.ndarray, first: np.ndarray) -> tuple:
    """Mean BGR of the ``SMEAR_ROWS`` rows up to ``last`` and from ``first`` in each column.

    Rows outside the frame are left out. Returns ``(n, 2, 3) float64`` means
    (above, below) and ``(n, 2) bool``: whether any row was in the frame.
    One gather for both sides: NumPy's per-call overhead, not the work,
    dominates at a few hundred values.
    """
    height, width = frame.shape[:2]
    starts = np.stack([last - SMEAR_ROWS + 1, first], axis=1)
    rows = starts[:, :, None] + np.arange(SMEAR_ROWS)
    inside = (rows >= 0) & (rows < height)
    pixels = np.clip(rows, 0, height - 1) * width + xs[:, None, None]
    values = frame.reshape(-1, 3).take(pixels.reshape(-1), axis=0).reshape(*rows.shape, 3)
    if inside.all():
        return values.sum(axis=2, dtype=np.float64) / SMEAR_ROWS, inside[:, :, 0]
    sums = np.einsum("nsr,nsrc->nsc", inside.astype(np.float64), values.astype(np.float64))
    count = inside.sum(axis=2)
    return sums / np.maximum(count, 1)[:, :, None], count > 0


def _fill_missing(values: np.ndarray, valid: np.ndarray) -> None:
    """Rows not ``valid`` <- the nearest valid row (left on a tie); zeros if none is."""
    if not valid.any():
        values[:] = 0.0
        return
    index = np.arange(len(valid))
    left = np.maximum.accumulate(np.where(valid, index, -1))
    right = np.minimum.accumulate(np.where(valid, index, len(valid))[::-1])[::-1]
    use_right = (left < 0) | ((right < len(valid)) & (right - index < index - left))
    values[:] = values[np.where(use_right, right, left)]


def _box_smooth(values: np.ndarray, half: int) -> np.ndarray:
    """Running mean over ``2 * half + 1`` rows of ``values`` (``(n, ...)``), edges replicated."""
    if half <= 0:
        return values
    n = len(values)
    padded = values[np.clip(np.arange(-half - 1, n + half), 0, n - 1)]
    padded[0] = 0.0
    sums = np.cumsum(padded, axis=0)
    return (sums[2 * half + 1 :] - sums[: -2 * half - 1]) / (2 * half + 1)


def _smear_profiles(frame: np.ndarray, region: np.ndarray, ellipse: bool) -> tuple:
    """Sides ``(n, 2, 3) float64`` (top, bottom), ``edge``, ``inv`` ``(n,)``: as the kernels."""
    xs = np.arange(int(region[X0]), int(region[X1]))
    if ellipse:
        u = ((xs + 0.5) - region[CX]) / region[SEMI_X]
        rest = 1.0 - u * u
        half = region[SEMI_Y] * np.sqrt(np.maximum(rest, 0.0))
    else:
        half = np.full(len(xs), region[SEMI_Y])
    upper = region[CY] - half
    lower = region[CY] + half
    extent = lower - upper
    inv = np.divide(1.0, extent, out=np.zeros_like(extent), where=extent > 0.0)
    last = np.ceil(upper - 0.5).astype(np.int64) - 1
    first = np.floor(lower - 0.5).astype(np.int64) + 1
    sides, has = _sample_rows(frame, xs, last, first)
    if not has.all():
        # A side missing at the frame edge takes the other side.
        only_bottom = has[:, 1] & ~has[:, 0]
        only_top = has[:, 0] & ~has[:, 1]
        sides[only_bottom, 0] = sides[only_bottom, 1]
        sides[only_top, 1] = sides[only_top, 0]
        _fill_missing(sides, has.any(axis=1))
    return _box_smooth(sides, int(region[SMOOTH])), upper, inv


def _linear_cover(frame: np.ndarray, region: np.ndarray, ellipse: bool, method: str) -> np.ndarray:
    """``(rows, n, 3) uint8`` cover of ``blur`` or ``solid`` (valid inside the shape)."""
    xs = np.arange(int(region[X0]), int(region[X1]))
    rows = int(region[Y1]) - int(region[Y0])
    contrast = region[CONTRAST]
    if method == "solid":
        half_periods = np.floor(2.0 * _stripe_phase(region, xs))
        bars = np.where(half_periods - 2.0 * np.floor(half_periods * 0.5) == 0.0, contrast, 0.0)
        row = np.repeat(bars.astype(np.uint8), 3).reshape(1, -1, 3)
        return np.ascontiguousarray(np.broadcast_to(row, (rows, len(xs), 3)))
    sides, edge, inv = _smear_profiles(frame, region, ellipse)
    stripe = contrast * np.sin(2.0 * np.pi * _stripe_phase(region, xs))
    striped = np.clip(sides + stripe[:, None, None], 0.0, 255.0)
    upper = striped[:, 0]
    step = (striped[:, 1] - upper) * inv[:, None]
    start = upper + ((region[Y0] + 0.5) - edge)[:, None] * step
    # Two broadcast passes: a (rows, 2) @ (2, n * 3) matmul was as fast for
    # small regions but 5x slower for 480-px ones (BLAS threads on 2 busy cores).
    cover = np.arange(rows, dtype=np.float32)[:, None] * step.reshape(1, -1).astype(np.float32)
    cover += start.reshape(1, -1).astype(np.float32)
    return cv2.convertScaleAbs(cover).reshape(rows, len(xs), 3)


def _pixelate_cover(
    frame: np.ndarray, region: np.ndarray, ellipse: bool, jitter: np.ndarray
) -> np.ndarray:
    """``(rows, n, 3) uint8`` blocks of the smear, block columns alternately shifted."""
    sides, edge, inv = _smear_profiles(frame, region, ellipse)
    top, bottom = sides[:, 0], sides[:, 1]
    rows = int(region[Y1]) - int(region[Y0])
    width = len(edge)
    centres = np.arange(int(region[Y0]), int(region[Y1]), dtype=np.float32) + np.float32(0.5)
    t = (centres[:, None] - edge.astype(np.float32)[None, :]) * inv.astype(np.float32)[None, :]
    np.clip(t, np.float32(0.0), np.float32(1.0), out=t)
    upper = top.astype(np.float32)
    smear = upper[None] + t[:, :, None] * (bottom.astype(np.float32) - upper)[None]
    cells = (int(region[CELLS_X]), int(region[CELLS_Y]))
    small = cv2.resize(smear, cells, interpolation=cv2.INTER_AREA).reshape(cells[1], cells[0], 3)
    shift = np.where(np.arange(cells[0]) % 2 == 0, region[CONTRAST], -region[CONTRAST])
    small = small + shift.astype(np.float32)[None, :, None] + jitter.reshape(cells[1], cells[0], 3)
    blocks = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    return cv2.resize(blocks, (width, rows), interpolation=cv2.INTER_NEAREST_EXACT)


def redact_regions(
    frame: np.ndarray,
    table: np.ndarray,
    order: np.ndarray,
    noise: np.ndarray,
    noise_starts: np.ndarray,
    method: str,
    shape: str,
) -> None:
    """Hide the regions of ``table`` in ``frame``, in ``order``, in place.

    Args:
        frame: ``(H, W, 3) uint8`` BGR, C-contiguous.
        table: ``(M, REGION_COLUMNS) float64`` from ``composite._regions``.
        order: ``(M,) int64`` processing order.
        noise: ``float32`` pixelate noise, ``CELLS_Y * CELLS_X * 3`` values per
            region (empty for other methods); region ``i``'s start at
            ``noise_starts[i]``.
        method: ``blur``, ``pixelate`` or ``solid``; shape ``ellipse`` or ``box``.
    """
    ellipse = shape == "ellipse"
    for index in order.tolist():
        region = table[index]
        x0, y0, x1, y1 = int(region[X0]), int(region[Y0]), int(region[X1]), int(region[Y1])
        roi = frame[y0:y1, x0:x1]
        if method == "pixelate":
            start = noise_starts[index]
            count = int(region[CELLS_X]) * int(region[CELLS_Y]) * 3
            cover = _pixelate_cover(frame, region, ellipse, noise[start : start + count])
        else:
            cover = _linear_cover(frame, region, ellipse, method)
        alpha = alpha_map_f32(region, ellipse)
        cv2.blendLinear(cover, roi, alpha, 1.0 - alpha, dst=roi)


def curtain(frame: np.ndarray, cells: tuple[int, int]) -> None:
    """Hide all of ``frame`` (``(H, W, 3) uint8``) in place via a ``cells`` grid (x, y)."""
    small = cv2.resize(frame, cells, interpolation=cv2.INTER_AREA)
    small = cv2.blur(small, (3, 3), borderType=cv2.BORDER_REPLICATE)
    cv2.resize(small, (frame.shape[1], frame.shape[0]), dst=frame, interpolation=cv2.INTER_LINEAR)
