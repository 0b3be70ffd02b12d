"""Redaction strength: does CenterFace still find faces after they are hidden?

For every WIDER FACE photo in ``../shared/data/wider_dev`` with faces at
least 32 px tall, each such face box is grown 1.6x about its centre (the
pipeline's mask scale) and hidden with ``livefilter.hide.composite.redact`` (one
method and strength at a time); the detector then runs on the whole redacted
photo. A face counts as *found* when a detection overlaps its original box
with IoU >= 0.3. The same is measured on the untouched photos (the
detector's recall, for scale).

Besides the share found, each configuration reports what is left of the
face: the mean absolute Laplacian over the middle half of each face box
(fine detail), and the Pearson correlation between the original face and
the redacted one, both greyscale and ``INTER_AREA``-downsampled to 8x8
(coarse layout). Since no method reads the pixels it hides, a correlation
left is what the surroundings predict about the face (hair above, a neck
below), not the face itself.

Strength is the opacity below 1 (``1 - strength`` of the original shows
through), so the lower strengths show how fast faces come back. ``--ablate``
also runs each method at strength 1 with its stripes, bars or alternating
blocks turned off (``solid`` then is the old black oval), and
``--other-mask-scales`` at larger masks.

The first ``TUNING_PHOTOS`` photos are the sample the defaults were chosen
on; a run over more photos also reports the photos beyond them on their own
(``beyond_tuning_sample``), which the choice never saw.

Each run is stored in the results JSON under ``runs``, keyed by its photo
count, next to the runs of other sizes; ``before`` holds the figures of the
previous compositor (commit 88d9459) from the same script.

Usage::

    python benchmarks/redaction_strength.py --limit 150      # the tuning sample
    python benchmarks/redaction_strength.py --strengths 1 --other-mask-scales "" --no-ablate
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from livefilter.boxes import iou_matrix_xyxy, xywh_to_xyxy, xyxy_scale_about_centre
from livefilter.detect import Detector, DetectorConfig, build_detector
from livefilter.hide import composite as composite

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "wider_dev"
RESULTS = REPO / "benchmarks" / "results" / "redaction_strength.json"
MASK_SCALE = 1.6
MIN_FACE_PX = 32
IOU_FOUND = 0.3
TUNING_PHOTOS = 150
SIZE_BINS = ((32, 64), (64, 128), (128, 100_000))
THRESHOLDS = (0.2, 0.3, 0.4, 0.5)
#: The module constant that turns each method's pattern off when set to 0.
PATTERN_CONSTANT = {"blur": "BLUR_STRIPES", "pixelate": "PIXELATE_CONTRAST", "solid": "SOLID_BARS"}


def load_photos(limit: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(relative path, BGR image, faces (N, 4) float32 xyxy >= 32 px tall)`` per photo."""
    labels = json.loads((DATA / "labels.json").read_text())
    photos = []
    for entry in labels["images"]:
        faces = xywh_to_xyxy(np.array(entry["faces_xywh"], np.float32).reshape(-1, 4))
        faces = faces[faces[:, 3] - faces[:, 1] >= MIN_FACE_PX]
        if len(faces) == 0:
            continue
        image = cv2.imread(str(DATA / entry["image"]))
        if image is None:
            raise FileNotFoundError(DATA / entry["image"])
        photos.append((entry["image"], np.ascontiguousarray(image), faces))
        if limit and len(photos) == limit:
            break
    return photos


def found(detector: Detector, image: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(N,) float32``: per face, the best score of a detection overlapping it
    with IoU >= 0.3, or 0 when none does (the face was not found)."""
    detections = detector.detect(image)
    if len(detections) == 0:
        return np.zeros(len(faces), np.float32)
    overlapping = iou_matrix_xyxy(faces, detections.xyxy) >= IOU_FOUND
    return np.where(overlapping, detections.scores[None, :], 0.0).max(axis=1)


def face_left(original: np.ndarray, redacted: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(N, 2)``: per face, mean |Laplacian| over the middle half of the box and the
    correlation of the 8x8 greyscale face with the original's (0 if either is flat)."""
    before = cv2.cvtColor(original, cv2.COLOR_BGR2GRAY)
    after = cv2.cvtColor(redacted, cv2.COLOR_BGR2GRAY)
    laplacian = np.abs(cv2.Laplacian(after, cv2.CV_32F))
    height, width = after.shape
    out = np.zeros((len(faces), 2))
    for i, (x1, y1, x2, y2) in enumerate(faces.astype(np.float64)):
        rows = slice(max(0, int(y1)), min(height, int(np.ceil(y2))))
        cols = slice(max(0, int(x1)), min(width, int(np.ceil(x2))))
        small = [
            cv2.resize(grey[rows, cols], (8, 8), interpolation=cv2.INTER_AREA).ravel()
            for grey in (before, after)
        ]
        a, b = (v.astype(np.float64) for v in small)
        out[i, 1] = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0
        qx, qy = (x2 - x1) / 4, (y2 - y1) / 4
        centre = laplacian[
            max(0, int(y1 + qy)) : min(height, int(y2 - qy)),
            max(0, int(x1 + qx)) : min(width, int(x2 - qx)),
        ]
        out[i, 0] = centre.mean() if centre.size else 0.0
    return out


def share(hits: np.ndarray) -> dict:
    return {"faces": len(hits), "found": int(hits.sum()), "share": float(hits.mean())}


def summary(
    scores: np.ndarray, heights: np.ndarray, photo: np.ndarray, left: np.ndarray | None
) -> dict:
    """Shares of faces found, overall, by face height, at stricter thresholds
    and beyond the tuning sample; what is left of the faces."""
    hits = scores > 0
    by_size = {}
    for low, high in SIZE_BINS:
        inside = (heights >= low) & (heights < high)
        by_size[f"{low}-{high if high < 100_000 else 'up'}"] = {
            **share(hits[inside]),
            "share": float(hits[inside].mean()) if inside.any() else None,
        }
    result = {
        **share(hits),
        "by_face_height": by_size,
        "found_scores": {
            "median": float(np.median(scores[hits])) if hits.any() else None,
            "max": float(scores.max()),
        },
        # Derived from the same run: a face counts if a detection scoring at
        # least this much overlaps it.
        "share_at_threshold": {f"{t:g}": float((scores >= t).mean()) for t in THRESHOLDS},
    }
    beyond = photo >= TUNING_PHOTOS
    if beyond.any():
        result["beyond_tuning_sample"] = {
            "photos": int(np.unique(photo[beyond]).size),
            **share(hits[beyond]),
        }
    if left is not None:
        result["laplacian_face_centre"] = float(left[:, 0].mean())
        result["correlation_8x8"] = {
            "mean": float(left[:, 1].mean()),
            "mean_abs": float(np.abs(left[:, 1]).mean()),
        }
    return result


@contextlib.contextmanager
def pattern_off(method: str) -> Iterator[None]:
    """Run ``method`` with its stripes, bars or alternating blocks set to 0."""
    name = PATTERN_CONSTANT[method]
    saved = getattr(composite, name)
    setattr(composite, name, 0.0)
    try:
        yield
    finally:
        setattr(composite, name, saved)


def run(
    detector: Detector,
    photos: list,
    method: str,
    strength: float = 1.0,
    scale: float = MASK_SCALE,
) -> tuple[np.ndarray, np.ndarray]:
    """Per face: best overlapping score after redaction, and :func:`face_left`."""
    scores, left = [], []
    for _, image, faces in photos:
        out = image.copy()
        boxes = xyxy_scale_about_centre(faces, scale)
        # redact() draws pixelate's noise afresh; a fixed draw makes runs repeatable.
        composite._redact(
            out, boxes, method, "ellipse", strength, "numba", np.random.default_rng(0)
        )
        scores.append(found(detector, out, faces))
        left.append(face_left(image, out, faces))
    return np.concatenate(scores), np.concatenate(left)


def report(label: str, scores: np.ndarray, left: np.ndarray) -> None:
    hits = scores > 0
    print(
        f"{label:<34} found {hits.sum():4d} / {len(hits)} = {hits.mean():6.2%}; "
        f"best score {scores.max():.2f}; |Laplacian| {left[:, 0].mean():6.2f}; "
        f"8x8 r {left[:, 1].mean():+.3f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="photos to use (0: all)")
    parser.add_argument("--methods", default="blur,pixelate,solid")
    parser.add_argument("--strengths", default="0.25,0.5,0.75,0.9,1")
    parser.add_argument(
        "--other-mask-scales",
        default="2,2.5",
        help="also measure each method at strength 1 with boxes grown by these scales",
    )
    parser.add_argument(
        "--ablate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure each method at strength 1 with its pattern turned off",
    )
    parser.add_argument(
        "--key", default="", help="store the run under runs[KEY] (default: '<N> photos')"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    methods = args.methods.split(",")
    strengths = [float(s) for s in args.strengths.split(",") if s]
    scales = [float(s) for s in args.other_mask_scales.split(",") if s]

    detector = build_detector(DetectorConfig(kind="centerface", threshold=0.2))
    photos = load_photos(args.limit)
    heights = np.concatenate([faces[:, 3] - faces[:, 1] for _, _, faces in photos])
    photo = np.concatenate([np.full(len(faces), i) for i, (_, _, faces) in enumerate(photos)])
    print(f"{len(photos)} photos, {len(heights)} faces >= {MIN_FACE_PX} px tall")
    started = time.perf_counter()

    baseline = np.concatenate([found(detector, image, faces) for _, image, faces in photos])
    results: dict = {
        "data": str(DATA),
        "photos": len(photos),
        "mask_scale": MASK_SCALE,
        "min_face_px": MIN_FACE_PX,
        "iou_found": IOU_FOUND,
        "detector": {"kind": "centerface", "threshold": 0.2},
        "unredacted": summary(baseline, heights, photo, None),
        "redacted": {},
    }
    print(f"unredacted: found {(baseline > 0).mean():.1%} of faces")
    for method in methods:
        results["redacted"][method] = {}
        for strength in strengths:
            scores, left = run(detector, photos, method, strength)
            results["redacted"][method][f"{strength:g}"] = summary(scores, heights, photo, left)
            report(f"{method} strength {strength:g}", scores, left)
    if args.ablate:
        results["pattern_off"] = {}
        for method in methods:
            with pattern_off(method):
                scores, left = run(detector, photos, method)
            results["pattern_off"][method] = summary(scores, heights, photo, left)
            report(f"{method} strength 1, pattern off", scores, left)
    results["other_mask_scales"] = {}
    for scale in scales:
        results["other_mask_scales"][f"{scale:g}"] = {}
        for method in methods:
            scores, left = run(detector, photos, method, scale=scale)
            summarised = summary(scores, heights, photo, left)
            results["other_mask_scales"][f"{scale:g}"][method] = summarised
            report(f"mask scale {scale:g}: {method} strength 1", scores, left)
    results["seconds"] = time.perf_counter() - started
    results["load_average_end"] = os.getloadavg()

    stored = json.loads(args.out.read_text()) if args.out.exists() else {}
    stored.setdefault("runs", {})[args.key or f"{len(photos)} photos"] = results
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stored, indent=1))
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
