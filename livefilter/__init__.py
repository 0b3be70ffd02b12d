"""livefilter: hide every face in live video, video files and photos, irreversibly."""

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
