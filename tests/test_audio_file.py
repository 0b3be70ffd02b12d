"""`livefilter file --audio keep|mute|reencode`."""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pytest
from synthetic import write_clip

# A 20 ms AAC frame at 44.1 kHz is 23.2 ms: durations agree within one frame.
AAC_FRAME = 1024 / 44100
SECRET = b"SecretCamAAC"


def _audio(path: Path) -> tuple[np.ndarray, float, int, int]:
    """Decoded samples (channels, n), the stream's duration, sample rate, channels."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        duration = float(stream.duration * stream.time_base)
        rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
        samples = np.concatenate([f.to_ndarray() for f in container.decode(stream)], 1)
    return samples, duration, rate, channels


@pytest.fixture(scope="module")
def branded_clip(tmp_path_factory) -> Path:
    """A clip whose AAC bitstream carries a distinctive encoder string, as a
    phone's or an editing program's does (FFmpeg's encoder writes its own
    "Lavc..." version into a filler element; we put ours in its place).
    """
    path = tmp_path_factory.mktemp("audio") / "branded.mp4"
    write_clip(path, frames=30, fps=15)
    data = path.read_bytes()
    idents = set(re.findall(rb"Lavc\d+\.\d+\.\d+", data))
    assert idents, "the test clip's AAC should carry FFmpeg's version string"
    for ident in idents:
        secret = (SECRET * 3)[:len(ident)]
        data = data.replace(ident, secret)
    path.write_bytes(data)
    return path


def _anonymize(cli, source: Path, output: Path, *extra: str) -> str:
    result = cli("file", source, "-o", output, "-q", "--detector", "cascade", *extra)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_keep_copies_the_encoder_string_and_reencode_drops_it(cli, branded_clip, tmp_path):
    kept, reencoded = tmp_path / "kept.mp4", tmp_path / "reencoded.mp4"
    _anonymize(cli, branded_clip, kept)
    _anonymize(cli, branded_clip, reencoded, "--audio", "reencode")
    assert SECRET[:8] in kept.read_bytes()  # the known trace of keep (README)
    data = reencoded.read_bytes()
    assert SECRET[:8] not in data
    assert not re.search(rb"Lavc\d+\.\d+", data)  # nor our own encoder's version
    _, source_duration, rate, channels = _audio(branded_clip)
    sound, duration, out_rate, out_channels = _audio(reencoded)
    assert (out_rate, out_channels) == (rate, channels)
    assert abs(duration - source_duration) <= AAC_FRAME
    assert np.abs(sound).max() > 0.1  # the tone is still there


def test_mute_is_digital_silence_of_the_same_duration(cli, branded_clip, tmp_path):
    muted = tmp_path / "muted.mp4"
    _anonymize(cli, branded_clip, muted, "--audio", "mute")
    _, source_duration, rate, channels = _audio(branded_clip)
    sound, duration, out_rate, out_channels = _audio(muted)
    assert (out_rate, out_channels) == (rate, channels)
    assert abs(duration - source_duration) <= AAC_FRAME
    assert sound.shape[1] >= (source_duration - AAC_FRAME) * rate
    assert not np.any(sound), "mute must give exact zeros"


def test_audio_option_on_a_file_without_audio_warns(cli, tmp_path):
    source, output = tmp_path / "silent.mp4", tmp_path / "out.mp4"
    write_clip(source, frames=10, fps=15, audio=False)
    stderr = _anonymize(cli, source, output, "--audio", "mute")
    assert "has no audio" in stderr
    assert output.is_file()


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    middle = samples[0, rate // 4: rate]
    return float(np.argmax(np.abs(np.fft.rfft(middle))) * rate / len(middle))


def test_disguise_moves_the_tone_and_keeps_the_duration(cli, branded_clip, tmp_path):
    disguised = tmp_path / "disguised.mp4"
    _anonymize(cli, branded_clip, disguised, "--audio", "disguise")
    source, source_duration, rate, channels = _audio(branded_clip)
    sound, duration, out_rate, out_channels = _audio(disguised)
    assert (out_rate, out_channels) == (rate, channels)
    assert abs(duration - source_duration) <= AAC_FRAME
    assert abs(_peak_hz(source, rate) - 440) < 5
    # The 440 Hz tone's pole moves up (angle ** alpha, alpha in 0.77..0.8).
    assert _peak_hz(sound, rate) > 600  # 440 Hz goes to 625 Hz at alpha 0.8
    assert SECRET[:8] not in disguised.read_bytes()
