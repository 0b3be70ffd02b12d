"""Live sound sync over a long run: ``livefilter run --realtime --record``
on a synthetic clip whose video flashes and whose sound clicks at the same
instants (tests/synthetic.py), then the offset of each click from its flash
in the recording.

Modes:
* ``source``: the sound is the clip's own (demuxed with the video);
* ``device``: the sound comes from an input device (FFmpeg's lavfi, clicks
  every ``--every`` seconds at real-time pace), as a microphone would. Its
  clicks start at another instant than the flashes, so only the drift (the
  change of the offset over the run) is meaningful there.

Reports: flashes and clicks found, offset at the start and the end, drift
(end minus start, by a linear fit over the whole run), worst offset.
Target (issue 12): drift <= 40 ms over 10 minutes.

Usage: python benchmarks/audio_sync.py [--minutes 10] [--mode source|device]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from synthetic import flash_and_click_times, write_click_clip  # noqa: E402


def pair(flashes: list[float], clicks: list[float], every: float) -> np.ndarray:
    """``(flash time, click - flash)`` for each flash with a click within half a period."""
    rows = []
    for flash in flashes:
        nearest = min(clicks, key=lambda click: abs(click - flash), default=None)
        if nearest is not None and abs(nearest - flash) < every / 2:
            rows.append((flash, nearest - flash))
    return np.array(rows).reshape(-1, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between flashes")
    parser.add_argument("--mode", choices=("source", "device"), default="source")
    parser.add_argument("--keep", type=Path, default=None, help="keep the recording here")
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        clip = work / "clicks.mp4"
        flashes = tuple(np.arange(args.every, seconds - 1, args.every))
        write_click_clip(clip, seconds=seconds, fps=30, flashes=flashes)
        recording = args.keep or work / "rec.mkv"
        command = [sys.executable, "-m", "livefilter", "run", "--source", str(clip),
                   "--realtime", "--record", str(recording), "--audio", "keep", "-q",
                   "--detector", "cascade", "--stats-json", str(work / "stats.json")]
        if args.mode == "device":
            # A click (10 ms of 1 kHz) every `every` seconds, paced like a device.
            expression = f"0.8*sin(2*PI*1000*t)*lt(mod(t\\,{args.every})\\,0.01)"
            command += ["--audio-source",
                        f"lavfi:aevalsrc={expression}:s=48000:d={seconds},arealtime"]
        subprocess.run(command, check=True)
        stats = json.loads((work / "stats.json").read_text())
        found_flashes, clicks = flash_and_click_times(recording)
    rows = pair(found_flashes, clicks, args.every)
    result: dict[str, object] = {
        "mode": args.mode, "minutes": args.minutes, "flashes_in_clip": len(flashes),
        "flashes_found": len(found_flashes), "clicks_found": len(clicks), "pairs": len(rows),
        "frames_out": stats.get("frames_out"), "dropped": stats.get("dropped"),
        "audio": stats.get("audio"),
    }
    if len(rows) >= 2:
        slope, _ = np.polyfit(rows[:, 0], rows[:, 1], 1)
        span = rows[-1, 0] - rows[0, 0]
        result.update({
            "offset_start_ms": round(1000 * float(rows[0, 1]), 2),
            "offset_end_ms": round(1000 * float(rows[-1, 1]), 2),
            "drift_ms_over_run": round(1000 * float(slope * span), 2),
            "drift_ms_per_10_min": round(1000 * float(slope * 600), 2),
            "worst_offset_ms": round(1000 * float(np.abs(rows[:, 1]).max()), 2),
            "offset_spread_ms": round(1000 * float(np.ptp(rows[:, 1])), 2),
        })
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
