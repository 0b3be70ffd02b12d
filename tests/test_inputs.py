"""Inputs (issue 16, items 10, 14 and 15): photo batches with unsupported or
clashing inputs, sources that are directories, pipes or silent servers, and
a finite file served over HTTP.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import cv2
import pytest
from cli_output import stderr_lines
from synthetic import face_scene, write_clip

from livefilter.errors import InputError
from livefilter.io.capture import FileSource, SourceConfig, StreamSource, open_source

FFMPEG = shutil.which("ffmpeg")
FAST = ("--quality", "single", "--detect-width", "160")



# ----------------------------------------------------------------- item 14
@pytest.fixture
def photo_dir(tmp_path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    face = face_scene(200, 160, 60, (100, 80))[0]
    cv2.imwrite(str(root / "a.jpg"), face)
    cv2.imwrite(str(root / "c.png"), face)
    # A real GIF (Pillow reads it; `image` does not write GIF).
    from PIL import Image

    Image.fromarray(face[:, :, ::-1]).save(root / "b.gif")
    (root / "x.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    return root


def test_an_unsupported_photo_does_not_end_the_batch(photo_dir, tmp_path, cli):
    out = tmp_path / "out"
    out.mkdir()
    result = cli("image", photo_dir / "a.jpg", photo_dir / "b.gif", photo_dir / "x.heic",
                 photo_dir / "c.png", "-o", out, "-q", *FAST)
    lines = stderr_lines(result)
    assert result.returncode == 1, result.stderr
    assert len(lines) == 2, result.stderr
    gif, heic = lines
    assert gif.startswith("livefilter: error: ") and str(photo_dir / "b.gif") in gif
    assert "GIF input is not supported" in gif and "output" not in gif
    assert "HEIC input is not supported" in heic and str(photo_dir / "x.heic") in heic
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "c.png"]


def test_two_photos_with_one_name_are_refused_before_any_is_written(photo_dir, tmp_path, cli):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copyfile(photo_dir / "c.png", other / "a.jpg")  # same name, other photo
    out = tmp_path / "out"
    out.mkdir()
    result = cli("image", photo_dir / "a.jpg", other / "a.jpg", "-o", out, "-q", *FAST)
    lines = stderr_lines(result)
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "a.jpg" in lines[0] and "both" in lines[0]
    assert list(out.iterdir()) == []
    # The same photo named twice is no clash.
    result = cli("image", photo_dir / "a.jpg", photo_dir / "a.jpg", "-o", out, "-q", *FAST)
    assert result.returncode == 0, result.stderr


def test_a_photo_is_never_written_over_itself_through_a_symlinked_dir(photo_dir, tmp_path,
                                                                      cli):
    link = tmp_path / "link"
    link.symlink_to(photo_dir)
    before = (photo_dir / "a.jpg").read_bytes()
    result = cli("image", photo_dir / "a.jpg", "-o", link, "-q", *FAST)
    assert result.returncode == 2 and len(stderr_lines(result)) == 1, result.stderr
    assert (photo_dir / "a.jpg").read_bytes() == before


# ----------------------------------------------------------------- item 15
def test_a_directory_as_source(tmp_path, cli):
    with pytest.raises(InputError, match="is a directory"):
        open_source(SourceConfig(source=str(tmp_path)))
    result = cli("run", "--source", tmp_path, "--null", "-q", *FAST)
    lines = stderr_lines(result)
    assert result.returncode == 1 and len(lines) == 1 and "is a directory" in lines[0]


def test_a_fifo_as_source_or_input(tmp_path, cli):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        open_source(SourceConfig(source=str(fifo)))
    result = cli("file", fifo, "-o", tmp_path / "out.mp4", "-q", *FAST)
    lines = stderr_lines(result)
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "not a regular file" in lines[0] and "empty" not in lines[0]


@contextlib.contextmanager
def _silent_server():
    """Accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        server.close()


def test_a_source_that_never_sends_says_so(cli):
    with _silent_server() as port:
        url = f"http://127.0.0.1:{port}/live"
        with pytest.raises(Exception, match=f"no data from {url} for 1 s"):
            open_source(SourceConfig(source=url, open_timeout=1.0))
        result = cli("run", "--source", url, "--null", "-q", *FAST, timeout=120)
    lines = stderr_lines(result)
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert f"no data from {url} for 10 s" in lines[0], lines[0]


# ----------------------------------------------------------------- item 10
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _NoLength(http.server.BaseHTTPRequestHandler):
    """Sends the file with no length and no seeking, as a live relay would."""

    protocol_version = "HTTP/1.0"
    root: Path

    def do_GET(self) -> None:
        data = (self.root / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def _http(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    write_clip(root / "moov-at-end.mp4", frames=30, fps=15, size=(160, 120), face_height=40)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(root / "moov-at-end.mp4"), "-c",
                    "copy", "-movflags", "+faststart", str(root / "clip.mp4")], check=True)
    return root


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg builds the clip")
def test_an_mp4_over_http_ends_like_a_file(served, tmp_path, cli):
    handler = functools.partial(_Quiet, directory=str(served))
    with _http(handler) as port:
        url = f"http://127.0.0.1:{port}/clip.mp4"
        source = open_source(SourceConfig(source=url))
        try:
            assert isinstance(source, FileSource) and not source.live
        finally:
            source.close()
        stats = tmp_path / "stats.json"
        # Before: the end counted as a lost stream, reconnected forever.
        result = cli("run", "--source", url, "--null", "-q", "--stats-json", stats, *FAST,
                     timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads(stats.read_text())
    assert record["frames_out"] == 30 and record["stop_reason"] == "source ended"


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg builds the clip")
def test_a_live_stream_is_still_a_stream(served):
    # MPEG-TS pushed as it is made states no duration: read as live.
    port_socket = socket.socket()
    port_socket.bind(("127.0.0.1", 0))
    port = port_socket.getsockname()[1]
    port_socket.close()
    server = subprocess.Popen(
        [FFMPEG, "-v", "error", "-re", "-stream_loop", "-1", "-i", str(served / "clip.mp4"),
         "-c:v", "copy", "-an", "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/l.ts"])
    try:
        source = None
        for _ in range(50):
            try:
                source = open_source(SourceConfig(source=f"http://127.0.0.1:{port}/l.ts"))
                break
            except Exception:  # the server is not listening yet
                threading.Event().wait(0.2)
        assert source is not None, "the ffmpeg server never answered"
        try:
            assert isinstance(source, StreamSource)
        finally:
            source.close()
    finally:
        server.kill()
        server.wait()


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg builds the clip")
def test_an_unseekable_mp4_over_http_says_what_it_needs(served, cli):
    handler = type("Handler", (_NoLength,), {"root": served})
    with _http(handler) as port:
        url = f"http://127.0.0.1:{port}/moov-at-end.mp4"
        result = cli("run", "--source", url, "--null", "-q", *FAST, timeout=300)
    lines = stderr_lines(result)
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "faststart" in lines[0] and "seeking" in lines[0], lines[0]
