"""The batch manifest: what each input was, with which settings, and how it went.

One JSON file in the output directory, rewritten whole after every file
(written beside it, flushed to disk, then renamed over it), so a power cut
leaves either the previous or the new version, never half of one. A re-run
reads it to skip the files that are complete and unchanged.

An input is "unchanged" when its size, modification time and the sha256 of
its first and last MiB are what they were (reading 2 MiB a file keeps a
re-run of a big archive cheap; a change confined to the middle of a file
with the same size and mtime is not seen). Its output must also still be
there with the size it had.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from livefilter.errors import OutputError

__all__ = [
    "MANIFEST_NAME",
    "Entry",
    "Fingerprint",
    "Manifest",
    "fingerprint",
    "is_disk_full",
]

MANIFEST_NAME = "livefilter-manifest.json"
_VERSION = 1
_MIB = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    """What identifies an input's content without reading all of it."""

    size: int
    mtime_ns: int
    sha256_ends: str


def fingerprint(path: Path) -> Fingerprint:
    """Size, mtime and the sha256 of the first and last MiB of ``path``."""
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as file:
        digest.update(file.read(_MIB))
        if stat.st_size > _MIB:
            file.seek(max(_MIB, stat.st_size - _MIB))
            digest.update(file.read(_MIB))
    return Fingerprint(stat.st_size, stat.st_mtime_ns, digest.hexdigest())


@dataclass
class Entry:
    """One input of the batch and its result.

    ``status``: ``done`` (output complete), ``failed`` (``error`` says why)
    or ``skipped`` (neither a photo nor a video).
    """

    output: str  # relative to the output directory: the key
    input: str
    kind: str
    status: str
    size: int = 0
    mtime_ns: int = 0
    sha256_ends: str = ""
    settings: str = ""
    output_size: int = 0
    frames: int = 0
    faces: int = 0
    curtain_share: float = 0.0
    seconds: float = 0.0
    error: str = ""
    finished: float = field(default_factory=time.time)


class Manifest:
    """Entries by output path, loaded from and saved to ``out_dir``."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / MANIFEST_NAME
        self.entries: dict[str, Entry] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != _VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            self.entries = {e["output"]: Entry(**e) for e in data["entries"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Only this program writes it, atomically; an unreadable one was
            # edited or damaged. Starting over redoes work but loses nothing.
            raise OutputError(
                f"{self.path}: unreadable batch manifest ({exc}); move it away to start over"
            ) from exc

    def is_complete(self, output: str, print_: Fingerprint, settings: str,
                    out_dir: Path) -> bool:
        """Whether ``output`` was made from this very input with these settings."""
        entry = self.entries.get(output)
        if entry is None or entry.status != "done" or entry.settings != settings:
            return False
        if (entry.size, entry.mtime_ns, entry.sha256_ends) != (
            print_.size, print_.mtime_ns, print_.sha256_ends
        ):
            return False
        target = out_dir / output
        try:
            return target.stat().st_size == entry.output_size
        except OSError:
            return False

    def record(self, entry: Entry) -> None:
        """Add or replace ``entry`` and save the manifest atomically."""
        self.entries[entry.output] = entry
        self.save()

    def save(self) -> None:
        data: dict[str, Any] = {
            "version": _VERSION,
            "entries": [asdict(e) for e in self.entries.values()],
        }
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            with partial.open("w", encoding="utf-8") as file:
                json.dump(data, file, indent=1)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, self.path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise OutputError(f"{self.path}: cannot write ({exc.strerror or exc})") from exc


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk or quota."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL:
            return True
        if "No space left on device" in str(current) or "Disk quota exceeded" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
