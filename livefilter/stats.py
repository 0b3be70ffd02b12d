"""Run statistics of the live pipeline: counts, rates, latency percentiles."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

__all__ = ["LiveStats"]

_RECENT = 300  # latency samples kept for the periodic line (about 10 s at 30 fps)
_ALL = 200_000  # for the final percentiles (about 2 h at 30 fps)


class LiveStats:
    """Thread-safe counters; :meth:`summary` gives the ``--stats-json`` record."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.frames_out = 0
        self.curtain_frames = 0
        self.detections = 0
        self.detector_errors = 0
        self.skipped_frames = 0
        self.curtain_reasons: dict[str, int] = {}
        self._latency_all: deque[float] = deque(maxlen=_ALL)
        self._latency_recent: deque[float] = deque(maxlen=_RECENT)
        self._out_times: deque[float] = deque(maxlen=_RECENT)
        self._detect_times: deque[float] = deque(maxlen=64)
        self._first_out: float | None = None
        self._last_out: float | None = None

    def frame_out(self, latency: float, curtain_reason: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            self.frames_out += 1
            if self._first_out is None:
                self._first_out = now
            self._last_out = now
            self._out_times.append(now)
            self._latency_all.append(latency)
            self._latency_recent.append(latency)
            if curtain_reason is not None:
                self.curtain_frames += 1
                self.curtain_reasons[curtain_reason] = self.curtain_reasons.get(
                    curtain_reason, 0) + 1

    def detection(self) -> None:
        with self._lock:
            self.detections += 1
            self._detect_times.append(time.monotonic())

    def skipped(self) -> None:
        """A frame left out on purpose (the half-frame-rate step-down)."""
        with self._lock:
            self.skipped_frames += 1

    def detector_error(self) -> None:
        with self._lock:
            self.detector_errors += 1

    @staticmethod
    def _rate(times: deque[float]) -> float:
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0

    def line(self, frames_in: int, dropped: int) -> str:
        """One line for the terminal."""
        with self._lock:
            fps = self._rate(self._out_times)
            hz = self._rate(self._detect_times)
            latency = np.array(self._latency_recent) * 1000.0
            curtain = self.curtain_frames
            out = self.frames_out
        p50, p95 = (np.percentile(latency, [50, 95]) if len(latency) else (0.0, 0.0))
        return (f"{fps:5.1f} fps | in {frames_in} out {out} dropped {dropped} | "
                f"detector {hz:4.1f} Hz | latency p50 {p50:.0f} p95 {p95:.0f} ms | "
                f"curtain {curtain}")

    def overlay(self) -> str:
        """Short text for the preview window."""
        with self._lock:
            fps = self._rate(self._out_times)
            latency = np.array(self._latency_recent) * 1000.0
        p95 = np.percentile(latency, 95) if len(latency) else 0.0
        return f"{fps:.1f} fps  latency p95 {p95:.0f} ms"

    def summary(self, frames_in: int, dropped: int, sinks: dict[str, dict[str, int]]
                ) -> dict[str, object]:
        with self._lock:
            latency = np.array(self._latency_all) * 1000.0
            span = ((self._last_out or 0.0) - (self._first_out or 0.0))
            fps = (self.frames_out - 1) / span if self.frames_out > 1 and span > 0 else 0.0
            elapsed = time.monotonic() - self.started
            summary: dict[str, object] = {
                "frames_in": frames_in,
                "frames_out": self.frames_out,
                "dropped": dropped,
                "skipped_half_rate": self.skipped_frames,
                "fps_out": round(fps, 2),
                "detector_hz": round(self.detections / elapsed, 2) if elapsed > 0 else 0.0,
                "curtain_frames": self.curtain_frames,
                "latency_ms": {
                    name: (round(float(np.percentile(latency, q)), 1) if len(latency) else None)
                    for name, q in (("p50", 50), ("p95", 95), ("p99", 99))
                },
                "seconds": round(elapsed, 3),
                "detections": self.detections,
                "detector_errors": self.detector_errors,
                "curtain_reasons": dict(self.curtain_reasons),
                "sinks": sinks,
            }
        return summary
