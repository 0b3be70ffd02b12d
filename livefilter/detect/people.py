"""Whole people: the YOLOX-Nano COCO detector, person class only.

The model (Megvii's stock YOLOX-Nano, Apache-2.0, 416x416 input; see
:mod:`livefilter.models`) is run with our own pre- and post-processing,
written from YOLOX's published export format:

* input ``(1, 3, 416, 416)`` float32, BGR channels, values 0..255 (the
  YOLOX ONNX exports take raw pixels: no mean, no scaling), the frame
  letterboxed into the top-left corner (aspect kept, the rest grey 114);
* output ``(1, 3549, 85)``: one row per grid cell of the three strides
  8, 16 and 32 (52x52 + 26x26 + 13x13 = 3549), ``x, y, log w, log h`` in
  cell units, then objectness and 80 class scores, already sigmoid-ed.
  A box's centre is ``(x + col) * stride``, its size ``exp(w) * stride``.

Class 0 is *person*; a person's score is objectness times its class score.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from livefilter.boxes import nms_xyxy, xyxy_clip
from livefilter.detections import Detections
from livefilter.errors import ModelMissingError

__all__ = ["INPUT_SIZE", "STRIDES", "PersonDetector", "decode_outputs", "letterbox"]

logger = logging.getLogger(__name__)

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
_PAD_VALUE = 114
_PERSON = 0


def letterbox(image_bgr: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """``(1, 3, size, size) float32`` network input and the scale applied.

    The frame is resized to fit ``size`` (aspect kept) into the top-left
    corner; boxes come back in frame pixels by dividing by the scale.
    """
    height, width = image_bgr.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), _PAD_VALUE, np.uint8)
    canvas[:new_h, :new_w] = resized
    blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    return np.ascontiguousarray(blob), scale


def _grids(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 2)`` cell offsets and ``(N, 1)`` strides, in the output's row order."""
    cells, strides = [], []
    for stride in STRIDES:
        side = size // stride
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((side * side, 1), stride))
    return (np.concatenate(cells).astype(np.float32),
            np.concatenate(strides).astype(np.float32))


def decode_outputs(raw: np.ndarray, *, size: int = INPUT_SIZE, threshold: float,
                   nms_iou: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes ``(N, 4)`` (``x1, y1, x2, y2`` in network pixels) and
    scores ``(N,)`` from the raw ``(1, rows, 85)`` output, after NMS."""
    rows = raw.reshape(-1, raw.shape[-1])
    cells, strides = _grids(size)
    if len(rows) != len(cells):
        raise RuntimeError(
            f"person model: expected {len(cells)} output rows for a {size}x{size} input, "
            f"got {len(rows)}"
        )
    scores = rows[:, 4] * rows[:, 5 + _PERSON]
    keep = scores >= threshold
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    rows, cells, strides, scores = rows[keep], cells[keep], strides[keep], scores[keep]
    centre = (rows[:, :2] + cells) * strides
    # exp() of a wild value would overflow to inf; no real box is 50 strides wide.
    half = np.exp(np.clip(rows[:, 2:4], -10.0, 4.0)) * strides * 0.5
    xyxy = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
    chosen = nms_xyxy(xyxy, scores, nms_iou)
    return xyxy[chosen], scores[chosen].astype(np.float32)


class PersonDetector:
    """YOLOX-Nano on onnxruntime; ``detect(frame_bgr)`` gives person boxes.

    Args:
        model: path of the ONNX file.
        threshold: minimum person score (objectness x class). Low, since a
            missed body is the failure that matters; a false one hides some
            background.
        threads: onnxruntime intra-op threads (0: all cores).
    """

    name = "yolox-nano-person"

    def __init__(self, model: Path, *, threshold: float = 0.25, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(model), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types
            raise ModelMissingError(
                f"{model}: cannot load the person model ({exc}); "
                "run `livefilter models fetch --force`"
            ) from exc
        inputs = self._session.get_inputs()
        shape = inputs[0].shape
        if len(shape) != 4 or shape[2:] != [INPUT_SIZE, INPUT_SIZE]:
            raise ModelMissingError(
                f"{model}: expected a {INPUT_SIZE}x{INPUT_SIZE} YOLOX input, got {shape}"
            )
        self._input = inputs[0].name
        self.threshold = threshold
        # One session may be called from one thread at a time on every backend.
        self._lock = threading.Lock()

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """People in ``frame_bgr`` (``(H, W, 3) uint8``), boxes in frame pixels."""
        height, width = frame_bgr.shape[:2]
        blob, scale = letterbox(frame_bgr)
        with self._lock:
            (raw,) = self._session.run(None, {self._input: blob})[:1]
        xyxy, scores = decode_outputs(raw, threshold=self.threshold)
        xyxy = xyxy_clip(xyxy / scale, width, height)
        real = (xyxy[:, 2] - xyxy[:, 0] >= 2) & (xyxy[:, 3] - xyxy[:, 1] >= 2)
        return Detections(xyxy[real], scores[real])
