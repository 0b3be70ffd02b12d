"""URL schemes livefilter cannot serve: refused before anything runs.

PyAV's wheels bundle an FFmpeg built without libsrt, so ``srt://`` fails as
a source ("Protocol not found") and, as a stream target, is retried forever
while nothing is sent. Refusing it up front is the honest answer until a
real SRT library is wired in.
"""

from __future__ import annotations

import re

from livefilter.errors import ConfigError

__all__ = ["UNSUPPORTED_SCHEMES", "check_supported_url", "unsupported_url_reason"]

UNSUPPORTED_SCHEMES: dict[str, str] = {
    "srt": (
        "srt:// is not supported (the FFmpeg bundled with PyAV has no SRT); relay it to or "
        "from udp:// or rtmp:// (e.g. with srt-live-transmit)"
    ),
}


def unsupported_url_reason(text: str) -> str | None:
    """Why ``text`` cannot be used (a URL of an unsupported scheme), or ``None``."""
    match = re.match(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://", text)
    return UNSUPPORTED_SCHEMES.get(match.group(1).lower()) if match else None


def check_supported_url(option: str, text: str) -> None:
    """Raise :class:`ConfigError` naming ``option`` when ``text`` is a URL of
    a scheme livefilter cannot read or write."""
    reason = unsupported_url_reason(text)
    if reason is not None:
        raise ConfigError(f"{option}: {reason}")
