"""The live pipeline: a source in; preview, virtual camera, recording and
stream out, all at once, at the source's frame rate with bounded latency.

Threads (each named ``livefilter-*``):

* capture: source -> :class:`~livefilter.io.ring.FrameRing`;
* detector: runs the detector on a copy of the newest frame, every
  ``detect_every`` frames (or back to back), and posts results tagged with the
  sequence number and timestamp of the frame they were computed on;
* output: takes frames from the ring, moves the tracker on, hides the faces
  (or the whole frame) and offers the result to every sink;
* one per sink (:class:`~livefilter.io.sink_runner.SinkRunner`);
* with sound, ``livefilter-audio`` (:class:`~livefilter.audio.live.LiveAudio`):
  the source's or a microphone's sound to the recording and the stream;
* the caller's thread supervises, and pumps the preview window if there is
  one (OpenCV's GUI wants its own thread).

What is hidden in each frame, and when a frame is hidden whole (curtain),
is decided by :class:`~livefilter.track.plan.RegionPlanner`: tracks between
detections, look-ahead (``delay``), and the fail-closed rules. The detector
thread measures its own rate and steps down when it cannot look at the whole
frame within the hold (:mod:`livefilter.apps.stepdown`); the protection state
(:mod:`livefilter.protection`) says how protected the output is.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from livefilter.apps.hiding import hide_regions
from livefilter.apps.live_rules import LiveConfig, live_tracker_config, plan_config
from livefilter.apps.stepdown import StepDown
from livefilter.audio.live import LiveAudio
from livefilter.detect import Detector, revisit_calls
from livefilter.detections import Detections
from livefilter.errors import ConfigError, SinkError
from livefilter.frame import Frame
from livefilter.hide.composite import curtain, warm_up
from livefilter.io.banner import draw_banner, draw_label
from livefilter.io.capture import FileSource, Source
from livefilter.io.ring import CaptureThread, FrameRing, RingItem
from livefilter.io.sink_runner import SinkRunner
from livefilter.io.sinks import OutputItem, Sink
from livefilter.protection import ProtectionLog, ProtectionMonitor
from livefilter.regions import RedactionConfig, RegionsLog
from livefilter.stats import LiveStats
from livefilter.track.manual import ManualRegions
from livefilter.track.plan import PlannedFrame, RegionPlanner
from livefilter.track.tracker import TrackerConfig

__all__ = ["LiveConfig", "LivePipeline"]

logger = logging.getLogger(__name__)

_POLL = 0.05
# How far (seconds) the output may fall behind the capture for a moment (a
# burst of tracking or carrying results back) before it skips frames: about
# three frames at 30 fps, so latency stays bounded and short bursts lose nothing.
_MAX_LAG = 0.1


@dataclass(frozen=True, slots=True)
class _Result:
    """Detections of the frame with sequence number ``seq``, captured at ``timestamp``."""

    seq: int
    timestamp: float
    detections: Detections
    call: int
    need: int


class LivePipeline:
    """Wires source, detector, tracker, compositor and sinks; :meth:`run` blocks.

    ``preview`` is an object with ``show(item, overlay)``, ``key()`` and
    ``close()`` (:class:`~livefilter.io.preview.PreviewWindow`), or ``None``.
    ``reopen`` opens the source again after it was lost (cameras, streams);
    without it a lost source ends the run with its error.
    """

    def __init__(
        self,
        source: Source,
        detector: Detector,
        *,
        redaction: RedactionConfig,
        config: LiveConfig,
        tracker: TrackerConfig | None = None,
        sinks: list[Sink] | None = None,
        preview: object | None = None,
        reopen: Callable[[], Source] | None = None,
        manual: ManualRegions | None = None,
        audio: LiveAudio | None = None,
    ) -> None:
        self.source = source
        # Hand-made regions (fixed only: a tracked one needs the frames before
        # its keyframe, which a live source no longer has).
        if manual and manual.needs_tracking:
            raise ConfigError("regions-file: tracked regions need the whole video; "
                              "use `livefilter file` (run takes fixed regions)")
        if manual:
            manual.check(source.width, source.height)
        self.manual = manual
        self.detector = detector
        self.redaction = redaction
        self.config = config
        self.sinks = list(sinks or [])
        self.preview = preview
        self.stats = LiveStats()
        self.panic = threading.Event()
        self.debug_boxes = False
        self._stop = threading.Event()
        self._output_done = threading.Event()
        self._results: queue.Queue[_Result] = queue.Queue(maxsize=8)
        self._preview_slot: queue.Queue[OutputItem] = queue.Queue(maxsize=1)
        self._detector_failing = False
        self._detect_now = threading.Event()
        tracker = tracker or live_tracker_config(detector)
        self.planner = RegionPlanner(
            plan_config(config, tracker, detector, fps=source.fps, mask_scale=redaction.mask_scale),
            tracker,
        )
        self.monitor = ProtectionMonitor(on_change=ProtectionLog())
        self.stepdown = StepDown(detector, hold=tracker.weak_hold, max_stale=config.max_stale)
        self._errors: list[BaseException] = []
        self._lossless = not source.live
        self._ring = FrameRing(config.ring_slots, drop_stale=source.live, max_lag=_MAX_LAG)
        self._runners: list[SinkRunner] = []
        self._reported: list[SinkRunner] = []
        self._reopen = reopen
        self._capture: CaptureThread | None = None
        self._last_image: np.ndarray | None = None
        self._lost_frame: np.ndarray | None = None
        self._regions_log: RegionsLog | None = None
        self._audio = audio
        self.stop_reason = ""
        self._step_calls = 0

    def protection(self) -> tuple[str, str]:
        """``(state, reason)``: ``protected``, ``degraded``, ``curtain`` or
        ``signal-lost`` (see :mod:`livefilter.protection`)."""
        return self.monitor.state()

    # ------------------------------------------------------------------ control
    def request_stop(self, reason: str = "stopped") -> None:
        if not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()

    def toggle_panic(self) -> bool:
        """Panic hides every frame whole until toggled off; returns the new state."""
        if self.panic.is_set():
            self.panic.clear()
            logger.warning("panic off")
        else:
            self.panic.set()
            logger.warning("panic on: every frame hidden")
        return self.panic.is_set()

    # ------------------------------------------------------------------ threads
    def _detect_loop(self) -> None:
        """Detect on the newest frame, every ``detect_every`` frames; never dies.

        A detector that raises is logged, counted and retried after a pause
        (the frames meanwhile go out as curtain, via the staleness watchdog).
        """
        last_seq = -1
        backoff = 0.1
        every = self.config.detect_every
        call = 0
        while not self._stop.is_set():
            wanted = last_seq + (every if every > 0 else 1)
            if self._detect_now.is_set():
                self._detect_now.clear()
                wanted = last_seq + 1  # a scene change: detect on the newest frame now
            item = self._ring.newest(wanted - 1, timeout=_POLL)
            if item is None:
                if self._ring.finished:
                    return
                continue
            self.stepdown.call_started()
            self.monitor.set_degraded(self.stepdown.reason)
            need = revisit_calls(self.detector)
            call += 1  # a failed call leaves a gap: the planner sees the frame unseen
            try:
                detections = self.detector.detect(item.frame.image)
            except Exception as exc:  # a crashing detector must not stop the output
                self.stats.detector_error()
                if not self._detector_failing:
                    logger.error("detector failed (%s: %s); hiding every frame until it "
                                 "recovers", type(exc).__name__, exc)
                self._detector_failing = True
                self._stop.wait(backoff)
                backoff = min(1.0, backoff * 2)
                continue
            if self._detector_failing:
                logger.warning("detector recovered")
            self._detector_failing = False
            backoff = 0.1
            last_seq = item.seq
            self.stats.detection()
            self._post(_Result(item.seq, item.frame.timestamp, detections, call, need))

    def _post(self, result: _Result) -> None:
        while not self._stop.is_set():
            try:
                self._results.put(result, timeout=_POLL)
                return
            except queue.Full:
                # The output loop is behind: the oldest result is the least useful.
                with contextlib.suppress(queue.Empty):
                    self._results.get_nowait()

    def _output_loop(self) -> None:
        every = max(1, self.config.detect_every)
        planner = self.planner
        frame_interval = 1.0 / max(1.0, self.source.fps)
        while not self._stop.is_set():
            lost = self._capture is not None and self._capture.lost.is_set()
            timeout = frame_interval if lost else _POLL
            if not self._lossless:
                # Wake when the oldest held frame is due, not at the next
                # arrival: a frame goes out at its delay, not up to a frame
                # interval later.
                due = planner.seconds_until_due(time.monotonic())
                if due is not None:
                    timeout = min(timeout, due)
            item = self._ring.get(timeout=timeout)
            if item is None:
                if self._ring.finished:
                    break
                if lost:
                    self._emit_ready(flush=True)
                    self._emit_signal_lost()
                else:
                    self._emit_ready(flush=False)
                continue
            self._lost_frame = None
            if self.stepdown.level >= 2 and item.seq % 2:
                self.stats.skipped()  # half frame rate: the CPU goes to the detector
                continue
            planner.panic = self.panic.is_set()
            planner.detector_failing = self._detector_failing
            # Frames already due go out before this one is tracked (tracking
            # takes a good part of a frame interval).
            self._take_results()
            self._emit_ready(flush=False)
            cut = planner.advance(item.frame, item.seq, item.arrival)
            if cut:
                self._detect_now.set()
            if self._lossless and (cut or item.seq % every == 0):
                # A file read as fast as we go: detect in step, nothing to race.
                self._detect_in_step(item)
            self._take_results()
            self._emit_ready(flush=False)
        self._emit_ready(flush=True)

    def _take_results(self) -> None:
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                return
            self.planner.add_result(result.seq, result.timestamp, result.detections,
                                    call=result.call, need=result.need)

    def _detect_in_step(self, item: RingItem) -> None:
        need = revisit_calls(self.detector)
        self._step_calls += 1  # a failed call leaves a gap, as in _detect_loop
        try:
            detections = self.detector.detect(item.frame.image)
        except Exception as exc:
            self.stats.detector_error()
            logger.error("detector failed on frame %d (%s: %s)", item.frame.index,
                         type(exc).__name__, exc)
            return
        self.stats.detection()
        self.planner.add_result(item.seq, item.frame.timestamp, detections,
                                call=self._step_calls, need=need)

    def _emit_ready(self, *, flush: bool) -> None:
        now = None if self._lossless else time.monotonic()
        for planned in self.planner.pop_ready(now=now, flush=flush):
            self._emit(planned)

    def _emit_signal_lost(self) -> None:
        """Keep the outputs alive while the source is gone: a hidden frame
        saying so (never the last raw frame: a frozen virtual camera would
        show whatever it last showed).
        """
        if self._lost_frame is None:
            image = (self._last_image.copy() if self._last_image is not None else
                     np.zeros((self.source.height, self.source.width, 3), np.uint8))
            curtain(image)
            image //= 2
            draw_label(image, "SIGNAL LOST - reconnecting")
            self._lost_frame = image
        now = time.monotonic()
        frame = Frame(self._lost_frame.copy(), -1, now)
        self.monitor.frame("signal-lost", signal_lost=True)
        if self.config.banner:
            draw_banner(frame.image, self.monitor.state())
        out = OutputItem(frame, np.zeros((0, 4), np.float32), True, now,
                         ["curtain: signal-lost"])
        for runner in self._runners:
            runner.offer(out)
        self._show(out)
        self.stats.frame_out(0.0, "signal-lost")

    def _show(self, out: OutputItem) -> None:
        if self.preview is not None:
            with contextlib.suppress(queue.Empty):
                self._preview_slot.get_nowait()  # the window only wants the newest frame
            self._preview_slot.put_nowait(out)

    def _emit(self, planned: PlannedFrame) -> None:
        frame = planned.frame
        reason = planned.curtain
        regions, shapes = planned.regions, None
        if reason is not None:
            curtain(frame.image)
        else:
            regions, shapes = hide_regions(frame.image, frame.index, regions, self.redaction,
                                           self.manual)
        self.monitor.frame(reason)
        if self.config.banner:
            draw_banner(frame.image, self.monitor.state())
        out = OutputItem(frame, regions, reason is not None, planned.arrival,
                         [f"curtain: {reason}"] if reason else [])
        for runner in self._runners:
            runner.offer(out)
        if self._audio is not None:
            self._audio.note_video(frame.timestamp, planned.arrival)
        self._show(out)
        self._last_image = frame.image
        if self._regions_log is not None:
            self._regions_log.add(frame.index, reason is not None, regions, shapes)
        self.stats.frame_out(time.monotonic() - planned.arrival, reason)

    # --------------------------------------------------------------------- run
    def _start_sinks(self) -> None:
        width, height, fps = self.source.width, self.source.height, self.source.fps
        if self._audio is not None:
            # Sound goes to the sinks that take it (recording, stream), each
            # holding it until its video reaches the same time.
            for sink in self.sinks:
                if hasattr(sink, "enable_audio"):
                    sink.enable_audio(self._audio.inbox())
        self._runners = [
            SinkRunner(sink, width=width, height=height, fps=fps,
                       queue_size=self.config.sink_queue).start()
            for sink in self.sinks
        ]
        for runner in self._runners:
            try:
                runner.wait_open(timeout=30)
            except BaseException:
                self._finish_sinks()
                raise

    def _finish_sinks(self) -> None:
        for runner in self._runners:
            runner.finish(timeout=30)

    def _warm_up(self) -> None:
        """Compile the kernels and load the detector before the first frame."""
        seconds = warm_up()
        blank = np.zeros((self.source.height, self.source.width, 3), np.uint8)
        started = time.monotonic()
        self.detector.detect(blank)
        logger.info("warm-up: compositor %.2f s, detector %.2f s", seconds,
                    time.monotonic() - started)

    def run(self) -> dict[str, object]:
        """Run until the source ends, ``duration`` passes or :meth:`request_stop`.

        Returns the statistics record. Sinks are always closed (recordings
        finalized), whatever happens.
        """
        config = self.config
        self._warm_up()
        if config.regions_json is not None:
            self._regions_log = RegionsLog(
                config.regions_json, width=self.source.width, height=self.source.height,
                fps=self.source.fps, shape=self.redaction.shape,
            )
        try:
            self._start_sinks()
        except BaseException:
            if self._regions_log is not None:
                self._regions_log.abort()
            raise
        # A file in realtime mode is released at its own pace, like a camera.
        pace = isinstance(self.source, FileSource) and self.source.live
        if self._audio is not None:
            if not self._audio.from_device:
                self.source.audio_tap = self._audio.tap  # type: ignore[attr-defined]
            self._audio.start()
        capture = CaptureThread(self.source, self._ring, self._stop, pace=pace,
                                reopen=self._reopen)
        self._capture = capture
        threads = [capture.start()]
        if not self._lossless:
            threads.append(self._spawn("livefilter-detector", self._detect_loop))
        output = self._spawn("livefilter-output", self._output_loop, done=self._output_done)
        threads.append(output)
        started = time.monotonic()
        next_stats = started + config.stats_interval if config.stats_interval else float("inf")
        try:
            self._supervise(capture, started, next_stats)
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=10)
            if self._audio is not None:
                self._audio.stop()  # the sound still queued reaches the sinks first
            self._finish_sinks()
            if self.preview is not None:
                self.preview.close()
            if self._regions_log is not None:
                self._regions_log.close()
        if capture.error is not None and not self._errors:
            self._errors.append(capture.error)
        frames_in = capture.frames
        # "written" counts frames that went out; "skipped" those a sink could
        # not send (a stream target that was down), reported in sink_errors.
        sink_stats = {r.sink.name: {"written": r.written, "dropped": r.dropped,
                                    "skipped": r.skipped}
                      for r in self._runners}
        summary = self.stats.summary(frames_in, self._ring.dropped, sink_stats)
        summary["stop_reason"] = self.stop_reason
        if self._audio is not None:
            summary["audio"] = self._audio.summary()
        summary["protection"] = self.monitor.summary()
        measured = self.stepdown.measure()
        summary["revisit_s"] = None if measured is None else round(measured[1], 3)
        if self._errors:
            raise self._errors[0]
        failed = {r.sink.name: r.failure for r in self._runners if r.failure is not None}
        if failed:
            summary["sink_errors"] = failed
        return summary

    def _spawn(self, name: str, target, done: threading.Event | None = None) -> threading.Thread:
        def body() -> None:
            try:
                target()
            except BaseException as exc:
                logger.debug("%s failed", name, exc_info=True)
                self._errors.append(exc)
                self._stop.set()
            finally:
                if done is not None:
                    done.set()

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        return thread

    def _supervise(self, capture: CaptureThread, started: float, next_stats: float) -> None:
        config = self.config
        while not self._stop.is_set():
            if self.preview is not None:
                self._pump_preview()
            else:
                self._stop.wait(_POLL)
            now = time.monotonic()
            if self._output_done.is_set():
                self.request_stop("source ended" if capture.error is None else "source lost")
            if config.duration is not None and now - started >= config.duration:
                self.request_stop("duration reached")
            failed = [r for r in self._runners if r.error is not None]
            if self._runners and len(failed) == len(self._runners):
                self.request_stop("every output failed")
                self._errors.append(SinkError("every output failed: " + "; ".join(
                    " ".join(str(r.error).split()) for r in self._runners)))
            else:
                # One line when an output fails while others go on; when it
                # was the last one, the run's error line says it instead.
                for runner in failed:
                    if runner not in self._reported:
                        self._reported.append(runner)
                        logger.error("%s failed (the other outputs go on): %s",
                                     runner.sink.name, " ".join(str(runner.error).split()))
            if now >= next_stats:
                print(f"livefilter: {self.stats.line(capture.frames, self._ring.dropped)}",
                      file=sys.stderr, flush=True)
                next_stats = now + config.stats_interval

    def _pump_preview(self) -> None:
        try:
            item = self._preview_slot.get(timeout=_POLL)
        except queue.Empty:
            item = None
        if item is not None:
            self.preview.show(item, self.stats.overlay(), self.monitor.state())
        key = self.preview.key(1)
        if key == "q":
            self.request_stop("quit from the preview")
        elif key in ("p", " "):
            self.toggle_panic()
        elif key == "d":
            self.debug_boxes = not self.debug_boxes
            self.preview.debug = self.debug_boxes

