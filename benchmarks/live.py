"""Live pipeline benchmark: ``livefilter run --realtime --null`` on the shared
clips at 720p and on a 1080p copy of each (made with ffmpeg in a temp dir).

Reports, per clip and resolution: output fps, dropped share, detector Hz,
capture-to-output latency p50/p95/p99, curtain share. Targets (issue 4):
720p30 and 1080p30 output >= 29 fps; at 720p dropped <= 1 %, latency p95
<= 100 ms, detector >= 8 Hz.

Usage: python benchmarks/live.py [--clips 0,1] [--sizes 720,1080] [--extra "..."]
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


def upscale(clip: Path, work: Path) -> Path:
    out = work / f"{clip.stem}_1080p.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-vf", "scale=1920:1080",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "copy",
                    str(out)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--clips", default="")
    parser.add_argument("--sizes", default="720,1080")
    parser.add_argument("--extra", default="", help="extra options for livefilter run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "live.json")
    args = parser.parse_args()
    clips = sorted((args.data / "clips").glob("clip*_*.mp4"))
    if args.clips:
        wanted = {int(c) for c in args.clips.split(",")}
        clips = [c for c in clips if int(c.name[4:6]) in wanted]
    extra = args.extra.split()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in args.sizes.split(","):
            for clip in clips:
                source = clip if size == "720" else upscale(clip, work)
                stats = run_clip(source, work, extra)
                frames_in = max(1, stats["frames_in"])
                row = {
                    "clip": clip.stem, "size": f"{size}p", "fps_out": stats["fps_out"],
                    "dropped_share": round(stats["dropped"] / frames_in, 4),
                    "detector_hz": stats["detector_hz"], "latency_ms": stats["latency_ms"],
                    "curtain_share": round(stats["curtain_frames"] / max(1, stats["frames_out"]),
                                           4),
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
