"""Keep a live run protected on a busy machine: measure the detector and step
down before the curtain takes most frames.

The planner curtains a frame unless the detector looked at the whole frame
within the hold (:mod:`livefilter.track.plan`). On a loaded CPU the detector's
calls slow down, the preset's passes no longer come round within the hold,
and most frames would go out hidden whole. Before that, the pipeline steps
down, one level at a time:

1. ``reduced-detection``: passes that each see the whole frame instead of
   the preset's cycle (``presets.reduced_passes``; small faces are found
   less often), when the detector can do that
   (:meth:`~livefilter.detect.multipass.MultiPassDetector.reduce`);
2. ``half-frame-rate``: every other frame is dropped before it is tracked
   and hidden, leaving the CPU to the detector;
3. after that, the curtain (the planner's rules, unchanged).

A level is left again after ``retry`` seconds if the detector then has room
to spare; a retry that has to step down again soon doubles the wait.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from livefilter.detect import Detector, revisit_calls

__all__ = ["LEVEL_REASONS", "StepDown"]

logger = logging.getLogger(__name__)

LEVEL_REASONS = (None, "reduced-detection", "half-frame-rate")

# Share of the hold (and of max-stale) the detector may use up before the
# pipeline steps down, and the share under which it steps back up.
_DOWN_SHARE = 0.75
_UP_SHARE = 0.4
_SAMPLES = 8


class StepDown:
    """Owned by the detector thread: :meth:`call_started` before each call."""

    def __init__(self, detector: Detector, *, hold: float, max_stale: float,
                 clock: Callable[[], float] = time.monotonic, retry: float = 10.0) -> None:
        self.detector = detector
        self.hold = hold
        self.max_stale = max_stale
        self.level = 0
        self._clock = clock
        self._starts: deque[float] = deque(maxlen=_SAMPLES)
        self._retry = retry
        self._base_retry = retry
        self._changed_at = clock()
        self._stepped_up_at: float | None = None
        self._reducible = callable(getattr(detector, "reduce", None))

    @property
    def reason(self) -> str | None:
        return LEVEL_REASONS[self.level]

    def measure(self) -> tuple[float, float] | None:
        """``(calls per second, seconds to revisit the whole frame)`` over
        the last calls, or ``None`` before there are enough."""
        if len(self._starts) < 3:
            return None
        span = self._starts[-1] - self._starts[0]
        if span <= 0:
            return None
        interval = span / (len(self._starts) - 1)
        return 1.0 / interval, revisit_calls(self.detector) * interval

    def call_started(self) -> None:
        """Record a detector call starting now; may change the level."""
        now = self._clock()
        self._starts.append(now)
        measured = self.measure()
        if measured is None or len(self._starts) < _SAMPLES:
            return
        rate, revisit = measured
        interval = 1.0 / rate
        slow = (revisit > _DOWN_SHARE * self.hold or interval > _DOWN_SHARE * self.max_stale)
        if slow and self.level < len(LEVEL_REASONS) - 1:
            if self._stepped_up_at is not None and now - self._stepped_up_at < 3 * self._retry:
                self._retry = min(16 * self._base_retry, 2 * self._retry)
            self._set(self.level + 1, now, rate, revisit)
        elif (not slow and self.level > 0 and now - self._changed_at >= self._retry
              and revisit < _UP_SHARE * self.hold and interval < _UP_SHARE * self.max_stale):
            self._stepped_up_at = now
            self._set(self.level - 1, now, rate, revisit)

    def _set(self, level: int, now: float, rate: float, revisit: float) -> None:
        if level == 1 and not self._reducible:
            # Nothing cheaper to run: skip (down) or leave (up) that level.
            level = 2 if level > self.level else 0
        if self._reducible:
            self.detector.reduce(level >= 1)  # type: ignore[attr-defined]
        logger.info("detector %.1f calls/s, whole frame every %.2f s (hold %.2f s): %s",
                    rate, revisit, self.hold, LEVEL_REASONS[level] or "full detection")
        self.level = level
        self._changed_at = now
        self._starts.clear()  # the next measurement is of the new level
