"""Matroska and WebM: the location a Tags element names (ExifTool's Matroska.pm: RECORDING_LOCATION; ffmpeg writes
an MP4's ISO 6709 `©xyz` as the tag LOCATION when it remuxes a phone's video to MKV or WebM).

EBML: each element is an ID (1-4 bytes, its length in the leading zeros) and a size (a 1-8 byte variable-length
integer; all ones means unknown). The walk is flat: it steps into the few masters on the way to a tag (Segment, Tags,
Tag, SimpleTag, and a Cluster of unknown size, whose end only the next top-level element shows) and skips every
other element by its size, so the media data is never read. Removal blanks the tag's value with spaces in place.
"""
from __future__ import annotations

from . import isobmff
from .report import Budget, Coordinate, MediaReport, Place, blank

SEGMENT, TAGS, TAG, SIMPLE_TAG, CLUSTER = 0x18538067, 0x1254C367, 0x7373, 0x67C8, 0x1F43B675
TAG_NAME, TAG_STRING = 0x45A3, 0x4487
MASTERS = {SEGMENT, TAGS, TAG, SIMPLE_TAG}
LOCATION_TAGS = {"RECORDING_LOCATION", "LOCATION", "LOCATION-ENG", "COM.APPLE.QUICKTIME.LOCATION.ISO6709"}
MAX_ELEMENTS = 2_000_000  # a WebM of 10 MB holds about 10,000 blocks


class _Cut(Exception):
    """The file ends inside an element's header: a cut file (a chunk of an upload); what came before was read."""


def _vint(data: bytes, pos: int, end: int, keep_marker: bool) -> tuple[int | None, int]:
    """(value, length); value None for the all-ones 'unknown'."""
    if pos >= end or data[pos] == 0:
        raise ValueError(f"Matroska: no element header at byte {pos}")
    length = 9 - data[pos].bit_length()
    if pos + length > end:
        raise _Cut
    raw = int.from_bytes(data[pos:pos + length], "big")
    if keep_marker:
        return raw, length
    value = raw & ((1 << (7 * length)) - 1)
    return (None if value == (1 << (7 * length)) - 1 else value), length


def parse(data: bytes, start: int, end: int, report: MediaReport) -> None:
    budget = Budget("Matroska: elements", MAX_ELEMENTS)
    pos, name, value = start, None, None

    def flush():
        if name and value and name.upper() in LOCATION_TAGS:
            lo, hi = value
            text = bytes(data[lo:hi]).split(b"\0", 1)[0]
            m = isobmff.ISO6709.match(text)
            if m:
                report.coordinates.append(Coordinate(float(m.group(1)), float(m.group(2)), f"Matroska tag {name}"))
            elif text.strip():
                report.places.append(Place(f"Matroska tag {name}", text.decode("utf-8", "replace").strip()))
            report.patches.append(blank(lo, hi, b" "))

    while pos < end:
        budget.take()
        try:
            element, id_len = _vint(data, pos, end, True)
            if id_len > 4:
                raise ValueError(f"Matroska: an element ID of {id_len} bytes at byte {pos}")
            size, size_len = _vint(data, pos + id_len, end, False)
        except _Cut:
            report.warn("Matroska: file cut inside an element header")
            break
        body = pos + id_len + size_len
        if element == SIMPLE_TAG:
            flush()
            name = value = None
        if element in MASTERS or (element == CLUSTER and size is None):
            pos = body  # step in: its children follow
            continue
        if size is None:
            raise ValueError(f"Matroska: element {element:#x} of unknown size at byte {pos}")
        if body + size > end:
            break  # cut short: what is there was read
        if element == TAG_NAME:
            name = bytes(data[body:body + size]).split(b"\0", 1)[0].decode("utf-8", "replace")
        elif element == TAG_STRING:
            value = (body, body + size)
        pos = body + size
    flush()
