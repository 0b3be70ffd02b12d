"""Contact sheet for checking the ``--hide heads`` proportions by eye.

Draws, on photos whose faces are large enough to judge (>= 70 px), the
CenterFace box (green) and the head box grown from it (red), and writes one
sheet per data set to ``--out`` (default: a temporary directory, never the
repository: WIDER FACE photos must not be shipped). Each crop is one face
with some margin, so hair, ears and neck can be seen against the box.

    python benchmarks/head_check.py --data ../shared/data --faces 24
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from livefilter.detect import DetectorConfig, build_detector
from livefilter.detect.targets import head_boxes

CROP = 260  # each face is shown in a CROP x CROP tile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2]
                        / "shared" / "data")
    parser.add_argument("--set", default="wider_dev")
    parser.add_argument("--faces", type=int, default=24, help="faces on the sheet")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    detector = build_detector(DetectorConfig(kind="centerface", threshold=0.3))
    root = args.data / args.set
    labels = json.loads((root / "labels.json").read_text())["images"]
    tiles: list[np.ndarray] = []
    for entry in labels[::7]:
        if len(tiles) >= args.faces:
            break
        image = cv2.imread(str(root / entry["image"]))
        if image is None:
            continue
        found = detector.detect(image)
        big = found.xyxy[(found.xyxy[:, 3] - found.xyxy[:, 1]) >= 70]
        for face, head in zip(big[:2], head_boxes(big[:2]), strict=True):
            margin = 0.6 * (head[3] - head[1])
            x1, y1 = int(max(0, head[0] - margin)), int(max(0, head[1] - margin))
            x2 = int(min(image.shape[1], head[2] + margin))
            y2 = int(min(image.shape[0], head[3] + margin))
            crop = image[y1:y2, x1:x2].copy()
            for box, colour in ((face, (0, 255, 0)), (head, (0, 0, 255))):
                a = (int(box[0] - x1), int(box[1] - y1))
                b = (int(box[2] - x1), int(box[3] - y1))
                cv2.rectangle(crop, a, b, colour, 2)
                if colour == (0, 0, 255):
                    # The hidden shape: the ellipse inscribed in the box.
                    cv2.ellipse(crop, (((a[0] + b[0]) / 2, (a[1] + b[1]) / 2),
                                       (b[0] - a[0], b[1] - a[1]), 0), colour, 1)
            scale = CROP / max(crop.shape[:2])
            crop = cv2.resize(crop, None, fx=scale, fy=scale)
            tile = np.zeros((CROP, CROP, 3), np.uint8)
            tile[:crop.shape[0], :crop.shape[1]] = crop
            tiles.append(tile)
    columns = 4
    while len(tiles) % columns:
        tiles.append(np.zeros((CROP, CROP, 3), np.uint8))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    out = args.out / f"head_check_{args.set}.png"
    cv2.imwrite(str(out), np.vstack(rows))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
