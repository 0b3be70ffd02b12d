"""The protection state of a live run, as the user is told it.

* ``protected``: faces are hidden as the preset intends;
* ``degraded`` (reason): faces are hidden, but the pipeline stepped down to
  keep up (a cheaper detection, a lower output rate);
* ``curtain`` (reason): most frames go out hidden whole (no detection yet,
  detector too slow or failing, panic);
* ``signal-lost``: the source is gone; the outputs get a hidden placeholder.

The state follows the frames that went out over the last second, so one
curtained frame at a cut does not flip it: ``curtain`` when at least half of
them were curtained, else ``degraded`` while a step-down is active, else
``protected``. ``signal-lost`` starts with the first placeholder frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

__all__ = ["PROTECTION_STATES", "ProtectionLog", "ProtectionMonitor"]

logger = logging.getLogger(__name__)

PROTECTION_STATES = ("protected", "degraded", "curtain", "signal-lost")

_CURTAIN_SHARE = 0.5


class ProtectionMonitor:
    """Thread-safe; :meth:`frame` for each frame out, :meth:`state` to read.

    ``on_change(state, reason)`` is called (on the caller's thread) at each
    change. ``clock`` is injectable for tests.
    """

    def __init__(self, *, window: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self._window = window
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._recent: deque[tuple[float, str | None]] = deque()
        self._state = ("curtain", "starting")
        self._since = clock()
        self._seconds: dict[str, float] = dict.fromkeys(PROTECTION_STATES, 0.0)
        self._degraded: str | None = None

    def set_degraded(self, reason: str | None) -> None:
        """A step-down is active (``reason``) or over (``None``)."""
        with self._lock:
            self._degraded = reason

    def frame(self, curtain_reason: str | None, *, signal_lost: bool = False) -> None:
        """One frame went out, curtained for ``curtain_reason`` or not."""
        now = self._clock()
        with self._lock:
            self._recent.append((now, curtain_reason))
            while self._recent and self._recent[0][0] < now - self._window:
                self._recent.popleft()
            if signal_lost:
                # What went out before the loss says nothing about the
                # source once it is back.
                self._recent.clear()
                new = ("signal-lost", "source lost")
            else:
                reasons = Counter(r for _, r in self._recent if r is not None and
                                  r != "signal-lost")
                curtained = sum(reasons.values())
                counted = sum(1 for _, r in self._recent if r != "signal-lost")
                if counted and curtained >= _CURTAIN_SHARE * counted:
                    new = ("curtain", reasons.most_common(1)[0][0])
                elif self._degraded is not None:
                    new = ("degraded", self._degraded)
                else:
                    new = ("protected", "")
            changed = new != self._state
            if changed:
                self._seconds[self._state[0]] += now - self._since
                self._since = now
                self._state = new
        if changed and self._on_change is not None:
            self._on_change(*new)

    def state(self) -> tuple[str, str]:
        """``(state, reason)``; the reason is empty when protected."""
        with self._lock:
            return self._state

    def summary(self) -> dict[str, object]:
        """``{"state", "reason", "seconds": {state: seconds}}`` for the stats JSON."""
        now = self._clock()
        with self._lock:
            seconds = dict(self._seconds)
            seconds[self._state[0]] += now - self._since
            return {"state": self._state[0], "reason": self._state[1],
                    "seconds": {k: round(v, 3) for k, v in seconds.items()}}


class ProtectionLog:
    """One stderr line at each change of the protection state.

    A loss of protection (degraded, curtain, signal lost) is a warning,
    shown without ``--verbose``, and so is the return to ``protected`` after
    one; reaching ``protected`` at the start is only logged (``--verbose``),
    so a run whose protection never faltered, or whose first error ends it,
    keeps its one line.
    """

    def __init__(self) -> None:
        self._warned = False

    def __call__(self, state: str, reason: str) -> None:
        text = f"protection: {state}{f' ({reason})' if reason else ''}"
        if state != "protected" or self._warned:
            self._warned = True
            logger.warning(text)
        else:
            logger.info(text)
