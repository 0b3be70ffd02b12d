"""Re-encode a file's audio stream: decode each packet, transform the samples
(``mute``: silence, ``disguise``: voices changed), encode with our own AAC encoder
(:class:`~livefilter.audio.track.AacTrack`) at the source's sample rate and
channel layout.

Packets the decoder rejects (damage) are counted and become silence of
their length (the track fills gaps from the timestamps), so the duration is
kept and the loss is reported, never silent.
"""

from __future__ import annotations

import logging

import av
import numpy as np

from livefilter.audio import AudioChunk, transform_for
from livefilter.audio.track import AacTrack

__all__ = ["AudioReencoder", "to_planar_float"]

logger = logging.getLogger(__name__)

# AAC takes at most 8 channels; more (rare) are mixed down to stereo.
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1",
            8: "7.1"}


def to_planar_float(resampler: av.AudioResampler, frame: av.AudioFrame | None) -> np.ndarray:
    """``frame`` (or the resampler's rest, for ``None``) as float32 ``(channels, n)``."""
    arrays = [out.to_ndarray() for out in resampler.resample(frame)]
    if not arrays:
        return np.zeros((len(resampler.layout.channels), 0), np.float32)
    return np.concatenate(arrays, 1).astype(np.float32, copy=False)


class AudioReencoder:
    """Decode packets of ``template`` (an input stream) into a new AAC stream
    of ``container`` through the transform of ``mode``
    (:func:`~livefilter.audio.transform_for`).
    """

    def __init__(self, container: av.container.OutputContainer,
                 template: av.audio.stream.AudioStream, mode: str) -> None:
        context = template.codec_context
        self.rate = int(context.sample_rate or 48000)
        channels = context.channels or 2
        self.layout = _LAYOUTS.get(channels, "stereo")
        self.track = AacTrack(container, rate=self.rate, layout=self.layout)
        self._resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
        self._transform = transform_for(mode, self.rate)
        self._time: float | None = None  # time of the next sample out of the resampler
        # Decoders give back the encoder's padding after the last sample; the
        # stream's stated end is where the sound ends.
        self._end: float | None = None
        if template.duration and template.time_base is not None:
            self._end = float(((template.start_time or 0) + template.duration)
                              * template.time_base)
        self.damaged = 0

    @property
    def stream(self) -> av.audio.stream.AudioStream:
        return self.track.stream

    def feed(self, packet: av.Packet) -> list[av.Packet]:
        """Decode ``packet`` (of the input stream) and return the packets to mux."""
        try:
            frames = packet.decode()
        except (av.error.InvalidDataError, ValueError) as exc:
            self.damaged += 1
            logger.debug("damaged audio packet (%s)", exc)
            return []
        out: list[av.Packet] = []
        for frame in frames:
            if self._time is None and frame.pts is not None and frame.time_base is not None:
                self._time = float(frame.pts * frame.time_base)
            elif frame.pts is not None and frame.time_base is not None:
                # Each frame at its own time: a gap left by a damaged packet
                # is filled with silence by the track.
                self._time = float(frame.pts * frame.time_base)
            out += self._emit(to_planar_float(self._resampler, frame))
        return out

    def _emit(self, samples: np.ndarray) -> list[av.Packet]:
        if samples.shape[1] == 0:
            return []
        time = self._time or 0.0
        if self._end is not None:
            samples = samples[:, :max(0, round((self._end - time) * self.rate))]
        self._time = time + samples.shape[1] / self.rate
        if samples.shape[1] == 0:
            return []
        return self._push(self._transform(samples), time)

    def _push(self, samples: np.ndarray, time: float) -> list[av.Packet]:
        # A transform's output lags its input by ``latency`` samples.
        time -= self._transform.latency / self.rate
        return self.track.push(AudioChunk(samples, time))

    def flush(self) -> list[av.Packet]:
        out = self._emit(to_planar_float(self._resampler, None))
        if self._transform.latency and self._time is not None:
            out += self._push(self._transform.flush(), self._time)
        out += self.track.flush()
        return out
