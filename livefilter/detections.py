"""The detections of one frame."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["Detections"]


@dataclass(frozen=True)
class Detections:
    """Faces found in one frame.

    Attributes:
        xyxy: ``(N, 4) float32`` boxes as ``x1, y1, x2, y2`` in pixels of the
            frame that was passed to the detector (not of its downscaled copy).
        scores: ``(N,) float32`` confidences in ``[0, 1]``.
        track_ids: ``(N,) int64`` track ids, or ``None`` before tracking.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if len(scores) != len(xyxy):
            raise ValueError(
                f"Detections: {len(xyxy)} boxes but {len(scores)} scores"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        if self.track_ids is not None:
            ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
            if len(ids) != len(xyxy):
                raise ValueError(
                    f"Detections: {len(xyxy)} boxes but {len(ids)} track ids"
                )
            object.__setattr__(self, "track_ids", ids)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        """Concatenate detections (track ids are dropped unless all parts have them)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        ids = None
        if all(p.track_ids is not None for p in parts):
            ids = np.concatenate([p.track_ids for p in parts])  # type: ignore[misc]
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.scores for p in parts]),
            ids,
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """Select detections by boolean mask, integer indices or slice."""
        ids = None if self.track_ids is None else self.track_ids[index]
        return Detections(self.xyxy[index], self.scores[index], ids)

    @property
    def heights(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]
