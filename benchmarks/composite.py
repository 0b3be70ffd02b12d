"""Compositor speed: milliseconds per frame, numba kernels versus the OpenCV reference.

Grid: 1, 5, 20 and 50 faces of 40, 120 and 300 px on 720p and 1080p frames,
each method and shape, both backends; ``curtain`` at 720p and 1080p; the
start-up cost of the kernels (first-call compile and cached load, each in a
fresh subprocess with its own numba cache directory); and what each backend
leaves of the faces: fine detail (mean |Laplacian| over the middle half of
each face) and coarse layout (correlation of the 8x8 greyscale face with the
original's).

A "face of S px" is an S x S face box; ``redact`` gets it grown 1.6x about its
centre (the mask scale), as the pipeline passes it, so its region is 1.6 S
wide. The headline case is also measured with S x S regions (``region_px``).
Backends alternate repetition by repetition on the same frame and boxes, so
both see the same machine load; medians are reported, with the 90th
percentile and the minimum beside them in the JSON.

Usage::

    python benchmarks/composite.py            # full grid, a few minutes
    python benchmarks/composite.py --quick    # headline numbers only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numba
import numpy as np

from livefilter.hide import composite as composite
from livefilter.hide.composite import curtain, redact

MASK_SCALE = 1.6
FRAMES = {"720p": (720, 1280), "1080p": (1080, 1920)}
FACE_COUNTS = (1, 5, 20, 50)
FACE_SIZES = (40, 120, 300)
METHODS = ("blur", "pixelate", "solid")
SHAPES = ("ellipse", "box")
BACKENDS = ("numba", "opencv")
RESULTS = Path(__file__).resolve().parent / "results" / "composite.json"


@dataclass(frozen=True, kw_only=True)
class Case:
    """One benchmark configuration."""

    frame: str
    faces: int
    face_px: int
    region_px: float
    method: str
    shape: str


def background(height: int, width: int) -> np.ndarray:
    """``(height, width, 3) uint8`` BGR photo: skimage's astronaut, tiled and resized."""
    from skimage import data

    tile = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    reps = (height // 512 + 2, width // 512 + 2, 1)
    return np.ascontiguousarray(cv2.resize(np.tile(tile, reps), (width, height)))


def face_boxes(height: int, width: int, count: int, size: float, seed: int = 0) -> np.ndarray:
    """``(count, 4) float64`` square face boxes at random places inside the frame."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform([0, 0], [max(1, width - size), max(1, height - size)], (count, 2))
    return np.concatenate([corner, corner + size], axis=1)


def grown(faces: np.ndarray, scale: float) -> np.ndarray:
    centre = (faces[:, :2] + faces[:, 2:]) / 2
    half = (faces[:, 2:] - faces[:, :2]) / 2 * scale
    return np.concatenate([centre - half, centre + half], axis=1)


def time_backends(frame: np.ndarray, boxes: np.ndarray, case: Case, repeats: int) -> dict:
    """Median and 90th-percentile ms per call of each backend, interleaved."""
    work = np.empty_like(frame)
    times: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    for backend in BACKENDS:  # one untimed call each: caches, lazy imports
        np.copyto(work, frame)
        redact(work, boxes, case.method, case.shape, backend=backend)
    for _ in range(repeats):
        for backend in BACKENDS:
            np.copyto(work, frame)
            started = time.perf_counter()
            redact(work, boxes, case.method, case.shape, backend=backend)
            times[backend].append((time.perf_counter() - started) * 1e3)
    row = {**case.__dict__}
    for backend in BACKENDS:
        row[f"{backend}_ms"] = float(np.median(times[backend]))
        row[f"{backend}_p90_ms"] = float(np.percentile(times[backend], 90))
        # The fastest call: the best estimate of the cost on an idle machine.
        row[f"{backend}_min_ms"] = float(np.min(times[backend]))
    row["speedup"] = row["opencv_ms"] / row["numba_ms"]
    return row


def time_curtain(frame: np.ndarray, name: str, repeats: int) -> dict:
    work = np.empty_like(frame)
    times: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    for backend in BACKENDS:
        np.copyto(work, frame)
        curtain(work, backend=backend)
    for _ in range(repeats):
        for backend in BACKENDS:
            np.copyto(work, frame)
            started = time.perf_counter()
            curtain(work, backend=backend)
            times[backend].append((time.perf_counter() - started) * 1e3)
    row: dict = {"frame": name}
    for backend in BACKENDS:
        row[f"{backend}_ms"] = float(np.median(times[backend]))
        row[f"{backend}_p90_ms"] = float(np.percentile(times[backend], 90))
        row[f"{backend}_min_ms"] = float(np.min(times[backend]))
    return row


def face_detail(image: np.ndarray, faces: np.ndarray) -> float:
    """Mean |Laplacian| of the grey image over the middle half of each face box."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    values = []
    for x1, y1, x2, y2 in faces:
        qx, qy = (x2 - x1) / 4, (y2 - y1) / 4
        values.append(laplacian[int(y1 + qy) : int(y2 - qy), int(x1 + qx) : int(x2 - qx)].mean())
    return float(np.mean(values))


def face_correlation(image: np.ndarray, original: np.ndarray, faces: np.ndarray) -> float:
    """Mean Pearson r of each 8x8 (``INTER_AREA``) greyscale face with the original's."""
    values = []
    for x1, y1, x2, y2 in faces.astype(int):
        small = [
            cv2.resize(
                cv2.cvtColor(im[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY),
                (8, 8),
                interpolation=cv2.INTER_AREA,
            ).ravel()
            for im in (original, image)
        ]
        a, b = (v.astype(np.float64) for v in small)
        values.append(np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0)
    return float(np.mean(values))


def detail_check(frame: np.ndarray, faces: np.ndarray) -> dict:
    """What each backend leaves of the faces (ellipse, strength 1), every method.

    The stripes and bars are detail of their own, drawn from nothing of the
    face, so the Laplacian compares the backends rather than measuring what
    is left of the face; the correlation does the latter.
    """
    result: dict = {"original": face_detail(frame, faces), "correlation_8x8": {}}
    for method in METHODS:
        for backend in BACKENDS:
            out = frame.copy()
            redact(out, grown(faces, MASK_SCALE), method, "ellipse", backend=backend)
            result[f"{method}_{backend}"] = face_detail(out, faces)
            result["correlation_8x8"][f"{method}_{backend}"] = face_correlation(out, frame, faces)
    return result


_STARTUP_PROBE = """
import json, time
started = time.perf_counter()
import livefilter.hide.composite as composite
imported = time.perf_counter() - started
warm = composite.warm_up()
print(json.dumps({"import_s": imported, "warm_up_s": warm}))
"""


def startup(runs: int) -> dict:
    """First-call compile and cached load of the kernels, each in a fresh process.

    Each round uses a new, empty numba cache directory: the first process
    compiles and writes the cache, the second loads it.
    """
    rounds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            measured = []
            for _ in range(2):
                done = subprocess.run(
                    [sys.executable, "-c", _STARTUP_PROBE],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                measured.append(json.loads(done.stdout.strip().splitlines()[-1]))
            rounds.append({"compile": measured[0], "cached": measured[1]})
    return {
        "rounds": rounds,
        "compile_s": float(np.median([r["compile"]["warm_up_s"] for r in rounds])),
        "cached_load_s": float(np.median([r["cached"]["warm_up_s"] for r in rounds])),
        "import_s": float(np.median([r["cached"]["import_s"] for r in rounds])),
    }


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": numba.threading_layer(),
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "load_average": os.getloadavg(),
    }


def print_table(rows: list[dict]) -> None:
    print(
        f"{'frame':>6} {'faces':>5} {'face':>5} {'region':>6} {'method':>9} {'shape':>8}"
        f" {'numba ms':>9} {'opencv ms':>9} {'speedup':>7}"
    )
    for row in rows:
        print(
            f"{row['frame']:>6} {row['faces']:>5} {row['face_px']:>5} {row['region_px']:>6.0f}"
            f" {row['method']:>9} {row['shape']:>8} {row['numba_ms']:>9.2f}"
            f" {row['opencv_ms']:>9.2f} {row['speedup']:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="headline numbers only")
    parser.add_argument("--repeats", type=int, default=0, help="timed calls per backend")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args()
    repeats = args.repeats or (15 if args.quick else 25)

    warm = composite.warm_up()
    frames = {name: background(*size) for name, size in FRAMES.items()}
    results: dict = {"machine": machine(), "repeats": repeats, "quick": args.quick}
    results["warm_up_in_process_s"] = warm

    # The headline case, measured first and with more repetitions.
    height, width = FRAMES["1080p"]
    faces = face_boxes(height, width, 20, 120)
    headline = []
    for scale, label in ((MASK_SCALE, "face 120 px, region 192 px"), (1.0, "region 120 px")):
        case = Case(
            frame="1080p",
            faces=20,
            face_px=120,
            region_px=120 * scale,
            method="blur",
            shape="ellipse",
        )
        row = time_backends(frames["1080p"], grown(faces, scale), case, repeats * 4)
        row["label"] = label
        headline.append(row)
    results["headline"] = headline
    print("headline: 20 faces, 1080p, blur, ellipse")
    print_table(headline)
    results["detail"] = detail_check(frames["1080p"], faces)
    print("left of the faces:", json.dumps(results["detail"], indent=1))

    results["curtain"] = [time_curtain(frame, name, repeats * 2) for name, frame in frames.items()]
    for row in results["curtain"]:
        print(
            f"curtain {row['frame']}: numba {row['numba_ms']:.2f} ms, "
            f"opencv {row['opencv_ms']:.2f} ms"
        )

    rows = []
    if not args.quick:
        for name, (height, width) in FRAMES.items():
            for count in FACE_COUNTS:
                for size in FACE_SIZES:
                    faces = face_boxes(height, width, count, size, seed=count * 1000 + size)
                    boxes = grown(faces, MASK_SCALE)
                    for method in METHODS:
                        for shape in SHAPES:
                            case = Case(
                                frame=name,
                                faces=count,
                                face_px=size,
                                region_px=size * MASK_SCALE,
                                method=method,
                                shape=shape,
                            )
                            rows.append(time_backends(frames[name], boxes, case, repeats))
                    print_table(rows[-len(METHODS) * len(SHAPES) :])
    results["grid"] = rows

    results["startup"] = started = startup(runs=1 if args.quick else 3)
    print(
        f"start-up: compile {started['compile_s']:.2f} s, cached load "
        f"{started['cached_load_s']:.2f} s, import {started['import_s']:.2f} s"
    )
    results["machine"]["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
