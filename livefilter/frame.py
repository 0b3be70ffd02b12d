"""The record passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Frame"]


@dataclass(slots=True)
class Frame:
    """One video frame.

    Attributes:
        image: ``(H, W, 3) uint8`` in **BGR** channel order (OpenCV's order);
            every stage of livefilter uses BGR.
        index: position in the source, counting from 0. A gap between the
            indices of two consecutive frames that reach a sink shows drops.
        timestamp: capture time in seconds, on the ``time.monotonic`` clock for
            live sources and the presentation time for files. Output
            timestamps are derived from it, never from a nominal frame rate.
    """

    image: np.ndarray
    index: int
    timestamp: float

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
