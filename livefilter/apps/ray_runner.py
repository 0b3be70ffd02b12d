"""The same batch tasks and video segments as Ray tasks on a Ray cluster.

Inputs and outputs must live on a path every node sees under the same name
(NFS, a cluster file system, a bind mount): a task gets absolute paths.
Each Ray worker process fetches and checks the model once (``models
fetch`` is idempotent and verifies the sha256), then keeps its detectors for
the tasks after. A task whose worker process or node dies is retried by Ray
(``max_retries``); errors of the file itself are the task's result, as in
the process pool. The batch process still writes the manifest, so resume
works the same.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections import deque
from typing import Any

from livefilter.apps.batch_worker import BatchSettings, Task, TaskResult, Worker, run_task
from livefilter.errors import ConfigError, LivefilterError

__all__ = ["MAX_RETRIES", "RayUnavailableError", "connect", "run_tasks_ray"]

logger = logging.getLogger(__name__)

# Retries of a task whose worker process or node died (kill -9, OOM killer,
# a node lost); the file's own errors are not retried.
MAX_RETRIES = 3
_CONNECT_TIMEOUT = 5.0
# The head answered but could not start the process that serves this client
# (Ray's "Initialization failure from server"): on a busy head that is
# passing, so the connection is tried this many times, 3 s and 6 s apart.
_CONNECT_ATTEMPTS = 3
_SERVER_BUSY = "Initialization failure from server"

_worker: Worker | None = None


class RayUnavailableError(LivefilterError):
    """The Ray cluster cannot be reached, or Ray is not installed."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "ray: not installed; install the extra: pip install 'livefilter[ray]'"
        ) from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds, with one line, when nothing listens at ``address``
    (Ray's own client retries for a long time)."""
    if address == "auto":
        return
    host_port = address.removeprefix("ray://")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"ray: expected auto, HOST:PORT or ray://HOST:PORT; got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise RayUnavailableError(
            f"ray: no Ray cluster answers at {address} ({exc.strerror or exc})"
        ) from exc


def connect(address: str) -> Any:
    """Connect to the cluster at ``address``; returns the ``ray`` module."""
    ray = _import_ray()
    _check_reachable(address)
    if ray.is_initialized():
        return ray
    for attempt in range(1, _CONNECT_ATTEMPTS + 1):
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
                     configure_logging=False)
            return ray
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ...
            text = " ".join(str(exc).split()) or type(exc).__name__
            if _SERVER_BUSY not in text or attempt == _CONNECT_ATTEMPTS:
                raise RayUnavailableError(
                    f"ray: cannot connect to {address} ({text[:200]})") from exc
            logger.warning("ray: %s could not start a client server (attempt %d of %d); "
                           "retrying", address, attempt, _CONNECT_ATTEMPTS)
            with contextlib.suppress(Exception):
                ray.shutdown()
            time.sleep(3.0 * attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


def _run_remote(task: Task, settings: BatchSettings) -> TaskResult:
    """Body of the Ray task, in a Ray worker process."""
    global _worker
    if _worker is None or _worker.settings != settings:
        if settings.video_detector.kind != "cascade":
            from livefilter.models import fetch_model

            fetch_model()  # once per worker process: fetched if missing, sha256 checked
        _worker = Worker(settings)
    if not task.source.exists():
        return TaskResult(task.index, False, error=(
            f"{task.source}: not found on Ray node {socket.gethostname()}: inputs and outputs "
            "must be on a path every node shares"))
    return run_task(task, _worker)


def run_tasks_ray(ray: Any, tasks: list[Task], settings: BatchSettings, handle: Any,
                  *, max_in_flight: int | None = None) -> None:
    """Run ``tasks`` as Ray tasks (one CPU each), calling ``handle`` as
    :func:`livefilter.apps.pool.run_tasks` does (no per-frame progress:
    a task's frames are counted when it is done)."""
    remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_run_remote)
    if max_in_flight is None:
        max_in_flight = max(1, int(ray.cluster_resources().get("CPU", 1)))
    settings_ref = ray.put(settings)
    pending = deque(tasks)
    running: dict[Any, Task] = {}
    try:
        while pending or running:
            while pending and len(running) < max_in_flight:
                task = pending.popleft()
                running[remote.remote(task, settings_ref)] = task
                handle("start", task, None)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                task = running.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # retries used up, node lost, ...
                    text = " ".join(str(exc).split())[:300] or type(exc).__name__
                    result = TaskResult(task.index, False, error=f"Ray task failed: {text}")
                if result.ok:
                    handle("advance", task, result.frames)
                handle("done", task, result)
    finally:
        for ref in running:
            # Stops the worker mid-file; the next run removes its .part.
            ray.cancel(ref, force=True)
