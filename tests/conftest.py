"""Shared fixtures: data-set location, the detector, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("LIVEFILTER_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` beside the repository (not shipped with it)."""
    if not (DATA_DIR / "wider_dev" / "labels.json").is_file():
        pytest.skip(f"shared data set not found at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(scope="session")
def centerface():
    """The CenterFace detector. Missing model = a broken setup: fail, do not skip."""
    from livefilter.detect import DetectorConfig, build_detector
    from livefilter.errors import ModelMissingError

    try:
        return build_detector(DetectorConfig(kind="centerface", threshold=0.2))
    except ModelMissingError as exc:
        pytest.fail(f"{exc} — `make setup` installs it")


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: Path | None = None) -> CliResult:
    """Run ``livefilter`` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    process = subprocess.run(
        [sys.executable, "-m", "livefilter", *map(str, args)],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd, check=False,
    )
    return CliResult(process.returncode, process.stdout, process.stderr)


@pytest.fixture
def cli():
    return run_cli
