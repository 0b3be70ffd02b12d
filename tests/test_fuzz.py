"""Property-based tests of the config file and option parsing (issue 7, item 6).

Any config file and any argv give a result or one clear error: exit status 0,
1 or 2, never 70 (internal error), never a traceback, at most one error line.

``livefilter.cli.main`` runs in-process (a subprocess per example would take
minutes). It never gets to real work: every input file named is missing, and
the two entry points that would do work are replaced by a stub that stops
the command cleanly (detector construction, and the model download). So the
parsing, the config file and every config object's validation run, and
nothing is loaded, opened or written. The working directory is an empty
temporary one, checked to stay empty; sockets are blocked throughout.

Examples are derandomized (the same ones each run) so `make test` is stable;
``LIVEFILTER_FUZZ=explore`` draws new, more numerous ones.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import livefilter.detect
import livefilter.models
from livefilter import cli
from livefilter.errors import LivefilterError

settings.register_profile(
    "ci", max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore", max_examples=2000, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = "explore" if os.environ.get("LIVEFILTER_FUZZ") == "explore" else "ci"

MISSING = "/nonexistent-livefilter-fuzz/in.mp4"


class _StoppedBeforeWork(LivefilterError):
    """Raised by the stubs: the command parsed and validated everything."""

    exit_code = 0


def _no_work(*_args: object, **_kwargs: object) -> None:
    raise _StoppedBeforeWork("stopped before work (test stub)")


def _no_network(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("a network call was made while parsing options")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[Path]:
    """An empty cwd, no user config, no model cache, stubs and no sockets.

    Module-scoped by hand (hypothesis runs many examples per test function,
    so function-scoped fixtures such as ``monkeypatch`` do not fit).
    """
    root = tmp_path_factory.mktemp("fuzz")
    cwd = root / "cwd"
    cwd.mkdir()
    saved_env = {key: os.environ.get(key) for key in ("XDG_CONFIG_HOME", "LIVEFILTER_MODELS")}
    os.environ["XDG_CONFIG_HOME"] = str(root / "xdg")  # no user config file
    os.environ["LIVEFILTER_MODELS"] = str(root / "models")
    saved = [
        (livefilter.detect, "build_detector", livefilter.detect.build_detector),
        (livefilter.models, "fetch_model", livefilter.models.fetch_model),
        (socket.socket, "connect", socket.socket.connect),
        (socket.socket, "connect_ex", socket.socket.connect_ex),
        (socket, "getaddrinfo", socket.getaddrinfo),
    ]
    livefilter.detect.build_detector = _no_work
    livefilter.models.fetch_model = _no_work
    socket.socket.connect = _no_network
    socket.socket.connect_ex = _no_network
    socket.getaddrinfo = _no_network
    old_cwd = Path.cwd()
    os.chdir(cwd)
    try:
        yield root
    finally:
        os.chdir(old_cwd)
        for owner, name, value in saved:
            setattr(owner, name, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run(argv: list[str]) -> tuple[int, str, str]:
    """``cli.main(argv)`` with stdout and stderr captured; logging restored."""
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse's --help and --version
                code = exc.code if isinstance(exc.code, int) else 0
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return code, out.getvalue(), err.getvalue()


def _check(sandbox: Path, argv: list[str]) -> tuple[int, str]:
    code, _out, err = _run(argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code in (0, 1, 2), (code, err)
    if "--debug" in argv:
        return code, err  # --debug shows tracebacks on purpose
    assert "Traceback" not in err, err
    if code != 0:
        assert len(lines) == 1 and lines[0].startswith("livefilter: error: "), err
    else:
        assert all(line.startswith("livefilter") for line in lines), err
    left = sorted(p.name for p in (sandbox / "cwd").iterdir())
    assert left == [], f"files written while parsing: {left}"
    return code, err


# ------------------------------------------------------------------ values
# What a user might type, plus what breaks parsers: NaN, infinities, huge and
# negative numbers, empty strings, unicode, sizes, paths, URLs.
_SPECIAL = st.sampled_from([
    "nan", "NaN", "inf", "-inf", "1e309", "-1", "0", "1", "0.5", "2", "99", "1e-9",
    "9" * 40, "-" + "9" * 40, "", " ", "auto", "0x0", "1x1", "99999x99999", "640x480",
    "٣", "²x²", "blur", "box", "cascade", "x.mkv", "x.mp4", "x.avi", ".", "..", "/",
    MISSING, "rtsp://127.0.0.1:9/x", "udp://127.0.0.1:9", "/dev/video99", "--", "-",
    "--quiet", "-o", "é", "🙂", "a\tb", "true",
])
# Real argv strings cannot hold NUL (execve); everything else is fair.
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                max_size=12)
_VALUE = st.one_of(_SPECIAL, _TEXT, st.integers().map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr))

_NUMBER = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e309", "-1", "0", "1", "0.5", "9" * 40]),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_SIZE = st.one_of(st.sampled_from(["0x0", "1x1", "16x16", "99999x99999", "640x480", "²x²"]),
                  st.tuples(st.integers(-5, 10**5), st.integers(-5, 10**5))
                  .map(lambda wh: f"{wh[0]}x{wh[1]}"))
_PATH = st.one_of(
    st.sampled_from(["x.mkv", "x.mp4", "x.mov", "x.avi", "x.json", ".", "/", MISSING,
                     "/nonexistent-livefilter-fuzz/x.mkv", "rtsp://127.0.0.1:9/x",
                     "udp://127.0.0.1:9", "srt://127.0.0.1:9", "rtmp://127.0.0.1:9/x",
                     "/dev/video99", "0", "auto"]),
    _TEXT,
)

_PARSER, _COMMANDS = cli.build_parser()


def _options(command: str) -> list[argparse.Action]:
    return [action for action in _COMMANDS[command]._actions
            if action.option_strings and action.dest != "help"]


def _value_for(action: argparse.Action) -> st.SearchStrategy[str]:
    """Mostly plausible values of the option's own kind, so that most argv
    pass parsing and reach the config objects' validation; then specials
    (NaN, infinities, huge) and anything at all."""
    name = getattr(action.type, "__name__", "")
    if action.choices is not None:
        typical = st.sampled_from(sorted(map(str, action.choices)))
    elif name in ("int", "_positive_int"):
        typical = st.integers(-1, 100).map(str)
    elif name == "_detect_every":
        typical = st.one_of(st.just("auto"), st.integers(0, 40).map(str))
    elif name in ("float", "_finite_float"):
        typical = st.floats(-1, 100).map(lambda value: f"{value:.3g}")
    elif name == "_size":
        typical = _SIZE
    else:
        typical = _PATH
    return st.integers(0, 9).flatmap(
        lambda pick: typical if pick < 7 else _NUMBER if pick < 9 else _VALUE)


# Arguments that keep a command from doing real work whatever else is given:
# a missing input (file), a missing source file (run), a missing photo.
_SAFE_ARGS = {
    "file": [MISSING, "-o", "out.mp4"],
    "image": [MISSING, "-o", "."],
    "batch": [MISSING, "-o", "batch-out"],
    "detect": [MISSING],
    "run": ["--source", MISSING, "--null"],
    "demo": ["-o", "demo-out"],
    "models": ["list"],
    "devices": [],
}


@st.composite
def _argv(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(_SAFE_ARGS)))
    tokens: list[str] = []
    options = _options(command)
    for _ in range(draw(st.integers(0, 5)) if options else 0):
        action = draw(st.sampled_from(options))
        tokens.append(draw(st.sampled_from(action.option_strings)))
        if action.nargs != 0 and draw(st.integers(0, 9)) > 0:
            tokens.append(draw(_value_for(action)))
    if draw(st.integers(0, 4)) == 0:  # a stray token somewhere
        tokens.insert(draw(st.integers(0, len(tokens))), draw(_VALUE))
    # The safe arguments go last: for options the last one wins.
    return [*draw(st.sampled_from([[], ["-v"], ["--debug"]])), command, *tokens,
            *_SAFE_ARGS[command]]


@settings(settings.get_profile(PROFILE))
@given(argv=_argv())
@example(argv=["run", "--record", "x.mkv", "--record-fps", "nan", "--source", MISSING,
               "--null"])
@example(argv=["detect", "--threshold", "nan", MISSING])
@example(argv=["file", MISSING, "-o", "out.mp4", "--hold", "inf"])
def test_any_argv_gives_a_result_or_one_clear_error(sandbox, argv):
    _code, err = _check(sandbox, argv)
    assert "internal error" not in err


@settings(settings.get_profile(PROFILE))
@given(argv=st.lists(_VALUE, max_size=6))
def test_any_token_list_gives_a_result_or_one_clear_error(sandbox, argv):
    _check(sandbox, argv)


# ------------------------------------------------------------------ config
_KEYS = sorted({
    name
    for parser in _COMMANDS.values()
    for action in parser._actions
    for option in action.option_strings
    if option.startswith("--") and option != "--help"
    for name in (option[2:], option[2:].replace("-", "_"))
})
_KEY = st.one_of(st.sampled_from(_KEYS), st.sampled_from(sorted(_COMMANDS)),
                 st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=10))
_SCALAR = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    _SPECIAL,
    st.dates(),
)
def _number_or_text(text: str) -> object:
    """A TOML value of the kind ``text`` spells: a number when it is one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


_SCALAR = st.one_of(_SCALAR, st.one_of(_NUMBER, _SIZE, _PATH).map(_number_or_text))
_VALUE_TREE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_KEY, inner, max_size=3)),
    max_leaves=8,
)
_DOCUMENT = st.dictionaries(_KEY, _VALUE_TREE, max_size=6)


def _toml_key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    return value.isoformat()  # a date: TOML has its own literal for it


def _toml(document: dict[str, object]) -> str:
    """A TOML document: plain keys first, then one ``[table]`` per dict."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in document.items()
             if not isinstance(v, dict)]
    for key, value in document.items():
        if isinstance(value, dict):
            lines.append(f"[{_toml_key(key)}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


@settings(settings.get_profile(PROFILE))
@given(document=_DOCUMENT, command=st.sampled_from(sorted(_SAFE_ARGS)))
@example(document={"run": {"vcam": True}}, command="run")
@example(document={"run": {"regions-json": "a\x00b.json"}}, command="run")
@example(document={"threshold": 10**400}, command="detect")
@example(document={"run": {"record": "x.mkv", "record-fps": float("nan")}}, command="run")
def test_any_config_document_gives_a_result_or_one_clear_error(sandbox, document, command):
    config = sandbox / "config.toml"
    config.write_text(_toml(document), encoding="utf-8")
    code, err = _check(sandbox, ["--config", str(config), command, *_SAFE_ARGS[command]])
    assert "internal error" not in err
    if code == 2:
        assert "config" in err or "option" in err or "expected" in err, err


@settings(settings.get_profile(PROFILE))
@given(raw=st.one_of(st.binary(max_size=64), st.text(max_size=64).map(
    lambda text: text.encode("utf-8", "surrogatepass"))))
@example(raw=b"\xff\xfe not utf-8")
@example(raw=b"[file]\ncrf = 1_000_000_000_000_000_000_000\n")
@example(raw=b"[[file]]\ncrf = 1\n")
def test_any_config_bytes_give_a_result_or_one_clear_error(sandbox, raw):
    config = sandbox / "config.toml"
    config.write_bytes(raw)
    _check(sandbox, ["--config", str(config), "file", *_SAFE_ARGS["file"]])


def test_vcam_true_in_the_config_means_the_first_virtual_camera(sandbox):
    config = sandbox / "vcam.toml"
    config.write_text("[run]\nvcam = true\n")
    argv = ["--config", str(config), "run", "--source", MISSING]
    args = cli._parse(argv)
    assert args.vcam == "auto"
    config.write_text("[run]\nvcam = false\n")
    assert cli._parse(argv).vcam is None


def test_the_stub_is_reached_by_a_valid_command(sandbox):
    # Guards the test itself: a valid argv must get as far as the stub,
    # else every example above could be failing early for a dull reason.
    code, err = _check(sandbox, ["detect", MISSING, "--threshold", "0.3"])
    assert code == 0 and "stopped before work" in err


def test_nul_in_a_config_value_is_refused_by_name(sandbox):
    # TOML can spell NUL; as a path it used to end in "internal error:
    # ValueError: embedded null byte" once the file was opened.
    config = sandbox / "nul.toml"
    config.write_text('[run]\nstats-json = "a\\u0000b.json"\n')
    code, err = _check(sandbox, ["--config", str(config), "run", "--source", MISSING, "--null"])
    assert code == 2 and "stats-json" in err and "NUL" in err
