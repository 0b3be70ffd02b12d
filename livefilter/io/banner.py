"""Text drawn on output frames: the protection banner (``run --banner``) and
the signal-lost placeholder's label. Both are drawn after hiding, so they
never read what is hidden.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["BANNER_COLOURS", "draw_banner", "draw_label", "protection_text"]

# BGR: green, amber, red, grey.
BANNER_COLOURS = {
    "protected": (80, 200, 80),
    "degraded": (0, 170, 255),
    "curtain": (60, 60, 230),
    "signal-lost": (160, 160, 160),
}


def protection_text(state: tuple[str, str]) -> str:
    name, reason = state
    return f"{name}: {reason}" if reason else name


def draw_banner(image: np.ndarray, state: tuple[str, str]) -> None:
    """The protection state, small, in the bottom-left corner, in place.

    About 2 % of the frame's height, so it stays readable in a stream yet
    covers little of the picture.
    """
    height = image.shape[0]
    scale = max(0.35, height / 1400)
    thickness = max(1, round(scale * 1.6))
    text = protection_text(state)
    (width, text_height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale,
                                                 thickness)
    pad = max(3, text_height // 3)
    x, y = pad, height - pad - base
    cv2.rectangle(image, (0, y - text_height - pad), (x + width + pad, height),
                  (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                BANNER_COLOURS.get(state[0], (255, 255, 255)), thickness, cv2.LINE_AA)


def draw_label(image: np.ndarray, text: str) -> None:
    """White text with a dark outline, centred, in place."""
    scale = max(0.6, image.shape[1] / 900)
    thickness = max(1, round(scale * 2))
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = ((image.shape[1] - width) // 2, (image.shape[0] + height) // 2)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 3,
                cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                thickness, cv2.LINE_AA)
