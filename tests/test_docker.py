"""The Docker image carries its numba kernels compiled (no Docker engine here:
the Dockerfile's recipe is checked, and replayed with two processes)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest))
    return rows


def test_dockerfile_compiles_the_kernels_at_build_time_where_runtime_finds_them():
    rows = _instructions()
    env = {}
    warm_up_at = None
    for index, (keyword, rest) in enumerate(rows):
        if keyword == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", rest))
        if keyword == "RUN" and "warm_up" in rest:
            warm_up_at = index
            env_at_build = dict(env)
            assert "pip install" in rest.split("warm_up")[0], "warm-up before the install"
            # numba uses a cache directory only if it can write to it.
            assert re.search(r"chown -R livefilter\S* \"?\$NUMBA_CACHE_DIR", rest), rest
    assert warm_up_at is not None, "no build step compiles the kernels"
    # The runtime sees the same cache and CPU settings the build used.
    assert env_at_build["NUMBA_CACHE_DIR"] == env["NUMBA_CACHE_DIR"]
    assert env["NUMBA_CACHE_DIR"].startswith("/opt/")  # in the image, not /tmp
    assert env_at_build.get("NUMBA_CPU_NAME") == env.get("NUMBA_CPU_NAME")
    assert "NUMBA_CPU_NAME" in env
    users = [rest for keyword, rest in rows[warm_up_at:] if keyword == "USER"]
    assert users == ["1000"]
    assert any(k == "RUN" and "--uid 1000" in r and "livefilter" in r for k, r in rows)


_REPORT = """
import json, numba
from livefilter.hide import _kernels
from livefilter.hide.composite import warm_up
warm_up()
hits = misses = 0
for value in vars(_kernels).values():
    if isinstance(value, numba.core.registry.CPUDispatcher):
        hits += sum(value.stats.cache_hits.values())
        misses += sum(value.stats.cache_misses.values())
print(json.dumps({"hits": hits, "misses": misses}))
"""


@pytest.mark.slow
def test_kernels_compiled_in_one_process_load_from_the_baked_cache_in_another(tmp_path):
    """What the image does: the build compiles into NUMBA_CACHE_DIR for a
    generic CPU; a container start then loads every kernel from there."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"),
           "NUMBA_CPU_NAME": "generic"}
    env.pop("NUMBA_CPU_FEATURES", None)

    def report() -> dict[str, int]:
        result = subprocess.run([sys.executable, "-c", _REPORT], env=env, capture_output=True,
                                text=True, timeout=900, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])

    build = report()
    assert build["misses"] > 0  # compiled here
    files = sorted(p.name for p in (tmp_path / "numba-cache").rglob("*.nb*"))
    assert files
    start = report()
    assert start == {"hits": start["hits"], "misses": 0} and start["hits"] > 0, start
    assert sorted(p.name for p in (tmp_path / "numba-cache").rglob("*.nb*")) == files
