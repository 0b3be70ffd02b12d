"""livefilter versus the ``deface`` tool, side by side in one run (not part of ``make test``).

``deface==1.5.0`` is installed into a throw-away virtual environment in a
temporary directory (never into livefilter's own), together with ``onnx`` and
``onnxruntime``, which deface's README recommends and which it then uses
instead of ``cv2.dnn`` (``--deface-plain`` leaves them out). Then, on the same
inputs:

* **photos** from ``wider_dev``: deface's own CenterFace code with its
  defaults (threshold 0.2, mask scale 1.3, ellipse) run by the throw-away
  venv's python, and livefilter's detector with ``--quality``; coverage
  recall (faces >= 16 px), over-blur and ms per photo (detection only);
* **clips**: the real ``deface`` CLI is timed on each clip (fps, wall time
  including start-up), and deface's regions per frame come from a small
  script that runs deface's reader and CenterFace exactly as its CLI does;
  ``livefilter file CLIP -o OUT --regions-json R --stats-json S`` is timed
  the same way. Leak rate: a face >= 16 px tall leaks in a frame when less
  than 60 % of its box is hidden; leak rate = leaked face-frames /
  face-frames.

Each tool's regions are rasterised the way that tool hides them: deface's with
``skimage.draw.ellipse`` inside its clipped integer box (as ``deface.py``
does), livefilter's with ``livefilter.hide.composite.hidden_mask``.

Usage::

    python benchmarks/compare.py                       # 100 photos, all 4 clips
    python benchmarks/compare.py --photos 0 --clips clip00   # all photos, one clip
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scoring import COVERED_SHARE, CoverageTally, covered_share, over_blur  # noqa: E402

from livefilter.boxes import xywh_to_xyxy  # noqa: E402
from livefilter.hide.composite import hidden_mask  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "compare.json"
DEFACE_REQUIREMENT = "deface==1.5.0"
MIN_FACE_HEIGHT = 16.0

# Runs inside the throw-away venv: deface's own CenterFace and box geometry.
# argv: mode ("photos" or "clip"), input (JSON list of paths, or a video), output JSON.
DEFACE_DUMP = r'''
import json, sys, time
import imageio.v2 as imageio
import numpy as np
from deface.centerface import CenterFace
from deface.deface import scale_bb

THRESHOLD, MASK_SCALE = 0.2, 1.3  # deface's defaults


def regions(dets, height, width):
    """The boxes deface.anonymize_frame draws its ellipse into."""
    out = []
    for det in dets:
        x1, y1, x2, y2 = det[:4].astype(int)
        x1, y1, x2, y2 = scale_bb(x1, y1, x2, y2, MASK_SCALE)
        y1, y2 = max(0, y1), min(height - 1, y2)
        x1, x2 = max(0, x1), min(width - 1, x2)
        out.append([int(x1), int(y1), int(x2), int(y2)])
    return out


mode, source, target = sys.argv[1:4]
centerface = CenterFace(in_shape=None, backend="auto")
result = {"backend": centerface.backend, "items": []}
if mode == "photos":
    for path in json.loads(open(source).read()):
        frame = imageio.imread(path)
        if frame.ndim == 2 or frame.shape[2] != 3:
            frame = frame[..., :3] if frame.ndim == 3 else np.dstack([frame] * 3)
        started = time.perf_counter()
        dets, _ = centerface(frame, threshold=THRESHOLD)
        seconds = time.perf_counter() - started
        result["items"].append({"path": path, "seconds": seconds,
                                "regions": regions(dets, *frame.shape[:2])})
else:
    reader = imageio.get_reader(source)
    for index, frame in enumerate(reader.iter_data()):
        dets, _ = centerface(frame, threshold=THRESHOLD)
        result["items"].append({"index": index, "regions": regions(dets, *frame.shape[:2])})
    reader.close()
open(target, "w").write(json.dumps(result))
'''


def deface_hidden(regions: list[list[int]], height: int, width: int) -> np.ndarray:
    """``(H, W) bool``: the pixels deface blurs for its clipped integer boxes."""
    import skimage.draw

    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in regions:
        if x2 <= x1 or y2 <= y1:
            continue
        rows, cols = skimage.draw.ellipse(
            (y2 - y1) // 2, (x2 - x1) // 2, (y2 - y1) // 2, (x2 - x1) // 2
        )
        # deface indexes its (y2 - y1, x2 - x1) roi with these; numpy
        # wraps negative indices and the ellipse never exceeds the roi.
        roi = mask[y1:y2, x1:x2]
        inside = (rows < roi.shape[0]) & (cols < roi.shape[1])
        roi[rows[inside], cols[inside]] = True
    return mask


def make_deface_venv(root: Path, plain: bool) -> Path:
    """A venv under ``root`` with deface installed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / "bin" / "python"
    packages = [DEFACE_REQUIREMENT] + ([] if plain else ["onnx", "onnxruntime"])
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages],
        check=True,
    )
    return python


def run_deface_dump(python: Path, mode: str, source: Path | list[str], work: Path) -> dict:
    script = work / "deface_dump.py"
    script.write_text(DEFACE_DUMP)
    if isinstance(source, list):
        listing = work / "photos.json"
        listing.write_text(json.dumps(source))
        source = listing
    target = work / f"deface_{mode}_{Path(source).stem}.json"
    subprocess.run([str(python), str(script), mode, str(source), str(target)], check=True)
    return json.loads(target.read_text())


# --- photos ------------------------------------------------------------------


def compare_photos(python: Path, data: Path, count: int, quality: str, work: Path) -> dict:
    import cv2

    from livefilter.detect import DetectorConfig, build_detector, preset_mask_scale
    from livefilter.regions import regions_from_faces

    root = data / "wider_dev"
    labels = json.loads((root / "labels.json").read_text())["images"]
    step = max(1, len(labels) // count) if count else 1
    chosen = labels[::step][: count or None]
    paths = [str(root / entry["image"]) for entry in chosen]
    faces = [xywh_to_xyxy(np.asarray(e["faces_xywh"], np.float32).reshape(-1, 4)) for e in chosen]

    deface = run_deface_dump(python, "photos", paths, work)
    deface_tally = CoverageTally()
    deface_seconds = 0.0
    for item, face_xyxy in zip(deface["items"], faces, strict=True):
        image = cv2.imread(item["path"])
        height, width = image.shape[:2]
        deface_tally.add(face_xyxy, deface_hidden(item["regions"], height, width))
        deface_seconds += item["seconds"]

    config = DetectorConfig(kind="centerface", quality=quality)  # type: ignore[arg-type]
    detector = build_detector(config)
    mask_scale = preset_mask_scale(config) or 1.6
    ours = CoverageTally()
    our_seconds = 0.0
    for path, face_xyxy in zip(paths, faces, strict=True):
        image = cv2.imread(path)
        started = time.perf_counter()
        found = detector.detect(image)
        our_seconds += time.perf_counter() - started
        regions = regions_from_faces(found.xyxy, mask_scale)
        ours.add(face_xyxy, hidden_mask(regions, "ellipse", *image.shape[:2]))
    return {
        "photos": len(paths),
        "deface": {
            **deface_tally.summary(),
            "backend": deface["backend"],
            "ms_per_photo": 1000.0 * deface_seconds / len(paths),
        },
        f"livefilter-{quality}": {
            **ours.summary(),
            "mask_scale": mask_scale,
            "ms_per_photo": 1000.0 * our_seconds / len(paths),
        },
    }


# --- clips -------------------------------------------------------------------


def leak_stats(labels: dict, hidden_of_frame) -> dict:
    """Leak rate and over-blur of one tool on one clip.

    ``hidden_of_frame(index)`` returns the ``(H, W) bool`` hidden mask of a
    frame, or ``None`` when the tool wrote no entry for it (counted as
    nothing hidden).
    """
    height, width = labels["height"], labels["width"]
    face_frames = leaked = 0
    blur_sum = 0.0
    for index, faces in enumerate(labels["frames"]):
        hidden = hidden_of_frame(index)
        if hidden is None:
            hidden = np.zeros((height, width), bool)
        boxes = np.asarray([f[:4] for f in faces], np.float32).reshape(-1, 4)
        xyxy = xywh_to_xyxy(boxes)
        tall = boxes[:, 3] >= MIN_FACE_HEIGHT
        if tall.any():
            share = covered_share(xyxy[tall], hidden)
            face_frames += int(tall.sum())
            leaked += int((share < COVERED_SHARE).sum())
        blur_sum += over_blur(hidden, xyxy)
    frames = len(labels["frames"])
    return {
        "face_frames": face_frames,
        "leaked_face_frames": leaked,
        "leak_rate": leaked / face_frames if face_frames else None,
        "over_blur": blur_sum / frames if frames else None,
    }


def timed(command: list[str], **kwargs: object) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[arg-type]
    return time.perf_counter() - started


def livefilter_command() -> list[str]:
    script = Path(sys.executable).parent / "livefilter"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "livefilter"]


def compare_clip(python: Path, clip: Path, quality: str | None, work: Path) -> dict:
    labels = json.loads(clip.with_suffix(".json").read_text())
    frames = len(labels["frames"])
    height, width = labels["height"], labels["width"]

    deface_bin = python.parent / "deface"
    deface_out = work / f"{clip.stem}_deface.mp4"
    deface_seconds = timed([str(deface_bin), str(clip), "-o", str(deface_out)],
                           stderr=subprocess.DEVNULL)
    deface = run_deface_dump(python, "clip", clip, work)
    deface_regions = {item["index"]: item["regions"] for item in deface["items"]}

    def deface_frame(index: int) -> np.ndarray | None:
        regions = deface_regions.get(index)
        return None if regions is None else deface_hidden(regions, height, width)

    regions_path = work / f"{clip.stem}_regions.json"
    stats_path = work / f"{clip.stem}_stats.json"
    command = [*livefilter_command(), "file", str(clip), "-o", str(work / f"{clip.stem}_lf.mp4"),
               "--regions-json", str(regions_path), "--stats-json", str(stats_path), "--quiet"]
    if quality:
        command += ["--quality", quality]
    our_seconds = timed(command)
    ours = json.loads(regions_path.read_text())
    by_index = {entry["index"]: entry for entry in ours["frames"]}

    def our_frame(index: int) -> np.ndarray | None:
        entry = by_index.get(index)
        if entry is None:
            return None
        if entry.get("curtain"):
            return np.ones((height, width), bool)
        mask = np.zeros((height, width), bool)
        for shape in ("ellipse", "box"):
            boxes = [r["box"] for r in entry["regions"] if r.get("shape", "ellipse") == shape]
            if boxes:
                mask |= hidden_mask(np.asarray(boxes, np.float64), shape, height, width)
        return mask

    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    return {
        "frames": frames,
        "deface": {"seconds": deface_seconds, "fps": frames / deface_seconds,
                   "backend": deface["backend"], **leak_stats(labels, deface_frame)},
        "livefilter": {"seconds": our_seconds, "fps": frames / our_seconds,
                       "quality": quality or "default", "stats": stats,
                       **leak_stats(labels, our_frame)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="directory holding wider_dev/ and clips/ (default: %(default)s)")
    parser.add_argument("--photos", type=int, default=100,
                        help="evenly spaced wider_dev photos to compare on (0: all)")
    parser.add_argument("--photo-quality", default="thorough",
                        choices=("fast", "balanced", "thorough"),
                        help="livefilter preset for the photos (default: %(default)s)")
    parser.add_argument("--set", default="clips", choices=("clips", "clips_crowds"),
                        help="the clip set (default: %(default)s)")
    parser.add_argument("--clips", default="clip00,clip01,clip02,clip03",
                        help="comma-separated clip names (empty: none)")
    parser.add_argument("--clip-quality", default=None, choices=("fast", "balanced", "thorough"),
                        help="livefilter --quality for the clips (default: the file command's)")
    parser.add_argument("--deface-plain", action="store_true",
                        help="install deface alone (it then runs on cv2.dnn)")
    parser.add_argument("--venv", type=Path, default=None,
                        help="reuse this venv with deface installed instead of a new one")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results path")
    args = parser.parse_args(argv)

    clips = [args.data / args.set / f"{name.strip()}_1280x720.mp4"
             for name in args.clips.split(",") if name.strip()]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing:
        parser.error(f"--clips: not found: {', '.join(missing)}")

    with tempfile.TemporaryDirectory(prefix="livefilter-compare-") as tmp:
        work = Path(tmp)
        if args.venv:
            python = args.venv / "bin" / "python"
        else:
            print(f"installing {DEFACE_REQUIREMENT} into a throw-away venv ...", file=sys.stderr)
            python = make_deface_venv(work / "venv", args.deface_plain)
        report: dict = {
            "deface": DEFACE_REQUIREMENT + ("" if args.deface_plain else " + onnx, onnxruntime"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        }
        if args.photos >= 0 and (args.data / "wider_dev").is_dir():
            print("photos ...", file=sys.stderr)
            report["photos"] = compare_photos(python, args.data, args.photos,
                                              args.photo_quality, work)
        report["clips"] = {}
        for clip in clips:
            print(f"{clip.name} ...", file=sys.stderr)
            report["clips"][clip.stem] = compare_clip(python, clip, args.clip_quality, work)
            for leftover in work.glob("*.mp4"):
                leftover.unlink()
        report["machine"]["load_average_at_end"] = os.getloadavg()
        if not args.venv:
            shutil.rmtree(work / "venv", ignore_errors=True)

    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


def print_report(report: dict) -> None:
    photos = report.get("photos")
    if photos:
        print(f"photos ({photos['photos']} from wider_dev):")
        print(f"  {'tool':<22} {'recall':>7} {'16-31':>6} {'32-63':>6} {'64+':>6} "
              f"{'overblur':>8} {'ms/photo':>9}")
        for name, row in photos.items():
            if not isinstance(row, dict):
                continue
            b = row["recall_by_height"]
            print(f"  {name:<22} {row['recall']:>7.3f} {b['16-31']:>6.3f} {b['32-63']:>6.3f} "
                  f"{b['64+']:>6.3f} {100 * row['over_blur']:>7.2f}% {row['ms_per_photo']:>9.1f}")
    if report.get("clips"):
        print("clips (1280x720, 30 fps):")
        print(f"  {'clip':<20} {'tool':<11} {'fps':>6} {'leak rate':>10} {'overblur':>9}")
        totals: dict[str, list[float]] = {}
        for name, clip in report["clips"].items():
            for tool in ("deface", "livefilter"):
                row = clip[tool]
                print(f"  {name:<20} {tool:<11} {row['fps']:>6.2f} {row['leak_rate']:>10.4f} "
                      f"{100 * row['over_blur']:>8.2f}%")
                t = totals.setdefault(tool, [0, 0, 0, 0])
                t[0] += clip["frames"]
                t[1] += row["seconds"]
                t[2] += row["leaked_face_frames"]
                t[3] += row["face_frames"]
        for tool, (frames, seconds, leaked, face_frames) in totals.items():
            print(f"  {'all clips':<20} {tool:<11} {frames / seconds:>6.2f} "
                  f"{leaked / max(1, face_frames):>10.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
