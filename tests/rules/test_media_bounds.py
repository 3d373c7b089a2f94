"""Hostile metadata: every walker works in bounded time and memory, and what is over budget is an error on the report
(never "nothing found"). Each bound is asserted by counting work or by a wall-clock ceiling far above normal (the old
code took from 8 s to over a minute on these inputs; the new one takes milliseconds)."""
from __future__ import annotations

import struct
import time
import zlib

import pytest

from rules import media
from rules.media import isobmff, png, xmp

CEILING = 1.5  # seconds: far above what these take (milliseconds), far below what the old code took

RDF_OPEN = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/"')
RDF_CLOSE = b"</rdf:RDF></x:xmpmeta>"


def packet(body: bytes) -> bytes:
    return b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>' + body + b'<?xpacket end="w"?>'


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


# --- XMP ------------------------------------------------------------------------------------------------------------

def _xmp_cases(n: int) -> dict[str, tuple[bytes, int | None]]:
    """Packets padded with n spaces where a value can be padded, and how many coordinates each holds (None: a GPS
    value too long to be one, which is an error on the report, never "nothing found")."""
    pad = b" " * n
    attrs = lambda lat, lon: RDF_OPEN + b" exif:GPSLatitude=" + lat + b" exif:GPSLongitude=" + lon + b"/>" + RDF_CLOSE
    elems = lambda lat, lon: (RDF_OPEN + b"><exif:GPSLatitude>" + lat + b"</exif:GPSLatitude><exif:GPSLongitude>"
                              + lon + b"</exif:GPSLongitude></rdf:Description>" + RDF_CLOSE)
    return {
        # inside a value, before a character that is no coordinate: the old _DMS backtracked quadratically
        "attribute value, padded inside": (attrs(b'"1' + pad + b'x"', b'"2' + pad + b'x"'), None),
        "element text, padded inside": (elems(b"1" + pad + b"x", b"2" + pad + b"x"), None),
        # padded at both ends: still read
        "attribute value, padded around": (attrs(b'"' + pad + b"54,59.38N" + pad + b'"', b'"1.5W' + pad + b'"'), 1),
        "element text, padded around": (elems(pad + b"54.1" + pad, pad + b"-1.9" + pad), 1),
        "around '='": (RDF_OPEN + b" exif:GPSLatitude" + pad + b"=" + pad + b'"54.1" exif:GPSLongitude' + pad + b"="
                       + pad + b'"-1.9"/>' + RDF_CLOSE, 1),
        "between attributes": (RDF_OPEN + pad + b'exif:GPSLatitude="54.1"' + pad + b'exif:GPSLongitude="-1.9"' + pad
                               + b"/>" + RDF_CLOSE, 1),
    }


@pytest.mark.parametrize("n", [32_000, 200_000])
def test_xmp_padded_with_spaces_is_linear(n):
    for name, (body, coordinates) in _xmp_cases(n).items():
        report, took = timed(media.inspect, packet(body))
        assert took < CEILING, (name, took)  # 32k spaces inside a value: 11 s before
        if coordinates is None:
            assert report.errors and "longer than" in report.errors[0], name
            assert not report.coordinates, name
        else:
            assert not report.errors, name
            assert len(report.coordinates) == coordinates, name


def test_xmp_values_the_regexes_see_are_bounded():
    assert xmp.parse_value(" " * 100_000 + "54,59.38N" + " " * 100_000) == pytest.approx(54 + 59.38 / 60)
    assert xmp.parse_value("1" + " " * 1000 + "N") is None  # longer than any coordinate: not matched at all
    assert xmp.parse_value("54.5 s") == -54.5


def test_xmp_deeply_nested_is_an_error_not_a_minute():
    """30,000 nested elements: the stack scans made this quadratic (64 s for 210 KB)."""
    body = RDF_OPEN + b' exif:GPSLatitude="1" exif:GPSLongitude="2">' + b"<a>" * 30_000 + b"</a>" * 30_000 \
        + b"</rdf:Description>" + RDF_CLOSE
    report, took = timed(media.inspect, packet(body))
    assert took < CEILING
    assert report.errors and "nested" in report.errors[0]
    with pytest.raises(media.StripError):
        media.strip(packet(body), report)


def test_xmp_nesting_below_the_limit_is_read_in_linear_time():
    depth = xmp.MAX_DEPTH - 10
    body = RDF_OPEN + b' exif:GPSLatitude="54.1" exif:GPSLongitude="-1.9">' + b"<a>" * depth + b"</a>" * depth \
        + b"</rdf:Description>" + RDF_CLOSE
    report, took = timed(media.inspect, packet(body))
    assert took < CEILING and not report.errors and len(report.coordinates) == 1


def test_xmp_entity_declarations_are_refused():
    body = (b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' + RDF_OPEN
            + b' exif:GPSLatitude="&b;" exif:GPSLongitude="2"/>' + RDF_CLOSE)
    report = media.inspect(packet(body))
    assert report.errors and "entity" in report.errors[0]


def test_xmp_packet_over_budget_is_an_error():
    report = media.MediaReport()
    data = b" " * (xmp.MAX_PACKET + 1)
    xmp.parse(data, 0, len(data), report)
    assert report.errors and "larger than" in report.errors[0]


# --- PNG ------------------------------------------------------------------------------------------------------------

def _chunk(ctype: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def _png(chunks: list[bytes]) -> bytes:
    from tests.rules.test_location import jpeg_with_gps
    base = jpeg_with_gps(None, fmt="PNG")
    iend = base.rindex(b"IEND") - 4
    return base[:iend] + b"".join(chunks) + base[iend:]


def _ztxt(text: bytes) -> bytes:
    return _chunk(b"zTXt", b"Raw profile type exif\0\0" + zlib.compress(text, 9))


def test_png_twenty_chunks_under_the_old_per_chunk_limit():
    """Each inflates to just under the old 16 MB per-chunk limit: 7 s before, and nothing said."""
    text = b"\nexif\n%8d\n" % (8 << 20) + b"0" * ((16 << 20) - 40)
    data = _png([_ztxt(text)] * 20)
    report, took = timed(media.inspect, data)
    assert took < CEILING
    assert report.errors and "inflates" in report.errors[0]
    with pytest.raises(media.StripError):
        media.strip(data, report)


def test_png_inflate_budget_is_per_file():
    """1 MB chunks (under the ratio floor): 16 fit the per-file budget, the 17th is an error."""
    text = b"\nexif\n%8d\n" % (1 << 19) + b"0" * ((1 << 20) - 32)
    report = media.inspect(_png([_ztxt(text)] * 16))
    assert not any("limit" in e for e in report.errors), report.errors
    report = media.inspect(_png([_ztxt(text)] * 17))
    assert any("over the limit of %d" % png.MAX_INFLATED in e for e in report.errors), report.errors


def test_png_compressed_profile_with_gps_is_still_read():
    from tests.rules.media.test_png import raw_profile
    from tests.rules.test_location import SHEFFIELD, exif_blob, gps_ifd
    data = _png([_ztxt(raw_profile(exif_blob(gps_ifd(*SHEFFIELD))))])
    report = media.inspect(data)
    assert not report.errors and report.real_coordinates
    assert not media.inspect(media.strip(data, report)).real_coordinates


def test_png_raw_profile_header_is_linear():
    text = b"\n" * 200_000 + b"x"
    _, took = timed(png.RAW_PROFILE.match, text)  # the old pattern: 1.6 s for 8,000 line breaks
    assert took < CEILING
    m = png.RAW_PROFILE.match(b"\nexif\n     120\nabcdef")
    assert m.group(1) == b"exif" and m.group(2) == b"120"


# --- HEIF iloc ------------------------------------------------------------------------------------------------------

def _heif(iloc_payload: bytes, mdat: bytes = b"", version: int = 0) -> bytes:
    from tests.rules.media.test_isobmff import box, ftyp, full_box
    hdlr = full_box(b"hdlr", b"\0\0\0\0pict" + b"\0" * 13)
    iinf = full_box(b"iinf", struct.pack(">H", 1) + full_box(b"infe", struct.pack(">HH4s", 1, 0, b"Exif") + b"\0", 2))
    return ftyp(b"heic") + full_box(b"meta", hdlr + iinf + full_box(b"iloc", iloc_payload, version)) \
        + box(b"mdat", mdat)


def test_heif_iloc_claiming_65535_items_of_65535_extents():
    """Zero-byte-wide fields: each extent costs no bytes, so 1.3 KB claimed 4e9 extents (9 s, 1 GB before)."""
    entry = struct.pack(">HHH", 1, 0, 65535)  # item 1, data reference 0, 65535 extents (offset/length 0 bytes)
    data = _heif(bytes([0x00, 0x00]) + struct.pack(">H", 65535) + entry * 200)
    report, took = timed(media.inspect, data)
    assert took < CEILING
    assert report.errors and "iloc" in report.errors[0]
    with pytest.raises(media.StripError):
        media.strip(data, report)


def test_heif_iloc_item_and_extent_counts_are_bounded():
    from rules.media.boxes import Box
    payload = bytes([0x00, 0x00]) + struct.pack(">H", isobmff.MAX_ITEMS + 1)
    raw = b"\0\0\0\0iloc" + b"\0\0\0\0" + payload
    with pytest.raises(ValueError, match="items"):
        isobmff._iloc(raw, Box(b"iloc", 0, 8, len(raw)))
    # many items of a few extents each, adding up past the total
    per = isobmff.MAX_ITEM_EXTENTS
    n = isobmff.MAX_EXTENTS // per + 1
    payload = bytes([0x00, 0x00]) + struct.pack(">H", n) + struct.pack(">HHH", 1, 0, per) * n
    raw = b"\0\0\0\0iloc" + b"\0\0\0\0" + payload
    with pytest.raises(ValueError, match="extents"):
        isobmff._iloc(raw, Box(b"iloc", 0, 8, len(raw)))


def test_heif_item_whose_extents_each_cover_the_whole_file():
    """1,000 extents of 4-byte offset 0 and length 4 GB: the old code joined 1,000 copies of the file."""
    mdat = b"\0" * 100_000
    extents = struct.pack(">II", 0, 0xFFFFFFFF) * 1000
    data = _heif(bytes([0x44, 0x00]) + struct.pack(">HHHH", 1, 1, 0, 1000) + extents, mdat)
    report, took = timed(media.inspect, data)
    assert took < CEILING
    assert any("more than the file" in e for e in report.errors), report.errors


def test_heif_item_over_the_size_limit_is_not_read():
    mdat = b"\0" * (isobmff.MAX_ITEM_BYTES + 16)
    data = _heif(bytes([0x44, 0x00]) + struct.pack(">HHHHII", 1, 1, 0, 1, 0, len(mdat)), mdat)
    report = media.inspect(data)
    assert any("larger than PostGuard reads" in e for e in report.errors), report.errors


def test_heif_item_budget_is_per_file_not_per_meta_box():
    """500 meta boxes, each an Exif item of two 2 MB extents over the same bytes: each meta had its own budget, so
    the old code copied and walked 2 GB; one budget per file stops after 32 MB and says so."""
    from tests.rules.media.test_isobmff import box, ftyp, full_box
    half = 2 << 20
    hdlr = full_box(b"hdlr", b"\0\0\0\0pict" + b"\0" * 13)
    iinf = full_box(b"iinf", struct.pack(">H", 1) + full_box(b"infe", struct.pack(">HH4s", 1, 0, b"Exif") + b"\0", 2))

    def meta(at: int) -> bytes:
        iloc = full_box(b"iloc", bytes([0x44, 0x00]) + struct.pack(">HHHHIIII", 1, 1, 0, 2, at, half, at + half, half))
        return full_box(b"meta", hdlr + iinf + iloc)

    at = len(ftyp(b"heic") + meta(0) * 500) + 8  # the mdat's body
    data = ftyp(b"heic") + meta(at) * 500 + box(b"mdat", b"\0" * (2 * half))
    report, took = timed(media.inspect, data)
    assert took < CEILING
    assert any("over the limit of %d" % isobmff.MAX_ITEMS_BYTES in e for e in report.errors), report.errors


def test_heif_extent_budget_is_per_file_not_per_iloc():
    """300 meta boxes, each an iloc of 20 items x 1,000 zero-width extents (120 bytes, under each iloc's own bounds):
    6 million extents for 60 KB before; the file's extent budget stops at 20,000 and says so."""
    from tests.rules.media.test_isobmff import box, ftyp, full_box
    hdlr = full_box(b"hdlr", b"\0\0\0\0pict" + b"\0" * 13)
    iloc = full_box(b"iloc", bytes([0x00, 0x00]) + struct.pack(">H", 20) + struct.pack(">HHH", 1, 0, 1000) * 20)
    data = ftyp(b"heic") + full_box(b"meta", hdlr + iloc) * 300 + box(b"mdat", b"")
    report, took = timed(media.inspect, data)
    assert took < CEILING
    assert any("iloc extents: over the limit of %d" % isobmff.MAX_EXTENTS in e for e in report.errors), report.errors
