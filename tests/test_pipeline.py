"""The live pipeline with scripted sources, detectors and sinks, frame by frame."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from conftest import MemorySink, ScriptedSource, SquareDetector, square_frame
from waiting import wait_for

from livefilter.apps.live import LiveConfig, LivePipeline
from livefilter.errors import SourceError
from livefilter.hide.composite import curtain
from livefilter.regions import RedactionConfig
from livefilter.track.tracker import TrackerConfig

WIDTH, HEIGHT = 320, 240


def moving_square_frames(count: int, side: float = 40) -> list[np.ndarray]:
    """A square bouncing left and right at 90 px/s (2.25 sides per second)."""
    def x(i: int) -> float:
        phase = (3 * i) % 400
        return 60 + (phase if phase < 200 else 400 - phase)

    return [square_frame(WIDTH, HEIGHT, [(x(i), 120, side)], seed=i) for i in range(count)]


# Sink queues deep enough that a sink thread starved for a second on a loaded
# machine drops nothing: these tests count what the pipeline emitted.
_QUEUE = 64


def _run(frames, detector, *, live=True, sinks=None, config=None, during=None):
    source = ScriptedSource(frames, live=live)
    memory = MemorySink()
    pipeline = LivePipeline(
        source, detector, redaction=RedactionConfig(),
        config=config or LiveConfig(stats_interval=0, sink_queue=_QUEUE),
        sinks=[memory, *(sinks or [])],
    )
    if during is not None:
        threading.Thread(target=during, args=(pipeline,), daemon=True).start()
    stats = pipeline.run()
    return memory, stats


def _square_visible(image: np.ndarray) -> bool:
    return len(SquareDetector.find(image)) > 0


def _is_curtain_of(output: np.ndarray, original: np.ndarray) -> bool:
    expected = original.copy()
    curtain(expected)
    return bool(np.abs(output.astype(int) - expected.astype(int)).max() <= 1)


def test_every_frame_is_hidden_whole_until_the_first_detection():
    frames = moving_square_frames(45)
    memory, stats = _run(frames, SquareDetector(first_delay=0.5))
    assert memory.closed and memory.opened == (WIDTH, HEIGHT, 30.0)
    assert [r.index for r in memory.items] == sorted(r.index for r in memory.items)
    first_open = next(i for i, r in enumerate(memory.items) if not r.curtain)
    # The detector's first answer takes 0.5 s: about 15 frames at 30 fps on
    # an idle machine, fewer when the output loop is starved; never none.
    assert first_open >= 1
    for record in memory.items[:first_open]:
        assert record.curtain and "curtain: no-detection-yet" in record.notes
        assert _is_curtain_of(record.image, frames[record.index])
    for record in memory.items:
        assert not _square_visible(record.image), record.index
    assert stats["curtain_frames"] == first_open
    assert stats["curtain_reasons"] == {"no-detection-yet": first_open}


def test_panic_hides_every_frame_while_on():
    """Panic is switched on after frames are shown and off after 20 frames
    were hidden whole; both are triggered by what the sink received, not by
    the clock, so a loaded machine changes nothing."""
    frames = moving_square_frames(150)
    pipeline = None
    seen = {"shown": 0, "panic": 0}

    def switch(item) -> None:
        if "curtain: panic" in item.notes:
            seen["panic"] += 1
            if seen["panic"] == 20:
                pipeline.toggle_panic()  # off
        elif not item.curtain:
            seen["shown"] += 1
            if seen["shown"] == 10 and not seen["panic"]:
                pipeline.toggle_panic()  # on

    memory = MemorySink(on_write=switch)
    pipeline = LivePipeline(
        ScriptedSource(frames), SquareDetector(), redaction=RedactionConfig(),
        # A big sink queue: a starved sink thread must not drop frames here;
        # a late detector on a loaded machine must not curtain the frames
        # (max-stale 5 s, which the live rules allow only with a hold as long).
        config=LiveConfig(stats_interval=0, max_stale=5.0, sink_queue=_QUEUE), sinks=[memory],
        tracker=TrackerConfig(hold=5.0, weak_hold=5.0),
    )
    stats = pipeline.run()
    assert stats["sinks"]["memory"]["dropped"] == 0
    positions = [i for i, r in enumerate(memory.items) if "curtain: panic" in r.notes]
    assert len(positions) >= 20
    # One block: every frame between the first and the last panic frame is one.
    assert positions == list(range(positions[0], positions[0] + len(positions)))
    panic = [memory.items[i] for i in positions]
    for record in panic:
        assert _is_curtain_of(record.image, frames[record.index])
    # Before and after the block, frames show (with the square hidden).
    assert any(not r.curtain for r in memory.items[:positions[0]])
    assert any(not r.curtain for r in memory.items[positions[-1] + 1:])
    assert all(not _square_visible(r.image) for r in memory.items)


def test_failing_detector_gives_curtain_a_log_line_and_recovers(caplog):
    frames = moving_square_frames(120)
    detector = SquareDetector(fail_between=(3, 7), delay=0.02)
    with caplog.at_level(logging.WARNING):
        memory, stats = _run(frames, detector)
    failed = [r for r in memory.items if "curtain: detector-failed" in r.notes]
    assert failed, "no curtain while the detector failed"
    assert stats["detector_errors"] == 4
    assert any("detector failed" in m for m in caplog.messages)
    assert any("detector recovered" in m for m in caplog.messages)
    last_failed = failed[-1].index
    assert any(not r.curtain for r in memory.items if r.index > last_failed)
    assert all(not _square_visible(r.image) for r in memory.items)


def test_stalled_detector_gives_curtain_after_max_stale():
    frames = moving_square_frames(75)
    # Each run takes 0.8 s: results are always older than max_stale 0.5 s
    # by the time the next one is due.
    memory, stats = _run(frames, SquareDetector(delay=0.8),
                         config=LiveConfig(stats_interval=0, max_stale=0.5, sink_queue=_QUEUE))
    stale = [r for r in memory.items if "curtain: detector-stale" in r.notes]
    assert len(stale) >= 15
    assert stats["curtain_reasons"]["detector-stale"] == len(stale)
    assert all(not _square_visible(r.image) for r in memory.items)


def test_file_source_read_as_fast_as_it_goes_drops_nothing():
    frames = moving_square_frames(60)
    memory, stats = _run(frames, SquareDetector(), live=False)
    assert [r.index for r in memory.items] == list(range(60))
    assert stats["dropped"] == 0 and stats["frames_out"] == 60
    assert not any(r.curtain for r in memory.items)
    assert all(not _square_visible(r.image) for r in memory.items)


class _StuckSink(MemorySink):
    """A sink stuck on its first frame until ``until()`` is true."""

    name = "slow"

    def __init__(self, until) -> None:
        super().__init__()
        self._until = until

    def write(self, item) -> None:
        wait_for(self._until, "the fast sink to get its frames")
        super().write(item)


def test_a_slow_sink_drops_its_own_frames_only():
    frames = moving_square_frames(300)
    memory = MemorySink()
    # Stuck until the fast sink has had 100 frames (or the run is over): it
    # drops what does not fit its queue, the fast sink nothing, however
    # loaded the machine (no sleep decides who is slow).
    slow = _StuckSink(lambda: len(memory.items) >= 100 or memory.closed)
    pipeline = LivePipeline(
        ScriptedSource(frames), SquareDetector(), redaction=RedactionConfig(),
        config=LiveConfig(stats_interval=0, sink_queue=40), sinks=[memory, slow],
    )
    stats = pipeline.run()
    assert stats["sinks"]["memory"]["dropped"] == 0
    assert len(memory.items) == stats["frames_out"] >= 100
    assert stats["sinks"]["slow"]["dropped"] >= 100 - 40 - 1
    assert len(slow.items) + stats["sinks"]["slow"]["dropped"] == stats["frames_out"]
    assert slow.closed


def test_lost_source_raises_after_closing_every_sink():
    frames = moving_square_frames(30)
    # Read as fast as it goes (not live): no frame before the loss is dropped
    # on a loaded machine.
    source = ScriptedSource(frames, fail_at=20, live=False)
    memory = MemorySink()
    pipeline = LivePipeline(source, SquareDetector(), redaction=RedactionConfig(),
                            config=LiveConfig(stats_interval=0, sink_queue=_QUEUE),
                            sinks=[memory])
    with pytest.raises(SourceError, match="lost"):
        pipeline.run()
    assert memory.closed and len(memory.items) >= 15
