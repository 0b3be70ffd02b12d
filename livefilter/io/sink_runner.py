"""One sink on its own thread behind a bounded queue, so a slow output drops
its own frames and never stalls the others (:mod:`livefilter.io.sinks`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from livefilter.io.sinks import OutputItem, Sink

__all__ = ["SinkRunner"]

logger = logging.getLogger(__name__)


class SinkRunner(threading.Thread):
    """Runs one sink on its own thread behind a bounded queue.

    :meth:`offer` never blocks: a full queue means the sink is behind, and the
    frame is dropped for this sink only (counted in :attr:`dropped`, warned
    once). A sink's failure is kept in :attr:`error`; the other sinks go on.
    """

    def __init__(self, sink: Sink, *, width: int, height: int, fps: float,
                 queue_size: int = 3) -> None:
        super().__init__(name=f"livefilter-sink-{sink.name}", daemon=True)
        self.sink = sink
        self._size = (width, height, fps)
        self._queue: queue.Queue[OutputItem | None] = queue.Queue(maxsize=queue_size)
        self._opened = threading.Event()
        self.error: BaseException | None = None
        self.dropped = 0
        self.written = 0
        self.skipped = 0
        self._warned = False

    def start(self) -> SinkRunner:  # type: ignore[override]
        super().start()
        return self

    @property
    def failure(self) -> str | None:
        """One line on what failed: the sink's error, or frames it could not
        send (a stream target that was down); ``None`` when all went out."""
        if self.error is not None:
            return " ".join(str(self.error).split()) or type(self.error).__name__
        return getattr(self.sink, "failure", None)

    def wait_open(self, timeout: float) -> None:
        """Block until the sink is open; re-raise its opening error."""
        self._opened.wait(timeout)
        if self.error is not None:
            raise self.error

    def offer(self, item: OutputItem) -> bool:
        if self.error is not None:
            return False
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            if not self._warned:
                self._warned = True
                logger.warning("%s cannot keep up; dropping frames for it (counted)",
                               self.sink.name)
            return False

    def finish(self, timeout: float) -> None:
        """Let the queued frames out, close the sink, and wait for the thread."""
        deadline = time.monotonic() + timeout
        while self.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self.join(max(0.0, deadline - time.monotonic()))

    def run(self) -> None:
        try:
            self.sink.open(*self._size)
        except BaseException as exc:
            self.error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if self.sink.write(item) is False:
                    self.skipped += 1  # the sink could not send it (a target down)
                else:
                    self.written += 1
        except BaseException as exc:
            self.error = exc
            # Reported once by the pipeline (or its error line), not here.
            logger.debug("%s failed: %s", self.sink.name, " ".join(str(exc).split()))
        finally:
            try:
                self.sink.close()
            except BaseException as exc:
                logger.error("%s did not close cleanly: %s", self.sink.name, exc)
                if self.error is None:
                    self.error = exc
