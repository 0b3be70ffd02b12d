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


# Grey levels of the frames of a flash, in order: each surviving frame of a
# flash says where the flash began, even if the frames before it were dropped.
FLASH_LEVELS = (240, 190, 140)
FLASH_BACKGROUND = 20


def write_click_clip(path: Path, *, seconds: float = 4.0, fps: int = 30,
                     flashes: tuple[float, ...] = (1.0, 2.0, 3.0), rate: int = 44100,
                     size: tuple[int, int] = (160, 120)) -> None:
    """A sync test clip: a dark video that flashes (``FLASH_LEVELS``, one
    level per frame) at ``flashes`` seconds, and a silent AAC track with a
    10 ms click (1 kHz) at the same instants. Flashes must be frame-aligned.
    """
    width, height = size
    flash_frames = {round(t * fps): t for t in flashes}
    samples = np.zeros(round(seconds * rate), np.float32)
    burst = np.arange(round(0.01 * rate))
    for t in flashes:
        start = round(t * rate)
        samples[start:start + len(burst)] = 0.8 * np.sin(2 * np.pi * 1000 * burst / rate)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = Fraction(1, fps)
        video.options = {"crf": "18", "preset": "veryfast"}
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for i in range(round(seconds * fps)):
            level = FLASH_BACKGROUND
            for j, flash_level in enumerate(FLASH_LEVELS):
                if i - j in flash_frames:
                    level = flash_level
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), level, np.uint8),
                                               format="bgr24")
            frame.pts = i
            container.mux(video.encode(frame))
        for start in range(0, len(samples), 1024):
            chunk = samples[None, start:start + 1024]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(audio.encode(frame))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))


def flash_and_click_times(path: Path) -> tuple[list[float], list[float]]:
    """Onsets of the flashes (from any surviving frame of each) and of the
    clicks in a recording of a :func:`write_click_clip` clip, in seconds.
    """
    flashes: dict[int, list[float]] = {}
    clicks: list[float] = []
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].codec_context.sample_rate
        fps = float(container.streams.video[0].average_rate or 30)
        last = -1.0
        for packet in container.demux():
            for frame in packet.decode():
                if packet.stream.type == "video":
                    level = float(frame.to_ndarray(format="gray").mean())
                    j = int(np.argmin([abs(level - f) for f in FLASH_LEVELS]))
                    if abs(level - FLASH_LEVELS[j]) < 20:
                        onset = float(frame.pts * frame.time_base) - j / fps
                        flashes.setdefault(round(onset * 4), []).append(onset)
                    continue
                loud = np.flatnonzero(np.abs(frame.to_ndarray()).max(0) > 0.3)
                start = float(frame.pts * frame.time_base)
                for index in loud:
                    t = start + index / rate
                    if t - last > 0.5:
                        clicks.append(t)
                    last = t
    return [float(np.median(v)) for v in flashes.values()], clicks
