"""YuNet against CenterFace: coverage recall by face size, over-blur and cost.

For each photo set (``wider_dev``, ``wider_crowds``) and each detector at
each network width, every photo is run once at the lowest threshold of the
row's list; each threshold is then scored by keeping the boxes at or above
it (greedy NMS keeps the same boxes either way: a box is only suppressed by
a higher-scored one). Detections become hidden regions as ``livefilter
image`` would hide them (``regions_from_faces``, mask 1.6, ellipse) and are
scored with ``scoring.CoverageTally``, as ``detect_quality.py`` does.

Cost is measured separately on 1280x720 frames of a shared clip, one
inference thread: CPU ms per call (``time.thread_time`` of the calling
thread, which is where onnxruntime runs with one thread: far less sensitive
to other processes than wall time) and the fastest wall time of a few
repeats. The machine this was written on is shared and loaded: treat wall
times as upper bounds and compare rows by CPU ms.

Usage::

    python benchmarks/yunet.py                        # both sets, every row
    python benchmarks/yunet.py --sets wider_dev --limit 100
    python benchmarks/yunet.py --timing-only

The per-photo detections are saved (``--cache``) so mixes of rows can be
scored later without running the networks again (see ``--mix``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scoring import CoverageTally  # noqa: E402

from livefilter.boxes import nms_xyxy, xywh_to_xyxy  # noqa: E402
from livefilter.detect import DetectorConfig, build_detector  # noqa: E402
from livefilter.detections import Detections  # noqa: E402
from livefilter.hide.composite import hidden_mask  # noqa: E402
from livefilter.regions import regions_from_faces  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "yunet.json"
DEFAULT_CACHE = Path("/tmp/livefilter-yunet-bench.pkl")
SETS = ("wider_dev", "wider_crowds")
MASK_SCALE = 1.6
TIMING_WIDTHS = (640, 960, 1280)


@dataclass(frozen=True)
class Run:
    """One network at one width; scored at each of ``thresholds``."""

    kind: str
    width: int  # 0: the photo's own width
    thresholds: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.width or 'native'}"


RUNS = (
    *(Run("yunet", w, (0.4, 0.5, 0.6)) for w in (640, 960, 1280)),
    *(Run("centerface", w, (0.1, 0.2)) for w in (384, 544, 736)),
)


def _detector(kind: str, width: int = 0):
    return build_detector(DetectorConfig(kind=kind, threads=1, input_width=width,  # type: ignore[arg-type]
                                         threshold=0.05 if kind == "centerface" else 0.3))


def load_set(data: Path, name: str, limit: int, every: int = 1
             ) -> list[tuple[Path, np.ndarray]]:
    labels = json.loads((data / name / "labels.json").read_text())["images"]
    chosen = labels[::every][: limit or None]
    return [(data / name / entry["image"],
             xywh_to_xyxy(np.asarray(entry["faces_xywh"], np.float32).reshape(-1, 4)))
            for entry in chosen]


def detect_set(run: Run, photos: list[tuple[Path, np.ndarray]]) -> tuple[list[Detections], float]:
    """Detections at the run's lowest threshold, and CPU seconds spent in ``detect``."""
    detector = _detector(run.kind, run.width)
    low = min(run.thresholds)
    found, cpu = [], 0.0
    for path, _ in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        started = time.thread_time()
        found.append(detector.detect(image, threshold=low))
        cpu += time.thread_time() - started
    return found, cpu


def score(photos: list[tuple[Path, np.ndarray]], detections: list[Detections],
          threshold: float) -> dict:
    tally = CoverageTally()
    for (path, faces), found in zip(photos, detections, strict=True):
        height, width = _size(path)
        keep = found.scores >= threshold
        regions = regions_from_faces(found.xyxy[keep], MASK_SCALE)
        tally.add(faces, hidden_mask(regions, "ellipse", height, width))
    return tally.summary()


_SIZES: dict[Path, tuple[int, int]] = {}


def _size(path: Path) -> tuple[int, int]:
    if path not in _SIZES:
        from PIL import Image

        with Image.open(path) as image:
            _SIZES[path] = (image.height, image.width)
    return _SIZES[path]


def merge(parts: list[Detections], nms_iou: float = 0.3) -> Detections:
    """The union of several detectors' boxes, as a multi-pass preset merges them."""
    both = Detections.merge(parts)
    if not len(both):
        return both
    keep = nms_xyxy(both.xyxy, both.scores, nms_iou)
    return Detections(both.xyxy[keep], both.scores[keep])


def timing(frames: list[np.ndarray], repeats: int) -> dict[str, dict[str, float]]:
    """CPU and fastest-wall ms per call on 1280x720 frames, one thread."""
    rows: dict[str, dict[str, float]] = {}
    for kind in ("yunet", "centerface"):
        for width in (*TIMING_WIDTHS, *((384, 544, 736) if kind == "centerface" else ())):
            detector = _detector(kind, width)
            detector.detect(frames[0])  # build the session
            cpu, wall = [], []
            for frame in frames:
                best = math.inf
                for _ in range(repeats):
                    started, started_cpu = time.perf_counter(), time.thread_time()
                    detector.detect(frame)
                    cpu.append(time.thread_time() - started_cpu)
                    best = min(best, time.perf_counter() - started)
                wall.append(best)
            rows[f"{kind}@{width}"] = {"cpu_ms": round(1000 * float(np.median(cpu)), 1),
                                       "wall_ms_fastest": round(1000 * float(np.median(wall)), 1)}
            print(f"{kind}@{width}: {rows[f'{kind}@{width}']}", file=sys.stderr, flush=True)
    return rows


def clip_frames(data: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(data / "clips" / "clip00_1280x720.mp4"))
    frames, index = [], 0
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 29 == 0:
            frames.append(frame)
        index += 1
    capture.release()
    if not frames:
        raise SystemExit("no frames in clips/clip00_1280x720.mp4")
    return frames


def format_rows(rows: dict[str, dict]) -> str:
    width = max(26, *(len(n) for n in rows))
    header = (f"{'row':<{width}} {'faces':>6} {'recall':>7} {'16-31':>6} {'32-63':>6} {'64+':>6} "
              f"{'overblur':>8} {'cpu ms/photo':>12}")
    lines = [header, "-" * len(header)]
    for name, r in rows.items():
        b = r["recall_by_height"]
        lines.append(f"{name:<{width}} {r['faces']:>6} {r['recall']:>7.3f} {b['16-31']:>6.3f} "
                     f"{b['32-63']:>6.3f} {b['64+']:>6.3f} {100 * r['over_blur']:>7.2f}% "
                     f"{r.get('cpu_ms_per_photo', math.nan):>12.1f}")
    return "\n".join(lines)


# --- a YuNet pass in a preset -------------------------------------------------
# Groups of passes of `thorough` (photo passes), each run as a preset of its
# own through the real MultiPassDetector (per-size thresholds, min_face,
# min_score); a variant is the union of groups, merged by NMS as the preset
# merges its passes. The same composition is used for the baseline, so rows
# compare like with like.
YUNET_FLOOR = 0.3


def _pass_groups() -> dict[str, tuple]:
    from dataclasses import replace

    from livefilter.detect.presets import _UPSCALED, PRESETS, FramePass

    thorough = PRESETS["thorough"].passes
    return {
        "rest": tuple(p for p in thorough if p is not _UPSCALED),
        "cf-1.5x": (_UPSCALED,),
        "yunet-1.5x": (replace(_UPSCALED, network="yunet", min_score=YUNET_FLOOR),),
        "yunet-1.25x": (FramePass(scale=1.25, max_width=2560, network="yunet",
                                  min_score=YUNET_FLOOR),),
    }


def _group_detector(passes: tuple):
    from dataclasses import replace

    from livefilter.detect.multipass import PRESETS, MultiPassDetector
    from livefilter.detect.yunet import YuNetDetector
    from livefilter.models import YUNET, model_path

    config = DetectorConfig(kind="centerface", threads=1)
    centerface = build_detector(config)
    preset = replace(PRESETS["thorough"], name="group", passes=passes, video_passes=())
    return MultiPassDetector(centerface, preset,  # type: ignore[arg-type]
                             yunet=YuNetDetector(model_path(YUNET), config))


# variant name -> [(group, minimum score kept)]
VARIANTS: dict[str, list[tuple[str, float]]] = {
    "thorough": [("rest", 0.0), ("cf-1.5x", 0.0)],
    "thorough without the 1.5x pass": [("rest", 0.0)],
    **{f"thorough, 1.5x pass -> YuNet 1.5x t{t}": [("rest", 0.0), ("yunet-1.5x", t)]
       for t in (0.4, 0.5, 0.6)},
    **{f"thorough, 1.5x pass -> YuNet 1.25x t{t}": [("rest", 0.0), ("yunet-1.25x", t)]
       for t in (0.4, 0.5, 0.6)},
    "thorough + YuNet 1.5x t0.5": [("rest", 0.0), ("cf-1.5x", 0.0), ("yunet-1.5x", 0.5)],
}


def preset_rows(set_name: str, photos: list, cache: dict, cache_path: Path,
                limit: tuple[int, int]) -> dict[str, dict]:
    groups = _pass_groups()
    found: dict[str, tuple[list[Detections], float]] = {}
    for group, passes in groups.items():
        key = (set_name, f"group:{group}", limit)
        if key not in cache:
            detector = _group_detector(passes)
            started = time.perf_counter()
            dets, cpu = [], 0.0
            for path, _ in photos:
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                t0 = time.thread_time()
                dets.append(detector.detect(image))
                cpu += time.thread_time() - t0
            cache[key] = (dets, cpu)
            cache_path.write_bytes(pickle.dumps(cache))
            print(f"{set_name} group {group}: {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
        found[group] = cache[key]
    rows = {}
    for variant, parts in VARIANTS.items():
        merged = []
        for i in range(len(photos)):
            pieces = []
            for group, floor in parts:
                d = found[group][0][i]
                keep = d.scores >= floor
                pieces.append(Detections(d.xyxy[keep], d.scores[keep]))
            merged.append(merge(pieces))
        row = score(photos, merged, 0.0)
        row["cpu_ms_per_photo"] = round(sum(1000 * found[g][1] / len(photos)
                                            for g, _ in parts), 1)
        rows[variant] = row
    return rows


def _fast_variants() -> dict[str, object]:
    """``fast`` and ``fast`` with its low-resolution whole-frame CenterFace pass
    (three runs in four) replaced by a YuNet pass at 0.75x (at most 960 px)."""
    from dataclasses import replace

    from livefilter.detect.multipass import PRESETS, FramePass

    fast = PRESETS["fast"]
    swapped = (FramePass(scale=0.75, max_width=960, network="yunet", min_score=0.5,
                         every=4, offsets=(0, 1, 2)), *fast.passes[1:])
    return {"fast": fast, "fast, low-res pass -> YuNet 0.75x t0.5":
            replace(fast, passes=swapped, name="fast-yunet")}


def fast_rows(photos: list) -> dict[str, dict]:
    from livefilter.detect.multipass import MultiPassDetector
    from livefilter.detect.yunet import YuNetDetector
    from livefilter.models import YUNET, model_path

    config = DetectorConfig(kind="centerface", threads=1)
    rows = {}
    for name, preset in _fast_variants().items():
        detector = MultiPassDetector(build_detector(config), preset,  # type: ignore[arg-type]
                                     yunet=YuNetDetector(model_path(YUNET), config))
        cover = preset.runs_to_cover  # type: ignore[attr-defined]
        one, union, cpu = [], [], 0.0
        for path, _ in photos:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            runs = []
            for run_index in range(cover):
                t0 = time.thread_time()
                runs.append(detector.detect_run(image, run_index))
                cpu += time.thread_time() - t0
            one.append(runs[0])
            union.append(merge(runs))
        rows[f"{name}, one run"] = score(photos, one, 0.0)
        rows[f"{name}, {cover} runs"] = score(photos, union, 0.0)
        for key in (f"{name}, one run", f"{name}, {cover} runs"):
            rows[key]["cpu_ms_per_photo"] = round(1000 * cpu / len(photos) / cover, 1)
        print(f"{name}: done", file=sys.stderr, flush=True)
    return rows


def parse_mix(text: str) -> list[tuple[str, float]]:
    """``yunet@960:0.5+centerface@native:0.2`` -> ``[(run name, threshold), ...]``."""
    parts = []
    for item in text.split("+"):
        name, _, threshold = item.partition(":")
        parts.append((name, float(threshold)))
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--runs", default=",".join(r.name for r in RUNS),
                        help="comma-separated runs (kind@width)")
    parser.add_argument("--limit", type=int, default=0, help="first N photos of each set")
    parser.add_argument("--every", type=int, default=1, help="every N-th photo of each set")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="per-photo detections, reused when present (default: %(default)s)")
    parser.add_argument("--mix", action="append", default=[], metavar="RUN:T+RUN:T",
                        help="also score the union of cached runs at these thresholds")
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--fast", action="store_true",
                        help="score fast with a YuNet pass instead of its low-res pass")
    parser.add_argument("--presets", action="store_true",
                        help="score thorough with its 1.5x pass replaced by YuNet passes")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    os.environ.setdefault("LIVEFILTER_MODELS", str(Path.home() / ".cache/livefilter/models"))

    report: dict = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                         "load_average_at_start": os.getloadavg()}
    if args.fast:
        for set_name in args.sets.split(","):
            photos = load_set(args.data, set_name, args.limit, args.every)
            rows = fast_rows(photos)
            report.setdefault("fast", {})[set_name] = rows
            print(f"\n{set_name} ({len(photos)} photos; cpu ms per run)")
            print(format_rows(rows))
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        return 0
    if args.presets:
        cache = pickle.loads(args.cache.read_bytes()) if args.cache.is_file() else {}
        for set_name in args.sets.split(","):
            photos = load_set(args.data, set_name, args.limit, args.every)
            rows = preset_rows(set_name, photos, cache, args.cache, (args.limit, args.every))
            report.setdefault("presets", {})[set_name] = rows
            print(f"\n{set_name} ({len(photos)} photos; preset mask 1.6 ellipse)")
            print(format_rows(rows))
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        return 0
    if args.timing_only or not report.get("timing_1280x720"):
        report["timing_1280x720"] = timing(clip_frames(args.data, args.frames), args.repeats)
    if not args.timing_only:
        cache: dict = pickle.loads(args.cache.read_bytes()) if args.cache.is_file() else {}
        wanted = [r for r in RUNS if r.name in args.runs.split(",")]
        for set_name in args.sets.split(","):
            photos = load_set(args.data, set_name, args.limit, args.every)
            rows = report.setdefault("sets", {}).setdefault(set_name, {})
            for run in wanted:
                key = (set_name, run.name, args.limit)
                if args.every != 1:
                    key = (set_name, run.name, (args.limit, args.every))
                if key not in cache:
                    started = time.perf_counter()
                    cache[key] = detect_set(run, photos)
                    args.cache.write_bytes(pickle.dumps(cache))
                    print(f"{set_name} {run.name}: {time.perf_counter() - started:.0f} s",
                          file=sys.stderr, flush=True)
                found, cpu = cache[key]
                for threshold in run.thresholds:
                    row = score(photos, found, threshold)
                    row["cpu_ms_per_photo"] = round(1000 * cpu / len(photos), 1)
                    rows[f"{run.name} t{threshold}"] = row
            for text in args.mix:
                parts = parse_mix(text)
                found_parts = [cache[(set_name, name, args.limit if args.every == 1
                                      else (args.limit, args.every))] for name, _ in parts]
                merged = []
                for i in range(len(photos)):
                    pieces = []
                    for (_, threshold), (found, _) in zip(parts, found_parts, strict=True):
                        keep = found[i].scores >= threshold
                        pieces.append(Detections(found[i].xyxy[keep], found[i].scores[keep]))
                    merged.append(merge(pieces))
                row = score(photos, merged, 0.0)
                row["cpu_ms_per_photo"] = round(sum(
                    1000 * cpu / len(photos) for _, cpu in found_parts), 1)
                rows[f"mix {text}"] = row
            print(f"\n{set_name} ({len(photos)} photos, mask {MASK_SCALE} ellipse)")
            print(format_rows(rows))
    report["photos_limit"] = args.limit
    report["photos_every"] = args.every
    report["scoring"] = ("covered when >= 60% of the face box is hidden; over-blur = share of "
                         "the image hidden outside faces enlarged 1.5x; faces >= 16 px counted")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
