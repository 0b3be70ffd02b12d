"""Voice disguise by the McAdams coefficient, as in the VoicePrivacy
Challenge's signal-processing baseline (Patino et al., "Speaker
anonymisation using the McAdams coefficient", Interspeech 2021),
reimplemented with numpy/scipy and made streaming.

Each 20 ms frame (10 ms hop) is analysed by linear prediction; the angles
of its complex poles (the formants) are raised to the power ``alpha`` and
the frame's prediction residual is filtered through the moved poles; frames
are overlap-added (square-root Hann windows for analysis and synthesis,
whose squares sum to one at 50% overlap) and each keeps its input energy.
The angles are mapped as the baseline does at 16 kHz (angle 1 rad = 2.5 kHz),
whatever the sample rate, so ``alpha`` means the same everywhere; poles
above 8 kHz are left alone. ``alpha`` is drawn per run, secretly, from
:data:`ALPHA_RANGE` (knowing it would make the formant shift easy to undo;
the residual, and with it the pitch, is kept).

This is disguise, not anonymization: an attacker who trains on disguised
speech recognises speakers again (the challenge's figures: EER 2-13%).
"""

from __future__ import annotations

import secrets

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

__all__ = ["ALPHA_RANGE", "McAdams", "draw_alpha", "mcadams_frame"]

# Measured (benchmarks/voice_disguise.py --alphas, results/voice_disguise_alphas.json,
# 13 speakers): the lower alpha, the higher the error of a speaker verifier
# enrolled on the original voices (EER 0.12 at 0.9, 0.24 at 0.8, 0.29 at 0.77,
# 0.31 at 0.75, 0.48 at 0.55) and the lower STOI against the original (0.93,
# 0.80, 0.76, 0.74, 0.54). The range starts at the lowest alpha whose STOI
# stays at or above 0.75 (0.77; 0.76 gives 0.749) and ends at the
# VoicePrivacy baseline's 0.8. A wider range hides alpha little better: an
# attacker who disguises the enrolment with an alpha near the range's middle
# does about as well as one who knows alpha (EER 0.08-0.09 here, enrolled at
# 0.78; 0.08-0.13 over 0.75-0.9, enrolled at 0.8).
ALPHA_RANGE = (0.77, 0.8)
_REFERENCE_RATE = 16000
_ORDER_AT_16K = 20


def draw_alpha() -> float:
    """A McAdams coefficient from :data:`ALPHA_RANGE`, from the OS's random source."""
    low, high = ALPHA_RANGE
    return low + (high - low) * secrets.SystemRandom().random()


def _lpc(frame: np.ndarray, order: int) -> np.ndarray | None:
    """Prediction polynomial ``[1, a1..ap]`` by the autocorrelation method."""
    spectrum = np.fft.rfft(frame, 2 * len(frame))
    r = np.fft.irfft(np.abs(spectrum) ** 2)[: order + 1]
    if r[0] <= 1e-10:
        return None  # silence: nothing to move
    r[0] *= 1 + 1e-9  # a touch of white noise keeps the system well conditioned
    try:
        coefficients = solve_toeplitz(r[:order], -r[1:order + 1])
    except np.linalg.LinAlgError:
        return None
    return np.concatenate([[1.0], coefficients])


def mcadams_frame(frame: np.ndarray, alpha: float, rate: int, order: int) -> np.ndarray:
    """One windowed frame with its formants moved; same energy."""
    a = _lpc(frame, order)
    if a is None:
        return frame
    residual = lfilter(a, [1.0], frame)
    poles = np.roots(a)
    scale = rate / _REFERENCE_RATE
    upper = poles[poles.imag > 0]
    angles = np.angle(upper) * scale
    moved = angles < np.pi
    angles[moved] = np.clip(angles[moved] ** alpha, 0.0, np.pi)
    upper = np.abs(upper) * np.exp(1j * angles / scale)
    real = poles[np.abs(poles.imag) <= 0][:]
    new_a = np.real(np.poly(np.concatenate([real, upper, np.conj(upper)])))
    out = lfilter([1.0], new_a, residual)
    energy_in, energy_out = float(np.dot(frame, frame)), float(np.dot(out, out))
    if not np.isfinite(energy_out) or energy_out <= 0:
        return np.zeros_like(frame)
    return out * np.sqrt(energy_in / energy_out)


class McAdams:
    """Streaming disguise of one signal: :meth:`__call__` takes ``(channels,
    n)`` float32 and returns as many samples, ``latency`` samples late (all
    channels get the disguised mix: a channel left alone would keep the
    voice); :meth:`flush` returns the last ``latency`` samples.
    """

    def __init__(self, rate: int, alpha: float | None = None) -> None:
        self.rate = int(rate)
        self.alpha = draw_alpha() if alpha is None else float(alpha)
        self.hop = max(1, round(self.rate * 0.010))
        self.width = 2 * self.hop
        self.order = int(np.clip(round(_ORDER_AT_16K * self.rate / _REFERENCE_RATE), 8, 60))
        self._window = np.sqrt(np.hanning(self.width + 1)[:-1])
        self.latency = self.width
        self._pending = np.zeros(self.width - self.hop)  # input not yet in a frame
        self._tail = np.zeros(self.width - self.hop)  # overlap-add not yet complete
        self._ready = np.zeros(self.latency)  # output in order, ``latency`` behind
        self._channels: int | None = None
        self._skip = self.width - self.hop  # the first output samples are the pre-roll

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        channels, count = samples.shape
        self._channels = channels
        self._consume(samples.mean(axis=0, dtype=np.float64))
        return self._take(count, channels)

    def _consume(self, mono: np.ndarray) -> None:
        buffer = np.concatenate([self._pending, mono])
        produced = []
        start = 0
        while start + self.width <= len(buffer):
            frame = buffer[start:start + self.width] * self._window
            out = mcadams_frame(frame, self.alpha, self.rate, self.order) * self._window
            out[: len(self._tail)] += self._tail
            produced.append(out[: self.hop])
            self._tail = out[self.hop:]
            start += self.hop
        self._pending = buffer[start:]
        if produced:
            done = np.concatenate(produced)
            drop = min(self._skip, len(done))
            self._skip -= drop
            self._ready = np.concatenate([self._ready, done[drop:]])

    def _take(self, count: int, channels: int) -> np.ndarray:
        if len(self._ready) < count:  # cannot happen with latency >= width; never stall
            self._ready = np.concatenate([self._ready, np.zeros(count - len(self._ready))])
        out, self._ready = self._ready[:count], self._ready[count:]
        return np.repeat(out[None].astype(np.float32), channels, axis=0)

    def flush(self) -> np.ndarray:
        channels = self._channels or 1
        # Push the last frames through with silence after them.
        self._consume(np.zeros(self.width))
        return self._take(self.latency, channels)
