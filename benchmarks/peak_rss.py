"""Run a command in a fresh measuring process and report its peak memory.

``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the maximum over every child a
process has ever waited for, so each command gets its own measuring process.
"""

from __future__ import annotations

import ast
import subprocess
import sys

_MEASURE = """
import resource, subprocess, sys, time
started = time.monotonic()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.monotonic() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
print(result.returncode, peak_kb, round(seconds, 2), round(cpu.ru_utime + cpu.ru_stime, 2),
      repr(result.stderr.strip()[-300:]))
"""


def run_measured(command: list[str]) -> dict[str, object]:
    """``command``'s exit code, peak RSS (MB), wall and CPU seconds and the
    end of its stderr."""
    line = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True,
                          text=True, check=True).stdout.strip()
    code, peak_kb, seconds, cpu_seconds, stderr = line.split(" ", 4)
    return {"exit": int(code), "peak_rss_mb": round(int(peak_kb) / 1024, 1),
            "seconds": float(seconds), "cpu_seconds": float(cpu_seconds),
            "stderr": ast.literal_eval(stderr)}
