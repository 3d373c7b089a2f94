"""PNG: eXIf, ImageMagick-style "Raw profile type ..." text chunks (hex, maybe zlib), and iTXt XMP.

PNG has no offsets between chunks, so a chunk whose text is compressed may be rewritten whole at another length;
every other change keeps the length and recomputes the chunk's CRC.
"""
from __future__ import annotations

import re
import struct
import zlib

from . import iptc, jumbf, tiff, xmp
from .report import Budget, MediaReport, OverBudget, Patch, apply_patches, safely

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Possessive: the old "^\s*\n?([a-z0-9-]*)\n\s*(\d+)\n" backtracked quadratically over a run of line breaks.
RAW_PROFILE = re.compile(rb"\s*+(?:([a-z0-9-]++)\n)?\s*+(\d++)\n", re.I)
HEX_RUNS = re.compile(rb"([^0-9a-fA-F]+)")
MAX_TEXT = 16 << 20  # a text chunk larger than this is not metadata anyone needs us to inflate
MAX_INFLATED = 16 << 20  # bytes inflated for one file, across all its compressed chunks (it was per chunk: 20 chunks
# of just under 16 MB took 7 s)
MAX_RATIO, RATIO_FLOOR = 100, 1 << 20  # past 1 MB, a chunk may inflate at most 100 times its compressed size


def parse(data: bytes, start: int, end: int, report: MediaReport) -> None:
    pos = start + 8
    budget = Budget("PNG: bytes inflated from compressed text chunks", MAX_INFLATED)
    while pos + 8 <= end:
        length, ctype = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        body_end = body + length
        if body_end > end:
            report.warn(f"PNG: {ctype.decode('latin-1')} chunk cut short")
            body_end = end
        if ctype == b"eXIf":
            _in_place(data, pos, body, body_end, report, _exif)
        elif ctype == b"tXMP":  # raw XMP, where a 2001 XMP draft put it (ExifTool still reads it)
            _in_place(data, pos, body, body_end, report,
                      lambda d, lo, hi, r: xmp.parse(d, lo, hi, r, "XMP (PNG tXMP)"))
        elif ctype == b"caBX":  # C2PA content credentials: a JUMBF manifest store
            _in_place(data, pos, body, body_end, report, jumbf.walk)
        elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
            safely(report, "PNG text", _text, data, pos, ctype, body, body_end, report, budget)
        elif ctype == b"IEND":
            break
        pos = body_end + 4


def _exif(data: bytes, lo: int, hi: int, report: MediaReport) -> None:
    if data[lo:lo + 6] == b"Exif\0\0":
        lo += 6
    tiff.parse(data, lo, hi, report, "EXIF (PNG eXIf)")


def _in_place(data, chunk, body, body_end, report, walker) -> None:
    """Run a walker on a chunk's data; turn its same-length patches into one patch that also fixes the CRC."""
    sub = MediaReport()
    safely(report, "PNG", walker, data, body, body_end, sub)
    _merge(report, sub)
    if sub.patches:
        new_body = apply_patches(data[body:body_end], [Patch(p.start - body, p.end - body, p.data)
                                                      for p in sub.patches])
        crc_at = body_end
        patch = new_body
        if crc_at + 4 <= len(data):
            patch += struct.pack(">I", zlib.crc32(data[chunk + 4:body] + new_body))
        report.patches.append(Patch(body, body + len(patch), patch))


def _merge(report: MediaReport, sub: MediaReport) -> None:
    report.coordinates += sub.coordinates
    report.places += sub.places
    for w in sub.warnings:
        report.warn(w)
    for k, v in sub.camera.items():
        report.camera.setdefault(k, v)


def _inflate(compressed: bytes, budget: Budget) -> bytes:
    """A chunk's text, inflated within the file's budget and the ratio cap; over either is an error (OverBudget),
    never a text silently cut short."""
    ratio_cap = max(RATIO_FLOOR, MAX_RATIO * len(compressed))
    cap = min(MAX_TEXT, budget.left, ratio_cap)
    out = zlib.decompressobj().decompress(compressed, cap + 1)
    if len(out) > cap:
        if cap == ratio_cap:
            raise OverBudget(f"PNG: a compressed text chunk inflates more than {MAX_RATIO} times its size")
        if cap == MAX_TEXT:
            raise OverBudget(f"PNG: a compressed text chunk inflates past {MAX_TEXT} bytes")
    budget.take(len(out))
    return out


def _text(data, chunk, ctype, body, body_end, report, budget: Budget) -> None:
    raw = data[body:body_end]
    keyword, sep, rest = raw.partition(b"\0")
    if not sep:
        return
    kw = keyword.decode("latin-1")
    if not (kw.startswith("Raw profile type") or kw == "XML:com.adobe.xmp"):
        return
    compressed, header = False, b""
    if ctype == b"zTXt":
        compressed, header, text = True, rest[:1], rest[1:]
    elif ctype == b"iTXt":
        flag = rest[:1] == b"\x01"
        lang, _, rest2 = rest[2:].partition(b"\0")
        translated, _, text = rest2.partition(b"\0")
        header = rest[:2] + lang + b"\0" + translated + b"\0"
        compressed = flag
    else:
        text = rest
    text_start = body + len(keyword) + 1 + len(header)
    if not compressed and kw == "XML:com.adobe.xmp":
        _in_place(data, chunk, body, body_end, report,
                  lambda d, lo, hi, r: xmp.parse(d, text_start, hi, r, "XMP (PNG iTXt)"))
        return
    if compressed:
        text = _inflate(text, budget)
    sub = MediaReport()
    if kw == "XML:com.adobe.xmp":
        xmp.parse(text, 0, len(text), sub, "XMP (PNG iTXt)")
        new_text = apply_patches(text, sub.patches)
    else:
        new_text = _raw_profile(kw[len("Raw profile type"):].strip().lower(), text, sub)
    _merge(report, sub)
    if new_text is None or new_text == text:
        return
    if compressed:
        new_text = zlib.compress(new_text, 9)
    payload = keyword + b"\0" + header + new_text
    if len(payload) > len(raw) and not compressed:
        raise ValueError("rewritten text chunk grew")
    new_chunk = struct.pack(">I", len(payload)) + ctype + payload
    new_chunk += struct.pack(">I", zlib.crc32(ctype + payload))
    report.patches.append(Patch(chunk, min(body_end + 4, len(data)), new_chunk))


def _raw_profile(kind: str, text: bytes, sub: MediaReport) -> bytes | None:
    """ImageMagick's "\\n<type>\\n<length>\\n<hex...>": decode, inspect, re-encode the hex in place."""
    m = RAW_PROFILE.match(text)
    if m and m.group(1) is None and not text[:m.start(2)].count(b"\n"):
        m = None  # as before: the length follows a line break
    if not m:
        return None
    digits = text[m.end():].translate(None, b" \t\r\n")
    if HEX_RUNS.search(digits):  # stray bytes among the digits: keep only hex
        digits = HEX_RUNS.sub(b"", digits)
    n = min(int(m.group(2)), len(digits) // 2)
    blob = bytes.fromhex(digits[:2 * n].decode())
    if kind in ("exif", "app1"):
        lo = 6 if blob[:6] == b"Exif\0\0" else 0
        tiff.parse(blob, lo, len(blob), sub, "EXIF (PNG raw profile)")
    elif kind == "xmp":
        xmp.parse(blob, 0, len(blob), sub, "XMP (PNG raw profile)")
    elif kind == "iptc":
        iptc.parse_irb(blob, 0, len(blob), sub)
        if not sub.places and blob[:1] == b"\x1c":
            iptc.parse_iim(blob, 0, len(blob), sub)
    elif kind == "8bim":
        iptc.parse_irb(blob, 0, len(blob), sub)
    if not sub.patches:
        return None
    new_hex = apply_patches(blob, sub.patches).hex().encode() + digits[2 * n:]
    runs = HEX_RUNS.split(text[m.end():])  # hex runs at even positions, line breaks between: keep the layout
    out, used = [text[:m.end()]], 0
    for i, run in enumerate(runs):
        if i % 2 == 0:
            run, used = new_hex[used:used + len(run)], used + len(run)
        out.append(run)
    return b"".join(out)
