"""livefilter: hide every face in live video, video files and photos, irreversibly."""

import os

# onnxruntime's Linux wheels (1.32 here) carry Microsoft's 1DS telemetry: when
# imported they write a device id under ~/.cache/Microsoft/DeveloperTools, a
# session file in $TMPDIR and an event queue for upload to
# mobile.events.data.microsoft.com. Not for a tool used at protests
# (tests/test_at_rest.py). It is read when onnxruntime is imported, so it is
# set here, before any livefilter module can import it, for the CLI, the
# library and the benchmarks alike; a value the user set is left alone.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

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
