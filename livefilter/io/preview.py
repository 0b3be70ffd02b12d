"""The preview window: the hidden output with the protection state and an
fps / latency overlay.

The window opens at the frame's size, scaled down to fit the screen, and the
overlay's text is sized to the frame, so it stays readable at 720p and up.

OpenCV's HighGUI wants the thread that made the window to pump its events,
so the window lives on the main thread (the pipeline runs on workers).
Keys: ``q`` quits, ``p`` or space toggles panic (everything hidden), ``d``
draws the hidden regions for debugging.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

import cv2
import numpy as np

from livefilter.errors import SinkError
from livefilter.io.banner import BANNER_COLOURS, protection_text
from livefilter.io.sinks import OutputItem

__all__ = ["PreviewWindow"]

logger = logging.getLogger(__name__)

WINDOW_TITLE = "livefilter"

# Share of the screen the window may take when it opens (room for the
# window's frame and the desktop's panels).
_SCREEN_SHARE = 0.9


def screen_size() -> tuple[int, int] | None:
    """The X screen's size in pixels, or ``None`` when it cannot be asked
    (Wayland without XWayland, no libX11)."""
    name = ctypes.util.find_library("X11")
    if name is None:
        return None
    try:
        xlib = ctypes.cdll.LoadLibrary(name)
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        xlib.XDefaultScreen.argtypes = [ctypes.c_void_p]
        xlib.XDisplayWidth.argtypes = [ctypes.c_void_p, ctypes.c_int]
        xlib.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
        xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        display = xlib.XOpenDisplay(None)
        if not display:
            return None
        try:
            screen = xlib.XDefaultScreen(display)
            return int(xlib.XDisplayWidth(display, screen)), int(xlib.XDisplayHeight(
                display, screen))
        finally:
            xlib.XCloseDisplay(display)
    except (OSError, AttributeError):
        return None


def fit_window(frame: tuple[int, int], screen: tuple[int, int] | None) -> tuple[int, int]:
    """Window size for a ``frame`` (width, height): the frame's own size,
    scaled down (never up) to fit ``_SCREEN_SHARE`` of the screen."""
    width, height = frame
    if screen is None:
        screen = (1920, 1080)  # the common desktop: a 1080p frame opens a little smaller
    scale = min(1.0, _SCREEN_SHARE * screen[0] / width, _SCREEN_SHARE * screen[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


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
        self.size: tuple[int, int] | None = None  # the window's size once a frame came

    def show(self, item: OutputItem, overlay: str,
             protection: tuple[str, str] | None = None) -> None:
        image = item.frame.image
        if self.size is None:
            self.size = fit_window((image.shape[1], image.shape[0]), screen_size())
            cv2.resizeWindow(self.title, *self.size)
        if self.debug or overlay or protection:
            image = image.copy()
        if self.debug:
            for x1, y1, x2, y2 in np.asarray(item.regions).reshape(-1, 4):
                cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), (0, 255, 0), 2)
        lines: list[tuple[str, tuple[int, int, int]]] = []
        if protection is not None:
            lines.append((protection_text(protection).upper(),
                          BANNER_COLOURS.get(protection[0], (255, 255, 255))))
        if overlay:
            lines += [(text, (255, 255, 255)) for text in (overlay, *item.notes)]
        # Text sized to the frame (0.8 at 720p) so that it stays readable
        # when the window shows the frame scaled down.
        scale = max(0.5, image.shape[0] / 900)
        thickness = max(1, round(scale * 2))
        step = round(34 * scale)
        for row, (text, colour) in enumerate(lines):
            origin = (round(12 * scale), step + step * row)
            cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                        thickness + 3, cv2.LINE_AA)
            cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour,
                        thickness, cv2.LINE_AA)
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
