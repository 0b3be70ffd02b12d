"""The page's server-side parts without a browser: stream keys masked, the
protection state (the pipeline's own record when it has one), the review
timeline."""

from __future__ import annotations

import pytest

from livefilter.ui.live import mask_url, protection_state
from livefilter.ui.review import timeline


@pytest.mark.parametrize(("url", "masked"), [
    ("rtmp://live.example/app/SECRET", "rtmp://live.example/app/****"),
    ("srt://host:9000?streamid=SECRET", "srt://host:9000?****"),
    ("rtmp://user:SECRET@host/app/KEY", "rtmp://****@host/app/****"),
    ("", ""),
])
def test_stream_keys_are_masked(url, masked):
    assert mask_url(url) == masked
    assert "SECRET" not in mask_url(url)


def _summary(frames_out, reasons=None, dropped=0, **extra):
    return {"frames_out": frames_out, "curtain_reasons": reasons or {}, "dropped": dropped,
            **extra}


def test_protection_state_from_the_pipeline_wins():
    own = {"state": "degraded", "reason": "detector slow", "seconds": {"protected": 3}}
    assert protection_state(_summary(10, protection=own), None, True) is own


def test_a_finished_run_is_stopped_whatever_its_last_protection_record():
    # The final stats carry the pipeline's last state; the page must still
    # say the run is over.
    last = {"state": "protected", "reason": "", "seconds": {"protected": 3}}
    assert protection_state(_summary(10, protection=last), None, False) == {
        "state": "stopped", "reason": ""}


def test_protection_state_derived_from_curtain_counts_and_drops():
    before = _summary(100, {"scene-cut": 2})
    assert protection_state(_summary(130, {"scene-cut": 2}), before, True)["state"] == "protected"
    curtained = protection_state(_summary(130, {"scene-cut": 2, "detector-stale": 25}), before,
                                 True)
    assert curtained == {"state": "curtain", "reason": "hidden whole: detector-stale"}
    assert protection_state(_summary(130, {"scene-cut": 5}), before, True)["state"] == "degraded"
    assert protection_state(_summary(130, dropped=4), before, True)["state"] == "degraded"
    lost = protection_state(_summary(130, {"signal-lost": 30}), before, True)
    assert lost["state"] == "signal-lost"
    assert protection_state(_summary(130), before, False)["state"] == "stopped"


def test_timeline_marks_curtain_low_score_and_short_tracks():
    steady = {"box": [10, 10, 50, 50], "shape": "ellipse"}
    blip = {"box": [200, 100, 240, 140], "shape": "ellipse"}
    frames = [{"index": i, "curtain": i < 2,
               "regions": [steady] + ([blip] if i == 6 else [])} for i in range(20)]
    marks = timeline({"fps": 10, "width": 320, "height": 240, "frames": frames}, {4})
    assert marks["curtain"] == [0, 1]
    assert marks["low_score"] == [4]
    assert marks["short_tracks"] == [6]  # the steady region lasts 2 s: not marked


def test_review_opens_a_processed_video_and_checks_regions(tmp_path):
    import time

    from synthetic import write_clip

    from livefilter.apps.offline import FileJobConfig, anonymize_video
    from livefilter.detections import Detections
    from livefilter.errors import ConfigError
    from livefilter.regions import RedactionConfig
    from livefilter.ui.review import ReviewSession

    class NoFaces:
        def detect(self, image):
            return Detections.empty()

    clip = tmp_path / "in.mp4"
    write_clip(clip, frames=12, fps=12, audio=False)
    job = FileJobConfig(input=clip, output=tmp_path / "out.mp4",
                        regions_json=tmp_path / "log.json")
    anonymize_video(job, NoFaces(), RedactionConfig())
    session = ReviewSession(tmp_path / "review", lambda **_: NoFaces())
    session.open(job.output, job.regions_json, clip)
    deadline = time.monotonic() + 30
    while session.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session.status()["error"] == ""
    summary = session.summary()
    assert summary["frames"] == 12 and summary["width"] == 320
    assert session.frame(11)[:2] == b"\xff\xd8"  # a JPEG of the processed frame
    with pytest.raises(ConfigError, match="outside the 320x240 frame"):
        session.set_regions({"version": 1, "regions": [{"box": [300, 0, 400, 10]}]})
    with pytest.raises(ConfigError, match="beyond the video's last frame 11"):
        session.set_regions({"version": 1, "regions": [{"box": [0, 0, 9, 9],
                                                         "frames": [5, 12]}]})
    kept = session.set_regions({"version": 1, "regions": [{"box": [0, 0, 9, 9]}]})
    assert kept["regions"] == [{"box": [0, 0, 9, 9]}]
    saved = session.save_regions(tmp_path / "r.json")
    assert saved.read_text() == '{"version": 1, "regions": [{"box": [0, 0, 9, 9]}]}'


def test_review_uploads_go_to_the_private_folder_under_a_safe_name(tmp_path):
    from livefilter.errors import InputError
    from livefilter.ui.review import ReviewSession

    session = ReviewSession(tmp_path / "review", lambda **_: None)
    path = session.upload_path("../../etc/My March!.MP4")
    assert path.parent == tmp_path / "review" / "uploads"
    assert path.name.endswith("-My_March_.mp4")
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    with pytest.raises(InputError, match="expected a video"):
        session.upload_path("notes.txt")


def test_host_header_must_name_our_address(tmp_path):
    from livefilter.ui.server import UiState

    state = UiState("t", tmp_path, lambda **_: None)
    state.allowed_hosts = {"127.0.0.1:8000", "localhost:8000"}
    assert state.host_allowed("127.0.0.1:8000") and state.host_allowed("localhost:8000")
    assert not state.host_allowed("attacker.example:8000")
    assert not state.host_allowed("192.168.1.5:8000")
    state.any_address_port = 8000  # --host 0.0.0.0: any IP literal, never a name
    assert state.host_allowed("192.168.1.5:8000") and state.host_allowed("[fe80::1]:8000")
    assert not state.host_allowed("192.168.1.5:9000")
    assert not state.host_allowed("rebind.attacker.example:8000")


def test_ui_prints_its_url_first_and_stops_cleanly_with_a_page_open(tmp_path):
    import http.client
    import os
    import signal
    import subprocess
    import sys
    from urllib.parse import parse_qs, urlparse

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "livefilter", "ui", "--no-browser"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = urlparse(process.stdout.readline().strip())
        assert url.hostname == "127.0.0.1" and url.port
        token = parse_qs(url.query)["token"][0]
        assert len(token) >= 32
        assert len(list(tmp_path.glob("livefilter-ui-*"))) == 1
        events = http.client.HTTPConnection("127.0.0.1", url.port, timeout=10)
        events.request("GET", f"/api/events?token={token}")
        response = events.getresponse()
        assert response.status == 200 and response.readline().startswith(b"data: {")
        process.send_signal(signal.SIGINT)  # Ctrl+C with the page still open
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read()
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr
    assert not list(tmp_path.glob("livefilter-ui-*")), "private folder left behind"


def test_a_stream_key_in_an_error_never_reaches_the_page():
    from livefilter.errors import ConfigError
    from livefilter.ui.live import LiveSession
    from livefilter.ui.server import _error

    session = LiveSession(lambda **_: None)
    with pytest.raises(ConfigError) as caught:
        session.start({"source": "/nonexistent.mp4", "stream": "ftp://host/app/SECRETKEY"})
    assert "SECRETKEY" in str(caught.value)  # the sink's own message names the URL...
    body = _error(caught.value).body.decode()
    assert "SECRETKEY" not in body and "****" in body  # ...the page gets it masked


def test_review_notes_the_frames_with_a_low_score_detection():
    import numpy as np

    from livefilter.detections import Detections
    from livefilter.ui.review import ReviewSession

    class Scripted:
        def __init__(self):
            self.calls = 0
            self.scores = {1: 0.9, 2: 0.15, 4: 0.6}

        def detect(self, image):
            score = self.scores.get(self.calls)
            self.calls += 1
            if score is None:
                return Detections.empty()
            return Detections(np.array([[0, 0, 10, 10]], np.float32), np.array([score]))

    detector = Scripted()
    low = ReviewSession._record_scores(detector)
    image = np.zeros((8, 8, 3), np.uint8)
    found = [len(detector.detect(image)) for _ in range(6)]
    assert found == [0, 1, 1, 0, 1, 0]  # results pass through unchanged
    assert low == {2}


def test_review_shows_where_a_tracked_region_will_go(tmp_path):
    import time

    from synthetic import write_clip

    from livefilter.apps.offline import FileJobConfig, anonymize_video
    from livefilter.boxes import iou_matrix_xyxy
    from livefilter.detections import Detections
    from livefilter.regions import RedactionConfig
    from livefilter.ui.review import ReviewSession

    class NoFaces:
        def detect(self, image):
            return Detections.empty()

    clip = tmp_path / "in.mp4"
    faces = write_clip(clip, frames=20, fps=10, audio=False)
    job = FileJobConfig(input=clip, output=tmp_path / "out.mp4",
                        regions_json=tmp_path / "log.json")
    anonymize_video(job, NoFaces(), RedactionConfig())
    session = ReviewSession(tmp_path / "review", lambda **_: NoFaces())
    session.open(job.output, job.regions_json, clip)
    deadline = time.monotonic() + 30
    while session.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    box = [round(float(v)) for v in faces[10]]
    fixed = {"box": [0, 0, 20, 20]}
    tracked = {"frames": [2, 17], "box": box, "mode": "tracked", "keyframe": 10}
    paths = session.track_preview({"version": 1, "regions": [fixed, tracked]})
    assert list(paths) == ["1"] and sorted(map(int, paths["1"])) == list(range(2, 18))
    for frame, where in paths["1"].items():
        overlap = iou_matrix_xyxy([where], faces[int(frame)][None])[0, 0]
        assert overlap > 0.6, f"frame {frame}: IoU {overlap:.2f}"
