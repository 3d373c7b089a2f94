"""The ISO base media box walker (MP4, MOV, HEIF, CR3, JPEG XL), shared by the container walker and GoPro telemetry.

Hand-written because removal needs each box's byte offsets, which no maintained library reports.
"""
from __future__ import annotations

import struct

from .report import MediaReport

MAX_BOXES = 20000


class Box:
    __slots__ = ("type", "start", "body", "end", "uuid")

    def __init__(self, type_, start, body, end, uuid=None):
        self.type, self.start, self.body, self.end, self.uuid = type_, start, body, end, uuid


def boxes(data: bytes, start: int, end: int, report: MediaReport):
    pos, count = start, 0
    while pos + 8 <= end and count < MAX_BOXES:
        count += 1
        size, btype = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            body += 8
        elif size == 0:
            size = end - pos
        box_end = pos + size
        if size < body - pos:
            report.warn(f"ISOBMFF: bad size for box {btype!r} at byte {pos}")
            return
        if box_end > end:
            report.warn(f"ISOBMFF: box {btype.decode('latin-1')} cut short")
            box_end = end
        uuid = None
        if btype == b"uuid":
            uuid, body = bytes(data[body:body + 16]), body + 16
        yield Box(btype, pos, body, box_end, uuid)
        pos = pos + size
