"""livefilter: hide every face in live video, video files and photos, irreversibly."""

# OpenCV must be loaded before PyAV: PyAV's wheels bundle a private libxcb,
# and when it is loaded first OpenCV's Qt window (the preview) hangs forever
# in its first call (PyAV issues #978 and #1050).
import cv2  # noqa: F401

from livefilter.detections import Detections
from livefilter.errors import (
    ConfigError,
    InputError,
    LivefilterError,
    ModelMissingError,
    OutputError,
    SinkError,
    SourceError,
)
from livefilter.frame import Frame

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Detections",
    "Frame",
    "InputError",
    "LivefilterError",
    "ModelMissingError",
    "OutputError",
    "SinkError",
    "SourceError",
    "__version__",
]
