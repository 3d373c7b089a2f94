"""A big photo when its pixels matter (issue 18): the extension sends its metadata (slices, extension/src/lib/
slices.js, run here by Node) and a downscaled copy (`pixels`, made in the page by extension/src/content/files.js;
here by Pillow at the same size and quality), and pupil.image looks at the copy. A photo of the school's library
still matches through that path, an unrelated one does not, and the metadata alone could not have matched."""
from __future__ import annotations

import base64
import io
import subprocess

import pytest

from local_service.app import create_app
from local_service.services import Services
from rules.config import parse_config
from rules.images.library import Library

from .conftest import ROOT, require_node

Image = pytest.importorskip("PIL.Image")
skimage_data = pytest.importorskip("skimage.data")
TOKEN = "p" * 24
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
REDUCE = """
import { readFileSync, writeFileSync } from "node:fs";
import { metadataOnly } from "./extension/src/lib/slices.js";
const [src, dest] = process.argv.slice(1);
writeFileSync(dest, await metadataOnly(new Blob([readFileSync(src)])));
"""
PREVIEW_SIDE, PREVIEW_QUALITY = 1024, 85  # files.js PREVIEW_SIDE and PREVIEW_QUALITY


def big(img, side: int = 4000) -> bytes:
    """A camera-sized JPEG of the picture (the library's copy is the same picture at its own size)."""
    w, h = img.size
    buf = io.BytesIO()
    img.resize((side, side * h // w), Image.Resampling.LANCZOS).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def preview(data: bytes) -> bytes:
    img = Image.open(io.BytesIO(data))
    img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=PREVIEW_QUALITY)
    return buf.getvalue()


def slices(tmp_path, data: bytes) -> bytes:
    src, dest = tmp_path / "in.jpg", tmp_path / "out.jpg"
    src.write_bytes(data)
    subprocess.run([require_node(), "--input-type=module", "-e", REDUCE, str(src), str(dest)], cwd=ROOT, check=True,
                   timeout=60)
    return dest.read_bytes()


@pytest.fixture
def client(tmp_path):
    cfg = parse_config({"data_dir": str(tmp_path / "data"), "school": {"name": "Test School"}})
    Library.for_config(cfg).add_image(big(Image.fromarray(skimage_data.coffee()), 1600), "Shared drive")
    app = create_app({"TESTING": True, "SECRET_KEY": "s"},
                     Services.open(cfg, database=f"sqlite:///{tmp_path / 'e.sqlite3'}", token=TOKEN, user="u"))
    yield app.test_client()
    app.extensions["postguard"].store.close()


def check(client, metadata: bytes, pixels: bytes | None):
    file = {"name": "IMG_3001.jpg", "type": "image/jpeg", "data": base64.b64encode(metadata).decode(),
            "partial": True}
    if pixels is not None:
        file["pixels"] = base64.b64encode(pixels).decode()
    r = client.post("/api/v1/check", json={"url": "https://www.facebook.com/", "files": [file]}, headers=HEADERS)
    assert r.status_code == 200, r.get_json()
    return {f["rule"]: f for f in r.get_json()["findings"]}


def test_the_service_takes_previews(client):
    needs = client.get("/api/v1/photos/needs", headers=HEADERS).get_json()
    assert needs["pixels"] is True and needs["previews"] is True and "the school's photo library" in needs["why"]


def test_a_library_photo_matches_through_its_metadata_and_a_downscaled_copy(client, tmp_path):
    photo = big(Image.fromarray(skimage_data.coffee()))
    metadata, copy = slices(tmp_path, photo), preview(photo)
    assert len(metadata) + len(copy) < len(photo) // 4  # what is sent, against the whole file
    found = check(client, metadata, copy)
    library = next(s for s in found["pupil.image"]["evidence"]["signals"] if s["signal"] == "library")
    assert library["match"] == "yes" and library["distance"] <= 63


def test_an_unrelated_photo_does_not_match_through_the_same_path(client, tmp_path):
    photo = big(Image.fromarray(skimage_data.chelsea()))
    assert "pupil.image" not in check(client, slices(tmp_path, photo), preview(photo))


def test_the_metadata_alone_has_no_pixels_to_match(client, tmp_path):
    photo = big(Image.fromarray(skimage_data.coffee()))
    assert "pupil.image" not in check(client, slices(tmp_path, photo), None)


def test_pixels_that_are_not_base64_are_a_400(client):
    file = {"name": "a.jpg", "data": base64.b64encode(b"\xff\xd8\xff\xd9").decode(), "pixels": "not base64!"}
    r = client.post("/api/v1/check", json={"files": [file]}, headers=HEADERS)
    assert r.status_code == 400 and "files[0].pixels" in r.get_json()["error"]


THUMB = """
import { readFileSync, writeFileSync } from "node:fs";
import { heifThumbnail, metadataOnly } from "./extension/src/lib/slices.js";
const [src, meta, thumb] = process.argv.slice(1);
const blob = new Blob([readFileSync(src)]);
writeFileSync(meta, await metadataOnly(blob));
const small = await heifThumbnail(blob);
if (small) writeFileSync(thumb, small);
"""


def test_an_iphone_heic_is_matched_by_its_own_thumbnail(tmp_path):
    """Chromium cannot decode HEIC: the copy is the photo's own thumbnail (320 px), cut out of the file by slices.js
    as a small HEIF; the library (which holds the full picture) still matches it, and an unrelated library does not."""
    from rules.images import phash
    from tests.conftest import require_corpus

    heic = require_corpus() / "exifr" / "heic-iphone.heic"
    meta, thumb = tmp_path / "meta.heic", tmp_path / "thumb.heic"
    subprocess.run([require_node(), "--input-type=module", "-e", THUMB, str(heic), str(meta), str(thumb)], cwd=ROOT,
                   check=True, timeout=60)
    small = thumb.read_bytes()
    assert len(small) < 64_000 and phash.decode(small).size == (320, 240)
    full = phash.decode(heic.read_bytes(), max_side=1600)
    buf = io.BytesIO()
    full.save(buf, "JPEG", quality=92)
    for holds, found in ((buf.getvalue(), True), (big(Image.fromarray(skimage_data.chelsea()), 1600), False)):
        cfg = parse_config({"data_dir": str(tmp_path / f"data-{found}"), "school": {"name": "Test School"}})
        Library.for_config(cfg).add_image(holds, "Shared drive")
        app = create_app({"TESTING": True, "SECRET_KEY": "s"}, Services.open(
            cfg, database=f"sqlite:///{tmp_path / f'{found}.sqlite3'}", token=TOKEN, user="u"))
        try:
            got = check(app.test_client(), meta.read_bytes(), small)
        finally:
            app.extensions["postguard"].store.close()
        assert ("pupil.image" in got) is found
        assert "location.gps" in got  # the metadata still carries the location


def test_an_answer_for_a_photo_sent_as_its_metadata_covers_the_whole_file_the_proxy_sees(client, tmp_path):
    """The page sends the whole file's SHA-256 with its metadata: "Post anyway" there is then recognised by the
    proxy, which sees the whole file (before, only the reduced file's fingerprint was remembered)."""
    import hashlib

    from local_service.api import get_broker
    from rules.record.hold import fingerprint

    photo = big(Image.fromarray(skimage_data.coffee()))
    file = {"name": "IMG_3001.jpg", "type": "image/jpeg", "partial": True, "sha256": hashlib.sha256(photo).hexdigest(),
            "data": base64.b64encode(slices(tmp_path, photo)).decode(),
            "pixels": base64.b64encode(preview(photo)).decode()}
    r = client.post("/api/v1/check", json={"url": "https://www.facebook.com/", "files": [file]}, headers=HEADERS)
    assert r.status_code == 200 and r.get_json()["findings"]
    broker = get_broker(client.application)
    assert broker.answer_for([fingerprint(photo)]) is None
    answered = client.post("/api/v1/decision", headers=HEADERS, json={
        "check_id": r.get_json()["check_id"], "choice": "post_anyway", "reason": "Parental consent on file"})
    assert answered.status_code == 200
    assert broker.answer_for([fingerprint(photo)]).choice == "post_anyway"
    assert broker.answer_for([fingerprint(b"another photo")]) is None


def test_a_sha256_that_is_not_one_is_a_400(client):
    file = {"name": "a.jpg", "data": base64.b64encode(b"\xff\xd8\xff\xd9").decode(), "sha256": "abc"}
    r = client.post("/api/v1/check", json={"files": [file]}, headers=HEADERS)
    assert r.status_code == 400 and "sha256" in r.get_json()["error"]
