"""``livefilter devices``: cameras and v4l2loopback devices on this machine."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VideoDevice", "list_devices"]


@dataclass(frozen=True)
class VideoDevice:
    path: str
    name: str
    loopback: bool
    modes: list[str] = field(default_factory=list)


def _modes(path: str) -> list[str]:
    """Capture modes from ``v4l2-ctl`` (v4l-utils) when it is installed."""
    tool = shutil.which("v4l2-ctl")
    if tool is None:
        return []
    try:
        output = subprocess.run([tool, "-d", path, "--list-formats-ext"], capture_output=True,
                                text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    modes: list[str] = []
    pixel_format = ""
    size = ""
    for line in output.splitlines():
        if match := re.search(r"'(\w+)'", line):
            pixel_format = match.group(1)
        elif match := re.search(r"Size: \w+ (\d+x\d+)", line):
            size = match.group(1)
        elif (match := re.search(r"\(([\d.]+) fps\)", line)) and size:
            modes.append(f"{pixel_format} {size} @ {float(match.group(1)):g}")
    return modes


def list_devices(sysfs: Path = Path("/sys/class/video4linux"), dev: Path = Path("/dev")
                 ) -> list[VideoDevice]:
    """Video devices from sysfs; v4l2loopback devices are virtual (no bus)."""
    devices = []
    if not sysfs.is_dir():
        return devices
    for entry in sorted(sysfs.glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        name_file = entry / "name"
        name = name_file.read_text().strip() if name_file.is_file() else entry.name
        resolved = str(entry.resolve())
        loopback = "/virtual/" in resolved or "loopback" in name.lower()
        path = str(dev / entry.name)
        devices.append(VideoDevice(path, name, loopback, [] if loopback else _modes(path)))
    return devices
