"""Set-up: the system packages the tests use are named in one list
(.ci/packages), installed by .ci/run, named in the README, and reported
by `make setup` when missing."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _package_lines() -> list[tuple[str, str]]:
    rows = []
    for line in (REPO / ".ci" / "packages").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            command, package, _why = line.split(maxsplit=2)
            rows.append((command, package))
    return rows


def _setup_section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split("## Set up", 1)[1].split("\n## ", 1)[0]


def test_readme_set_up_names_every_system_package_the_tests_use():
    section = _setup_section()
    named = set(re.findall(r"[a-z0-9][a-z0-9.+-]*", section.split("```sh", 1)[1].split("```")[0]))
    packages = {package for _, package in _package_lines()}
    assert {"ffmpeg", "xvfb", "xdotool", "strace", "chromium", "chromium-driver"} <= packages
    assert packages <= named, packages - named


def test_ci_installs_the_listed_packages():
    ci = (REPO / ".ci" / "run").read_text()
    assert ".ci/packages" in ci and "apt-get install" in ci
    listed = subprocess.run(
        ["bash", "-c", 'mapfile -t packages < <(awk \'!/^#/ && NF { print $2 }\' .ci/packages '
         '| sort -u); printf "%s\\n" "${packages[@]}"'],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert set(listed) == {package for _, package in _package_lines()}


def test_make_setup_names_the_missing_packages(tmp_path):
    # A PATH where only ffmpeg (a stand-in) and sh exist.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ffmpeg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["/bin/sh", str(REPO / ".ci" / "syscheck")], capture_output=True, text=True,
        env={**os.environ, "PATH": str(bin_dir)}, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "missing: Xvfb (Debian package xvfb)" in out
    assert "missing: xdotool" in out and "chromium-driver" in out and "strace" in out
    assert "missing: ffmpeg" not in out
    install = next(line for line in out.splitlines() if "apt-get install" in line).split()
    assert "xvfb" in install and "ffmpeg" not in install
    makefile = (REPO / "Makefile").read_text()
    setup_recipe = makefile.split("\nsetup:", 1)[1].split("\n\n", 1)[0]
    assert ".ci/syscheck" in setup_recipe
