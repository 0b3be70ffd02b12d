"""Face detectors behind one interface: ``detect(frame_bgr) -> Detections``."""

from __future__ import annotations

import logging

from livefilter.detect.base import QUALITIES, Detector, DetectorConfig
from livefilter.errors import ModelMissingError

__all__ = [
    "QUALITIES",
    "Detector",
    "DetectorConfig",
    "build_detector",
    "calls_per_cycle",
    "preset_mask_scale",
]

logger = logging.getLogger(__name__)


def preset_mask_scale(config: DetectorConfig) -> float | None:
    """The mask scale the config's quality preset was tuned for, or ``None``.

    The CLI uses it when the user gave no ``--mask-scale``: a preset's
    thresholds and its mask size were chosen together (a larger mask covers
    badly placed boxes but hides more of the background).
    """
    if config.quality is None or config.kind == "cascade":
        return None
    from livefilter.detect.multipass import PRESETS

    return PRESETS[config.quality].mask_scale


def calls_per_cycle(detector: Detector) -> int:
    """``detect()`` calls after which ``detector`` looks at frames as it did on
    the first again: a preset's passes and tiles take turns over that many
    calls; 1 for a detector that does the same on every call.
    """
    from livefilter.detect.multipass import MultiPassDetector

    return detector.cycle_length if isinstance(detector, MultiPassDetector) else 1


def build_detector(config: DetectorConfig) -> Detector:
    """The detector ``config`` asks for.

    ``auto`` takes CenterFace when its model is installed, else the cascade
    with a warning. ``yunet`` is one YuNet pass. ``centerface`` or ``yunet``
    without its model raises
    :class:`ModelMissingError` whose message says how to fetch it. With a
    ``quality`` preset, CenterFace runs as a
    :class:`~livefilter.detect.multipass.MultiPassDetector`.
    """
    from livefilter.models import YUNET, model_path

    if config.kind == "yunet":
        from livefilter.detect.yunet import YuNetDetector

        return YuNetDetector(model_path(YUNET), config)
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

            centerface = CenterFaceDetector(path, config)
            if config.quality is None:
                return centerface
            from livefilter.detect.multipass import PRESETS, MultiPassDetector

            preset = PRESETS[config.quality]
            if config.threshold is not None:
                preset = preset.with_threshold(config.threshold)
            yunet = None
            if any(p.network == "yunet" for p in preset.passes_for(video=config.video)):
                from livefilter.detect.yunet import YuNetDetector
                from livefilter.models import YUNET

                yunet = YuNetDetector(model_path(YUNET), config)
            return MultiPassDetector(centerface, preset, video=config.video, yunet=yunet)
    from livefilter.detect.cascade import CascadeDetector

    return CascadeDetector(config)
