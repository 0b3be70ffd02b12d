"""Synthetic fixtures that need no data set: clips and photos with faces at
known places, made from scikit-image's astronaut photo (public domain).
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

# Where the detector finds the face in skimage.data.astronaut() (512x512).
ASTRONAUT_FACE_XYXY = np.array([181.5, 58.2, 269.9, 177.8], np.float32)

# Metadata a phone would write: place, device, time. None may survive.
IDENTIFYING_TAGS = {
    "location": "+48.8584+002.2945/",
    "location-eng": "+48.8584+002.2945/",
    "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15 Pro",
    "make": "Apple",
    "model": "iPhone 15 Pro",
    "creation_time": "2026-05-01T12:34:56.000000Z",
    "encoder": "SecretCam 4.2",
    "comment": "Filmed by Jane Doe",
}
SOURCE_HANDLER = "SecretCam Video Handler"


def astronaut_bgr() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def face_scene(width: int, height: int, face_height: int, centre: tuple[float, float],
               background: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """A frame with the astronaut's face of ``face_height`` px centred at ``centre``.

    Returns ``(image, face_xyxy)``.
    """
    rng = np.random.default_rng(3)
    texture = rng.integers(background - 30, background + 30, (height // 8 + 1, width // 8 + 1, 3))
    image = cv2.resize(texture.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    source = astronaut_bgr()
    face_h = ASTRONAUT_FACE_XYXY[3] - ASTRONAUT_FACE_XYXY[1]
    scale = face_height / face_h
    patch = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
                       if scale < 1 else cv2.INTER_LINEAR)
    face = ASTRONAUT_FACE_XYXY * scale
    # Paste the patch so the face centre lands on ``centre``; clip at edges.
    offset_x = round(centre[0] - (face[0] + face[2]) / 2)
    offset_y = round(centre[1] - (face[1] + face[3]) / 2)
    x0, y0 = max(0, offset_x), max(0, offset_y)
    x1 = min(width, offset_x + patch.shape[1])
    y1 = min(height, offset_y + patch.shape[0])
    image[y0:y1, x0:x1] = patch[y0 - offset_y:y1 - offset_y, x0 - offset_x:x1 - offset_x]
    face_xyxy = face + np.array([offset_x, offset_y, offset_x, offset_y], np.float32)
    return image, face_xyxy


def write_clip(
    path: Path,
    *,
    frames: int = 30,
    fps: int = 15,
    size: tuple[int, int] = (320, 240),
    face_height: int = 80,
    audio: bool = True,
    tags: dict[str, str] | None = None,
    rotation: int | None = None,
    appears_at: int = 0,
    keyint: int | None = None,
) -> list[np.ndarray]:
    """Write an H.264 clip of a face drifting right; returns the face boxes
    per frame (as stored, i.e. before any display rotation).

    Before frame ``appears_at`` the face is drawn 2 px tall (no face at all
    to a detector; the boxes returned for those frames are that speck's).

    With ``audio`` a 440 Hz AAC track is muxed in; ``tags`` become container
    metadata (written with ``use_metadata_tags`` so every key is kept);
    ``rotation`` sets a display matrix. ffmpeg (the CLI) does the muxing.
    """
    width, height = size
    silent = path.with_name(path.stem + ".video-only.mp4")
    boxes = []
    with av.open(str(silent), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"crf": "18", "preset": "veryfast"}
        if keyint is not None:
            stream.options = {**stream.options, "g": str(keyint), "keyint_min": str(keyint)}
        for i in range(frames):
            centre = (width * (0.35 + 0.3 * i / max(1, frames - 1)), height * 0.5)
            shown = face_height if i >= appears_at else 2
            image, face = face_scene(width, height, shown, centre)
            boxes.append(face)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg (the Debian package) is needed to build test clips")
    command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
    if rotation is not None:
        command += ["-display_rotation", str(rotation)] if _has_display_rotation(ffmpeg) else []
    command += ["-i", str(silent)]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={frames / fps}"]
    command += ["-map", "0:v"] + (["-map", "1:a", "-c:a", "aac", "-b:a", "64k"] if audio else [])
    command += ["-c:v", "copy", "-metadata:s:v:0", f"handler_name={SOURCE_HANDLER}"]
    if rotation is not None and not _has_display_rotation(ffmpeg):
        command += ["-metadata:s:v:0", f"rotate={rotation}"]
    for key, value in (tags or {}).items():
        command += ["-metadata", f"{key}={value}"]
    command += ["-movflags", "use_metadata_tags", str(path)]
    subprocess.run(command, check=True)
    silent.unlink()
    return boxes


def _has_display_rotation(ffmpeg: str) -> bool:
    probe = subprocess.run([ffmpeg, "-hide_banner", "-h", "full"], capture_output=True,
                           text=True, check=False)
    return "display_rotation" in probe.stdout


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def count_decodable_frames(path: Path) -> int:
    """Frames that decode before the first error (a killed recording may end
    mid-packet; what came before must decode).
    """
    frames = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(video=0):
                frames += 1
        except av.error.FFmpegError:
            pass
    return frames
