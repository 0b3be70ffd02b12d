"""Stream options and stream accounting: srt:// refused, the bitrate checked
before anything runs, frames counted as written only when they went out, a
stream that lost frames reported in the stats and the exit status."""

from __future__ import annotations

import socket
import threading

import pytest
from cli_output import one_error_line
from conftest import ScriptedSource, SquareDetector, square_frame

from livefilter.apps.live import LiveConfig, LivePipeline
from livefilter.errors import ConfigError
from livefilter.io.sinks import StreamSink, parse_bitrate
from livefilter.regions import RedactionConfig


@pytest.mark.parametrize("option", ["--source", "--stream"])
def test_srt_is_refused_at_argument_parsing(option, tmp_path, cli):
    args = ["run", "--null", option, "srt://127.0.0.1:9000"]
    if option == "--stream":
        args += ["--source", str(tmp_path / "not-even-opened.mp4")]
    result = cli(*args, timeout=60)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "srt://" in line and "not supported" in line and option in line


def test_srt_is_not_advertised(cli):
    result = cli("run", "--help")
    assert result.returncode == 0
    assert "srt" not in result.stdout.lower()


@pytest.mark.parametrize("value", ["abc", "-1", "", "99999999999999k", "0", "10", "2.5G"])
def test_bad_stream_bitrate_is_refused_before_anything_runs(value, tmp_path, cli):
    result = cli("run", "--source", tmp_path / "never-opened.mp4", "--stream",
                 "udp://127.0.0.1:9", "--stream-bitrate", value, timeout=60)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert "--stream-bitrate" in line and "32k..100M" in line


def test_stream_bitrate_units():
    assert parse_bitrate("2500k") == 2_500_000
    assert parse_bitrate("2.5M") == 2_500_000
    assert parse_bitrate("800000") == 800_000
    with pytest.raises(ConfigError, match="stream-bitrate"):
        StreamSink("udp://127.0.0.1:9", bitrate="abc")


def test_frames_are_counted_written_only_when_the_stream_took_them():
    """A TCP target takes the stream for a moment, then goes away for good:
    the frames after that are skipped, not written, and reported."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    received = {"bytes": 0}

    def take_a_little_then_go() -> None:
        server.settimeout(60)
        connection, _ = server.accept()
        connection.settimeout(30)
        while received["bytes"] < 2_000:
            data = connection.recv(65536)
            if not data:
                break
            received["bytes"] += len(data)
        # A reset, and nobody listening any more.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        connection.close()
        server.close()

    thread = threading.Thread(target=take_a_little_then_go, daemon=True)
    thread.start()
    frames = [square_frame(160, 120, [(40 + i, 60, 30)], seed=i) for i in range(90)]
    stream = StreamSink(f"tcp://127.0.0.1:{port}", bitrate="200k")
    pipeline = LivePipeline(
        ScriptedSource(frames, live=False), SquareDetector(), redaction=RedactionConfig(),
        config=LiveConfig(stats_interval=0), sinks=[stream],
    )
    stats = pipeline.run()
    thread.join(timeout=60)
    assert received["bytes"] >= 2_000
    counts = stats["sinks"]["stream"]
    assert counts["skipped"] > 0, counts
    assert counts["written"] + counts["skipped"] + counts["dropped"] == stats["frames_out"]
    assert counts["written"] < stats["frames_out"]
    assert counts["skipped"] == stream.skipped
    error = stats["sink_errors"]["stream"]
    assert f"{counts['skipped']} frames not sent" in error and str(port) in error
