"""Output paths, checked before any work starts.

One place decides whether a command's outputs may be written: no output may
be an input or another output (symlinks and hard links included), and every
output's directory must exist and be writable, with nothing in the way (a
directory under the output's name). Commands call :func:`check_paths` before
they open a source or decode a frame, so a bad output costs the user one
line at once, not a whole run and then the error.
"""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from livefilter.errors import ConfigError, OutputError

__all__ = ["check_distinct", "check_paths", "check_writable", "output_path", "same_file"]


def output_path(text: str) -> Path:
    """argparse type of an output file option: an empty path is refused.

    ``Path('')`` is ``.``, the current directory; no option means that.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file path, got an empty one")
    return Path(text)


def same_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` name one file: the same path once symlinks are
    resolved, or (when both exist) the same inode, which catches hard links
    and bind mounts too."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        first, second = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


Named = Mapping[str, Path | None] | Iterable[tuple[str, Path | None]]


def _named(paths: Named) -> list[tuple[str, Path]]:
    pairs = paths.items() if isinstance(paths, Mapping) else paths
    return [(name, Path(path)) for name, path in pairs if path is not None]


def check_distinct(inputs: Named, outputs: Named) -> None:
    """Refuse (:class:`ConfigError`, exit 2) an output that is one of the
    inputs or another output. Names are the options (``input``, ``-o``,
    ``--stats-json``, ...); ``None`` paths are left out."""
    given_inputs = _named(inputs)
    given_outputs = _named(outputs)
    for position, (name, path) in enumerate(given_outputs):
        for input_name, input_path in given_inputs:
            if same_file(path, input_path):
                raise ConfigError(
                    f"{name} {path}: is the {input_name} ({input_path}); "
                    "writing it would destroy the input"
                )
        for other_name, other_path in given_outputs[:position]:
            if same_file(path, other_path):
                raise ConfigError(
                    f"{name} {path}: is also the {other_name} output; "
                    "give each output its own file"
                )


def check_writable(name: str, path: Path, *, replaced: bool = True) -> None:
    """Refuse (:class:`OutputError`) an output that cannot be written: its
    directory missing, not a directory or not writable, or a directory (or,
    for a file that is written beside and renamed onto its name,
    ``replaced``, anything but a regular file) already under its name.

    ``os.access`` answers for the real user, and root too is refused on a
    read-only file system (EROFS)."""
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"{name} {path}: output directory {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"{name} {path}: output directory {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{name} {path}: output directory {parent} is not writable")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{name} {path}: cannot be checked ({exc.strerror})") from exc
    if stat.S_ISDIR(mode):
        raise OutputError(f"{name} {path}: is a directory; give a file name")
    if replaced and not stat.S_ISREG(mode):
        # The output is renamed onto its name: that would replace a device
        # node or a pipe (as root, /dev/null itself), not write into it.
        raise OutputError(f"{name} {path}: exists and is not a regular file")
    if not replaced and not os.access(path, os.W_OK):
        raise OutputError(f"{name} {path}: is not writable")


def check_paths(inputs: Mapping[str, Path | None], outputs: Mapping[str, Path | None], *,
                in_place: frozenset[str] = frozenset()) -> None:
    """:func:`check_distinct`, then :func:`check_writable` for every output;
    the outputs named in ``in_place`` are written directly (a recording),
    not beside and renamed."""
    check_distinct(inputs, outputs)
    for name, path in outputs.items():
        if path is not None:
            check_writable(name, Path(path), replaced=name not in in_place)
