"""The request extraction itself: large multipart files taken from the body by offset, with the structure still
checked by werkzeug."""
import pytest

from proxy_addon.extract import CUT_OVER, ExtractError, extract, rebuild
from tests.proxy_addon.test_addon import BOUNDARY, multipart

HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
# binary content with CR/LF runs and text that looks like a delimiter but is not one (wrong boundary)
BIG = b"\xff\xd8\xff\xe0" + (bytes(range(256)) + b"\r\n\r\n--" + b"Other" + b"\r\n") * (CUT_OVER // 200)


def test_large_file_part_is_byte_exact_and_fields_around_it_are_read():
    body = multipart([("caption", None, b"Sports day", ""), ("photo", "a.jpg", BIG, "image/jpeg"),
                      ("second", "b.jpg", BIG[::-1], "image/jpeg"), ("after", None, "é\r\n".encode(), "")])
    ex = extract("POST", "https://example.org/upload", HEADERS, body)
    assert [f.data for f in ex.submission.files] == [BIG, BIG[::-1]]
    assert [f.name for f in ex.submission.files] == ["a.jpg", "b.jpg"]
    assert ex.submission.fields == [("caption", "Sports day"), ("after", "é\r\n")]
    cleaned = {0: BIG.replace(b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", 1)}
    assert rebuild(ex, cleaned) == body.replace(BIG[:4], cleaned[0][:4], 1)


@pytest.mark.parametrize("cut", [
    lambda body: body[:-len(f"--{BOUNDARY}--\r\n")],  # no closing delimiter after the large part
    lambda body: body.replace(b"Content-Disposition", b"Content-Dispositio", 1),  # a broken part header
])
def test_malformed_structure_is_still_an_error(cut):
    body = multipart([("photo", "a.jpg", BIG, "image/jpeg")])
    with pytest.raises(ExtractError):
        extract("POST", "https://example.org/upload", HEADERS, cut(body))


def mp4_with_location() -> bytes:
    import struct

    from tests.rules.test_location import box
    xyz = box(b"\xa9xyz", struct.pack(">HH", 18, 0x15c7) + b"+53.3828-001.4567/")
    moov = box(b"moov", box(b"mvhd", b"\0" * 100) + box(b"udta", xyz))
    return box(b"ftyp", b"isom\0\0\0\0isom") + box(b"mdat", bytes(range(256)) * 64) + moov


CHUNK_REQUESTS = {  # protocol -> (method, headers) of a chunk that is not the file's first
    "tus PATCH": ("PATCH", {"Tus-Resumable": "1.0.0", "Upload-Offset": "9000",
                            "Content-Type": "application/offset+octet-stream"}),
    "tus, no type": ("PATCH", {"Tus-Resumable": "1.0.0", "Upload-Offset": "9000"}),
    "Google resumable": ("POST", {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "9000",
                                  "Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}),
    "Content-Range PUT": ("PUT", {"Content-Range": "bytes 9000-16999/17000"}),
}


@pytest.mark.parametrize("protocol", CHUNK_REQUESTS)
def test_last_chunk_of_a_resumable_upload_is_a_file_whatever_its_type(protocol):
    """The last chunk has no magic number and often a form or odd type, but an MP4's moov (its location) is there."""
    from rules import Engine, load_pack
    video = mp4_with_location()
    last = video[9000:]
    method, headers = CHUNK_REQUESTS[protocol]
    ex = extract(method, "https://upload.example.org/files/abc123", headers, last)
    assert [f.data for f in ex.submission.files] == [last] and ex.submission.fields == []
    engine = Engine(pack=load_pack("default"))
    verdict = engine.evaluate(ex.submission)
    assert [f.rule for f in verdict.findings] == ["location.gps"] and verdict.decision == "sanitise"
    cleaned, removed = engine.sanitise(ex.submission.files[0])
    body = rebuild(ex, {0: cleaned.data})
    assert len(body) == len(last) and removed
    assert engine.evaluate(extract(method, "https://upload.example.org/files/abc123", headers, body).submission
                           ).findings == []


def test_resumable_upload_start_and_plain_forms_are_not_chunks():
    start = extract("POST", "https://photos.example.com/upload", {
        "X-Goog-Upload-Command": "start", "X-Goog-Upload-Protocol": "resumable",
        "Content-Type": "application/json"}, b'{"title": "Sports day"}')
    assert start.submission.files == [] and start.submission.fields == [("title", "Sports day")]
    form = extract("POST", "https://example.org/post", {"Content-Type": "application/x-www-form-urlencoded"},
                   b"status=hello&upload=1")
    assert form.submission.files == [] and form.submission.fields == [("status", "hello"), ("upload", "1")]


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("body", [
    '{"status": "Sports day é"}'.encode(),
    '\ufeff{"status": "Sports day é"}'.encode(),  # a UTF-8 byte order mark
    '{"status": "Sports day é"}'.encode("utf-16"),  # not UTF-8: read as json.loads reads bytes
    '{"status": "Sports day é"}'.encode("utf-32-le"),
])
def test_json_bodies_are_read_whatever_their_unicode_encoding(body):
    assert extract("POST", "https://example.org/api", JSON, body).submission.fields == [("status", "Sports day é")]


def test_json_fields_are_named_by_their_path_and_only_strings_are_text():
    doc = b'{"": "top", "a": {"": "empty key", "b": ["x", {"c": "y"}, 3, null, true]}, "n": 1.5, "t": false}'
    assert extract("POST", "https://example.org/api", JSON, doc).submission.fields == [
        ("body", "top"), ("a.", "empty key"), ("a.b.0", "x"), ("a.b.1.c", "y")]


def test_a_json_body_that_is_one_photo_string_is_cleaned_and_put_back():
    """A body that is nothing but a data URL (a JSON string): the cleaned photo replaces the whole document."""
    import base64
    import json

    from rules import Engine, load_pack
    from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    body = json.dumps("data:image/jpeg;base64," + base64.b64encode(photo).decode()).encode()
    ex = extract("POST", "https://example.org/api/media", JSON, body)
    assert [f.data for f in ex.submission.files] == [photo] and ex.submission.fields == []
    engine = Engine(pack=load_pack("default"))
    cleaned, removed = engine.sanitise(ex.submission.files[0])
    assert removed
    sent = json.loads(rebuild(ex, {0: cleaned.data}))
    assert sent.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(sent.split(",", 1)[1]) == cleaned.data
    assert engine.evaluate(extract("POST", "https://example.org/api/media", JSON, json.dumps(sent).encode())
                           .submission).findings == []
