"""Photos: read upright, find faces, hide them, write without any metadata."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from livefilter.apps.hiding import hide_regions
from livefilter.detect import Detector
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
    "find_faces",
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


def read_photo(path: Path) -> np.ndarray:
    """``(H, W, 3) uint8`` BGR, turned upright by its EXIF orientation."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # Pillow warns (on stderr, several lines) about photos above 89
            # megapixels; they are fine. Twice that is refused just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                upright = ImageOps.exif_transpose(image)
                rgb = _to_rgb8(upright)
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: image too large to process ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of any Pillow image.

    Pillow's own conversion clips 16-bit grey (``I;16``, ``I``) at 255, which
    turns a 16-bit PNG white; those are scaled down instead.
    """
    if image.mode in _SIXTEEN_BIT_GREY:
        grey = np.asarray(image).astype(np.float32)
        grey8 = np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


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
    save_photo(image, output, save_format)
    return result


def save_photo(image: np.ndarray, output: Path, save_format: str) -> None:
    """Write BGR pixels alone (no metadata) to ``output`` via a hidden temporary file."""
    clean = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))
    partial = output.with_name(f".{output.name}.{os.getpid()}.part")
    try:
        clean.save(partial, format=save_format, **_SAVE_OPTIONS[save_format])
        os.replace(partial, output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{output}: cannot write ({exc.strerror or exc})") from exc
