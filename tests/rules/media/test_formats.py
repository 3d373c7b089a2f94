"""The table of media formats (rules/media/formats.py): every entry is consistent, sniff() knows each format by a
minimal header, and inspect, pupil.image, `postguard scan` and the proxy read the table. To add a format, copy
test_jpeg.py (the file to copy: a location found, a near miss) and, if its test is a pattern, give it a header here."""
from __future__ import annotations

import base64
import importlib
import pkgutil

import pytest

from rules import Attachment, Engine, Submission, media
from rules.config import parse_config
from rules.media import formats
from rules.media.formats import DOCUMENT, FORMATS, METADATA, PICTURE, VIDEO

# Minimal headers for the formats tested by a pattern; a format tested by its magic numbers is each of them, padded.
HEADERS = {
    "WEBP": [b"RIFF\x24\0\0\0WEBPVP8 "],
    "CRW": [b"II\x1a\0\0\0HEAPCCDR"],
    "HEIF": [b"\0\0\0\x18ftyp" + brand + b"\0\0\0\0mif1" for brand in
             (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2")],
    "AVIF": [b"\0\0\0\x1cftyp" + brand + b"\0\0\0\0mif1" for brand in (b"avif", b"avis", b"avio")],
    "CR3": [b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom"],
    "MOV": [b"\0\0\0\x14ftypqt  \0\0\x02\0qt  "] + [b"\0\0\0\x08" + atom for atom in
                                                  (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid")],
    "MP4": [b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2", b"\0\0\0\x18ftypmp42", b"\0\0\0\x1cftyp3gp5"],
    "ODF": [b"PK\x03\x04\x14\0\0\0\0\0" + b"\0" * 16 + b"\x08\0\0\0mimetypeapplication/vnd.oasis.opendocument." + kind
            for kind in (b"text", b"spreadsheet", b"presentation")],
    "XMP": [b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">',
            b"\xef\xbb\xbf\r\n  <x:xmpmeta xmlns:x='adobe:ns:meta/'>", b"<rdf:RDF xmlns:rdf='...'>",
            b"<?xml version='1.0'?>\n<x:xapmeta xmlns:x='adobe:ns:meta/'>"],
}


def headers(f: formats.Format) -> list[bytes]:
    return [m + b"\0" * 24 for m in f.magic] + HEADERS.get(f.name, [])


def test_the_names_are_what_sniff_and_pupil_image_have_always_said():
    names = [f.name for f in FORMATS]
    assert len(names) == len(set(names))
    assert set(names) >= {"JPEG", "PNG", "GIF", "WEBP", "TIFF", "RAF", "CRW", "JXL", "JXL codestream", "HEIF",
                          "AVIF", "CR3", "MP4", "MOV", "EXIF", "XMP", "WebM"}


@pytest.mark.parametrize("f", FORMATS, ids=lambda f: f.name)
def test_entry_is_consistent(f):
    assert f.kind in (PICTURE, VIDEO, METADATA, DOCUMENT)
    assert f.suffixes and len(set(f.suffixes)) == len(f.suffixes)
    for suffix in f.suffixes:
        assert suffix.startswith(".") and suffix == suffix.lower() and suffix[1:].isalnum(), suffix
    assert (f.walker is None) == bool(f.no_walker), "a walker, or the reason there is none"
    assert f.kind != METADATA or f.walker, "metadata with no walker is never read"
    assert not f.decoded or f.kind in (PICTURE, VIDEO)
    assert not (f.magic and f.pattern)
    assert f.magic or f.pattern, "a format with no test is never recognised"
    assert headers(f), f"give {f.name} a minimal header in HEADERS"
    for opening in f.base64:  # how one of its headers starts, in base64
        assert len(opening) == 4 and any(h.startswith(base64.b64decode(opening)) for h in headers(f)), opening


@pytest.mark.parametrize("f", FORMATS, ids=lambda f: f.name)
def test_sniff_knows_a_minimal_header(f):
    for header in headers(f):
        if f.sniffed:
            assert media.sniff(header) == f.name, header
        else:
            assert media.sniff(header) is None and formats.sniff_unsniffed(header) == f.name, header


@pytest.mark.parametrize("data, expected", [
    (b"\0\0\0\x18ftypzzzz", "MP4"),  # an unknown brand is MP4, as it always was
    (b"\0\0\0\x08ftyp", "MP4"),  # and so is no brand at all
    (b"\0\0\0\x07moov", None),  # an atom shorter than its own header
    (b"\0\0\0\x08junk", None),  # not a QuickTime atom
    (b"\0\0\0\0\0\0\0\x18ftypheic", None),  # ftyp, but not where the file starts
    (b"RIFF\0\0\0\0WAVEfmt ", None),
    (b"II\x1a\0\0\0HEAPJUNK", None),
    (b"\xff\xd8", None),
    (b"Exif\0", None),
    (b"<?xml version='1.0'?><svg/>", None),  # XML that is not XMP
    (b" " * 64 + b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>", None),  # XMP starts within the first 64 bytes
    (b"\x1a\x45\xdf\xa3\x01\0\0\0", None),  # WebM: not sniffed (formats.py says why)
    (b"", None),
])
def test_sniff_near_misses(data, expected):
    assert media.sniff(data) == expected


def test_every_format_with_a_walker_has_a_walker_test():
    tested = set()
    for module in pkgutil.iter_modules(__import__("tests.rules.media", fromlist=["x"]).__path__):
        if module.name.startswith("test_") and module.name != "test_formats":
            # a test of something other than one walker (test_pixels) names no formats
            tested |= set(getattr(importlib.import_module(f"tests.rules.media.{module.name}"), "FORMATS", ()))
    assert {f.name for f in FORMATS if f.walker} <= tested


def test_inspect_runs_the_tables_walkers(monkeypatch):
    seen = []
    monkeypatch.setitem(formats.WALKERS, "GIF", lambda data, start, end, report: seen.append((start, end)))
    assert media.inspect(b"GIF89a" + b"\0" * 10).format == "GIF" and seen == [(0, 16)]


def test_pupil_image_kinds_come_from_the_table():
    from rules.detectors import pupil_image
    assert pupil_image.PICTURES == {f.name for f in FORMATS if f.kind == PICTURE and f.decoded}
    assert pupil_image.VIDEOS == {f.name for f in FORMATS if f.kind == VIDEO and f.decoded}
    assert "WebM" in pupil_image.VIDEOS and {"CR3", "RAF", "JXL"}.isdisjoint(pupil_image.PICTURES)


def test_pupil_image_hands_webm_to_the_frame_decoder_and_skips_what_it_cannot_decode():
    from rules.detectors.pupil_image import PupilImageDetector
    detector = PupilImageDetector(parse_config({}))
    kinds = []
    detector.assess = lambda data, report, kind: kinds.append(kind) or []
    files = [Attachment("clip.webm", b"\x1a\x45\xdf\xa3" + b"\0" * 60), Attachment("photo.raf", b"FUJIFILMCCD-RAW "),
             Attachment("notes.txt", b"hello"), Attachment("photo.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 60)]
    assert list(detector.check(Submission(files=files), {"pupil.image"})) == []
    assert kinds == ["WebM", "JPEG"]


def test_cli_suffixes_come_from_the_table(tmp_path):
    from local_service import cli
    engine = Engine()
    promised = {s for f in FORMATS if f.sniffed and f.kind in (PICTURE, VIDEO) for s in f.suffixes}
    assert promised == formats.MEDIA_SUFFIXES
    others = {s for f in FORMATS for s in f.suffixes} - promised  # metadata, and WebM, which sniff() never names
    assert {".xmp", ".webm"} <= others
    for suffix in sorted(promised | others):
        path = tmp_path / f"notes{suffix}"
        path.write_bytes(b"not a picture at all\n")
        error = cli.scan_one(engine, path)["error"]
        assert (error is not None and "not a recognised" in error) == (suffix in promised), suffix


def test_extract_openings_come_from_the_table():
    from proxy_addon import extract
    assert extract.BASE64_OPENINGS == {o for f in FORMATS for o in f.base64}
    for f in FORMATS:
        for header in headers(f):
            text = base64.b64encode(header + b"\0" * 90).decode()
            taken = extract._base64_media(text) is not None
            assert taken == (text[:4] in extract.BASE64_OPENINGS), (f.name, header)
    assert extract._base64_media(base64.b64encode(b"\xff\xd8\xff" + b"\0" * 90).decode()) is not None
    assert extract._base64_media(base64.b64encode(b"ABC" + b"\0" * 90).decode()) is None
