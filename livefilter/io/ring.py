"""The capture thread and the ring of frames it fills.

The capture thread reads a source (:mod:`livefilter.io.capture`) into a
:class:`FrameRing` of preallocated slots:

* live sources (cameras, streams, files with ``realtime``): the newest frame
  wins; a frame the pipeline has not taken when a newer one arrives is dropped
  and counted, so latency stays bounded;
* files read as fast as the pipeline goes: nothing is ever dropped, the
  capture thread waits for room instead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from livefilter.errors import InputError, SourceError, error_reason
from livefilter.frame import Frame
from livefilter.io.capture import Source

__all__ = ["CaptureThread", "FrameRing", "RingItem"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RingItem:
    """A frame taken from the ring, with its sequence number and arrival time."""

    frame: Frame
    seq: int
    arrival: float


class FrameRing:
    """A fixed number of preallocated frame slots shared by two threads.

    ``drop_stale=True`` (live): :meth:`put` never waits; :meth:`get` returns
    the oldest unread frame that arrived less than ``max_lag`` seconds ago
    (the newest when none did) and counts the ones it skips as dropped, so a
    reader that falls a frame or two behind for a moment (a burst of work)
    catches up without losing frames, and one that falls further behind
    loses the stale ones rather than queueing them: latency stays bounded
    by ``max_lag`` plus a frame.
    ``drop_stale=False`` (files): :meth:`put` waits for room, :meth:`get`
    returns frames in order; nothing is dropped.
    """

    def __init__(self, slots: int, *, drop_stale: bool, max_lag: float = 0.0) -> None:
        if slots < 2:
            raise ValueError("a ring needs at least 2 slots")
        if max_lag < 0:
            raise ValueError("max_lag: expected seconds >= 0")
        self._max_lag = max_lag
        self._slots: list[np.ndarray | None] = [None] * slots
        self._index = [0] * slots
        self._timestamp = [0.0] * slots
        self._arrival = [0.0] * slots
        self._drop_stale = drop_stale
        self._written = 0  # sequence number of the next put
        self._read = 0  # sequence number of the next frame get() may return
        self._closed = False
        self._condition = threading.Condition()
        self.dropped = 0

    @property
    def written(self) -> int:
        return self._written

    def put(self, image: np.ndarray, index: int, timestamp: float, stop: threading.Event) -> bool:
        """Copy ``image`` into the next slot; ``False`` if ``stop`` was set while waiting."""
        with self._condition:
            while not self._drop_stale and self._written - self._read >= len(self._slots):
                if stop.is_set():
                    return False
                self._condition.wait(0.1)
            slot = self._written % len(self._slots)
            buffer = self._slots[slot]
            if buffer is None or buffer.shape != image.shape:
                buffer = np.empty_like(image)
                self._slots[slot] = buffer
            np.copyto(buffer, image)
            self._index[slot] = index
            self._timestamp[slot] = timestamp
            self._arrival[slot] = time.monotonic()
            self._written += 1
            if self._drop_stale and self._written - self._read > len(self._slots):
                # The slot of the oldest unread frame was just overwritten.
                self.dropped += 1
                self._read += 1
            self._condition.notify_all()
        return True

    def close(self) -> None:
        """The producer is done; :meth:`get` returns ``None`` once drained."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def _copy(self, seq: int) -> RingItem:
        slot = seq % len(self._slots)
        buffer = self._slots[slot]
        if buffer is None:
            raise RuntimeError("ring slot read before it was written")
        frame = Frame(buffer.copy(), self._index[slot], self._timestamp[slot])
        return RingItem(frame, seq, self._arrival[slot])

    def _wait_until_written(self, seq: int, timeout: float) -> bool:
        """With the lock held: wait until frame ``seq`` exists; ``False`` on
        timeout or when the producer closed before writing it.
        """
        deadline = time.monotonic() + timeout
        while self._written <= seq:
            remaining = deadline - time.monotonic()
            if self._closed or remaining <= 0:
                return False
            self._condition.wait(remaining)
        return True

    def get(self, timeout: float) -> RingItem | None:
        """The next frame (live: the newest), a copy; ``None`` on timeout or end."""
        with self._condition:
            if not self._wait_until_written(self._read, timeout):
                return None
            if self._drop_stale:
                oldest_kept = time.monotonic() - self._max_lag
                first = self._read
                while (self._read < self._written - 1
                       and self._arrival[self._read % len(self._slots)] < oldest_kept):
                    self._read += 1
                self.dropped += self._read - first
            item = self._copy(self._read)
            self._read += 1
            self._condition.notify_all()
            return item

    def newest(self, after_seq: int, timeout: float) -> RingItem | None:
        """A copy of the newest frame with ``seq > after_seq``, without consuming it."""
        with self._condition:
            if not self._wait_until_written(after_seq + 1, timeout):
                return None
            return self._copy(self._written - 1)

    @property
    def finished(self) -> bool:
        """Closed and drained."""
        with self._condition:
            return self._closed and self._read >= self._written


class CaptureThread(threading.Thread):
    """Reads ``source`` into ``ring`` until the source ends or ``stop`` is set.

    With ``pace`` (a file in realtime mode) frames are released at their own
    timestamps. With ``reopen`` (cameras and streams), a lost source is
    retried with growing pauses (0.5 s up to 5 s) until it is back or the run
    stops; :attr:`lost` is set meanwhile so the pipeline can keep its outputs
    alive. Frames of a source that comes back at another size are scaled to
    the first size, which the sinks were opened with. Any other read error is
    kept in :attr:`error` for the pipeline.
    """

    def __init__(self, source: Source, ring: FrameRing, stop: threading.Event, *,
                 pace: bool, reopen: Callable[[], Source] | None = None) -> None:
        super().__init__(name="livefilter-capture", daemon=True)
        self.source = source
        self.ring = ring
        self._stop_event = stop
        self._pace = pace
        self._reopen = reopen
        self._size = (source.width, source.height)
        self.error: BaseException | None = None
        self.frames = 0
        self.lost = threading.Event()
        self.reconnects = 0

    def start(self) -> CaptureThread:  # type: ignore[override]
        super().start()
        return self

    def _recover(self, reason: BaseException) -> bool:
        """Reopen the source after ``reason``; ``False`` if the run stopped first."""
        self.lost.set()
        logger.warning("source lost (%s); hiding the output and retrying", error_reason(reason))
        with contextlib.suppress(Exception):
            self.source.close()
        pause = 0.5
        attempts = 0
        while not self._stop_event.wait(pause):
            attempts += 1
            try:
                tap = getattr(self.source, "audio_tap", None)
                self.source = self._reopen()  # type: ignore[misc]
                if tap is not None:
                    self.source.audio_tap = tap  # the sound carries on from the new source
            except (SourceError, InputError) as exc:
                logger.info("source still unavailable (%s)", error_reason(exc))
                pause = min(5.0, pause * 2)
                continue
            self.reconnects += 1
            self.lost.clear()
            logger.warning("source back after %d attempt(s)", attempts)
            return True
        return False

    def run(self) -> None:
        started: float | None = None
        first_timestamp = 0.0
        try:
            while not self._stop_event.is_set():
                try:
                    item = self.source.read()
                except SourceError as exc:
                    if self._reopen is None:
                        raise
                    if not self._recover(exc):
                        return  # a stop was requested while reconnecting: a clean end
                    continue
                if item is None:
                    return
                image, timestamp = item
                if (image.shape[1], image.shape[0]) != self._size:
                    image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
                if self._pace:
                    now = time.monotonic()
                    if started is None:
                        started, first_timestamp = now, timestamp
                    delay = (timestamp - first_timestamp) - (now - started)
                    if delay > 0:
                        self._stop_event.wait(delay)
                if not self.ring.put(image, self.frames, timestamp, self._stop_event):
                    return
                self.frames += 1
        except BaseException as exc:  # the pipeline decides what a lost source means
            self.error = exc
        finally:
            self.ring.close()
            if self.reconnects:
                # A reopened source is ours to close; the first one is the caller's.
                with contextlib.suppress(Exception):
                    self.source.close()
