"""What PostGuard cannot read is never called clean, and strip never writes outside the metadata it parsed.

Regression tests for issue 14: a walker that raises (a TypeError from one changed byte of a GoPro MP4) used to mean
"nothing found"; a corpus JPEG with a broken GPS IFD came back "no location data found" with 6 KB of its image tables
zeroed; a GPS IFD whose entry count is forged blanked past the end of its APP1 segment.
"""
import struct

import pytest

from local_service.cli import main
from rules import Attachment, Engine, Submission, media
from rules.media import StripError, gpmf, tiff
from tests.conftest import CORPUS
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps


def forged_gps_count(photo: bytes, count: int) -> bytes:
    """The photo with its GPS IFD's entry count set to `count`: the IFD table then runs past the APP1 segment."""
    tiff_at = photo.index(b"Exif\0\0") + 6
    t = tiff.Tiff(photo, tiff_at, len(photo))
    pointer = next(vpos for tag, _, _, vpos, _, _ in t.entries(t.first_ifd) if tag == tiff.TAG_GPS_IFD)
    out = bytearray(photo)
    out[tiff_at + t.u32(pointer):tiff_at + t.u32(pointer) + 2] = t.pack16(count)
    return bytes(out)


def app1_end(photo: bytes) -> int:
    at = photo.index(b"\xff\xe1")
    return at + 2 + struct.unpack_from(">H", photo, at + 2)[0]


def test_a_walker_that_raises_is_an_inspection_error_not_nothing_found(monkeypatch):
    def bug(*args):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(gpmf, "track", bug)
    from tests.rules.test_location import box
    moov = box(b"moov", box(b"trak", box(b"mdia", b"")))
    video = box(b"ftyp", b"isom\0\0\0\0isom") + moov
    report = media.inspect(video)
    assert any("TypeError" in e for e in report.errors), report.errors
    verdict = Engine().evaluate(Submission(files=[Attachment("gopro.mp4", video)]))
    assert verdict.errors and "TypeError" in verdict.errors[0]
    with pytest.raises(StripError):
        media.strip(video)


def test_a_forged_gps_entry_count_is_never_blanked_past_its_segment():
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    forged = forged_gps_count(photo, 600)
    report = media.inspect(forged)
    end = app1_end(forged)
    assert all(p.end <= end for p in report.patches), "a patch writes past the APP1 segment"
    assert report.errors
    with pytest.raises(StripError):
        media.strip(forged)
    verdict = Engine().evaluate(Submission(files=[Attachment("photo.jpg", forged)]))
    assert verdict.errors  # not "clean", whatever else was found


def test_an_honest_photo_is_still_cleaned_in_place():
    photo = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    report = media.inspect(photo)
    assert not report.errors and report.real_coordinates
    cleaned = media.strip(photo)
    end = app1_end(photo)
    assert len(cleaned) == len(photo) and cleaned[end:] == photo[end:]


def test_the_broken_corpus_jpeg_is_not_clean_and_not_stripped(tmp_path, capsys):
    broken = CORPUS / "nom-exif" / "broken.jpg"
    if not broken.exists():
        pytest.skip(f"metadata corpus not found at {CORPUS}; set POSTGUARD_CORPUS")
    data = broken.read_bytes()
    with pytest.raises(StripError):
        media.strip(data)
    out = tmp_path / "clean.jpg"
    assert main(["strip", str(broken), "-o", str(out)]) != 0
    assert not out.exists()
    capsys.readouterr()
    assert main(["scan", str(broken)]) != 0
    line = capsys.readouterr().out
    assert "1536 entries" in line and '"allow"' not in line
