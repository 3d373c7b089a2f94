"""location.gps and location.place on generated files: the near misses as much as the hits."""
import io
import struct

import pytest

from rules import Attachment, Engine, Submission, media
from rules.config import parse_config

Image = pytest.importorskip("PIL.Image")

SHEFFIELD = (53.3828472, -1.4566778)


def jpeg_with_gps(gps: dict | None, size=(64, 48), fmt="JPEG") -> bytes:
    im = Image.new("RGB", size, (120, 160, 200))
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPad (9th generation)"
    if gps is not None:
        exif.get_ifd(0x8825).update(gps)
    buf = io.BytesIO()
    im.save(buf, fmt, exif=exif)
    return buf.getvalue()


def dms(value: float) -> tuple:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    return (float(d), float(m), round((value - d - m / 60) * 3600, 4))


def gps_ifd(lat: float, lon: float) -> dict:
    return {0: b"\x02\x02\x00\x00", 1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W",
            4: dms(lon)}


def findings(data: bytes, config=None, name="photo.jpg"):
    verdict = Engine(config).evaluate(Submission(files=[Attachment(name, data)]))
    assert not verdict.errors
    return verdict


def exif_blob(gps: dict) -> bytes:
    """A bare EXIF block ("Exif\\0\\0" + TIFF), as some tools write next to a photo. (Pillow's TIFF writer drops
    the GPS IFD, so real TIFFs with GPS come from the corpus tests.)"""
    exif = Image.Exif()
    exif.get_ifd(0x8825).update(gps)
    return exif.tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "EXIF"])
def test_gps_in_generated_file_is_found_with_its_place(fmt):
    data = exif_blob(gps_ifd(*SHEFFIELD)) if fmt == "EXIF" else jpeg_with_gps(gps_ifd(*SHEFFIELD), fmt=fmt)
    verdict = findings(data)
    gps = [f for f in verdict.findings if f.rule == "location.gps"]
    assert len(gps) == 1
    ev = gps[0].evidence
    assert abs(ev["lat"] - SHEFFIELD[0]) < 1e-4 and abs(ev["lon"] - SHEFFIELD[1]) < 1e-4
    assert ev["source"].startswith("EXIF")
    assert ev["nearest_town"]["country"] == "United Kingdom"
    assert ev["nearest_town"]["distance_km"] < 10
    assert "Sheffield" in gps[0].message or ev["nearest_town"]["name"] in gps[0].message
    assert verdict.decision in ("sanitise", "warn", "block")


@pytest.mark.parametrize("gps,why", [
    ({0: b"\x02\x02\x00\x00", 1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}, "zero placeholder"),
    ({0: b"\x02\x02\x00\x00"}, "empty GPS block: version only"),
    ({0: b"\x02\x02\x00\x00", 1: "N", 2: (53.0, 22.0, 58.0)}, "latitude without longitude"),
    ({0: b"\x02\x02\x00\x00", 1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (10.0, 0.0, 0.0)}, "latitude out of range"),
    ({0: b"\x02\x02\x00\x00", 1: "N", 2: (50.0, 0.0, 0.0), 3: "E", 4: (190.0, 0.0, 0.0)}, "longitude out of range"),
    ({6: 120.5, 5: b"\x00"}, "altitude only"),
])
def test_placeholders_and_empty_blocks_are_not_a_location(gps, why):
    verdict = findings(jpeg_with_gps(gps))
    assert [f for f in verdict.findings if f.rule == "location.gps"] == [], why


def test_southern_and_western_refs_give_signed_coordinates():
    data = jpeg_with_gps(gps_ifd(-33.8568, -70.6483))
    ev = findings(data).findings[0].evidence
    assert ev["lat"] < 0 and ev["lon"] < 0


def test_taken_on_the_school_site_says_so():
    config = parse_config({"school": {"name": "Test School", "sites": [
        {"name": "Main site", "lat": SHEFFIELD[0] + 0.001, "lon": SHEFFIELD[1], "radius_m": 300}]}})
    gps = findings(jpeg_with_gps(gps_ifd(*SHEFFIELD)), config).findings[0]
    assert gps.evidence["school_site"] == {"name": "Main site", "distance_m": 111, "on_site": True}
    assert "school site" in gps.message


def test_far_from_the_school_site_is_not_on_site():
    config = parse_config({"school": {"sites": [{"name": "Main", "lat": 54.5705, "lon": -1.3187, "radius_m": 300}]}})
    gps = findings(jpeg_with_gps(gps_ifd(*SHEFFIELD)), config).findings[0]
    assert gps.evidence["school_site"]["on_site"] is False
    assert gps.evidence["school_site"]["distance_m"] > 100_000
    assert "school site" not in gps.message


def xmp(body: str) -> bytes:
    return (f'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">{body}</rdf:RDF></x:xmpmeta>'
            f'<?xpacket end="w"?>').encode()


EXIF_NS = 'xmlns:exif="http://ns.adobe.com/exif/1.0/"'


@pytest.mark.parametrize("body,expected", [
    (f'<rdf:Description {EXIF_NS} exif:GPSLatitude="53,22.97083N" exif:GPSLongitude="1,27.40067W"/>',
     (53.38285, -1.45668)),
    (f'<rdf:Description {EXIF_NS}><exif:GPSLatitude>53,22,58.25N</exif:GPSLatitude>'
     f'<exif:GPSLongitude>1,27,24.04W</exif:GPSLongitude></rdf:Description>', (53.38285, -1.45668)),
    ('<rdf:Description xmlns:e="http://ns.adobe.com/exif/1.0/" e:GPSLatitude="53,22.97083N" '
     'e:GPSLongitude="1,27.40067W"/>', (53.38285, -1.45668)),
    ('<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:GpsLatitude="+53.38285" '
     'drone-dji:GpsLongtitude="-1.45668"/>', (53.38285, -1.45668)),
    (f'<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" {EXIF_NS}>'
     '<Iptc4xmpExt:LocationShown><rdf:Bag><rdf:li rdf:parseType="Resource"><Iptc4xmpExt:City>Sheffield'
     '</Iptc4xmpExt:City><exif:GPSLatitude>53,22.97083N</exif:GPSLatitude><exif:GPSLongitude>1,27.40067W'
     '</exif:GPSLongitude></rdf:li></rdf:Bag></Iptc4xmpExt:LocationShown></rdf:Description>',
     (53.38285, -1.45668)),
    (f'<rdf:Description {EXIF_NS} exif:GPSVersionID="2.2.0.0" exif:GPSAltitude="120/1"/>', None),
    (f'<rdf:Description {EXIF_NS} exif:GPSLatitude="53,22.97083N"/>', None),
    (f'<rdf:Description {EXIF_NS} exif:DateTimeOriginal="2024-05-01T10:00:00"/>', None),
])
def test_xmp_forms(body, expected):
    packet = xmp(body)
    report = media.inspect(packet)
    assert report.format == "XMP"
    coords = [(round(c.lat, 5), round(c.lon, 5)) for c in report.real_coordinates]
    if expected is None:
        assert coords == []
        return
    assert coords and all(abs(a - b) < 1e-4 for a, b in zip(coords[0], expected))
    cleaned = media.strip(packet)
    assert len(cleaned) == len(packet)
    assert media.inspect(cleaned).real_coordinates == []
    from xml.dom import minidom
    minidom.parseString(cleaned.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])  # still well-formed


def test_place_names_in_xmp_are_a_place_finding():
    packet = xmp('<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="Whitby"/>')
    verdict = findings(packet, name="photo.xmp")
    place = [f for f in verdict.findings if f.rule == "location.place"]
    assert place and "Whitby" in place[0].message
    assert [f for f in verdict.findings if f.rule == "location.gps"] == []


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def test_mp4_xyz_and_loci_are_found_and_freed():
    xyz = box(b"\xa9xyz", struct.pack(">HH", 18, 0x15c7) + b"+53.3828-001.4567/")
    loci = box(b"loci", b"\0\0\0\0" + b"\x15\xc7" + b"Park\0" + b"\0" +
               struct.pack(">iii", int(-1.4567 * 65536), int(53.3828 * 65536), 0) + b"Earth\0\0")
    moov = box(b"moov", box(b"mvhd", b"\0" * 100) + box(b"udta", xyz + loci))
    data = box(b"ftyp", b"isom\0\0\0\0isom") + moov + box(b"mdat", b"\0" * 64)
    report = media.inspect(data)
    assert {c.source for c in report.real_coordinates} == {"QuickTime UserData ©xyz", "3GPP loci"}
    assert all(abs(c.lat - 53.3828) < 1e-3 for c in report.real_coordinates)
    cleaned = media.strip(data)
    assert len(cleaned) == len(data) and cleaned.count(b"free") == 2
    assert media.inspect(cleaned).real_coordinates == []


def test_strip_leaves_pixels_and_other_metadata():
    data = jpeg_with_gps(gps_ifd(*SHEFFIELD), size=(320, 240))
    cleaned = media.strip(data)
    assert len(cleaned) == len(data)
    with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(cleaned)) as b:
        assert a.tobytes() == b.tobytes()
        exif = b.getexif()
        assert exif[0x0110] == "iPad (9th generation)"
        assert dict(exif.get_ifd(0x8825)) in ({0: b"\x02\x02\x00\x00"}, {})


def test_strip_without_location_returns_the_same_bytes():
    data = jpeg_with_gps(None)
    assert media.strip(data) == data


def multi_picture(primary: bytes, second: bytes) -> bytes:
    """A Multi-Picture Format file (as phones write for gain and depth maps): an MPF index in the primary's APP2."""
    def mpf(offset: int) -> bytes:
        entries = struct.pack(">IIIHH", 0x20030000, 0, 0, 0, 0) + struct.pack(">IIIHH", 0, len(second), offset, 0, 0)
        ifd = struct.pack(">H", 3) + struct.pack(">HHI4s", 0xB000, 7, 4, b"0100") + \
            struct.pack(">HHII", 0xB001, 4, 1, 2) + struct.pack(">HHII", 0xB002, 7, 32, 8 + 2 + 36 + 4) + b"\0" * 4
        body = b"MPF\0" + b"MM\0*" + struct.pack(">I", 8) + ifd + entries
        return b"\xff\xe2" + struct.pack(">H", len(body) + 2) + body

    head_len = len(mpf(0))
    total_primary = len(primary) + head_len
    return primary[:2] + mpf(total_primary - 10) + primary[2:] + second


def test_gps_in_a_secondary_multi_picture_image_is_found_and_removed():
    data = multi_picture(jpeg_with_gps(None), jpeg_with_gps(gps_ifd(*SHEFFIELD)))
    report = media.inspect(data)
    assert len(report.real_coordinates) == 1
    cleaned = media.strip(data)
    assert len(cleaned) == len(data) and media.inspect(cleaned).real_coordinates == []


def test_jpeg_xl_container_exif_and_xmp_boxes():
    exif = exif_blob(gps_ifd(*SHEFFIELD))[6:]  # TIFF without the "Exif\0\0" header
    packet = xmp(f'<rdf:Description {EXIF_NS} exif:GPSLatitude="53,22.97083N" exif:GPSLongitude="1,27.40067W"/>')
    data = (b"\0\0\0\x0cJXL \r\n\x87\n" + box(b"ftyp", b"jxl \0\0\0\0jxl ") + box(b"Exif", b"\0\0\0\0" + exif)
            + box(b"xml ", packet) + box(b"jxlc", b"\xff\x0a" + b"\0" * 32))
    report = media.inspect(data)
    assert report.format == "JXL"
    assert {c.source for c in report.real_coordinates} == {"EXIF (JPEG XL) GPS", "XMP (JPEG XL) exif:GPSLatitude"}
    cleaned = media.strip(data)
    assert len(cleaned) == len(data) and media.inspect(cleaned).real_coordinates == []


def test_gif_xmp_application_extension():
    im = Image.new("P", (8, 8))
    buf = io.BytesIO()
    im.save(buf, "GIF")
    gif = buf.getvalue()
    packet = xmp(f'<rdf:Description {EXIF_NS} exif:GPSLatitude="53,22.97083N" exif:GPSLongitude="1,27.40067W"/>')
    trailer = bytes([1]) + bytes(range(255, -1, -1)) + b"\0"
    ext = b"\x21\xff\x0bXMP DataXMP" + packet + trailer
    data = gif[:-1] + ext + gif[-1:]  # before the trailer byte ';'
    assert media.inspect(data).real_coordinates
    cleaned = media.strip(data)
    with Image.open(io.BytesIO(cleaned)) as a, Image.open(io.BytesIO(data)) as b:
        assert a.tobytes() == b.tobytes()
    assert media.inspect(cleaned).real_coordinates == []
