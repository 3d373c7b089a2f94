"""ISO base media files, one walker for six formats: HEIF and AVIF (an Exif item), CR3 (Canon's CMT4 GPS box), MP4
(3GPP loci), MOV (QuickTime keys) and the JPEG XL container (an Exif box). Copy this file to add a format: build a
small file that carries a location where the format keeps it, and a near miss that must not count as one."""
import struct

import pytest
from PIL import Image

from rules.media import isobmff
from tests.rules.test_location import SHEFFIELD, box, exif_blob, gps_ifd

from .checks import found_and_stripped, no_location

FORMATS = ("HEIF", "AVIF", "CR3", "MP4", "MOV", "JXL")

LAT, LON = SHEFFIELD
ISO6709 = b"+53.3828-001.4567+120.000/"
ZERO = {0: b"\x02\x02\x00\x00", 1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}


def full_box(kind: bytes, payload: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def ftyp(brand: bytes) -> bytes:
    return box(b"ftyp", brand + b"\0\0\0\0" + brand + b"isom")


def heif(brand: bytes, gps: dict) -> bytes:
    """ftyp, a meta box listing one Exif item (iinf) and where it lies (iloc), and the item in mdat, as an iPhone
    writes it: a 4-byte offset to the TIFF header, then "Exif\\0\\0" and the TIFF structure."""
    item = struct.pack(">I", 6) + exif_blob(gps)
    hdlr = full_box(b"hdlr", b"\0\0\0\0pict" + b"\0" * 13)
    iinf = full_box(b"iinf", struct.pack(">H", 1) + full_box(b"infe", struct.pack(">HH4s", 1, 0, b"Exif") + b"\0", 2))

    def head(offset: int) -> bytes:
        iloc = full_box(b"iloc", bytes([0x44, 0x00]) + struct.pack(">HHHHII", 1, 1, 0, 1, offset, len(item)))
        return ftyp(brand) + full_box(b"meta", hdlr + iinf + iloc)

    offset = len(head(0)) + 8  # past the mdat box header
    return head(offset) + box(b"mdat", item)


def cr3(gps: dict) -> bytes:
    """Canon's uuid box in moov, holding CMT4: a TIFF structure whose first IFD is the GPS IFD."""
    exif = Image.Exif()
    exif.update(gps)
    cmt4 = box(b"CMT4", exif.tobytes()[6:])
    moov = box(b"moov", box(b"mvhd", b"\0" * 100) + box(b"uuid", isobmff.CANON_UUID + cmt4))
    return ftyp(b"crx ") + moov + box(b"mdat", b"\0" * 64)


def loci(lat: float, lon: float) -> bytes:
    return box(b"loci", b"\0\0\0\0" + b"\x15\xc7" + b"\0" + b"\0" + struct.pack(">iii", int(lon * 65536),
                                                                             int(lat * 65536), 0) + b"Earth\0\0")


def mp4(udta: bytes, brand: bytes = b"isom") -> bytes:
    return ftyp(brand) + box(b"moov", box(b"mvhd", b"\0" * 100) + box(b"udta", udta)) + box(b"mdat", b"\0" * 64)


def mov(iso6709: bytes) -> bytes:
    """An iPhone's QuickTime metadata: a keys box naming com.apple.quicktime.location.ISO6709, and the ilst item
    (type: the key's index) holding its value."""
    key = b"com.apple.quicktime.location.ISO6709"
    keys = full_box(b"keys", struct.pack(">II", 1, 8 + len(key)) + b"mdta" + key)
    item = box(struct.pack(">I", 1), box(b"data", struct.pack(">II", 1, 0) + iso6709))
    meta = box(b"meta", box(b"hdlr", b"\0" * 8 + b"mdta" + b"\0" * 13) + keys + box(b"ilst", item))
    return ftyp(b"qt  ") + box(b"moov", box(b"mvhd", b"\0" * 100) + meta) + box(b"mdat", b"\0" * 64)


def jxl(gps: dict) -> bytes:
    return (b"\0\0\0\x0cJXL \r\n\x87\n" + box(b"ftyp", b"jxl \0\0\0\0jxl ")
            + box(b"Exif", b"\0\0\0\0" + exif_blob(gps)[6:]) + box(b"jxlc", b"\xff\x0a" + b"\0" * 32))


FOUND = [
    ("HEIF", heif(b"heic", gps_ifd(LAT, LON))),
    ("AVIF", heif(b"avif", gps_ifd(LAT, LON))),
    ("CR3", cr3(gps_ifd(LAT, LON))),
    ("MP4", mp4(loci(LAT, LON))),
    ("MOV", mov(ISO6709)),
    ("JXL", jxl(gps_ifd(LAT, LON))),
]
NEAR_MISSES = [
    ("HEIF", heif(b"heic", ZERO), "an Exif item whose GPS IFD holds zero coordinates"),
    ("CR3", cr3(ZERO), "a CMT4 GPS box with zero coordinates"),
    ("MP4", mp4(loci(LAT, LON))[:-64 - 8 - 20], "a loci box cut off by the end of the file before its coordinates"),
    ("MP4", ftyp(b"zzzz") + box(b"\xa9xyz", struct.pack(">HH", len(ISO6709), 0x15c7) + ISO6709),
     "an ftyp with an unknown brand (so MP4) and a ©xyz box outside udta, where no reader looks"),
    ("MP4", mp4(b"") + box(b"mdat", box(b"\xa9xyz", struct.pack(">HH", len(ISO6709), 0x15c7) + ISO6709)),
     "©xyz bytes inside mdat are media data, not metadata"),
    ("MOV", mov(b"not a place"), "a QuickTime location key whose value is not ISO 6709"),
]


@pytest.mark.parametrize("fmt, data", FOUND, ids=[fmt for fmt, _ in FOUND])
def test_location_is_found_and_blanked(fmt, data):
    found_and_stripped(data, fmt)


@pytest.mark.parametrize("fmt, data, why", NEAR_MISSES, ids=[why for _, _, why in NEAR_MISSES])
def test_near_misses_are_not_a_location(fmt, data, why):
    no_location(data, fmt)
