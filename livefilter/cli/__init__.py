"""The ``livefilter`` command line.

The CLI only parses options, builds the frozen config objects and calls the
library; it owns logging and printing. Every error reaches the user as one
line on stderr and a non-zero exit status, never a traceback (``--debug``
shows it).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from livefilter import __version__
from livefilter.cli.batch import add_batch_parser
from livefilter.cli.file import add_file_parser
from livefilter.cli.misc import add_demo_parser, add_devices_parser, add_models_parser
from livefilter.cli.options import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    OneLineParser,
)
from livefilter.cli.photos import add_detect_parser, add_image_parser
from livefilter.cli.run import add_run_parser
from livefilter.cli.ui import add_ui_parser
from livefilter.errors import ConfigError, LivefilterError

__all__ = ["main"]

logger = logging.getLogger("livefilter")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = OneLineParser(
        prog="livefilter",
        description="Hide every face in live video, video files and photos, irreversibly. "
        "When unsure, livefilter hides more: a missed face is the worst bug.",
        epilog="Run `livefilter COMMAND --help` for a command's options. Options can also come "
        "from a TOML config file (--config, or ~/.config/livefilter/config.toml); "
        "the command line wins.",
    )
    parser.add_argument("--version", action="version", version=f"livefilter {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument(
        "--config", type=Path, default=None,
        help="TOML file of options (default: ~/.config/livefilter/config.toml if present)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    commands: dict[str, argparse.ArgumentParser] = {}

    commands['file'] = add_file_parser(sub)
    commands['image'] = add_image_parser(sub)
    commands['batch'] = add_batch_parser(sub)
    commands['detect'] = add_detect_parser(sub)
    commands['run'] = add_run_parser(sub)
    commands['models'] = add_models_parser(sub)
    commands['devices'] = add_devices_parser(sub)
    commands['demo'] = add_demo_parser(sub)
    commands['ui'] = add_ui_parser(sub)
    return parser, commands

    return parser, commands


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("livefilter: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    from livefilter.cli.config_file import apply_config, default_config_path, load_config

    parser, commands = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        raise ConfigError(
            "no command given: try `livefilter demo`, or see `livefilter --help`"
        )
    config_path = args.config
    if config_path is None and default_config_path().is_file():
        config_path = default_config_path()
    if config_path is not None:
        data = load_config(config_path)
        defaults = apply_config(config_path, data, args.command, commands)
        if defaults:
            commands[args.command].set_defaults(**defaults)
            args = parser.parse_args(argv)
    return args


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Terminated(BaseException):
    """SIGTERM or SIGHUP in a command that has no clean stop of its own.

    Raised from the signal handler so that, like ``KeyboardInterrupt`` for
    SIGINT, it unwinds every ``finally`` (a half-written ``.part`` output is
    removed) instead of the process dying where it stands.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``livefilter`` console script; returns the exit status."""
    process_exits = argv is None  # the console script: the process ends after us
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    previous = {}
    if process_exits:
        # `run` installs its own handlers (a clean stop); every other command
        # unwinds as for Ctrl-C.
        previous = {sig: signal.signal(sig, _terminate)
                    for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        args = _parse(argv)
        args.process_exits = process_exits
        _setup_logging(args.verbose)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except LivefilterError as exc:
        if debug:
            logger.exception("failed")
        print(f"livefilter: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("livefilter: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as exc:
        print(f"livefilter: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:  # the promise: never a traceback unless --debug
        if debug:
            logger.exception("internal error")
        print(
            f"livefilter: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(rerun with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        if process_exits:
            # The command is over: a signal now could only interrupt the
            # interpreter's exit ("Exception ignored ... KeyboardInterrupt").
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
        else:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
