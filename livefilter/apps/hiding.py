"""Hide one frame's regions: the detector's, with the manual ones applied.

One place for the file path, the live path, photos and the local page.
"""

from __future__ import annotations

import numpy as np

from livefilter.hide.composite import redact
from livefilter.regions import RedactionConfig
from livefilter.track.manual import ManualRegions

__all__ = ["hide_regions"]


def hide_regions(image: np.ndarray, index: int, regions: np.ndarray,
                 redaction: RedactionConfig, manual: ManualRegions | None = None
                 ) -> tuple[np.ndarray, list[str]]:
    """Hide ``regions`` (and the manual regions of frame ``index``) in ``image``
    in place; returns what was hidden: ``(boxes (N, 4), shapes)``.
    """
    regions = np.asarray(regions, np.float32).reshape(-1, 4)
    if manual:
        boxes, shapes = manual.apply(index, regions, redaction.shape)
    else:
        boxes, shapes = regions, [redaction.shape] * len(regions)
    for shape in dict.fromkeys(shapes):
        chosen = boxes[np.array([s == shape for s in shapes])]
        redact(image, chosen, redaction.method, shape,  # type: ignore[arg-type]
               strength=redaction.strength)
    return boxes, shapes
