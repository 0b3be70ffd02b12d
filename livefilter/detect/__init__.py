"""Face detectors behind one interface: ``detect(frame_bgr) -> Detections``."""

from __future__ import annotations

import logging

from livefilter.detect.base import Detector, DetectorConfig
from livefilter.errors import ModelMissingError

__all__ = ["Detector", "DetectorConfig", "build_detector"]

logger = logging.getLogger(__name__)


def build_detector(config: DetectorConfig) -> Detector:
    """The detector ``config`` asks for.

    ``auto`` takes CenterFace when its model is installed, else the cascade
    with a warning. ``centerface`` without its model raises
    :class:`ModelMissingError` whose message says how to fetch it.
    """
    from livefilter.models import model_path

    if config.kind in ("auto", "centerface"):
        try:
            path = model_path()
        except ModelMissingError:
            if config.kind == "centerface":
                raise
            logger.warning(
                "CenterFace model not installed; falling back to Haar cascades, whose recall "
                "on crowds is far lower (run `livefilter models fetch`)"
            )
        else:
            from livefilter.detect.centerface import CenterFaceDetector

            return CenterFaceDetector(path, config)
    from livefilter.detect.cascade import CascadeDetector

    return CascadeDetector(config)
