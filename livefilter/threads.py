"""Small helpers for the worker threads: blocking queue calls that give up
when the run is stopping, and a thread that hands its exception back.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["POLL_SECONDS", "Worker", "get_or_stop", "put_or_stop"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
POLL_SECONDS = 0.1


def put_or_stop(q: queue.Queue[T], item: T, stop: threading.Event) -> bool:
    """Put ``item``, waiting for room; ``False`` if ``stop`` was set first."""
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def get_or_stop(q: queue.Queue[T], stop: threading.Event) -> tuple[bool, T | None]:
    """``(True, item)`` once one arrives; ``(False, None)`` if ``stop`` is set first."""
    while True:
        try:
            return True, q.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if stop.is_set():
                return False, None


class Worker(threading.Thread):
    """A named daemon thread running ``target``.

    Its exception is kept in :attr:`error` for the caller to re-raise and sets
    ``stop`` (so no other stage stays blocked on a queue this one no longer
    serves); ``on_exit`` always runs (it posts the end-of-stream sentinel so
    no consumer waits forever).
    """

    def __init__(
        self,
        name: str,
        target: Callable[[], None],
        *,
        stop: threading.Event | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._stop_event = stop
        self._on_exit = on_exit
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # handed to the caller, who re-raises it
            self.error = exc
            logger.debug("worker %s failed", self.name, exc_info=True)
            if self._stop_event is not None:
                self._stop_event.set()
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def start(self) -> Worker:  # type: ignore[override]
        super().start()
        return self
