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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from livefilter.errors import ConfigError

__all__ = [
    "FILE_AUDIO_MODES",
    "RUN_AUDIO_MODES",
    "AudioChunk",
    "Transform",
    "check_mode",
    "transform_for",
]

# keep: the sound as it was (file: packets copied; live: re-encoded).
# mute: digital silence of the same duration. reencode: decoded and
# re-encoded, so nothing of the source's encoder is left in the bitstream.
FILE_AUDIO_MODES = ("keep", "mute", "reencode")
RUN_AUDIO_MODES = ("keep", "mute")

Transform = Callable[[np.ndarray, int], np.ndarray]
"""``(samples (channels, n) float32, sample_rate) -> samples of the same shape``."""


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Consecutive samples starting at ``time`` (seconds, on the video's clock)."""

    samples: np.ndarray
    time: float


def check_mode(mode: str, allowed: tuple[str, ...]) -> str:
    if mode not in allowed:
        raise ConfigError(f"audio: expected one of {', '.join(allowed)}; got {mode!r}")
    return mode


def _keep(samples: np.ndarray, rate: int) -> np.ndarray:
    return samples


def _mute(samples: np.ndarray, rate: int) -> np.ndarray:
    return np.zeros_like(samples)


def transform_for(mode: str) -> Transform:
    """What ``mode`` does to decoded samples (``keep`` and ``reencode``: nothing)."""
    check_mode(mode, tuple(dict.fromkeys(FILE_AUDIO_MODES + RUN_AUDIO_MODES)))
    return _mute if mode == "mute" else _keep
