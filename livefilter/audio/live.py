"""Live sound: from the video source itself or from a microphone, to the
recording and the stream, in sync with the video and delayed with it.

Path: the source's demuxer (:class:`~livefilter.io.capture.FileSource`,
``StreamSource``) or a :class:`DeviceCapture` thread hands decoded frames
with a clock reading to :meth:`LiveAudio.tap` (never blocks: a full queue
drops and counts). The ``livefilter-audio`` thread resamples to
48 kHz stereo, applies the ``--audio`` mode (``mute``: silence), stamps the
samples on the video's clock (:class:`SampleClock`) and hands the chunks to
every sink that takes audio (:class:`AudioInbox`). A sink writes audio only
up to the time of the video frame it is writing, so the sound waits with the
video for ``--delay`` and the look-ahead; the virtual camera and the preview
get no sound.

Clocks: a file's audio carries the same presentation times as its video
(exact); a network stream's and a microphone's are read on the monotonic
clock at arrival, like their video frames. A microphone beside a file played
in real time is mapped through the offset between the video frames'
timestamps and their arrival (:meth:`LiveAudio.note_video`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

import av

from livefilter.audio import RUN_AUDIO_MODES, AudioChunk, check_mode, transform_for
from livefilter.audio.transcode import to_planar_float
from livefilter.errors import ConfigError, SourceError, error_reason

__all__ = [
    "DEVICE_FORMATS",
    "AudioInbox",
    "DeviceCapture",
    "LiveAudio",
    "LiveAudioConfig",
    "SampleClock",
]

logger = logging.getLogger(__name__)

RATE = 48000
LAYOUT = "stereo"
# PyAV input devices a microphone comes through (lavfi: generated sound, for
# tests; add ",arealtime" to its graph so it runs at the speed of a device).
DEVICE_FORMATS = ("alsa", "pulse", "oss", "jack", "lavfi")
_QUEUE_FRAMES = 256  # decoded frames waiting for the audio thread (seconds of sound)


@dataclass(frozen=True, kw_only=True)
class LiveAudioConfig:
    """Sound of ``livefilter run``.

    Attributes:
        mode: ``keep`` (the sound, re-encoded), ``mute`` (silence of the
            same duration) or ``disguise`` (voices changed).
        device: ``FORMAT:NAME`` of a PyAV input device (``alsa:default``,
            ``pulse:default``, ``lavfi:sine=f=440,arealtime``), or ``None``: the
            video source's own sound.
        max_buffer: seconds of sound a sink may hold waiting for its video.
    """

    mode: str = "mute"
    device: str | None = None
    max_buffer: float = 20.0

    def __post_init__(self) -> None:
        check_mode(self.mode, RUN_AUDIO_MODES)
        if self.device is not None:
            device_format, _, name = self.device.partition(":")
            if device_format not in DEVICE_FORMATS or not name:
                raise ConfigError(
                    f"audio-source: expected FORMAT:DEVICE with FORMAT one of "
                    f"{', '.join(DEVICE_FORMATS)} (e.g. alsa:default); got {self.device!r}"
                )
        if not 1 <= self.max_buffer <= 120:
            raise ConfigError(f"audio max-buffer: expected 1..120 seconds, got "
                              f"{self.max_buffer!r}")


class SampleClock:
    """Stamps consecutive chunks from a count of samples, anchored to readings.

    A reading within ``resync`` seconds of the count only nudges it (a
    ``slew`` share of the difference per chunk): arrival jitter does not make
    the sound stutter, and the stamps still follow the reading clock, so
    they cannot drift away from it. Further off (a gap, a restart), the
    count jumps to the reading. Exact readings (a file's presentation
    times) give exact stamps.
    """

    def __init__(self, rate: int, *, resync: float = 0.25, slew: float = 0.02) -> None:
        self.rate = rate
        self.resync = resync
        self.slew = slew
        self._next: float | None = None

    def stamp(self, reading: float, samples: int) -> float:
        if self._next is None or abs(reading - self._next) > self.resync:
            self._next = reading
        else:
            self._next += (reading - self._next) * self.slew
        stamp = self._next
        self._next += samples / self.rate
        return stamp


class AudioInbox:
    """Chunks waiting in a sink until its video reaches their time.

    Filled by the audio thread, emptied by the sink's thread (a deque's
    append and popleft are atomic). Holds at most ``max_seconds`` of sound:
    beyond that (the sink's video has stopped) the oldest is dropped and
    counted.
    """

    def __init__(self, rate: int, layout: str, max_seconds: float) -> None:
        self.rate, self.layout = rate, layout
        self._chunks: deque[AudioChunk] = deque()
        self._max_samples = int(max_seconds * rate)
        self._samples = 0
        self._lock = threading.Lock()
        self.dropped_samples = 0

    def put(self, chunk: AudioChunk) -> None:
        with self._lock:
            self._chunks.append(chunk)
            self._samples += chunk.samples.shape[1]
            while self._samples > self._max_samples and self._chunks:
                old = self._chunks.popleft()
                self._samples -= old.samples.shape[1]
                self.dropped_samples += old.samples.shape[1]

    def take_until(self, until: float) -> list[AudioChunk]:
        """The chunks that start at or before ``until``, oldest first."""
        taken = []
        with self._lock:
            while self._chunks and self._chunks[0].time <= until:
                chunk = self._chunks.popleft()
                self._samples -= chunk.samples.shape[1]
                taken.append(chunk)
        return taken


class DeviceCapture(threading.Thread):
    """Reads a PyAV input device (a microphone) and taps each frame with its
    monotonic capture time. Opened in the constructor, so a missing device
    is one error line before the run starts.
    """

    def __init__(self, spec: str, tap, stop: threading.Event) -> None:
        super().__init__(name="livefilter-audio-device", daemon=True)
        device_format, _, name = spec.partition(":")
        self.spec = spec
        if device_format not in av.formats_available:
            available = ", ".join(f for f in DEVICE_FORMATS if f in av.formats_available)
            raise SourceError(f"audio-source {spec}: this build of PyAV/FFmpeg has no "
                              f"{device_format!r} input (available here: {available})")
        try:
            self._container = av.open(name, format=device_format)
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"audio-source {spec}: cannot open ({error_reason(exc)})") from exc
        if not self._container.streams.audio:
            self._container.close()
            raise SourceError(f"audio-source {spec}: has no audio")
        self._tap = tap
        self._stop_event = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for frame in self._container.decode(self._container.streams.audio[0]):
                if self._stop_event.is_set():
                    return
                self._tap(frame, time.monotonic() - frame.samples / frame.sample_rate)
        except (av.error.FFmpegError, OSError) as exc:
            self.error = exc
            logger.warning("audio-source %s lost (%s); the video goes on without sound",
                           self.spec, error_reason(exc))
        finally:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                self._container.close()


class LiveAudio:
    """The ``livefilter-audio`` thread and its inputs; see the module docstring."""

    rate = RATE
    layout = LAYOUT

    def __init__(self, config: LiveAudioConfig) -> None:
        self.config = config
        self._transform = transform_for(config.mode, RATE)
        self._queue: queue.Queue[tuple[av.AudioFrame, float]] = queue.Queue(_QUEUE_FRAMES)
        self._inboxes: list[AudioInbox] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._device: DeviceCapture | None = None
        self._offset: float | None = None  # video clock minus monotonic (microphone)
        self._resampler = av.AudioResampler(format="fltp", layout=LAYOUT, rate=RATE)
        self._clock = SampleClock(RATE)
        self.dropped_frames = 0
        self.samples = 0
        self.error: BaseException | None = None
        if config.device is not None:
            self._device = DeviceCapture(config.device, self.tap, self._stop)

    @property
    def from_device(self) -> bool:
        return self._device is not None

    def inbox(self) -> AudioInbox:
        """A new inbox for one sink (before :meth:`start`)."""
        inbox = AudioInbox(RATE, LAYOUT, self.config.max_buffer)
        self._inboxes.append(inbox)
        return inbox

    def tap(self, frame: av.AudioFrame, reading: float) -> None:
        """A decoded frame and the clock reading of its first sample; never blocks."""
        try:
            self._queue.put_nowait((frame, reading))
        except queue.Full:
            self.dropped_frames += 1

    def note_video(self, timestamp: float, arrival: float) -> None:
        """A frame that went out: maps a microphone's clock onto the video's."""
        if self._device is not None:
            offset = timestamp - arrival
            # Averaged against the frames' arrival jitter; a jump (a source
            # that came back) is taken as it is.
            if self._offset is None or abs(offset - self._offset) > 0.5:
                self._offset = offset
            else:
                self._offset += (offset - self._offset) * 0.05

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="livefilter-audio", daemon=True)
        self._thread.start()
        if self._device is not None:
            self._device.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Let the queued sound through to the inboxes, then end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._device is not None:
            self._device.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                try:
                    frame, reading = self._queue.get(timeout=0.05)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                self._process(frame, reading)
        except Exception as exc:  # sound must never stop the video
            self.error = exc
            logger.error("audio failed (%s: %s); the video goes on without sound",
                         type(exc).__name__, exc)

    def _process(self, frame: av.AudioFrame, reading: float) -> None:
        if self._device is not None:
            if self._offset is None:
                return  # no video frame out yet: nothing to be in sync with
            reading += self._offset
        samples = to_planar_float(self._resampler, frame)
        if samples.shape[1] == 0:
            return
        stamp = self._clock.stamp(reading, samples.shape[1])
        # A transform's output lags by its latency: stamped that much earlier.
        chunk = AudioChunk(self._transform(samples), stamp - self._transform.latency / RATE)
        self.samples += samples.shape[1]
        for inbox in self._inboxes:
            inbox.put(chunk)

    def summary(self) -> dict[str, object]:
        return {
            "mode": self.config.mode,
            "source": self.config.device or "video source",
            "seconds": round(self.samples / RATE, 3),
            "dropped_frames": self.dropped_frames,
            "dropped_in_sinks_s": round(sum(i.dropped_samples for i in self._inboxes) / RATE, 3),
            "error": None if self.error is None else str(self.error),
        }

