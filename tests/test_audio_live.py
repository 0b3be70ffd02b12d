"""Live sound (`run --audio keep|mute`, `--audio-source`): in sync with the
video in the recording and the stream, delayed with it, silence for mute.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from synthetic import flash_and_click_times, write_click_clip

from livefilter.audio import AudioChunk
from livefilter.audio.live import AudioInbox, LiveAudioConfig, SampleClock
from livefilter.audio.track import TOLERANCE, AacTrack
from livefilter.errors import ConfigError

SYNC = 0.040  # seconds: the sync target between a flash and its click


@pytest.fixture(scope="module")
def click_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sync") / "clicks.mp4"
    write_click_clip(path, seconds=4.0, fps=30, flashes=(1.0, 2.0, 3.0))
    return path


def _run(cli, *args: str | Path, quiet: bool = True) -> str:
    result = cli("run", "--detector", "cascade", *(["-q"] if quiet else []), *args,
                 timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stderr


def _assert_in_sync(recording: Path) -> None:
    flashes, clicks = flash_and_click_times(recording)
    assert len(clicks) == 3, clicks  # sound is never dropped
    assert flashes, "no flash frame survived (every one dropped?)"
    for flash in flashes:
        assert min(abs(flash - click) for click in clicks) <= SYNC, (flashes, clicks)


@pytest.mark.parametrize(("mode", "delay"), [("keep", "0"), ("keep", "0.5"), ("disguise", "0")])
def test_recording_keeps_sound_in_sync_with_the_video(cli, click_clip, tmp_path, mode, delay):
    """Also disguised: the transform's latency is taken off the sound's stamps."""
    recording = tmp_path / "rec.mkv"
    _run(cli, "--source", click_clip, "--realtime", "--record", recording, "--audio", mode,
         "--delay", delay)
    _assert_in_sync(recording)


def test_mute_is_the_default_and_records_silence_as_long_as_the_video(cli, click_clip,
                                                                       tmp_path):
    recording = tmp_path / "rec.mp4"
    stderr = _run(cli, "--source", click_clip, "--record", recording, "--stats-interval", "0",
                  quiet=False)
    assert "muted" in stderr
    with av.open(str(recording)) as container:
        sound = [f.to_ndarray() for f in container.decode(audio=0)]
    with av.open(str(recording)) as container:
        video_end = max(float(f.pts * f.time_base) for f in container.decode(video=0))
    samples = np.concatenate(sound, 1)
    assert not np.any(samples)
    assert abs(samples.shape[1] / 48000 - (video_end + 1 / 30)) < 0.1


def test_stream_carries_the_sound(cli, click_clip, tmp_path):
    """The stream (MPEG-TS over TCP to a local listener) has the clicks, in sync."""
    received = bytearray()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(120)
    port = server.getsockname()[1]

    def accept() -> None:
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(65536):
                received.extend(chunk)

    listener = threading.Thread(target=accept, daemon=True)
    listener.start()
    try:
        _run(cli, "--source", click_clip, "--realtime", "--stream", f"tcp://127.0.0.1:{port}",
             "--audio", "keep")
        listener.join(timeout=60)
    finally:
        server.close()
    path = tmp_path / "stream.ts"
    path.write_bytes(bytes(received))
    _assert_in_sync(path)


def test_url_source_sound_is_in_sync_once_settled(cli, tmp_path):
    """An HTTP MPEG-TS stream (ffmpeg serving a 12 s click clip in real time):
    the sound's own timestamps are moved onto the video's arrival clock. The
    first seconds after connecting may be off (the backlog sent while
    livefilter warmed up arrives in a burst); from the fourth second on,
    every flash is within 40 ms of its click.
    """
    clip = tmp_path / "clicks12.mp4"
    write_click_clip(clip, seconds=12.0, fps=30, flashes=tuple(float(t) for t in range(1, 12)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-i", str(clip), "-c", "copy",
                               "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/x.ts"])
    recording = tmp_path / "rec.mkv"
    try:
        result = cli("run", "--detector", "cascade", "-q", "--source",
                     f"http://127.0.0.1:{port}/x.ts", "--record", recording, "--audio", "keep",
                     "--duration", "11", timeout=300)
    finally:
        server.kill()
        server.wait()
    assert recording.is_file(), result.stderr
    flashes, clicks = flash_and_click_times(recording)
    settled = [flash for flash in flashes if flash >= 4.0]
    assert len(settled) >= 3, (flashes, clicks)
    for flash in settled:
        assert min(abs(flash - click) for click in clicks) <= SYNC, (flashes, clicks)


def test_audio_source_device_is_recorded(cli, click_clip, tmp_path):
    """A microphone stands in as FFmpeg's lavfi device (a tone at real-time pace)."""
    recording = tmp_path / "rec.mkv"
    _run(cli, "--source", click_clip, "--realtime", "--record", recording, "--audio", "keep",
         "--audio-source", "lavfi:sine=frequency=500:sample_rate=48000,arealtime")
    with av.open(str(recording)) as container:
        samples = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], 1)
    # Most of the clip's 4 s has the tone (the device opens before the first
    # frame is out; sound before it is not recorded).
    assert samples.shape[1] / 48000 > 2.5
    assert np.abs(samples).max() > 0.05


def test_bad_audio_options(cli, click_clip, tmp_path):
    result = cli("run", "--null", "--source", click_clip, "--audio-source", "nonsense")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "audio-source" in result.stderr
    result = cli("run", "--null", "--source", click_clip, "--audio-source", "alsa:default")
    assert result.returncode != 0 and "live video source" in result.stderr
    result = cli("run", "--null", "--source", click_clip, "--audio", "keep", "-q",
                 "--detector", "cascade")
    assert result.returncode == 0 and "only to --record and --stream" in result.stderr


def test_sample_clock_smooths_jitter_and_follows_exact_readings():
    clock = SampleClock(48000)
    assert [clock.stamp(i * 0.02, 960) for i in range(3)] == [0.0, 0.02, 0.04]
    rng = np.random.default_rng(0)
    stamps = [clock.stamp(0.06 + i * 0.02 + rng.uniform(-0.01, 0.01), 960) for i in range(500)]
    steps = np.diff(stamps)
    assert np.all(np.abs(steps - 0.02) < 0.001)  # jitter does not reach the stamps
    assert abs(stamps[-1] - (0.06 + 499 * 0.02)) < 0.01  # and they do not drift off
    assert clock.stamp(100.0, 960) == 100.0  # a jump is taken as it is


def test_track_fills_gaps_and_drops_overlaps(tmp_path):
    with av.open(str(tmp_path / "t.mkv"), "w") as container:
        track = AacTrack(container, rate=48000, layout="mono")
        one = np.ones((1, 4800), np.float32) * 0.1
        for time in (0.0, 0.1 + TOLERANCE / 2, 0.5, 0.55):  # jitter, a gap, an overlap
            for packet in track.push(AudioChunk(one, time)):
                container.mux(packet)
        for packet in track.flush():
            container.mux(packet)
    assert track.filled == round((0.5 - 0.2) * 48000)
    assert track.trimmed == round((0.6 - 0.55) * 48000)


def test_inbox_is_bounded_and_hands_out_by_time():
    inbox = AudioInbox(48000, "stereo", max_seconds=1.0)
    for i in range(30):
        inbox.put(AudioChunk(np.zeros((2, 4800), np.float32), i * 0.1))
    assert inbox.dropped_samples == 20 * 4800
    assert [c.time for c in inbox.take_until(2.25)] == pytest.approx([2.0, 2.1, 2.2])


def test_live_audio_config_validates():
    with pytest.raises(ConfigError, match="audio"):
        LiveAudioConfig(mode="disguise-ish")
    with pytest.raises(ConfigError, match="FORMAT:DEVICE"):
        LiveAudioConfig(device="hw:1")
