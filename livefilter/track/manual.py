"""Manual regions: what a person marked by hand, on top of what the detector found.

Read from ``--region X,Y,W,H`` (fixed, every frame) and ``--regions-file``::

    {"version": 1, "regions": [
        {"frames": [first, last], "box": [x1, y1, x2, y2],
         "mode": "fixed" | "tracked", "keyframe": k,
         "action": "hide" | "unhide", "shape": "box" | "ellipse"}]}

``frames`` are inclusive source frame indices (omitted: every frame; photos
take none). A ``tracked`` region is drawn on frame ``keyframe`` (default:
``first``) and follows the picture there forward and back by optical flow
(:func:`~livefilter.track.tracker.propagate_boxes`, as the face tracks do).
``hide`` (default) hides the box; ``unhide`` drops the detector's regions
that lie mostly inside the box in its frames (a false region). Nothing here
can lift a curtain: the callers apply manual regions only to frames that are
not hidden whole.

Every mistake in a file is a :class:`~livefilter.errors.ConfigError` of one
line naming the file, the region and what is wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livefilter.boxes import inside_share_xyxy, xyxy_scale_about_centre
from livefilter.errors import ConfigError
from livefilter.track.tracker import Thumbnail, make_thumbnail, propagate_boxes

__all__ = [
    "ManualRegion",
    "ManualRegions",
    "load_regions_file",
    "parse_region_option",
    "parse_regions_json",
    "regions_to_json",
]

MODES = ("fixed", "tracked")
ACTIONS = ("hide", "unhide")
SHAPES = ("box", "ellipse")
# A detector region counts as inside an unhide box when this share of it is.
_UNHIDE_SHARE = 0.5
# A tracked box whose own points were lost moves with the camera; it grows
# this much each such frame, since where it is becomes less certain.
_LOST_GROWTH = 1.03


@dataclass(frozen=True, kw_only=True)
class ManualRegion:
    """One hand-made region. ``frames`` is ``None`` for every frame."""

    box: tuple[float, float, float, float]
    frames: tuple[int, int] | None = None
    mode: str = "fixed"
    keyframe: int | None = None
    action: str = "hide"
    shape: str = "box"

    @property
    def key(self) -> int:
        """The frame a tracked region was drawn on."""
        if self.keyframe is not None:
            return self.keyframe
        return self.frames[0] if self.frames is not None else 0

    def covers(self, index: int) -> bool:
        return self.frames is None or self.frames[0] <= index <= self.frames[1]

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"box": [round(v, 1) for v in self.box], "mode": self.mode,
                                  "action": self.action, "shape": self.shape}
        if self.frames is not None:
            out["frames"] = list(self.frames)
        if self.mode == "tracked":
            out["keyframe"] = self.key
        return out


def parse_region_option(text: str) -> ManualRegion:
    """``X,Y,W,H`` (pixels) as a fixed region in every frame; ValueError if bad
    (argparse turns it into its one-line usage error).
    """
    parts = text.split(",")
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"expected X,Y,W,H in pixels such as 10,20,200,80, got {text!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"expected finite numbers, got {text!r}")
    if w <= 0 or h <= 0:
        raise ValueError(f"width and height must be positive, got {text!r}")
    return ManualRegion(box=(x, y, x + w, y + h))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _region_from_json(entry: object, where: str) -> ManualRegion:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - {"frames", "box", "mode", "keyframe", "action", "shape"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}")
    box = entry.get("box")
    if not isinstance(box, list) or len(box) != 4 or any(_number(v) is None for v in box):
        raise ConfigError(f"{where}: box: expected [x1, y1, x2, y2] numbers, got {box!r}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise ConfigError(f"{where}: box {box}: negative or zero size (x2 must exceed x1, "
                          "y2 must exceed y1)")
    frames = entry.get("frames")
    span: tuple[int, int] | None = None
    if frames is not None:
        if (not isinstance(frames, list) or len(frames) != 2
                or any(_int(v) is None for v in frames)):
            raise ConfigError(f"{where}: frames: expected [first, last] integers, got {frames!r}")
        if frames[0] < 0 or frames[1] < frames[0]:
            raise ConfigError(f"{where}: frames {frames}: expected 0 <= first <= last")
        span = (int(frames[0]), int(frames[1]))
    values = {}
    for key, allowed, default in (("mode", MODES, "fixed"), ("action", ACTIONS, "hide"),
                                  ("shape", SHAPES, "box")):
        value = entry.get(key, default)
        if value not in allowed:
            raise ConfigError(f"{where}: {key}: expected one of {', '.join(allowed)}; "
                              f"got {value!r}")
        values[key] = value
    keyframe = entry.get("keyframe")
    if keyframe is not None:
        if _int(keyframe) is None:
            raise ConfigError(f"{where}: keyframe: expected an integer, got {keyframe!r}")
        if span is not None and not span[0] <= keyframe <= span[1]:
            raise ConfigError(f"{where}: keyframe {keyframe} is outside its frames {list(span)}")
    return ManualRegion(box=(x1, y1, x2, y2), frames=span, keyframe=keyframe, **values)


def load_regions_file(path: Path) -> list[ManualRegion]:
    """Read and check a regions file (everything that does not need the video)."""
    path = Path(path)
    name = f"regions-file: {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} "
                          f"column {exc.colno})") from None
    return parse_regions_json(data, name)


def parse_regions_json(data: object, name: str = "regions") -> list[ManualRegion]:
    """Check the parsed content of a regions file (``name`` starts each error)."""
    if not isinstance(data, dict) or not isinstance(data.get("regions"), list):
        raise ConfigError(f'{name}: expected {{"version": 1, "regions": [...]}}')
    if data.get("version") != 1:
        raise ConfigError(f"{name}: version: expected 1, got {data.get('version')!r}")
    return [_region_from_json(entry, f"{name}: region {i + 1}")
            for i, entry in enumerate(data["regions"])]


def regions_to_json(regions: Iterable[ManualRegion]) -> dict[str, object]:
    """The regions file's content (what :func:`load_regions_file` reads)."""
    return {"version": 1, "regions": [r.to_json() for r in regions]}


class ManualRegions:
    """The regions of one run, resolved frame by frame.

    Call :meth:`check` with the frame size (and frame count, when known)
    before the first frame, and :meth:`track` (a video with tracked regions)
    to follow them; then :meth:`apply` per frame.
    """

    def __init__(self, regions: Sequence[ManualRegion], *, source: str = "regions") -> None:
        self.regions = list(regions)
        self.source = source
        self._tracked: dict[int, dict[int, np.ndarray]] = {}  # region -> frame -> box
        self._followed = False

    def __bool__(self) -> bool:
        return bool(self.regions)

    @property
    def needs_tracking(self) -> bool:
        return any(r.mode == "tracked" for r in self.regions)

    def check(self, width: int, height: int, frames: int | None = None, *,
              photo: bool = False) -> None:
        """Boxes inside the frame, frame ranges inside the video (``frames`` > 0)."""
        for number, region in enumerate(self.regions, 1):
            where = f"{self.source}: region {number}"
            x1, y1, x2, y2 = region.box
            if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
                raise ConfigError(f"{where}: box {list(region.box)} lies outside the "
                                  f"{width}x{height} frame")
            if photo and (region.frames is not None or region.mode == "tracked"):
                raise ConfigError(f"{where}: a photo takes no frames and no tracked mode")
            if frames and region.frames is not None and region.frames[1] >= frames:
                raise ConfigError(f"{where}: frames {list(region.frames)} beyond the video's "
                                  f"last frame {frames - 1}")
            if frames and region.mode == "tracked" and region.key >= frames:
                raise ConfigError(f"{where}: keyframe {region.key} beyond the video's last "
                                  f"frame {frames - 1}")

    def track(self, frames: Iterable[tuple[int, np.ndarray]]) -> None:
        """Follow the tracked regions through ``frames`` (index, BGR image), in order.

        Only small grey thumbnails of the frames in a tracked region's range
        are kept (in memory), then each region is carried from its keyframe
        forward to its last frame and back to its first.
        """
        tracked = [(i, r) for i, r in enumerate(self.regions) if r.mode == "tracked"]
        self._followed = True
        if not tracked:
            return
        thumbs: dict[int, Thumbnail] = {}
        for index, image in frames:
            if any(r.covers(index) or index == r.key for _, r in tracked):
                thumbs[index] = make_thumbnail(image)
        for number, region in tracked:
            if region.key not in thumbs:
                raise ConfigError(f"{self.source}: region {number + 1}: keyframe {region.key} "
                                  "is not in the video")
            first, last = region.frames if region.frames is not None else (min(thumbs),
                                                                            max(thumbs))
            path = {region.key: np.array([region.box], np.float32)}
            for step, stop in ((1, last), (-1, first)):
                box = path[region.key]
                index = region.key
                while index != stop and index + step in thumbs:
                    moved, followed, _ = propagate_boxes(thumbs[index], thumbs[index + step], box)
                    box = moved if followed.all() else xyxy_scale_about_centre(moved, _LOST_GROWTH)
                    index += step
                    path[index] = box
            self._tracked[number] = path

    def path(self, number: int) -> dict[int, np.ndarray]:
        """Where tracked region ``number`` (0-based) is in each frame, after :meth:`track`."""
        return {index: box.reshape(4) for index, box in self._tracked.get(number, {}).items()}

    def _boxes(self, index: int, action: str) -> tuple[np.ndarray, list[str]]:
        boxes, shapes = [], []
        for number, region in enumerate(self.regions):
            if region.action != action or not region.covers(index):
                continue
            if region.mode == "tracked":
                box = self._tracked.get(number, {}).get(index)
                if not self._followed:
                    raise RuntimeError("tracked regions used before ManualRegions.track()")
                if box is None:
                    box = np.array([region.box], np.float32)  # fail closed: where drawn
                boxes.append(box.reshape(4))
            else:
                boxes.append(np.array(region.box, np.float32))
            shapes.append(region.shape)
        return (np.stack(boxes).astype(np.float32) if boxes
                else np.zeros((0, 4), np.float32)), shapes

    def apply(self, index: int, regions: np.ndarray, shape: str
              ) -> tuple[np.ndarray, list[str]]:
        """The regions to hide in frame ``index``: the detector's ``regions``
        (all of ``shape``) minus those an unhide region drops, plus the hide
        regions. Returns ``(boxes (N, 4) float32, shapes)``.
        """
        regions = np.asarray(regions, np.float32).reshape(-1, 4)
        unhide, _ = self._boxes(index, "unhide")
        if len(unhide) and len(regions):
            regions = regions[inside_share_xyxy(regions, unhide).max(axis=1) < _UNHIDE_SHARE]
        hide, shapes = self._boxes(index, "hide")
        return np.concatenate([regions, hide]), [shape] * len(regions) + shapes

