"""Worker processes for batch tasks and video segments.

One task at a time per worker, so the caller always knows which task a
worker that died was on.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livefilter.apps.batch_worker import BatchSettings, Task, TaskResult, worker_main

__all__ = ["Handler", "Runner", "Slot", "WorkerPool", "run_tasks"]


@dataclass
class Slot:
    wid: int
    process: Any
    tasks: Any
    task: Task | None = None


class WorkerPool:
    """Worker processes, one task at a time each, so the batch always knows
    which file a dead worker was on."""

    def __init__(self, jobs: int, settings: BatchSettings) -> None:
        # spawn: a fork of this process would copy the detector's and the
        # progress bar's threads in whatever state they were.
        self._ctx = multiprocessing.get_context("spawn")
        self._settings = settings
        self.results = self._ctx.Queue()
        self.slots: list[Slot] = []
        for wid in range(jobs):
            self.slots.append(self._spawn(wid))

    def _spawn(self, wid: int) -> Slot:
        tasks = self._ctx.Queue()
        process = self._ctx.Process(
            target=worker_main, args=(wid, self._settings, tasks, self.results, os.getpid()),
            name=f"livefilter-batch-{wid}", daemon=True,
        )
        process.start()
        return Slot(wid, process, tasks)

    def replace(self, slot: Slot) -> None:
        self.slots[slot.wid] = self._spawn(slot.wid)

    def close(self, *, graceful: bool) -> None:
        if graceful:
            for slot in self.slots:
                slot.tasks.put(None)
        for slot in self.slots:
            if not graceful and slot.process.is_alive():
                slot.process.terminate()  # SIGTERM: the task aborts its output
        deadline = time.monotonic() + 20
        for slot in self.slots:
            slot.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)


Handler = Callable[[str, Task, Any], None]
# Runs tasks somewhere (this pool, or Ray): (tasks, settings, jobs, handler).
Runner = Callable[[list[Task], BatchSettings, int, Handler], None]


def run_tasks(tasks: list[Task], settings: BatchSettings, jobs: int, handle: Handler) -> None:
    """Run ``tasks`` on ``jobs`` worker processes, in order.

    ``handle(kind, task, value)`` is called in this process with ``start``
    (``None``), ``total`` and ``advance`` (frames) and ``done`` (a
    :class:`TaskResult`; a worker that died gives a failed one, and a new
    worker takes its place). An exception from ``handle`` (or Ctrl-C) stops
    the workers with SIGTERM, so their unfinished outputs are removed.
    """
    by_index = {task.index: task for task in tasks}
    pending = deque(tasks)
    pool = WorkerPool(max(1, min(jobs, len(tasks))), settings)
    graceful = False
    try:
        while pending or any(slot.task is not None for slot in pool.slots):
            for slot in pool.slots:
                if slot.task is None and pending:
                    slot.task = pending.popleft()
                    slot.tasks.put(slot.task)
                    handle("start", slot.task, None)
            try:
                message = pool.results.get(timeout=0.5)
            except queue.Empty:
                message = None
            if message is not None:
                kind, wid, index, value = message
                slot = pool.slots[wid]
                if slot.task is None or slot.task.index != index:
                    continue  # from a worker since replaced
                if kind == "done":
                    slot.task = None
                handle(kind, by_index[index], value)
                continue
            for slot in pool.slots:
                if slot.task is not None and not slot.process.is_alive():
                    task, slot.task = slot.task, None
                    code = slot.process.exitcode
                    _remove_part(task.target, slot.process.pid)
                    pool.replace(slot)
                    handle("done", task, TaskResult(
                        task.index, False, error=f"worker process died (exit code {code})"))
        graceful = True
    finally:
        pool.close(graceful=graceful)


def _remove_part(target: Path, pid: int | None) -> None:
    if pid is not None:
        target.with_name(f".{target.name}.{pid}.part").unlink(missing_ok=True)
