"""Error types.

Every error livefilter raises on purpose derives from :class:`LivefilterError`,
and also from the builtin it resembles, so callers can catch either. The CLI
turns any of them into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InputError",
    "LivefilterError",
    "ModelMissingError",
    "OutputError",
    "SinkError",
    "SourceError",
    "error_reason",
]


class LivefilterError(Exception):
    """Base class of every error livefilter raises deliberately."""

    exit_code: int = 1


class ConfigError(LivefilterError, ValueError):
    """A bad option or config value; the message names the option."""

    exit_code = 2


class InputError(LivefilterError, ValueError):
    """An input file that cannot be used (missing, not a video, corrupt)."""


class SourceError(LivefilterError, OSError):
    """A live source (camera, stream) that cannot be opened or read."""


class OutputError(LivefilterError, OSError):
    """An output that cannot be written (directory missing or read-only, disk full)."""


class SinkError(LivefilterError, OSError):
    """A sink (virtual camera, recorder, stream) that failed."""


class ModelMissingError(LivefilterError, FileNotFoundError):
    """The detector's model file is not installed."""


def error_reason(exc: BaseException) -> str:
    """An FFmpeg or OS error in a few words, on one line (for one error line)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()).rstrip(".") or type(exc).__name__
