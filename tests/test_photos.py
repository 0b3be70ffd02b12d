"""`livefilter image` and `livefilter detect`: photos in, faces hidden, metadata out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic import face_scene

from livefilter.boxes import iou_matrix_xyxy

GPS_IFD = 0x8825
EXIF_TAGS = {0x010F: "Make", 0x0110: "Model", 0x0132: "DateTime", 0x0112: "Orientation"}
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description photoshop:City="Paris"/></rdf:RDF></x:xmpmeta>')


def _phone_photo(path: Path, orientation: int = 6) -> np.ndarray:
    """A JPEG stored sideways with EXIF orientation, GPS, device, time and XMP.

    Returns the face box in the upright image.
    """
    upright, face = face_scene(480, 640, face_height=120, centre=(240, 260))
    # Orientation 6 means "rotate 90 degrees clockwise to display": store it
    # turned the other way.
    stored = np.rot90(upright, 1) if orientation == 6 else upright
    image = Image.fromarray(np.ascontiguousarray(stored[:, :, ::-1]))
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15 Pro"
    exif[0x0132] = "2026:05:01 12:34:56"
    exif[0x0112] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    image.save(path, format="JPEG", exif=exif, xmp=XMP, quality=95)
    return face


def _assert_no_metadata(path: Path) -> None:
    with Image.open(path) as image:
        exif = image.getexif()
        assert len(exif) == 0, dict(exif)
        assert not exif.get_ifd(GPS_IFD)
        for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "photoshop", "iptc"):
            assert key not in image.info, key
    raw = path.read_bytes()
    for marker in (b"Exif\x00\x00", b"iPhone", b"Apple", b"Paris", b"http://ns.adobe.com/xap"):
        assert marker not in raw, marker


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_image_applies_orientation_hides_face_and_drops_metadata(
    tmp_path, centerface, cli, suffix
):
    source = tmp_path / "in.jpg"
    face = _phone_photo(source)
    with Image.open(source) as check:  # the fixture really carries metadata
        assert check.getexif()[0x0112] == 6 and check.getexif().get_ifd(GPS_IFD)
    named = tmp_path / f"photo{suffix}"
    if suffix == ".jpg":
        named = source
    else:
        with Image.open(source) as image:
            image.save(named, exif=image.getexif(), xmp=XMP)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli("image", named, "-o", out_dir)
    assert result.returncode == 0, result.stderr
    out = out_dir / named.name
    _assert_no_metadata(out)
    with Image.open(out) as image:
        assert image.size == (480, 640)  # upright: portrait
        pixels = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
    found = centerface.detect(pixels).xyxy
    assert not len(found) or iou_matrix_xyxy(found, face[None]).max() < 0.3
    # Far from the face the photo is unchanged (within JPEG noise).
    with Image.open(source) as image:
        from PIL import ImageOps

        upright = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))[:, :, ::-1]
    assert np.abs(pixels[560:, :].astype(int) - upright[560:, :].astype(int)).mean() < 4


def test_detect_json_matches_what_image_hides(tmp_path, cli):
    source = tmp_path / "in.jpg"
    face = _phone_photo(source)
    result = cli("detect", source, "--json", "--mask-scale", "1.8", "--shape", "box")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert set(record) == {"path", "width", "height", "faces", "regions"}
    assert (record["width"], record["height"]) == (480, 640)
    assert len(record["faces"]) == 1
    box = np.array(record["faces"][0]["box"])
    assert iou_matrix_xyxy(box[None], face[None])[0, 0] > 0.5
    assert 0 < record["faces"][0]["score"] <= 1
    region = np.array(record["regions"][0]["box"])
    assert record["regions"][0]["shape"] == "box"
    # The region is the face box scaled 1.8x about its centre.
    centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
    np.testing.assert_allclose(region, np.r_[centre - 0.9 * size, centre + 0.9 * size], atol=0.2)

    # `image` with the same options changes exactly that region's pixels.
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    png = tmp_path / "in.png"
    from livefilter.apps.photos import read_photo

    Image.fromarray(read_photo(source)[:, :, ::-1].copy()).save(png)
    assert cli("image", png, "-o", out_dir, "--mask-scale", "1.8", "--shape", "box").returncode == 0
    before = np.asarray(Image.open(png).convert("RGB")).astype(int)
    after = np.asarray(Image.open(out_dir / "in.png").convert("RGB")).astype(int)
    changed = np.argwhere(np.any(before != after, axis=2))
    x1, y1, x2, y2 = region
    assert changed[:, 1].min() >= np.floor(x1) and changed[:, 1].max() < np.ceil(x2)
    assert changed[:, 0].min() >= np.floor(y1) and changed[:, 0].max() < np.ceil(y2)


@pytest.mark.data
def test_image_on_real_photos(data_dir, tmp_path, centerface, cli):
    labels = json.loads((data_dir / "wider_dev" / "labels.json").read_text())["images"]
    # Photos with at least one large face, so the check below means something.
    chosen = [e for e in labels if any(f[3] >= 64 for f in e["faces_xywh"])][:4]
    paths = [data_dir / "wider_dev" / e["image"] for e in chosen]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = cli("image", *paths, "-o", out_dir, "-q")
    assert result.returncode == 0, result.stderr
    for entry, path in zip(chosen, paths, strict=True):
        out = np.asarray(Image.open(out_dir / path.name).convert("RGB"))[:, :, ::-1].copy()
        found = centerface.detect(out).xyxy
        for x, y, w, h in entry["faces_xywh"]:
            if h >= 64:
                face = np.array([[x, y, x + w, y + h]], np.float32)
                assert not len(found) or iou_matrix_xyxy(found, face).max() < 0.3, path.name
