"""Batch benchmark: throughput of ``livefilter batch`` with ``--jobs 1``,
``--jobs 2`` and ``--ray`` (a local two-node cluster, one CPU each) on the
same inputs, the speed-up of ``file --jobs 2`` (segments) on a long 1080p
file, and the cost of resuming a finished batch.

Inputs: the first ``--photos`` photos of ``wider_dev``, the clips named by
``--clips`` (from ``clips/`` and ``clips_crowds/``), and a long file made by
joining ``clips_crowds/hd/clip00_1920x1080.mp4`` to ``--long-seconds``
(without re-encoding). Wall-clock seconds of the whole command, process
start and model loading included.

Usage: python benchmarks/batch.py [--photos 20] [--clips clips/clip00,clips_crowds/clip00]
       [--long-seconds 60] [--modes jobs1,jobs2,ray] [--no-long]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def livefilter(*args: object) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "livefilter", *map(str, args)], check=True, env=ENV)
    return time.monotonic() - started


def duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / av.time_base


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ray() -> str:
    ray = Path(sys.executable).with_name("ray")
    port = free_port()
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
              "--object-store-memory=100000000"]
    subprocess.run([ray, "start", "--head", f"--port={port}", "--include-dashboard=false",
                    *common], check=True, capture_output=True, env=ENV)
    subprocess.run([ray, "start", f"--address=127.0.0.1:{port}", *common], check=True,
                   capture_output=True, env=ENV)
    return f"127.0.0.1:{port}"


def stop_ray() -> None:
    subprocess.run([Path(sys.executable).with_name("ray"), "stop"], capture_output=True,
                   env=ENV, check=False)


def make_long(work: Path, seconds: float) -> Path:
    hd = DATA / "clips_crowds" / "hd" / "clip00_1920x1080.mp4"
    repeats = max(1, round(seconds / duration(hd)))
    listing = work / "list.txt"
    listing.write_text("".join(f"file '{hd}'\n" for _ in range(repeats)))
    long = work / "long_1080p.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat",
                    "-safe", "0", "-i", str(listing), "-c", "copy", str(long)], check=True)
    return long


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--clips", default="clips/clip00,clips_crowds/clip00")
    parser.add_argument("--long-seconds", type=float, default=60.0)
    parser.add_argument("--modes", default="jobs1,jobs2,ray")
    parser.add_argument("--no-long", action="store_true", help="skip the segment speed-up")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "batch.json")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    results: dict[str, object] = {"photos": args.photos, "clips": args.clips, "modes": {}}
    with tempfile.TemporaryDirectory(prefix="livefilter-batch-bench-") as tmp:
        work = Path(tmp)
        photos = work / "photos"
        photos.mkdir()
        labels = json.loads((DATA / "wider_dev" / "labels.json").read_text())
        for entry in labels["images"][:args.photos]:
            source = DATA / "wider_dev" / entry["image"]
            os.symlink(source, photos / source.name)
        clips = work / "clips"
        clips.mkdir()
        video_seconds = 0.0
        for name in args.clips.split(","):
            source = next((DATA / name).parent.glob(Path(name).name + "_*.mp4"))
            os.symlink(source, clips / f"{Path(name).parent.name}_{source.name}")
            video_seconds += duration(source)
        address = None
        try:
            for mode in modes:
                if mode == "ray":
                    address = start_ray()
                    extra = ["--ray", address]
                else:
                    extra = ["--jobs", mode.removeprefix("jobs")]
                out = work / f"out-{mode}"
                photo_s = livefilter("batch", photos, "-o", out, "-q", *extra)
                video_s = livefilter("batch", clips, "-o", out, "-q", *extra)
                resume_s = livefilter("batch", photos, clips, "-o", out, "-q", *extra)
                row = {
                    "photo_seconds": round(photo_s, 1),
                    "photos_per_hour": round(args.photos / photo_s * 3600),
                    "video_seconds": round(video_s, 1),
                    "video_seconds_per_hour": round(video_seconds / video_s * 3600),
                    "resume_seconds": round(resume_s, 1),
                }
                results["modes"][mode] = row  # type: ignore[index]
                print(mode, row, flush=True)
                shutil.rmtree(out)
                if mode == "ray":
                    stop_ray()
                    address = None
            if not args.no_long:
                long = make_long(work, args.long_seconds)
                one = livefilter("file", long, "-o", work / "one.mp4", "-q")
                two = livefilter("file", long, "-o", work / "two.mp4", "-q", "--jobs", "2",
                                 "--min-segment", str(min(30.0, duration(long) / 2)))
                results["long"] = {"seconds_of_video": round(duration(long), 1),
                                   "one_piece_seconds": round(one, 1),
                                   "jobs2_seconds": round(two, 1),
                                   "speed_up": round(one / two, 2)}
                print("long", results["long"], flush=True)
        finally:
            if address is not None:
                stop_ray()
    results["video_seconds_in"] = round(video_seconds, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
