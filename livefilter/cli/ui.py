"""``livefilter ui``: the local page (live, review, photos)."""

from __future__ import annotations

import argparse
import sys

from livefilter.cli.options import EXIT_OK
from livefilter.errors import ConfigError

_LOCAL = ("127.0.0.1", "::1", "localhost")


def cmd_ui(args: argparse.Namespace) -> int:
    try:
        from livefilter.ui.server import UiConfig, serve
    except ImportError as exc:  # starlette/uvicorn are dependencies; a broken install
        raise ConfigError(f"ui: cannot load the web server ({exc}); reinstall livefilter") \
            from None
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"port: expected 0..65535, got {args.port}")
    host = "127.0.0.1" if args.host == "localhost" else args.host
    if host not in _LOCAL:
        print(f"livefilter: warning: the page listens on {host}: anyone who can reach it and "
              "learns the token in its URL can see and control it", file=sys.stderr)

    def on_url(url: str) -> None:
        # The first line on stdout, always: scripts and tests read it.
        print(url, flush=True)
        if not args.no_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        serve(UiConfig(host=host, port=args.port, open_browser=not args.no_browser), on_url)
    except OSError as exc:
        raise ConfigError(f"ui: cannot listen on {host}:{args.port} ({exc.strerror or exc})") \
            from None
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def add_ui_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("ui", help="open the local page: live, review a video, photos",
                       description="Start a local web page to run and watch a live source "
                       "(with a panic button), review a processed video before publishing it, "
                       "and hide faces in photos. The first line printed is the page's URL, "
                       "with its access token.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s; anything else warns)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(handler=cmd_ui)
    return p
