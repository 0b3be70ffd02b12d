"""Peak memory, speed and CPU use of ``livefilter file`` at 720p, 1080p and 4K.

Each run is a fresh subprocess measured by its own process
(:mod:`peak_rss`): peak RSS, wall seconds, fps and CPU time / wall time
(both cores busy = 2.0). The sources are a shared 720p clip, the 1080p
crowd clip and a 4K copy of it made with ffmpeg (lanczos, x264 CRF 20) in a
temp dir. Targets (issue 17): at most 700 MB at 720p and 1080p, 1.2 GB at
4K; CPU / wall at least 1.8 on an idle machine.

Usage: python benchmarks/file_memory.py [--sizes 720,1080,2160] [--extra "..."]
Results: benchmarks/results/file_memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from peak_rss import run_measured  # noqa: E402

DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results" / "file_memory.json"


def source(size: str, data: Path, work: Path) -> Path:
    """The clip for ``size`` (``720``, ``1080``, ``2160``)."""
    if size == "720":
        return data / "clips_crowds" / "clip01_1280x720.mp4"
    hd = data / "clips_crowds" / "hd" / "clip00_1920x1080.mp4"
    if size == "1080":
        return hd
    out = work / "clip00_3840x2160.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(hd), "-vf",
                    "scale=3840:2160:flags=lanczos", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "20", "-c:a", "copy", str(out)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sizes", default="720,1080,2160")
    parser.add_argument("--extra", default="", help="extra options for livefilter file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in args.sizes.split(","):
            clip = source(size, args.data, work)
            command = [sys.executable, "-m", "livefilter", "file", str(clip), "-o",
                       str(work / f"out_{size}.mp4"), "-q", "--stats-json",
                       str(work / "stats.json"), *args.extra.split()]
            result = run_measured(command)
            if result["exit"] != 0:
                raise SystemExit(f"{size}: livefilter failed: {result['stderr']}")
            stats = json.loads((work / "stats.json").read_text())
            row = {"size": size, "clip": clip.name, "frames": stats["frames"],
                   "fps": stats["fps"], "peak_rss_mb": result["peak_rss_mb"],
                   "seconds": result["seconds"],
                   "cpu_per_wall": round(result["cpu_seconds"] / result["seconds"], 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "extra": args.extra}, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
