"""``livefilter batch``: many photos and videos, N at a time, resumable.

The batch process plans the inputs (:mod:`livefilter.apps.batch_inputs`),
skips those the manifest (:mod:`livefilter.apps.manifest`) says are complete
and unchanged, and hands the rest, one at a time, to worker processes
(:mod:`livefilter.apps.batch_worker`). It alone writes the manifest, after
every file. Interrupted (SIGINT, SIGTERM) it stops the workers, whose
half-written files are removed; killed outright, the workers follow it (they
get SIGTERM from the kernel) and the next run removes any ``.part`` left.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livefilter.apps.batch_inputs import Item
from livefilter.apps.batch_worker import BatchSettings, Task, TaskResult
from livefilter.apps.manifest import Entry, Manifest, fingerprint
from livefilter.apps.pool import run_tasks
from livefilter.errors import ConfigError, OutputError

__all__ = [
    "JOB_MEMORY",
    "BatchCallbacks",
    "BatchReport",
    "default_jobs",
    "run_batch",
]

logger = logging.getLogger(__name__)

# What one job may take: a 1080p video with the thorough preset's networks,
# the look-ahead's held frames and the encoder (the live pipeline measured
# 667 MB at 720p; 1080p holds 2.25x the pixels).
JOB_MEMORY = 1.5 * 2**30
SUMMARY_JSON = "livefilter-summary.json"
SUMMARY_CSV = "livefilter-summary.csv"
_PART = re.compile(r"^\..+\.\d+\.part$")


def default_jobs() -> tuple[int, str]:
    """Jobs for this machine: one per core the process may use, fewer when
    the available memory does not fit that many at :data:`JOB_MEMORY`.
    Each job runs one inference thread. Returns ``(jobs, how it was picked)``.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    available = _available_memory()
    if available is None:
        return max(1, cores), f"{cores} cores"
    by_memory = int(available // JOB_MEMORY)
    jobs = max(1, min(cores, by_memory))
    return jobs, (f"{cores} cores, {available / 2**30:.1f} GiB available at "
                  f"{JOB_MEMORY / 2**30:.1f} GiB a job")


def _available_memory() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024.0
    except OSError:
        pass
    return None


@dataclass
class BatchCallbacks:
    """Progress for the CLI's bars; every callback is optional."""

    start: Callable[[Item], None] | None = None
    total: Callable[[Item, int], None] | None = None
    advance: Callable[[Item, int], None] | None = None
    finish: Callable[[Item, Entry], None] | None = None


@dataclass
class BatchReport:
    """Per item, its entry and whether this run made it (``unchanged``: no)."""

    rows: list[tuple[Item, Entry, str]] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for _, _, s in self.rows if s == status)


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output directory: two batches writing
    the same manifest would undo each other's records."""
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ConfigError(
                    f"{out_dir}: another batch is writing to this output directory"
                ) from exc
            raise
        yield
    finally:
        os.close(fd)


def remove_stale_parts(out_dir: Path) -> int:
    """Delete hidden ``.NAME.PID.part`` files an interrupted run left."""
    removed = 0
    for dirpath, _, filenames in os.walk(out_dir):
        for name in filenames:
            if _PART.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
    return removed


def run_batch(
    items: list[Item],
    out_dir: Path,
    settings: BatchSettings,
    *,
    jobs: int,
    callbacks: BatchCallbacks | None = None,
) -> BatchReport:
    """Process ``items`` into ``out_dir``; see the module docstring.

    A full disk raises :class:`OutputError` after recording what was done;
    the same call later resumes.
    """
    callbacks = callbacks or BatchCallbacks()
    out_dir = Path(out_dir)
    started = time.monotonic()
    with _locked(out_dir):
        stale = remove_stale_parts(out_dir)
        if stale:
            logger.info("removed %d partial file(s) an interrupted run left", stale)
        manifest = Manifest(out_dir)
        digest = settings.digest()
        report = BatchReport()
        todo: list[tuple[Item, Any]] = []
        for item in items:
            if item.kind == "other":
                entry = Entry(output=item.output, input=str(item.source), kind="other",
                              status="skipped", error="neither a photo nor a video (by its "
                              "extension)")
                manifest.entries[item.output] = entry
                report.rows.append((item, entry, "skipped"))
                continue
            try:
                print_ = fingerprint(item.source)
            except OSError as exc:
                entry = Entry(output=item.output, input=str(item.source), kind=item.kind,
                              status="failed", error=f"{item.source}: cannot read "
                              f"({exc.strerror or exc})")
                manifest.entries[item.output] = entry
                report.rows.append((item, entry, "failed"))
                continue
            if manifest.is_complete(item.output, print_, digest, out_dir):
                report.rows.append((item, manifest.entries[item.output], "unchanged"))
            else:
                todo.append((item, print_))
        manifest.save()
        try:
            if todo:
                _run_pool(todo, out_dir, settings, digest, manifest, report, jobs, callbacks)
        finally:
            report.seconds = round(time.monotonic() - started, 3)
            order = {item.output: i for i, item in enumerate(items)}
            report.rows.sort(key=lambda row: order[row[0].output])
            with contextlib.suppress(OutputError):
                write_summary(out_dir, report)
    return report


def _run_pool(todo: list[tuple[Item, Any]], out_dir: Path, settings: BatchSettings,
              digest: str, manifest: Manifest, report: BatchReport, jobs: int,
              callbacks: BatchCallbacks) -> None:
    tasks = {
        index: (Task(index, item.source, out_dir / item.output, item.kind), item, print_)
        for index, (item, print_) in enumerate(todo)
    }

    def handle(kind: str, task: Task, value: Any) -> None:
        item = tasks[task.index][1]
        if kind == "start" and callbacks.start:
            callbacks.start(item)
        elif kind == "total" and callbacks.total:
            callbacks.total(item, int(value))
        elif kind == "advance" and callbacks.advance:
            callbacks.advance(item, int(value))
        elif kind == "done":
            _finish(value, tasks[task.index], digest, manifest, report, callbacks)

    run_tasks([task for task, _, _ in tasks.values()], settings, jobs, handle)


def _finish(result: TaskResult, task: tuple[Task, Item, Any], digest: str,
            manifest: Manifest, report: BatchReport, callbacks: BatchCallbacks) -> None:
    _, item, print_ = task
    entry = Entry(
        output=item.output, input=str(item.source), kind=item.kind,
        status="done" if result.ok else "failed",
        size=print_.size, mtime_ns=print_.mtime_ns, sha256_ends=print_.sha256_ends,
        settings=digest, output_size=result.output_size, frames=result.frames,
        faces=result.faces, curtain_share=result.curtain_share, seconds=result.seconds,
        error=result.error,
    )
    report.rows.append((item, entry, entry.status))
    manifest.record(entry)
    if callbacks.finish:
        callbacks.finish(item, entry)
    if result.disk_full:
        raise OutputError(
            f"{item.output}: disk full ({result.error}); free some space and run the same "
            "command again to resume"
        )


_COLUMNS = ("file", "status", "frames", "faces_hidden", "curtain_share", "seconds", "error")


def _summary_rows(report: BatchReport) -> list[dict[str, Any]]:
    return [
        {"file": item.output, "status": status, "frames": entry.frames,
         "faces_hidden": entry.faces, "curtain_share": entry.curtain_share,
         "seconds": entry.seconds, "error": entry.error}
        for item, entry, status in report.rows
    ]


def write_summary(out_dir: Path, report: BatchReport) -> None:
    """``livefilter-summary.json`` and ``.csv`` in ``out_dir`` (atomically)."""
    rows = _summary_rows(report)
    totals = {status: report.count(status)
              for status in ("done", "unchanged", "failed", "skipped")}
    data = {"files": len(rows), **totals, "seconds": report.seconds, "rows": rows}
    for name, write in ((SUMMARY_JSON, lambda f: json.dump(data, f, indent=1)),
                        (SUMMARY_CSV, lambda f: _write_csv(f, rows))):
        path = out_dir / name
        partial = path.with_name(f".{name}.{os.getpid()}.part")
        try:
            with partial.open("w", encoding="utf-8", newline="") as file:
                write(file)
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _write_csv(file: Any, rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(file, fieldnames=_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
