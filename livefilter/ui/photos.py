"""The page's photos view: dropped photos, original and hidden side by side,
regions added or removed by hand, hidden copies to download.

Uploads are written only into the server's private temporary folder. The
hidden copy is written by :func:`~livefilter.apps.photos.save_photo`, as
``livefilter image`` writes it: pixels alone, no EXIF, XMP, IPTC or ICC.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livefilter.errors import ConfigError, InputError

__all__ = ["PhotoSession"]

_MAX_BYTES = 200 * 1024 * 1024


@dataclass
class _Photo:
    name: str
    original: Path
    hidden: Path
    width: int = 0
    height: int = 0
    faces: list[list[float]] = field(default_factory=list)  # detector regions
    removed: list[int] = field(default_factory=list)  # indices of faces un-hidden
    added: list[list[float]] = field(default_factory=list)  # boxes hidden by hand


class PhotoSession:
    def __init__(self, workdir: Path, detector_factory: Callable[..., Any]) -> None:
        self.workdir = workdir
        self.workdir.mkdir(mode=0o700, exist_ok=True)
        self._factory = detector_factory
        self._detector: Any = None
        self._lock = threading.Lock()
        self.photos: dict[str, _Photo] = {}

    def _detect(self) -> Any:
        if self._detector is None:
            self._detector = self._factory(quality="thorough", video=False, threads=0)
        return self._detector

    def add(self, filename: str, data: bytes) -> dict[str, Any]:
        from livefilter.apps.photos import PHOTO_FORMATS, find_faces, read_photo
        from livefilter.regions import RedactionConfig

        if len(data) > _MAX_BYTES:
            raise InputError(f"{filename}: larger than {_MAX_BYTES // 2**20} MB")
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).stem)[:80] or "photo"
        suffix = Path(filename).suffix.lower()
        if suffix not in PHOTO_FORMATS:
            raise InputError(f"{filename}: expected one of {', '.join(sorted(PHOTO_FORMATS))}")
        with self._lock:
            key = f"{len(self.photos) + 1}-{stem}"
            original = self.workdir / f"{key}.original{suffix}"
            original.write_bytes(data)
            try:
                image = read_photo(original)
            except InputError:
                original.unlink(missing_ok=True)
                raise InputError(f"{filename}: not a readable image") from None
            result = find_faces(original, image, self._detect(), RedactionConfig())
            photo = _Photo(name=f"{stem}{suffix}", original=original,
                           hidden=self.workdir / f"{key}.hidden{suffix}",
                           width=result.width, height=result.height,
                           faces=[[round(float(v), 1) for v in box] for box in result.regions])
            self.photos[key] = photo
            self._render(photo)
            return self.describe(key)

    def _render(self, photo: _Photo) -> None:
        from livefilter.apps.hiding import hide_regions
        from livefilter.apps.photos import PHOTO_FORMATS, read_photo, save_photo
        from livefilter.regions import RedactionConfig
        from livefilter.track.manual import ManualRegion, ManualRegions

        redaction = RedactionConfig()
        image = read_photo(photo.original)
        kept = [box for i, box in enumerate(photo.faces) if i not in photo.removed]
        manual = ManualRegions([ManualRegion(box=tuple(box), shape="ellipse")  # type: ignore[arg-type]
                                for box in photo.added], source=photo.name)
        manual.check(photo.width, photo.height, photo=True)
        hide_regions(image, 0, np.array(kept, np.float32).reshape(-1, 4), redaction, manual)
        save_photo(image, photo.hidden, PHOTO_FORMATS[photo.hidden.suffix.lower()])

    def describe(self, key: str) -> dict[str, Any]:
        photo = self._get(key)
        return {"key": key, "name": photo.name, "width": photo.width, "height": photo.height,
                "faces": photo.faces, "removed": photo.removed, "added": photo.added}

    def _get(self, key: str) -> _Photo:
        if key not in self.photos:
            raise KeyError(f"photo {key!r}: not loaded")
        return self.photos[key]

    def edit(self, key: str, data: dict[str, Any]) -> dict[str, Any]:
        """``add``: a box ``[x1, y1, x2, y2]`` to hide; ``remove``: a face index
        to un-hide, or ``restore`` one; ``drop``: a hand-made box index."""
        with self._lock:
            photo = self._get(key)
            if "add" in data:
                box = [float(v) for v in data["add"]]
                if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
                    raise ConfigError(f"add: expected [x1, y1, x2, y2] with x2 > x1, y2 > y1; "
                                      f"got {data['add']!r}")
                box = [max(0.0, box[0]), max(0.0, box[1]), min(float(photo.width), box[2]),
                       min(float(photo.height), box[3])]
                photo.added.append([round(v, 1) for v in box])
            if "remove" in data:
                index = int(data["remove"])
                if not 0 <= index < len(photo.faces):
                    raise ConfigError(f"remove: no face {index}")
                if index not in photo.removed:
                    photo.removed.append(index)
            if "restore" in data:
                photo.removed = [i for i in photo.removed if i != int(data["restore"])]
            if "drop" in data:
                index = int(data["drop"])
                if not 0 <= index < len(photo.added):
                    raise ConfigError(f"drop: no added region {index}")
                del photo.added[index]
            self._render(photo)
            return self.describe(key)


def routes(state: Any) -> list[Any]:
    import asyncio

    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Route

    from livefilter.ui.server import body_json, handler

    session: PhotoSession = state.photos

    @handler
    async def upload(request):
        name = request.headers.get("x-filename", "photo.jpg")
        data = await request.body()
        return JSONResponse(await asyncio.to_thread(session.add, name, data))

    @handler
    async def listing(request):
        return JSONResponse({"photos": [session.describe(k) for k in session.photos]})

    @handler
    async def edit(request):
        data = await body_json(request)
        key = request.path_params["key"]
        return JSONResponse(await asyncio.to_thread(session.edit, key, data))

    @handler
    async def image(request):
        photo = session._get(request.path_params["key"])
        which = request.path_params["which"]
        if which == "original":
            return FileResponse(photo.original)
        if which == "hidden":
            return FileResponse(photo.hidden)
        if which == "download":
            return FileResponse(photo.hidden, filename=photo.name)
        raise KeyError(which)

    return [
        Route("/api/photos", listing),
        Route("/api/photos/upload", upload, methods=["POST"]),
        Route("/api/photos/{key}/edit", edit, methods=["POST"]),
        Route("/api/photos/{key}/{which}", image),
    ]
