"""The live fail-closed invariant as a property: for every combination of the
live options the CLI accepts, no frame goes out with a known face uncovered
unless it is hidden whole.

The world is scripted: checkerboard "faces" (conftest's ``square_frame``)
drift slowly in eight vertical lanes, and a cut changes the picture and the
faces. A stub detector finds the faces of some lanes only on each call, the
lanes taking turns like a preset's tiles (``revisit_calls`` calls see them
all), and takes a scripted time per call. The live loop is simulated on a
clock in-process: frames arrive at 30 fps, the detector works on the newest
frame whenever it is free, results reach the planner when the call is done,
frames leave when their delay is over. The options are checked by the same
code the pipeline uses (:func:`livefilter.apps.live.plan_config`); a refused
combination must be refused with one line naming the option.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SquareDetector, square_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livefilter.apps.live import LiveConfig
from livefilter.apps.live_rules import live_tracker_config, plan_config
from livefilter.detections import Detections
from livefilter.errors import ConfigError
from livefilter.frame import Frame
from livefilter.hide.composite import hidden_mask
from livefilter.track.plan import CUT_THRESHOLD_MAX, RegionPlanner

W, H, FPS = 320, 240, 30.0
LANES = 8
LANE_WIDTH = W // LANES
SIDE = 26
FRAMES = 75
CUT_AT = 40
MASK_SCALE = 1.6


def _faces(index: int) -> list[tuple[float, float, float]]:
    """Known faces ``(cx, cy, side)`` in frame ``index``: lanes 0-3 before
    the cut, 2-5 and 7 after it, each drifting up or down 0.4 px a frame."""
    lanes = (0, 1, 2, 3) if index < CUT_AT else (2, 4, 5, 7)
    start = 0 if index < CUT_AT else CUT_AT
    faces = []
    for lane in lanes:
        direction = 1 if lane % 2 else -1
        cy = 70 + 25 * (lane % 4) + direction * 0.4 * (index - start)
        faces.append((lane * LANE_WIDTH + LANE_WIDTH / 2, cy, SIDE))
    return faces


def _frame(index: int) -> np.ndarray:
    image = square_frame(W, H, _faces(index), seed=index)
    if index >= CUT_AT:
        # A new scene: the background 110 levels brighter (a cut well over 50).
        inside = np.zeros((H, W), bool)
        for cx, cy, side in _faces(index):
            inside[max(0, round(cy - side / 2)):round(cy + side / 2),
                   max(0, round(cx - side / 2)):round(cx + side / 2)] = True
        image[~inside] = np.clip(image[~inside].astype(np.int16) + 110, 0, 255).astype(np.uint8)
    return image


_FRAMES = [_frame(i) for i in range(FRAMES)]


class LaneDetector:
    """Finds the faces of one lane in ``revisit_calls`` per call, in turn."""

    name = "lanes"

    def __init__(self, revisit_calls: int) -> None:
        self.revisit_calls = revisit_calls
        self.calls = 0

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        turn = self.calls % self.revisit_calls
        self.calls += 1
        boxes = SquareDetector.find(frame_bgr)
        lane = ((boxes[:, 0] + boxes[:, 2]) / 2 // LANE_WIDTH).astype(int)
        boxes = boxes[lane % self.revisit_calls == turn]
        return Detections(boxes, np.ones(len(boxes), np.float32))


def simulate(*, hold: float, max_stale: float, delay: float, detect_every: int,
             revisit: int, call_time: float, cut_threshold: float) -> list:
    """The live loop on a simulated clock; returns the planned frames out."""
    detector = LaneDetector(revisit)
    live = LiveConfig(detect_every=detect_every, max_stale=max_stale, delay=delay,
                      cut_threshold=cut_threshold)
    tracker = live_tracker_config(detector, hold)
    planner = RegionPlanner(plan_config(live, tracker, detector, fps=FPS,
                                        mask_scale=MASK_SCALE), tracker)
    out = []
    pending: list[tuple[float, int, float, Detections, int, int]] = []
    busy_until, last_seq, call, detect_now = 0.0, -1, 0, False
    for index, image in enumerate(_FRAMES):
        now = index / FPS
        wanted = last_seq + (1 if detect_now else max(1, detect_every))
        if busy_until <= now and index >= wanted:
            need = detector.revisit_calls
            call += 1
            found = detector.detect(image)
            pending.append((now + call_time, index, now, found, call, need))
            busy_until, last_seq, detect_now = now + call_time, index, False
        if planner.advance(Frame(image.copy(), index, now), index, now):
            detect_now = True
        for done in [p for p in pending if p[0] <= now]:
            pending.remove(done)
            planner.add_result(done[1], done[2], done[3], call=done[4], need=done[5])
        out += planner.pop_ready(now=now)
    for done in pending:
        planner.add_result(done[1], done[2], done[3], call=done[4], need=done[5])
    return out + planner.pop_ready(flush=True)


def uncovered(planned) -> list[tuple[int, float]]:
    """``(frame index, hidden share)`` of each known face less than 90 % hidden
    in a frame that is not hidden whole."""
    bad = []
    for item in planned:
        if item.curtain is not None:
            continue
        mask = hidden_mask(item.regions, "ellipse", H, W)
        for cx, cy, side in _faces(item.frame.index):
            x1, y1 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
            x2, y2 = min(W, round(cx + side / 2)), min(H, round(cy + side / 2))
            share = float(mask[y1:y2, x1:x2].mean())
            if share < 0.9:
                bad.append((item.frame.index, round(share, 2)))
    return bad


# Everything `run` accepts for these options (see cli/run.py and the config
# checks): hold 0..30, max-stale 0.05..60, delay 0..10, detect-every auto
# (0) or 1..300, cut-threshold 1..50; the presets' revisits are 1 (single),
# 4 (balanced), 6 (fast), 8 (thorough); call_time is the detector's speed.
options = st.fixed_dictionaries({
    "hold": st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 1.0, 3.0, 30.0]),
    "max_stale": st.sampled_from([0.05, 0.1, 0.3, 0.5, 1.0, 2.0, 60.0]),
    "delay": st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0, 10.0]),
    "detect_every": st.sampled_from([0, 1, 2, 3, 5, 10, 300]),
    "revisit": st.sampled_from([1, 4, 6, 8]),
    "call_time": st.sampled_from([0.01, 0.04, 0.1, 0.3]),
    "cut_threshold": st.sampled_from([1.0, 10.0, 40.0, CUT_THRESHOLD_MAX]),
})


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(options)
def test_no_known_face_goes_out_uncovered_outside_a_curtain(kwargs):
    try:
        planned = simulate(**kwargs)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.split(":")[0] in ("hold", "max-stale")
        assert "use --" in message  # says what value would work
        return
    assert len(planned) == FRAMES
    assert uncovered(planned) == []


@pytest.mark.parametrize("kwargs", [
    # The cases: a short hold, a long max-stale, thorough.
    {"hold": 0.2, "max_stale": 0.2, "revisit": 4},
    {"hold": 0.3, "max_stale": 0.3, "revisit": 8},
    {"hold": 1.0, "max_stale": 1.0, "revisit": 6, "call_time": 0.1},
    {"hold": 1.0, "max_stale": 0.5, "revisit": 8, "call_time": 0.04},
    {"hold": 1.0, "max_stale": 0.5, "revisit": 6, "call_time": 0.2, "delay": 0.5},
])
def test_known_cases_hold_the_invariant(kwargs):
    defaults = {"hold": 1.0, "max_stale": 0.5, "delay": 0.0, "detect_every": 0,
                "revisit": 6, "call_time": 0.04, "cut_threshold": 40.0}
    planned = simulate(**{**defaults, **kwargs})
    assert uncovered(planned) == []


def test_thorough_keeps_the_curtain_until_each_pass_ran_after_the_start_and_the_cut():
    planned = simulate(hold=1.0, max_stale=0.5, delay=0.0, detect_every=0, revisit=8,
                       call_time=0.04, cut_threshold=40.0)
    shown = [p.frame.index for p in planned if p.curtain is None]
    assert shown, "never out of the curtain"
    # 8 calls of 40 ms (one every 2 frames at 30 fps) before the first frame
    # may go out, after the start and after the cut.
    first = min(shown)
    after_cut = min(i for i in shown if i >= CUT_AT)
    assert first >= 14 and after_cut - CUT_AT >= 14
    reasons = {p.curtain for p in planned if p.curtain}
    assert "partial-coverage" in reasons


@pytest.mark.parametrize(("kwargs", "option", "works"), [
    ({"hold": 0.2, "revisit": 8}, "hold", "use --hold 0.27 or more"),
    ({"hold": 1.0, "max_stale": 2.0}, "max-stale", "use --max-stale 1 or less"),
    ({"hold": 1.0, "detect_every": 10, "revisit": 4}, "hold", "use --hold 1.34 or more"),
])
def test_unsafe_options_are_refused_saying_what_works(kwargs, option, works):
    defaults = {"hold": 1.0, "max_stale": 0.2, "delay": 0.0, "detect_every": 0,
                "revisit": 6, "call_time": 0.04, "cut_threshold": 40.0}
    with pytest.raises(ConfigError) as error:
        simulate(**{**defaults, **kwargs})
    assert str(error.value).startswith(f"{option}: ")
    assert works in str(error.value)


def test_cut_threshold_above_what_real_cuts_measure_is_refused():
    with pytest.raises(ConfigError, match=r"cut-threshold: expected 1\.\.50"):
        simulate(hold=1.0, max_stale=0.5, delay=0.0, detect_every=0, revisit=1,
                 call_time=0.04, cut_threshold=60.0)


def test_run_refuses_unsafe_options_in_one_line(tmp_path, cli):
    from synthetic import write_clip

    clip = tmp_path / "face.mp4"
    write_clip(clip, frames=15, fps=15, audio=False)
    for options, expected in [
        (["--hold", "0.2", "--quality", "thorough"], "use --hold 0.54 or more"),
        (["--max-stale", "2"], "use --max-stale 1 or less"),
        (["--hold", "0"], "use --hold 0.4 or more"),
        (["--cut-threshold", "60"], "cut-threshold: expected 1..50"),
    ]:
        result = cli("run", "--source", clip, "--null", *options)
        assert result.returncode == 2, (options, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("livefilter: error: "), lines
        assert expected in lines[0], lines[0]
    # --hold alone takes max-stale down with it (not refused).
    result = cli("run", "--source", clip, "--null", "--hold", "0.5", "-q")
    assert result.returncode == 0, result.stderr


def test_revisit_time_sees_through_the_hide_target_wrapper():
    """``--hide heads|people`` wraps the face detector: the live rules must
    still count the wrapped preset's revisit time, not one call."""
    from livefilter.detect import revisit_calls
    from livefilter.detect.targets import TargetDetector

    class Cycling:
        name = "cycling"
        revisit_calls = 6

        def detect(self, frame):  # pragma: no cover - never called here
            raise AssertionError

    wrapped = TargetDetector(Cycling(), "heads")
    assert revisit_calls(wrapped) == 6
