"""What a batch will read and where each output goes.

Every input argument (a file, a folder, or a glob's matches) lands under
the output directory by its own name: ``photos/`` becomes ``OUT/photos/``
with its tree below it, ``clip.mp4`` becomes ``OUT/clip.mp4``. Whatever
would make two outputs collide, or one input be processed twice, is refused
before anything is written, with one line naming both.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from livefilter.apps.photos import PHOTO_FORMATS
from livefilter.errors import ConfigError, InputError
from livefilter.io.media import OUTPUT_FORMATS

__all__ = ["RESERVED_NAMES", "VIDEO_EXTENSIONS", "Item", "plan_inputs"]

# Videos by extension; outputs keep their container when it takes H.264 and
# become MP4 otherwise (``clip.avi`` -> ``clip.avi.mp4``, so a ``clip.mp4``
# beside it cannot collide).
VIDEO_EXTENSIONS = frozenset({
    *OUTPUT_FORMATS, ".avi", ".webm", ".mts", ".m2ts", ".ts", ".3gp", ".mpg", ".mpeg",
    ".wmv", ".flv", ".ogv",
})
# The batch's own files in the output directory.
RESERVED_NAMES = frozenset({
    "livefilter-manifest.json", "livefilter-summary.json", "livefilter-summary.csv",
})


@dataclass(frozen=True)
class Item:
    """One input file: ``kind`` is ``photo``, ``video`` or ``other`` (skipped);
    ``output`` is relative to the output directory (POSIX separators)."""

    source: Path
    output: str
    kind: str


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in PHOTO_FORMATS:
        return "photo"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return "other"


def _output_name(rel: Path, kind: str) -> str:
    if kind == "video" and rel.suffix.lower() not in OUTPUT_FORMATS:
        rel = rel.with_name(rel.name + ".mp4")
    return rel.as_posix()


def _roots(argument: str) -> list[Path]:
    path = Path(argument)
    if path.exists():
        return [path]
    if glob.has_magic(argument):
        matches = sorted(glob.glob(argument, recursive=True))
        if not matches:
            raise InputError(f"{argument}: matches no file")
        return [Path(m) for m in matches]
    raise InputError(f"{argument}: no such file or folder")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plan_inputs(arguments: list[str], out_dir: Path) -> tuple[list[Item], list[str]]:
    """The batch's items, sorted by output path, and notes for the user
    (such as the output directory being left out of an input folder).

    Raises :class:`ConfigError` for an input inside the output directory,
    an input reached twice, or two inputs that would share an output.
    """
    out = Path(out_dir).resolve()
    notes: list[str] = []
    items: list[Item] = []
    seen_sources: dict[Path, str] = {}

    def add(source: Path, output: str, argument: str) -> None:
        real = source.resolve()
        if real in seen_sources:
            raise ConfigError(
                f"{source}: given twice (as {seen_sources[real]!r} and {argument!r})"
            )
        seen_sources[real] = argument
        kind = _kind(source)
        items.append(Item(real, _output_name(Path(output), kind), kind))

    for argument in arguments:
        for root in _roots(argument):
            real = root.resolve()
            if _inside(real, out):
                raise ConfigError(
                    f"{root}: is inside the output directory {out_dir}; outputs are not inputs"
                )
            name = Path(os.path.abspath(root)).name or "root"
            if root.is_dir():
                for dirpath, dirnames, filenames in os.walk(real):
                    here = Path(dirpath)
                    # The output directory inside an input folder is left
                    # out (said once), never read as input.
                    if _inside(out, here) and out != here:
                        for child in list(dirnames):
                            if (here / child).resolve() == out:
                                dirnames.remove(child)
                                notes.append(f"{out_dir}: inside input folder {root}, left out")
                    dirnames.sort()
                    for filename in sorted(filenames):
                        source = here / filename
                        rel = Path(name) / source.relative_to(real)
                        add(source, rel.as_posix(), argument)
            elif root.is_file():
                add(root, name, argument)
            else:
                raise InputError(f"{root}: not a regular file or folder")

    by_output: dict[str, Item] = {}
    for item in items:
        key = item.output.casefold()  # case-insensitive file systems too
        if item.output in RESERVED_NAMES:
            raise ConfigError(f"{item.source}: its output name {item.output!r} is the batch's own")
        if key in by_output:
            raise ConfigError(
                f"{by_output[key].source} and {item.source} would both be written to "
                f"{Path(out_dir) / item.output}; give their folders different names"
            )
        by_output[key] = item
    # A file output where another input needs a folder (``a`` and ``a/b``).
    folders = {parent.as_posix() for key in by_output for parent in Path(key).parents}
    for key, item in by_output.items():
        if key in folders:
            raise ConfigError(f"{item.source}: its output {item.output!r} is also a folder name")
    return sorted(items, key=lambda i: i.output), notes
