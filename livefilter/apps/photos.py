"""Photos: read upright, find faces, hide them, write without any metadata."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from livefilter.apps.hiding import hide_regions
from livefilter.detect import Detector
from livefilter.detect.multipass import MAX_NETWORK_PIXELS
from livefilter.detect.targets import TargetDetector
from livefilter.detections import Detections
from livefilter.errors import ConfigError, InputError, OutputError
from livefilter.paths import same_file
from livefilter.regions import RedactionConfig, regions_from_faces
from livefilter.track.manual import ManualRegions

__all__ = [
    "PHOTO_FORMATS",
    "PhotoResult",
    "anonymize_photo",
    "available_memory",
    "find_faces",
    "memory_needed",
    "read_photo",
    "save_photo",
    "unsupported_input",
]

# Extension -> Pillow format name.
PHOTO_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
# Grey modes Pillow opens 16-bit PNG/TIFF as (values 0..65535).
_SIXTEEN_BIT_GREY = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
# Pillow decodes any image format it knows; these are the ones we write.
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 92, "optimize": True},
    "PNG": {"optimize": False},
    "WEBP": {"quality": 90},
}


def unsupported_input(source: Path) -> str:
    """Why ``source`` (by its extension) is not a photo ``image`` anonymizes.

    HEIC/HEIF (iPhone photos) needs a decoder Pillow lacks; pillow-heif
    would add one, but it is not a dependency: convert to JPEG first.
    """
    suffix = source.suffix.lower()
    kind = suffix.lstrip(".").upper() or "a file without an extension as"
    if suffix in (".heic", ".heif"):
        return ("HEIC input is not supported; convert it to JPEG first (on an iPhone: "
                "Settings > Camera > Formats > Most Compatible)")
    return f"{kind} input is not supported; `livefilter image` reads JPEG, PNG and WebP"


@dataclass(frozen=True)
class PhotoResult:
    """What was found in one photo: faces, and the regions hidden for them."""

    path: Path
    width: int
    height: int
    faces: Detections
    regions: np.ndarray


_EXIF_ORIENTATION = 0x0112
# Memory a photo needs beyond what is loaded already (the models, the
# libraries): copies of its decoded pixels (W x H x 3 bytes; Pillow's decoded
# image and our array while converting, then the array and the encoder's copy
# while writing), and the working memory of the largest network run, about
# 160 bytes per network input pixel (the 1.5x pass: 2.25 x W x H, at most
# MAX_NETWORK_PIXELS, beyond which passes are tiled). Checked against
# benchmarks/photo_memory.py.
_PHOTO_COPIES = 3
_RUN_BYTES_PER_PIXEL = 160


def memory_needed(width: int, height: int) -> int:
    """Bytes ``image``/``detect`` need for a ``width x height`` photo, beyond
    what is loaded already."""
    network_pixels = min(2.25 * width * height, MAX_NETWORK_PIXELS)
    return round(width * height * 3 * _PHOTO_COPIES + network_pixels * _RUN_BYTES_PER_PIXEL)


def available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping
    (``MemAvailable`` in ``/proc/meminfo``), or ``None`` where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _check_memory(path: Path, width: int, height: int) -> None:
    """Refuse, before decoding, a photo the machine has no memory for: a
    photo decoded into swap, or killed half-way, helps nobody."""
    available = available_memory()
    need = memory_needed(width, height)
    if available is not None and need > available:
        raise InputError(
            f"{path}: {width}x{height} ({width * height / 1e6:.0f} megapixels) needs about "
            f"{need / 2**30:.1f} GB of memory, {available / 2**30:.1f} GB is available; "
            "scale it down first or free memory"
        )


def read_photo(path: Path) -> np.ndarray:
    """``(H, W, 3) uint8`` BGR, turned upright by its EXIF orientation.

    The size is read from the header first: a photo too large for the
    memory available is refused before it is decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # Pillow warns (on stderr, several lines) about photos above 89
            # megapixels; they are fine. Twice that is refused just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                _check_memory(path, *image.size)  # only the header is read so far
                # exif_transpose copies even an upright photo: one copy
                # less of a large photo when there is nothing to turn.
                if image.getexif().get(_EXIF_ORIENTATION, 1) in (1, None):
                    rgb = _to_rgb8(image)
                else:
                    rgb = _to_rgb8(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: image too large to process ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from exc
    # In place: a large photo's memory is counted in copies of its pixels.
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR, dst=rgb)


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of any Pillow image.

    Pillow's own conversion clips 16-bit grey (``I;16``, ``I``) at 255, which
    turns a 16-bit PNG white; those are scaled down instead.
    """
    if image.mode in _SIXTEEN_BIT_GREY:
        grey = np.asarray(image).astype(np.float32)
        grey8 = np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if image.mode != "RGB":
        image = image.convert("RGB")
    # A writable copy out of Pillow's buffer (np.asarray would be read-only).
    return np.array(image)


def find_faces(
    path: Path, image_bgr: np.ndarray, detector: Detector, redaction: RedactionConfig
) -> PhotoResult:
    if isinstance(detector, TargetDetector):
        # --hide heads or people: the regions come grown from the faces.
        faces, grown = detector.find(image_bgr)
        regions = regions_from_faces(grown.xyxy, redaction.mask_scale)
    else:
        faces = detector.detect(image_bgr)
        regions = regions_from_faces(faces.xyxy, redaction.mask_scale)
    height, width = image_bgr.shape[:2]
    return PhotoResult(Path(path), width, height, faces, regions)


def anonymize_photo(
    source: Path, output: Path, detector: Detector, redaction: RedactionConfig,
    manual: ManualRegions | None = None,
) -> PhotoResult:
    """Hide the faces of ``source`` and write it to ``output``.

    The output is a new image built from pixels alone: no EXIF (so no GPS,
    camera or time), no XMP, IPTC or ICC profile; orientation is already
    applied to the pixels. Written to a hidden temporary file beside
    ``output`` and renamed, so a failure leaves nothing under the final name.
    ``manual``: hand-made regions (no frame ranges), checked against the photo.
    """
    output = Path(output)
    source = Path(source)
    if source.suffix.lower() not in PHOTO_FORMATS:
        # Named as the input it is: each such photo gets its own line and the
        # batch goes on (the output would take the same, unwritable, type).
        raise InputError(f"{source}: {unsupported_input(source)}")
    try:
        save_format = PHOTO_FORMATS[output.suffix.lower()]
    except KeyError:
        allowed = ", ".join(sorted(PHOTO_FORMATS))
        raise ConfigError(f"output: {output.name!r} is not one of {allowed}") from None
    if same_file(output, source):
        raise ConfigError(f"output: {output} would overwrite its input")
    image = read_photo(source)
    if manual:
        manual.check(image.shape[1], image.shape[0], photo=True)
    result = find_faces(source, image, detector, redaction)
    hide_regions(image, 0, result.regions, redaction, manual)
    save_photo(image, output, save_format, consume=True)
    return result


def save_photo(image: np.ndarray, output: Path, save_format: str, *,
               consume: bool = False) -> None:
    """Write BGR pixels alone (no metadata) to ``output`` via a hidden temporary file.

    ``consume``: the caller no longer needs ``image``, so its channels are
    swapped in place and one copy goes to Pillow, not two (large photos).
    """
    if consume:
        clean = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image))
    else:
        clean = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))
    partial = output.with_name(f".{output.name}.{os.getpid()}.part")
    try:
        clean.save(partial, format=save_format, **_SAVE_OPTIONS[save_format])
        os.replace(partial, output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{output}: cannot write ({exc.strerror or exc})") from exc
