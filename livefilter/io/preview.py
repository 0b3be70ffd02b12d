"""The preview window: the hidden output with an fps / latency overlay.

OpenCV's HighGUI wants the thread that made the window to pump its events,
so the window lives on the main thread (the pipeline runs on workers).
Keys: ``q`` quits, ``p`` or space toggles panic (everything hidden), ``d``
draws the hidden regions for debugging.
"""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from livefilter.errors import SinkError
from livefilter.io.sinks import OutputItem

__all__ = ["PreviewWindow"]

logger = logging.getLogger(__name__)

WINDOW_TITLE = "livefilter"


class PreviewWindow:
    """An OpenCV window; :meth:`show` draws a frame, :meth:`key` reads the keyboard."""

    def __init__(self, title: str = WINDOW_TITLE) -> None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise SinkError("preview: no display (DISPLAY is not set); run without --preview")
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            raise SinkError(f"preview: cannot open a window ({exc.msg.strip()})") from exc
        self.debug = False
        self.shown = 0

    def show(self, item: OutputItem, overlay: str) -> None:
        image = item.frame.image
        if self.debug or overlay:
            image = image.copy()
        if self.debug:
            for x1, y1, x2, y2 in np.asarray(item.regions).reshape(-1, 4):
                cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), (0, 255, 0), 2)
        if overlay:
            lines = [overlay, *item.notes]
            for row, text in enumerate(lines):
                origin = (10, 24 + 22 * row)
                cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3,
                            cv2.LINE_AA)
                cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255),
                            1, cv2.LINE_AA)
        cv2.imshow(self.title, image)
        self.shown += 1

    def key(self, wait_ms: int = 1) -> str | None:
        """The key pressed since the last call (``None``); also pumps window events."""
        code = cv2.waitKey(wait_ms)
        if code < 0:
            return None
        return chr(code & 0xFF)

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            logger.debug("preview window already gone", exc_info=True)
