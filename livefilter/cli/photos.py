"""``livefilter image`` and ``livefilter detect``: photos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from livefilter.cli.options import (
    EXIT_ERROR,
    EXIT_OK,
    add_hiding_options,
    add_manual_region_options,
    build_detector,
    manual_regions,
    redaction_config,
)
from livefilter.errors import ConfigError, InputError
from livefilter.paths import check_distinct, check_writable, same_file


def cmd_image(args: argparse.Namespace) -> int:
    from livefilter.apps.photos import anonymize_photo
    from livefilter.errors import OutputError

    out_dir = Path(args.output)
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output directory does not exist")
    sources = [Path(source) for source in args.inputs]
    _check_batch(sources, out_dir)
    redaction = redaction_config(args)
    manual = manual_regions(args)
    detector = build_detector(args)
    failures = 0
    for source in sources:
        target = out_dir / source.name
        try:
            result = anonymize_photo(source, target, detector, redaction, manual)
        except InputError as exc:
            # One bad photo must not stop a batch; each gets its own line.
            print(f"livefilter: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        if not args.quiet:
            print(f"{target}: {len(result.faces)} faces hidden", file=sys.stderr)
    return EXIT_ERROR if failures else EXIT_OK



def _check_batch(sources: list[Path], out_dir: Path) -> None:
    """Before any photo: two different photos with one file name would be
    written to one output (the second over the first), and no output may
    be one of the inputs. Refused, one line; the user picks the names."""
    by_name: dict[str, Path] = {}
    for source in sources:
        earlier = by_name.setdefault(source.name, source)
        if earlier is not source and not same_file(earlier, source):
            raise ConfigError(
                f"{earlier} and {source} would both be written to {out_dir / source.name}; "
                "anonymize them into different output directories (or rename one)"
            )
    check_distinct([("input", source) for source in sources],
                   [("output", out_dir / name) for name in by_name])
    for name in by_name:
        check_writable("-o", out_dir / name)


def add_image_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("image", help="anonymize photos (JPEG, PNG, WebP)",
                       description="Hide the faces in photos. EXIF orientation is applied; "
                       "EXIF, GPS, XMP, IPTC and ICC data are not written.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="photos to read")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="directory for the anonymized photos (same file names)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    add_hiding_options(p, "thorough", video=False)
    add_manual_region_options(p, video=False)
    p.set_defaults(handler=cmd_image)
    return p


def cmd_detect(args: argparse.Namespace) -> int:
    from livefilter.apps.photos import find_faces, read_photo

    redaction = redaction_config(args)
    detector = build_detector(args)
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



def add_detect_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("detect", help="print the faces found in photos",
                       description="Print the faces found in photos and the regions `image` "
                       "would hide with the same options.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="photos to read")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: path, width, height, faces, regions")
    add_hiding_options(p, "thorough", video=False)
    p.set_defaults(handler=cmd_detect)
    return p
