"""Photos in Chromium: a school photo that also carries GPS (issue 14), and big photos checked by their metadata
(issue 18 item 9), against the real service and the test site on loopback."""
from __future__ import annotations

import base64
import io

import pytest

from local_service.app import create_app
from local_service.services import Services
from rules.config import parse_config
from rules.media import inspect

from ..conftest import require_corpus
from .conftest import TOKEN, Served
from .test_browser import (_val, configure, find_dialog, focused, input_file, open_site, pick, record_latency,
                           same_pixels, screen_text, until, wait_text)

CANON = "exifr/IMG_5910.jpg"  # Canon EOS 600D, body serial 123063022888, GPS in Berkeley
IPHONE_HEIC = "exifr/heic-iphone.heic"  # 2.6 MB, GPS


def big_jpeg(exif_from: bytes, target: int = 4 << 20) -> bytes:
    """A photo of about `target` bytes (noise compresses badly) carrying a real camera's EXIF segment (with GPS)."""
    np = pytest.importorskip("numpy")
    from PIL import Image
    rng = np.random.default_rng(7)
    side = 1400
    while True:
        pixels = rng.integers(0, 256, (side * 3 // 4, side, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=90)
        if buf.tell() >= target:
            break
        side += 200
    data = buf.getvalue()
    pos = 2
    while exif_from[pos + 1] != 0xE1:
        pos += 2 + int.from_bytes(exif_from[pos + 2:pos + 4], "big")
    app1 = exif_from[pos:pos + 2 + int.from_bytes(exif_from[pos + 2:pos + 4], "big")]
    return data[:2] + app1 + data[2:]


class Recorded:
    """WSGI middleware: the body size of every request the service receives, by path."""

    def __init__(self, app):
        self.app, self.sizes = app, []

    def __call__(self, environ, start_response):
        self.sizes.append((environ.get("PATH_INFO", ""), int(environ.get("CONTENT_LENGTH") or 0)))
        return self.app(environ, start_response)


def start_service(chrome, tmp_path, school: dict):
    config = parse_config({"data_dir": str(tmp_path / "data"), "school": {"name": "Test School", **school}})
    app = create_app({"TESTING": True, "SECRET_KEY": "photo-test-secret", "EXTENSION_ORIGINS": [chrome.origin],
                      "STREAM_SECONDS": 20},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token=TOKEN,
                                   user="teacher1"))
    recorded = Recorded(app.wsgi_app)
    app.wsgi_app = recorded
    served = Served(app)
    served.store, served.token, served.recorded = app.extensions["postguard"].store, TOKEN, recorded
    return served


@pytest.fixture
def corpus_dir():
    return require_corpus()


def test_a_school_photo_with_gps_leads_with_the_school_photo_not_remove_location(chrome, site, tmp_path, corpus_dir,
                                                                                  artifacts):
    photo = (corpus_dir / CANON).read_bytes()
    service = start_service(chrome, tmp_path, {"cameras": [{"serial": "123063022888"}]})
    site.received.clear()
    try:
        def body(context):
            configure(context, chrome, service, site)
            page = open_site(context, site)
            pick(page, photo, "IMG_5910.jpg")
            dialog = find_dialog(page)
            assert dialog is not None
            out = {"title": _val(dialog, "name"), "focused": focused(page), "text": screen_text(page)}
            page.screenshot(path=str(artifacts / "extension-pupil-photo-with-gps.png"))
            page.keyboard.press("Tab")  # Post anyway (no Remove location before it)
            out["second"] = focused(page)
            page.keyboard.press("Enter")
            page.keyboard.press("Space")  # the first reason
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            page.wait_for_function("seen.changes.length === 1", timeout=10000)
            out["file"] = input_file(page)
            return out

        out = chrome.run(body)
        logged = list(service.store.iter_all())
    finally:
        service.stop()
        service.store.close()
    assert out["title"] == "This photo looks like a school photo"
    assert out["focused"] == ("button", "Cancel"), "Cancel, not Remove location, is the main answer"
    assert out["second"] == ("button", "Post anyway")
    assert "Remove location" not in out["text"]
    assert "removes the location first" in out["text"]
    name, data = out["file"]
    assert name == "IMG_5910.jpg"
    assert inspect(photo).real_coordinates and not inspect(data).real_coordinates, \
        "the pack removes the location whatever is decided about the school photo"
    assert same_pixels(photo, data)
    assert sorted((e["rule"], e["decision"]) for e in logged if e["rule"] != "location.place") == [
        ("location.gps", "sanitised"), ("pupil.image", "overridden")]  # the location never went out


@pytest.mark.parametrize("label", ["4 MB JPEG", "iPhone HEIC"])
def test_a_big_photo_is_checked_by_its_metadata_and_cleaned_whole(chrome, site, tmp_path, corpus_dir, label):
    if label == "4 MB JPEG":
        photo, name = big_jpeg((corpus_dir / CANON).read_bytes()), "IMG_2001.jpg"
    else:
        photo, name = (corpus_dir / IPHONE_HEIC).read_bytes(), "IMG_2002.heic"
    mime = "image/heic" if name.endswith(".heic") else "image/jpeg"
    service = start_service(chrome, tmp_path, {})  # nothing in the pixels can matter: metadata is enough
    site.received.clear()
    try:
        def body(context):
            configure(context, chrome, service, site)
            page = open_site(context, site)
            # put in the page first, then picked: the time measured is the extension's, not Playwright's copy
            page.evaluate("""([b64, name, mime]) => {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], name, { type: mime }));
                const input = document.getElementById("photo");
                seen.panelAt = null; seen.paintedAt = null; seen.pickedAt = performance.now();
                input.files = dt.files;
                input.dispatchEvent(new Event("input", { bubbles: true, composed: true }));
                input.dispatchEvent(new Event("change", { bubbles: true }));
            }""", [base64.b64encode(photo).decode(), name, mime])
            dialog = find_dialog(page)
            assert dialog is not None, f"no dialog for the {label}"
            record_latency(page, f"file input, {label} (metadata by slices)")
            page.keyboard.press("Enter")  # Remove location: the whole file is cleaned
            wait_text(page, f"Location removed from {name}")
            page.wait_for_function("seen.changes.length === 1", timeout=20000)
            return _val(dialog, "name"), input_file(page)

        title, (got_name, data) = chrome.run(body)
        sizes = list(service.recorded.sizes)
    finally:
        service.stop()
        service.store.close()
    assert title == "This photo shows where it was taken"
    checks = [n for path, n in sizes if path == "/api/v1/check" and n > 200]
    assert checks and max(checks) < 200_000, f"the check sent {checks} bytes for a {len(photo)}-byte photo"
    strips = [n for path, n in sizes if path == "/api/v1/strip"]
    assert strips and strips[0] > len(photo), "Remove location sends the whole file"
    assert got_name == name and len(data) <= len(photo)
    assert inspect(photo).real_coordinates and not inspect(data).real_coordinates


def test_a_photo_taken_on_the_school_site_asks_first_and_still_loses_its_location(chrome, site, tmp_path):
    """location.school_site (warn) leads over location.gps (sanitise): removing the location does not take the school
    out of the picture, so Cancel is the main answer; posting anyway still removes the location."""
    from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

    from .conftest import ON_SITE
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD), size=(640, 480))
    service = start_service(chrome, tmp_path, {"sites": [ON_SITE]})
    site.received.clear()
    try:
        def body(context):
            configure(context, chrome, service, site)
            page = open_site(context, site)
            pick(page, photo, "playground.jpg")
            dialog = find_dialog(page)
            assert dialog is not None
            out = {"title": _val(dialog, "name"), "focused": focused(page), "text": screen_text(page)}
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")  # Post anyway
            page.keyboard.press("Space")
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            page.wait_for_function("seen.changes.length === 1", timeout=10000)
            out["file"] = input_file(page)
            return out

        out = chrome.run(body)
        logged = list(service.store.iter_all())
    finally:
        service.stop()
        service.store.close()
    assert out["title"] == "This photo was taken on the school site"
    assert out["focused"] == ("button", "Cancel")
    assert "Remove location" not in out["text"]
    assert not inspect(out["file"][1]).real_coordinates
    assert {e["rule"] for e in logged} >= {"location.school_site", "location.gps"}


@pytest.mark.parametrize("picture, school_photo", [("coffee", True), ("chelsea", False)])
def test_a_big_photo_whose_pixels_matter_is_sent_as_metadata_and_a_downscaled_copy(chrome, site, tmp_path,
                                                                                   corpus_dir, picture, school_photo):
    """Issue 18: with a photo library configured, Chromium makes the copy (createImageBitmap, OffscreenCanvas, JPEG)
    and sends it with the metadata slices instead of the whole 4 MB; a copy of a library photo is still found, an
    unrelated photo is not, and the location (in the slices) still is."""
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    from rules.images.library import Library
    from tests.rules.images.test_pupil_image import with_exif_of

    def camera_sized(name: str, side: int) -> bytes:
        img = Image.fromarray(getattr(skimage_data, name)())
        buf = io.BytesIO()
        img.resize((side, side * img.height // img.width), Image.Resampling.LANCZOS).save(buf, "JPEG", quality=95)
        return buf.getvalue()

    config = parse_config({"data_dir": str(tmp_path / "data"), "school": {"name": "Test School"}})
    Library.for_config(config).add_image(camera_sized("coffee", 1600), "Shared drive")
    photo = with_exif_of(camera_sized(picture, 4000), corpus_dir / CANON)  # GPS in Berkeley
    assert len(photo) > 1 << 20  # a camera's photo: sliced, not sent whole (slices.js MIN_SIZE is 512 KB)
    service = start_service(chrome, tmp_path, {})  # the same data folder: the library is there
    try:
        def body(context):
            configure(context, chrome, service, site)
            page = open_site(context, site)
            pick(page, photo, "IMG_3001.jpg")
            dialog = find_dialog(page, timeout=15)
            assert dialog is not None
            return _val(dialog, "name"), screen_text(page)

        title, text = chrome.run(body)
        sizes = list(service.recorded.sizes)
    finally:
        service.stop()
        service.store.close()
    checks = [n for path, n in sizes if path == "/api/v1/check" and n > 200]
    assert checks and max(checks) < len(photo) // 4, f"the check sent {checks} bytes for a {len(photo)}-byte photo"
    if school_photo:
        assert title == "This photo looks like a school photo" and "photo library" in text
    else:
        assert title == "This photo shows where it was taken" and "photo library" not in text
