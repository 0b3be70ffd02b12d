"""Face detectors behind one interface: ``detect(frame_bgr) -> Detections``."""

from __future__ import annotations

from livefilter.detect.base import QUALITIES, Detector, DetectorConfig
from livefilter.errors import ModelMissingError

__all__ = [
    "FILE_WEAK_HOLD",
    "QUALITIES",
    "Detector",
    "DetectorConfig",
    "build_detector",
    "build_target_detector",
    "calls_per_cycle",
    "preset_mask_scale",
    "revisit_calls",
    "revisit_seconds",
    "weak_track_hold",
]

#: Hold of a track found once at a low score, in a file (see
#: :class:`~livefilter.track.tracker.TrackerConfig`): most such tracks are
#: clutter, and the file path's look-ahead spans a whole preset cycle.
FILE_WEAK_HOLD = 0.3



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
    from livefilter.detect.targets import TargetDetector

    if isinstance(detector, TargetDetector):
        return calls_per_cycle(detector.faces)
    return detector.cycle_length if isinstance(detector, MultiPassDetector) else 1


def revisit_calls(detector: Detector | None) -> int:
    """Consecutive ``detect()`` calls in which ``detector``, as it is set now,
    looks at every part of the frame with every pass, wherever its cycle
    stands (1 for a detector that sees the whole frame on every call, or
    ``None``: not known yet). The
    one answer to "how many calls until the whole frame was seen": the live
    planner's curtain rule, the option checks and the step-down use it.
    """
    from livefilter.detect.targets import TargetDetector

    if isinstance(detector, TargetDetector):
        # Heads and bodies are grown from the faces its face detector finds:
        # the frame is seen when that detector has seen it.
        return revisit_calls(detector.faces)
    calls = getattr(detector, "revisit_calls", 1)
    return max(1, int(calls))


def revisit_seconds(detector: Detector | None, call_interval: float) -> float:
    """Seconds ``detector`` needs to see the whole frame at one call every
    ``call_interval`` seconds."""
    return revisit_calls(detector) * call_interval


def weak_track_hold(detector: Detector | None, hold: float, *, live: bool,
                    frame_time: float = 1 / 30) -> float:
    """How long a track found once, at a low score, is kept.

    Never shorter than the time the detector needs to look at the whole
    frame again (calls at most once a frame): a face a tile found once must
    still be held when that tile comes round. Live, the full ``hold``: the
    detector's rate varies with the machine's load, and the planner counts a
    result as evidence for ``hold`` seconds only while its tracks are kept.
    In a file, :data:`FILE_WEAK_HOLD` or the revisit time if longer (the
    look-ahead carries faces back over the cycle).
    """
    if live:
        return hold
    return min(hold, max(FILE_WEAK_HOLD, revisit_seconds(detector, frame_time)))


def build_detector(config: DetectorConfig) -> Detector:
    """The detector ``config`` asks for.

    ``yunet`` is one YuNet pass. ``auto`` and ``centerface`` are CenterFace;
    without its model they raise :class:`ModelMissingError` whose message
    says how to fetch it. There is
    no silent fallback: the Haar cascade finds a fraction of the faces
    CenterFace finds (0.41 against 0.99 on ``wider_dev``), so it runs only
    when asked for by name (``cascade``). With a ``quality`` preset,
    CenterFace runs as a :class:`~livefilter.detect.multipass.MultiPassDetector`.
    """
    from livefilter.models import YUNET, model_path

    if config.kind == "cascade":
        from livefilter.detect.cascade import CascadeDetector

        return CascadeDetector(config)
    if config.kind == "yunet":
        from livefilter.detect.yunet import YuNetDetector

        return YuNetDetector(model_path(YUNET), config)
    from livefilter.detect.centerface import CenterFaceDetector

    try:
        path = model_path()
    except ModelMissingError as exc:
        raise ModelMissingError(
            f"{exc}; `--detector cascade` runs without it, at far lower recall"
        ) from None
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

        yunet = YuNetDetector(model_path(YUNET), config)
    return MultiPassDetector(centerface, preset, video=config.video, yunet=yunet)


def build_target_detector(config: DetectorConfig, hide: str) -> Detector:
    """The detector of ``--hide`` target ``hide``: the face detector for
    ``faces``, wrapped in a :class:`~livefilter.detect.targets.TargetDetector`
    for ``heads`` and ``people``.

    ``people`` without the person model raises :class:`ModelMissingError`
    saying how to fetch it: whole bodies were asked for, and hiding only
    faces instead would be less protection than asked for.
    """
    from livefilter.detect.targets import HIDE_TARGETS, TargetDetector
    from livefilter.errors import ConfigError

    if hide not in HIDE_TARGETS:
        raise ConfigError(f"hide: expected one of {', '.join(HIDE_TARGETS)}; got {hide!r}")
    persons = None
    if hide == "people":
        from livefilter.models import YOLOX_NANO, model_path

        try:
            path = model_path(YOLOX_NANO)
        except ModelMissingError as exc:
            raise ModelMissingError(
                f"--hide people needs the person model: {exc}"
            ) from exc
        from livefilter.detect.people import PersonDetector

        persons = PersonDetector(path, threads=config.threads)
    faces = build_detector(config)
    if hide == "faces":
        return faces
    return TargetDetector(faces, hide, persons=persons)  # type: ignore[arg-type]
