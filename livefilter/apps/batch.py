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
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livefilter.apps.batch_inputs import Item
from livefilter.apps.batch_worker import BatchSettings, Task, TaskResult
from livefilter.apps.manifest import Entry, Manifest, fingerprint, is_disk_full
from livefilter.apps.pool import Runner, run_tasks
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
_SEGMENTS = re.compile(r"^\..+\.\d+\.segments$")


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
    """Delete the hidden ``.NAME.PID.part`` files and ``.NAME.PID.segments``
    folders an interrupted run left."""
    removed = 0
    for dirpath, dirnames, filenames in os.walk(out_dir):
        for name in list(dirnames):
            if _SEGMENTS.match(name):
                shutil.rmtree(os.path.join(dirpath, name), ignore_errors=True)
                dirnames.remove(name)
                removed += 1
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
    min_segment: float | None = None,
    runner: Runner = run_tasks,
) -> BatchReport:
    """Process ``items`` into ``out_dir``; see the module docstring.

    With ``jobs`` > 1, a video at least twice ``min_segment`` seconds long
    is cut into up to ``jobs`` segments run at once and joined
    (:mod:`livefilter.apps.segments`). ``runner`` runs the tasks: the
    process pool, or Ray (:mod:`livefilter.apps.ray_runner`).

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
                _run_pool(todo, out_dir, settings, digest, manifest, report, jobs, callbacks,
                          min_segment, runner)
        finally:
            report.seconds = round(time.monotonic() - started, 3)
            order = {item.output: i for i, item in enumerate(items)}
            report.rows.sort(key=lambda row: order[row[0].output])
            with contextlib.suppress(OutputError):
                write_summary(out_dir, report)
    return report


@dataclass
class _Job:
    """One input's tasks: one, or one per segment of a long video."""

    item: Item
    print_: Any
    target: Path
    tasks: list[Task]
    segments: list[Any] | None = None
    frames: int = 0
    results: dict[int, TaskResult] = field(default_factory=dict)
    started: float = 0.0

    @property
    def parts_dir(self) -> Path:
        return self.tasks[0].target.parent


def _segment_plan(item: Item, jobs: int, min_segment: float | None) -> Any:
    """The segments of a video worth splitting, else ``None`` (one piece;
    a file that cannot be probed is left to the one-piece run to report)."""
    if item.kind != "video" or jobs < 2 or min_segment is None:
        return None
    import av

    from livefilter.apps.segments import plan_segments, probe_layout
    from livefilter.errors import InputError

    try:
        with av.open(str(item.source), metadata_errors="ignore") as container:
            duration = (container.duration or 0) / av.time_base
        if duration < 2 * min_segment:
            return None
        layout = probe_layout(item.source)
    except (av.error.FFmpegError, InputError, OSError):
        return None
    segments = plan_segments(layout, jobs, min_seconds=min_segment)
    return (segments, len(layout.times)) if len(segments) > 1 else None


def _run_pool(todo: list[tuple[Item, Any]], out_dir: Path, settings: BatchSettings,
              digest: str, manifest: Manifest, report: BatchReport, jobs: int,
              callbacks: BatchCallbacks, min_segment: float | None, runner: Runner) -> None:
    owners: dict[int, _Job] = {}
    tasks: list[Task] = []
    for item, print_ in todo:
        target = out_dir / item.output
        plan = (_segment_plan(item, jobs, min_segment) if settings.splits_audio_safely
                else None)
        if plan is None:
            job = _Job(item, print_, target, [Task(len(tasks), item.source, target, item.kind)])
        else:
            segments, frames = plan
            parts = target.with_name(f".{target.name}.{os.getpid()}.segments")
            job = _Job(item, print_, target, [
                Task(len(tasks) + s.index, item.source, parts / f"{s.index:04d}.mp4",
                     "video", s.window, first_frame=s.first_frame) for s in segments
            ], segments=segments, frames=frames)
        tasks.extend(job.tasks)
        owners.update({task.index: job for task in job.tasks})

    def handle(kind: str, task: Task, value: Any) -> None:
        job = owners[task.index]
        if kind == "start" and not job.started:
            job.started = time.monotonic()
            if callbacks.start:
                callbacks.start(job.item)
            if job.segments and callbacks.total:
                callbacks.total(job.item, job.frames)
        elif kind == "total" and callbacks.total and not job.segments:
            callbacks.total(job.item, int(value))
        elif kind == "advance" and callbacks.advance:
            callbacks.advance(job.item, int(value))
        elif kind == "done":
            job.results[task.index] = value
            if len(job.results) == len(job.tasks):
                _finish(_job_result(job), (task, job.item, job.print_), digest, manifest,
                        report, callbacks)

    runner(tasks, settings, jobs, handle)


def _job_result(job: _Job) -> TaskResult:
    """A segmented video's parts joined into one result (and one file)."""
    if not job.segments:
        return next(iter(job.results.values()))
    from livefilter.apps.segments import join_segments
    from livefilter.errors import LivefilterError

    results = [job.results[task.index] for task in job.tasks]
    index = job.tasks[0].index
    seconds = round(time.monotonic() - job.started, 3)
    try:
        failed = next((r for r in results if not r.ok), None)
        if failed is not None:
            return TaskResult(index, False, seconds=seconds, disk_full=failed.disk_full,
                              error=f"a segment failed: {failed.error}")
        try:
            join_segments(job.item.source, [task.target for task in job.tasks], job.target,
                          job.frames)
        except LivefilterError as exc:
            return TaskResult(index, False, seconds=seconds, error=str(exc),
                              disk_full=is_disk_full(exc))
    finally:
        shutil.rmtree(job.parts_dir, ignore_errors=True)
    frames = sum(r.frames for r in results)
    curtain = sum(r.curtain_frames for r in results)
    return TaskResult(index, True, frames=frames, faces=sum(r.faces for r in results),
                      curtain_share=round(curtain / frames, 4) if frames else 0.0,
                      curtain_frames=curtain, seconds=seconds,
                      error="; ".join(r.error for r in results if r.error),
                      output_size=job.target.stat().st_size)


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
    try:
        manifest.record(entry)
    except OutputError as exc:
        if is_disk_full(exc):
            raise OutputError(f"{manifest.path}: disk full; free some space and run the same "
                              "command again to resume") from exc
        raise
    if result.disk_full:
        # The one line the batch stops with; not also a line for the file.
        raise OutputError(
            f"{item.output}: disk full ({result.error}); free some space and run the same "
            "command again to resume"
        )
    if callbacks.finish:
        callbacks.finish(item, entry)


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
