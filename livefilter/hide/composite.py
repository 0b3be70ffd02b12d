"""Hide regions of a frame in place: blur, pixelate or solid fill.

Every frame of the live path passes through here, so the work is done by
numba kernels (``livefilter.hide._kernels``) that hide all regions of a
frame in one call. ``livefilter.hide.reference`` does the same with plain
NumPy/OpenCV calls; tests check the two agree and the benchmark races them.

What covers a region (chosen with ``benchmarks/redaction_strength.py``; the
figures are its share of faces CenterFace still finds at mask scale 1.6 on
the 150 photos, 1,080 faces, the choice was made on; over all 454 photos,
2,565 faces: blur 0.5 %, pixelate 1.6 %, solid 0.5 %):

* Covers drawn from the face's own region left faces found: the old blur
  7.3 %, block means 8.4 %, a black oval 4.4 %. CenterFace fires on a smooth
  oval framed by hair and shoulders, whatever the oval holds. So the cover is
  never drawn from the hidden pixels. ``blur`` interpolates each column from
  the few rows just above the shape to the few just below it (a vertical
  smear that continues the surroundings across the region, leaving no oval
  edge) and adds vertical sine stripes (0.3 %; the smear alone 1.6 %);
  ``pixelate`` takes block means of that smear, block columns alternately
  lighter and darker (0.6 %; without the alternation 4.8 %); ``solid`` is
  black and dark-grey bars that read nothing (0.4 %).
* Smooth fills of any kind were found more often than the old blur in
  prototype runs (the surroundings' mean colour about 16 %, smooth gradients
  of them 6-17 %, on a 40-photo subset), and horizontal stripes 8.9 %: they
  look like eyes and a mouth.
* No pixel the region hides with alpha 1 contributes to what covers it, so
  nothing of the face is left to recover; only the feathered rim, outside
  the face, blends the original in. What correlation with the face remains
  (0.17 for ``blur`` on 8x8 greyscale faces, against 0.34 for the old blur)
  is what the surroundings predict about it.

Geometry shared by both backends (computed once, here, by :func:`_regions`):

* A region is a box ``x1, y1, x2, y2`` in frame pixels, already grown about
  the face (by the mask scale, ~1.6x), so the face is the middle of the box.
* Pixel ``(x, y)`` has its centre at ``(x + 0.5, y + 0.5)``.
* ``ellipse``: the ellipse inscribed in the box; ``box``: the box itself.
  With ``u, v`` the pixel centre's offset from the box centre divided by the
  half width / half height and ``f = FEATHER_FRACTION``, the feathered alpha
  is ``clip((1 - u² - v²) / (1 - (1 - f)²), 0, 1)`` for the ellipse (a ramp
  in the squared radius: no square root per pixel) and
  ``clip((1 - max(|u|, |v|)) / f, 0, 1)`` for the box: 0 on the boundary,
  1 from ``1 - f`` of the radius inwards.
* A face box grown 1.6x lies within radius ``sqrt(2) / 1.6 ≈ 0.884`` of the
  ellipse (its corners), inside the ``0.9`` where the feather ends, so every
  pixel of the face itself gets ``alpha == 1``: the original never shows
  through over the face.
* A pixel is *hidden* when ``alpha >= 0.5`` (:func:`hidden_mask`); pixels with
  ``alpha <= 0`` (every pixel outside the shape, so every pixel outside the
  boxes) are never written: they stay bit-identical.
* Regions are hidden one after another in the order of :func:`_batches`, each
  from the frame as the regions before it left it; regions that neither
  overlap nor read rows the other writes are independent, which is what lets
  the numba kernel hide a batch of them in parallel. A region processed later
  reads at most ``SMEAR_ROWS`` rows around itself, smoothed across columns,
  so it can copy no more than a smoothed scan line of a face it borders.
"""

from __future__ import annotations

import logging
import time
from typing import Literal, get_args

import numpy as np

from livefilter.errors import ConfigError
from livefilter.hide import _kernels as kernels
from livefilter.hide._kernels import (
    CELLS_X,
    CELLS_Y,
    REGION_COLUMNS,
    SMEAR_ROWS,
    STRIPE_PERIODS,
)

__all__ = [
    "BLUR_SMOOTHING",
    "BLUR_STRIPES",
    "CURTAIN_CELLS",
    "FEATHER_FRACTION",
    "PIXELATE_CELLS",
    "PIXELATE_CONTRAST",
    "PIXELATE_NOISE",
    "SMEAR_ROWS",
    "SOLID_BARS",
    "STRIPE_PERIODS",
    "Backend",
    "Method",
    "Shape",
    "curtain",
    "hidden_mask",
    "redact",
    "warm_up",
]

logger = logging.getLogger(__name__)

Method = Literal["blur", "pixelate", "solid"]
Shape = Literal["ellipse", "box"]
Backend = Literal["numba", "opencv"]

#: Width of the feathered edge as a fraction of each semi-axis (see module doc).
FEATHER_FRACTION = 0.1
#: ``blur``: amplitude in grey levels of the vertical sine stripes
#: (``STRIPE_PERIODS`` across the region) added to the smear of the
#: surroundings. With 96 levels 0.3 % of hidden faces were still found,
#: without stripes 1.6 %, with 128 levels 0.5 % (48 and 64 levels: 0.5 % in
#: prototype runs).
BLUR_STRIPES = 96.0
#: ``blur``: the rows sampled above and below are averaged across this
#: fraction of the region's width, so a neighbour's face that borders the
#: region is not copied in sharp.
BLUR_SMOOTHING = 1.0 / 16.0
#: ``pixelate``: blocks across the region's longer side: two per stripe
#: period, so the lighter and darker block columns alternate like blur's
#: stripes. Larger blocks were found more often in prototype runs (16 and 20
#: blocks 1.9 % and 1.4 %, 24 blocks 0.9 %).
PIXELATE_CELLS = 2.0 * STRIPE_PERIODS
#: ``pixelate``: even block columns are this many grey levels lighter than
#: the smear, odd ones as much darker.
PIXELATE_CONTRAST = 96.0
#: ``pixelate``: each block also moves by a uniform random amount in
#: ``[-PIXELATE_NOISE, PIXELATE_NOISE]`` grey levels per channel, drawn anew
#: on every call. The blocks hold nothing of the face, so this is no longer
#: what protects it; more noise was found more often (24 levels 1.9 %).
PIXELATE_NOISE = 8.0
#: ``solid``: bars alternate between black and this grey (``STRIPE_PERIODS``
#: pairs across the region): 0.4 % found, against 4.4 % for a flat black oval;
#: flat grey, white or the surroundings' colour were found more often still.
SOLID_BARS = 64.0
#: ``curtain``: the frame is averaged down to this many cells across its
#: longer side; a face as tall as a 16:9 frame is then 4 to 5 cells tall
#: before the 3x3 blur of the cells. (Not striped: it is the fail-closed
#: fallback for frames whose faces are not known, not a per-face cover.)
CURTAIN_CELLS = 8

# Coordinates beyond this many pixels are clipped to it (only to tame inf).
_FAR = 1e7

_METHOD_CODES: dict[str, int] = {
    "blur": kernels.METHOD_BLUR,
    "pixelate": kernels.METHOD_PIXELATE,
    "solid": kernels.METHOD_SOLID,
}


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
        raise ValueError(
            "frame: expected an (H, W, 3) uint8 BGR array, got "
            f"{getattr(frame, 'shape', None)} {getattr(frame, 'dtype', type(frame).__name__)}"
        )
    if frame.shape[2] != 3 or not frame.flags.c_contiguous or not frame.flags.writeable:
        raise ValueError(
            f"frame: expected a writeable C-contiguous (H, W, 3) array, got shape {frame.shape}"
        )


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: expected one of {', '.join(allowed)}; got {value!r}")


def _regions(
    boxes: np.ndarray,
    height: int,
    width: int,
    method: Method = "blur",
    strength: float = 1.0,
) -> np.ndarray:
    """The region table both backends and :func:`hidden_mask` work from.

    Args:
        boxes: ``(N, 4)`` float ``x1, y1, x2, y2``; corners in either order.
        height, width: frame size in pixels.
        method: sets the cell grid (pixelate) and the stripe contrast.
        strength: the opacity is ``min(strength, 1)``.

    Returns:
        ``(M, REGION_COLUMNS) float64``, one row per box that touches at least
        one pixel centre's row and column of the frame: the shape's centre and
        semi-axes, the feather fraction, the pixel rectangle ``[X0, X1) x [Y0, Y1)``
        (integers) it may write, the cell grid ``CELLS_X x CELLS_Y`` (pixelate),
        the opacity, the stripe contrast and the half width of the smoothing
        across columns. Zero-size boxes are dropped: they cover no pixel.

    Raises:
        ValueError: ``boxes`` is not ``(N, 4)`` or holds NaN.
    """
    boxes = np.ascontiguousarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, REGION_COLUMNS), np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes: expected an (N, 4) array, got shape {boxes.shape}")
    if np.isnan(boxes).any():
        # Failing loudly lets the live path fall back to the curtain; dropping
        # the box would silently show a face.
        raise ValueError("boxes: NaN coordinates")
    cells = PIXELATE_CELLS if method == "pixelate" else 1.0
    contrast = {"blur": BLUR_STRIPES, "pixelate": PIXELATE_CONTRAST, "solid": SOLID_BARS}[method]
    return kernels.region_table(
        boxes,
        int(height),
        int(width),
        cells,
        min(1.0, strength),
        contrast,
        BLUR_SMOOTHING / 2.0,
        FEATHER_FRACTION,
        _FAR,
    )


def _batches(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``order``, ``starts``: batches of independent regions (see ``kernels.batches``).

    Regions are hidden batch after batch, in table order within a batch.
    """
    return kernels.batches(table)


def _pixelate_noise(
    table: np.ndarray, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform noise for every cell of every region.

    Returns ``noise`` ``(sum of CELLS_X * CELLS_Y * 3,) float32`` (row-major
    cells, BGR, region after region) and ``starts`` ``(M,) int64``, the offset
    of each table row's noise.
    """
    counts = (table[:, CELLS_X] * table[:, CELLS_Y] * 3).astype(np.int64)
    starts = np.zeros(len(table), np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    if rng is None:
        rng = np.random.default_rng()
    noise = rng.uniform(-PIXELATE_NOISE, PIXELATE_NOISE, int(counts.sum()))
    return noise.astype(np.float32), starts


def _redact(
    frame: np.ndarray,
    boxes: np.ndarray,
    method: Method,
    shape: Shape,
    strength: float,
    backend: Backend,
    rng: np.random.Generator | None,
) -> None:
    """:func:`redact` with the pixelate noise source exposed (for tests)."""
    _check_frame(frame)
    _check_choice("method", method, get_args(Method))
    _check_choice("shape", shape, get_args(Shape))
    _check_choice("backend", backend, get_args(Backend))
    if not (np.isfinite(strength) and 0.0 < strength <= 10.0):
        raise ConfigError(f"strength: expected a value in (0, 10], got {strength!r}")
    height, width = frame.shape[:2]
    table = _regions(boxes, height, width, method, float(strength))
    if len(table) == 0:
        return
    order, starts = _batches(table)
    if method == "pixelate":
        noise, noise_starts = _pixelate_noise(table, rng)
    else:
        noise, noise_starts = np.zeros((0,), np.float32), np.zeros(len(table), np.int64)
    if backend == "opencv":
        from livefilter.hide import reference as composite_reference

        composite_reference.redact_regions(frame, table, order, noise, noise_starts, method, shape)
        return
    with kernels.PARALLEL_LOCK:
        kernels.redact_kernel(
            frame,
            table,
            order,
            starts,
            _METHOD_CODES[method],
            shape == "ellipse",
            noise,
            noise_starts,
        )


def redact(
    frame: np.ndarray,
    boxes: np.ndarray,
    method: Method = "blur",
    shape: Shape = "ellipse",
    *,
    strength: float = 1.0,
    backend: Backend = "numba",
) -> None:
    """Hide each region of ``frame`` in place.

    Args:
        frame: ``(H, W, 3) uint8`` BGR, C-contiguous and writeable; modified
            in place. Pixels outside every region stay bit-identical.
        boxes: ``(N, 4)`` float ``x1, y1, x2, y2`` in frame pixels, already
            grown about each face by the mask scale. Boxes may overlap, reach
            past the frame or have zero size.
        method: ``blur`` (a striped vertical smear of the surroundings),
            ``pixelate`` (noisy blocks of that smear, block columns
            alternately lighter and darker) or ``solid`` (black and dark-grey
            bars). None of them reads the pixels it hides (module doc).
        shape: ``ellipse`` inscribed in each box, or the ``box`` itself.
        strength: the opacity: 1.0, the default, hides the region; lower
            values let ``1 - strength`` of the original show through (for
            measurements); values above 1 act as 1. In ``(0, 10]``.
        backend: ``numba`` (fast kernels) or ``opencv`` (reference).

    Raises:
        ValueError: a bad frame or boxes; ``ConfigError`` (a ValueError) for
            an unknown method, shape or backend or a strength out of range.
    """
    _redact(frame, boxes, method, shape, strength, backend, None)


def curtain(frame: np.ndarray, *, backend: Backend = "numba") -> None:
    """Hide the whole ``frame`` in place, irreversibly.

    The fail-closed fallback of the live path: the frame is averaged down to
    ``CURTAIN_CELLS`` cells across its longer side, the cells are blurred 3x3
    and interpolated back up. Nothing smaller than a fraction of the frame
    survives.

    Args:
        frame: ``(H, W, 3) uint8`` BGR, C-contiguous and writeable.
        backend: ``numba`` or ``opencv``.
    """
    _check_frame(frame)
    _check_choice("backend", backend, get_args(Backend))
    cells_x, cells_y = _curtain_cells(*frame.shape[:2])
    if backend == "opencv":
        from livefilter.hide import reference as composite_reference

        composite_reference.curtain(frame, (cells_x, cells_y))
        return
    with kernels.PARALLEL_LOCK:
        kernels.curtain_kernel(frame, cells_x, cells_y)


def _curtain_cells(height: int, width: int) -> tuple[int, int]:
    """``(cells_x, cells_y)`` of the curtain grid for a frame."""
    longer = max(height, width)
    cells_x = max(1, round(CURTAIN_CELLS * width / longer))
    cells_y = max(1, round(CURTAIN_CELLS * height / longer))
    return cells_x, cells_y


def hidden_mask(boxes: np.ndarray, shape: Shape, height: int, width: int) -> np.ndarray:
    """The pixels :func:`redact` hides: ``alpha >= 0.5`` of the feathered mask.

    Args:
        boxes: ``(N, 4)`` float ``x1, y1, x2, y2``, as passed to :func:`redact`.
        shape: ``ellipse`` or ``box``.
        height, width: frame size.

    Returns:
        ``(height, width) bool``.
    """
    _check_choice("shape", shape, get_args(Shape))
    table = _regions(boxes, height, width)
    return kernels.hidden_mask_kernel(table, shape == "ellipse", int(height), int(width))


def warm_up() -> float:
    """Compile the kernels, or load them from numba's cache, on tiny inputs.

    The live path calls this before its first frame so no frame waits for a
    compile. Returns the seconds taken.
    """
    started = time.perf_counter()
    frame = np.zeros((8, 8, 3), np.uint8)
    boxes = np.array([[1.0, 1.0, 6.0, 6.0]])
    for method in get_args(Method):
        for shape in get_args(Shape):
            redact(frame, boxes, method, shape)
    curtain(frame)
    hidden_mask(boxes, "ellipse", 8, 8)
    seconds = time.perf_counter() - started
    logger.debug("compositor kernels ready in %.2f s", seconds)
    return seconds
