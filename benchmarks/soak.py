"""Soak test (not part of ``make test``): ``livefilter run --realtime --null``
on a clip looped for ``--minutes`` (default 10), sampling the process's
memory (RSS) and the stats line every 10 s.

Reports memory growth (from the first minute to the end), fps over time,
dropped and curtain frames. Saves JSON.

Usage: python benchmarks/soak.py [--minutes 10] [--clip PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clip", type=Path, default=DATA / "clips" / "clip00_1280x720.mp4")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "soak.json")
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        looped = Path(tmp) / "looped.mp4"
        loops = int(seconds // 12) + 2
        subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", str(loops), "-i",
                        str(args.clip), "-c", "copy", str(looped)], check=True)
        stats_path = Path(tmp) / "stats.json"
        process = subprocess.Popen(
            [sys.executable, "-m", "livefilter", "run", "--source", str(looped), "--realtime",
             "--null", "--duration", str(seconds), "--stats-interval", "10",
             "--stats-json", str(stats_path)],
            stderr=subprocess.PIPE, text=True,
        )
        lines: list[tuple[float, str]] = []
        started = time.monotonic()

        def collect() -> None:
            for line in process.stderr:  # type: ignore[union-attr]
                lines.append((time.monotonic() - started, line.strip()))

        reader = threading.Thread(target=collect, daemon=True)
        reader.start()
        memory = []
        while process.poll() is None:
            value = rss_mb(process.pid)
            if value is not None:
                memory.append((round(time.monotonic() - started, 1), round(value, 1)))
            time.sleep(10)
        reader.join(timeout=5)
        stats = json.loads(stats_path.read_text())
    fps_series = []
    for at, line in lines:
        match = re.search(r"([\d.]+) fps \| in (\d+) out (\d+) dropped (\d+)", line)
        if match:
            fps_series.append((round(at, 1), float(match.group(1))))
    after_minute = [m for t, m in memory if t >= 60] or [m for _, m in memory]
    report = {
        "minutes": args.minutes,
        "rss_mb_first_minute": after_minute[0] if after_minute else None,
        "rss_mb_end": after_minute[-1] if after_minute else None,
        "rss_growth_mb": round(after_minute[-1] - after_minute[0], 1) if after_minute else None,
        "rss_mb_samples": memory,
        "fps_series": fps_series,
        "fps_min": min((f for _, f in fps_series), default=None),
        "fps_out": stats["fps_out"],
        "frames_out": stats["frames_out"],
        "dropped": stats["dropped"],
        "curtain_frames": stats["curtain_frames"],
        "latency_ms": stats["latency_ms"],
    }
    print(json.dumps({k: v for k, v in report.items() if not k.endswith(("samples", "series"))},
                     indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
