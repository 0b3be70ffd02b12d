"""``--hide people`` (and ``heads``) on wider_dev and wider_crowds: are the
bodies hidden, at what over-blur and cost.

For each labelled face at least 32 px tall, its *torso* is the region from
the chin (the face box's bottom) down 2.5 face heights, 2 face widths wide
(centred on the face), clipped to the photo. A torso counts as hidden when
at least 60 % of it lies in hidden pixels. Each photo is looked at once by
the ``thorough`` preset and the person detector; the regions of each
``--hide`` mode are built from those same detections exactly as ``image``
builds them (:class:`livefilter.detect.targets.TargetDetector`) and
rasterised with the mode's default shape. Reported per mode: torsos hidden,
faces (>= 16 px) covered, over-blur (share of the photo hidden outside
every labelled face enlarged 1.5x: in people mode mostly the bodies
themselves, which is the point), ms per photo (face detection and person
detection apart) and ms per 1280x720 frame as ``file`` runs it (the
``thorough`` video passes over one cycle, plus the person detector on
every frame).

``--measure-body`` instead prints where the person boxes lie relative to
the face they hold (the proportions a body grown from a face uses).

    python benchmarks/people.py --every 5          # every 5th photo of each set
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scoring import COVERED_SHARE, CoverageTally, covered_share  # noqa: E402

from livefilter.boxes import inside_share_xyxy, xywh_to_xyxy, xyxy_clip  # noqa: E402
from livefilter.detect import DetectorConfig, build_detector, calls_per_cycle  # noqa: E402
from livefilter.detect.people import PersonDetector  # noqa: E402
from livefilter.detect.targets import head_boxes, people_regions  # noqa: E402
from livefilter.detections import Detections  # noqa: E402
from livefilter.hide.composite import hidden_mask  # noqa: E402
from livefilter.models import YOLOX_NANO, model_path  # noqa: E402
from livefilter.regions import regions_from_faces  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "people.json"
SETS = ("wider_dev", "wider_crowds")
MODES = ("faces", "heads", "people")
MIN_FACE = 32


def torso_boxes(face_xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """From the chin down 2.5 face heights, 2 face widths wide, clipped."""
    f = np.asarray(face_xyxy, np.float32).reshape(-1, 4)
    w, h = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]
    cx = (f[:, 0] + f[:, 2]) / 2
    torso = np.stack([cx - w, f[:, 3], cx + w, f[:, 3] + 2.5 * h], axis=1)
    return xyxy_clip(torso, width, height)


def regions_for(mode: str, faces: Detections, persons: Detections, width: int,
                height: int) -> tuple[np.ndarray, str]:
    """The regions and default shape of ``--hide mode`` (as ``image`` builds them)."""
    if mode == "faces":
        return regions_from_faces(faces.xyxy, 1.6), "ellipse"
    if mode == "heads":
        return head_boxes(faces.xyxy), "ellipse"
    return people_regions(faces, persons, width, height).xyxy, "box"


def load(data: Path, name: str, every: int) -> list[tuple[Path, np.ndarray]]:
    root = data / name
    labels = json.loads((root / "labels.json").read_text())["images"]
    return [(root / e["image"],
             xywh_to_xyxy(np.asarray(e["faces_xywh"], np.float32).reshape(-1, 4)))
            for e in labels[::every]]


def measure_body(data: Path, every: int) -> dict[str, float]:
    """Person boxes that hold exactly one labelled face (>= 24 px) and do
    not touch the photo's edge: their sides, top and bottom in face units."""
    persons_detector = PersonDetector(model_path(YOLOX_NANO))
    rows = []
    for name in SETS:
        for path, faces in load(data, name, every):
            image = cv2.imread(str(path))
            height, width = image.shape[:2]
            persons = persons_detector.detect(image).xyxy
            faces = faces[(faces[:, 3] - faces[:, 1]) >= 24]
            inside = inside_share_xyxy(faces, persons) >= 0.8
            for p, box in enumerate(persons):
                if (box[0] < 2 or box[1] < 2 or box[2] > width - 2 or box[3] > height - 2
                        or inside[:, p].sum() != 1):
                    continue
                f = faces[np.flatnonzero(inside[:, p])[0]]
                w, h = f[2] - f[0], f[3] - f[1]
                rows.append(((f[0] - box[0]) / w, (box[2] - f[2]) / w, (f[1] - box[1]) / h,
                             (box[3] - f[3]) / h))
    table = np.asarray(rows)
    result: dict[str, float] = {"persons": len(rows)}
    for i, key in enumerate(("left", "right", "top", "bottom")):
        result[f"{key}_median"] = round(float(np.median(table[:, i])), 2)
        result[f"{key}_p80"] = round(float(np.percentile(table[:, i], 80)), 2)
    return result


def score_set(data: Path, name: str, every: int, faces_detector, persons_detector) -> dict:
    tallies = {mode: CoverageTally() for mode in MODES}
    torsos = {mode: [0, 0] for mode in MODES}
    face_seconds = person_seconds = 0.0
    photos = load(data, name, every)
    for path, labelled in photos:
        image = cv2.imread(str(path))
        height, width = image.shape[:2]
        started = time.perf_counter()
        faces = faces_detector.detect(image)
        face_seconds += time.perf_counter() - started
        started = time.perf_counter()
        persons = persons_detector.detect(image)
        person_seconds += time.perf_counter() - started
        big = labelled[(labelled[:, 3] - labelled[:, 1]) >= MIN_FACE]
        torso = torso_boxes(big, width, height)
        real = (torso[:, 2] > torso[:, 0]) & (torso[:, 3] > torso[:, 1])
        for mode in MODES:
            regions, shape = regions_for(mode, faces, persons, width, height)
            hidden = hidden_mask(regions, shape, height, width)  # type: ignore[arg-type]
            tallies[mode].add(labelled, hidden)
            share = covered_share(torso[real], hidden)
            torsos[mode][0] += int(np.count_nonzero(share >= COVERED_SHARE))
            torsos[mode][1] += int(real.sum())
    result: dict = {"photos": len(photos), "every": every,
                    "ms_per_photo_faces": round(1000 * face_seconds / len(photos), 1),
                    "ms_per_photo_persons": round(1000 * person_seconds / len(photos), 1)}
    for mode in MODES:
        summary = tallies[mode].summary()
        result[mode] = {
            "torsos": torsos[mode][1],
            "torsos_hidden": round(torsos[mode][0] / max(1, torsos[mode][1]), 4),
            "faces_covered": summary["recall"],
            "over_blur": summary["over_blur"],
        }
    return result


def time_frames(data: Path, persons_detector, frames: int = 16) -> dict[str, float]:
    """ms per 1280x720 frame: ``thorough`` video passes (one cycle) and the
    person detector, each the fastest of 2 tries per frame."""
    capture = cv2.VideoCapture(str(data / "clips" / "clip00_1280x720.mp4"))
    images = []
    while len(images) < frames:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    faces = build_detector(DetectorConfig(kind="centerface", quality="thorough", video=True))
    cycle = calls_per_cycle(faces)
    for i in range(cycle):
        faces.detect_run(images[0], i)  # type: ignore[attr-defined]
    persons_detector.detect(images[0])
    face_ms, person_ms = [], []
    for i, image in enumerate(images):
        best_f = best_p = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            faces.detect_run(image, i % cycle)  # type: ignore[attr-defined]
            best_f = min(best_f, time.perf_counter() - started)
            started = time.perf_counter()
            persons_detector.detect(image)
            best_p = min(best_p, time.perf_counter() - started)
        face_ms.append(1000 * best_f)
        person_ms.append(1000 * best_p)
    return {"frames": len(images), "faces_ms_mean": round(float(np.mean(face_ms)), 1),
            "persons_ms_mean": round(float(np.mean(person_ms)), 1),
            "persons_ms_median": round(float(np.median(person_ms)), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--every", type=int, default=1, help="every N-th photo of each set")
    parser.add_argument("--measure-body", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.measure_body:
        print(json.dumps(measure_body(args.data, args.every), indent=2))
        return 0
    faces_detector = build_detector(DetectorConfig(kind="centerface", quality="thorough"))
    persons_detector = PersonDetector(model_path(YOLOX_NANO))
    report: dict = {"min_face_px": MIN_FACE, "load_average": os.getloadavg()}
    for name in SETS:
        started = time.perf_counter()
        report[name] = score_set(args.data, name, args.every, faces_detector, persons_detector)
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    report["frame_1280x720"] = time_frames(args.data, persons_detector)
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
