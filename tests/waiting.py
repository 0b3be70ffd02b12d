"""Waiting on conditions, not on the clock: tests must pass on a loaded
machine, where a fixed sleep is either too short or wasted."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

DEADLINE = 120.0  # seconds; generous on purpose (a loaded 2-core machine)


def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def listening(port: int, *, udp: bool = False) -> bool:
    """Whether a TCP socket listens on ``port`` (or a UDP socket is bound to
    it), read from /proc, so that a one-client server such as
    `ffmpeg -listen 1` is not used up by a probe."""
    tables = ("/proc/net/udp", "/proc/net/udp6") if udp else ("/proc/net/tcp", "/proc/net/tcp6")
    for table in tables:
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if ((udp or fields[3] == "0A")
                    and int(fields[1].rsplit(":", 1)[1], 16) == port):
                return True
    return False


class Running:
    """A ``livefilter`` subprocess whose stderr is collected line by line."""

    def __init__(self, *args: str | Path, env: dict[str, str] | None = None) -> None:
        # stderr is read as it comes: a pipe nobody reads fills and stalls
        # the process on its next warning line.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livefilter", *map(str, args)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def ended(self) -> bool:
        return self.process.poll() is not None

    def wait(self, timeout: float = DEADLINE) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
