"""Outputs (issue 16, items 1, 12 and 13): no output may be an input or
another output, every output path is checked before any frame is decoded,
and an error is the only line left on the terminal (no progress bar above
it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CliResult
from synthetic import write_clip

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg (the CLI) builds the fixtures")

FAST = ("--quality", "single", "--detect-width", "160")


def screen_lines(stderr: str) -> list[str]:
    """What a terminal shows of ``stderr``: each line as its last carriage
    return left it (a progress bar redraws itself with ``\\r``), blank lines
    dropped."""
    assert "Traceback" not in stderr, stderr
    shown = [line.rsplit("\r", 1)[-1] for line in stderr.split("\n")]
    return [line for line in shown if line.strip()]


def raw_cli(*args: str | Path) -> CliResult:
    """``livefilter ARGS`` with stderr as written: text mode would turn the
    bar's carriage returns into newlines."""
    process = subprocess.run([sys.executable, "-m", "livefilter", *map(str, args)],
                             capture_output=True, timeout=600, check=False)
    return CliResult(process.returncode, process.stdout.decode(),
                     process.stderr.decode("utf-8", "replace"))


def one_error(result, code: int) -> str:
    lines = screen_lines(result.stderr)
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("livefilter: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("outputs") / "clip.mp4"
    write_clip(path, frames=15, fps=15, size=(160, 120), face_height=40)
    return path


@pytest.fixture
def source(clip, tmp_path) -> Path:
    copy = tmp_path / "source.mp4"
    shutil.copyfile(clip, copy)
    return copy


@pytest.fixture(scope="module")
def cut_matroska(tmp_path_factory, clip) -> Path:
    """Damage that is only found after the last frame."""
    root = tmp_path_factory.mktemp("cut")
    whole = root / "whole.mkv"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(clip), "-c", "copy", str(whole)],
                   check=True)
    data = whole.read_bytes()
    cut = root / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])
    return cut


# ------------------------------------------------------------------ item 1
def test_run_refuses_to_record_over_its_source(source, cli):
    before = source.read_bytes()
    result = cli("run", "--source", source, "--record", source, "-q", *FAST)
    line = one_error(result, 2)
    assert "--record" in line and "--source" in line
    assert source.read_bytes() == before


def test_run_refuses_a_symlink_to_its_source(source, tmp_path, cli):
    link = tmp_path / "link.mkv"
    link.symlink_to(source)
    before = source.read_bytes()
    one_error(cli("run", "--source", source, "--record", link, "-q", *FAST), 2)
    one_error(cli("run", "--source", link, "--stats-json", source, "--null", "-q", *FAST), 2)
    assert source.read_bytes() == before


@pytest.mark.parametrize("option", ["--regions-json", "--stats-json"])
def test_file_refuses_json_over_its_input(source, tmp_path, cli, option):
    before = source.read_bytes()
    result = cli("file", source, "-o", tmp_path / "out.mp4", option, source, "-q", *FAST)
    assert option in one_error(result, 2)
    assert source.read_bytes() == before
    assert not (tmp_path / "out.mp4").exists()


def test_file_refuses_stats_over_its_output_and_a_hard_link_to_its_input(source, tmp_path,
                                                                        cli):
    out = tmp_path / "out.mp4"
    line = one_error(cli("file", source, "-o", out, "--stats-json", out, "-q", *FAST), 2)
    assert "--stats-json" in line and "-o" in line
    hard = tmp_path / "hard.mp4"
    os.link(source, hard)
    before = source.read_bytes()
    one_error(cli("file", source, "-o", hard, "-q", *FAST), 2)
    one_error(cli("file", source, "-o", out, "--regions-json", hard, "-q", *FAST), 2)
    assert source.read_bytes() == before
    assert not out.exists()


def test_run_refuses_two_outputs_on_one_file(source, tmp_path, cli):
    stats = tmp_path / "same.json"
    result = cli("run", "--source", source, "--null", "--stats-json", stats,
                 "--regions-json", stats, "-q", *FAST)
    assert "--stats-json" in one_error(result, 2)
    assert not stats.exists()


# ----------------------------------------------------------------- item 12
def test_empty_stats_path_is_refused_at_parse_time(source, tmp_path, cli):
    for command in (["file", source, "-o", tmp_path / "out.mp4"],
                    ["run", "--source", source, "--null"]):
        line = one_error(cli(*command, "--stats-json", "", "-q", *FAST), 2)
        assert "--stats-json" in line
    assert list(tmp_path.glob("*.mp4")) == [tmp_path / "source.mp4"]


@pytest.mark.parametrize("problem", ["missing dir", "is a directory", "parent is a file"])
def test_output_paths_are_checked_before_decoding(cut_matroska, tmp_path, cli, problem):
    # The input is damaged, which is found only after its last frame: an
    # error about the output path proves it was checked before decoding.
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    (tmp_path / "a-dir").mkdir()
    bad = {"missing dir": tmp_path / "missing" / "s.json",
           "is a directory": tmp_path / "a-dir",
           "parent is a file": blocker / "s.json"}[problem]
    expected = {"missing dir": "does not exist", "is a directory": "is a directory",
                "parent is a file": "is not a directory"}[problem]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for option in ("--stats-json", "--regions-json"):
        result = cli("file", cut_matroska, "-o", out_dir / "out.mp4", option, bad, *FAST)
        line = one_error(result, 1)
        assert option in line and expected in line, line
        result = cli("run", "--source", cut_matroska, "--null", option, bad, "-q", *FAST)
        assert expected in one_error(result, 1)
    result = cli("run", "--source", cut_matroska, "--record", bad.with_suffix(".mkv")
                 if problem != "is a directory" else bad, "-q", *FAST)
    assert "--record" in one_error(result, 1)
    assert list(out_dir.iterdir()) == []


@contextlib.contextmanager
def _mounted_tmpfs(path: Path, options: str):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


@pytest.mark.skipif(shutil.which("mount") is None, reason="needs mount")
def test_read_only_output_dir_is_one_line_before_any_work(source, tmp_path, cli):
    # Root ignores file permissions but not a read-only file system.
    with _mounted_tmpfs(tmp_path / "ro", "size=64k,ro") as read_only:
        for command in (["run", "--source", source, "--record", read_only / "r.mkv"],
                        ["file", source, "-o", read_only / "out.mp4"],
                        ["file", source, "-o", tmp_path / "out.mp4",
                         "--stats-json", read_only / "s.json"]):
            line = one_error(cli(*command, *FAST), 1)
            assert "not writable" in line, line
        assert list(read_only.iterdir()) == []


# ----------------------------------------------------------------- item 13
def test_no_progress_bar_left_above_an_error_found_at_the_end(cut_matroska, tmp_path, cli):
    # Without -q: the bar is drawn during the run, then wiped for the error.
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = raw_cli("file", cut_matroska, "-o", out_dir / "out.mp4", *FAST)
    assert "truncated" in one_error(result, 1)
    assert "%|" in result.stderr, "the bar was never drawn: the test shows nothing"
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("output", ["out.avi", "missing/out.mp4"])
def test_no_progress_bar_before_an_output_error(source, tmp_path, cli, output):
    result = cli("file", source, "-o", tmp_path / output, *FAST)
    one_error(result, 2 if output.endswith(".avi") else 1)
    assert "%|" not in result.stderr, result.stderr


def test_flac_into_mov_is_refused_before_the_run(source, tmp_path, cli):
    flac = tmp_path / "flac.mkv"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(source), "-c:v", "copy", "-c:a",
                    "flac", str(flac)], check=True)
    result = cli("file", flac, "-o", tmp_path / "out.mov", *FAST)
    line = one_error(result, 1)
    assert "flac" in line and ".mkv" in line, line
    assert "%|" not in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.mov")) and not list(tmp_path.glob(".*part"))


def test_full_disk_while_recording_is_one_line(source, tmp_path, cli):
    # /dev/full fails every write with ENOSPC, as a full disk does.
    full = tmp_path / "full.mkv"
    full.symlink_to("/dev/full")
    result = cli("run", "--source", source, "--record", full, "-q", *FAST)
    line = one_error(result, 1)
    assert "No space left on device" in line, line


@pytest.mark.skipif(shutil.which("mount") is None, reason="needs mount")
def test_full_disk_while_writing_a_file_is_one_line_and_no_part(tmp_path):
    big = tmp_path / "big.mp4"
    write_clip(big, frames=60, fps=30, size=(320, 240), face_height=60)
    with _mounted_tmpfs(tmp_path / "small", "size=24k") as small:
        result = raw_cli("file", big, "-o", small / "out.mp4", "--crf", "0", *FAST)
        line = one_error(result, 1)
        assert "No space left on device" in line, line
        assert list(small.iterdir()) == []
