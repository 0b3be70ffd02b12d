"""What a command wrote on stderr, as the tests check it: never a traceback,
and a bad input gets one ``livefilter: error:`` line."""

from __future__ import annotations

import subprocess


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The non-blank lines of ``result``'s stderr (asserting there is no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one ``livefilter: error:`` line ``result`` wrote (asserting it is the only line)."""
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("livefilter: error: "), lines[0]
    return lines[0]
