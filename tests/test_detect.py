"""Detectors: CenterFace decoding, NMS, the cascade, tiles, flipped passes, presets.

The synthetic tests use a fake network that "finds" bright rectangles in
whatever image it is given, clipped to that image as a real detector's boxes
are, so tiling, flipping and merging are tested exactly. The tests on real
photos skip when ``../shared/data`` or the CenterFace model is absent.
"""

from __future__ import annotations

import itertools
import json
import math

import cv2
import numpy as np
import pytest
from conftest import DATA_DIR
from scoring import box_mask, covered_share

from livefilter.boxes import iou_matrix_xyxy, nms_xyxy, xywh_to_xyxy
from livefilter.detect import DetectorConfig, build_detector, preset_mask_scale
from livefilter.detect.centerface import decode_centerface
from livefilter.detect.multipass import (
    PRESETS,
    FramePass,
    MultiPassDetector,
    QualityPreset,
    TilePass,
)
from livefilter.detect.tiles import cut_by_internal_border, drop_cut_duplicates, tile_grid
from livefilter.detections import Detections
from livefilter.errors import ConfigError, ModelMissingError
from livefilter.hide.composite import hidden_mask
from livefilter.regions import regions_from_faces

WIDER = DATA_DIR / "wider_dev"


def _model_or_skip() -> None:
    from livefilter.models import model_path

    try:
        model_path()
    except ModelMissingError:
        pytest.skip("CenterFace model not installed (livefilter models fetch)")


class BlobNetwork:
    """Stands in for CenterFaceDetector: every bright blob is a face.

    Boxes are the blobs' bounding boxes in the pixels of the image it is
    given, so a blob cut by a tile edge yields a cut box, as CenterFace's
    clipped boxes do. Records the image sizes it was run on.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def detect(
        self, frame_bgr: np.ndarray, input_width: int = 0, *, threshold: float | None = None
    ) -> Detections:
        self.calls.append((frame_bgr.shape[1], frame_bgr.shape[0], input_width))
        gray = np.ascontiguousarray(frame_bgr[:, :, 1])
        count, _, stats, _ = cv2.connectedComponentsWithStats((gray > 0).astype(np.uint8))
        xywh = stats[1:count, :4].astype(np.float32)
        return Detections(xywh_to_xyxy(xywh), np.full(len(xywh), 0.9, np.float32))


def _frame_with(boxes: list[tuple[int, int, int, int]], width: int = 640, height: int = 360):
    frame = np.zeros((height, width, 3), np.uint8)
    for x1, y1, x2, y2 in boxes:
        frame[y1:y2, x1:x2] = 255
    return frame


# --- CenterFace decoding ---------------------------------------------------


def test_decode_synthetic_heatmap_gives_exact_box() -> None:
    heatmap = np.zeros((1, 1, 20, 30), np.float32)
    scale = np.zeros((1, 2, 20, 30), np.float32)
    offset = np.zeros((1, 2, 20, 30), np.float32)
    row, col = 7, 11
    heatmap[0, 0, row, col] = 0.8
    scale[0, 0, row, col] = math.log(40 / 4)  # height 40 px
    scale[0, 1, row, col] = math.log(24 / 4)  # width 24 px
    offset[0, 0, row, col] = 0.25
    offset[0, 1, row, col] = -0.5
    heatmap[0, 0, 2, 2] = 0.1  # below the threshold
    xyxy, scores = decode_centerface(heatmap, scale, offset, threshold=0.2)
    centre_y = (row + 0.25 + 0.5) * 4
    centre_x = (col - 0.5 + 0.5) * 4
    expected = [centre_x - 12, centre_y - 20, centre_x + 12, centre_y + 20]
    np.testing.assert_allclose(xyxy, [expected], atol=1e-4)
    np.testing.assert_allclose(scores, [0.8], atol=1e-6)


def test_decode_empty_heatmap() -> None:
    zeros = np.zeros((1, 2, 8, 8), np.float32)
    xyxy, scores = decode_centerface(zeros[:, :1], zeros, zeros, threshold=0.2)
    assert xyxy.shape == (0, 4) and scores.shape == (0,)


def test_nms_keeps_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms_xyxy(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.3)
    assert sorted(keep.tolist()) == [1, 2]


# --- tiles -------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1280, 720), (1024, 1537), (333, 200)])
@pytest.mark.parametrize("grid", [(1, 1), (2, 2), (3, 2), (4, 3)])
def test_tile_grid_covers_frame_with_overlap(size: tuple[int, int], grid: tuple[int, int]) -> None:
    width, height = size
    overlap = 40
    tiles = tile_grid(width, height, grid[0], grid[1], overlap)
    assert len(tiles) == grid[0] * grid[1]
    covered = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in tiles:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    sizes = {(x2 - x1, y2 - y1) for x1, y1, x2, y2 in tiles}
    assert len(sizes) == 1, "equal tiles share one network session"
    xs = sorted({int(t[0]) for t in tiles})
    ends = sorted({int(t[2]) for t in tiles})
    for start, end in zip(xs[1:], ends[:-1], strict=True):
        assert end - start >= min(overlap, width)


def test_cut_boxes_only_at_internal_borders() -> None:
    tile = np.array([0, 0, 100, 100])  # top left tile of a 200 x 200 frame
    boxes = np.array([[0, 0, 20, 20], [90, 10, 100, 30], [10, 95, 30, 100], [40, 40, 60, 60]])
    cut = cut_by_internal_border(boxes, tile, 200, 200)
    assert cut.tolist() == [False, True, True, False]


def test_cut_box_dropped_only_when_a_whole_box_covers_it() -> None:
    boxes = np.array([[90, 10, 100, 30], [85, 10, 110, 30], [190, 50, 200, 70]], np.float32)
    keep = drop_cut_duplicates(boxes, np.array([True, False, True]))
    # The second cut box has no whole counterpart: kept, since dropping it
    # would show the face if the neighbouring tile missed it.
    assert keep.tolist() == [False, True, True]


def _tiles_only(cols: int, rows: int, **kwargs: object) -> QualityPreset:
    return QualityPreset(
        name="test",
        passes=(TilePass(scale=1.0, cols=cols, rows=rows, overlap=0.2, **kwargs),),
        threshold=0.5,
    )


def test_tiles_merge_without_duplicates_at_borders() -> None:
    width, height = 640, 360
    preset = _tiles_only(2, 2)
    tiles = preset.passes[0].tiles(width, height)
    inner_x = int(tiles[1][0])  # left edge of the right column
    inner_y = int(tiles[2][1])  # top edge of the bottom row
    faces = [
        (inner_x - 15, 40, inner_x + 15, 80),  # across a vertical border
        (100, inner_y - 20, 130, inner_y + 20),  # across a horizontal border
        (inner_x - 10, inner_y - 10, inner_x + 20, inner_y + 25),  # across a corner
        (500, 300, 530, 340),  # inside one tile
    ]
    detector = MultiPassDetector(BlobNetwork(), preset)  # type: ignore[arg-type]
    found = detector.detect(_frame_with(faces, width, height))
    assert len(found) == len(faces)
    iou = iou_matrix_xyxy(np.array(faces, np.float32), found.xyxy)
    assert (iou.max(axis=1) > 0.95).all(), found.xyxy


def test_face_larger_than_overlap_is_kept_even_though_cut() -> None:
    preset = _tiles_only(2, 1)
    tiles = preset.passes[0].tiles(640, 360)
    inner_x = int(tiles[1][0])
    face = (inner_x - 150, 50, inner_x + 150, 300)  # wider than any tile's share
    detector = MultiPassDetector(BlobNetwork(), preset)  # type: ignore[arg-type]
    found = detector.detect(_frame_with([face]))
    hidden = box_mask(found.xyxy, 360, 640)
    assert covered_share(np.array([face], np.float32), hidden)[0] >= 0.99


def test_flipped_pass_maps_boxes_back() -> None:
    faces = [(30, 40, 70, 100), (400, 200, 460, 290)]
    preset = QualityPreset(
        name="test", passes=(FramePass(flip=True),), threshold=0.5
    )
    found = MultiPassDetector(BlobNetwork(), preset).detect(_frame_with(faces))  # type: ignore[arg-type]
    iou = iou_matrix_xyxy(np.array(faces, np.float32), found.xyxy)
    assert len(found) == 2 and (iou.max(axis=1) > 0.99).all(), found.xyxy


def test_flipped_tile_pass_maps_boxes_back() -> None:
    faces = [(30, 40, 70, 100), (400, 200, 460, 290)]
    found = MultiPassDetector(BlobNetwork(), _tiles_only(2, 2, flip=True)).detect(  # type: ignore[arg-type]
        _frame_with(faces)
    )
    iou = iou_matrix_xyxy(np.array(faces, np.float32), found.xyxy)
    assert (iou.max(axis=1) > 0.99).all(), found.xyxy


def test_per_size_thresholds_and_face_ranges() -> None:
    preset = QualityPreset(
        name="test",
        passes=(FramePass(scale=0.5, min_face=10, max_face=200),),
        threshold=0.5,
        small_network_px=16,
        small_threshold=0.95,
        large_face_px=100,
        large_threshold=0.95,
    )
    np.testing.assert_allclose(
        preset.threshold_for(np.array([20, 40, 99, 100, 500]), np.array([10, 20, 50, 50, 250])),
        [0.95, 0.5, 0.5, 0.95, 0.95],
    )
    faces = [(10, 10, 30, 14), (60, 10, 80, 30), (100, 10, 120, 70), (200, 10, 300, 130),
             (400, 10, 520, 250)]
    found = MultiPassDetector(BlobNetwork(), preset).detect(_frame_with(faces))  # type: ignore[arg-type]
    # 4 px tall: below min_face; 20 px: seen 10 px tall by the network at
    # scale 0.5, needs 0.95: dropped; 60 px: score 0.9 >= 0.5 kept; 120 px:
    # large, needs 0.95: dropped; 240 px: above max_face.
    assert found.xyxy.tolist() == [[100, 10, 120, 70]]


def test_min_score_applies_to_its_own_pass_only() -> None:
    faces = [(100, 100, 140, 150)]
    demanding = QualityPreset(name="test", passes=(FramePass(min_score=0.95),), threshold=0.1)
    assert len(MultiPassDetector(BlobNetwork(), demanding).detect(_frame_with(faces))) == 0  # type: ignore[arg-type]
    both = QualityPreset(
        name="test", passes=(FramePass(min_score=0.95), FramePass(flip=True)), threshold=0.1
    )
    assert len(MultiPassDetector(BlobNetwork(), both).detect(_frame_with(faces))) == 1  # type: ignore[arg-type]


def test_pass_widths_are_capped() -> None:
    assert FramePass(scale=1.5, max_width=2560).network_width(3840) == 2560
    assert FramePass(scale=1.5, max_width=2560).network_width(1280) == 1920
    assert TilePass(scale=1.25, max_width=800).network_width(676) == 800
    assert TilePass(scale=1.25, max_width=800).network_width(589) == 736


def test_fast_preset_cycles_tiles_over_the_whole_frame() -> None:
    preset = PRESETS["fast"]
    network = BlobNetwork()
    # fast runs YuNet for its whole-frame pass: the same stand-in serves.
    detector = MultiPassDetector(network, preset, yunet=network)  # type: ignore[arg-type]
    width, height = 1280, 720
    covered = np.zeros((height, width), bool)
    tiles_per_run = []
    for run_index in range(preset.cycle_length):
        runs = detector.plan(width, height, run_index)
        tiled = [r for r in runs if r.tile >= 0]
        tiles_per_run.append(len(tiled))
        assert any(r.tile < 0 for r in runs), "every run keeps a full-frame pass"
        for run in tiled:
            x1, y1, x2, y2 = run.region
            covered[y1:y2, x1:x2] = True
    assert covered.all()
    assert max(tiles_per_run) == 1, "one tile per run keeps each run cheap"
    # detect() itself advances the cycle.
    frame = _frame_with([(600, 300, 640, 350)], width, height)
    for _ in range(preset.cycle_length):
        detector.detect(frame)
    tile_calls = {c for c in network.calls if c[0] < width}
    assert len(tile_calls) >= 1


def test_thorough_spreads_its_passes_over_video_frames() -> None:
    preset = PRESETS["thorough"]
    network = BlobNetwork()
    video = MultiPassDetector(network, preset, video=True)  # type: ignore[arg-type]
    photo = MultiPassDetector(network, preset)  # type: ignore[arg-type]
    width, height = 1280, 720
    assert photo.cycle_length == 1
    assert len(photo.plan(width, height, 0)) == len(preset.passes)
    cycle = video.cycle_length
    assert cycle == 8
    seen: dict[tuple[float, bool, int], list[int]] = {}
    for run_index in range(2 * cycle):
        runs = video.plan(width, height, run_index)
        assert runs, "every call of the cycle runs at least one pass"
        passes = {run.pass_index for run in runs}  # a pass may run as tiles
        assert len(passes) < len(preset.passes)
        for index in sorted(passes):
            spec = video.passes[index]
            seen.setdefault((spec.scale, spec.flip, spec.rotate), []).append(run_index)
    # Each pass comes back at a fixed period, and the upscaled pass (small
    # faces) is among them once a cycle.
    for calls in seen.values():
        assert len({b - a for a, b in itertools.pairwise(calls)}) == 1
    assert len(seen[(1.5, False, 0)]) == 2
    # So is each turned pass (faces lying sideways or upside down).
    assert all(len(seen[(0.75, False, angle)]) == 2 for angle in (90, 180, 270))


def test_a_pass_runs_on_every_nth_call_from_its_offset() -> None:
    preset = QualityPreset(
        name="x", threshold=0.2,
        passes=(FramePass(scale=0.5), FramePass(scale=1.0, every=3, offsets=(1,)),
                TilePass(scale=1.0, every=2, cycle=True)),
    )
    detector = MultiPassDetector(BlobNetwork(), preset)  # type: ignore[arg-type]
    assert detector.cycle_length == 24  # lcm(1, 3, 2 calls x 4 tiles)
    plans = [detector.plan(1280, 720, run_index) for run_index in range(6)]
    assert [[r.pass_index for r in runs] for runs in plans] == [
        [0, 2], [0, 1], [0, 2], [0], [0, 1, 2], [0],
    ]
    assert [r.tile for runs in plans for r in runs if r.pass_index == 2] == [0, 1, 2]


def test_a_cycled_tile_pass_on_some_calls_takes_the_next_tile_each_time() -> None:
    preset = QualityPreset(
        name="x", threshold=0.2,
        passes=(TilePass(every=4, offsets=(0, 1, 2), cycle=True),
                FramePass(scale=0.5, every=4, offsets=(3,))),
    )
    detector = MultiPassDetector(BlobNetwork(), preset)  # type: ignore[arg-type]
    # Back to the first tile on the first call of the period after 3 x 4 runs.
    assert detector.cycle_length == 16
    plans = [detector.plan(1280, 720, run_index) for run_index in range(8)]
    assert [[(r.pass_index, r.tile) for r in runs] for runs in plans] == [
        [(0, 0)], [(0, 1)], [(0, 2)], [(1, -1)], [(0, 3)], [(0, 0)], [(0, 1)], [(1, -1)],
    ]


def test_a_preset_whose_cycle_has_an_idle_call_is_refused() -> None:
    with pytest.raises(ConfigError, match="call 1 of the cycle runs no pass"):
        QualityPreset(name="x", threshold=0.2,
                      passes=(FramePass(every=4), FramePass(every=4, offsets=(2, 3))))
    with pytest.raises(ConfigError, match="runs no pass"):
        QualityPreset(name="x", threshold=0.2, passes=(FramePass(),),
                      video_passes=(FramePass(every=2),))


# --- presets and config ------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: FramePass(scale=0.0), "FramePass.scale"),
        (lambda: FramePass(max_width=10), "FramePass.max_width"),
        (lambda: FramePass(min_face=50, max_face=20), "min_face"),
        (lambda: TilePass(cols=0), "TilePass.cols"),
        (lambda: TilePass(rows=9), "TilePass.rows"),
        (lambda: TilePass(overlap=0.9), "TilePass.overlap"),
        (lambda: TilePass(max_width=5000 * 2), "TilePass.max_width"),
        (lambda: FramePass(min_score=1.0), "FramePass.min_score"),
        (lambda: TilePass(min_score=-0.1), "TilePass.min_score"),
        (lambda: FramePass(every=0), "FramePass.every"),
        (lambda: TilePass(every=2, offsets=(2,)), "TilePass.offsets"),
        (lambda: FramePass(every=2, offsets=()), "FramePass.offsets"),
        (lambda: FramePass(every=4, offsets=(1, 1)), "FramePass.offsets"),
        (lambda: QualityPreset(name="x", passes=(), threshold=0.2), "passes"),
        (lambda: QualityPreset(name="x", passes=(FramePass(),), threshold=1.5), "threshold"),
        (lambda: QualityPreset(name="x", passes=(FramePass(),), threshold=0.2,
                               small_threshold=0.0), "small_threshold"),
        (lambda: QualityPreset(name="x", passes=(FramePass(),), threshold=0.2,
                               small_network_px=-1), "small_network_px"),
        (lambda: QualityPreset(name="x", passes=(FramePass(),), threshold=0.2,
                               small_network_px=32, large_face_px=16), "large_face_px"),
        (lambda: QualityPreset(name="x", passes=(FramePass(),), threshold=0.2,
                               mask_scale=9.0), "mask_scale"),
        (lambda: QualityPreset(name="x", passes=(FramePass(),), threshold=0.2,
                               nms_iou=0.0), "nms_iou"),
        (lambda: DetectorConfig(quality="best"), "quality"),  # type: ignore[arg-type]
        (lambda: DetectorConfig(quality="fast", input_width=640), "detect-width"),
        (lambda: DetectorConfig(threshold=0.0), "threshold"),
        (lambda: DetectorConfig(threads=-1), "threads"),
    ],
)
def test_invalid_options_name_the_option(factory: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        factory()  # type: ignore[operator]


def test_presets_are_valid_and_ordered() -> None:
    assert set(PRESETS) == {"fast", "balanced", "thorough"}
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset_mask_scale(DetectorConfig(quality=name)) == preset.mask_scale  # type: ignore[arg-type]
    assert PRESETS["fast"].cycle_length > 1
    assert preset_mask_scale(DetectorConfig()) is None


def test_threshold_with_a_preset_replaces_its_thresholds() -> None:
    _model_or_skip()
    detector = build_detector(DetectorConfig(kind="centerface", quality="thorough", threshold=0.4))
    assert isinstance(detector, MultiPassDetector)
    preset = detector.preset
    assert preset.threshold == preset.small_threshold == preset.large_threshold == 0.4
    single = build_detector(DetectorConfig(kind="centerface", threshold=0.3, input_width=640))
    assert not isinstance(single, MultiPassDetector)


# --- the cascade ---------------------------------------------------------------


def _astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def test_cascade_finds_the_astronaut() -> None:
    detector = build_detector(DetectorConfig(kind="cascade"))
    found = detector.detect(_astronaut_bgr())
    face = np.array([[170, 40, 280, 190]], np.float32)  # around her face
    assert len(found) >= 1
    assert iou_matrix_xyxy(face, found.xyxy).max() > 0.3


def test_cascade_on_blank_frame_finds_nothing() -> None:
    detector = build_detector(DetectorConfig(kind="cascade"))
    assert len(detector.detect(np.zeros((240, 320, 3), np.uint8))) == 0


# --- real photos --------------------------------------------------------------


def _wider_photos(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    labels_path = WIDER / "labels.json"
    if not labels_path.is_file():
        pytest.skip(f"{labels_path} absent")
    entries = json.loads(labels_path.read_text())["images"]
    step = max(1, len(entries) // count)
    photos = []
    for entry in entries[::step][:count]:
        image = cv2.imread(str(WIDER / entry["image"]))
        faces = xywh_to_xyxy(np.asarray(entry["faces_xywh"], np.float32).reshape(-1, 4))
        photos.append((image, faces))
    return photos


def _covered(faces: np.ndarray, found: Detections, mask_scale: float, shape: tuple) -> np.ndarray:
    hidden = hidden_mask(regions_from_faces(found.xyxy, mask_scale), "ellipse", *shape[:2])
    tall = (faces[:, 3] - faces[:, 1]) >= 16
    return (covered_share(faces, hidden) >= 0.6) & tall


def test_astronaut_found_by_centerface() -> None:
    _model_or_skip()
    detector = build_detector(DetectorConfig(kind="centerface"))
    found = detector.detect(_astronaut_bgr())
    face = np.array([[170, 40, 280, 190]], np.float32)
    assert iou_matrix_xyxy(face, found.xyxy).max() > 0.4


def test_one_session_runs_every_size_as_a_fixed_shape_session_does() -> None:
    """The open-shaped graph gives what the graph fixed to each size gives
    (the per-shape sessions it replaced), with one session for all sizes."""
    _model_or_skip()
    import onnx
    import onnxruntime

    import livefilter.detect.centerface as centerface_module
    from livefilter.models import model_path

    network = centerface_module.CenterFaceDetector(model_path(), DetectorConfig())
    if network.backend != "onnxruntime":
        pytest.skip("the open-shaped session is onnxruntime's")
    runner = network._run  # type: ignore[attr-defined]
    image = _astronaut_bgr()
    sessions = set()
    for width in (160, 256, 384):
        net_width, net_height, scale = network.input_size(image.shape[1], image.shape[0], width)
        canvas, _ = centerface_module.top_letterbox(image, net_width, net_height, scale)
        blob = cv2.dnn.blobFromImage(canvas, 1.0, swapRB=True)
        heatmap = runner(blob)[0]
        sessions.add(id(runner._get_session()))
        fixed = onnx.load_from_string(runner._model_bytes)
        dims = fixed.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = net_height, net_width
        for output in fixed.graph.output:
            out_dims = output.type.tensor_type.shape.dim
            out_dims[2].dim_value, out_dims[3].dim_value = net_height // 4, net_width // 4
        session = onnxruntime.InferenceSession(fixed.SerializeToString(),
                                               providers=["CPUExecutionProvider"])
        expected = session.run(["537"], {"input.1": blob})[0]
        assert heatmap.shape == expected.shape == (1, 1, net_height // 4, net_width // 4)
        assert expected.max() > 0.5  # the astronaut's face is there to compare
        np.testing.assert_allclose(heatmap, expected, atol=2e-3)
    assert len(sessions) == 1


@pytest.mark.data
def test_thorough_finds_at_least_what_the_native_pass_finds() -> None:
    _model_or_skip()
    photos = _wider_photos(5)
    native = build_detector(DetectorConfig(kind="centerface", threshold=0.2))
    thorough = build_detector(DetectorConfig(kind="centerface", quality="thorough"))
    mask_scale = PRESETS["thorough"].mask_scale
    for image, faces in photos:
        by_native = _covered(faces, native.detect(image), 1.6, image.shape)
        by_thorough = _covered(faces, thorough.detect(image), mask_scale, image.shape)
        assert by_thorough.sum() >= by_native.sum()
        # Not only as many: nearly every face the native pass hides.
        assert (by_native & ~by_thorough).sum() <= max(1, by_native.sum() // 20)


@pytest.mark.data
def test_flipped_centerface_pass_agrees_with_the_plain_one() -> None:
    _model_or_skip()
    from livefilter.detect.centerface import CenterFaceDetector
    from livefilter.models import model_path

    network = CenterFaceDetector(model_path(), DetectorConfig(kind="centerface"))
    (image, _), = _wider_photos(1)
    plain = network.detect(image, threshold=0.5)
    preset = QualityPreset(
        name="test", passes=(FramePass(flip=True),), threshold=0.5
    )
    flipped = MultiPassDetector(network, preset).detect(image)
    assert len(plain) > 0
    iou = iou_matrix_xyxy(plain.xyxy, flipped.xyxy)
    matched = (iou.max(axis=1) > 0.5).mean()
    assert matched >= 0.8, matched


def test_video_min_scores_apply_to_video_frames_only() -> None:
    preset = QualityPreset(
        name="test", passes=(FramePass(),), threshold=0.5,
        video_min_scores=((50.0, 0.6), (100.0, 0.95)),
    )
    np.testing.assert_allclose(preset.video_threshold_for(np.array([20, 50, 99, 100, 300])),
                               [0.0, 0.6, 0.6, 0.95, 0.95])
    faces = [(10, 10, 40, 50), (200, 10, 300, 130)]  # 40 and 120 px tall, score 0.9
    photo = MultiPassDetector(BlobNetwork(), preset).detect(_frame_with(faces))  # type: ignore[arg-type]
    video = MultiPassDetector(BlobNetwork(), preset, video=True).detect(  # type: ignore[arg-type]
        _frame_with(faces))
    assert len(photo) == 2
    assert video.xyxy.tolist() == [[10, 10, 40, 50]]
    # An explicit --threshold is one threshold for every size, video or not.
    assert preset.with_threshold(0.5).video_min_scores == ()


def test_video_min_scores_must_rise_with_height() -> None:
    with pytest.raises(ConfigError, match="video_min_scores"):
        QualityPreset(name="test", passes=(FramePass(),), threshold=0.5,
                      video_min_scores=((100.0, 0.3), (50.0, 0.2)))


# --- the two CenterFace backends ------------------------------------------------


def _same_faces(a: Detections, b: Detections, iou: float = 0.8) -> bool:
    if len(a) != len(b):
        return False
    if not len(a):
        return True
    overlap = iou_matrix_xyxy(a.xyxy, b.xyxy)
    return bool((overlap.max(axis=1) >= iou).all() and (overlap.max(axis=0) >= iou).all())


def test_opencv_backend_agrees_with_onnxruntime_across_input_sizes() -> None:
    """cv2.dnn kept the shapes of its first input: a net that had run at one
    size gave garbage at the next (the presets run several sizes)."""
    _model_or_skip()
    from livefilter.detect.centerface import CenterFaceDetector
    from livefilter.models import model_path

    image = _astronaut_bgr()
    ort = CenterFaceDetector(model_path(), DetectorConfig(backend="onnxruntime", threads=1))
    ocv = CenterFaceDetector(model_path(), DetectorConfig(backend="opencv", threads=1))
    assert ort.backend == "onnxruntime" and ocv.backend == "opencv"
    for width in (768, 256, 512, 768, 96):
        a = ort.detect(image, width, threshold=0.2)
        b = ocv.detect(image, width, threshold=0.2)
        assert _same_faces(a, b), (width, a.xyxy, b.xyxy)
    assert len(a) <= 3


@pytest.mark.data
@pytest.mark.slow
def test_opencv_backend_agrees_with_onnxruntime_on_a_crowd_with_thorough(data_dir) -> None:
    _model_or_skip()
    path = data_dir / "wider_dev" / "images" / "12--Group" / (
        "12_Group_Group_12_Group_Group_12_28.jpg")
    if not path.is_file():
        pytest.skip(f"{path} not in the data set")
    image = cv2.imread(str(path))
    found = {
        backend: build_detector(DetectorConfig(backend=backend, quality="thorough", threads=1))
        .detect(image)
        for backend in ("onnxruntime", "opencv")
    }
    ort, ocv = found["onnxruntime"], found["opencv"]
    # 23 labelled faces; opencv found 422 boxes here before.
    assert 20 <= len(ort) <= 40
    assert abs(len(ocv) - len(ort)) <= 2, (len(ort), len(ocv))
    matched = iou_matrix_xyxy(ort.xyxy, ocv.xyxy).max(axis=1) >= 0.7
    assert matched.mean() >= 0.9
