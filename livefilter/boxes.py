"""Box maths on ``(N, 4)`` arrays. Pure functions: they return new arrays.

The layout is in each name: ``xyxy`` is ``x1, y1, x2, y2``; ``xywh`` is
``x, y, width, height`` (the layout of the WIDER FACE labels).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "inside_share_xyxy",
    "iou_matrix_xyxy",
    "nms_xyxy",
    "xywh_to_xyxy",
    "xyxy_clip",
    "xyxy_scale_about_centre",
    "xyxy_to_xywh",
    "xyxy_unrotate",
]


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    b = np.asarray(xywh, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:4]], axis=1)


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:4] - b[:, :2]], axis=1)


def xyxy_scale_about_centre(xyxy: np.ndarray, factor: float | np.ndarray) -> np.ndarray:
    """Scale width and height of each box by ``factor`` about its centre."""
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    centre = (b[:, :2] + b[:, 2:4]) * 0.5
    half = (b[:, 2:4] - b[:, :2]) * 0.5 * np.asarray(factor, np.float32).reshape(-1, 1)
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)


def xyxy_clip(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    b[:, 0::2] = np.clip(b[:, 0::2], 0, width)
    b[:, 1::2] = np.clip(b[:, 1::2], 0, height)
    return b


def _area(b: np.ndarray) -> np.ndarray:
    return np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(br - tl, 0, None), axis=2)


def inside_share_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))``: the share of each box of ``a`` that lies inside
    each box of ``b`` (0 for a box of no area)."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    return (_intersection(a, b) / np.maximum(_area(a), 1e-6)[:, None]).astype(np.float32)


def iou_matrix_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` intersection over union."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    inter = _intersection(a, b)
    area_a = _area(a)
    area_b = _area(b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms_xyxy(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    if len(xyxy) == 0:
        return np.zeros((0,), np.int64)
    # OpenCV's C++ NMS: the decoded candidates of a crowd photo at a low
    # threshold number in the thousands, too many for a Python loop.
    xywh = xyxy_to_xywh(xyxy)
    keep = cv2.dnn.NMSBoxes(
        xywh.tolist(), np.asarray(scores, np.float32).tolist(), 0.0, float(iou_threshold)
    )
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def xyxy_unrotate(xyxy: np.ndarray, rotate: int, width: int, height: int) -> np.ndarray:
    """Boxes found on an image turned ``rotate`` degrees clockwise (0, 90,
    180, 270; as ``cv2.rotate`` turns it), mapped back to the unturned image
    of ``width x height`` pixels."""
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    u1, v1, u2, v2 = b.T
    if rotate == 0:
        return b.copy()
    if rotate == 90:  # (x, y) -> (height - y, x)
        out = [v1, height - u2, v2, height - u1]
    elif rotate == 180:  # (x, y) -> (width - x, height - y)
        out = [width - u2, height - v2, width - u1, height - v1]
    elif rotate == 270:  # (x, y) -> (y, width - x)
        out = [width - v2, u1, width - v1, u2]
    else:
        raise ValueError(f"rotate: expected 0, 90, 180 or 270, got {rotate!r}")
    return np.stack(out, axis=1).astype(np.float32)
