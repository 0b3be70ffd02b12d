"""The options of a live run (:class:`LiveConfig`), and the fail-closed rules
made from them and the detector: the tracker's holds and the planner's
config (which refuses options that cannot be safe together)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from livefilter.detect import Detector, revisit_calls, weak_track_hold
from livefilter.errors import ConfigError
from livefilter.track.plan import PlanConfig
from livefilter.track.tracker import TrackerConfig

__all__ = ["LiveConfig", "live_tracker_config", "plan_config"]


@dataclass(frozen=True, kw_only=True)
class LiveConfig:
    """Options of ``livefilter run``.

    Attributes:
        detect_every: run the detector every N frames; ``0`` = auto (as often
            as it can, back to back on the newest frame).
        max_stale: seconds (of source time) between a frame and the nearest
            detection result beyond which the frame is hidden whole.
        delay: look-ahead: seconds each frame is held back so that results
            arriving meanwhile can be carried back to it.
        cut_threshold: scene-change level that counts as a cut (see
            :class:`~livefilter.track.plan.PlanConfig`).
        duration: stop after this many seconds (``None``: run until the source
            ends or the user stops it).
        stats_interval: seconds between stats lines on stderr (0: none).
        regions_json, stats_json: optional output paths.
        ring_slots: frames the capture ring holds.
        sink_queue: frames each sink may have waiting before it drops.
        banner: draw the protection state, small, on every frame out.
    """

    detect_every: int = 0
    max_stale: float = 0.5
    delay: float = 0.0
    cut_threshold: float = 40.0
    duration: float | None = None
    stats_interval: float = 5.0
    regions_json: Path | None = None
    stats_json: Path | None = None
    ring_slots: int = 4
    sink_queue: int = 3
    banner: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.detect_every <= 300:
            raise ConfigError(f"detect-every: expected auto or 1..300, got {self.detect_every!r}")
        if not 0.05 <= self.max_stale <= 60:
            raise ConfigError(f"max-stale: expected 0.05..60 seconds, got {self.max_stale!r}")
        if not 0 <= self.delay <= 10:
            raise ConfigError(f"delay: expected 0..10 seconds, got {self.delay!r}")
        if self.duration is not None and not 0 < self.duration <= 7 * 24 * 3600:
            raise ConfigError(f"duration: expected a positive number of seconds, got "
                              f"{self.duration!r}")
        if not 0 <= self.stats_interval <= 3600:
            raise ConfigError(f"stats-interval: expected 0..3600, got {self.stats_interval!r}")
        if not 2 <= self.ring_slots <= 64 or not 1 <= self.sink_queue <= 64:
            raise ConfigError("ring-slots and sink-queue: expected 2..64 and 1..64")


def live_tracker_config(detector: Detector, hold: float = TrackerConfig.hold) -> TrackerConfig:
    """The tracker of a live run holding confirmed faces ``hold`` seconds."""
    return TrackerConfig(hold=hold, weak_hold=weak_track_hold(detector, hold, live=True))


def plan_config(config: LiveConfig, tracker: TrackerConfig, detector: Detector, *,
                fps: float, mask_scale: float) -> PlanConfig:
    """The planner's rules for a live run; raises :class:`ConfigError` for
    options that cannot be safe together (see :class:`PlanConfig`).
    """
    # The detector runs at most once a frame (every detect_every frames):
    # a hold that cannot span its revisit even so is refused.
    return PlanConfig(delay=config.delay, max_stale=config.max_stale,
                      cut_threshold=config.cut_threshold, mask_scale=mask_scale,
                      hold=tracker.weak_hold, revisit_calls=revisit_calls(detector),
                      call_interval=max(1, config.detect_every) / max(1.0, fps))
