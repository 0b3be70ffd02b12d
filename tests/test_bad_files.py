"""Bad and unusual input files (issue 7, item 4): `livefilter file` and, where
it applies, `livefilter image` / `livefilter detect`.

Every case ends one of two ways, both checked here:

* processed correctly: the output decodes, keeps the frame count (except as
  noted), the timestamps and duration, the audio when there is some, and
  shows no face where the source had one;
* refused: exactly one line ``livefilter: error: ...`` on stderr, exit
  status 1, no traceback, and nothing in the output directory (neither the
  output nor a hidden ``.*.part`` file).

What was chosen, case by case:

* truncated MP4, index at the end (moov missing): refused, the message names
  the missing index.
* truncated MP4, index at the front ("faststart"; opens fine, then the data
  stops): refused before any work, from the index pointing past the end of
  the file. Silently writing the first 40% of a video is a lost recording.
  The message says how to keep the part that is there (``--allow-damaged``,
  or re-mux with ffmpeg).
* truncated Matroska (its header states the duration): refused after the
  last packet, when the packets stop short of that duration.
* corrupt in the middle: refused (fewer frames than the index declares: a
  short result is never success), unless ``--allow-damaged``: then the
  packets the decoder rejects are skipped with one warning naming the
  counts; every other frame keeps its own timestamp, so duration, audio and
  sync are kept and the output has that many frames fewer (the count is in
  ``--stats-json`` as ``decode_errors`` and ``damage``). More damaged files:
  tests/test_damaged.py.
* zero-length, text, a PNG renamed .mp4, audio only (with or without cover
  art): refused. (Zero-length and text are also in test_cli.py.)
* no audio, variable frame rate, rotated 270 degrees, 10-bit, odd size, 4K,
  100 faces in a frame: processed. Odd sizes cannot be H.264 4:2:0, so the
  output is one column/row larger, filled with a copy of the (already
  hidden) edge pixels.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from cli_output import stderr_lines
from synthetic import ASTRONAUT_FACE_XYXY, astronaut_bgr, face_scene, write_clip

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg (the CLI) builds the fixtures")

# A face counts as visible at this score; the fixtures' faces score far above.
VISIBLE_SCORE = 0.5


# ------------------------------------------------------------------ helpers
def _ffmpeg(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *map(str, args)],
                   check=True)


def _encode(path: Path, images: list[np.ndarray], pts_ms: list[int], *,
            pix_fmt: str = "yuv420p") -> None:
    """H.264 at millisecond timestamps (so any frame timing can be written)."""
    height, width = images[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for image, pts in zip(images, pts_ms, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _add_audio(video: Path, out: Path, seconds: float) -> Path:
    """Mux a sine tone beside ``video`` (copied as is, timestamps kept)."""
    _ffmpeg("-i", video, "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "64k", out)
    video.unlink()
    return out


def _moving_face(width: int, height: int, frames: int, face_height: int,
                 at: tuple[float, float] = (0.35, 0.5)) -> list[np.ndarray]:
    return [face_scene(width, height, face_height,
                       (width * (at[0] + 0.15 * i / max(1, frames - 1)), height * at[1]))[0]
            for i in range(frames)]


def _summary(path: Path) -> dict[str, object]:
    """Decode everything: frames (BGR), their times, audio packets, sizes."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames, times, audio_packets, rotations = [], [], 0, set()
        for packet in container.demux():
            if packet.stream.type == "audio":
                audio_packets += bool(packet.size)
            elif packet.stream.type == "video":
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    continue  # damaged fixtures: count what decodes
                for frame in decoded:
                    frames.append(frame.to_ndarray(format="bgr24"))
                    times.append(float(frame.pts * frame.time_base))
                    rotations.add(round(frame.rotation or 0) % 360)
        order = np.argsort(times)
        return {
            "frames": [frames[i] for i in order],
            "times": [times[i] for i in order],
            "audio_packets": audio_packets,
            "audio_codecs": [s.codec_context.name for s in container.streams.audio],
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "pix_fmt": video.codec_context.pix_fmt,
            "rotations": rotations,
            "duration": container.duration / av.time_base if container.duration else 0.0,
        }


def _visible_faces(detector, image: np.ndarray) -> int:
    return int((detector.detect(image).scores >= VISIBLE_SCORE).sum())



def _assert_refused(result, out_dir: Path, expected: str) -> str:
    lines = stderr_lines(result)
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("livefilter: error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert sorted(p.name for p in out_dir.iterdir()) == [], "an output or part file was left"
    return lines[0]


def _run_file(cli, source: Path, out_dir: Path, *extra: str | Path):
    """``livefilter file SOURCE -o OUT_DIR/out.mp4`` with stats; the JSON goes
    beside the output dir so the dir holds only what the command wrote."""
    out_dir.mkdir(exist_ok=True)
    stats = out_dir.parent / f"{out_dir.name}-stats.json"
    result = cli("file", source, "-o", out_dir / "out.mp4", "--stats-json", stats, *extra)
    return result, stats


def _assert_processed(result, out_dir: Path) -> Path:
    lines = stderr_lines(result)
    assert result.returncode == 0, result.stderr
    assert not any(line.startswith("livefilter: error") for line in lines), result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["out.mp4"], "a part file was left"
    return out_dir / "out.mp4"


def _mdat_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the payload of the top-level ``mdat`` box of an MP4."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8:offset + 16])[0], 16
        if kind == b"mdat":
            return offset + header, offset + size
        offset += size
    raise ValueError("no mdat box")


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width x height`` grey pixels (and no data):
    enough for Pillow's size check, with nothing to allocate."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def _tiled_faces(width: int, height: int, shift: int = 0) -> np.ndarray:
    """The astronaut's face tiled 10 x 10 over the frame: 100 faces."""
    source = astronaut_bgr()
    x1, y1, x2, y2 = ASTRONAUT_FACE_XYXY
    tile_w, tile_h = width // 10, height // 10
    crop_h = (y2 - y1) / 0.6  # the face is 60% of the tile's height
    crop_w = crop_h * tile_w / tile_h
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    crop = source[max(0, int(cy - crop_h / 2)):int(cy + crop_h / 2),
                  max(0, int(cx - crop_w / 2)):int(cx + crop_w / 2)]
    tile = cv2.resize(crop, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
    grid = np.tile(tile, (10, 10, 1))
    return np.ascontiguousarray(np.roll(grid, shift, axis=1))


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """The small video fixtures, built once (a few seconds in all)."""
    root = tmp_path_factory.mktemp("bad-files")
    made: dict[str, Path] = {}

    base = root / "base.mp4"  # 20 frames, 10 fps, AAC; index (moov) at the end
    write_clip(base, frames=20, fps=10, audio=True)
    made["base"] = base
    faststart = root / "faststart.mp4"
    _ffmpeg("-i", base, "-c", "copy", "-movflags", "+faststart", faststart)
    matroska = root / "base.mkv"
    _ffmpeg("-i", base, "-c", "copy", matroska)

    data = base.read_bytes()
    made["truncated_moov_at_end"] = root / "cut-moov-at-end.mp4"
    made["truncated_moov_at_end"].write_bytes(data[: len(data) // 2])
    fast = faststart.read_bytes()
    made["truncated_faststart"] = root / "cut-faststart.mp4"
    made["truncated_faststart"].write_bytes(fast[: len(fast) * 6 // 10])
    mkv = matroska.read_bytes()
    made["truncated_matroska"] = root / "cut.mkv"
    made["truncated_matroska"].write_bytes(mkv[: len(mkv) * 6 // 10])

    start, end = _mdat_span(data)
    damaged = bytearray(data)
    middle = (start + end) // 2
    damaged[middle:middle + 2000] = np.random.default_rng(7).integers(
        0, 256, 2000, dtype=np.uint8).tobytes()
    made["corrupt_middle"] = root / "corrupt-middle.mp4"
    made["corrupt_middle"].write_bytes(bytes(damaged))

    made["png_named_mp4"] = root / "photo.mp4"
    cv2.imwrite(str(root / "photo.png"), face_scene(160, 120, 60, (80, 60))[0])
    (root / "photo.png").rename(made["png_named_mp4"])
    made["audio_only"] = root / "audio-only.mp4"
    _ffmpeg("-i", base, "-vn", "-c", "copy", made["audio_only"])
    made["audio_with_cover_art"] = root / "song.m4a"
    _ffmpeg("-i", made["audio_only"], "-i", made["png_named_mp4"], "-map", "0", "-map", "1",
            "-c", "copy", "-disposition:v", "attached_pic", "-f", "mp4",
            made["audio_with_cover_art"])
    made["no_audio"] = root / "no-audio.mp4"
    _ffmpeg("-i", base, "-an", "-c", "copy", made["no_audio"])
    return made


# ------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("case", "expected", "quiet"),
    [
        ("truncated_moov_at_end", "moov", False),
        ("truncated_faststart", "truncated", False),
        # Seen only after the last packet, so the progress bar has been drawn.
        ("truncated_matroska", "truncated", True),
        ("png_named_mp4", "still image (PNG)", False),
        ("audio_only", "audio only", False),
        ("audio_with_cover_art", "audio only", False),
    ],
)
def test_refused_with_one_line_and_no_output(clips, tmp_path, cli, case, expected, quiet):
    out_dir = tmp_path / "out"
    result, stats = _run_file(cli, clips[case], out_dir, *(["-q"] if quiet else []))
    line = _assert_refused(result, out_dir, expected)
    assert clips[case].name in line
    assert not stats.exists()


def test_truncated_file_is_kept_with_allow_damaged_as_the_error_says(clips, tmp_path, cli):
    # The refusal's advice works: --allow-damaged anonymizes what is there,
    # with one warning naming the counts, exit 0.
    out_dir = tmp_path / "out"
    result, stats = _run_file(cli, clips["truncated_faststart"], out_dir, "-q",
                              "--allow-damaged")
    out = _assert_processed(result, out_dir)
    lines = stderr_lines(result)
    assert len(lines) == 1 and "damaged" in lines[0] and "truncated" in lines[0], result.stderr
    frames = json.loads(stats.read_text())["frames"]
    assert 0 < frames < 20
    assert "of 20 video frames" in lines[0]
    assert len(_summary(out)["frames"]) == frames


# ------------------------------------------------------------- damaged
def test_corrupt_middle_is_refused_without_allow_damaged(clips, tmp_path, cli):
    # Fewer frames than the index declares: a short result is never success.
    out_dir = tmp_path / "out"
    result, stats = _run_file(cli, clips["corrupt_middle"], out_dir, "-q")
    line = _assert_refused(result, out_dir, "of 20 video frames")
    assert "damaged" in line and "--allow-damaged" in line
    assert not stats.exists()


def test_corrupt_middle_skips_damaged_frames_with_one_warning(clips, tmp_path, cli,
                                                              centerface):
    source = clips["corrupt_middle"]
    out_dir = tmp_path / "out"
    result, stats_path = _run_file(cli, source, out_dir, "-q", "--allow-damaged")
    out = _assert_processed(result, out_dir)
    lines = stderr_lines(result)
    assert len(lines) == 1 and "damaged" in lines[0], result.stderr
    stats = json.loads(stats_path.read_text())
    assert f"{stats['frames']} of 20 video frames" in lines[0]
    assert stats["damage"] == [f"{stats['frames']} of 20 video frames"]
    src, dst = _summary(source), _summary(out)
    assert stats["decode_errors"] >= 1
    # What a player (single-threaded ffmpeg) can decode is what is written.
    assert len(dst["frames"]) == stats["frames"] == len(src["frames"])
    assert stats["frames"] == 20 - stats["decode_errors"]
    # Every surviving frame keeps its time; audio and duration are whole.
    assert dst["times"] == pytest.approx(src["times"], abs=0.002)
    assert dst["audio_packets"] == src["audio_packets"] > 0
    assert dst["duration"] == pytest.approx(src["duration"], abs=0.11)
    assert sum(_visible_faces(centerface, f) for f in dst["frames"]) == 0


def test_video_without_audio(clips, tmp_path, cli):
    out_dir = tmp_path / "out"
    result, _ = _run_file(cli, clips["no_audio"], out_dir, "-q")
    dst = _summary(_assert_processed(result, out_dir))
    assert dst["audio_codecs"] == [] and len(dst["frames"]) == 20
    assert dst["duration"] == pytest.approx(2.0, abs=0.11)


def test_variable_frame_rate_keeps_every_timestamp(tmp_path, cli, centerface):
    # A 30 fps run, a 10 fps run, a 0.3 s gap, a single 16 ms step.
    pts_ms = [0, 33, 67, 100, 133, 167, 200, 300, 400, 500, 516, 550, 850, 950, 1000]
    video = tmp_path / "v.mp4"
    _encode(video, _moving_face(320, 240, len(pts_ms), 80), pts_ms)
    source = _add_audio(video, tmp_path / "vfr.mp4", 1.05)
    src = _summary(source)
    assert src["times"] == pytest.approx([t / 1000 for t in pts_ms], abs=0.002)
    out_dir = tmp_path / "out"
    result, _ = _run_file(cli, source, out_dir, "-q")
    dst = _summary(_assert_processed(result, out_dir))
    assert dst["times"] == pytest.approx(src["times"], abs=0.002)
    assert dst["audio_packets"] == src["audio_packets"] > 0
    # The last frame's own length is not carried over: within one frame.
    assert dst["duration"] == pytest.approx(src["duration"], abs=0.1)
    assert sum(_visible_faces(centerface, f) for f in dst["frames"]) == 0


def test_rotated_270_phone_video_is_turned_upright(tmp_path, cli, centerface):
    source = tmp_path / "portrait.mp4"
    write_clip(source, frames=10, fps=10, audio=True, rotation=270)
    src = _summary(source)
    assert src["rotations"] in ({90}, {270}), "fixture has no display matrix"
    upright = cv2.rotate(src["frames"][0], cv2.ROTATE_90_CLOCKWISE
                         if src["rotations"] == {270} else cv2.ROTATE_90_COUNTERCLOCKWISE)
    assert _visible_faces(centerface, upright) == 1, "fixture face not detectable upright"
    out_dir = tmp_path / "out"
    result, _ = _run_file(cli, source, out_dir, "-q")
    dst = _summary(_assert_processed(result, out_dir))
    assert (dst["width"], dst["height"]) == (240, 320) and dst["rotations"] == {0}
    assert len(dst["frames"]) == 10 and dst["audio_packets"] == src["audio_packets"] > 0
    assert sum(_visible_faces(centerface, f) for f in dst["frames"]) == 0
    # Upright, not mirrored or turned the wrong way: away from the face the
    # output matches what a player shows.
    difference = np.abs(dst["frames"][0].astype(int) - upright.astype(int)).mean(axis=2)
    assert np.median(difference) < 6


def test_ten_bit_video_is_converted_not_garbled(tmp_path, cli, centerface):
    images = _moving_face(320, 240, 10, 80)
    video = tmp_path / "v.mp4"
    _encode(video, images, [i * 100 for i in range(10)], pix_fmt="yuv420p10le")
    source = _add_audio(video, tmp_path / "ten-bit.mp4", 1.0)
    src = _summary(source)
    assert src["pix_fmt"] == "yuv420p10le"
    out_dir = tmp_path / "out"
    result, _ = _run_file(cli, source, out_dir, "-q")
    dst = _summary(_assert_processed(result, out_dir))
    assert dst["pix_fmt"] == "yuv420p" and len(dst["frames"]) == 10
    assert dst["audio_packets"] == src["audio_packets"] > 0
    assert sum(_visible_faces(centerface, f) for f in dst["frames"]) == 0
    # Colours survive the 10 -> 8 bit conversion: compared with the 8-bit
    # originals, two lossy encodes cost a few levels; reading 10-bit samples
    # as 8-bit, or a wrong range, costs tens.
    difference = np.abs(dst["frames"][0].astype(int) - images[0].astype(int)).mean(axis=2)
    assert np.median(difference) < 8


def test_odd_sized_frames_pad_with_hidden_pixels_only(tmp_path, cli, centerface):
    # 321x239, the face near the right and bottom edges, so the padding
    # column and row run past the hidden region.
    images = _moving_face(321, 239, 10, 90, at=(0.78, 0.72))
    video = tmp_path / "v.mp4"
    _encode(video, images, [i * 100 for i in range(10)], pix_fmt="yuv444p")
    source = _add_audio(video, tmp_path / "odd.mp4", 1.0)
    assert _visible_faces(centerface, images[0]) == 1, "fixture face not detectable"
    out_dir = tmp_path / "out"
    result, _ = _run_file(cli, source, out_dir, "-q")
    dst = _summary(_assert_processed(result, out_dir))
    assert (dst["width"], dst["height"]) == (322, 240) and len(dst["frames"]) == 10
    assert dst["audio_packets"] > 0
    for frame in dst["frames"]:
        assert _visible_faces(centerface, frame) == 0
        # The extra column and row repeat the hidden edge, nothing else.
        column = np.abs(frame[:, 321].astype(int) - frame[:, 320].astype(int)).mean()
        row = np.abs(frame[239].astype(int) - frame[238].astype(int)).mean()
        assert column < 4 and row < 4


@pytest.fixture(scope="module")
def four_k_crowd(tmp_path_factory) -> Path:
    """One second of 3840x2160 at 4 fps, 100 faces per frame, with audio."""
    root = tmp_path_factory.mktemp("4k")
    images = [_tiled_faces(3840, 2160, shift=8 * i) for i in range(4)]
    video = root / "v.mp4"
    _encode(video, images, [0, 250, 500, 750])
    return _add_audio(video, root / "crowd-4k.mp4", 1.0)


def test_4k_clip_with_100_faces(four_k_crowd, tmp_path, cli, centerface):
    out_dir = tmp_path / "out"
    regions_json = tmp_path / "regions.json"
    result, _ = _run_file(cli, four_k_crowd, out_dir, "-q", "--regions-json", regions_json)
    out = _assert_processed(result, out_dir)
    dst = _summary(out)
    assert (dst["width"], dst["height"]) == (3840, 2160) and len(dst["frames"]) == 4
    assert dst["audio_packets"] > 0
    assert dst["duration"] == pytest.approx(1.0, abs=0.11)
    regions = json.loads(regions_json.read_text())
    counts = [len(frame["regions"]) for frame in regions["frames"]]
    assert len(counts) == 4 and min(counts) >= 90, f"most faces not found: {counts}"
    # Checked at half size (faces ~65 px tall, still easily found) for speed.
    half = cv2.resize(dst["frames"][1], (1920, 1080), interpolation=cv2.INTER_AREA)
    assert _visible_faces(centerface, half) <= 2


# -------------------------------------------------------------------- photos
@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("photos")
    made: dict[str, Path] = {}
    face = face_scene(321, 239, 90, (160, 120))[0]
    made["good"] = root / "good.jpg"
    cv2.imwrite(str(made["good"]), face)
    made["empty"] = root / "empty.jpg"
    made["empty"].touch()
    made["text"] = root / "notes.jpg"
    made["text"].write_text("not a photo\n")
    data = made["good"].read_bytes()
    made["truncated"] = root / "cut.jpg"
    made["truncated"].write_bytes(data[: len(data) // 2])
    made["huge"] = root / "huge.png"  # 200 megapixels claimed: Pillow refuses
    _png_header_only(made["huge"], 20000, 10000)
    made["png_named_jpg"] = root / "really-a-png.jpg"
    cv2.imwrite(str(root / "tmp.png"), face)
    (root / "tmp.png").rename(made["png_named_jpg"])
    made["odd"] = root / "odd.png"
    cv2.imwrite(str(made["odd"]), face)
    made["grey16"] = root / "grey16.png"
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    cv2.imwrite(str(made["grey16"]), grey)
    made["crowd"] = root / "crowd.png"
    cv2.imwrite(str(made["crowd"]), _tiled_faces(1920, 1080))
    return made


def test_bad_photos_each_get_one_line_and_the_good_one_is_written(photos, tmp_path, cli):
    bad = ["empty", "text", "truncated", "huge"]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli("image", photos["good"], *(photos[name] for name in bad), "-o", out_dir, "-q")
    assert result.returncode == 1
    lines = stderr_lines(result)
    assert len(lines) == len(bad), result.stderr
    for name, line in zip(bad, lines, strict=True):
        assert line.startswith("livefilter: error: ") and photos[name].name in line, line
    assert "too large" in lines[-1]
    assert sorted(p.name for p in out_dir.iterdir()) == ["good.jpg"]

    result = cli("detect", *(photos[name] for name in bad), "--json")
    assert result.returncode == 1 and result.stdout == ""
    assert len(stderr_lines(result)) == len(bad), result.stderr


def test_unusual_photos_are_processed(photos, tmp_path, cli, centerface):
    names = ["png_named_jpg", "odd", "grey16"]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli("image", *(photos[name] for name in names), "-o", out_dir, "-q")
    assert result.returncode == 0, result.stderr
    assert stderr_lines(result) == []
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(photos[n].name for n in names)
    source = cv2.imread(str(photos["odd"]))
    for name in names:
        written = cv2.imread(str(out_dir / photos[name].name))
        assert written.shape == (239, 321, 3)
        assert _visible_faces(centerface, written) == 0
        # Not blank: a 16-bit grey photo is scaled to 8 bits, not clipped white.
        assert abs(float(written.mean()) - float(source.mean())) < 25
    assert _visible_faces(centerface, source) == 1


def test_photo_with_100_faces(photos, tmp_path, cli, centerface):
    result = cli("detect", photos["crowd"], "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert len(record["faces"]) >= 90 and len(record["regions"]) == len(record["faces"])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli("image", photos["crowd"], "-o", out_dir, "-q")
    assert result.returncode == 0, result.stderr
    assert _visible_faces(centerface, cv2.imread(str(out_dir / "crowd.png"))) <= 2
