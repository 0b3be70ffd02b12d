"""Redaction strength: does CenterFace still find faces after they are hidden?

For every WIDER FACE photo in ``../shared/data/wider_dev`` with faces at
least 32 px tall, each such face box is grown 1.6x about its centre and hidden
with ``livefilter.composite.redact`` (one method and strength at a time); the
detector then runs on the whole redacted photo. A face counts as *found* when
a detection overlaps its original box with IoU >= 0.3. The same is measured on
the untouched photos (the detector's recall, for scale).

``solid`` at full strength leaves no face at all, only a dark head-shaped
blob, so what it still "finds" is the floor that comes from the context
(hair, head outline, shoulders) rather than from anything left of the face.
The same methods at strength 1 with boxes grown more than 1.6x show how much
of what is still found comes from the mask scale rather than the method.

Usage::

    LIVEFILTER_MODELS=/tmp/lfmodels python benchmarks/redaction_strength.py
    ... --limit 60 --strengths 0.25,1      # a shorter run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from livefilter.boxes import iou_matrix_xyxy, xywh_to_xyxy, xyxy_scale_about_centre
from livefilter.composite import redact
from livefilter.detect import Detector, DetectorConfig, build_detector

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "wider_dev"
RESULTS = REPO / "benchmarks" / "results" / "redaction_strength.json"
MASK_SCALE = 1.6
MIN_FACE_PX = 32
IOU_FOUND = 0.3
SIZE_BINS = ((32, 64), (64, 128), (128, 100_000))
THRESHOLDS = (0.2, 0.3, 0.4, 0.5)


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


def summary(scores: np.ndarray, heights: np.ndarray) -> dict:
    """Shares of faces found, overall, by face height and at stricter thresholds."""
    hits = scores > 0
    by_size = {}
    for low, high in SIZE_BINS:
        inside = (heights >= low) & (heights < high)
        by_size[f"{low}-{high if high < 100_000 else 'up'}"] = {
            "faces": int(inside.sum()),
            "found": int(hits[inside].sum()),
            "share": float(hits[inside].mean()) if inside.any() else None,
        }
    return {
        "faces": len(hits),
        "found": int(hits.sum()),
        "share": float(hits.mean()),
        "by_face_height": by_size,
        "found_scores": {
            "median": float(np.median(scores[hits])) if hits.any() else None,
            "max": float(scores.max()),
        },
        # Derived from the same run: a face counts if a detection scoring at
        # least this much overlaps it.
        "share_at_threshold": {f"{t:g}": float((scores >= t).mean()) for t in THRESHOLDS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="photos to use (0: all)")
    parser.add_argument("--methods", default="blur,pixelate,solid")
    parser.add_argument("--strengths", default="0.1,0.25,0.5,1,1.5")
    parser.add_argument(
        "--other-mask-scales",
        default="2,2.5",
        help="also measure each method at strength 1 with boxes grown by these scales",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    methods = args.methods.split(",")
    strengths = [float(s) for s in args.strengths.split(",")]

    detector = build_detector(DetectorConfig(kind="centerface", threshold=0.2))
    photos = load_photos(args.limit)
    heights = np.concatenate([faces[:, 3] - faces[:, 1] for _, _, faces in photos])
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
        "unredacted": summary(baseline, heights),
        "redacted": {},
    }
    print(f"unredacted: found {(baseline > 0).mean():.1%} of faces")
    for method in methods:
        results["redacted"][method] = {}
        for strength in strengths:
            hits = []
            for _, image, faces in photos:
                out = image.copy()
                redact(out, xyxy_scale_about_centre(faces, MASK_SCALE), method, strength=strength)
                hits.append(found(detector, out, faces))
            hits = np.concatenate(hits)
            results["redacted"][method][f"{strength:g}"] = summary(hits, heights)
            print(
                f"{method:>9} strength {strength:<5g} found {(hits > 0).sum():4d} / "
                f"{len(hits)} = {(hits > 0).mean():.2%}; best score {hits.max():.2f}",
                flush=True,
            )
    results["other_mask_scales"] = {}
    scales = [float(s) for s in args.other_mask_scales.split(",") if s]
    for scale in scales:
        results["other_mask_scales"][f"{scale:g}"] = {}
        for method in methods:
            hits = []
            for _, image, faces in photos:
                out = image.copy()
                redact(out, xyxy_scale_about_centre(faces, scale), method)
                hits.append(found(detector, out, faces))
            hits = np.concatenate(hits)
            results["other_mask_scales"][f"{scale:g}"][method] = summary(hits, heights)
            print(
                f"mask scale {scale:g}: {method:>9} strength 1 found {(hits > 0).sum():4d} / "
                f"{len(hits)} = {(hits > 0).mean():.2%}",
                flush=True,
            )
    results["seconds"] = time.perf_counter() - started
    results["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
