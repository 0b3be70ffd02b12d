"""``--hide heads`` and ``--hide people``: regions, the person detector, the
video path and the missing-model refusal."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from scoring import covered_share
from skimage import data

from livefilter.detect.people import INPUT_SIZE, PersonDetector, decode_outputs, letterbox
from livefilter.detect.targets import BODY, HEAD, head_boxes, people_regions
from livefilter.detections import Detections
from livefilter.hide.composite import hidden_mask
from livefilter.models import CENTERFACE, YOLOX_NANO, model_path

# Where the astronaut's torso is in skimage.data.astronaut() (512x512): below
# the chin (y 178), between her shoulders; the face box is ASTRONAUT_FACE_XYXY.
ASTRONAUT_TORSO = np.array([[120, 230, 330, 440]], np.float32)
# The cameraman (skimage.data.camera()): his coat, below the face.
CAMERAMAN_TORSO = np.array([[160, 220, 280, 380]], np.float32)


@pytest.fixture(scope="module")
def persons():
    try:
        return PersonDetector(model_path(YOLOX_NANO))
    except Exception as exc:  # a missing model is a broken setup: fail, do not skip
        pytest.fail(f"{exc} — `make setup` installs it")


def _cameraman_bgr() -> np.ndarray:
    return np.ascontiguousarray(np.repeat(data.camera()[:, :, None], 3, axis=2))


def test_head_boxes_use_the_measured_proportions():
    head = head_boxes(np.array([[100, 100, 200, 220]], np.float32))[0]
    w, h = 100, 120
    np.testing.assert_allclose(
        head, [100 - HEAD.side * w, 100 - HEAD.top * h, 200 + HEAD.side * w, 220 + HEAD.bottom * h]
    )
    # The head reaches above the brow, beyond the cheeks and below the chin.
    assert head[1] < 100 - 0.4 * h and head[3] > 220 + 0.4 * h
    assert head[0] < 100 - 0.25 * w and head[2] > 200 + 0.25 * w


def test_a_face_with_no_person_box_grows_a_body_and_a_person_box_wins():
    face = Detections(np.array([[100, 100, 140, 150]], np.float32), np.array([0.9], np.float32))
    alone = people_regions(face, Detections.empty(), 640, 640)
    assert len(alone) == 1
    np.testing.assert_allclose(alone.xyxy[0], [100 - BODY.side * 40, 100 - BODY.top * 50,
                                               140 + BODY.side * 40, 150 + BODY.bottom * 50])
    person = Detections(np.array([[60, 90, 190, 500]], np.float32), np.array([0.8], np.float32))
    held = people_regions(face, person, 640, 640)
    # One region for the person: its box, joined with the head poking out above it.
    assert len(held) == 1
    np.testing.assert_allclose(held.xyxy[0], [60, 100 - HEAD.top * 50, 190, 500])
    # A person with no face found is hidden too; regions are clipped to the frame.
    other = Detections(np.array([[400, 300, 700, 700]], np.float32), np.array([0.5], np.float32))
    both = people_regions(face, Detections.merge([person, other]), 640, 640)
    assert len(both) == 2 and both.xyxy.max() <= 640


def test_decoding_follows_the_yolox_grid():
    """One cell of the stride-16 grid, set by hand, decodes to its box."""
    rows = sum((INPUT_SIZE // s) ** 2 for s in (8, 16, 32))
    raw = np.zeros((1, rows, 85), np.float32)
    side8, side16 = INPUT_SIZE // 8, INPUT_SIZE // 16
    index = side8 * side8 + 3 * side16 + 5  # stride 16, row 3, column 5
    raw[0, index, :4] = [0.5, 0.5, np.log(4.0), np.log(8.0)]
    raw[0, index, 4], raw[0, index, 5] = 0.9, 0.8  # objectness, person
    raw[0, index + 1, 4], raw[0, index + 1, 6] = 0.9, 0.9  # a bicycle: not a person
    xyxy, scores = decode_outputs(raw, threshold=0.25)
    centre = ((5 + 0.5) * 16, (3 + 0.5) * 16)
    np.testing.assert_allclose(xyxy, [[centre[0] - 32, centre[1] - 64, centre[0] + 32,
                                       centre[1] + 64]], atol=1e-3)
    np.testing.assert_allclose(scores, [0.72], atol=1e-6)


def test_letterbox_keeps_the_aspect_in_the_top_left_corner():
    frame = np.full((100, 200, 3), 7, np.uint8)
    blob, scale = letterbox(frame)
    assert blob.shape == (1, 3, INPUT_SIZE, INPUT_SIZE) and scale == pytest.approx(2.08)
    assert blob[0, :, 0, 0].tolist() == [7, 7, 7]  # raw pixel values, no normalisation
    assert blob[0, :, -1, -1].tolist() == [114, 114, 114]


@pytest.mark.parametrize(("image", "torso"), [
    (lambda: np.ascontiguousarray(data.astronaut()[:, :, ::-1]), ASTRONAUT_TORSO),
    (_cameraman_bgr, CAMERAMAN_TORSO),
])
def test_the_person_detector_finds_the_body(persons, image, torso):
    found = persons.detect(image())
    assert len(found) >= 1
    hidden = hidden_mask(found.xyxy, "box", 512, 512)
    assert covered_share(torso, hidden)[0] == 1.0


def _hidden_share(before: np.ndarray, after: np.ndarray, box: np.ndarray) -> float:
    x1, y1, x2, y2 = box.astype(int)
    diff = np.abs(before[y1:y2, x1:x2].astype(int) - after[y1:y2, x1:x2].astype(int)).max(axis=2)
    return float(np.mean(diff > 12))


def test_image_hide_people_hides_the_body_and_faces_mode_does_not(tmp_path, cli):
    source = tmp_path / "astronaut.png"
    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    cv2.imwrite(str(source), image)
    shares = {}
    for hide in ("faces", "people"):
        out = tmp_path / hide
        out.mkdir()
        result = cli("image", source, "-o", out, "--hide", hide)
        assert result.returncode == 0, result.stderr
        shares[hide] = _hidden_share(image, cv2.imread(str(out / "astronaut.png")),
                                     ASTRONAUT_TORSO[0])
    assert shares["people"] > 0.8
    assert shares["faces"] < 0.2


def test_detect_hide_heads_regions_are_the_grown_heads(tmp_path, cli):
    source = tmp_path / "astronaut.png"
    cv2.imwrite(str(source), data.astronaut()[:, :, ::-1])
    result = cli("detect", source, "--json", "--hide", "heads")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    faces = np.array([f["box"] for f in record["faces"]], np.float32)
    regions = np.array([r["box"] for r in record["regions"]], np.float32)
    assert len(faces) == 1
    np.testing.assert_allclose(regions, head_boxes(faces), atol=0.2)
    assert record["regions"][0]["shape"] == "ellipse"


def test_hide_people_without_the_person_model_refuses_in_one_line(tmp_path, cli):
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(model_path(CENTERFACE), models / CENTERFACE.filename)
    source = tmp_path / "astronaut.png"
    cv2.imwrite(str(source), data.astronaut()[:, :, ::-1])
    env = {"LIVEFILTER_MODELS": str(models)}
    out = tmp_path / "out"
    out.mkdir()
    for command in (["detect", source, "--json"], ["image", source, "-o", out]):
        result = cli(*command, "--hide", "people", env=env)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "livefilter models fetch" in lines[0], result.stderr
        assert "person model" in lines[0] and result.stdout == ""
    # Faces need no person model.
    assert cli("detect", source, "--json", env=env).returncode == 0


@pytest.mark.parametrize("args", [("--hide", "bodies"), ("--hide", "heads", "--mask-scale", "2")])
def test_bad_hide_options_give_one_line(tmp_path, cli, args):
    result = cli("detect", tmp_path / "x.png", *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_file_hide_people_tracks_the_body_through_every_frame(tmp_path, cli):
    """The body region goes through the tracker and planner like a face: it
    is in every frame of the output, following the person as she moves."""
    source = tmp_path / "walk.mp4"
    astronaut = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    frames, shift = 12, 4
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 512, "yuv420p"
        stream.time_base = Fraction(1, 15)
        for i in range(frames):
            canvas = np.full((512, 640, 3), 100, np.uint8)
            canvas[:, i * shift:i * shift + 512] = astronaut
            frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    regions = tmp_path / "regions.json"
    result = cli("file", source, "-o", tmp_path / "out.mp4", "--hide", "people",
                 "--regions-json", regions, "-q")
    assert result.returncode == 0, result.stderr
    log = json.loads(regions.read_text())
    assert len(log["frames"]) == frames
    for entry in log["frames"]:
        assert not entry["curtain"]
        boxes = np.array([r["box"] for r in entry["regions"]], np.float32)
        assert {r["shape"] for r in entry["regions"]} == {"box"}
        torso = ASTRONAUT_TORSO + np.array([entry["index"] * shift, 0] * 2, np.float32)
        hidden = hidden_mask(boxes, "box", 512, 640)
        assert covered_share(torso, hidden)[0] == 1.0, entry
