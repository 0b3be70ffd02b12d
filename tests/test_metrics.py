"""The leak tally the benchmarks score clips with."""

from __future__ import annotations

import numpy as np
from scoring import LeakTally


def _tally(exposed_frames: int, frames: int = 4) -> LeakTally:
    """One 40 px face (id 7) on ``frames`` frames, shown in the first ``exposed_frames``."""
    tally = LeakTally()
    face = [[10, 10, 40, 40, 7]]
    for i in range(frames):
        hidden = np.zeros((100, 100), bool)
        if i >= exposed_frames:
            hidden[:60, :60] = True
        tally.add(face, hidden, False)
    return tally


def test_pooled_clips_keep_faces_with_the_same_id_apart() -> None:
    pooled = LeakTally()
    pooled.merge(_tally(exposed_frames=3))
    pooled.merge(_tally(exposed_frames=0))
    pooled.merge(_tally(exposed_frames=1))
    summary = pooled.summary()
    assert summary["faces"] == 3
    assert summary["faces_ever_exposed"] == 2
    assert summary["faces_exposed_half"] == 1
    assert summary["longest_exposed_run"] == 3
    assert summary["leaked_face_frames"] == 4
    assert summary["face_frames"] == 12
