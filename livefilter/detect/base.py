"""The detector interface and its configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from livefilter.detections import Detections
from livefilter.errors import ConfigError

__all__ = ["DetectorConfig", "Detector", "round_to_multiple"]

DetectorKind = Literal["auto", "centerface", "cascade"]
BackendKind = Literal["auto", "onnxruntime", "opencv"]


@runtime_checkable
class Detector(Protocol):
    """Finds faces in a BGR frame.

    ``detect`` takes an ``(H, W, 3) uint8`` BGR image and returns boxes in the
    pixel coordinates of that image. Implementations downscale internally.
    """

    name: str

    def detect(self, frame_bgr: np.ndarray) -> Detections: ...


def round_to_multiple(value: float, multiple: int) -> int:
    """Nearest multiple of ``multiple``, at least ``multiple``."""
    return max(multiple, int(round(value / multiple)) * multiple)


@dataclass(frozen=True, kw_only=True)
class DetectorConfig:
    """How faces are found.

    Attributes:
        kind: ``centerface`` (the network), ``cascade`` (OpenCV Haar cascades,
            far lower recall) or ``auto`` (centerface when its model is
            installed, else cascade with a warning).
        threshold: minimum CenterFace score.
        input_width: width the frame is scaled to before detection (rounded to
            a multiple of 32); ``0`` means the frame's own width.
        backend: ``onnxruntime`` (fast), ``opencv`` (``cv2.dnn``) or ``auto``.
        threads: inference threads (``0`` lets the backend choose).
        nms_iou: IoU above which overlapping detections are merged.
    """

    kind: DetectorKind = "auto"
    threshold: float = 0.2
    input_width: int = 0
    backend: BackendKind = "auto"
    threads: int = 0
    nms_iou: float = 0.3

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "centerface", "cascade"):
            raise ConfigError(
                f"detector: expected one of auto, centerface, cascade; got {self.kind!r}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold: expected a value in (0, 1), got {self.threshold!r}")
        if self.input_width != 0 and not 64 <= self.input_width <= 7680:
            raise ConfigError(
                f"detect-width: expected 0 (native) or 64..7680 pixels, got {self.input_width!r}"
            )
        if self.backend not in ("auto", "onnxruntime", "opencv"):
            raise ConfigError(
                f"backend: expected one of auto, onnxruntime, opencv; got {self.backend!r}"
            )
        if not 0 <= self.threads <= 64:
            raise ConfigError(f"threads: expected 0..64, got {self.threads!r}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError(f"nms-iou: expected a value in (0, 1], got {self.nms_iou!r}")
