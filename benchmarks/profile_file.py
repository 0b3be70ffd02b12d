"""Where the time of ``livefilter file`` goes, stage by stage.

Runs the file path in-process on a clip with every stage's entry point
wrapped by a timer that records, per thread, the wall time and the calling
thread's CPU time of each call, exclusive of the stages it calls in turn
(a detector pass inside ``detect``, the tracker inside the planner). The
package's code is not changed: the wrappers are put on the classes and
module names for the run and removed after.

Stages: ``decode`` (demux + decode + the decoder's bgr24 conversion),
``detect:<pass>`` (one row per network input size: each pass of the
preset), ``detect:merge`` (thresholds, NMS, outside the network),
``track`` (flow, matching), ``plan`` (look-ahead, curtain rules),
``composite`` (hiding), ``encode`` (bgr->yuv, x264, mux) and the time each
thread waits on a queue (``wait:get`` for its input, ``wait:put`` for room
downstream). Colour conversion is inside ``decode`` and ``encode``; it is
timed on its own on the clip's first frames and reported as a separate row
(``colour:to-bgr``, ``colour:to-yuv``) for scale.

onnxruntime runs its network on its own threads: the ``detect:*`` rows'
CPU is only the calling thread's; the process's CPU time / wall time
(``cpu_per_wall``) counts every thread.

    python benchmarks/profile_file.py [CLIP ...] [--quality thorough] [--frames N]

Writes ``benchmarks/results/profile_file.json`` and prints a table per clip.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("LIVEFILTER_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"

import av  # noqa: E402

from livefilter.apps import offline  # noqa: E402
from livefilter.detect import DetectorConfig, build_detector  # noqa: E402
from livefilter.detect.centerface import CenterFaceDetector  # noqa: E402
from livefilter.detect.multipass import MultiPassDetector  # noqa: E402
from livefilter.io.media import VideoReader  # noqa: E402
from livefilter.io.writer import VideoWriter  # noqa: E402
from livefilter.regions import RedactionConfig  # noqa: E402
from livefilter.track import plan as plan_module  # noqa: E402
from livefilter.track import tracker as tracker_module  # noqa: E402
from livefilter.track.plan import RegionPlanner  # noqa: E402
from livefilter.track.tracker import Tracker  # noqa: E402


class StageClock:
    """Exclusive wall and thread-CPU time per (thread, stage)."""

    def __init__(self) -> None:
        self.wall: dict[tuple[str, str], float] = defaultdict(float)
        self.cpu: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self._local = threading.local()
        self._lock = threading.Lock()

    def _stack(self) -> list[list[float]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def enter(self) -> None:
        # [wall start, cpu start, child wall, child cpu]
        self._stack().append([time.perf_counter(), time.thread_time(), 0.0, 0.0])

    def leave(self, stage: str) -> None:
        wall_start, cpu_start, child_wall, child_cpu = self._stack().pop()
        wall = time.perf_counter() - wall_start
        cpu = time.thread_time() - cpu_start
        stack = self._stack()
        if stack:
            stack[-1][2] += wall
            stack[-1][3] += cpu
        key = (threading.current_thread().name, stage)
        with self._lock:
            self.wall[key] += wall - child_wall
            self.cpu[key] += cpu - child_cpu
            self.calls[key] += 1

    def wrap(self, function, stage):
        """``function`` timed as ``stage`` (a string, or a function of the call's arguments)."""

        @functools.wraps(function)
        def timed(*args, **kwargs):
            self.enter()
            try:
                return function(*args, **kwargs)
            finally:
                self.leave(stage(*args, **kwargs) if callable(stage) else stage)

        return timed

    def wrap_iterator(self, method, stage: str):
        """A generator method whose every ``next()`` is timed as ``stage``."""

        @functools.wraps(method)
        def timed(*args, **kwargs):
            iterator = method(*args, **kwargs)
            while True:
                self.enter()
                try:
                    item = next(iterator)
                except StopIteration:
                    self.leave(stage)
                    return
                self.leave(stage)
                yield item

        return timed


def _pass_name(detector, frame, input_width=0, **_):
    height, width = frame.shape[:2]
    net_width = detector.input_size(width, height, input_width)[0]
    return f"detect:{net_width}x{frame.shape[0] * net_width // max(1, width)}"


class Patches:
    """Set attributes for a run and put the originals back after."""

    def __init__(self) -> None:
        self._saved: list[tuple[object, str, object]] = []

    def set(self, owner: object, name: str, value: object) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def restore(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()


def instrument(clock: StageClock) -> Patches:
    patches = Patches()
    patches.set(VideoReader, "__iter__", clock.wrap_iterator(VideoReader.__iter__, "decode"))
    for name in ("write", "add_audio", "close"):
        patches.set(VideoWriter, name, clock.wrap(getattr(VideoWriter, name), "encode"))
    patches.set(CenterFaceDetector, "detect", clock.wrap(CenterFaceDetector.detect, _pass_name))
    patches.set(MultiPassDetector, "detect_run",
                clock.wrap(MultiPassDetector.detect_run, "detect:merge"))
    for name in ("step", "add_detections", "boxes"):
        patches.set(Tracker, name, clock.wrap(getattr(Tracker, name), "track"))
    for module in (plan_module, tracker_module):
        patches.set(module, "propagate_boxes", clock.wrap(module.propagate_boxes, "track"))
    for name in ("advance", "add_result", "pop_ready"):
        patches.set(RegionPlanner, name, clock.wrap(getattr(RegionPlanner, name), "plan"))
    patches.set(offline, "hide_regions", clock.wrap(offline.hide_regions, "composite"))
    patches.set(offline, "curtain", clock.wrap(offline.curtain, "composite"))
    patches.set(offline, "get_or_stop", clock.wrap(offline.get_or_stop, "wait:get"))
    patches.set(offline, "put_or_stop", clock.wrap(offline.put_or_stop, "wait:put"))
    return patches


def colour_costs(clip: Path, frames: int = 60) -> dict[str, float]:
    """ms per frame of the two colour conversions, on the clip's first frames."""
    to_bgr = to_yuv = 0.0
    count = 0
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            started = time.perf_counter()
            image = frame.to_ndarray(format="bgr24")
            to_bgr += time.perf_counter() - started
            started = time.perf_counter()
            av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
            to_yuv += time.perf_counter() - started
            count += 1
            if count >= frames:
                break
    return {"colour:to-bgr": 1000 * to_bgr / count, "colour:to-yuv": 1000 * to_yuv / count}


def profile(clip: Path, quality: str, threads: int) -> dict[str, object]:
    detector = build_detector(DetectorConfig(quality=quality, video=True, threads=threads))
    redaction = RedactionConfig(mask_scale=getattr(detector, "mask_scale", 1.6))
    clock = StageClock()
    with tempfile.TemporaryDirectory() as tmp:
        job = offline.FileJobConfig(input=clip, output=Path(tmp) / "out.mp4")
        patches = instrument(clock)
        cpu_start = os.times()
        started = time.perf_counter()
        try:
            stats = offline.anonymize_video(job, detector, redaction)
        finally:
            patches.restore()
        wall = time.perf_counter() - started
        cpu_end = os.times()
    cpu = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)
    rows = []
    for (thread, stage), seconds in sorted(clock.wall.items(), key=lambda kv: -kv[1]):
        rows.append({
            "thread": thread, "stage": stage, "calls": clock.calls[(thread, stage)],
            "wall_s": round(seconds, 3), "wall_share": round(seconds / wall, 3),
            "cpu_s": round(clock.cpu[(thread, stage)], 3),
        })
    return {
        "clip": f"{clip.parent.name}/{clip.name}", "quality": quality, "threads": threads,
        "frames": stats["frames"], "wall_s": round(wall, 2),
        "fps": round(stats["frames"] / wall, 2),
        "cpu_s": round(cpu, 2), "cpu_per_wall": round(cpu / wall, 2), "stages": rows,
        "colour_ms_per_frame": {k: round(v, 2) for k, v in colour_costs(clip).items()},
    }


def print_table(result: dict[str, object]) -> None:
    print(f"\n{result['clip']} ({result['quality']}): {result['frames']} frames in "
          f"{result['wall_s']} s = {result['fps']} fps; CPU/wall {result['cpu_per_wall']}")
    print(f"{'thread':<20} {'stage':<22} {'calls':>6} {'wall s':>8} {'share':>6} {'cpu s':>8}")
    for row in result["stages"]:
        print(f"{row['thread']:<20} {row['stage']:<22} {row['calls']:>6} {row['wall_s']:>8.2f} "
              f"{row['wall_share']:>6.1%} {row['cpu_s']:>8.2f}")
    for name, ms in result["colour_ms_per_frame"].items():
        print(f"{'(alone)':<20} {name:<22} {'':>6} {ms:>7.2f} ms/frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--quality", default="thorough")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    clips = args.clips or [DATA / "clips_crowds" / "clip00_1280x720.mp4",
                           DATA / "clips_crowds" / "hd" / "clip00_1920x1080.mp4"]
    results = []
    for clip in clips:
        result = profile(clip, args.quality, args.threads)
        print_table(result)
        results.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "profile_file.json"
    out.write_text(json.dumps({"load": os.getloadavg(), "runs": results}, indent=2) + "\n")
    print(f"\nsaved {out}")


if __name__ == "__main__":
    main()
