"""The media formats PostGuard knows, in one table: how each is recognised, what reads its metadata, what it is.

A new format is one entry in FORMATS, and every consumer follows it: `sniff` and the walkers `inspect` runs (here),
the pictures and videos pupil.image decodes, the suffixes `postguard scan` expects a picture or video behind, and the
base64 openings by which the proxy takes a long JSON string for a file. tests/rules/media/test_formats.py checks
every entry; copy one of the walker tests beside it for the new format.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import isobmff, jpeg, matroska, png, riff, tiff, xmp
from .report import MediaReport

PICTURE, VIDEO, METADATA = "picture", "video", "metadata"  # metadata: a sidecar or bare block, no pixels
DOCUMENT = "document"  # text: read for pupil records by rules/media/documents.py (documents.pupil_records)
_DOCUMENT_TEXT = "a document: its text is read for pupil records (rules/media/documents.py), not for a location"
Walker = Callable[[bytes, int, int, MediaReport], None]  # walker(data, start, end, report)


@dataclass(frozen=True)
class Format:
    name: str  # what sniff() returns and MediaReport.format says
    kind: str  # PICTURE, VIDEO or METADATA
    magic: tuple[bytes, ...] = ()  # the file starts with one of these ...
    pattern: bytes = b""  # ... or this regex (DOTALL, no capturing groups) matches from byte 0 in the first 64
    contains: tuple[bytes, ...] = ()  # and, if given, one of these is in the first 4096 bytes
    walker: Walker | None = None  # what reads its metadata
    no_walker: str = ""  # why a picture or video has none
    suffixes: tuple[str, ...] = ()  # lower case, with the dot
    base64: tuple[str, ...] = ()  # how it starts in base64, bare or after a data URL's header: its first 3 bytes
    decoded: bool = False  # PostGuard decodes its pixels (Pillow with pillow-heif; PyAV): pupil.image looks at it
    sniffed: bool = True  # sniff() returns it; see WebM for the one it does not


def ftyp(*brands: bytes) -> bytes:
    """An ISO base media file whose first box is `ftyp` with one of these major brands (any brand if none)."""
    return rb".{4}ftyp" + (_either(*map(re.escape, brands)) if brands else b"")


def first_atom(*types: bytes) -> bytes:
    """A QuickTime file with no `ftyp`: its first atom is one of these, and at least 8 bytes long."""
    return rb"(?!\x00\x00\x00[\x00-\x07]).{4}" + _either(*map(re.escape, types))


def text(*starts: bytes) -> bytes:
    """A text file that starts with one of these, after any UTF-8 byte order mark and white space."""
    return rb"[\xef\xbb\xbf \t\r\n]*" + _either(*map(re.escape, starts))


def _either(*patterns: bytes) -> bytes:
    return b"(?:" + b"|".join(patterns) + b")"


def _tiff(data: bytes, start: int, end: int, report: MediaReport) -> None:
    tiff.parse(data, start, end, report, "EXIF")


def _exif(data: bytes, start: int, end: int, report: MediaReport) -> None:
    tiff.parse(data, start + 6, end, report, "EXIF")


def _raf(data: bytes, start: int, end: int, report: MediaReport) -> None:
    """Fujifilm RAF: the EXIF is in the JPEG preview whose offset and length the header gives."""
    offset, length = int.from_bytes(data[84:88], "big"), int.from_bytes(data[88:92], "big")
    if data[offset:offset + 3] == b"\xff\xd8\xff":
        jpeg.parse(data, offset, min(offset + length, end), report)


def _xmp_sidecar(data: bytes, start: int, end: int, report: MediaReport) -> None:
    xmp.parse(data, start, end, report, "XMP sidecar")


# sniff() tries these in this order and the first that matches names the file, so the order is part of the data:
# the ftyp brands before MP4 (which takes every other brand), XMP last (its test reads past the first 64 bytes).
FORMATS: tuple[Format, ...] = (
    Format("JPEG", PICTURE, magic=(b"\xff\xd8\xff",), walker=jpeg.parse, suffixes=(".jpg", ".jpeg"),
           base64=("/9j/",), decoded=True),
    Format("PNG", PICTURE, magic=(png.SIGNATURE,), walker=png.parse, suffixes=(".png",), base64=("iVBO",),
           decoded=True),
    Format("GIF", PICTURE, magic=(b"GIF8",), walker=riff.parse_gif, suffixes=(".gif",), base64=("R0lG",),
           decoded=True),
    Format("WEBP", PICTURE, pattern=rb"RIFF.{4}WEBP", walker=riff.parse, suffixes=(".webp",), base64=("UklG",),
           decoded=True),
    # TIFF and the camera raw files built on it (DNG, CR2, NEF, ARW); Olympus ORF and Panasonic RW2 change the
    # magic number.
    Format("TIFF", PICTURE, magic=(b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"MMOR", b"IIU\0"), walker=_tiff,
           suffixes=(".tif", ".tiff", ".dng", ".cr2", ".nef", ".arw", ".orf", ".rw2"), base64=("SUkq", "TU0A"),
           decoded=True),
    Format("RAF", PICTURE, magic=(b"FUJIFILMCCD-RAW",), walker=_raf, suffixes=(".raf",)),
    Format("CRW", PICTURE, pattern=rb"II.{4}HEAPCCDR", suffixes=(".crw",),
           no_walker="CIFF, Canon's raw format of about 2000 to 2004, defines no GPS tags"),
    Format("JXL", PICTURE, magic=(b"\0\0\0\x0cJXL \r\n\x87\n",), walker=isobmff.parse, suffixes=(".jxl",),
           base64=("AAAA",)),
    Format("JXL codestream", PICTURE, magic=(b"\xff\x0a",), suffixes=(".jxl",),
           no_walker="a bare codestream has no metadata: EXIF and XMP boxes need the JPEG XL container"),
    Format("HEIF", PICTURE,
           pattern=ftyp(b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"),
           walker=isobmff.parse, suffixes=(".heic", ".heif"), base64=("AAAA",), decoded=True),
    Format("AVIF", PICTURE, pattern=ftyp(b"avif", b"avis", b"avio"), walker=isobmff.parse, suffixes=(".avif",),
           base64=("AAAA",), decoded=True),
    Format("CR3", PICTURE, pattern=ftyp(b"crx "), walker=isobmff.parse, suffixes=(".cr3",), base64=("AAAA",)),
    # An old QuickTime file may have no ftyp. (An ftyp first atom is the brand's business: MP4 takes the others.)
    Format("MOV", VIDEO,
           pattern=_either(ftyp(b"qt  "), first_atom(b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid")),
           walker=isobmff.parse, suffixes=(".mov",), base64=("AAAA",), decoded=True),
    Format("MP4", VIDEO, pattern=ftyp(), walker=isobmff.parse, suffixes=(".mp4", ".m4v", ".3gp"), base64=("AAAA",),
           decoded=True),
    # Documents (documents.pupil_records). ODF's first entry is the uncompressed "mimetype" file, so its pattern comes
    # before the ZIP that Word, Excel and PowerPoint files are (documents.py tells them apart by their entries).
    Format("PDF", DOCUMENT, magic=(b"%PDF-",), suffixes=(".pdf",), base64=("JVBE",), no_walker=_DOCUMENT_TEXT),
    Format("ODF", DOCUMENT, pattern=rb"PK\x03\x04.{26}mimetypeapplication/vnd\.oasis\.",
           suffixes=(".odt", ".ods", ".odp"), base64=("UEsD",), no_walker=_DOCUMENT_TEXT),
    Format("ZIP", DOCUMENT, magic=(b"PK\x03\x04",), suffixes=(".docx", ".xlsx", ".pptx", ".zip"), base64=("UEsD",),
           no_walker=_DOCUMENT_TEXT),
    Format("OLE2", DOCUMENT, magic=(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",), suffixes=(".doc", ".xls", ".ppt"),
           no_walker="a legacy Office file: documents.pupil_records reports it as not read"),
    Format("EXIF", METADATA, magic=(b"Exif\0\0",), walker=_exif, suffixes=(".exif",)),
    Format("XMP", METADATA, pattern=text(b"<?xpacket", b"<x:xmpmeta", b"<x:xapmeta", b"<rdf:RDF", b"<?xml"),
           contains=(b"xmpmeta", b"rdf:RDF", b"xapmeta"), walker=_xmp_sidecar, suffixes=(".xmp",)),
    # Not sniffed: sniff() names the file for `postguard scan`'s "format", the proxy's attachment names and inspect's
    # choice between a walker and the search for an MP4 fragment; WebM would change all three. pupil.image asks
    # sniff_unsniffed() instead, to hand it to the frame decoder.
    # Its walker reads the location tags ffmpeg and mkvmerge write (rules/media/matroska.py); inspect() runs it for a
    # file sniff() leaves unnamed.
    Format("WebM", VIDEO, magic=(b"\x1a\x45\xdf\xa3",), suffixes=(".webm", ".mkv"), decoded=True, sniffed=False,
           walker=matroska.parse),
)

BY_NAME = {f.name: f for f in FORMATS}
WALKERS: dict[str, Walker] = {f.name: f.walker for f in FORMATS if f.walker}  # inspect()
PICTURES = frozenset(f.name for f in FORMATS if f.kind == PICTURE and f.decoded)  # pupil.image
VIDEOS = frozenset(f.name for f in FORMATS if f.kind == VIDEO and f.decoded)  # pupil.image
# `postguard scan` says a file with one of these suffixes that sniff() does not know is not what its name says
MEDIA_SUFFIXES = frozenset(s for f in FORMATS if f.sniffed and f.kind in (PICTURE, VIDEO) for s in f.suffixes)
BASE64_OPENINGS = frozenset(o for f in FORMATS for o in f.base64)  # the proxy's bare base64 strings


# ------------------------------------------------------------------------------------------------ sniffing
# Built once at import, because sniff() runs on every uploaded file and the proxy sniffs every long base64 string.
# The plain magic numbers at the head of the table (JPEG, PNG, GIF: most uploads) are found by the file's first
# byte and one compare; one regex then tries the rest in order, in C. Against the if-chain this replaced (timeit,
# corpus files): JPEG 261 -> 238 ns, PNG 388 -> 245, HEIF 1684 -> 591, MP4 1525 -> 837, not a media file 1907 -> 541.

def _sniffer(formats: tuple[Format, ...]):
    for f in formats:
        if re.compile(f.pattern).groups:
            raise ValueError(f"{f.name}: a magic pattern must not have capturing groups")
        if f.contains and f is not formats[-1]:
            raise ValueError(f"{f.name}: a format whose test reads past byte 64 must be the last one tried")
    by_first_byte: list[tuple[int, bytes, str] | None] = [None] * 256
    direct = 0
    for f in formats:
        if len(f.magic) != 1 or f.pattern or f.contains or by_first_byte[f.magic[0][0]]:
            break  # from here on, the order of the tests matters: the regex keeps it
        by_first_byte[f.magic[0][0]] = (len(f.magic[0]), f.magic[0], f.name)
        direct += 1
    table = tuple(by_first_byte)
    # One alternative per magic number, each ending in an empty group: the group that matched names the format
    # (m.lastindex), and an alternative that starts with a plain byte is skipped at that byte.
    alternatives, found = [], [None]
    for f in formats[direct:]:
        for test in ([f.pattern] if f.pattern else map(re.escape, f.magic)):
            alternatives.append(b"(?:" + test + b")()")
            found.append((f.name, f.contains))
    match = re.compile(b"|".join(alternatives) or rb"(?!)", re.DOTALL).match
    names = tuple(found)

    def sniff(data: bytes) -> str | None:
        if not data:
            return None
        hit = table[data[0]]
        if hit is not None and data[:hit[0]] == hit[1]:
            return hit[2]
        m = match(data, 0, 64)
        if m is None:
            return None
        name, contains = names[m.lastindex]
        if contains:
            window = data[:4096]
            for word in contains:
                if word in window:
                    return name
            return None
        return name

    return sniff


def _tested(f: Format) -> bool:
    return bool(f.magic or f.pattern)


sniff = _sniffer(tuple(f for f in FORMATS if f.sniffed and _tested(f)))
sniff.__doc__ = """The format's name, from the file's first bytes (never its name), or None."""
sniff_unsniffed = _sniffer(tuple(f for f in FORMATS if not f.sniffed and _tested(f)))
sniff_unsniffed.__doc__ = """The format sniff() leaves out (WebM) that the file is, by the same tests, or None."""
