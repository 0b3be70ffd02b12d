"""Plain-OpenCV reference of the compositor: the same output as the kernels.

This is the fastest way we found to the same result with stock OpenCV calls,
so the benchmark's baseline is a fair one: per region, an ``INTER_AREA``
downsample to the cell grid, a 3x3 box blur of the cells (``blur``) or noise
on them (``pixelate``), an upsample back (bilinear, or nearest for blocks),
and ``cv2.blendLinear`` through the feathered mask into the frame's own
memory. The blend dominates (about 4 ns a pixel); an int16
subtract-multiply-add in three OpenCV calls and a float32
``cv2.accumulateProduct`` were measured no faster and 2x slower.

Results differ from the numba kernels only by OpenCV's 8-bit intermediate
rounding (a few grey levels) and, for alpha exactly at a threshold, by
float32 versus float64 mask arithmetic.

The region table, the processing order and the noise come from
``livefilter.composite`` so both backends work from the same geometry.
"""

from __future__ import annotations

import cv2
import numpy as np

from livefilter._composite_kernels import (
    CELLS_X,
    CELLS_Y,
    CX,
    CY,
    FEATHER,
    OPACITY,
    SEMI_X,
    SEMI_Y,
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
        size = (x1 - x0, y1 - y0)
        cells = (int(region[CELLS_X]), int(region[CELLS_Y]))
        if method == "solid":
            cover = np.zeros_like(roi)
        else:
            small = cv2.resize(roi, cells, interpolation=cv2.INTER_AREA)
            if method == "blur":
                small = cv2.blur(small, (3, 3), borderType=cv2.BORDER_REPLICATE)
                cover = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
            else:
                start = noise_starts[index]
                jitter = noise[start : start + cells[0] * cells[1] * 3]
                noisy = small.astype(np.float32) + jitter.reshape(cells[1], cells[0], 3)
                small = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
                cover = cv2.resize(small, size, interpolation=cv2.INTER_NEAREST_EXACT)
        alpha = alpha_map_f32(region, ellipse)
        cv2.blendLinear(cover, roi, alpha, 1.0 - alpha, dst=roi)


def curtain(frame: np.ndarray, cells: tuple[int, int]) -> None:
    """Hide all of ``frame`` (``(H, W, 3) uint8``) in place via a ``cells`` grid (x, y)."""
    small = cv2.resize(frame, cells, interpolation=cv2.INTER_AREA)
    small = cv2.blur(small, (3, 3), borderType=cv2.BORDER_REPLICATE)
    cv2.resize(small, (frame.shape[1], frame.shape[0]), dst=frame, interpolation=cv2.INTER_LINEAR)
