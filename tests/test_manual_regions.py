"""Manual regions (--region, --regions-file): hidden in their frames only,
tracked regions follow the picture, unhide drops a false region, and every
mistake in a regions file is one error line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import read_frames, write_clip

from livefilter.apps.offline import FileJobConfig, anonymize_video
from livefilter.boxes import iou_matrix_xyxy
from livefilter.detections import Detections
from livefilter.errors import ConfigError
from livefilter.regions import RedactionConfig
from livefilter.track.manual import ManualRegions, load_regions_file, regions_to_json


class FixedDetector:
    """Finds the same boxes in every frame (none by default): a detector
    told to miss the face, or one that keeps a false region."""

    def __init__(self, boxes: list[list[float]] | None = None) -> None:
        self.boxes = np.array(boxes or np.zeros((0, 4)), np.float32).reshape(-1, 4)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        return Detections(self.boxes, np.full(len(self.boxes), 0.9, np.float32))


def _write_regions(path: Path, regions: list[dict]) -> Path:
    path.write_text(json.dumps({"version": 1, "regions": regions}))
    return path


def _run(tmp_path: Path, clip: Path, regions: list[dict], detector=None, name="out.mp4"):
    manual = ManualRegions(load_regions_file(_write_regions(tmp_path / "r.json", regions)))
    job = FileJobConfig(input=clip, output=tmp_path / name, regions_json=tmp_path / "log.json")
    anonymize_video(job, detector or FixedDetector(), RedactionConfig(method="solid"),
                    manual=manual)
    return read_frames(job.output), json.loads((tmp_path / "log.json").read_text())


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("clip") / "in.mp4"
    boxes = write_clip(path, frames=24, fps=12, size=(320, 240), face_height=70, audio=False)
    return path, boxes


def _diff(a: np.ndarray, b: np.ndarray, box: list[int]) -> float:
    x1, y1, x2, y2 = box
    return float(np.abs(a[y1:y2, x1:x2].astype(int) - b[y1:y2, x1:x2].astype(int)).mean())


def test_fixed_region_hidden_in_every_frame_of_its_range_only(tmp_path, clip):
    path, _ = clip
    box = [10, 150, 90, 220]
    out, log = _run(tmp_path, path, [{"frames": [5, 12], "box": box, "shape": "box"}])
    source = read_frames(path)
    assert len(out) == len(source) == 24
    for i, (a, b) in enumerate(zip(source, out, strict=True)):
        changed = _diff(a, b, box)
        if 5 <= i <= 12:
            assert changed > 25, f"frame {i}: region not hidden ({changed:.1f})"
        else:
            assert changed < 6, f"frame {i}: hidden outside the range ({changed:.1f})"
    logged = {f["index"]: f["regions"] for f in log["frames"]}
    assert logged[5] == [{"box": [10.0, 150.0, 90.0, 220.0], "shape": "box"}]
    assert logged[4] == [] and logged[13] == []


def test_tracked_region_follows_the_moving_face(tmp_path, clip):
    path, faces = clip
    key = 12
    box = [round(float(v)) for v in faces[key]]
    out, log = _run(tmp_path, path, [{"frames": [0, 23], "box": box, "mode": "tracked",
                                      "keyframe": key, "shape": "ellipse"}])
    logged = {f["index"]: f["regions"] for f in log["frames"]}
    for i in range(24):
        (region,) = logged[i]
        overlap = iou_matrix_xyxy(np.array([region["box"]]), faces[i][None])[0, 0]
        assert overlap > 0.6, f"frame {i}: tracked box strayed from the face (IoU {overlap:.2f})"
    # The face drifts ~100 px: a region left where it was drawn would not do.
    assert iou_matrix_xyxy(np.array([box]), faces[0][None])[0, 0] < 0.3
    source = read_frames(path)
    for i in (0, 23):
        x1, y1, x2, y2 = (round(float(v)) for v in faces[i])
        assert _diff(source[i], out[i], [x1 + 10, y1 + 10, x2 - 10, y2 - 10]) > 25


def test_unhide_drops_a_false_region_in_its_range(tmp_path, clip):
    path, _ = clip
    false_box = [200.0, 20.0, 240.0, 60.0]
    _, log = _run(tmp_path, path, [{"frames": [0, 9], "box": [180, 0, 260, 90],
                                    "action": "unhide"}], detector=FixedDetector([false_box]))
    logged = {f["index"]: f for f in log["frames"]}
    assert not any(logged[i]["curtain"] for i in range(24))
    assert all(logged[i]["regions"] == [] for i in range(10))
    assert all(len(logged[i]["regions"]) >= 1 for i in range(10, 24))


def test_unhide_keeps_regions_not_inside_it():
    manual = ManualRegions(load_regions_from([{"box": [0, 0, 50, 50], "action": "unhide"}]))
    boxes, shapes = manual.apply(0, np.array([[10, 10, 40, 40], [30, 30, 120, 120]]), "ellipse")
    assert boxes.tolist() == [[30, 30, 120, 120]] and shapes == ["ellipse"]


def load_regions_from(regions: list[dict]) -> list:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return load_regions_file(_write_regions(Path(folder) / "r.json", regions))


def test_regions_file_round_trips():
    regions = load_regions_from([{"frames": [2, 8], "box": [1, 2, 30, 40], "mode": "tracked",
                                  "keyframe": 4, "action": "hide", "shape": "ellipse"},
                                 {"box": [5, 5, 9, 9], "action": "unhide"}])
    again = load_regions_from(regions_to_json(regions)["regions"])
    assert again == regions


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"version": 1, "regions": [{"box": [50, 50, 10, 90]}]}', "negative or zero size"),
    ('{"version": 1, "regions": [{"box": [0, 0, 10, 10], "frames": [3, 400]}]}',
     "beyond the video's last frame"),
    ('{"version": 1, "regions": [{"box": [300, 200, 400, 260]}]}', "outside the 320x240 frame"),
    ('{"version": 1, "regions": [{"box": [0, 0, 10, 10], "mode": "wobbly"}]}', "mode"),
    ('{"version": 2, "regions": []}', "version"),
])
def test_bad_regions_file_is_one_line_exit_2(tmp_path, clip, cli, content, message):
    path, _ = clip
    regions = tmp_path / "r.json"
    regions.write_text(content)
    result = cli("file", path, "-o", tmp_path / "o.mp4", "--regions-file", regions,
                 "--detector", "cascade", "-q")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livefilter: error: "), result.stderr
    assert message in lines[0] and "r.json" in lines[0]
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("value", ["10,10,-5,20", "10,10,abc", "1,2,3"])
def test_bad_region_option_is_one_line_exit_2(tmp_path, cli, value):
    result = cli("image", tmp_path / "x.jpg", "-o", tmp_path, f"--region={value}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--region" in lines[0], result.stderr


def test_region_option_hides_the_box_in_a_photo(tmp_path, cli):
    from synthetic import face_scene

    from livefilter.apps.photos import read_photo

    image, _ = face_scene(200, 150, 40, (150, 75))
    import cv2

    cv2.imwrite(str(tmp_path / "p.png"), image)
    (tmp_path / "out").mkdir()
    result = cli("image", tmp_path / "p.png", "-o", tmp_path / "out", "--region", "10,20,50,40",
                 "--method", "solid", "--detector", "cascade", "-q")
    assert result.returncode == 0, result.stderr
    hidden = read_photo(tmp_path / "out" / "p.png")
    assert _diff(image, hidden, [10, 20, 60, 60]) > 25
    assert _diff(image, hidden, [0, 100, 60, 150]) == 0


def test_photo_refuses_frame_ranges():
    manual = ManualRegions(load_regions_from([{"box": [0, 0, 5, 5], "frames": [0, 1]}]))
    with pytest.raises(ConfigError, match="a photo takes no frames"):
        manual.check(100, 100, photo=True)


def test_run_hides_a_fixed_region_and_refuses_tracked_ones(tmp_path, clip, cli):
    path, _ = clip
    log = tmp_path / "log.json"
    result = cli("run", "--source", path, "--null", "--region", "10,150,80,70", "-q",
                 "--detector", "cascade", "--regions-json", log)
    assert result.returncode == 0, result.stderr
    frames = json.loads(log.read_text())["frames"]
    shown = [f for f in frames if not f["curtain"]]
    assert shown and all({"box": [10.0, 150.0, 90.0, 220.0], "shape": "box"} in f["regions"]
                         for f in shown)
    regions = _write_regions(tmp_path / "t.json", [{"box": [0, 0, 9, 9], "mode": "tracked"}])
    result = cli("run", "--source", path, "--null", "--regions-file", regions, "-q",
                 "--detector", "cascade")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "livefilter: error: regions-file: tracked regions need the whole video; use "
        "`livefilter file` (run takes fixed regions)"]
