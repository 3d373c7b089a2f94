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
