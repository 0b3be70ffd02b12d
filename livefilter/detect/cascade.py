"""OpenCV Haar cascades: the fallback detector when the CenterFace model is absent.

Frontal plus profile plus profile on the mirrored image (the profile cascade
only knows faces turned one way), on a downscaled, equalised grayscale frame.
Recall on crowd photos is far below CenterFace's; ``livefilter`` warns when it
falls back to this.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livefilter.boxes import nms_xyxy
from livefilter.detect.base import DetectorConfig
from livefilter.detections import Detections
from livefilter.errors import ModelMissingError

__all__ = ["CascadeDetector"]

_FRONTAL = "haarcascade_frontalface_default.xml"
_PROFILE = "haarcascade_profileface.xml"
_DEFAULT_WIDTH = 960


def _load(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise ModelMissingError(
            f"OpenCV cascade {path} is missing: reinstall opencv-contrib-python 4.x"
        )
    return classifier


class CascadeDetector:
    """Frontal + profile + mirrored-profile Haar cascades, merged by NMS.

    Cascades give no probability; the score is the stage-sum weight squashed
    to ``(0, 1)`` so downstream code can treat both detectors alike.
    """

    name = "cascade"

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self._frontal = _load(_FRONTAL)
        self._profile = _load(_PROFILE)

    def _run(
        self, classifier: cv2.CascadeClassifier, gray: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        min_side = max(12, gray.shape[1] // 80)
        boxes, _, weights = classifier.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=3, minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        xywh = np.asarray(boxes, np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        return xyxy, scores.astype(np.float32)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        height, width = frame_bgr.shape[:2]
        target = self.config.input_width or min(width, _DEFAULT_WIDTH)
        scale = target / width
        small = cv2.resize(frame_bgr, (target, max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        frontal = self._run(self._frontal, gray)
        profile = self._run(self._profile, gray)
        mirrored_xyxy, mirrored_scores = self._run(self._profile, cv2.flip(gray, 1))
        mirrored_xyxy = mirrored_xyxy.copy()
        mirrored_xyxy[:, [0, 2]] = gray.shape[1] - mirrored_xyxy[:, [2, 0]]
        xyxy = np.concatenate([frontal[0], profile[0], mirrored_xyxy])
        scores = np.concatenate([frontal[1], profile[1], mirrored_scores])
        if len(xyxy) == 0:
            return Detections.empty()
        xyxy[:, 0::2] /= scale
        xyxy[:, 1::2] /= gray.shape[0] / height
        keep = nms_xyxy(xyxy, scores, self.config.nms_iou)
        return Detections(xyxy[keep], scores[keep])
