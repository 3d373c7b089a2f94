"""Location in vendor segments, trailers, maker notes and content credentials (docs/location-sources.md): each built
byte by byte as the phone or camera lays it out (after ExifTool's tag tables), found, blanked in place, and each with a
near miss that must not be a location."""
import json
import struct
import zlib

import pytest

from rules import media
from rules.media import jumbf
from tests.rules.test_location import SHEFFIELD, box, exif_blob, gps_ifd, jpeg_with_gps

from .checks import found_and_stripped, no_location
from .test_isobmff import ISO6709, ZERO, mp4
from .test_png import chunk

FORMATS = ("JPEG", "PNG", "MP4", "WEBP", "JXL", "HEIF", "WebM")  # and MOV, AVIF through the same walkers

LAT, LON = SHEFFIELD


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def plain_jpeg() -> bytes:
    return jpeg_with_gps(None)


# ---------------------------------------------------------------- Photoshop APP13: the EXIF and XMP resource blocks

def irb(rid: int, payload: bytes) -> bytes:
    return b"8BIM" + struct.pack(">H", rid) + b"\0\0" + struct.pack(">I", len(payload)) + payload + b"\0" * (
        len(payload) & 1)


def test_gps_in_photoshops_exif_resource_is_found_and_blanked():
    app13 = segment(0xED, b"Photoshop 3.0\0" + irb(0x0422, exif_blob(gps_ifd(LAT, LON))[6:]))
    found_and_stripped(after_soi(plain_jpeg(), app13), "JPEG", pixels=True)


def test_zero_gps_in_photoshops_exif_resource_is_not_a_location():
    app13 = segment(0xED, b"Photoshop 3.0\0" + irb(0x0422, exif_blob(ZERO)[6:]))
    no_location(after_soi(plain_jpeg(), app13), "JPEG")


def test_xmp_in_photoshops_resource_is_read():
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="53,22.97083N" '
              b'exif:GPSLongitude="1,27.40067W"/></rdf:RDF></x:xmpmeta>')
    app13 = segment(0xED, b"Photoshop 3.0\0" + irb(0x0424, packet))
    found_and_stripped(after_soi(plain_jpeg(), app13), "JPEG", pixels=True)


# ---------------------------------------------------------------- GoPro GPMF: APP6 in its photos, udta in its videos

def klv(key: bytes, typ: str, size: int, repeat: int, payload: bytes) -> bytes:
    pad = b"\0" * (-len(payload) % 4)
    return key + bytes([ord(typ) if typ else 0, size]) + struct.pack(">H", repeat) + payload + pad


def nest(key: bytes, *items: bytes) -> bytes:
    body = b"".join(items)
    return klv(key, "", 1, len(body), body)


def gopro_gps(lat: float, lon: float) -> bytes:
    """DEVC > STRM > SCAL, GPS5 (latitude, longitude, altitude, 2D and 3D speed), as a HERO writes it."""
    scal = klv(b"SCAL", "l", 4, 5, struct.pack(">5i", 10_000_000, 10_000_000, 1000, 1000, 100))
    gps5 = klv(b"GPS5", "l", 20, 1, struct.pack(">5i", round(lat * 1e7), round(lon * 1e7), 120_000, 0, 0))
    return nest(b"DEVC", klv(b"DVID", "L", 4, 1, struct.pack(">I", 1)), nest(b"STRM", scal, gps5))


def test_gps_in_gopros_app6_is_found_and_blanked():
    found_and_stripped(after_soi(plain_jpeg(), segment(0xE6, b"GoPro\0" + gopro_gps(LAT, LON))), "JPEG",
                       pixels=True)


def test_gps_in_gopros_udta_gpmf_box_is_found_and_blanked():
    found_and_stripped(mp4(box(b"GPMF", gopro_gps(LAT, LON))), "MP4")


def test_gopro_app6_without_a_fix_is_not_a_location():
    no_location(after_soi(plain_jpeg(), segment(0xE6, b"GoPro\0" + gopro_gps(0, 0))), "JPEG")


# ---------------------------------------------------------------- trailers: Samsung SEFT, motion photos

def seft(*blocks: tuple[int, bytes, bytes]) -> bytes:
    """Samsung's trailer: the blocks, the SEFH directory (each entry: type, distance back from the directory, size),
    the directory's length and "SEFT"."""
    out, entries = b"", []
    for kind, name, payload in blocks:
        block = b"\0\0" + struct.pack("<HI", kind, len(name)) + name + payload
        entries.append((kind, len(out), len(block)))
        out += block
    directory_at = len(out)
    directory = b"SEFH" + struct.pack("<II", 101, len(entries)) + b"".join(
        b"\0\0" + struct.pack("<HII", kind, directory_at - at, size) for kind, at, size in entries)
    return out + directory + struct.pack("<I", len(directory)) + b"SEFT"


def test_gps_in_a_samsung_trailer_picture_is_found_and_blanked():
    data = plain_jpeg() + seft((0x0001, b"DualShot_1", jpeg_with_gps(gps_ifd(LAT, LON))))
    found_and_stripped(data, "JPEG", pixels=True)


def test_gps_in_a_samsung_motion_photo_video_is_found_and_freed():
    video = mp4(box(b"\xa9xyz", struct.pack(">HH", len(ISO6709), 0x15c7) + ISO6709))
    found_and_stripped(plain_jpeg() + seft((0x0a30, b"MotionPhoto_Data", video)), "JPEG", pixels=True)


def test_samsung_network_country_is_a_place_and_is_blanked():
    data = plain_jpeg() + seft((0x0aa1, b"MCC_Data", b"234"), (0x0a01, b"Image_UTC_Data", b"1700000000000"))
    report = media.inspect(data)
    assert [(p.field, p.value) for p in report.places] == [("Samsung trailer MCCData", "234")]
    cleaned = media.strip(data)
    assert len(cleaned) == len(data) and media.inspect(cleaned).places == []
    assert b"Image_UTC_Data1700000000000" in cleaned  # the rest of the trailer is left as it was


def test_samsung_trailer_without_location_is_not_a_location():
    no_location(plain_jpeg() + seft((0x0a01, b"Image_UTC_Data", b"1700000000000"),
                                    (0x0001, b"DualShot_1", jpeg_with_gps(ZERO))), "JPEG")


def test_samsung_trailer_whose_directory_points_outside_it_is_an_error():
    trailer = bytearray(seft((0x0001, b"DualShot_1", jpeg_with_gps(gps_ifd(LAT, LON)))))
    entry = trailer.index(b"SEFH") + 12
    trailer[entry + 4:entry + 8] = struct.pack("<I", 10_000_000)  # far past the file's start
    report = media.inspect(plain_jpeg() + bytes(trailer))
    assert report.errors and report.real_coordinates == []
    with pytest.raises(media.StripError):
        media.strip(plain_jpeg() + bytes(trailer))


def motion_photo(video: bytes, element: bool = False) -> bytes:
    """Google's Motion Photo: the XMP names the video's length (GCamera:MicroVideoOffset, from the end of the file),
    and the MP4 follows the picture's EOI."""
    value = b"<GCamera:MicroVideoOffset>%d</GCamera:MicroVideoOffset>" % len(video) if element else \
        b'GCamera:MicroVideoOffset="%d"' % len(video)
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" GCamera:MotionPhoto="1" ' +
              (b"" if element else value) + b">" + (value if element else b"") +
              b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    return after_soi(plain_jpeg(), segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + packet)) + video


@pytest.mark.parametrize("element", [False, True])
def test_gps_in_a_google_motion_photos_video_is_found_and_freed(element):
    video = mp4(box(b"\xa9xyz", struct.pack(">HH", len(ISO6709), 0x15c7) + ISO6709))
    found_and_stripped(motion_photo(video, element), "JPEG", pixels=True)


@pytest.mark.parametrize("data, why", [
    (motion_photo(mp4(b"")), "a motion photo whose video has no location"),
    (motion_photo(mp4(box(b"\xa9xyz", struct.pack(">HH", 18, 0x15c7) + b"+00.0000+000.0000/"))), "a video at (0, 0)"),
    (motion_photo(b"\0" * 4 + b"ftyp" + b"isom" + b"\xff" * 40), "a video length over bytes that are no box chain"),
    (plain_jpeg() + mp4(box(b"\xa9xyz", struct.pack(">HH", len(ISO6709), 0x15c7) + ISO6709)),
     "an MP4 appended with nothing saying so: not looked for (2 ms a megabyte to find the picture's end)"),
])
def test_near_misses_after_the_picture(data, why):
    no_location(data, "JPEG")


# ---------------------------------------------------------------- C2PA content credentials: stds.exif

def jumb(label: bytes, *content: bytes) -> bytes:
    jumd = box(b"jumd", b"\0" * 16 + b"\x03" + label + b"\0")
    return box(b"jumb", jumd + b"".join(content))


def manifest_store(exif: dict) -> bytes:
    assertion = jumb(b"stds.exif", box(b"json", json.dumps(
        {"@context": {"exif": "http://ns.adobe.com/exif/1.0/"}, **exif}).encode()))
    return jumb(b"c2pa", jumb(b"urn:uuid:6e5a6f1c", jumb(b"c2pa.assertions", assertion)))


GPS_EXIF = {"exif:GPSVersionID": "2.2.0.0", "exif:GPSLatitude": "53,22.97083N", "exif:GPSLongitude": "1,27.40067W",
            "exif:GPSAltitude": 120.5, "exif:DateTimeOriginal": "2026-06-08T10:00:00Z"}


def app11(store: bytes, parts: int = 1) -> bytes:
    """APP11 segments: "JP", box instance 1, packet sequence; later packets repeat the box header."""
    cut = [len(store) * i // parts for i in range(parts + 1)]
    out = b""
    for i in range(parts):
        body = store[cut[i]:cut[i + 1]] if i == 0 else store[:8] + store[cut[i]:cut[i + 1]]
        out += segment(0xEB, b"JP" + struct.pack(">HI", 1, i + 1) + body)
    return out


@pytest.mark.parametrize("parts", [1, 3])
def test_gps_in_c2pa_content_credentials_is_found_and_blanked(parts):
    data = after_soi(plain_jpeg(), app11(manifest_store(GPS_EXIF), parts))
    cleaned = found_and_stripped(data, "JPEG", pixels=True)
    assert b"2026-06-08T10:00:00Z" in cleaned  # the rest of the assertion is left


def test_c2pa_json_stays_well_formed_after_removal():
    store = manifest_store(GPS_EXIF)
    data = after_soi(plain_jpeg(), app11(store))
    cleaned = media.strip(data)
    at = cleaned.index(b'{"@context"')
    value = json.loads(cleaned[at:at + len(json.dumps({"@context": {"exif": "http://ns.adobe.com/exif/1.0/"},
                                                       **GPS_EXIF}))])
    assert value["exif:GPSLatitude"].strip() == "" and value["exif:GPSAltitude"] == 0


def test_gps_in_c2pa_cbor_assertion_is_found():
    def tstr(text: bytes) -> bytes:
        return bytes([0x60 + len(text)]) + text
    cbor = b"\xa2" + tstr(b"exif:GPSLatitude") + tstr(b"53,22.97083N") + tstr(b"exif:GPSLongitude") + \
        tstr(b"1,27.40067W")
    data = after_soi(plain_jpeg(), app11(jumb(b"c2pa", jumb(b"stds.exif", box(b"cbor", cbor)))))
    found_and_stripped(data, "JPEG", pixels=True)


def test_c2pa_in_png_webp_and_mp4_is_found():
    store = manifest_store(GPS_EXIF)
    png = jpeg_with_gps(None, fmt="PNG")
    found_and_stripped(png[:33] + chunk(b"caBX", store) + png[33:], "PNG", pixels=True)
    webp = jpeg_with_gps(None, fmt="WEBP") + b"C2PA" + struct.pack("<I", len(store)) + store
    webp = webp[:4] + struct.pack("<I", len(webp) - 8) + webp[8:]
    found_and_stripped(webp, "WEBP", pixels=True)
    uuid = box(b"uuid", jumbf.C2PA_UUID + b"\0\0\0\0manifest\0" + b"\0" * 8 + store)
    found_and_stripped(mp4(b"") + uuid, "MP4")


@pytest.mark.parametrize("exif, why", [
    ({"exif:DateTimeOriginal": "2026-06-08T10:00:00Z", "exif:Make": "Leica"}, "an EXIF assertion without GPS"),
    ({"exif:GPSLatitude": "0,0.0N", "exif:GPSLongitude": "0,0.0E"}, "GPS at (0, 0)"),
    ({"exif:GPSLatitude": "53,22.97083N"}, "a latitude without a longitude"),
])
def test_c2pa_near_misses(exif, why):
    no_location(after_soi(plain_jpeg(), app11(manifest_store(exif))), "JPEG")


def test_gps_words_outside_a_json_box_are_not_read():
    """The same JSON in the jumd description (a label) is not an assertion's content."""
    text = json.dumps(GPS_EXIF).encode()
    no_location(after_soi(plain_jpeg(), app11(jumb(b"c2pa" + text))), "JPEG")


# ---------------------------------------------------------------- maker notes that name the place

def with_maker_note(build) -> bytes:
    """A JPEG whose ExifIFD holds the maker note build(offset) returns, `offset` being where the note lies from the
    TIFF header (Panasonic and Samsung count their offsets from there). Built twice: the note's length is fixed,
    so the second build lands where the first did."""
    from PIL import Image
    import io

    def make(note: bytes) -> bytes:
        exif = Image.Exif()
        exif[0x010F] = "Panasonic"
        exif.get_ifd(0x8769)[0x927C] = note
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (120, 160, 200)).save(buf, "JPEG", exif=exif)
        return buf.getvalue()

    first = make(build(0))
    tiff_at = first.index(b"Exif\0\0") + 6
    assert first[tiff_at:tiff_at + 2] == b"MM"  # Pillow writes a JPEG's EXIF big-endian; so do ifd() below
    note_at = first.index(build(0)[:12]) - tiff_at
    data = make(build(note_at))
    assert data.index(build(note_at)[:12]) - tiff_at == note_at
    return data


def ifd(entries: list[tuple[int, int, int, bytes]], at: int, head: int) -> bytes:
    """An IFD at `at` (from the TIFF header) after `head` bytes of maker-note header; its values follow it."""
    table_len = 2 + 12 * len(entries) + 4
    values, table = b"", struct.pack(">H", len(entries))
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            table += struct.pack(">HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            table += struct.pack(">HHII", tag, typ, count, at + head + table_len + len(values))
            values += value + b"\0" * (len(value) & 1)
    return table + b"\0\0\0\0" + values


def panasonic(city: bytes, landmark: bytes):
    def build(at: int) -> bytes:
        return b"Panasonic\0\0\0" + ifd([(0x0001, 7, 4, b"0121"), (0x6D, 7, 72, city.ljust(72, b"\0")),
                                         (0x6F, 7, 128, landmark.ljust(128, b"\0"))], at, 12)
    return build


def test_panasonic_place_names_are_a_place_and_are_blanked():
    data = with_maker_note(panasonic(b"Sheffield", b"Winter Garden"))
    report = media.inspect(data)
    assert [(p.field, p.value) for p in report.places] == [
        ("Panasonic MakerNote City", "Sheffield"), ("Panasonic MakerNote Landmark", "Winter Garden")]
    cleaned = media.strip(data)
    assert len(cleaned) == len(data) and media.inspect(cleaned).places == []
    assert b"Sheffield" not in cleaned and b"Panasonic\0\0\0" in cleaned


def test_panasonic_without_a_place_writes_dashes_which_are_not_a_place():
    no_location(with_maker_note(panasonic(b"---", b"---")), "JPEG")


def nikon(location: bytes, country: bytes = b"GBR"):
    def build(at: int) -> bytes:
        info = b"0100" + b"\x01" + country.ljust(3, b"\0") + b"\x01" + location.ljust(70, b"\0")
        inner = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack(
            "<HHII", 0x0039, 7, len(info), 8 + 2 + 12 + 4) + b"\0\0\0\0" + info
        return b"Nikon\0\x02\x10\0\0" + inner
    return build


def test_nikon_location_info_is_a_place_and_is_blanked():
    data = with_maker_note(nikon(b"Kelham Island Museum"))
    report = media.inspect(data)
    assert ("Nikon MakerNote Location", "Kelham Island Museum") in [(p.field, p.value) for p in report.places]
    cleaned = media.strip(data)
    assert media.inspect(cleaned).places == [] and b"Kelham" not in cleaned


def test_nikon_location_info_left_empty_is_not_a_place():
    no_location(with_maker_note(nikon(b"", b"")), "JPEG")


def test_samsung_maker_note_location_name_is_a_place():
    def build(at: int) -> bytes:
        return ifd([(0x0001, 7, 4, b"0100"), (0x0031, 2, 16, b"Sheffield, UK".ljust(16, b"\0"))], at, 0)
    data = with_maker_note(build)
    assert [(p.field, p.value) for p in media.inspect(data).places] == [("Samsung MakerNote LocationName",
                                                                         "Sheffield, UK")]
    assert media.inspect(media.strip(data)).places == []


def test_a_place_word_in_another_makers_note_is_not_read():
    def build(at: int) -> bytes:  # Panasonic's layout without its header: some other maker's IFD
        return b"OtherMaker\0\0" + panasonic(b"Sheffield", b"Winter Garden")(at)[12:]
    no_location(with_maker_note(build), "JPEG")


# ---------------------------------------------------------------- JPEG XL's compressed boxes, Samsung's HEIC boxes

def jxl_brob(inner: bytes, payload: bytes) -> bytes:
    import brotlicffi
    return (b"\0\0\0\x0cJXL \r\n\x87\n" + box(b"ftyp", b"jxl \0\0\0\0jxl ")
            + box(b"brob", inner + brotlicffi.compress(payload)) + box(b"jxlc", b"\xff\x0a" + b"\0" * 32))


def test_gps_in_a_compressed_jpeg_xl_exif_box_is_found_and_the_box_freed():
    data = jxl_brob(b"Exif", b"\0\0\0\0" + exif_blob(gps_ifd(LAT, LON))[6:])
    cleaned = found_and_stripped(data, "JXL")
    assert b"brob" not in cleaned and b"jxlc" in cleaned


@pytest.mark.parametrize("data, why", [
    (jxl_brob(b"Exif", b"\0\0\0\0" + exif_blob(ZERO)[6:]), "a compressed Exif box at (0, 0)"),
    (jxl_brob(b"jbrd", b"GPSLatitude 53.38 GPSLongitude -1.45"), "a compressed box of another kind"),
])
def test_jpeg_xl_compressed_near_misses(data, why):
    no_location(data, "JXL")


def test_a_compressed_jpeg_xl_box_that_is_a_bomb_or_broken_is_never_clean():
    import brotlicffi
    head = b"\0\0\0\x0cJXL \r\n\x87\n" + box(b"ftyp", b"jxl \0\0\0\0jxl ")
    bomb = head + box(b"brob", b"Exif" + brotlicffi.compress(b"\0" * (12 << 20), quality=1))
    broken = head + box(b"brob", b"Exif" + brotlicffi.compress(exif_blob(gps_ifd(LAT, LON)))[:-6])
    for data in (bomb, broken):
        report = media.inspect(data)
        assert report.errors, report
        with pytest.raises(media.StripError):
            media.strip(data)


def test_gps_in_a_samsung_heic_motion_photo_and_trailer_box_is_found():
    from .test_isobmff import heif
    video = mp4(box(b"@xyz", struct.pack(">HH", len(ISO6709), 0x15c7) + ISO6709))
    found_and_stripped(heif(b"heic", ZERO) + box(b"mpvd", video), "HEIF")
    trailer = seft((0x0001, b"DualShot_1", jpeg_with_gps(gps_ifd(LAT, LON))))
    found_and_stripped(heif(b"heic", ZERO) + box(b"sefd", trailer), "HEIF")
    no_location(heif(b"heic", ZERO) + box(b"mpvd", mp4(b"")), "HEIF")


# ---------------------------------------------------------------- Insta360's trailer, pictures appended, odd XMP

def insta360_trailer(fixes: list[tuple[bytes, float, float]]) -> bytes:
    """Records from first to last (each: data, then id and length), the last record's header opening the final 78
    bytes, the trailer's length at 38 and the magic string."""
    from rules.media import insta360
    gps = b"".join(struct.pack("<IIHcdcdcddd", 1_700_000_000, 0, 0, fix, abs(lat), b"N" if lat >= 0 else b"S",
                               abs(lon), b"E" if lon >= 0 else b"W", 1.5, 90.0, 120.0) for fix, lat, lon in fixes)
    timestamps = struct.pack("<Q", 1000) * 4
    records = timestamps + struct.pack("<HI", 0x600, len(timestamps)) + gps
    tail = struct.pack("<HI", 0x700, len(gps)) + b"\0" * 32
    length = len(records) + 78
    return records + tail + struct.pack("<I", length) + b"\0\0\0\0" + insta360.MAGIC


def test_gps_in_insta360s_photo_trailer_is_found_and_blanked():
    found_and_stripped(plain_jpeg() + insta360_trailer([(b"A", LAT, LON), (b"A", LAT + 1e-4, LON)]), "JPEG",
                       pixels=True)


def test_gps_in_insta360s_video_trailer_is_found_and_blanked():
    found_and_stripped(mp4(b"") + insta360_trailer([(b"V", 0, 0), (b"A", LAT, LON)]), "MP4")


def test_insta360_trailer_with_only_void_fixes_is_not_a_location():
    no_location(plain_jpeg() + insta360_trailer([(b"V", LAT, LON)]), "JPEG")


def test_insta360_trailer_whose_length_is_forged_is_an_error():
    trailer = bytearray(insta360_trailer([(b"A", LAT, LON)]))
    trailer[-78 + 38:-78 + 42] = struct.pack("<I", 1 << 30)
    assert media.inspect(plain_jpeg() + bytes(trailer)).errors


def test_a_trailer_that_says_where_it_starts_must_follow_an_eoi():
    """A forged Samsung directory whose first block would lie inside the picture is not taken at its word: the EOI
    is searched for, and a block before it is an error."""
    trailer = bytearray(seft((0x0aa1, b"MCC_Data", b"234")))
    entry = trailer.index(b"SEFH") + 12
    trailer[entry + 4:entry + 8] = struct.pack("<I", 600)  # 600 bytes back: inside the picture
    data = plain_jpeg() + bytes(trailer)
    report = media.inspect(data)
    assert report.errors and not report.patches
    with pytest.raises(media.StripError):
        media.strip(data)


XMP_BODY = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="53,22.97083N" '
            b'exif:GPSLongitude="1,27.40067W"/></rdf:RDF></x:xmpmeta>')


@pytest.mark.parametrize("name", [b"http://ns.adobe.com/xap/1.0/", b"XMP\0://ns.adobe.com/xap/1.0/\0"])
def test_xmp_under_another_app1_name_is_read(name):
    found_and_stripped(after_soi(plain_jpeg(), segment(0xE1, name + XMP_BODY)), "JPEG", pixels=True)


def test_an_app1_of_another_kind_is_not_read_as_xmp():
    no_location(after_soi(plain_jpeg(), segment(0xE1, b"QVCI\0" + XMP_BODY.replace(b"<", b"["))), "JPEG")


def test_xmp_in_an_iso_meta_xml_box_is_found():
    meta = box(b"meta", b"\0\0\0\0" + box(b"hdlr", b"\0" * 8 + b"mdta" + b"\0" * 13) +
               box(b"xml ", b"\0\0\0\0" + XMP_BODY))
    found_and_stripped(mp4(meta), "MP4")


def test_premieres_shot_location_is_a_place():
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:xmpDM="http://ns.adobe.com/xmp/1.0/DynamicMedia/" '
              b'xmpDM:shotLocation="Whirlow Hall Farm"/></rdf:RDF></x:xmpmeta>')
    data = after_soi(plain_jpeg(), segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + packet))
    assert [(p.field, p.value) for p in media.inspect(data).places] == [("XMP xmpDM:shotLocation",
                                                                         "Whirlow Hall Farm")]
    assert media.inspect(media.strip(data)).places == []


# ---------------------------------------------------------------- Sony's rtmd timed metadata

def rtmd_sample(lat: float, lon: float, gps: bool = True) -> bytes:
    def tag(t: int, value: bytes) -> bytes:
        return struct.pack(">HH", t, len(value)) + value

    def dms(v: float) -> bytes:
        d = int(abs(v)); m = int((abs(v) - d) * 60); s = round((abs(v) - d - m / 60) * 3600 * 1000)
        return struct.pack(">6I", d, 1, m, 1, s, 1000)
    header = struct.pack(">H", 0x1c) + b"\0" * 0x1a
    body = b"\x06\x0e\x2b\x34\x02\x53" + b"\0" * 10 + tag(0x8115, b"\0\x64")
    if gps:
        body += tag(0x8500, b"\x02\x02\0\0") + tag(0x8501, b"N" if lat >= 0 else b"S") + tag(0x8502, dms(lat)) + \
            tag(0x8503, b"E" if lon >= 0 else b"W") + tag(0x8504, dms(lon))
    return header + body + b"\0\0\0\0"


def rtmd_mp4(samples: list[bytes], entry: bytes = b"rtmd") -> bytes:
    """An MP4 with one timed-metadata track whose sample entry is `entry`, its samples in one chunk in mdat."""
    from .test_isobmff import ftyp, full_box
    head = ftyp(b"XAVC")

    def moov(offset: int) -> bytes:
        stsd = full_box(b"stsd", struct.pack(">I", 1) + box(entry, b"\0" * 8))
        stsz = full_box(b"stsz", struct.pack(">II", 0, len(samples)) + b"".join(struct.pack(">I", len(s))
                                                                          for s in samples))
        stco = full_box(b"stco", struct.pack(">II", 1, offset))
        stsc = full_box(b"stsc", struct.pack(">IIII", 1, 1, len(samples), 1))
        stbl = box(b"stbl", stsd + stsz + stco + stsc)
        return box(b"moov", box(b"mvhd", b"\0" * 100) + box(b"trak", box(b"mdia", box(b"minf", stbl))))

    offset = len(head) + len(moov(0)) + 8
    return head + moov(offset) + box(b"mdat", b"".join(samples))


def test_gps_in_sonys_rtmd_track_is_found_and_blanked_in_every_frame():
    data = rtmd_mp4([rtmd_sample(LAT, LON), rtmd_sample(LAT + 1e-4, LON), rtmd_sample(LAT + 2e-4, LON)])
    report = media.inspect(data)
    assert len(report.real_coordinates) == 1 and report.real_coordinates[0].source == "Sony rtmd GPS"
    found_and_stripped(data, "MP4")
    assert b"\x85\x02\x00\x18\x00\x00\x00\x35" not in media.strip(data)  # no frame keeps its latitude


def test_sony_rtmd_without_gps_is_not_a_location():
    no_location(rtmd_mp4([rtmd_sample(0, 0, gps=False)] * 3), "MP4")
    no_location(rtmd_mp4([rtmd_sample(0, 0)]), "MP4")


# ---------------------------------------------------------------- hostile copies of every layout above

def built_layouts() -> dict[str, bytes]:
    video = mp4(box(b"\xa9xyz", struct.pack(">HH", len(ISO6709), 0x15c7) + ISO6709))
    return {
        "photoshop-exif": after_soi(plain_jpeg(), segment(0xED, b"Photoshop 3.0\0" + irb(
            0x0422, exif_blob(gps_ifd(LAT, LON))[6:]))),
        "gopro-app6": after_soi(plain_jpeg(), segment(0xE6, b"GoPro\0" + gopro_gps(LAT, LON))),
        "samsung-seft": plain_jpeg() + seft((0x0001, b"DualShot_1", jpeg_with_gps(gps_ifd(LAT, LON))),
                                            (0x0a30, b"MotionPhoto_Data", video), (0x0aa1, b"MCC_Data", b"234")),
        "motion-photo": motion_photo(video),
        "c2pa": after_soi(plain_jpeg(), app11(manifest_store(GPS_EXIF), 3)),
        "panasonic": with_maker_note(panasonic(b"Sheffield", b"Winter Garden")),
        "nikon": with_maker_note(nikon(b"Kelham Island Museum")),
        "insta360": plain_jpeg() + insta360_trailer([(b"A", LAT, LON)]),
        "jxl-brob": jxl_brob(b"Exif", b"\0\0\0\0" + exif_blob(gps_ifd(LAT, LON))[6:]),
        "sony-rtmd": rtmd_mp4([rtmd_sample(LAT, LON)] * 3),
        "flir": after_soi(plain_jpeg(), flir_segments(1, LAT, LON)),
        "webm": webm(b"LOCATION", ISO6709),
        "camm": rtmd_mp4([camm_sample(6, LAT, LON)] * 2, entry=b"camm"),
        "dji-subtitle": rtmd_mp4([tx3g(b"GPS (-1.456678, 53.382847, 18), D 24.26m")] * 2, entry=b"tx3g"),
        "heif-deflated-xmp": heif_mime(zlib.compress(XMP_BODY), b"deflate"),
    }


def test_mutants_of_every_added_layout_never_crash_or_come_back_damaged():
    """The fuzzer's checks (tests/rules/fuzz_media.py) on 60 mutants of each layout: inspect never raises, strip
    returns a file no larger with only reported bytes changed, or refuses."""
    import random
    from tests.rules import fuzz_media

    tally, rng = fuzz_media.Tally(), random.Random(18)
    for name, data in built_layouts().items():
        for _ in range(60):
            fuzz_media.check(name, fuzz_media.mutate(data, rng), tally)
    assert not tally.crashes and not tally.damaged, tally
    assert tally.stripped > 100  # the mutants still reach strip: the check is not vacuous


def test_xmp_in_pngs_obsolete_txmp_chunk_is_found():
    png = jpeg_with_gps(None, fmt="PNG")
    found_and_stripped(png[:33] + chunk(b"tXMP", XMP_BODY) + png[33:], "PNG", pixels=True)


@pytest.mark.parametrize("ns, lat, lon", [
    (b"http://www.dji.com/drone-dji/1.0/", b"Latitude", b"Longitude"),
    (b"http://ns.google.com/photos/dd/1.0/earthpose/", b"Latitude", b"Longitude"),
])
def test_other_xmp_namespaces_positions_are_found(ns, lat, lon):
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:p="' + ns + b'" p:' + lat + b'="53.3828472" p:' + lon +
              b'="-1.4566778"/></rdf:RDF></x:xmpmeta>')
    found_and_stripped(after_soi(plain_jpeg(), segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + packet)), "JPEG")


def test_latitude_in_an_unknown_namespace_is_not_a_position():
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:p="http://example.com/lens/" p:Latitude="53.3828472" '
              b'p:Longitude="-1.4566778"/></rdf:RDF></x:xmpmeta>')
    no_location(after_soi(plain_jpeg(), segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + packet)), "JPEG")


# ---------------------------------------------------------------- FLIR's FFF data in APP1

def flir_segments(valid: int, lat: float, lon: float, parts: int = 2) -> bytes:
    """FFF (big-endian, as FLIR's APP1 holds it): header, a camera-info record, the GPS record (little-endian), the
    directory; split over APP1 segments "FLIR\\0" 1, chunk number, last chunk number."""
    camera = b"\0" * 64
    gps = struct.pack("<I4s2s2s4sdd", valid, b"\x02\x02\0\0", b"N" if lat >= 0 else b"S",
                      b"E" if lon >= 0 else b"W", b"\0" * 4, abs(lat), abs(lon)) + b"\0" * 0x48
    records_at, gps_at = 0x40, 0x40 + len(camera)
    directory_at = gps_at + len(gps)

    def entry(kind: int, at: int, size: int) -> bytes:
        return struct.pack(">HHIIII", kind, 1, 100, 1, at, size) + b"\0" * 12
    header = b"FFF\0" + b"\0" * 16 + struct.pack(">III", 100, directory_at, 2) + b"\0" * 0x20
    fff = header + camera + gps + entry(0x20, records_at, len(camera)) + entry(0x2B, gps_at, len(gps))
    cut = [len(fff) * i // parts for i in range(parts + 1)]
    return b"".join(segment(0xE1, b"FLIR\0\x01" + bytes([i, parts - 1]) + fff[cut[i]:cut[i + 1]])
                    for i in range(parts))


def test_gps_in_flirs_fff_record_is_found_and_blanked():
    found_and_stripped(after_soi(plain_jpeg(), flir_segments(1, LAT, LON)), "JPEG", pixels=True)


def test_flir_gps_record_marked_not_valid_is_not_a_location():
    no_location(after_soi(plain_jpeg(), flir_segments(0, LAT, LON)), "JPEG")


def test_flir_directory_pointing_outside_its_data_is_an_error():
    data = bytearray(after_soi(plain_jpeg(), flir_segments(1, LAT, LON, parts=1)))
    at = data.index(b"FFF\0") + 0x1C
    data[at:at + 4] = struct.pack(">I", 100_000)
    assert media.inspect(bytes(data)).errors


# ---------------------------------------------------------------- through the engine, as a post would go

@pytest.mark.parametrize("name", ["photoshop-exif", "gopro-app6", "samsung-seft", "motion-photo", "c2pa", "insta360",
                                  "jxl-brob", "sony-rtmd", "flir"])
def test_each_added_source_is_a_gps_finding_near_sheffield(name):
    from rules import Attachment, Engine, Submission
    verdict = Engine().evaluate(Submission(files=[Attachment("upload.bin", built_layouts()[name])]))
    assert not verdict.errors
    gps = [f for f in verdict.findings if f.rule == "location.gps"]
    assert len(gps) == 1 and gps[0].evidence["nearest_town"]["country"] == "United Kingdom"


@pytest.mark.parametrize("name", ["panasonic", "nikon"])
def test_maker_note_places_are_a_place_finding(name):
    from rules import Attachment, Engine, Submission
    verdict = Engine().evaluate(Submission(files=[Attachment("upload.jpg", built_layouts()[name])]))
    assert [f.rule for f in verdict.findings] == ["location.place"]


# ---------------------------------------------------------------- Matroska / WebM tags

def ebml(element: bytes, payload: bytes = b"", unknown: bool = False) -> bytes:
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown else b"\x01" + len(payload).to_bytes(7, "big")
    return element + size + payload


def webm(tag_name: bytes, tag_value: bytes, tags_last: bool = False) -> bytes:
    """EBML header, a Segment of unknown size (as a browser's MediaRecorder writes it), Info, a Cluster of unknown
    size with one block, and Tags (before the cluster, as ffmpeg writes them, or after it, as mkvmerge does)."""
    header = ebml(b"\x1a\x45\xdf\xa3", ebml(b"\x42\x82", b"webm"))
    info = ebml(b"\x15\x49\xa9\x66", ebml(b"\x2a\xd7\xb1", b"\x0f\x42\x40"))
    cluster = ebml(b"\x1f\x43\xb6\x75", ebml(b"\xe7", b"\0") + ebml(b"\xa3", b"\x81\0\0\x80" + b"\x12" * 300),
                   unknown=True)
    simple = ebml(b"\x67\xc8", ebml(b"\x45\xa3", tag_name) + ebml(b"\x44\x87", tag_value))
    tags = ebml(b"\x12\x54\xc3\x67", ebml(b"\x73\x73", ebml(b"\x63\xc0") + simple))
    body = info + (cluster + tags if tags_last else tags + cluster)
    return header + ebml(b"\x18\x53\x80\x67", body, unknown=True)


@pytest.mark.parametrize("tags_last", [False, True])
def test_an_iso6709_location_tag_in_webm_is_found_and_blanked(tags_last):
    data = webm(b"LOCATION", ISO6709, tags_last)
    cleaned = found_and_stripped(data, None)
    assert ISO6709 not in cleaned and b"\x12" * 300 in cleaned


def test_matroska_recording_location_is_a_place():
    data = webm(b"RECORDING_LOCATION", b"GB, Sheffield")
    assert [(p.field, p.value) for p in media.inspect(data).places] == [("Matroska tag RECORDING_LOCATION",
                                                                         "GB, Sheffield")]
    assert media.inspect(media.strip(data)).places == []


@pytest.mark.parametrize("name, value, why", [
    (b"TITLE", ISO6709, "an ISO 6709 string under another tag's name"),
    (b"LOCATION", b"+00.0000+000.0000/", "a location tag at (0, 0)"),
])
def test_matroska_near_misses(name, value, why):
    no_location(webm(name, value), None)


def test_matroska_element_of_unknown_size_where_none_may_be_is_an_error():
    data = webm(b"LOCATION", ISO6709)
    bad = data.replace(ebml(b"\x15\x49\xa9\x66", ebml(b"\x2a\xd7\xb1", b"\x0f\x42\x40")),
                       b"\x15\x49\xa9\x66\x01\xff\xff\xff\xff\xff\xff\xff" + b"\0" * 11)
    assert media.inspect(bad).errors


@pytest.mark.parametrize("container", ["webm", "matroska"])
def test_a_location_ffmpeg_writes_into_webm_and_mkv_is_found_and_removed_frames_unchanged(container):
    """PyAV's ffmpeg muxer, as `ffmpeg -i phone.mp4 out.webm` keeps a phone video's location: the tag LOCATION."""
    av = pytest.importorskip("av")
    import io
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        out.metadata["location"] = "+53.3828-001.4567/"
        stream = out.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 30, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    data = buf.getvalue()
    cleaned = found_and_stripped(data, None)

    def frames(b: bytes) -> list[bytes]:
        with av.open(io.BytesIO(b)) as f:
            return [fr.to_ndarray().tobytes() for fr in f.decode(video=0)]
    assert frames(cleaned) == frames(data) and len(frames(data)) == 6


# ---------------------------------------------------------------- Google's camm track (360 cameras)

def camm_sample(kind: int, lat: float, lon: float) -> bytes:
    gyro = struct.pack("<HHfff", 0, 2, 0.1, 0.2, 0.3)
    if kind == 5:
        return gyro + struct.pack("<HHddd", 0, 5, lat, lon, 120.0)
    record = struct.pack("<HHdiddfffffff", 0, 6, 1.7e9, 3, lat, lon, 120.0, 5, 5, 0, 0, 0, 0)
    assert len(record) == 60  # ExifTool's size for type 6
    return gyro + record


@pytest.mark.parametrize("kind", [5, 6])
def test_gps_in_a_camm_track_is_found_and_zeroed(kind):
    data = rtmd_mp4([camm_sample(kind, LAT, LON), camm_sample(kind, LAT + 1e-4, LON)], entry=b"camm")
    found_and_stripped(data, "MP4")


def test_camm_without_a_position_record_is_not_a_location():
    gyro = struct.pack("<HHfff", 0, 2, 0.1, 0.2, 0.3)
    no_location(rtmd_mp4([gyro * 3, camm_sample(5, 0.0, 0.0)], entry=b"camm"), "MP4")


# ---------------------------------------------------------------- HEIF mime items with a content encoding

def heif_mime(payload: bytes, encoding: bytes) -> bytes:
    """A HEIF whose one item is `mime` XMP, content-encoded (infe v2: name, content type, content encoding)."""
    from .test_isobmff import ftyp, full_box
    hdlr = full_box(b"hdlr", b"\0\0\0\0pict" + b"\0" * 13)
    infe = full_box(b"infe", struct.pack(">HH4s", 1, 0, b"mime") + b"XMP\0application/rdf+xml\0" + encoding + b"\0",
                    2)
    iinf = full_box(b"iinf", struct.pack(">H", 1) + infe)

    def head(offset: int) -> bytes:
        iloc = full_box(b"iloc", bytes([0x44, 0x00]) + struct.pack(">HHHHII", 1, 1, 0, 1, offset, len(payload)))
        return ftyp(b"heic") + full_box(b"meta", hdlr + iinf + iloc)
    return head(len(head(0)) + 8) + box(b"mdat", payload)


def test_a_deflated_xmp_item_in_heif_is_read_and_removed_whole():
    import zlib
    data = heif_mime(zlib.compress(XMP_BODY), b"deflate")
    cleaned = found_and_stripped(data, "HEIF")
    assert b"skip" in cleaned and b"mime" not in cleaned  # the item is renamed, so readers skip it


def test_an_xmp_item_in_an_encoding_postguard_cannot_read_is_an_error():
    report = media.inspect(heif_mime(b"\x28\xb5\x2f\xfd" + b"\0" * 40, b"zstd"))
    assert report.errors


def test_a_deflated_xmp_item_without_location_is_not_a_location():
    import zlib
    no_location(heif_mime(zlib.compress(XMP_BODY.replace(b"GPSL", b"Lens")), b"deflate"), "HEIF")


def test_a_bigtiff_structure_is_never_called_clean():
    """BigTIFF (64-bit offsets) is not walked; where one is met (a TIFF structure inside another container), it used
    to be a warning only, and so 'nothing found'."""
    from rules.media import tiff
    report = media.MediaReport()
    tiff.parse(b"II+\0\x08\0\0\0" + struct.pack("<Q", 16) + struct.pack("<Q", 0) + b"\0" * 16, 0, 40, report)
    assert report.errors and not report.warnings


# ---------------------------------------------------------------- DJI telemetry in a subtitle track

def tx3g(text: bytes) -> bytes:
    return len(text).to_bytes(2, "big") + text


@pytest.mark.parametrize("sample", [
    b"F/2.8, SS 240, ISO 100, EV 0, GPS (-1.456678, 53.382847, 18), D 24.26m, H 6.00m, H.S 2.10m/s, V.S 0.00m/s ",
    b"<font size=\"28\">FrameCnt: 1 [iso: 100] [shutter: 1/240.0] [latitude: 53.382847] [longitude: -1.456678] "
    b"[rel_alt: 1.300 abs_alt: 120.5]</font>",
    b"[latitude : 53.382847] [longtitude : -1.456678] [altitude: 120.5]",
])
def test_dji_telemetry_in_a_subtitle_track_is_found_and_zeroed(sample):
    data = rtmd_mp4([tx3g(sample)] * 3, entry=b"tx3g")
    cleaned = found_and_stripped(data, "MP4")
    assert b"F/2.8" in cleaned or b"FrameCnt" in cleaned or b"altitude" in cleaned  # the rest is left


def test_an_ordinary_subtitle_is_not_a_location():
    no_location(rtmd_mp4([tx3g(b"Year 6 at the museum, 10.30 am"), tx3g(b"GPS (lost)")], entry=b"tx3g"), "MP4")


def test_the_last_chunk_of_a_photo_upload_with_its_trailer_is_read():
    """A resumable upload's last chunk starts mid-file: Samsung's and Insta360's trailers are read from the end."""
    for data in (plain_jpeg() + seft((0x0001, b"DualShot_1", jpeg_with_gps(gps_ifd(LAT, LON)))),
                 plain_jpeg() + insta360_trailer([(b"A", LAT, LON)])):
        last = data[len(plain_jpeg()) - 10:]  # the chunk starts inside the picture's last bytes
        report = media.inspect(last)
        assert report.format == "JPEG trailer fragment" and report.real_coordinates, report
        assert media.inspect(media.strip(last)).real_coordinates == []


def test_media_jukebox_places_are_a_place_and_are_blanked():
    xml = b"Media Jukebox\0<MJMD><Tool Name>Media Center</Tool Name><Places>Castleton, Peak District</Places>" \
          b"<People>Year 6</People></MJMD>"
    data = after_soi(plain_jpeg(), segment(0xE9, xml))
    assert [(p.field, p.value) for p in media.inspect(data).places] == [("Media Jukebox Places",
                                                                         "Castleton, Peak District")]
    cleaned = media.strip(data)
    assert media.inspect(cleaned).places == [] and b"<People>Year 6</People>" in cleaned
    no_location(after_soi(plain_jpeg(), segment(0xE9, xml.replace(b"Castleton, Peak District", b""))), "JPEG")
