"""`--audio disguise`: the McAdams transform moves the formants, keeps the
duration and the timing, and runs streaming."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

from livefilter.audio import transform_for
from livefilter.audio.disguise import ALPHA_RANGE, McAdams

FORMANTS = (600.0, 1500.0, 2500.0)


def vowel(rate: int, seconds: float = 1.0, pitch: float = 120.0) -> np.ndarray:
    """A pulse train through three formant resonators: an /a/-like vowel."""
    n = round(rate * seconds)
    source = np.zeros(n)
    source[:: round(rate / pitch)] = 1.0
    signal = source
    for formant in FORMANTS:
        radius = np.exp(-np.pi * 80.0 / rate)
        theta = 2 * np.pi * formant / rate
        signal = lfilter([1.0], [1.0, -2 * radius * np.cos(theta), radius ** 2], signal)
    return (0.3 * signal / np.abs(signal).max()).astype(np.float32)


def formants(signal: np.ndarray, rate: int) -> np.ndarray:
    """Resonance frequencies under 4 kHz of an LPC fit to the middle of ``signal``."""
    middle = signal[len(signal) // 4: 3 * len(signal) // 4] * np.hanning(len(signal) // 2)
    order = 8 if rate == 16000 else 14
    r = np.correlate(middle, middle, "full")[len(middle) - 1:len(middle) + order]
    a = np.concatenate([[1.0], solve_toeplitz(r[:order], -r[1:order + 1])])
    roots = np.roots(a)
    roots = roots[roots.imag > 0]
    freqs = np.sort(np.angle(roots) * rate / (2 * np.pi))
    return freqs[freqs < 4000]


def run_stream(transform, signal: np.ndarray, chunk: int = 1000) -> np.ndarray:
    out = [transform(signal[None, i:i + chunk]) for i in range(0, len(signal), chunk)]
    out.append(transform.flush())
    joined = np.concatenate(out, 1)[0]
    return joined[transform.latency:]


@pytest.mark.parametrize("rate", [16000, 48000])
def test_disguise_moves_the_formants_and_keeps_the_length(rate):
    signal = vowel(rate)
    disguise = McAdams(rate, alpha=0.8)
    out = run_stream(disguise, signal)
    assert len(out) == len(signal)
    before, after = formants(signal, rate), formants(out, rate)
    first_before = before[np.argmin(np.abs(before - FORMANTS[0]))]
    first_after = after[np.argmin(np.abs(after - 800.0))]
    assert abs(first_before - FORMANTS[0]) < 60  # the estimator finds the vowel's F1
    # McAdams at alpha 0.8 moves 600 Hz to about 800 Hz (angle ** 0.8 at 16 kHz).
    assert 740 < first_after < 880, (before, after)
    assert not np.any(np.abs(after - FORMANTS[0]) < 60), (before, after)
    # Energy stays about the same (speech stays audible).
    assert 0.5 < np.sqrt(np.mean(out ** 2) / np.mean(signal ** 2)) < 2.0


def test_alpha_one_gives_back_the_input_in_time():
    """The frame/overlap-add machinery itself is transparent and aligned:
    at alpha 1 (no shift) the output is the input, sample for sample."""
    rate = 16000
    signal = vowel(rate)
    out = run_stream(McAdams(rate, alpha=1.0), signal, chunk=333)
    assert np.max(np.abs(out - signal)) < 1e-3


def test_alpha_is_drawn_per_run_from_the_range():
    alphas = {transform_for("disguise", 16000).alpha for _ in range(5)}
    assert len(alphas) == 5
    assert all(ALPHA_RANGE[0] <= alpha <= ALPHA_RANGE[1] for alpha in alphas)


def test_silence_stays_silence():
    out = run_stream(McAdams(48000, alpha=0.8), np.zeros(48000, np.float32))
    assert not np.any(out)


def test_voice_embedder_is_an_optional_model_fetched_by_name_only(cli):
    from livefilter import models

    assert models.VOICE_EMBEDDER.optional and not models.CENTERFACE.optional
    result = cli("models", "fetch", "no-such-model")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "voice-embedder" in result.stderr
