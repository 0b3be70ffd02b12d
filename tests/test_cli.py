"""The command line: help, version, config file, and bad input.

Every bad input must give exactly one line on stderr, a non-zero exit and no
output file: never a traceback.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from cli_output import one_error_line
from synthetic import write_clip

from livefilter import __version__


def _no_outputs(directory: Path, before: set[str]) -> None:
    assert {p.name for p in directory.iterdir()} == before, "an output (or part file) was left"


def test_version_and_help(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"livefilter {__version__}"
    result = cli("--help")
    assert result.returncode == 0
    for command in ("file", "image", "detect", "models", "demo"):
        assert command in result.stdout
    result = cli("file", "--help")
    assert result.returncode == 0
    for option in ("--method", "--shape", "--mask-scale", "--detector", "--crf", "--regions-json"):
        assert option in result.stdout


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "small.mp4"
    write_clip(path, frames=10, fps=10, audio=True)
    return path


def _truncated(tmp_path: Path, clip: Path) -> Path:
    data = clip.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])  # moov atom at the end is cut off
    return path


def _text(tmp_path: Path, _clip: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n")
    return path


def _empty(tmp_path: Path, _clip: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.touch()
    return path


def _missing(tmp_path: Path, _clip: Path) -> Path:
    return tmp_path / "does-not-exist.mp4"


@pytest.mark.parametrize(
    ("make_input", "expected"),
    [
        (_missing, "no such file"),
        (_text, "not a readable video"),
        (_empty, "empty"),
        (_truncated, "not a readable video"),
    ],
)
def test_bad_video_input(tmp_path, small_clip, cli, make_input, expected):
    source = make_input(tmp_path, small_clip)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli("file", source, "-o", out_dir / "out.mp4", "-q")
    assert result.returncode != 0
    assert expected in one_error_line(result)
    _no_outputs(out_dir, set())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_dir_as_user(tmp_path, small_clip, cli):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = cli("file", small_clip, "-o", locked / "out.mp4", "-q")
    assert result.returncode != 0
    assert "not writable" in one_error_line(result)
    _no_outputs(locked, set())


def test_output_dir_that_cannot_be_written(tmp_path, small_clip, cli):
    # Works as root too: the "directory" is a file, so nothing can go in it.
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    result = cli("file", small_clip, "-o", blocker / "out.mp4", "-q")
    assert result.returncode != 0
    assert "output directory" in one_error_line(result)
    result = cli("file", small_clip, "-o", tmp_path / "missing-dir" / "out.mp4", "-q")
    assert result.returncode != 0
    assert "does not exist" in one_error_line(result)
    assert not (tmp_path / "missing-dir").exists()


def test_unwritable_dir_read_only_mount(tmp_path, small_clip, cli):
    # /proc is read-only for everyone, root included.
    result = cli("file", small_clip, "-o", "/proc/livefilter-out.mp4", "-q")
    assert result.returncode != 0
    one_error_line(result)
    assert not Path("/proc/livefilter-out.mp4").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["file", "in.mp4", "-o", "out.mp4", "--no-such-option"],
        ["file", "in.mp4"],
        ["file", "in.mp4", "-o", "out.mp4", "--method", "smudge"],
        ["file", "in.mp4", "-o", "out.mp4", "--crf", "abc"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_options(tmp_path, cli, args):
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    one_error_line(result)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--crf", "99"], "crf"),
        (["--mask-scale", "0.5"], "mask-scale"),
        (["--threshold", "1.5"], "threshold"),
        (["--detect-width", "5"], "detect-width"),
    ],
)
def test_out_of_range_options_name_the_option(tmp_path, small_clip, cli, args, expected):
    result = cli("file", small_clip, "-o", tmp_path / "out.mp4", *args)
    assert result.returncode == 2
    assert expected in one_error_line(result)
    assert not (tmp_path / "out.mp4").exists()


def test_unsupported_output_extension(tmp_path, small_clip, cli):
    result = cli("file", small_clip, "-o", tmp_path / "out.avi", "-q")
    assert result.returncode != 0
    assert ".avi" in one_error_line(result)
    assert not (tmp_path / "out.avi").exists()


def test_missing_model(tmp_path, small_clip, cli):
    env = {"LIVEFILTER_MODELS": str(tmp_path / "no-models")}
    result = cli("file", small_clip, "-o", tmp_path / "out.mp4", "--detector", "centerface",
                 env=env)
    assert result.returncode != 0
    line = one_error_line(result)
    assert "livefilter models fetch" in line
    assert not (tmp_path / "out.mp4").exists()


def test_auto_refuses_without_the_model_instead_of_falling_back(tmp_path, small_clip, cli):
    # The cascade finds a fraction of CenterFace's faces: running it silently
    # (or with a warning nobody reads) would publish faces.
    env = {"LIVEFILTER_MODELS": str(tmp_path / "no-models")}
    out = tmp_path / "out.mp4"
    result = cli("file", small_clip, "-o", out, "-q", env=env)
    assert result.returncode == 1, result.stderr
    line = one_error_line(result)
    assert "livefilter models fetch" in line
    assert not out.exists()


def test_cascade_runs_without_the_model_when_asked_for(tmp_path, small_clip, cli):
    env = {"LIVEFILTER_MODELS": str(tmp_path / "no-models")}
    out = tmp_path / "out.mp4"
    result = cli("file", small_clip, "-o", out, "-q", "--detector", "cascade", env=env)
    assert result.returncode == 0, result.stderr
    assert out.is_file()


def test_config_file_sets_options_and_command_line_wins(tmp_path, small_clip, cli):
    config = tmp_path / "livefilter.toml"
    config.write_text('method = "solid"\n[file]\ncrf = 30\nregions-json = "r.json"\n')
    out = tmp_path / "out.mp4"
    result = cli("--config", config, "file", small_clip, "-o", out, "-q", "--crf", "18",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r.json").is_file()  # from the config file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('metod = "blur"\n', "metod"),
        ('[file]\ncfr = 20\n', "cfr"),
        ('[file]\ncrf = "high"\n', "crf"),
        ('[file]\nquiet = "yes"\n', "quiet"),
        ('method = "smudge"\n', "method"),
        ('[nosuch]\nx = 1\n', "nosuch"),
        ("this is = not toml [", "TOML"),
    ],
)
def test_bad_config_file(tmp_path, small_clip, cli, text, expected):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = cli("--config", config, "file", small_clip, "-o", tmp_path / "out.mp4")
    assert result.returncode == 2
    assert expected in one_error_line(result)
    assert not (tmp_path / "out.mp4").exists()


def test_user_config_file_is_read(tmp_path, small_clip, cli):
    home = tmp_path / "xdg"
    (home / "livefilter").mkdir(parents=True)
    (home / "livefilter" / "config.toml").write_text('[file]\nstats-json = "s.json"\n')
    result = cli("file", small_clip, "-o", tmp_path / "out.mp4", "-q",
                 env={"XDG_CONFIG_HOME": str(home)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s.json").is_file()


def test_demo(tmp_path, cli):
    result = cli("demo", "-o", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert names == ["astronaut.mp4", "astronaut_anonymized.mp4", "before_after.png"]
    assert shutil.disk_usage(tmp_path).free > 0
