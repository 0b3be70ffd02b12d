"""YuNet: libfacedetection's small anchor-free face detector (BSD-3-Clause).

The ONNX graph is rebuilt from libfacedetection's own weights at
``livefilter models fetch`` (see :mod:`livefilter.detect.yunet_graph`). It costs
about a third of CenterFace at the same input width and finds small faces
(16-31 px) far better than CenterFace at equal cost, but is a little weaker
on large faces: a partner for CenterFace, not a replacement.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from livefilter.detect.base import DetectorConfig, letterboxed_to_frame, top_letterbox
from livefilter.detect.centerface import CenterFaceDetector, _OrtRunner
from livefilter.detect.yunet_graph import INPUT, LEVELS, OUTPUTS
from livefilter.detections import Detections
from livefilter.errors import ConfigError

__all__ = ["DEFAULT_YUNET_THRESHOLD", "YuNetDetector", "decode_yunet"]

logger = logging.getLogger(__name__)

#: Minimum YuNet score (``sqrt(class * objectness)``) of a single pass when
#: none is configured. YuNet's scores run higher than CenterFace's, so the
#: CenterFace default (0.2) does not carry over; see README "YuNet".
DEFAULT_YUNET_THRESHOLD = 0.5


def decode_yunet(outputs: list[np.ndarray], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and scores from the graph's outputs, in input-image pixels.

    ``outputs`` are, per stride ``s`` (8, 16, 32), the score map
    ``(1, 1, h, w)`` and the box map ``(1, 4, h, w)``: centre offsets in
    cells from the cell's corner point and log width and height in cells.
    Boxes are returned unclipped ``(N, 4) float32`` x1 y1 x2 y2.
    """
    boxes, scores = [], []
    for (_, _, stride), score_map, box_map in zip(LEVELS, outputs[0::2], outputs[1::2],
                                                  strict=True):
        ys, xs = np.nonzero(score_map[0, 0] > threshold)
        if len(ys) == 0:
            continue
        raw = box_map[0][:, ys, xs]
        centre_x = (xs + raw[0]) * stride
        centre_y = (ys + raw[1]) * stride
        half_w = np.exp(raw[2]) * stride / 2
        half_h = np.exp(raw[3]) * stride / 2
        boxes.append(np.stack([centre_x - half_w, centre_y - half_h,
                               centre_x + half_w, centre_y + half_h], axis=1))
        scores.append(score_map[0, 0, ys, xs])
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    return (np.concatenate(boxes).astype(np.float32),
            np.concatenate(scores).astype(np.float32))


class _YuNetOrtRunner(_OrtRunner):
    """CenterFace's onnxruntime session, for the YuNet graph."""

    input_name = INPUT
    output_names = OUTPUTS

    def _open_shape(self, model) -> None:
        """The graph is built with its height and width open."""


class YuNetDetector:
    """YuNet on a copy of the frame scaled to ``config.input_width``.

    Same geometry as :class:`CenterFaceDetector`: the width is rounded to a
    multiple of 32 and the height padded (with black) to one, never
    stretched. The network takes BGR in 0..255.
    """

    name = "yunet"
    input_size = CenterFaceDetector.input_size

    def __init__(self, model_path: Path, config: DetectorConfig) -> None:
        self.config = config
        # cv2.dnn cannot import this graph (its input size is left open), and
        # onnxruntime is a dependency anyway: no fallback.
        if config.backend == "opencv":
            raise ConfigError("backend: detector yunet runs on onnxruntime only; got 'opencv'")
        try:
            self._run = _YuNetOrtRunner(model_path, config.threads)
        except ImportError as exc:
            raise ConfigError(f"detector yunet needs onnxruntime and onnx: {exc}") from exc
        self.backend = "onnxruntime"

    @property
    def threshold(self) -> float:
        """The score a box needs when ``detect`` is given none."""
        return DEFAULT_YUNET_THRESHOLD if self.config.threshold is None else self.config.threshold

    def detect(
        self, frame_bgr: np.ndarray, input_width: int = 0, *, threshold: float | None = None
    ) -> Detections:
        """Faces in ``frame_bgr`` (``(H, W, 3) uint8`` BGR), boxes in its pixels.

        ``input_width`` overrides the configured network width (``0``: use the
        config); ``threshold`` overrides :attr:`threshold`.
        """
        height, width = frame_bgr.shape[:2]
        net_width, net_height, scale = self.input_size(width, height, input_width)
        canvas, scaled_height = top_letterbox(frame_bgr, net_width, net_height, scale)
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        xyxy, scores = decode_yunet(self._run(blob),
                                    self.threshold if threshold is None else threshold)
        return letterboxed_to_frame(xyxy, scores, scale=scale, scaled_height=scaled_height,
                                    width=width, height=height, nms_iou=self.config.nms_iou)
