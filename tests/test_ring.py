"""The live frame ring: a reader a frame or two behind loses nothing, one
further behind than ``max_lag`` skips the stale frames (counted)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from livefilter.io import ring as ring_module
from livefilter.io.ring import FrameRing


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(ring_module.time, "monotonic", fake)
    return fake


def _put(ring: FrameRing, clock: _Clock, index: int, at: float) -> None:
    clock.now = at
    image = np.full((4, 4, 3), index, np.uint8)
    assert ring.put(image, index, index / 30, threading.Event())


def test_a_short_lag_loses_no_frame(clock: _Clock) -> None:
    ring = FrameRing(4, drop_stale=True, max_lag=0.1)
    for index in range(3):
        _put(ring, clock, index, 100.0 + index / 30)
    clock.now = 100.0 + 2 / 30 + 0.01  # the oldest arrived 77 ms ago
    got = [ring.get(timeout=0).frame.index for _ in range(3)]
    assert got == [0, 1, 2]
    assert ring.dropped == 0
    assert ring.get(timeout=0) is None


def test_frames_older_than_the_lag_are_skipped_and_counted(clock: _Clock) -> None:
    ring = FrameRing(4, drop_stale=True, max_lag=0.1)
    for index in range(4):
        _put(ring, clock, index, 100.0 + index * 0.05)  # 0, 50, 100, 150 ms
    clock.now = 100.19  # frames 0 and 1 arrived over 100 ms ago, frame 2 90 ms ago
    item = ring.get(timeout=0)
    assert item is not None and item.frame.index == 2
    assert int(item.frame.image[0, 0, 0]) == 2
    assert ring.dropped == 2


def test_the_newest_frame_is_kept_however_late(clock: _Clock) -> None:
    ring = FrameRing(4, drop_stale=True, max_lag=0.1)
    for index in range(3):
        _put(ring, clock, index, 100.0 + index / 30)
    clock.now = 200.0
    item = ring.get(timeout=0)
    assert item is not None and item.frame.index == 2
    assert ring.dropped == 2


def test_no_lag_allowed_gives_the_newest(clock: _Clock) -> None:
    ring = FrameRing(4, drop_stale=True)
    for index in range(3):
        _put(ring, clock, index, 100.0 + index / 30)
    item = ring.get(timeout=0)
    assert item is not None and item.frame.index == 2
    assert ring.dropped == 2


def test_an_overwritten_slot_is_counted_as_dropped(clock: _Clock) -> None:
    ring = FrameRing(2, drop_stale=True, max_lag=10.0)
    for index in range(5):
        _put(ring, clock, index, 100.0 + index / 30)
    got = [ring.get(timeout=0).frame.index for _ in range(2)]
    assert got == [3, 4]
    assert ring.dropped == 3


def test_a_file_ring_never_drops(clock: _Clock) -> None:
    ring = FrameRing(4, drop_stale=False)
    for index in range(4):
        _put(ring, clock, index, 100.0 + index)
    clock.now = 1000.0
    assert [ring.get(timeout=0).frame.index for _ in range(4)] == [0, 1, 2, 3]
    assert ring.dropped == 0


def test_a_negative_lag_is_refused() -> None:
    with pytest.raises(ValueError, match="max_lag"):
        FrameRing(4, drop_stale=True, max_lag=-1)
