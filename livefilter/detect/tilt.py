"""Frames tilted between the quarter turns, and boxes mapped back from them.

A face tilted 45 degrees (a head on a shoulder, a camera held askew, a
person lying half across the frame) is as far as a face can be from the
upright and the quarter-turned passes. A tilted pass runs the network on
the frame turned by its angle onto a canvas large enough to hold all of it
(nothing is cut off), and maps each box back as the ellipse inside it: a
face is round-ish, so the box of its turned ellipse is the face's box in the
frame (the box of the turned rectangle would be up to twice as large).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["tilt_canvas", "tilted", "turned_ellipse_boxes"]


def tilt_canvas(width: int, height: int, angle: float) -> tuple[int, int]:
    """Width and height of the canvas that holds a ``width x height`` frame
    turned ``angle`` degrees clockwise."""
    theta = math.radians(angle)
    cos, sin = abs(math.cos(theta)), abs(math.sin(theta))
    return (math.ceil(width * cos + height * sin - 1e-6),
            math.ceil(width * sin + height * cos - 1e-6))


def _matrix(width: int, height: int, angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    canvas = tilt_canvas(width, height, angle)
    # OpenCV's positive angle turns counter-clockwise as seen on screen.
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -angle, 1.0)
    matrix[0, 2] += canvas[0] / 2 - width / 2
    matrix[1, 2] += canvas[1] / 2 - height / 2
    return matrix, canvas


def tilted(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned ``angle`` degrees clockwise onto a black canvas that
    holds all of it, and the ``(2, 3)`` affine map from canvas back to image."""
    height, width = image.shape[:2]
    matrix, canvas = _matrix(width, height, angle)
    turned = cv2.warpAffine(image, matrix, canvas, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT)
    return turned, cv2.invertAffineTransform(matrix)


def turned_ellipse_boxes(xyxy: np.ndarray, affine: np.ndarray, angle: float) -> np.ndarray:
    """``(N, 4) float32``: the box of the ellipse inside each box of ``xyxy``
    once ``affine`` (a rotation by ``angle`` degrees plus a shift) has moved
    it. Used both ways: boxes found on a tilted canvas back to the frame, and
    (benchmarks) labelled faces onto a tilted photo."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    centres = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                        np.ones(len(xyxy), np.float32)], axis=1)
    cx, cy = (centres @ np.asarray(affine, np.float32).T).T
    theta = math.radians(angle)
    half_w, half_h = (xyxy[:, 2] - xyxy[:, 0]) / 2, (xyxy[:, 3] - xyxy[:, 1]) / 2
    cos2, sin2 = math.cos(theta) ** 2, math.sin(theta) ** 2
    box_w = np.sqrt(half_w ** 2 * cos2 + half_h ** 2 * sin2)
    box_h = np.sqrt(half_w ** 2 * sin2 + half_h ** 2 * cos2)
    return np.stack([cx - box_w, cy - box_h, cx + box_w, cy + box_h], axis=1).astype(np.float32)
