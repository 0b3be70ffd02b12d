"""Faces at any angle: ``thorough`` on turned copies of wider_dev and wider_crowds.

Each photo is turned 0, 90, 180 and 270 degrees clockwise, or tilted
between the quarter turns (``--angles 30,45``: turned about its centre and
cut to its own size, its corners black), its labels with it, and
looked at by the three parts of the ``thorough`` preset: the upright
passes (the preset as it was before turned passes), the quarter-turned
passes and the tilted (45 and 315 degree) passes. Rows:

* ``upright passes``: the upright part alone (the first ``thorough``);
* ``upright and quarter turns``: those two parts merged as the preset
  merges them: boxes found the other way round from how the photo looks
  need more (:func:`livefilter.detect.multipass.sure_one_way_round`), then
  NMS (``thorough`` before its tilted passes);
* ``thorough, tilts >= S``: that plus the tilted passes' boxes from score S
  (what their ``min_score`` does); the row with the preset's own
  ``TILT_MIN_SCORE`` is ``thorough``.

Scored as ``detect_quality.py`` scores: a labelled face at least 16 px tall
(its height upright, whatever the turn) is covered when 60 % of its box is
hidden; over-blur is the share of the photo hidden outside every labelled
face enlarged 1.5x. Also ms per photo of each part, and ms per 1280x720
frame of ``thorough``'s video passes as ``file`` runs them (cycled over 8
frames), with and without the turned ones.

    python benchmarks/rotated.py --every 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scoring import COVERED_SHARE, covered_share, over_blur  # noqa: E402

from livefilter.boxes import (  # noqa: E402
    nms_xyxy,
    xywh_to_xyxy,
)
from livefilter.detect import DetectorConfig  # noqa: E402
from livefilter.detect.centerface import CenterFaceDetector  # noqa: E402
from livefilter.detect.multipass import (  # noqa: E402
    PRESETS,
    MultiPassDetector,
    cycle_length,
    sure_one_way_round,
)
from livefilter.detect.presets import TILT_MIN_SCORE  # noqa: E402
from livefilter.detect.tilt import turned_ellipse_boxes  # noqa: E402
from livefilter.detections import Detections  # noqa: E402
from livefilter.hide.composite import hidden_mask  # noqa: E402
from livefilter.models import model_path  # noqa: E402
from livefilter.regions import regions_from_faces  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "rotated.json"
SETS = ("wider_dev", "wider_crowds")
ANGLES = (0, 90, 180, 270)
_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
TILT_MIN_SCORES = tuple(sorted({0.2, 0.3, 0.4, 0.5, TILT_MIN_SCORE}))


def turn(image: np.ndarray, faces: np.ndarray, angle: int) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """The photo turned ``angle`` degrees clockwise, its face boxes with it,
    and which labelled faces are kept.

    Quarter turns keep the whole photo. A tilt between them (say 45 degrees)
    is the photo turned about its centre and cut to its own size (the
    corners it turns out of the frame are lost, the ones it turns in are
    black), each face box turned as the ellipse
    inside it and boxed again; a face whose turned box leaves the frame is
    not counted.
    """
    keep = np.ones(len(faces), bool)
    if angle == 0:
        return image, faces, keep
    height, width = image.shape[:2]
    x1, y1, x2, y2 = faces.T
    if angle in _CODES:
        if angle == 90:
            boxes = [height - y2, x1, height - y1, x2]
        elif angle == 180:
            boxes = [width - x2, height - y2, width - x1, height - y1]
        else:
            boxes = [y1, width - x2, y2, width - x1]
        return (cv2.rotate(image, _CODES[angle]), np.stack(boxes, axis=1).astype(np.float32),
                keep)
    # Turned as a tilted pass turns a frame (clockwise about its centre),
    # but onto a canvas of the photo's own size.
    forward = cv2.getRotationMatrix2D((width / 2, height / 2), -angle, 1.0)
    turned = cv2.warpAffine(image, forward, (width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT)
    boxes = turned_ellipse_boxes(faces, forward, angle)
    keep = ((boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= width)
            & (boxes[:, 3] <= height))
    return turned, boxes.astype(np.float32), keep


def parts(video: bool) -> dict[str, MultiPassDetector]:
    """``thorough`` cut into its upright, quarter-turned and tilted passes
    (a photo's; the tilted ones with no score floor of their own, so that
    the rows can choose one); on video, the upright passes and the whole
    preset (the turned passes alone would leave calls idle)."""
    preset = PRESETS["thorough"]
    centerface = CenterFaceDetector(model_path(), DetectorConfig(kind="centerface"))
    passes = preset.passes_for(video=video)
    upright = tuple(p for p in passes if p.rotate == 0)
    field = "video_passes" if video else "passes"
    found = {"upright": MultiPassDetector(centerface, replace(preset, **{field: upright}),
                                          video=video)}
    if video:
        found["all"] = MultiPassDetector(centerface, preset, video=True)
        return found
    for name, chosen in (("turned", [p for p in passes if p.rotate and not p.tilt]),
                         ("tilted", [replace(p, min_score=0.0) for p in passes if p.tilt])):
        found[name] = MultiPassDetector(centerface, replace(preset, passes=tuple(chosen)))
    return found


def _scale_tag(detector: MultiPassDetector) -> str:
    """What tells a tilted part's cached results at one scale from another's
    (nothing for the other parts, or at 1.0, the first scale measured)."""
    scales = {p.scale for p in detector.passes if p.tilt}
    return "" if scales in (set(), {1.0}) else "".join(f"{s:g}" for s in sorted(scales))


def merged(parts: list[Detections], iou: float) -> Detections:
    both = Detections.merge(parts)
    keep = nms_xyxy(both.xyxy, both.scores, iou)
    return both[keep]


def one_way_round(upright: Detections, turned: Detections, iou: float) -> Detections:
    """The upright and quarter-turned parts as ``thorough`` merges them:
    boxes found the other way round from how the photo looks need more
    (``sure_one_way_round``)."""
    both = Detections.merge([upright, turned])
    was_turned = np.arange(len(both)) >= len(upright)
    return merged([both[sure_one_way_round(both.xyxy, both.scores, was_turned, iou)]], iou)


class Tally:
    def __init__(self) -> None:
        self.faces = self.covered = self.images = 0
        self.over_blur = 0.0

    def add(self, faces: np.ndarray, upright_heights: np.ndarray, kept: np.ndarray,
            regions: np.ndarray, height: int, width: int) -> None:
        hidden = hidden_mask(regions, "ellipse", height, width)
        # A face cut off by a tilt is not counted, but it is still a face:
        # hiding it is not over-blur.
        counted = (upright_heights >= 16) & kept
        share = covered_share(faces, hidden)
        self.faces += int(counted.sum())
        self.covered += int(((share >= COVERED_SHARE) & counted).sum())
        self.over_blur += over_blur(hidden, faces)
        self.images += 1

    def summary(self) -> dict[str, float]:
        return {"faces": self.faces, "covered": round(self.covered / max(1, self.faces), 4),
                "over_blur": round(self.over_blur / max(1, self.images), 4)}


def _cached(cache: Path | None, key: str, compute) -> Detections:
    """``compute()``, or its result saved under ``cache`` by an earlier run
    (variants of the merge are then scored without running the network)."""
    if cache is None:
        return compute()
    path = cache / f"{key}.npz"
    if path.is_file():
        saved = np.load(path)
        return Detections(saved["xyxy"], saved["scores"])
    found = compute()
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, xyxy=found.xyxy, scores=found.scores)
    return found


def score_set(data: Path, name: str, every: int, angles: tuple[int, ...],
              cache: Path | None = None) -> dict:
    detectors = parts(video=False)
    iou = detectors["upright"].preset.nms_iou
    mask = detectors["upright"].preset.mask_scale
    root = data / name
    labels = json.loads((root / "labels.json").read_text())["images"][::every]
    rows = (["upright passes", "upright and quarter turns"]
            + [f"thorough, tilts >= {s}" for s in TILT_MIN_SCORES])
    tallies = {(angle, row): Tally() for angle in angles for row in rows}
    seconds = dict.fromkeys(detectors, 0.0)
    runs = 0
    for number, entry in enumerate(labels):
        photo = cv2.imread(str(root / entry["image"]))
        faces = xywh_to_xyxy(np.asarray(entry["faces_xywh"], np.float32).reshape(-1, 4))
        heights = faces[:, 3] - faces[:, 1]
        for angle in angles:
            image, boxes, kept_faces = turn(photo, faces, angle)
            height, width = image.shape[:2]
            # Keyed by the photo's place in the set: runs with another
            # --every share what they both looked at.
            key = f"{name}-{number * every}-{angle}"
            found_parts = {}
            for part, detector in detectors.items():
                started = time.perf_counter()
                found_parts[part] = _cached(
                    cache, f"{key}-{part}{_scale_tag(detector)}",
                    lambda image=image, detector=detector: detector.detect_run(image, 0))
                seconds[part] += time.perf_counter() - started
            runs += 1
            found = {"upright passes": found_parts["upright"]}
            both = one_way_round(found_parts["upright"], found_parts["turned"], iou)
            found["upright and quarter turns"] = both
            tilts = found_parts["tilted"]
            for score in TILT_MIN_SCORES:
                found[f"thorough, tilts >= {score}"] = merged(
                    [both, tilts[tilts.scores >= score]], iou)
            for row, detections in found.items():
                tallies[(angle, row)].add(boxes, heights, kept_faces,
                                          regions_from_faces(detections.xyxy, mask),
                                          height, width)
    return {
        "photos": len(labels), "every": every, "tilt_min_score": TILT_MIN_SCORE,
        **{f"ms_per_photo_{part}_passes": round(1000 * spent / max(1, runs), 1)
           for part, spent in seconds.items()},
        "rows": {row: {str(angle): tallies[(angle, row)].summary() for angle in angles}
                 for row in rows},
    }


def time_video(data: Path, frames: int = 16) -> dict[str, float]:
    """ms per 1280x720 frame of the upright video passes and of all of them,
    over whole cycles, fastest of 2 tries per frame."""
    capture = cv2.VideoCapture(str(data / "clips" / "clip00_1280x720.mp4"))
    images = []
    while len(images) < frames:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    result = {}
    for label, detector in parts(video=True).items():
        cycle = cycle_length(detector.passes)
        for i in range(cycle):
            detector.detect_run(images[0], i)
        times = []
        for i, image in enumerate(images):
            best = float("inf")
            for _ in range(2):
                started = time.perf_counter()
                detector.detect_run(image, i % cycle)
                best = min(best, time.perf_counter() - started)
            times.append(1000 * best)
        result[f"{label}_ms_mean"] = round(float(np.mean(times)), 1)
        result[f"{label}_ms_max"] = round(float(np.max(times)), 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--every", type=int, default=1, help="every N-th photo of each set")
    parser.add_argument("--angles", default="0,90,180,270")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--no-video", action="store_true", help="skip the 720p frame timing")
    parser.add_argument("--cache", type=Path, default=None,
                        help="save each photo's detections here and reuse them on the next "
                        "run (its times are then not the network's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    angles = tuple(int(a) for a in args.angles.split(","))
    report: dict = {"load_average": os.getloadavg()}
    for name in args.sets.split(","):
        started = time.perf_counter()
        report[name] = score_set(args.data, name, args.every, angles, args.cache)
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        print(json.dumps(report[name], indent=1), flush=True)
    if not args.no_video:
        report["frame_1280x720"] = time_video(args.data)
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
