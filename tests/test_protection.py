"""The protection state (protected / degraded / curtain / signal-lost), the
detector step-down, the banner, and a live run with the CPU taken by a
competing x264 encode."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess

import numpy as np
import pytest
from conftest import MemorySink, ScriptedSource, SquareDetector, square_frame

from livefilter.apps.live import LiveConfig, LivePipeline
from livefilter.apps.stepdown import StepDown
from livefilter.detections import Detections
from livefilter.io.banner import draw_banner
from livefilter.protection import PROTECTION_STATES, ProtectionMonitor
from livefilter.regions import RedactionConfig


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _frames(monitor: ProtectionMonitor, clock: Clock, count: int, reason: str | None,
            **kwargs) -> None:
    for _ in range(count):
        clock.now += 1 / 30
        monitor.frame(reason, **kwargs)


def test_protection_states_follow_the_frames_out_with_one_change_each():
    clock = Clock()
    changes: list[tuple[str, str]] = []
    monitor = ProtectionMonitor(clock=clock, on_change=lambda *c: changes.append(c))
    _frames(monitor, clock, 10, "no-detection-yet")
    assert monitor.state() == ("curtain", "no-detection-yet")
    _frames(monitor, clock, 60, None)
    assert monitor.state() == ("protected", "")
    # A short curtain at a cut (a third of a second) does not flip the state.
    _frames(monitor, clock, 10, "scene-cut")
    _frames(monitor, clock, 30, None)
    assert monitor.state() == ("protected", "")
    monitor.set_degraded("reduced-detection")
    _frames(monitor, clock, 1, None)
    assert monitor.state() == ("degraded", "reduced-detection")
    _frames(monitor, clock, 45, "partial-coverage")
    assert monitor.state() == ("curtain", "partial-coverage")
    _frames(monitor, clock, 3, "signal-lost", signal_lost=True)
    assert monitor.state() == ("signal-lost", "source lost")
    monitor.set_degraded(None)
    _frames(monitor, clock, 60, None)
    assert monitor.state() == ("protected", "")
    assert changes == [
        ("curtain", "no-detection-yet"), ("protected", ""), ("degraded", "reduced-detection"),
        ("curtain", "partial-coverage"), ("signal-lost", "source lost"), ("protected", ""),
    ]
    summary = monitor.summary()
    assert set(summary) == {"state", "reason", "seconds"}
    assert set(summary["seconds"]) == set(PROTECTION_STATES)
    seconds = summary["seconds"]
    # Protected from the 11th clean frame (the first second was then mostly
    # clean): 50 + 10 + 30 frames before the step-down, 60 at the end.
    assert seconds["protected"] == pytest.approx(149 / 30, abs=0.1)
    assert seconds["signal-lost"] == pytest.approx(3 / 30, abs=0.05)
    assert sum(seconds.values()) == pytest.approx(219 / 30, abs=0.05)


class Reducible:
    """A detector that can step down, as MultiPassDetector does."""

    name = "reducible"

    def __init__(self) -> None:
        self.reduced = False

    @property
    def revisit_calls(self) -> int:
        return 1 if self.reduced else 6

    def reduce(self, reduced: bool) -> None:
        self.reduced = reduced

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        return Detections.empty()


def _calls(stepdown: StepDown, clock: Clock, count: int, interval: float) -> None:
    for _ in range(count):
        clock.now += interval
        stepdown.call_started()


def test_step_down_before_the_curtain_and_back_up_when_there_is_room():
    clock = Clock()
    detector = Reducible()
    stepdown = StepDown(detector, hold=1.0, max_stale=0.5, clock=clock, retry=10.0)
    _calls(stepdown, clock, 20, 0.05)  # 6 calls in 0.3 s: fine
    assert stepdown.level == 0 and stepdown.reason is None
    _calls(stepdown, clock, 8, 0.2)  # 6 calls in 1.2 s: longer than the hold
    assert stepdown.level == 1 and detector.reduced
    assert stepdown.reason == "reduced-detection"
    _calls(stepdown, clock, 8, 0.45)  # even one call is nearly max-stale
    assert stepdown.level == 2 and stepdown.reason == "half-frame-rate"
    _calls(stepdown, clock, 8, 0.05)  # the load went: not before the retry time
    assert stepdown.level == 2
    _calls(stepdown, clock, 400, 0.05)
    assert stepdown.level == 0 and not detector.reduced


def test_a_detector_that_cannot_reduce_goes_to_half_rate():
    clock = Clock()
    stepdown = StepDown(SquareDetector(), hold=1.0, max_stale=0.5, clock=clock)
    _calls(stepdown, clock, 8, 0.45)
    assert stepdown.level == 2


def test_banner_draws_the_state_small_in_the_corner():
    image = np.full((720, 1280, 3), 128, np.uint8)
    draw_banner(image, ("degraded", "reduced-detection"))
    changed = np.any(image != 128, axis=2)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 0
    assert ys.min() > 720 * 0.9 and xs.max() < 1280 * 0.5  # bottom-left, small


WIDTH, HEIGHT = 320, 240


def test_pipeline_reports_protection_in_stats_and_on_the_banner(caplog):
    frames = [square_frame(WIDTH, HEIGHT, [(100 + i, 120, 40)], seed=i) for i in range(45)]
    memory = MemorySink()
    pipeline = LivePipeline(
        ScriptedSource(frames), SquareDetector(first_delay=0.5), redaction=RedactionConfig(),
        config=LiveConfig(stats_interval=0, banner=True), sinks=[memory])
    with caplog.at_level(logging.WARNING, logger="livefilter.protection"):
        stats = pipeline.run()
    protection = stats["protection"]
    assert protection["state"] in PROTECTION_STATES
    assert set(protection["seconds"]) == set(PROTECTION_STATES)
    assert protection["seconds"]["curtain"] > 0  # the first half second
    assert pipeline.protection() == (protection["state"], protection["reason"])
    assert stats["revisit_s"] is not None and stats["revisit_s"] > 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("protection")]
    assert lines[0] == "protection: curtain (no-detection-yet)"
    # Every frame out carries the banner (a dark strip at the bottom left).
    assert all(item.image[-3:, :20].max() < 60 or item.curtain for item in memory.items)
    assert any(item.image[-3:, :20].max() < 60 for item in memory.items)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_loaded_run_reports_its_state_and_sends_no_raw_frame(tmp_path, cli):
    """A live run while a 1080p x264 encode takes a core: the states are
    reported and no frame goes out with the face uncovered."""
    from synthetic import write_clip

    from livefilter.hide.composite import hidden_mask

    clip = tmp_path / "face.mp4"
    boxes = write_clip(clip, frames=90, fps=15, audio=False)
    load = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-c:v", "libx264", "-threads", "1", "-f", "null", "-"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        stats_path, regions_path = tmp_path / "stats.json", tmp_path / "regions.json"
        result = cli("run", "--source", clip, "--realtime", "--null", "--delay", "0",
                     "--stats-interval", "0", "--stats-json", stats_path,
                     "--regions-json", regions_path)
    finally:
        load.terminate()
        load.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    assert "protection: curtain (no-detection-yet)" in result.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["protection"]["state"] in PROTECTION_STATES
    assert stats["frames_out"] > 0
    regions = json.loads(regions_path.read_text())
    for entry in regions["frames"]:
        if entry["curtain"]:
            continue
        region = np.array([r["box"] for r in entry["regions"]], np.float32).reshape(-1, 4)
        mask = hidden_mask(region, "ellipse", 240, 320)
        x1, y1, x2, y2 = (int(v) for v in boxes[entry["index"]])
        assert mask[max(0, y1):y2, max(0, x1):x2].mean() > 0.6, entry["index"]


@pytest.mark.parametrize("outputs", [
    {"record": "out.mkv"}, {"stream": "rtmp://x"}, {"null": True},
    {"record": "out.mkv", "preview": True}, {"stream": "rtmp://x", "vcam": "auto"},
])
def test_no_look_ahead_by_default_for_any_output(outputs):
    """Measured: the look-ahead exposed more faces than none (README)."""
    from livefilter.cli import build_parser

    args = ["run", "--source", "clip.mp4"]
    for key, value in outputs.items():
        args += [f"--{key}"] + ([] if value is True else [value])
    parsed = build_parser()[0].parse_args(args)

    assert parsed.delay == 0.0
    assert build_parser()[0].parse_args([*args, "--delay", "0.5"]).delay == 0.5


def test_protection_lines_warn_on_every_loss_and_the_recovery_after_one(caplog):
    from livefilter.protection import ProtectionLog

    log = ProtectionLog()
    with caplog.at_level(logging.INFO, logger="livefilter.protection"):
        log("protected", "")
        log("degraded", "reduced-detection")
        log("protected", "")
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        (logging.INFO, "protection: protected"),  # the start: not an error line
        (logging.WARNING, "protection: degraded (reduced-detection)"),
        (logging.WARNING, "protection: protected"),  # back: said as loudly as the loss
    ]
