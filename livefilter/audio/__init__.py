"""Audio: what happens to the sound of a video or a live source.

One decision lives here: what each ``--audio`` mode does to the samples
(:func:`transform_for`). The parts: :mod:`~livefilter.audio.track` encodes
sample chunks into an AAC stream of an output container (files, recordings,
streams); :mod:`~livefilter.audio.transcode` re-encodes the audio of a file;
:mod:`~livefilter.audio.live` carries a live source's or a microphone's
sound to the recording and the stream.

Samples travel as ``float32`` arrays shaped ``(channels, samples)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from livefilter.errors import ConfigError

__all__ = [
    "FILE_AUDIO_MODES",
    "RUN_AUDIO_MODES",
    "AudioChunk",
    "SampleTransform",
    "check_mode",
    "transform_for",
]

# keep: the sound as it was (file: packets copied; live: re-encoded).
# mute: digital silence of the same duration. reencode: decoded and
# re-encoded, so nothing of the source's encoder is left in the bitstream.
# disguise: voices changed (McAdams coefficient), re-encoded.
FILE_AUDIO_MODES = ("keep", "mute", "reencode", "disguise")
RUN_AUDIO_MODES = ("keep", "mute", "disguise")


class SampleTransform(Protocol):
    """What a mode does to decoded sound, chunk by chunk, for one stream.

    ``__call__`` takes ``(channels, n)`` float32 and returns as many
    samples, ``latency`` samples late (the caller stamps them that much
    earlier); ``flush`` returns the last ``latency`` samples at the end.
    """

    latency: int

    def __call__(self, samples: np.ndarray) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Consecutive samples starting at ``time`` (seconds, on the video's clock)."""

    samples: np.ndarray
    time: float


def check_mode(mode: str, allowed: tuple[str, ...]) -> str:
    if mode not in allowed:
        raise ConfigError(f"audio: expected one of {', '.join(allowed)}; got {mode!r}")
    return mode


class _Keep:
    latency = 0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return samples

    def flush(self) -> np.ndarray:
        return np.zeros((1, 0), np.float32)


class _Mute(_Keep):
    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return np.zeros_like(samples)


def transform_for(mode: str, rate: int) -> SampleTransform:
    """A new transform for one stream at ``rate`` (``keep``, ``reencode``: none;
    ``disguise``: a McAdams coefficient drawn for it).
    """
    check_mode(mode, tuple(dict.fromkeys(FILE_AUDIO_MODES + RUN_AUDIO_MODES)))
    if mode == "disguise":
        from livefilter.audio.disguise import McAdams

        return McAdams(rate)
    return _Mute() if mode == "mute" else _Keep()
