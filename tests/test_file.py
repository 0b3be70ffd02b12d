"""`livefilter file`: end to end on synthetic clips and a shared clip."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from scoring import COVERED_SHARE, covered_share
from synthetic import IDENTIFYING_TAGS, SOURCE_HANDLER, read_frames, write_clip

from livefilter.boxes import iou_matrix_xyxy, xywh_to_xyxy
from livefilter.hide.composite import hidden_mask


def _faces_left(detector, frames: list[np.ndarray], boxes: list[np.ndarray]) -> int:
    """How many frames still show a detectable face where one was."""
    left = 0
    for image, face in zip(frames, boxes, strict=True):
        found = detector.detect(image).xyxy
        if len(found) and iou_matrix_xyxy(found, face[None]).max() > 0.3:
            left += 1
    return left


def _stream_summary(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = list(container.streams.audio)
        summary = {
            "container_tags": dict(container.metadata),
            "video_tags": dict(video.metadata),
            "audio_tags": [dict(a.metadata) for a in audio],
            "audio_codecs": [a.codec_context.name for a in audio],
            "width": video.codec_context.width,
            "height": video.codec_context.height,
        }
        audio_packets = 0
        video_frames = 0
        for packet in container.demux():
            if packet.stream.type == "audio" and packet.size:
                audio_packets += 1
            elif packet.stream.type == "video":
                video_frames += len(packet.decode())
        summary["audio_packets"] = audio_packets
        summary["video_frames"] = video_frames
        summary["duration"] = container.duration / av.time_base if container.duration else 0.0
    return summary


@pytest.fixture(scope="module")
def tagged_clip(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("clips") / "phone.mp4"
    boxes = write_clip(path, frames=30, fps=15, tags=IDENTIFYING_TAGS)
    return path, boxes


def test_file_hides_faces_keeps_audio_frames_duration_and_strips_metadata(
    tagged_clip, tmp_path, centerface, cli
):
    source, boxes = tagged_clip
    before = read_frames(source)
    assert _faces_left(centerface, before, boxes) >= len(boxes) - 2, "fixture face not detectable"
    out = tmp_path / "out.mp4"
    regions_json = tmp_path / "regions.json"
    stats_json = tmp_path / "stats.json"
    result = cli("file", source, "-o", out, "--quiet", "--regions-json", regions_json,
                 "--stats-json", stats_json)
    assert result.returncode == 0, result.stderr

    assert _faces_left(centerface, read_frames(out), boxes) == 0

    src, dst = _stream_summary(source), _stream_summary(out)
    assert dst["video_frames"] == src["video_frames"] == 30
    assert dst["audio_codecs"] == src["audio_codecs"] == ["aac"]
    assert dst["audio_packets"] == src["audio_packets"]
    assert dst["duration"] == pytest.approx(src["duration"], abs=0.07)

    # The source really carried identifying metadata...
    assert "location" in src["container_tags"] and "model" in src["container_tags"]
    assert src["video_tags"].get("handler_name") == SOURCE_HANDLER
    # ...and none of it reaches the output, at any level.
    every_value = " ".join(
        [*map(str, dst["container_tags"].values()), *map(str, dst["video_tags"].values()),
         *(str(v) for tags in dst["audio_tags"] for v in tags.values())]
    )
    for key, value in IDENTIFYING_TAGS.items():
        if key != "encoder":  # the output names its own muxer (Lavf), not the source's
            assert key not in dst["container_tags"], key
        assert value not in every_value, value
    assert SOURCE_HANDLER not in every_value

    regions = json.loads(regions_json.read_text())
    assert (regions["width"], regions["height"]) == (320, 240)
    assert [f["index"] for f in regions["frames"]] == list(range(30))
    assert all(f["regions"] and f["regions"][0]["shape"] == "ellipse" for f in regions["frames"])
    stats = json.loads(stats_json.read_text())
    assert stats["frames"] == 30 and stats["fps"] > 0 and stats["seconds"] > 0


def test_file_applies_rotation_before_detection(tmp_path, centerface, cli):
    source = tmp_path / "rotated.mp4"
    boxes = write_clip(source, frames=12, fps=12, audio=False, rotation=90)
    with av.open(str(source)) as container:
        first = next(container.decode(video=0))
        assert first.rotation == 90, "fixture has no display matrix"
        stored = first.to_ndarray(format="bgr24")
    upright = np.rot90(stored, 1)  # what a player shows
    out = tmp_path / "out.mp4"
    assert cli("file", source, "-o", out, "-q").returncode == 0
    frames = read_frames(out)
    assert len(frames) == 12
    assert frames[0].shape == upright.shape  # 240 wide, 320 tall: turned upright
    with av.open(str(out)) as container:
        assert next(container.decode(video=0)).rotation == 0
    # Away from the face, the output matches the upright source.
    face = boxes[0]
    w = stored.shape[1]
    # The face box in the upright frame (rot90 counter-clockwise: x' = y, y' = w - x).
    upright_face = np.array([face[1], w - face[2], face[3], w - face[0]])
    mask = np.ones(upright.shape[:2], bool)
    x1, y1, x2, y2 = upright_face.astype(int)
    pad = int(0.6 * (y2 - y1))
    mask[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad] = False
    difference = np.abs(frames[0].astype(int) - upright.astype(int)).mean(axis=2)
    assert difference[mask].mean() < 6
    # And the face is hidden in the upright output.
    found = centerface.detect(frames[0]).xyxy
    assert not len(found) or iou_matrix_xyxy(found, upright_face[None]).max() < 0.3


@pytest.mark.data
def test_file_on_shared_clip(data_dir, tmp_path, centerface, cli):
    clip = data_dir / "clips" / "clip00_1280x720.mp4"
    labels = json.loads((data_dir / "clips" / "clip00_1280x720.json").read_text())
    short = tmp_path / "clip00_first2s.mp4"
    # Two seconds keep the test short; the whole clip runs in the benchmarks.
    subprocess.run(["ffmpeg", "-v", "error", "-i", clip, "-t", "2", "-c", "copy", short],
                   check=True)
    out = tmp_path / "out.mp4"
    regions_json = tmp_path / "regions.json"
    result = cli("file", short, "-o", out, "-q", "--regions-json", regions_json)
    assert result.returncode == 0, result.stderr
    src, dst = _stream_summary(short), _stream_summary(out)
    assert dst["video_frames"] == src["video_frames"]
    assert dst["audio_packets"] == src["audio_packets"] > 0
    assert dst["duration"] == pytest.approx(src["duration"], abs=0.05)
    log = json.loads(regions_json.read_text())
    assert [f["index"] for f in log["frames"]] == list(range(src["video_frames"]))
    # Every labelled face of 32 px or more is hidden in every frame...
    uncovered = []
    for entry in log["frames"]:
        faces = np.array([f[:4] for f in labels["frames"][entry["index"]] if f[3] >= 32],
                         np.float32).reshape(-1, 4)
        if entry["curtain"] or not len(faces):
            continue
        boxes = np.array([r["box"] for r in entry["regions"]], np.float32).reshape(-1, 4)
        hidden = hidden_mask(boxes, "ellipse", log["height"], log["width"])
        share = covered_share(xywh_to_xyxy(faces), hidden)
        uncovered += [(entry["index"], float(s)) for s in share if s < COVERED_SHARE]
    assert uncovered == []
    # ... and the pixels written show none: a visible face scores far above
    # 0.5, whereas the striped cover over a head's outline can reach ~0.2.
    frames = read_frames(out)
    exposed = []
    for index in range(0, len(frames), 10):
        faces = [f for f in labels["frames"][index] if f[3] >= 32]
        found = centerface.detect(frames[index])
        confident = found.xyxy[found.scores >= 0.5]
        for x, y, w, h, face_id in faces:
            face = np.array([[x, y, x + w, y + h]], np.float32)
            if len(confident) and iou_matrix_xyxy(confident, face).max() > 0.3:
                exposed.append((index, face_id))
    assert exposed == []


def test_look_ahead_spans_a_preset_cycle(tmp_path, centerface):
    # The face walks in at frame 5. The only pass that can find it runs on
    # every 4th detector call (frames 0, 4, 8, ...), so it is first found on
    # frame 8: the look-ahead must span the whole cycle for that result to
    # reach frames 5-7.
    from livefilter.apps.offline import FileJobConfig, anonymize_video
    from livefilter.detect.multipass import FramePass, MultiPassDetector, QualityPreset
    from livefilter.regions import RedactionConfig

    width, height, appears_at = 320, 240, 5
    clip = tmp_path / "walk-in.mp4"
    boxes = write_clip(clip, frames=24, size=(width, height), audio=False,
                       appears_at=appears_at)
    blind = FramePass(scale=0.1, min_face=10_000)  # runs on every call, finds nothing
    preset = QualityPreset(name="every-4th", threshold=0.2, passes=(FramePass(),),
                           video_passes=(FramePass(every=4), blind))
    detector = MultiPassDetector(centerface, preset, video=True)
    regions_json = tmp_path / "regions.json"
    anonymize_video(FileJobConfig(input=clip, output=tmp_path / "out.mp4",
                                  regions_json=regions_json),
                    detector, RedactionConfig(mask_scale=1.6))
    frames = json.loads(regions_json.read_text())["frames"]
    assert [f["index"] for f in frames] == list(range(24))
    assert not any(f["curtain"] for f in frames)
    for i in range(appears_at, 24):
        hidden = np.array([r["box"] for r in frames[i]["regions"]], np.float32).reshape(-1, 4)
        share = covered_share(boxes[i][None], hidden_mask(hidden, "ellipse", height, width))[0]
        assert share >= COVERED_SHARE, (i, share)


class _RecordingDetector:
    """Wraps a detector: records which thread ran each call; fails on call
    ``fail_at`` (counting from 0) when given."""

    def __init__(self, inner, fail_at: int | None = None) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.threads: list[str] = []

    def detect(self, image: np.ndarray):
        import threading

        if len(self.threads) == self.fail_at:
            raise RuntimeError("detector broke on purpose")
        self.threads.append(threading.current_thread().name)
        return self.inner.detect(image)


def test_detecting_ahead_loses_and_reorders_no_frame(tmp_path, centerface):
    """With every frame a key frame the detector runs in its own thread;
    every frame still gets its result and goes out once, in order."""
    from livefilter.apps.offline import FileJobConfig, anonymize_video
    from livefilter.regions import RedactionConfig

    clip = tmp_path / "walk.mp4"
    boxes = write_clip(clip, frames=40, size=(320, 240), audio=True)
    detector = _RecordingDetector(centerface)
    regions_json = tmp_path / "regions.json"
    out = tmp_path / "out.mp4"
    stats = anonymize_video(FileJobConfig(input=clip, output=out, regions_json=regions_json),
                            detector, RedactionConfig(mask_scale=1.6))
    assert set(detector.threads) == {"livefilter-detect"}
    assert len(detector.threads) == 40 == stats["frames_out"]
    frames = json.loads(regions_json.read_text())["frames"]
    assert [f["index"] for f in frames] == list(range(40))
    with av.open(str(clip)) as source, av.open(str(out)) as result:
        source_times = [f.time for f in source.decode(video=0)]
        result_times = [f.time for f in result.decode(video=0)]
    assert result_times == pytest.approx(source_times, abs=1e-3)
    for i, frame in enumerate(frames):
        hidden = np.array([r["box"] for r in frame["regions"]], np.float32).reshape(-1, 4)
        share = covered_share(boxes[i][None], hidden_mask(hidden, "ellipse", 240, 320))[0]
        assert frame["curtain"] or share >= COVERED_SHARE, (i, share)


def test_an_error_in_the_detect_thread_reaches_the_caller(tmp_path, centerface):
    from livefilter.apps.offline import FileJobConfig, anonymize_video
    from livefilter.regions import RedactionConfig

    clip = tmp_path / "walk.mp4"
    write_clip(clip, frames=40, size=(320, 240), audio=False)
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="broke on purpose"):
        anonymize_video(FileJobConfig(input=clip, output=out),
                        _RecordingDetector(centerface, fail_at=12), RedactionConfig())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.mp4"]


@pytest.mark.parametrize(("budget_frames", "expected"), [(None, 10), (4, 4)])
def test_encoder_look_ahead_is_bounded_by_bytes(tmp_path, monkeypatch, budget_frames, expected):
    """x264 holds its rate-control look-ahead in memory: a frame size whose
    preset look-ahead would hold more than the byte budget gets a shorter one
    (x264 writes the options it used into the stream)."""
    from fractions import Fraction

    from livefilter.frame import Frame
    from livefilter.io import writer

    width, height = 320, 240
    if budget_frames is not None:
        monkeypatch.setattr(writer, "_LOOKAHEAD_BYTES", budget_frames * width * height * 3 // 2)
    out = tmp_path / "out.mp4"
    video = writer.VideoWriter(out, width=width, height=height, fps=Fraction(15),
                               time_base=Fraction(1, 15))
    rng = np.random.default_rng(0)
    for index in range(12):
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        video.write(Frame(image=image, index=index, timestamp=index / 15))
    video.close()
    assert f"rc_lookahead={expected} ".encode() in out.read_bytes()
