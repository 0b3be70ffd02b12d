"""Peak memory of `livefilter image` on large photos.

Makes synthetic JPEG photos of 12, 48 and 108 megapixels (a textured
background with faces pasted in: the astronaut from scikit-image, at several
sizes), runs `livefilter image` on each in a fresh subprocess and reads that
subprocess's peak resident memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss``,
measured from a fresh measuring process per run, since that figure is the
maximum over every child ever waited for). The baseline is the same command
on a 0.3 MP photo: the interpreter, the libraries and the model. The target
is a peak of at most about twice the decoded image (width x height x 3
bytes) above that baseline.

Usage: python benchmarks/photo_memory.py [--sizes 12,48,108] [--quality thorough]
Results: benchmarks/results/photo_memory.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from peak_rss import run_measured  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "photo_memory.json"
# 4:3, as phone and camera sensors are.
SIZES = {0.3: (640, 480), 12: (4000, 3000), 48: (8000, 6000), 108: (12000, 9000)}


def make_photo(path: Path, width: int, height: int) -> None:
    """A JPEG with faces from 40 px to a fifth of the height, on texture."""
    from skimage import data

    rng = np.random.default_rng(0)
    small = rng.integers(60, 200, (height // 16 + 1, width // 16 + 1, 3), np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    del small
    face = cv2.cvtColor(data.astronaut()[20:220, 150:310], cv2.COLOR_RGB2BGR)
    x = 0
    for side in (40, 80, 160, height // 10, height // 5):
        patch = cv2.resize(face, (side * 160 // 200, side))
        y = height // 3
        x += side // 2 + 40
        if x + patch.shape[1] < width and y + side < height:
            image[y:y + side, x:x + patch.shape[1]] = patch
        x += patch.shape[1]
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 85])


def measure(photo: Path, out_dir: Path, quality: str) -> dict[str, object]:
    command = [sys.executable, "-m", "livefilter", "image", str(photo), "-o", str(out_dir),
               "-q", "--quality", quality]
    result = run_measured(command)
    del result["cpu_seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="12,48,108", help="megapixels, comma-separated")
    parser.add_argument("--quality", default="thorough")
    args = parser.parse_args()
    sizes = [float(s) if "." in s else int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="photo-memory-") as tmp:
        tmp_path = Path(tmp)
        for megapixels in [0.3, *sizes]:
            width, height = SIZES[megapixels]
            photo = tmp_path / f"photo_{megapixels}mp.jpg"
            make_photo(photo, width, height)
            out_dir = tmp_path / f"out_{megapixels}"
            out_dir.mkdir()
            started = time.monotonic()
            result = measure(photo, out_dir, args.quality)
            decoded_mb = width * height * 3 / 2**20
            row = {"megapixels": megapixels, "width": width, "height": height,
                   "decoded_mb": round(decoded_mb, 1), **result}
            if rows:
                above = result["peak_rss_mb"] - rows[0]["peak_rss_mb"]
                row["above_baseline_mb"] = round(above, 1)
                row["above_baseline_per_decoded"] = round(above / decoded_mb, 2)
            rows.append(row)
            print(json.dumps(row), f"({time.monotonic() - started:.0f} s)", flush=True)
            photo.unlink()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"quality": args.quality, "rows": rows}, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
