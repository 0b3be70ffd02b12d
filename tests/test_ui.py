"""`livefilter ui` in a real browser: Debian's headless chromium driven by
Selenium through /usr/bin/chromedriver (nothing downloaded).

The server runs as a user would start it (`livefilter ui --no-browser`, port
0 = a free one, URL on the first stdout line) with the TEST-ONLY switch
``LIVEFILTER_UI_TEST_DETECTOR=miss``: its detector finds nothing, so a face
stays visible until it is marked by hand. Screenshots of each view are
taken in the test's temporary folder; `make screenshots` runs these tests
with ``LIVEFILTER_UI_SCREENSHOTS=docs`` to refresh docs/ui-*.png (shown in
the README), so a plain test run leaves the checkout as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import cv2
import numpy as np
import pytest
from synthetic import face_scene, read_frames, write_clip

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS_ENV = "LIVEFILTER_UI_SCREENSHOTS"
DEADLINE = 30.0

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Debian's chromium and chromium-driver are not installed "
    "(apt-get install -y chromium chromium-driver; .ci/run does)",
)


def wait_for(condition, what: str, timeout: float = DEADLINE):
    """Poll ``condition`` until it returns something truthy (generous deadline)."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui-tmp")
    env = {**os.environ, "LIVEFILTER_UI_TEST_DETECTOR": "miss", "TMPDIR": str(tmp)}
    process = subprocess.Popen(
        [sys.executable, "-m", "livefilter", "ui", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "token=" in url, (
            url, process.stderr.read() if process.poll() is not None else "")
        assert len(list(tmp.glob("livefilter-ui-*"))) == 1  # the private folder, in TMPDIR
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        stderr = process.stderr.read()
    assert "Traceback" not in stderr, stderr
    assert "SECRETKEY" not in stderr, "a stream key reached the log"
    assert not list(tmp.glob("livefilter-ui-*")), "private folder left behind at exit"


def token_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["token"][0]


def fetch(url: str, *, method: str = "GET", headers: dict | None = None,
          data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"lf-chromium-{os.getpid()}"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    # A minute at 15 fps: on a loaded machine the live test must press Stop
    # before the clip ends by itself.
    path = tmp_path_factory.mktemp("ui-clip") / "march.mp4"
    return path, write_clip(path, frames=900, fps=15, size=(320, 240), face_height=70,
                            audio=False)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("ui-short") / "march.mp4"
    return path, write_clip(path, frames=60, fps=15, size=(320, 240), face_height=70,
                            audio=False)


def _screenshot(browser, tmp_path: Path, name: str) -> None:
    """Save a screenshot of the page (in ``$LIVEFILTER_UI_SCREENSHOTS`` when
    set, else the test's temporary folder) and check it is a picture."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(folder / name))
    assert cv2.imread(str(folder / name)) is not None


def test_every_request_needs_the_token_and_our_host(server):
    base = server.split("?")[0].rstrip("/")
    token = token_of(server)
    assert fetch(base + "/")[0] == 401
    assert fetch(base + "/api/live/status")[0] == 401
    assert fetch(base + "/?token=not-the-token")[0] == 403
    assert fetch(server, headers={"Host": f"evil.example:{urlparse(server).port}"})[0] == 403
    assert fetch(server)[0] == 200
    # A state change with the token only in the URL (what a foreign page could
    # forge) is refused; with the header it goes through.
    assert fetch(f"{base}/api/live/stop?token={token}", method="POST", data=b"{}")[0] == 403
    assert fetch(f"{base}/api/live/stop", method="POST", data=b"{}",
                 headers={"X-Livefilter-Token": token})[0] == 200


def _sharpness(jpeg: bytes) -> float:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    return float(cv2.Laplacian(image, cv2.CV_64F).var())


def test_live_run_stats_panic_and_stop(server, browser, clip, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path, _ = clip
    base, token = server.split("?")[0].rstrip("/"), token_of(server)
    browser.get(server)
    Select(browser.find_element(By.ID, "source-kind")).select_by_value("file")
    browser.find_element(By.ID, "source-path").send_keys(str(path))
    browser.find_element(By.ID, "out-stream").send_keys("udp://127.0.0.1:9/live/SECRETKEY")
    browser.find_element(By.ID, "live-start").click()

    def text(element_id: str) -> str:
        # The page redraws these elements on every event: read them fresh.
        return browser.execute_script(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : ''",
            element_id)

    def frames_out() -> int:
        value = text("stat-frames-out")
        return int(value) if value.isdigit() else 0

    first = wait_for(frames_out, "frames out in the stats")
    wait_for(lambda: frames_out() > first, "the stats to change")
    assert text("protection-state") in ("protected", "degraded")
    assert "SECRETKEY" not in browser.page_source
    assert "****" in browser.find_element(By.ID, "stream-masked").text
    wait_for(lambda: browser.execute_script(
        "return document.getElementById('preview').naturalWidth") > 0, "a preview frame")

    def preview() -> bytes:
        status, body = fetch(f"{base}/api/live/preview.jpg?token={token}")
        return body if status == 200 else b""

    # No face is found (test detector), so the preview shows the sharp scene...
    assert _sharpness(wait_for(preview, "a preview")) > 50
    browser.find_element(By.TAG_NAME, "body").send_keys("p")  # the keyboard shortcut
    wait_for(lambda: text("protection-state") == "curtain",
             "the protection state to say curtain")
    assert "on" in browser.find_element(By.ID, "panic").get_attribute("class")
    # ...and after panic only frames hidden whole (no detail left at all).
    wait_for(lambda: _sharpness(preview()) < 5, "the preview to be hidden whole")
    shown = browser.execute_script("return document.getElementById('preview').src")
    wait_for(lambda: browser.execute_script(
        "const i = document.getElementById('preview'); return i.complete && i.src !== arguments[0]",
        shown), "the page's preview to refresh")
    _screenshot(browser, tmp_path, "ui-live.png")
    browser.find_element(By.ID, "live-stop").click()
    wait_for(lambda: text("protection-state") == "stopped",
             "the run to stop")


def test_review_add_missed_face_rerender_and_save(server, browser, short_clip, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from livefilter.track.manual import load_regions_file

    path, faces = short_clip
    browser.get(server)
    browser.find_element(By.ID, "tab-review").click()
    browser.find_element(By.ID, "review-output").send_keys(str(tmp_path / "first.mp4"))
    # Picked in the page: copied into the server's private folder, then processed.
    browser.find_element(By.ID, "review-upload").send_keys(str(path))

    def version() -> int:
        return int(browser.execute_script("return document.body.dataset.reviewVersion || 0"))

    wait_for(lambda: version() >= 1, "the processed video to load", timeout=60)
    uploaded = browser.find_element(By.ID, "review-source").get_attribute("value")
    assert "livefilter-ui-" in uploaded and uploaded.endswith("march.mp4")
    key = 30
    browser.execute_script("const s = document.getElementById('review-slider');"
                           f"s.value = {key}; s.dispatchEvent(new Event('input'));")
    wait_for(lambda: browser.find_element(By.ID, "review-index").text.startswith(f"frame {key}"),
             "the frame to change")
    wait_for(lambda: browser.execute_script(
        "const i = document.getElementById('review-frame');"
        "return i.complete && i.naturalWidth > 0"), "the frame image")
    canvas = browser.find_element(By.ID, "review-canvas")
    scale = canvas.size["width"] / 320
    x1, y1, x2, y2 = (float(v) * scale for v in faces[key])
    centre = (canvas.size["width"] / 2, canvas.size["height"] / 2)
    Select(browser.find_element(By.ID, "review-mode")).select_by_value("tracked")
    span = browser.find_element(By.ID, "review-span")
    span.clear()
    span.send_keys("1")  # frames 15..45; widened below to the whole clip
    (ActionChains(browser)
     .move_to_element_with_offset(canvas, int(x1 - 4 - centre[0]), int(y1 - 4 - centre[1]))
     .click_and_hold()
     .move_to_element_with_offset(canvas, int(x2 + 4 - centre[0]), int(y2 + 4 - centre[1]))
     .release().perform())
    assert len(browser.find_elements(By.CSS_SELECTOR, "#review-regions li")) == 1
    # The list is redrawn on every change: read and set its fields by selector.
    field = "return document.querySelector('#review-regions input.range-' + arguments[0])"
    assert [browser.execute_script(field + ".value", end) for end in ("first", "last")] == [
        "15", "45"]
    for end, value in (("first", "0"), ("last", "59")):
        browser.execute_script(
            field.replace("return ", "const f = ") + "; f.value = arguments[1];"
            "f.dispatchEvent(new Event('change'));", end, value)
    assert [browser.execute_script(field + ".value", end) for end in ("first", "last")] == [
        "0", "59"]
    # The page asks where the tracked region goes, to draw it on every frame.
    wait_for(lambda: browser.execute_script("return document.body.dataset.followed"),
             "the tracked region to be followed")
    browser.find_element(By.ID, "review-output").clear()
    browser.find_element(By.ID, "review-output").send_keys(str(tmp_path / "fixed.mp4"))
    browser.find_element(By.ID, "review-rerender").click()
    wait_for(lambda: version() >= 2, "the re-rendered video to load", timeout=60)
    _screenshot(browser, tmp_path, "ui-review.png")

    source, first, fixed = (read_frames(p) for p in (path, tmp_path / "first.mp4",
                                                      tmp_path / "fixed.mp4"))
    assert len(fixed) == len(source) == 60

    def changed(a, b, box):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        inner = (slice(y1 + 8, y2 - 8), slice(x1 + 8, x2 - 8))
        return float(np.abs(a[inner].astype(int) - b[inner].astype(int)).mean())

    # The test detector missed the face: the first render shows it...
    assert max(changed(s, f, box) for s, f, box in zip(source, first, faces, strict=True)) < 8
    # ...the re-render hides it in every frame (tracked from frame 30 both ways).
    hidden = [changed(s, f, box) for s, f, box in zip(source, fixed, faces, strict=True)]
    assert min(hidden) > 15, f"face visible in frame {int(np.argmin(hidden))}"

    browser.find_element(By.ID, "review-regions-path").send_keys(str(tmp_path / "r.json"))
    browser.find_element(By.ID, "review-save").click()
    wait_for(lambda: (tmp_path / "r.json").exists(), "the regions file")
    (region,) = load_regions_file(tmp_path / "r.json")
    assert (region.mode, region.action, region.key, region.frames) == (
        "tracked", "hide", key, (0, 59))


def test_photos_add_region_and_download_without_metadata(server, browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    image, face = face_scene(400, 300, 90, (200, 150))
    photo = tmp_path / "crowd.jpg"
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    Image.fromarray(image[:, :, ::-1]).save(photo, exif=exif.tobytes(), quality=95)
    browser.get(server)
    browser.find_element(By.ID, "tab-photos").click()
    browser.find_element(By.ID, "photo-input").send_keys(str(photo))
    card = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".photo"), "the photo")[0]
    original = card.find_element(By.CSS_SELECTOR, "img.original")
    wait_for(lambda: browser.execute_script("return arguments[0].naturalWidth", original) > 0,
             "the original")
    canvas = card.find_element(By.TAG_NAME, "canvas")
    scale = canvas.size["width"] / 400
    centre = (canvas.size["width"] / 2, canvas.size["height"] / 2)
    x1, y1, x2, y2 = (float(v) * scale for v in face)
    hidden_src = card.find_element(By.CSS_SELECTOR, "img.hidden").get_attribute("src")
    (ActionChains(browser)
     .move_to_element_with_offset(canvas, int(x1 - 5 - centre[0]), int(y1 - 5 - centre[1]))
     .click_and_hold()
     .move_to_element_with_offset(canvas, int(x2 + 5 - centre[0]), int(y2 + 5 - centre[1]))
     .release().perform())
    link = card.find_element(By.CSS_SELECTOR, "a.download")
    base, token = server.split("?")[0].rstrip("/"), token_of(server)
    listing = lambda: json.loads(fetch(f"{base}/api/photos?token={token}")[1])["photos"]  # noqa: E731
    wait_for(lambda: listing() and listing()[0]["added"], "the region to be added")
    wait_for(lambda: browser.execute_script(
        "const i = document.querySelector('.photo img.hidden');"
        "return i.complete && i.naturalWidth > 0 && i.src !== arguments[0]", hidden_src),
        "the hidden copy to refresh")
    _screenshot(browser, tmp_path, "ui-photos.png")
    status, body = fetch(link.get_attribute("href"))
    assert status == 200
    download = tmp_path / "hidden.jpg"
    download.write_bytes(body)
    with Image.open(download) as hidden:
        assert not hidden.getexif()
        assert "exif" not in hidden.info and "icc_profile" not in hidden.info
        pixels = np.asarray(hidden.convert("RGB"))[:, :, ::-1]
    fx1, fy1, fx2, fy2 = (round(float(v)) for v in face)
    inner = (slice(fy1 + 10, fy2 - 10), slice(fx1 + 10, fx2 - 10))
    assert np.abs(pixels[inner].astype(int) - image[inner].astype(int)).mean() > 15
    assert np.abs(pixels[:40, :40].astype(int) - image[:40, :40].astype(int)).mean() < 6
