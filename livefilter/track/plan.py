"""Decide, frame by frame, what to hide: the regions of every tracked face,
or the whole frame (curtain). Shared by the live pipeline and the file path.

Frames go in (:meth:`RegionPlanner.advance`) in order, detector results come
in whenever they are ready (:meth:`RegionPlanner.add_result`), and frames come
out (:meth:`RegionPlanner.pop_ready`) once they have been held ``delay``
seconds. While a frame is held, every result that arrives is carried back to
it along the optical flow, so a face first detected a few frames later is
hidden from its first visible frame, and a face lost and found again has its
gap filled. The file path holds frames until the next key frame's result is
in, so every frame between two detections gets boxes from both sides.

Fail closed. A frame goes out as curtain (hidden whole) when

* panic is on;
* the detector is failing;
* no detection result exists yet (``no-detection-yet``);
* the picture changed too much since the frame of the last detection — a
  cut or a whip-pan — and no result from the new scene is in yet
  (``scene-cut``);
* the nearest result of its scene is more than ``max_stale`` seconds away
  from it (``detector-stale``);
* the detector has not looked at the whole frame, with every pass of its
  preset, in the results of its scene that still count for it
  (``partial-coverage``): a result counts while the tracks it made are held
  (``hold``: taken after the frame, or at most ``hold`` seconds before it),
  and the whole frame is seen by ``need`` consecutive detector calls (a
  preset's passes and tiles take turns; see
  :func:`livefilter.detect.revisit_calls`). So a frame goes out unhidden only
  when every face the detector can find in it was looked for while its track
  would still be held, whatever the options: after a start or a cut, until
  each pass has run once; and whenever the detector is too slow to come
  round within the hold.
"""

from __future__ import annotations

import bisect
import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from livefilter.boxes import inside_share_xyxy
from livefilter.detections import Detections
from livefilter.errors import ConfigError
from livefilter.frame import Frame
from livefilter.regions import regions_from_faces
from livefilter.track.tracker import (
    Thumbnail,
    Tracker,
    TrackerConfig,
    propagate_boxes,
    scene_change,
)

__all__ = ["CUT_THRESHOLD_MAX", "PlanConfig", "PlannedFrame", "RegionPlanner"]

logger = logging.getLogger(__name__)

#: Highest accepted ``cut_threshold`` (see :class:`PlanConfig`).
CUT_THRESHOLD_MAX = 50.0

# Frames whose thumbnails are kept to place late results: 4 s at 30 fps.
_HISTORY = 120


@dataclass(frozen=True, kw_only=True)
class PlanConfig:
    """Fail-closed rules and look-ahead.

    Attributes:
        delay: seconds each frame is held back before it goes out (look-ahead).
        max_stale: a frame farther than this (seconds of source time) from
            every detection result of its scene is hidden whole.
        cut_threshold: mean absolute difference (0..255) of 32x18 grayscale
            thumbnails, between a frame and the previous frame or the frame of
            the newest detection, above which the scene counts as changed.
            Measured on the shared clips: hard cuts 55-93, ordinary motion at
            most 23 frame to frame and 36 over three frames.
        mask_scale: region size relative to the face box.
        hold: seconds a result counts as evidence for the frames after it:
            the tracker's shortest hold (its tracks are gone after that).
        revisit_calls: consecutive detector calls the preset needs to see
            the whole frame (each result also says what its call needed).
        call_interval: the shortest time between two detector calls (one a
            frame, or every ``detect_every`` frames), for the check that the
            hold can span ``revisit_calls`` calls at all.
    """

    delay: float = 0.0
    max_stale: float = 0.5
    cut_threshold: float = 40.0
    mask_scale: float = 1.6
    hold: float = 30.0
    revisit_calls: int = 1
    call_interval: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.delay <= 10.0:
            raise ConfigError(f"delay: expected 0..10 seconds, got {self.delay!r}")
        if not 0.01 <= self.max_stale <= 60.0:
            raise ConfigError(f"max-stale: expected 0.01..60 seconds, got {self.max_stale!r}")
        if not 0.0 <= self.hold <= 30.0:
            raise ConfigError(f"hold: expected 0..30 seconds, got {self.hold!r}")
        if not 1 <= self.revisit_calls <= 1000 or not 0.0 <= self.call_interval <= 60.0:
            raise ConfigError("revisit: expected 1..1000 calls and 0..60 s between calls")
        # Refused, not clamped: both values were asked for, and either one
        # changed quietly would surprise; the message says what works.
        revisit = self.revisit_calls * self.call_interval
        if revisit > self.hold + 1e-9:
            raise ConfigError(
                f"hold: {self.hold:g} s is shorter than the {revisit:.2f} s the detector needs "
                f"to look at the whole frame ({self.revisit_calls} calls, at most one every "
                f"{self.call_interval:.3f} s), so a face would be dropped before it is looked "
                f"for again; use --hold {_round_up(revisit)} or more, a lighter --quality or "
                f"a smaller --detect-every")
        if self.max_stale > self.hold:
            raise ConfigError(
                f"max-stale: {self.max_stale:g} s is longer than the {self.hold:g} s a face "
                f"stays hidden after it was last detected (--hold), so frames could go out "
                f"after a face's track was dropped; use --max-stale {self.hold:g} or less, or "
                f"a longer --hold")
        # Above 50 a real cut (55-93 on the shared clips) could pass for
        # motion: the old scene's tracks would stand for faces that are gone
        # and the new scene's faces would go out before they are detected.
        if not 1.0 <= self.cut_threshold <= CUT_THRESHOLD_MAX:
            raise ConfigError(f"cut-threshold: expected 1..{CUT_THRESHOLD_MAX:g} (a higher "
                              f"level misses real cuts), got {self.cut_threshold!r}")


def _round_up(seconds: float) -> str:
    return f"{np.ceil(seconds * 100) / 100:g}"


@dataclass(frozen=True, slots=True)
class _Evidence:
    """One detector result as the curtain rule sees it."""

    timestamp: float
    call: int  # the detector call's number; consecutive calls have consecutive numbers
    need: int  # consecutive calls ending with this one that see the whole frame


@dataclass(slots=True)
class PlannedFrame:
    """A frame with what to hide in it: ``regions`` or, if ``curtain``, all of it."""

    frame: Frame
    seq: int
    arrival: float
    regions: np.ndarray
    curtain: str | None  # the reason, or None


@dataclass
class _Held:
    frame: Frame
    seq: int
    arrival: float
    thumb: Thumbnail
    scene: int
    faces: list[np.ndarray] = field(default_factory=list)
    tracks: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    ids: tuple[int, ...] = ()  # of ``tracks``, in order
    track_ids: frozenset[int] = frozenset()


class RegionPlanner:
    """Tracks, look-ahead and the curtain rules; owned by one thread."""

    def __init__(self, config: PlanConfig, tracker: TrackerConfig | None = None) -> None:
        self.config = config
        self.tracker = Tracker(tracker, history=_HISTORY)
        self.tracker_config = self.tracker.config
        self._held: deque[_Held] = deque()
        self._pending: list[tuple[int, float, Detections]] = []
        self._scene = 0
        self._scene_of: dict[int, int] = {}
        # scene -> its results' evidence, sorted by timestamp
        self._evidence: dict[int, list[_Evidence]] = {}
        self._calls = 0
        self._last_result_seq: int | None = None
        self._previous: Thumbnail | None = None
        self._current_seq = -1
        self.panic = False
        self.detector_failing = False
        self.cuts = 0
        self.results = 0

    @property
    def held(self) -> int:
        return len(self._held)

    def advance(self, frame: Frame, seq: int, arrival: float) -> bool:
        """Take the next frame; returns ``True`` when it starts a new scene
        (the caller should run the detector on it at once).
        """
        thumb = self.tracker.step(frame.image, seq, frame.timestamp)
        cut = False
        if self._previous is not None:
            change = scene_change(self._previous, thumb)
            if self._last_result_seq is not None and self._scene_of.get(
                    self._last_result_seq) == self._scene:
                reference = self.tracker.change_since(self._last_result_seq)
                if reference is not None:
                    change = max(change, reference)
            if change > self.config.cut_threshold:
                cut = True
                self._scene += 1
                self.cuts += 1
                self.tracker.reset()
                logger.info("scene change at frame %d (difference %.0f): hidden whole until "
                            "the next detection", frame.index, change)
        self._previous = thumb
        self._current_seq = seq
        self._scene_of[seq] = self._scene
        if len(self._scene_of) > 2 * _HISTORY:
            for old in list(self._scene_of)[:_HISTORY]:
                del self._scene_of[old]
        held = _Held(frame, seq, arrival, thumb, self._scene)
        tracks = self.tracker.boxes()
        held.faces.append(tracks.xyxy)
        held.tracks = tracks.xyxy
        if tracks.track_ids is not None:
            held.ids = tuple(int(i) for i in tracks.track_ids)
            held.track_ids = frozenset(held.ids)
        self._held.append(held)
        self._apply_pending()
        return cut

    def add_result(self, seq: int, timestamp: float, detections: Detections, *,
                   call: int | None = None, need: int = 1) -> None:
        """A detector result for frame ``seq`` (captured at ``timestamp``).

        ``call`` numbers the detector's calls (a failed or lost call leaves a
        gap); ``need`` is how many consecutive calls ending with this one
        see the whole frame. Without ``call``, results are taken as
        consecutive calls.
        """
        if call is None:
            call = self._calls
        self._calls = call + 1
        evidence = _Evidence(timestamp, call, max(1, need))
        self._pending.append((seq, evidence, detections))
        self._apply_pending()

    def _apply_pending(self) -> None:
        waiting = []
        for seq, evidence, detections in self._pending:
            if seq > self._current_seq:
                waiting.append((seq, evidence, detections))  # its frame has not come yet
                continue
            self._apply(seq, evidence, detections)
        self._pending = waiting

    def _apply(self, seq: int, evidence: _Evidence, detections: Detections) -> None:
        timestamp = evidence.timestamp
        scene = self._scene_of.get(seq)
        if scene is None:
            return  # older than the history: nothing left to place it in
        self.results += 1
        bisect.insort(self._evidence.setdefault(scene, []), evidence,
                      key=lambda e: e.timestamp)
        if scene == self._scene:
            self.tracker.add_detections(detections, seq, timestamp)
            if self._last_result_seq is None or seq > self._last_result_seq:
                self._last_result_seq = seq
        source = self.tracker.thumbnail(seq)
        if source is None or len(detections) == 0:
            return
        # A face not yet hidden in its own frame is carried to every other
        # held frame. One already hidden there is carried only to the later
        # held frames that lack the track hiding it (the track ended in
        # between, and this result found the face again) and where no box
        # carried there already covers it; the earlier frames got it when it
        # was first found. Carrying every box cost one optical-flow call per
        # held frame per result, which made a 0.3 s look-ahead drop frames on
        # a crowd.
        boxes = detections.xyxy
        uncovered = np.ones(len(boxes), bool)
        covering: list[frozenset[int]] = [frozenset()] * len(boxes)
        for held in self._held:
            if held.seq == seq:
                uncovered = ~_inside_any(boxes, held.faces)
                covering = _covering_tracks(boxes, held)
                held.faces.append(boxes)
                break
        growth = self.tracker_config.growth_per_second
        for held in self._held:
            if held.scene != scene or held.seq == seq:
                continue
            lacking = uncovered.copy()
            if held.seq > seq:
                lost = np.array([not ids & held.track_ids for ids in covering], bool) & ~uncovered
                if lost.any():
                    lost[lost] = ~_inside_any(boxes[lost], held.faces)
                lacking |= lost
            if not lacking.any():
                continue
            moved, _, _ = propagate_boxes(source, held.thumb, boxes[lacking])
            grow = growth * abs(held.frame.timestamp - timestamp)
            size = moved[:, 2:] - moved[:, :2]
            held.faces.append(np.concatenate([moved[:, :2] - size * grow,
                                              moved[:, 2:] + size * grow], axis=1))

    def _curtain_reason(self, held: _Held) -> str | None:
        if self.panic:
            return "panic"
        if self.detector_failing:
            return "detector-failed"
        evidence = self._evidence.get(held.scene)
        if not evidence:
            return "scene-cut" if self.results else "no-detection-yet"
        when = held.frame.timestamp
        index = bisect.bisect_left(evidence, when, key=lambda e: e.timestamp)
        nearest = min(
            (abs(evidence[i].timestamp - when) for i in (index - 1, index)
             if 0 <= i < len(evidence)),
            default=float("inf"),
        )
        if nearest > self.config.max_stale:
            return "detector-stale"
        if not _covers(evidence, when - self.config.hold):
            return "partial-coverage"
        return None

    def seconds_until_due(self, now: float) -> float | None:
        """Seconds (on the arrival clock) until the oldest held frame's hold
        is over, ``0`` when it is already; ``None`` when nothing is held."""
        if not self._held:
            return None
        return max(0.0, self.config.delay - (now - self._held[0].arrival))

    def pop_ready(self, *, now: float | None = None, flush: bool = False) -> list[PlannedFrame]:
        """Frames whose hold time is over (``now`` on the arrival clock), or all
        of them with ``flush``.
        """
        out = []
        while self._held:
            held = self._held[0]
            if not flush and now is not None and self.seconds_until_due(now) > 0:
                break
            if not flush and now is None:
                newest = self._held[-1].frame.timestamp
                if newest - held.frame.timestamp < self.config.delay:
                    break
            self._held.popleft()
            reason = self._curtain_reason(held)
            if reason is None:
                faces = [f for f in held.faces if len(f)]
                boxes = np.concatenate(faces) if faces else np.zeros((0, 4), np.float32)
                regions = regions_from_faces(boxes, self.config.mask_scale)
            else:
                regions = np.zeros((0, 4), np.float32)
            out.append(PlannedFrame(held.frame, held.seq, held.arrival, regions, reason))
        self._forget_old_results()
        return out

    def _forget_old_results(self) -> None:
        live_scenes = {h.scene for h in self._held} | {self._scene}
        for scene in [s for s in self._evidence if s not in live_scenes]:
            del self._evidence[scene]
        evidence = self._evidence.get(self._scene)
        if evidence and len(evidence) > 256:
            del evidence[: len(evidence) - 256]


def _covers(evidence: list[_Evidence], since: float) -> bool:
    """Whether the results at or after ``since`` include, for one of them,
    the ``need`` consecutive calls ending with it: the whole frame seen."""
    start = bisect.bisect_left(evidence, since, key=lambda e: e.timestamp)
    calls = {e.call for e in evidence[start:]}
    return any(all(e.call - back in calls for back in range(1, e.need))
               for e in evidence[start:])


# Share of a detected box that must lie inside one box its frame already
# hides for the face to count as covered there (a tracked box grows with its
# age, so a face it follows lies well inside it).
_COVERED_SHARE = 0.7


def _inside_any(boxes: np.ndarray, hidden: list[np.ndarray]) -> np.ndarray:
    """``(N,) bool``: which ``boxes`` lie mostly inside one of the ``hidden`` boxes."""
    present = [h for h in hidden if len(h)]
    if len(boxes) == 0 or not present:
        return np.zeros(len(boxes), bool)
    return inside_share_xyxy(boxes, np.concatenate(present)).max(axis=1) >= _COVERED_SHARE


def _covering_tracks(boxes: np.ndarray, held: _Held) -> list[frozenset[int]]:
    """For each of ``boxes``, the ids of the tracks of ``held`` it lies mostly
    inside (empty: no track hides it there)."""
    if len(boxes) == 0 or not held.ids:
        return [frozenset()] * len(boxes)
    inside = inside_share_xyxy(boxes, held.tracks) >= _COVERED_SHARE
    return [frozenset(held.ids[j] for j in np.flatnonzero(row)) for row in inside]
