"""Writes docs/hide_modes.png: ``--hide faces``, ``heads`` and ``people`` on
two scikit-image photos (public domain: the astronaut Eileen Collins, and the
cameraman), so the picture ships no WIDER FACE data.

    .venv/bin/python docs/make_hide_modes.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from livefilter.detect import DetectorConfig, build_target_detector
from livefilter.detect.targets import TargetDetector
from livefilter.hide.composite import redact

TILE = 300
OUT = Path(__file__).resolve().parent / "hide_modes.png"


def main() -> None:
    photos = [np.ascontiguousarray(data.astronaut()[:, :, ::-1]),
              np.ascontiguousarray(np.repeat(data.camera()[:, :, None], 3, axis=2))]
    config = DetectorConfig(kind="centerface", quality="thorough")
    rows = []
    for photo in photos:
        tiles = [photo]
        for hide in ("faces", "heads", "people"):
            detector = build_target_detector(config, hide)
            if isinstance(detector, TargetDetector):
                regions = detector.detect(photo).xyxy
            else:
                found = detector.detect(photo).xyxy
                centre = (found[:, :2] + found[:, 2:]) / 2
                half = (found[:, 2:] - found[:, :2]) * 0.8  # mask scale 1.6
                regions = np.concatenate([centre - half, centre + half], axis=1)
            image = photo.copy()
            redact(image, regions, "blur", "box" if hide == "people" else "ellipse")
            tiles.append(image)
        rows.append(np.hstack([cv2.resize(t, (TILE, TILE), interpolation=cv2.INTER_AREA)
                               for t in tiles]))
    sheet = np.vstack(rows)
    labels = ("original", "--hide faces", "--hide heads", "--hide people")
    for i, label in enumerate(labels):
        cv2.putText(sheet, label, (i * TILE + 8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.65,
                    (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(sheet, label, (i * TILE + 8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.65,
                    (255, 255, 255), 1, cv2.LINE_AA)
    cv2.imwrite(str(OUT), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(OUT)


if __name__ == "__main__":
    main()
