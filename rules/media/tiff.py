"""TIFF/EXIF structures: the IFD chain, the Exif and GPS sub-IFDs, and what they carry.

Hand-written because no maintained library both reads a TIFF structure embedded at any offset of any container and
tells where each value lies, which is what same-length blanking needs (exifread and piexif copy or re-serialise).
"""
from __future__ import annotations

import struct

from . import iptc, xmp
from .report import Coordinate, MediaReport, Patch, Place, blank, safely

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
MAGICS = {42, 0x55, 0x4F52, 0x5352, 43}  # TIFF, Panasonic RW2, Olympus ORF ("RO", "RS"), BigTIFF (not walked)

TAG_MAKE, TAG_MODEL = 0x010F, 0x0110
TAG_SUBIFDS, TAG_XMP, TAG_IPTC, TAG_PHOTOSHOP = 0x014A, 0x02BC, 0x83BB, 0x8649
TAG_EXIF_IFD, TAG_GPS_IFD = 0x8769, 0x8825
TAG_BODY_SERIAL, TAG_DNG_SERIAL = 0xA431, 0xC62F
TAG_DATETIME_ORIGINAL, TAG_CREATE_DATE = 0x9003, 0x9004
TAG_MAKERNOTE = 0x927C

# Maker notes that name where the photo was taken (ExifTool's Panasonic.pm, Nikon.pm LocationInfo, Samsung.pm Type2):
# tag -> the name ExifTool gives it. Other makers write their GPS-equipped cameras' fixes in the GPS IFD, and what
# Canon and Pentax call a city (TimeZoneCity, HometownCity) is the clock's time zone, not where the photo was taken.
PANASONIC_PLACES = {0x67: "Location", 0x69: "Country", 0x6B: "State", 0x6D: "City", 0x6F: "Landmark", 0x80: "City2"}
SAMSUNG_PLACES = {0x30: "LocalLocationName", 0x31: "LocationName"}
NIKON_LOCATION_INFO = 0x0039
EMPTY_PLACES = {"", "---"}  # what Panasonic writes when the camera had no place

GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4
GPS_AREA_INFO = 0x1C
# Tags whose presence makes a GPS IFD worth blanking: position, destination position, area name.
GPS_LOCATION_TAGS = {1, 2, 3, 4, 0x13, 0x14, 0x15, 0x16, GPS_AREA_INFO}

POINTER_TYPES = (4, 9, 13)  # LONG, SLONG (some Canon firmware), IFD
MAX_IFDS = 64
MAX_ENTRIES = 1000


class Tiff:
    """A TIFF structure at data[start:end]; offsets inside it count from `start`."""

    def __init__(self, data: bytes, start: int, end: int):
        if end - start < 8:
            raise ValueError("TIFF header cut short")
        order = data[start:start + 2]
        if order == b"II":
            self.e = "<"
        elif order == b"MM":
            self.e = ">"
        else:
            raise ValueError(f"not a TIFF byte order: {order!r}")
        self.data, self.start, self.end = data, start, end
        magic = self.u16(start + 2)
        if magic not in MAGICS:
            raise ValueError(f"not a TIFF magic number: {magic:#x}")
        self.bigtiff = magic == 43
        self.first_ifd = self.u32(start + 4)

    def u16(self, pos: int) -> int:
        return struct.unpack_from(self.e + "H", self.data, pos)[0]

    def u32(self, pos: int) -> int:
        return struct.unpack_from(self.e + "I", self.data, pos)[0]

    def pack16(self, v: int) -> bytes:
        return struct.pack(self.e + "H", v)

    def pack32(self, v: int) -> bytes:
        return struct.pack(self.e + "I", v)

    def entries(self, ifd: int):
        """Yield (tag, type, count, value_pos, value_len, entry_pos); value_pos is absolute, None if out of bounds."""
        pos = self.start + ifd
        if ifd < 8 or pos + 2 > self.end:
            return
        n = self.u16(pos)
        if n > MAX_ENTRIES:
            raise ValueError(f"IFD at {ifd} claims {n} entries")
        for i in range(n):
            ep = pos + 2 + 12 * i
            if ep + 12 > self.end:
                return
            tag, typ, count = struct.unpack_from(self.e + "HHI", self.data, ep)
            size = TYPE_SIZES.get(typ, 0) * count
            if size <= 4:
                vpos = ep + 8
            else:
                vpos = self.start + self.u32(ep + 8)
                if vpos + size > self.end:
                    vpos = None
            yield tag, typ, count, vpos, size, ep

    def next_ifd(self, ifd: int) -> int:
        pos = self.start + ifd
        n = self.u16(pos)
        npos = pos + 2 + 12 * n
        return self.u32(npos) if npos + 4 <= self.end else 0

    def ascii(self, vpos: int | None, size: int) -> str:
        if vpos is None:
            return ""
        raw = self.data[vpos:vpos + size]
        if raw[:8] in (b"ASCII\0\0\0", b"UNICODE\0", b"JIS\0\0\0\0\0", b"\0" * 8):  # EXIF "undefined" text
            raw = raw[8:].decode("utf-16" + ("le" if self.e == "<" else "be"), "replace") if raw[:7] == b"UNICODE" \
                else raw[8:].decode("latin-1")
            return raw.strip("\0 ").strip()
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()

    def numbers(self, typ: int, vpos: int | None, count: int) -> list[float | None] | None:
        """A numeric value as floats; a rational with a zero denominator is None, as ExifTool's 'undef'."""
        if vpos is None or count > 64:
            return None
        if typ in (5, 10):
            nums = struct.unpack_from(self.e + ("I" if typ == 5 else "i") * (2 * count), self.data, vpos)
            return [num / den if den else None for num, den in zip(nums[::2], nums[1::2])]
        fmt = {3: "H", 4: "I", 8: "h", 9: "i", 11: "f", 12: "d"}.get(typ)
        if fmt is None:
            return None
        return [float(v) for v in struct.unpack_from(self.e + fmt * count, self.data, vpos)]


def _dms(values: list[float | None] | None) -> float | None:
    """Degrees, minutes, seconds to degrees; an undefined minute or second counts as 0, as ExifTool reads it."""
    if not values or len(values) > 3 or values[0] is None:
        return None
    parts = [v or 0.0 for v in values] + [0.0, 0.0]
    deg = parts[0] + parts[1] / 60 + parts[2] / 3600
    return deg if deg == deg and abs(deg) != float("inf") else None


def parse(data: bytes, start: int, end: int, report: MediaReport, label: str = "EXIF",
          ifd0_is_gps: bool = False) -> None:
    """Walk the TIFF structure at data[start:end] and add what it carries to `report`."""
    end = min(end, len(data))
    t = Tiff(data, start, end)
    if t.bigtiff:  # no camera or phone writes it (large scans, maps, microscopy); unread is never "clean"
        report.fail(f"{label}: BigTIFF is not read")
        return
    if ifd0_is_gps:
        _gps(t, t.first_ifd, report, label)
        return
    iim = digest = None
    queue = [(t.first_ifd, "IFD0", True)]
    seen: set[int] = set()
    while queue and len(seen) < MAX_IFDS:
        ifd, name, chained = queue.pop(0)
        if ifd in seen or ifd < 8 or t.start + ifd + 2 > end:
            continue
        seen.add(ifd)
        for tag, typ, count, vpos, size, _ in t.entries(ifd):
            if tag == TAG_GPS_IFD and vpos is not None and typ in POINTER_TYPES:
                gps = t.u32(vpos)
                if gps not in seen:
                    seen.add(gps)
                    _gps(t, gps, report, label)
            elif tag == TAG_EXIF_IFD and vpos is not None and typ in POINTER_TYPES:
                queue.append((t.u32(vpos), "ExifIFD", False))
            elif tag == TAG_SUBIFDS and vpos is not None and typ in POINTER_TYPES:
                for i in range(min(count, 16)):
                    queue.append((t.u32(vpos + 4 * i), "SubIFD", False))
            elif tag == TAG_MAKE and name == "IFD0" and typ == 2:
                report.camera.setdefault("make", t.ascii(vpos, size))
            elif tag == TAG_MODEL and name == "IFD0" and typ == 2:
                report.camera.setdefault("model", t.ascii(vpos, size))
            elif tag in (TAG_BODY_SERIAL, TAG_DNG_SERIAL) and typ == 2:
                report.camera.setdefault("serial", t.ascii(vpos, size))
            elif tag in (TAG_DATETIME_ORIGINAL, TAG_CREATE_DATE) and name == "ExifIFD" and typ == 2:
                report.camera.setdefault("taken", t.ascii(vpos, size))  # "YYYY:MM:DD HH:MM:SS", camera's clock
            elif tag == TAG_MAKERNOTE and vpos is not None and name == "ExifIFD" and size >= 16:
                safely(report, "MakerNote", _maker_note, t, vpos, size, report)
            elif tag == TAG_XMP and vpos is not None and typ in (1, 7) and name == "IFD0":
                xmp.parse(data, vpos, vpos + size, report, "XMP")
            elif tag == TAG_IPTC and vpos is not None and name == "IFD0":
                before = len(report.patches)
                iptc.parse_iim(data, vpos, vpos + size, report)
                iim = (vpos, vpos + size, report.patches[before:])
            elif tag == TAG_PHOTOSHOP and vpos is not None and name == "IFD0":
                digest = iptc.parse_irb(data, vpos, vpos + size, report)
        if chained:
            nxt = t.next_ifd(ifd)
            if nxt:
                queue.append((nxt, f"IFD{len(seen)}", True))
    if iim and iim[2] and digest is not None:
        iptc.refresh_digest(data, *iim, digest, report)


def _gps(t: Tiff, ifd: int, report: MediaReport, label: str) -> None:
    if ifd < 8 or t.start + ifd + 2 > t.end:
        return
    values: dict[int, tuple] = {}
    for tag, typ, count, vpos, size, ep in t.entries(ifd):
        values.setdefault(tag, (typ, count, vpos, size))
    if not values:
        return
    lat = lon = None
    if GPS_LAT in values and GPS_LON in values:
        lat = _dms(t.numbers(values[GPS_LAT][0], values[GPS_LAT][2], values[GPS_LAT][1]))
        lon = _dms(t.numbers(values[GPS_LON][0], values[GPS_LON][2], values[GPS_LON][1]))
    if lat is not None and lon is not None:
        if GPS_LAT_REF in values and t.ascii(values[GPS_LAT_REF][2], values[GPS_LAT_REF][3])[:1].upper() == "S":
            lat = -abs(lat)
        if GPS_LON_REF in values and t.ascii(values[GPS_LON_REF][2], values[GPS_LON_REF][3])[:1].upper() == "W":
            lon = -abs(lon)
        report.coordinates.append(Coordinate(lat, lon, f"{label} GPS"))
    if GPS_AREA_INFO in values:
        typ, count, vpos, size = values[GPS_AREA_INFO]
        area = t.ascii(vpos, size)
        if area:
            report.places.append(Place(f"{label} GPSAreaInformation", area))
    if values.keys() & GPS_LOCATION_TAGS:
        report.patches.extend(_blank_gps_ifd(t, ifd))


def _blank_gps_ifd(t: Tiff, ifd: int) -> list[Patch]:
    """Zero every value of the GPS IFD and leave a valid IFD holding only GPSVersionID 2.2.0.0.

    Same length, so every offset elsewhere in the file stays right; readers see an empty GPS block.
    """
    pos = t.start + ifd
    n = t.u16(pos)
    patches = []
    for tag, typ, count, vpos, size, ep in t.entries(ifd):
        if size > 4 and vpos is not None:
            patches.append(blank(vpos, vpos + size))
    table_end = min(pos + 2 + 12 * n + 4, t.end)
    version = t.pack16(0) + t.pack16(1) + t.pack32(4) + b"\x02\x02\x00\x00"
    new = t.pack16(1) + version + b"\0\0\0\0"
    new = new + b"\0" * max(0, table_end - pos - len(new))
    patches.append(Patch(pos, table_end, new[:table_end - pos]))
    return patches


def _maker_note(t: Tiff, at: int, size: int, report: MediaReport) -> None:
    """The place names some makers keep in their maker notes; each is blanked in place."""
    data = t.data
    head = bytes(data[at:at + 16])
    if head.startswith(b"Panasonic\0\0\0"):  # an IFD after the header; offsets from the EXIF's TIFF header
        _named_places(t, at + 12 - t.start, PANASONIC_PLACES, "Panasonic", report)
    elif head.startswith(b"Nikon\0\x02") and head[10:12] in (b"II", b"MM"):  # its own TIFF header at +10
        inner = Tiff(data, at + 10, min(at + size, t.end))
        for tag, typ, count, vpos, vsize, _ in inner.entries(inner.first_ifd):
            if tag == NIKON_LOCATION_INFO and vpos is not None and vsize >= 9:
                _nikon_location(data, vpos, vsize, report)
    elif head[2:14] == t.pack16(1) + t.pack16(7) + t.pack32(4) + b"0100":  # Samsung Type2: a bare IFD
        _named_places(t, at - t.start, SAMSUNG_PLACES, "Samsung", report)


def _named_places(t: Tiff, ifd: int, names: dict[int, str], maker: str, report: MediaReport) -> None:
    for tag, typ, count, vpos, size, _ in t.entries(ifd):
        if tag in names and vpos is not None and typ in (1, 2, 7) and size:
            text = bytes(t.data[vpos:vpos + size]).split(b"\0\0", 1)[0].replace(b"\0", b" ")
            value = text.decode("utf-8", "replace").strip()
            if value not in EMPTY_PLACES:
                report.places.append(Place(f"{maker} MakerNote {names[tag]}", value))
                report.patches.append(blank(vpos, vpos + size))


def _nikon_location(data: bytes, vpos: int, size: int, report: MediaReport) -> None:
    """Nikon LocationInfo: version (4), text encoding (1: UTF-8, 2: UTF-16), CountryCode (3), POILevel (1),
    Location (70)."""
    encoding = data[vpos + 4]
    country = bytes(data[vpos + 5:vpos + 8]).split(b"\0", 1)[0].decode("latin-1").strip()
    raw = bytes(data[vpos + 9:vpos + size])
    location = (raw.decode("utf-16-be", "replace") if encoding == 2 else raw.decode("utf-8", "replace"))
    location = location.split("\0", 1)[0].strip()
    if location:
        report.places.append(Place("Nikon MakerNote Location", location))
    if country:
        report.places.append(Place("Nikon MakerNote CountryCode", country))
    if location or country:
        report.patches.append(blank(vpos + 5, vpos + size))
