"""Leak benchmark: does any face show between detections, on moving video?

Runs ``livefilter file`` and ``livefilter run --realtime --null`` (its
defaults, and with a chosen look-ahead: ``run0``, ``run03``, ``run05``) on every clip
of the chosen sets (``clips``, ``clips_crowds``, ``hd`` =
``clips_crowds/hd``), reads the regions each wrote (``--regions-json``) and
scores every output frame against the clip's labelled boxes: a face at least
16 px tall *leaks* in a frame when less than 60 % of its box is hidden. A
per-frame baseline (CenterFace on every frame at native resolution, threshold
0.2, ellipse in the box grown by 0.3 of its size on each side: what the
deface tool does) is computed here too.

``--load`` adds each ``run`` mode again with a competing x264 encode of a
1080p30 test pattern on one thread (how OBS loads a streamer's laptop),
started before the run and stopped after it.

Usage: python benchmarks/leaks.py [--sets clips,clips_crowds] [--clips 0,1]
       [--modes baseline,file,run,run0,run03,run05] [--load]
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
    "run": "run --realtime (defaults)",
    "run0": "run --realtime --delay 0",
    "run03": "run --realtime --delay 0.3",
    "run05": "run --realtime --delay 0.5",
}
SETS = {"clips": "clips", "clips_crowds": "clips_crowds", "hd": "clips_crowds/hd"}
LOAD = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
        "-c:v", "libx264", "-threads", "1", "-f", "null", "-"]


def curtain_outside_starts(labels: dict, regions: dict) -> float:
    """Share of frames out hidden whole, leaving out the first second and the
    second after each cut (where the curtain is expected)."""
    fps = labels.get("fps", 30)
    starts = [0, *labels.get("cuts_at_frame", [])]
    counted = curtained = 0
    for entry in regions["frames"]:
        index = entry["index"]
        if any(start <= index < start + fps for start in starts):
            continue
        counted += 1
        curtained += bool(entry["curtain"])
    return curtained / counted if counted else 0.0


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
        command = ["run", "--source", str(clip), "--realtime", "--null", "-q"]
        delay = {"run0": "0", "run03": "0.3", "run05": "0.5"}.get(mode.removesuffix("+load"))
        if delay is not None:
            command += ["--delay", delay]
    command += ["--regions-json", str(regions), "--stats-json", str(stats), *extra]
    load = None
    if mode.endswith("+load"):
        load = subprocess.Popen(LOAD, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # the encoder at full speed before the run starts
    try:
        subprocess.run([sys.executable, "-m", "livefilter", *command], check=True)
    finally:
        if load is not None:
            load.terminate()
            load.wait(timeout=30)
    return json.loads(regions.read_text()), json.loads(stats.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sets", default="clips", help=f"comma-separated: {', '.join(SETS)}")
    parser.add_argument("--clips", default="", help="comma-separated clip numbers (default all)")
    parser.add_argument("--modes", default="baseline,file,run,run05")
    parser.add_argument("--load", action="store_true",
                        help="also each run mode with a competing 1080p30 x264 encode")
    parser.add_argument("--extra", default="", help="extra options for livefilter (quoted)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "leaks.json")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if args.load:
        modes += [f"{m}+load" for m in modes if m.startswith("run")]
    extra = args.extra.split()
    results: dict[str, dict] = {}
    for name in [s for s in args.sets.split(",") if s]:
        clips = sorted((args.data / SETS[name]).glob("clip*_*.mp4"))
        if args.clips:
            wanted = {int(c) for c in args.clips.split(",")}
            clips = [c for c in clips if int(c.name[4:6]) in wanted]
        results[name] = run_set(clips, modes, extra)
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sets": results, "extra": extra, "load": args.load},
                                   indent=2) + "\n")
    print(f"\nsaved {args.out}")


def run_set(clips: list[Path], modes: list[str], extra: list[str]) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for mode in modes:
        pooled = LeakTally()
        per_clip = {}
        fps_values, curtains, latencies = [], [], []
        frames_in = dropped = 0
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
            summary["curtain_outside_starts"] = round(curtain_outside_starts(labels, regions), 4)
            summary["latency_p95_ms"] = stats.get("latency_ms", {}).get("p95")
            summary["protection"] = stats.get("protection")
            per_clip[clip.stem] = summary
            fps_values.append(fps)
            frames_in += stats.get("frames_in", len(labels["frames"]))
            dropped += stats.get("dropped", 0)
            curtains.append(summary["curtain_outside_starts"])
            if summary["latency_p95_ms"] is not None:
                latencies.append(summary["latency_p95_ms"])
            print(f"{mode:9s} {clip.stem}: leak {summary['leak_rate']:.4f} "
                  f"exposed-half {summary['faces_exposed_half']} curtain "
                  f"{summary['curtain_share']:.3f} over-blur {summary['over_blur']:.4f} "
                  f"fps {fps:.1f}", flush=True)
        pooled_summary = pooled.summary()
        pooled_summary["fps"] = round(float(np.mean(fps_values)), 2) if fps_values else None
        pooled_summary["dropped_share"] = round(dropped / frames_in, 4) if frames_in else 0.0
        pooled_summary["curtain_outside_starts"] = (round(float(np.mean(curtains)), 4)
                                                    if curtains else None)
        pooled_summary["latency_p95_ms"] = (round(float(np.max(latencies)), 1)
                                            if latencies else None)
        results[mode] = {"label": MODES.get(mode.removesuffix("+load"), mode)
                         + (" + x264 load" if mode.endswith("+load") else ""),
                         "pooled": pooled_summary, "clips": per_clip}
    return results


def print_table(results: dict[str, dict[str, dict]]) -> None:
    header = (f"{'set':13s} {'mode':40s} {'leak':>7s} {'exposed':>8s} {'>=half':>7s} "
              f"{'run':>5s} {'curtain':>8s} {'c-out':>6s} {'overblur':>9s} {'fps':>6s} "
              f"{'drop':>6s} {'p95ms':>6s}")
    print()
    print(header)
    print("-" * len(header))
    for name, modes in results.items():
        for result in modes.values():
            p = result["pooled"]
            outside = p.get("curtain_outside_starts")
            latency = p.get("latency_p95_ms")
            print(f"{name:13s} {result['label']:40s} {p['leak_rate']:7.4f} "
                  f"{p['faces_ever_exposed']:>4d}/{p['faces']:<3d} {p['faces_exposed_half']:>7d} "
                  f"{p['longest_exposed_run']:>5d} {p['curtain_share']:8.3f} "
                  f"{'' if outside is None else f'{outside:.3f}':>6s} {p['over_blur']:9.4f} "
                  f"{p['fps']:6.1f} {p['dropped_share']:6.3f} "
                  f"{'' if latency is None else f'{latency:.0f}':>6s}")


if __name__ == "__main__":
    main()
