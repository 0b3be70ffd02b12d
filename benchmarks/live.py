"""Live pipeline benchmark: ``livefilter run --realtime --null`` on the shared
clips at 720p and on copies made with ffmpeg in a temp dir: ``1080`` (1080p
at the clip's 30 fps), ``1080p60`` (1080p, each frame twice: 60 fps) and
``2160`` (4K at 30 fps).

Reports, per clip and size: output fps, dropped share, detector Hz,
capture-to-output latency p50/p95/p99, curtain share and the seconds spent in
each protection state. Targets: 720p30 and 1080p30 output >= 29 fps; at 720p
dropped <= 1 %, latency p95 <= 100 ms; 4K30 and 1080p60 hold the source rate
with <= 1 % dropped and latency p95 <= delay + 50 ms, or say (protection
state) that they degrade.

Usage: python benchmarks/live.py [--set clips] [--clips 0,1]
       [--sizes 720,1080,1080p60,2160] [--extra "..."]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def run_clip(clip: Path, work: Path, extra: list[str]) -> dict:
    stats = work / f"{clip.stem}-stats.json"
    subprocess.run(
        [sys.executable, "-m", "livefilter", "run", "--source", str(clip), "--realtime",
         "--null", "-q", "--stats-json", str(stats), *extra],
        check=True,
    )
    return json.loads(stats.read_text())


def copy_at(clip: Path, work: Path, size: str) -> Path:
    """``clip`` at ``size`` (``1080``, ``1080p60``, ``2160``): scaled, and for
    ``p60`` each frame shown twice (a 60 fps source with the clip's motion)."""
    height, _, rate = size.partition("p")
    width = int(height) * 16 // 9
    filters = f"scale={width}:{height}" + (f",fps={rate}" if rate else "")
    out = work / f"{clip.stem}_{size}.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-vf", filters,
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "copy",
                    str(out)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--set", default="clips", help="clips or clips_crowds")
    parser.add_argument("--clips", default="")
    parser.add_argument("--sizes", default="720,1080")
    parser.add_argument("--extra", default="", help="extra options for livefilter run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "live.json")
    args = parser.parse_args()
    clips = sorted((args.data / args.set).glob("clip*_*.mp4"))
    if args.clips:
        wanted = {int(c) for c in args.clips.split(",")}
        clips = [c for c in clips if int(c.name[4:6]) in wanted]
    extra = args.extra.split()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in args.sizes.split(","):
            for clip in clips:
                source = clip if size == "720" else copy_at(clip, work, size)
                stats = run_clip(source, work, extra)
                frames_in = max(1, stats["frames_in"])
                row = {
                    "set": args.set, "clip": clip.stem, "size": size, "fps_out": stats["fps_out"],
                    "dropped_share": round(stats["dropped"] / frames_in, 4),
                    "detector_hz": stats["detector_hz"], "latency_ms": stats["latency_ms"],
                    "curtain_share": round(stats["curtain_frames"] / max(1, stats["frames_out"]),
                                           4),
                    "protection": stats.get("protection"),
                }
                rows.append(row)
                latency = row["latency_ms"]
                print(f"{row['size']:6s} {row['clip']:16s} fps {row['fps_out']:5.1f}  dropped "
                      f"{row['dropped_share']:6.2%}  detector {row['detector_hz']:5.1f} Hz  "
                      f"latency p50/p95/p99 {latency['p50']}/{latency['p95']}/{latency['p99']} ms"
                      f"  curtain {row['curtain_share']:.2%}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "extra": extra}, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
