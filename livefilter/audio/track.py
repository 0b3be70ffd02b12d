"""An AAC stream in an output container, fed with timed sample chunks.

Our own encoder, set bit-exact: FFmpeg's AAC encoder otherwise writes its
version string ("Lavc...") into the first frame's bitstream, and a copied
stream carries the source encoder's. The stream's time base is
1/sample-rate, as any AAC encoder's, so nothing of the source's is kept.

Timing: chunks are placed at their ``time`` (seconds on the video's clock,
``origin`` = output time 0) and encoded as one gap-free run of 1024-sample
frames. A chunk up to :data:`TOLERANCE` off the run is taken as contiguous
(clock jitter); further ahead, the gap is filled with silence; further
behind, the overlap is dropped. So the audio is never more than
:data:`TOLERANCE` off its stamps, and the stream never has holes or
overlaps a player would trip on.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np

from livefilter.audio import AudioChunk

__all__ = ["TOLERANCE", "AacTrack"]

logger = logging.getLogger(__name__)

TOLERANCE = 0.02  # seconds
_FRAME = 1024  # samples per AAC frame
_MAX_GAP = 10.0  # seconds of silence filled in; a longer gap restarts the run


class AacTrack:
    """AAC encoder for one output audio stream of ``container``.

    :meth:`push` and :meth:`flush` return the packets to mux (the caller owns
    the container and its interleaving).
    """

    def __init__(self, container: av.container.OutputContainer, *, rate: int, layout: str,
                 origin: float = 0.0) -> None:
        self.rate = int(rate)
        stream = container.add_stream("aac", rate=self.rate)
        stream.layout = layout
        stream.time_base = Fraction(1, self.rate)
        stream.codec_context.time_base = Fraction(1, self.rate)
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        stream.bit_rate = 64000 * min(2, stream.codec_context.channels)
        stream.metadata.clear()
        self.stream = stream
        self.layout = layout
        self.channels = stream.codec_context.channels
        self.origin = origin
        self._buffer = np.zeros((self.channels, 0), np.float32)
        self._buffer_pts: int | None = None  # pts of the buffer's first sample
        self.samples_in = 0
        self.filled = 0  # samples of silence put into gaps
        self.trimmed = 0  # samples dropped as overlap or before time 0

    def _end(self) -> int:
        assert self._buffer_pts is not None
        return self._buffer_pts + self._buffer.shape[1]

    def push(self, chunk: AudioChunk) -> list[av.Packet]:
        samples = np.asarray(chunk.samples, np.float32)
        if samples.ndim != 2 or samples.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got shape {samples.shape}")
        self.samples_in += samples.shape[1]
        start = round((chunk.time - self.origin) * self.rate)
        packets: list[av.Packet] = []
        if self._buffer_pts is not None:
            gap = start - self._end()
            if gap > _MAX_GAP * self.rate:
                packets += self.flush()  # a long break: start a new run at the stamp
            elif abs(gap) <= TOLERANCE * self.rate:
                start = self._end()
            elif gap > 0:
                self.filled += gap
                samples = np.concatenate([np.zeros((self.channels, gap), np.float32), samples], 1)
                start = self._end()
            else:
                drop = min(-gap, samples.shape[1])
                self.trimmed += drop
                samples, start = samples[:, drop:], start + drop
        if start < 0:  # before the output's first frame
            drop = min(-start, samples.shape[1])
            self.trimmed += drop
            samples, start = samples[:, drop:], start + drop
        if samples.shape[1] == 0:
            return packets
        if self._buffer_pts is None:
            self._buffer_pts = start
            self._buffer = samples
        else:
            self._buffer = np.concatenate([self._buffer, samples], 1)
        while self._buffer.shape[1] >= _FRAME:
            packets += self._encode(self._buffer[:, :_FRAME])
            self._buffer = self._buffer[:, _FRAME:]
            self._buffer_pts += _FRAME
        return packets

    def _encode(self, samples: np.ndarray | None) -> list[av.Packet]:
        if samples is None:
            return list(self.stream.encode(None))
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp",
                                           layout=self.layout)
        frame.sample_rate = self.rate
        frame.pts = self._buffer_pts
        frame.time_base = Fraction(1, self.rate)
        return list(self.stream.encode(frame))

    def flush(self) -> list[av.Packet]:
        """Encode what is buffered (the last frame may be short) and drain the encoder."""
        packets: list[av.Packet] = []
        if self._buffer_pts is not None and self._buffer.shape[1]:
            packets += self._encode(self._buffer)
        packets += self._encode(None)
        self._buffer = np.zeros((self.channels, 0), np.float32)
        self._buffer_pts = None
        return packets
