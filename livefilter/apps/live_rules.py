"""The fail-closed rules of a live run, from its options and its detector:
the tracker's holds and the planner's config (which refuses options that
cannot be safe together)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livefilter.detect import Detector, revisit_calls, weak_track_hold
from livefilter.track.plan import PlanConfig
from livefilter.track.tracker import TrackerConfig

if TYPE_CHECKING:
    from livefilter.apps.live import LiveConfig

__all__ = ["live_tracker_config", "plan_config"]


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
