"""Tests of livefilter.hide.composite: both backends through the same checks.

Behaviour only; timings live in benchmarks/composite.py.
"""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest
from conftest import DATA_DIR

from livefilter.boxes import iou_matrix_xyxy, xywh_to_xyxy, xyxy_scale_about_centre
from livefilter.detect import Detector
from livefilter.errors import ConfigError, ModelMissingError
from livefilter.hide import composite as composite
from livefilter.hide.composite import curtain, hidden_mask, redact, warm_up

BACKENDS = ["numba", "opencv"]
METHODS = ["blur", "pixelate", "solid"]
SHAPES = ["ellipse", "box"]
MASK_SCALE = 1.6


def _photo(height: int, width: int) -> np.ndarray:
    """``(height, width, 3) uint8`` BGR: a real photo (astronaut), tiled and resized."""
    from skimage import data

    tile = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    reps = (height // 256 + 1, width // 256 + 1, 1)
    return np.ascontiguousarray(cv2.resize(np.tile(tile, reps), (width, height)))


def _noise(height: int, width: int, seed: int = 1) -> np.ndarray:
    """``(height, width, 3) uint8`` uniform noise: every pixel differs from its neighbours."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _face_boxes(faces: np.ndarray) -> np.ndarray:
    """Face boxes ``(N, 4)`` grown by the mask scale, as the pipeline passes them."""
    return xyxy_scale_about_centre(np.asarray(faces, np.float32), MASK_SCALE).astype(np.float64)


def _centre_masks(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(N, height, width) bool``: pixel centres inside each box."""
    x = np.arange(width) + 0.5
    y = np.arange(height) + 0.5
    masks = np.zeros((len(boxes), height, width), bool)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
        masks[i] = ((y > y1) & (y < y2))[:, None] & ((x > x1) & (x < x2))[None, :]
    return masks


def _detail(image: np.ndarray, boxes: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image over the middle half of each box."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    values = []
    height, width = grey.shape
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64):
        qx, qy = (x2 - x1) / 4, (y2 - y1) / 4
        top, bottom = max(0, int(y1 + qy)), min(height, int(y2 - qy))
        left, right = max(0, int(x1 + qx)), min(width, int(x2 - qx))
        if bottom > top and right > left:
            values.append(laplacian[top:bottom, left:right].mean())
    return float(np.mean(values))


def _face_correlation(image: np.ndarray, original: np.ndarray, boxes: np.ndarray) -> float:
    """Mean Pearson r, over the boxes, of ``image`` against ``original`` (grey, full resolution)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)
    before = cv2.cvtColor(original, cv2.COLOR_BGR2GRAY).astype(np.float64)
    values = []
    height, width = grey.shape
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64):
        rows = slice(max(0, int(y1)), min(height, int(y2)))
        cols = slice(max(0, int(x1)), min(width, int(x2)))
        a, b = grey[rows, cols].ravel(), before[rows, cols].ravel()
        if a.size > 1:
            values.append(np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0)
    return float(np.mean(values))


def _alpha_from_pair(
    boxes: np.ndarray, method: str, shape: str, backend: str, height: int, width: int
) -> np.ndarray:
    """``(height, width) float`` alpha recovered from redacting a white and a black frame.

    ``solid`` reads nothing, so both get the same cover ``c``: white gives
    ``255 (1 - alpha) + alpha c``, black ``alpha c``, and their difference is
    ``255 (1 - alpha)`` up to rounding.
    """
    white = np.full((height, width, 3), 255, np.uint8)
    black = np.zeros((height, width, 3), np.uint8)
    redact(white, boxes, method, shape, backend=backend)
    redact(black, boxes, method, shape, backend=backend)
    difference = white[..., 0].astype(np.float64) - black[..., 0]
    return 1.0 - difference / 255.0


def _crowd(height: int, width: int, count: int, size: float, seed: int) -> np.ndarray:
    """``(count, 4)`` face boxes (not grown) at random, overlapping places."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform([-size / 3, -size / 3], [width - size / 2, height - size / 2], (count, 2))
    sizes = rng.uniform(0.6, 1.4, (count, 1)) * size
    return np.concatenate([corner, corner + sizes], axis=1)


# --- both backends agree -------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method", METHODS)
def test_numba_and_reference_agree(method: str, shape: str) -> None:
    frame = _photo(241, 367)
    boxes = _face_boxes(_crowd(241, 367, 12, 50, seed=3))
    outputs = []
    for backend in BACKENDS:
        out = frame.copy()
        # The same noise for both, so pixelate can be compared pixel by pixel.
        composite._redact(out, boxes, method, shape, 1.0, backend, np.random.default_rng(7))
        outputs.append(out.astype(np.int16))
    difference = np.abs(outputs[0] - outputs[1])
    hidden = hidden_mask(boxes, shape, 241, 367)
    # OpenCV rounds its intermediates to 8 bits; the kernels keep float32.
    assert difference.max() <= 3
    assert difference[hidden].mean() < 0.5
    assert (outputs[0][hidden] != frame[hidden]).any(axis=1).mean() > 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_curtain_backends_agree_and_hide_everything(backend: str) -> None:
    frame = _photo(720, 1280)
    reference = frame.copy()
    curtain(reference, backend="opencv")
    out = frame.copy()
    curtain(out, backend=backend)
    assert np.abs(out.astype(np.int16) - reference).max() <= 2
    whole = np.array([[0.0, 0.0, 1280.0, 720.0]])
    # Fine detail everywhere is gone, not merely dimmed.
    assert _detail(out, whole) < 0.05 * _detail(frame, whole)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("height", "width"), [(1, 1), (2, 3), (37, 1), (5, 53), (31, 17)])
def test_curtain_odd_sizes(backend: str, height: int, width: int) -> None:
    frame = _noise(height, width)
    mean = frame.reshape(-1, 3).mean(axis=0)
    curtain(frame, backend=backend)
    if height * width == 1:
        return
    # Averaged over cells at least ceil(size / 16) pixels wide: far from noise.
    assert np.abs(frame.reshape(-1, 3) - mean).mean() < 60


# --- geometry: what changes and what does not --------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", SHAPES)
def test_pixels_outside_regions_bit_identical(backend: str, method: str, shape: str) -> None:
    height, width = 157, 211
    frame = _noise(height, width)
    boxes = np.array(
        [
            [10.3, 5.7, 60.2, 70.9],  # inside
            [-20.0, 50.0, 30.0, 120.0],  # across the left edge
            [180.5, 140.2, 260.0, 190.0],  # across the bottom-right corner
            [40.0, 30.0, 90.0, 95.0],  # overlapping the first
            [300.0, 10.0, 340.0, 50.0],  # wholly outside
        ]
    )
    original = frame.copy()
    redact(frame, boxes, method, shape, backend=backend)
    changed = (frame != original).any(axis=2)
    if shape == "ellipse":
        x = (np.arange(width) + 0.5)[None, :]
        y = (np.arange(height) + 0.5)[:, None]
        inside = np.zeros((height, width), bool)
        for x1, y1, x2, y2 in boxes:
            u = (x - (x1 + x2) / 2) / ((x2 - x1) / 2)
            v = (y - (y1 + y2) / 2) / ((y2 - y1) / 2)
            inside |= u * u + v * v < 1.0
    else:
        inside = _centre_masks(boxes, height, width).any(axis=0)
    assert not changed[~inside].any()
    # On noise, almost every hidden pixel changes.
    assert changed[hidden_mask(boxes, shape, height, width)].mean() > 0.95


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_hidden_mask_matches_what_redact_hides(backend: str, shape: str) -> None:
    """A pixel is hidden (alpha >= 0.5) exactly when redact gives it alpha >= 0.5.

    Regions do not overlap here: where they do, two feathers each below 0.5
    can hide a pixel together, which hidden_mask does not count.
    """
    height, width = 203, 301
    rng = np.random.default_rng(5)
    corners = np.stack(np.meshgrid(np.arange(-20, 300, 64), np.arange(-15, 200, 52)), -1)
    corners = corners.reshape(-1, 2) + rng.uniform(0, 8, (corners.size // 2, 2))
    sizes = rng.uniform([20, 15], [54, 42], (len(corners), 2))
    boxes = np.concatenate([corners, corners + sizes], axis=1)
    alpha = _alpha_from_pair(boxes, "solid", shape, backend, height, width)
    hidden = hidden_mask(boxes, shape, height, width)
    assert hidden.dtype == bool
    assert hidden.shape == (height, width)
    # Each of the two frames rounds once: alpha is known to within 1/255.
    assert (alpha[hidden] >= 0.5 - 1 / 255).all()
    assert (alpha[~hidden] <= 0.5 + 1 / 255).all()
    assert hidden.sum() > 0.2 * height * width


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_face_itself_is_fully_covered(backend: str, shape: str) -> None:
    """The feather stays outside the face: every pixel of each face box gets alpha 1."""
    height, width = 240, 320
    faces = _crowd(height, width, 10, 45, seed=11)
    alpha = _alpha_from_pair(_face_boxes(faces), "solid", shape, backend, height, width)
    in_face = _centre_masks(faces, height, width).any(axis=0)
    assert (alpha[in_face] == 1.0).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method", METHODS)
def test_cover_does_not_depend_on_the_face(backend: str, shape: str, method: str) -> None:
    """Irreversibility: replacing the faces' pixels changes nothing over the faces.

    No pixel the cover is drawn from lies inside the face, so the redacted
    face holds no information about the face at all.
    """
    height, width = 220, 330
    faces = np.array([[30.0, 40.0, 90.0, 115.0], [150.0, 60.0, 200.0, 120.0], [250, 20, 310, 95]])
    frame = _photo(height, width)
    other = frame.copy()
    in_face = _centre_masks(faces, height, width).any(axis=0)
    other[in_face] = _noise(height, width, seed=4)[in_face]
    outputs = []
    for image in (frame, other):
        out = image.copy()
        composite._redact(
            out, _face_boxes(faces), method, shape, 1.0, backend, np.random.default_rng(3)
        )
        outputs.append(out)
    assert (outputs[0][in_face] == outputs[1][in_face]).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_overlapping_faces_all_hidden(backend: str, method: str) -> None:
    """A region processed later never brings an earlier face back."""
    height, width = 200, 260
    faces = np.array([[40.0, 40.0, 100.0, 110.0], [70.0, 60.0, 130.0, 130.0], [90, 30, 150, 90]])
    frame = _noise(height, width)
    original = frame.copy()
    redact(frame, _face_boxes(faces), method, "ellipse", backend=backend)
    for face in faces:
        # On noise, any pixel of a face carried over would correlate.
        assert abs(_face_correlation(frame, original, face[None])) < 0.1
        x1, y1, x2, y2 = face.astype(int)
        same = (frame[y1:y2, x1:x2] == original[y1:y2, x1:x2]).all(axis=2)
        assert same.mean() < 0.05


EDGE_CASES = [
    # (description, boxes, pixels expected hidden)
    ("zero-size", [[50.0, 50.0, 50.0, 80.0], [10.0, 10.0, 20.0, 10.0]], 0),
    ("wholly outside", [[-30.0, -30.0, -1.0, -1.0], [500.0, 10.0, 600.0, 60.0]], 0),
    ("one pixel", [[10.0, 12.0, 11.0, 13.0]], 1),
    ("sub-pixel inside one pixel", [[10.2, 12.3, 10.8, 12.9]], 1),
    ("reversed corners", [[60.0, 40.0, 20.0, 10.0]], None),
    ("whole frame and beyond", [[-1e9, -1e9, 1e9, 1e9]], None),
    ("infinite", [[-np.inf, -np.inf, np.inf, np.inf]], None),
    ("left and top edges", [[-25.0, -15.0, 25.0, 30.0]], None),
    ("right and bottom edges", [[70.0, 30.0, 95.0, 70.0]], None),
    ("one row", [[5.0, 20.0, 75.0, 21.0]], None),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("name", "boxes", "expected"), EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_edge_cases(
    backend: str, method: str, name: str, boxes: list, expected: int | None
) -> None:
    height, width = 47, 89  # odd on purpose
    boxes = np.array(boxes, np.float64)
    frame = np.full((height, width, 3), 200, np.uint8)
    frame[::2, ::3] = 20  # some texture so blur and pixelate change pixels
    original = frame.copy()
    redact(frame, boxes, method, "ellipse", backend=backend)
    hidden = hidden_mask(boxes, "ellipse", height, width)
    if expected is not None:
        assert hidden.sum() == expected
    if name == "reversed corners":
        assert hidden.sum() == hidden_mask(boxes[:, [2, 3, 0, 1]], "ellipse", height, width).sum()
        assert hidden.sum() > 0
    changed = (frame != original).any(axis=2)
    if not hidden.any():
        assert not changed.any()
    if method == "solid":
        # Dark where hidden (bars of 0 and SOLID_BARS over 200), whatever the geometry.
        assert (frame[hidden] <= (200 + composite.SOLID_BARS) / 2 + 1).all()
    elif hidden.sum() > 50:
        assert changed[hidden].mean() > 0.5


def test_one_pixel_region_is_covered_by_solid() -> None:
    frame = np.full((9, 9, 3), 255, np.uint8)
    redact(frame, np.array([[4.0, 4.0, 5.0, 5.0]]), "solid")
    assert frame[4, 4, 0] in (0, composite.SOLID_BARS)
    frame[4, 4] = 255
    assert (frame == 255).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_boxes_as_float32_views_and_lists(backend: str) -> None:
    frame = _photo(100, 150)
    other = frame.copy()
    boxes64 = np.array([[10.0, 10.0, 60.0, 70.0, 0.9], [50.0, 20.0, 120.0, 90.0, 0.8]])
    view = boxes64.astype(np.float32)[:, :4]  # non-contiguous float32
    redact(frame, view, "solid", backend=backend)
    redact(other, boxes64[:, :4].tolist(), "solid", backend=backend)
    assert (frame == other).all()


BAD_CALLS = [
    ("NaN box", {"boxes": [[np.nan, 0, 10, 10]]}, ValueError),
    ("wrong box width", {"boxes": [[0, 0, 10]]}, ValueError),
    ("unknown method", {"method": "smear"}, ConfigError),
    ("unknown shape", {"shape": "circle"}, ConfigError),
    ("unknown backend", {"backend": "cuda"}, ConfigError),
    ("zero strength", {"strength": 0.0}, ConfigError),
    ("NaN strength", {"strength": float("nan")}, ConfigError),
    ("float frame", {"frame": np.zeros((10, 10, 3), np.float32)}, ValueError),
    ("grey frame", {"frame": np.zeros((10, 10), np.uint8)}, ValueError),
    ("strided frame", {"frame": np.zeros((10, 20, 3), np.uint8)[:, ::2]}, ValueError),
]


@pytest.mark.parametrize(("name", "change", "error"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_arguments_raise(name: str, change: dict, error: type[Exception]) -> None:
    arguments = {
        "frame": np.zeros((20, 20, 3), np.uint8),
        "boxes": [[2.0, 2.0, 12.0, 12.0]],
        "method": "blur",
        "shape": "ellipse",
        "strength": 1.0,
        "backend": "numba",
    }
    arguments.update(change)
    frame = arguments.pop("frame")
    boxes = np.asarray(arguments.pop("boxes"), np.float64)
    with pytest.raises(error):
        redact(frame, boxes, **arguments)


# --- strength of the redaction ------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_numba_leaves_no_more_detail_than_reference(method: str) -> None:
    """Mean |Laplacian| over the face centres: the kernels leave what the reference does.

    The stripes are detail of their own (drawn from nothing of the face);
    test_cover_does_not_depend_on_the_face checks that none of it is the face.
    """
    frame = _photo(1080, 1920)
    faces = _crowd(1080, 1920, 20, 120, seed=2)
    detail = {}
    for backend in BACKENDS:
        out = frame.copy()
        composite._redact(
            out, _face_boxes(faces), method, "ellipse", 1.0, backend, np.random.default_rng(1)
        )
        detail[backend] = _detail(out, faces)
    assert detail["numba"] <= detail["opencv"] * 1.05 + 0.05


@pytest.mark.parametrize("method", METHODS)
def test_lower_strength_shows_more_of_the_face(method: str) -> None:
    frame = _photo(480, 640)
    faces = _crowd(480, 640, 6, 120, seed=4)
    correlations = []
    for strength in (0.1, 0.25, 0.5, 1.0):
        out = frame.copy()
        redact(out, _face_boxes(faces), method, strength=strength)
        correlations.append(_face_correlation(out, frame, faces))
    assert correlations == sorted(correlations, reverse=True)
    assert correlations[0] > 0.9
    assert abs(correlations[-1]) < 0.2


@pytest.mark.parametrize("method", METHODS)
def test_weak_redaction_is_translucent(method: str) -> None:
    """Below 1, strength is the opacity: the cover blended over the original."""
    frame = np.full((50, 50, 3), 200, np.uint8)
    boxes = np.array([[10.0, 10.0, 40.0, 40.0]])
    full, weak = frame.copy(), frame.copy()
    composite._redact(full, boxes, method, "ellipse", 1.0, "numba", np.random.default_rng(2))
    composite._redact(weak, boxes, method, "ellipse", 0.25, "numba", np.random.default_rng(2))
    expected = 0.75 * 200 + 0.25 * full[20:30, 20:30].astype(np.float64)
    assert np.abs(weak[20:30, 20:30] - expected).max() <= 1.0
    stronger = frame.copy()
    composite._redact(stronger, boxes, method, "ellipse", 3.0, "numba", np.random.default_rng(2))
    assert (stronger == full).all()


def test_pixelate_is_blocks_with_fresh_noise() -> None:
    frame = _photo(200, 200)
    face = np.array([[60.0, 60.0, 140.0, 140.0]])
    first, second = frame.copy(), frame.copy()
    redact(first, _face_boxes(face), "pixelate")
    redact(second, _face_boxes(face), "pixelate")
    core = first[70:130, 70:130].reshape(-1, 3)
    # A 128-px region in blocks of 128 / PIXELATE_CELLS px: the 60-px core
    # spans at most two blocks more than it holds whole ones, each way.
    most = int(np.ceil(60 * composite.PIXELATE_CELLS / 128)) + 1
    assert len(np.unique(core, axis=0)) <= most * most
    assert (first != second).any()  # the noise is drawn anew each call


# --- concurrency, start-up ----------------------------------------------------------


def test_concurrent_calls_do_not_abort() -> None:
    """numba's workqueue layer aborts the process on concurrent parallel launches."""
    boxes = _face_boxes(_crowd(360, 640, 10, 60, seed=8))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            frame = _photo(360, 640)
            for _ in range(30):
                redact(frame, boxes)
                curtain(frame)
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, name=f"redact-{i}") for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert not any(thread.is_alive() for thread in threads)


def test_warm_up_returns_seconds() -> None:
    seconds = warm_up()
    assert isinstance(seconds, float)
    assert seconds >= 0.0


# --- a redacted face is not found again ---------------------------------------------
#
# benchmarks/redaction_strength.py measures this on wider_dev. Covers drawn
# from the face's own region (the old blur, block means, a black oval) left
# 4-9 % of faces found at the pipeline's mask scale of 1.6: CenterFace fires
# on a smooth oval framed by hair and shoulders. The striped covers drawn from
# the surroundings leave well under 1 % found (see the benchmark's JSON for
# the figures), but not none: on these four photos pixelate still leaves one
# face of the crowded parade shot found, so its allowance is one face, and
# the strict "finds none" for every method is also checked with the head
# covered (2.5x).


def _wider_photos(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``count`` WIDER photos with at least 3 faces >= 32 px: (BGR, faces xyxy)."""
    root = DATA_DIR / "wider_dev"
    if not (root / "labels.json").exists():
        pytest.skip(f"test data not found at {root}")
    labels = json.loads((root / "labels.json").read_text())
    photos = []
    for entry in labels["images"]:
        faces = xywh_to_xyxy(np.array(entry["faces_xywh"], np.float32).reshape(-1, 4))
        faces = faces[faces[:, 3] - faces[:, 1] >= 32]
        if len(faces) >= 3:
            image = cv2.imread(str(root / entry["image"]))
            if image is not None:
                photos.append((np.ascontiguousarray(image), faces))
        if len(photos) == count:
            break
    return photos


@pytest.fixture(scope="module")
def detector() -> Detector:
    from livefilter.detect import DetectorConfig, build_detector

    try:
        return build_detector(DetectorConfig(kind="centerface", threshold=0.2))
    except ModelMissingError as exc:
        pytest.skip(f"CenterFace model not installed (set LIVEFILTER_MODELS): {exc}")


@pytest.fixture(scope="module")
def photos(detector: Detector) -> list[tuple[np.ndarray, np.ndarray]]:
    """Four photos (23 faces) on which the detector finds most faces before redaction."""
    chosen = _wider_photos(4)
    before = np.concatenate([_found(detector, image, faces) for image, faces in chosen])
    # Otherwise "found none afterwards" would prove nothing.
    assert before.mean() > 0.8
    return chosen


def _found(detector: Detector, image: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(N,) bool``: labelled faces a detection overlaps with IoU >= 0.3."""
    detections = detector.detect(image)
    if len(detections) == 0:
        return np.zeros(len(faces), bool)
    return (iou_matrix_xyxy(faces, detections.xyxy) >= 0.3).any(axis=1)


def _share_found(
    detector: Detector,
    photos: list[tuple[np.ndarray, np.ndarray]],
    method: str,
    scale: float,
    strength: float = 1.0,
) -> float:
    hits = []
    for image, faces in photos:
        out = image.copy()
        boxes = xyxy_scale_about_centre(faces, scale).astype(np.float64)
        noise = np.random.default_rng(0)  # fixed pixelate noise: the same outcome every run
        composite._redact(out, boxes, method, "ellipse", strength, "numba", noise)
        hits.append(_found(detector, out, faces))
    return float(np.concatenate(hits).mean())


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_detector_finds_no_face_hidden_with_its_head(
    detector: Detector, photos: list, method: str
) -> None:
    assert _share_found(detector, photos, method, scale=2.5) == 0.0


#: Faces of the 23 the detector may still find at the mask scale, per method.
FOUND_ALLOWED = {"blur": 0, "pixelate": 1, "solid": 0}


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_detector_finds_no_face_at_the_mask_scale(
    detector: Detector, photos: list, method: str
) -> None:
    faces = sum(len(found) for _, found in photos)
    found = _share_found(detector, photos, method, scale=MASK_SCALE) * faces
    assert round(found) <= FOUND_ALLOWED[method]
    # A weak redaction (90 % of the original showing) must fail this test.
    assert _share_found(detector, photos, method, MASK_SCALE, strength=0.1) >= 0.6
