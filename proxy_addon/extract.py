"""From an HTTP request to the engine's Submission, and back: the one extraction the live addon and the offline
HAR audit share. No mitmproxy import: it takes plain method, URL, headers and body bytes.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import functools
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote, urlsplit

import brotlicffi
import zstandard
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from rules import Attachment, Submission
from rules.detectors.wikipedia import GET_SAVE_ACTIONS
from rules.media import formats, sniff, splice

MAX_FIELDS = 2000
MAX_DECODED = 64 << 20  # no decoded body larger than the largest inspected one (the addon's postguard_max_body)
MAX_RATIO = 1000  # a body that decodes to more than this many times its size is a bomb, not a post
MAX_CODINGS = 4
# Decoded a megabyte at a time into a list of pieces, joined once at the end: one call asked for the whole cap made a
# 64 MB piece and then copied it, and a bytearray grown by concurrent decodes left holes in malloc's one arena (three
# bombs in flight: proxy peak RSS 490 MB with one call, 374 MB with bytearrays, 300 MB so; bench/bomb_bench.py).
STEP = 1 << 20
GZIP_WBITS = 16 + zlib.MAX_WBITS
MIN_BASE64_MEDIA = 100  # characters: shorter strings are ids, not photos
DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w=.+-]+)*;base64,", re.I)
BASE64_CHARS = re.compile(rb"^[A-Za-z0-9+/_-]+={0,2}$")
MEDIA_TYPES = ("image/", "video/", "application/octet-stream")
BASE64_OPENINGS = formats.BASE64_OPENINGS  # how a picture or video starts in base64 ("/9j/" is JPEG), by the table


class ExtractError(ValueError):
    """The body could not be read as what it claims to be; the caller lets it through and logs why."""


@dataclass
class Part:
    """Where an attachment's bytes sit in the (decoded) body, so a cleaned copy can be put back."""

    kind: str  # "multipart", "raw", "json"
    start: int = 0
    end: int = 0
    json_path: tuple = ()
    prefix: str = ""  # a data URL's "data:image/jpeg;base64," header


@dataclass
class Extracted:
    submission: Submission
    body: bytes  # the decoded body the parts refer to
    parts: dict[int, Part] = field(default_factory=dict)  # index in submission.files -> where it lies
    content_type: str = ""


def decode_body(body: bytes, encoding: str, limit: int = MAX_DECODED) -> bytes:
    """Undo Content-Encoding (gzip, deflate, br, zstd, in the order they were applied), within a budget: the result
    may be at most `limit` bytes and MAX_RATIO times the body as sent, nested encodings included (a 1.8 KB
    gzip-inside-gzip body once expanded to 2.2 GB). Over budget raises ExtractError: not inspected, and logged."""
    if not encoding:
        return body
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    if len(codings) > MAX_CODINGS:
        raise ExtractError(f"{len(codings)} content encodings on one body (at most {MAX_CODINGS} are decoded)")
    cap = min(limit, max(len(body), 1024) * MAX_RATIO)
    for coding in reversed(codings):
        try:
            if coding in ("gzip", "x-gzip"):
                body = _inflate(body, GZIP_WBITS, cap, coding)
            elif coding == "deflate":
                try:
                    body = _inflate(body, zlib.MAX_WBITS, cap, coding)
                except zlib.error:
                    body = _inflate(body, -zlib.MAX_WBITS, cap, coding)  # raw deflate, as some clients send
            elif coding == "br":
                body = _unbrotli(body, cap)
            elif coding == "zstd":
                body = _unzstd(body, cap)
            elif coding != "identity":
                raise ExtractError(f"unknown Content-Encoding {coding!r}")
        except ExtractError:
            raise
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise ExtractError(f"cannot decode {coding} body: {exc}") from None
        except Exception as exc:  # brotlicffi.error, zstandard.ZstdError have no common base
            raise ExtractError(f"cannot decode {coding} body: {exc}") from None
    return body


class _Pieces(list):
    """Decoded output as pieces of at most STEP bytes, and their total."""

    size = 0

    def add(self, piece: bytes, cap: int, coding: str) -> None:
        if piece:
            self.append(piece)
            self.size += len(piece)
            _check(self.size, cap, coding)

    def room(self, cap: int) -> int:
        return min(STEP, cap + 1 - self.size)


def _check(size: int, cap: int, coding: str) -> None:
    if size > cap:
        raise ExtractError(f"the {coding} body decodes to more than {cap} bytes (at most {MAX_RATIO} times its "
                           f"size and {MAX_DECODED} bytes are inspected): a decompression bomb, or too large")


def _inflate(data: bytes, wbits: int, cap: int, coding: str) -> bytes:
    """zlib/gzip with the output bounded as it is made (gzip.decompress and zlib.decompress are not); every member of
    a multi-member gzip body, as gzip.decompress reads them."""
    out = _Pieces()
    while True:
        d = zlib.decompressobj(wbits)
        rest = data
        while not d.eof:  # input left, or output zlib holds back for want of room: one more step
            piece = d.decompress(rest, out.room(cap))
            out.add(piece, cap, coding)
            if not piece and len(d.unconsumed_tail) == len(rest):
                break  # no progress: the input ended before the stream did
            rest = d.unconsumed_tail
        if not d.eof:
            raise EOFError("compressed data ended before the end-of-stream marker")
        data = d.unused_data
        if wbits != GZIP_WBITS or not data.strip(b"\0"):
            return b"".join(out)
        if data[:2] != b"\x1f\x8b":
            raise OSError("trailing data after the gzip member is not another member")


def _unbrotli(data: bytes, cap: int) -> bytes:
    # brotlicffi, not mitmproxy's Brotli (pinned at 1.1, whose process() cannot bound its output).
    d, out = brotlicffi.Decompressor(), _Pieces()
    out.add(d.process(data, output_buffer_limit=STEP), cap, "br")
    while not d.can_accept_more_data() and (piece := d.process(b"", output_buffer_limit=out.room(cap))):
        out.add(piece, cap, "br")
    if not d.is_finished():
        raise EOFError("brotli data ended before the end of its stream")
    return b"".join(out)


def _unzstd(data: bytes, cap: int) -> bytes:
    out = _Pieces()
    with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
        while piece := reader.read(out.room(cap)):
            out.add(piece, cap, "zstd")
    return b"".join(out)


def extract(method: str, url: str, headers, body: bytes) -> Extracted:
    """The submission a request makes. Raises ExtractError for a body that is not what its type says."""
    headers = first_values(headers)
    body = decode_body(body, headers.get("content-encoding", ""))
    ctype, options = content_type(headers.get("content-type", ""))
    # The page the post is made from (the Referer, whole for a same-site request): which account or page it goes to
    # (rules/situations.py: the school's official accounts).
    page = headers.get("referer", "")[:2048]
    sub = Submission(url=url, method=method.upper(), context={"page_url": page} if page else {})
    out = Extracted(sub, body, content_type=ctype)
    if not body:
        return out
    if upload_chunk(headers, ctype):
        _whole_body(out, headers, url, ctype if ctype.startswith(("image/", "video/")) else "application/octet-stream")
    elif ctype == "application/x-www-form-urlencoded":
        try:
            text = body.decode(options.get("charset", "utf-8"))
        except (UnicodeDecodeError, LookupError) as exc:
            raise ExtractError(f"form body is not text: {exc}") from None
        sub.fields = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    elif ctype == "multipart/form-data":
        _multipart(out, options.get("boundary", ""))
    elif ctype == "application/json" or ctype.endswith("+json") or ctype == "application/graphql" or \
            (ctype in ("text/plain", "") and body[:1] in (b"{", b"[")):
        _json(out, ctype)
    elif ctype.startswith(MEDIA_TYPES) or sniff(body[:64]):
        _whole_body(out, headers, url, ctype)
    elif ctype.startswith("text/") or not ctype:
        sub.fields = [("body", body.decode("utf-8", "replace"))]
    return out


def saves_on_get(url: str) -> bool:
    """Whether a GET (outside the sign-in hosts, whose every GET is read) saves a change: a MediaWiki rollback link
    (`index.php?action=rollback&from=...&token=...`, carried out on the GET itself). The actions are the wiki rule's
    own list (rules/detectors/wikipedia.py GET_SAVE_ACTIONS), read as MediaWiki reads the query: the last value of a
    repeated parameter wins. Every other GET is reading, and costs no more than this test."""
    _, _, query = url.partition("?")
    if not query or not GET_SAVE_ACTIONS.intersection(query.replace("&", "=").split("=")) and "%" not in query:
        return False  # no action value of the list even by name: the usual GET stops here, unparsed
    query = query.partition("#")[0]
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except ValueError:  # more fields than any form has: the engine reads them all and decides
        return True
    return params.get("action", "") in GET_SAVE_ACTIONS


def _whole_body(out: Extracted, headers: dict[str, str], url: str, ctype: str) -> None:
    """The body is the file itself (a raw upload, or a chunk of one)."""
    out.parts[len(out.submission.files)] = Part("raw", 0, len(out.body))
    out.submission.files.append(Attachment(_file_name(headers, url), out.body, ctype))


def upload_chunk(headers: dict[str, str], ctype: str) -> bool:
    """A piece of a file sent by a resumable-upload protocol, whatever its Content-Type says: tus (PATCH, or POST
    with creation-with-upload, as application/offset+octet-stream), Google's resumable uploads
    (X-Goog-Upload-Command "upload" or "upload, finalize"; its uploader labels the bytes
    application/x-www-form-urlencoded), and chunked PUTs with a Content-Range (Microsoft Graph upload sessions,
    Google Drive). A middle or last chunk has no magic number to sniff, yet an MP4's moov is often in the last."""
    if ctype == "application/offset+octet-stream" or "upload-offset" in headers and "tus-resumable" in headers:
        return True
    if "upload" in headers.get("x-goog-upload-command", "").lower():
        return True
    return headers.get("content-range", "").lstrip().lower().startswith("bytes ")


@functools.lru_cache(maxsize=256)
def content_type(value: str):
    """The media type, lower case, and its options (read-only): a browser sends the same few values again and
    again, and werkzeug's parse costs more than the rest of a small form's extraction."""
    ctype, options = parse_options_header(value)
    return ctype.lower(), MappingProxyType(options)


def first_values(headers) -> dict[str, str]:
    """Each header's first value by its lower-case name, from a mapping or a list of (name, value) pairs."""
    out: dict[str, str] = {}
    for name, value in (headers.items() if hasattr(headers, "items") else headers):
        out.setdefault(name.lower(), value)
    return out


def _file_name(headers: dict[str, str], url: str) -> str:
    _, opts = parse_options_header(headers.get("content-disposition", ""))
    for name in (opts.get("filename"), headers.get("x-file-name"), headers.get("x-goog-upload-file-name")):
        if name:
            return unquote(name)
    return urlsplit(url).path.rsplit("/", 1)[-1] or "upload"


def _multipart(out: Extracted, boundary: str) -> None:
    """Fields and files through werkzeug's binary-safe parser; part offsets by our own scan, so a cleaned file can
    be spliced back with every other byte of the body untouched (werkzeug parses but does not serialise).

    Large file contents are cut out before werkzeug sees the body and taken from the scan's offsets instead: the
    parser still checks every delimiter and header, but does not copy megabytes of photo through Python-level
    chunks (9 of the 12 ms a 5 MB upload cost). A cut is exactly the bytes between a part's headers and the next
    delimiter, so it cannot hide structure."""
    if not boundary:
        raise ExtractError("multipart body without a boundary")
    delimiter = boundary.encode("latin-1")
    spans = _part_spans(out.body, delimiter)
    cuts = [(lo, hi) for lo, hi, is_file in spans if is_file and hi - lo > CUT_OVER]
    skeleton = out.body
    if cuts:
        pieces, pos = [], 0
        for lo, hi in cuts:
            pieces.append(out.body[pos:lo])
            pos = hi
        pieces.append(out.body[pos:])
        skeleton = b"".join(pieces)
    # Parts stay in memory (werkzeug's default spools files over 500 KB to disk): the body is in memory already.
    parser = MultiPartParser(stream_factory=_in_memory, max_form_parts=MAX_FIELDS)
    try:
        form, files = parser.parse(io.BytesIO(skeleton), delimiter, len(skeleton))
    except ValueError as exc:
        raise ExtractError(f"malformed multipart body: {exc}") from None
    if not spans and (form or files):
        raise ExtractError("multipart body whose parts cannot be located")
    out.submission.fields = [(k, v) for k, v in form.items(multi=True)]
    file_spans = [s for s in spans if s[2]]
    cut = set(cuts)
    for i, (key, storage) in enumerate(files.items(multi=True)):
        lo, hi = file_spans[i][:2] if i < len(file_spans) else (0, -1)
        taken = (lo, hi) in cut  # the bytes are the body's own, from lo to hi
        data = out.body[lo:hi] if taken else storage.read()
        att = Attachment(storage.filename or key, data, storage.content_type or "", key)
        idx = len(out.submission.files)
        out.submission.files.append(att)
        if taken or hi - lo == len(data) and out.body.startswith(data, lo):  # memcmp in place, no copy
            out.parts[idx] = Part("multipart", lo, hi)


CUT_OVER = 64 << 10  # file parts larger than this bypass the parser's chunk loop (see _multipart)


def _in_memory(total_content_length=None, content_type=None, filename=None, content_length=None):
    return io.BytesIO()


def _part_spans(body: bytes, boundary: bytes) -> list[tuple[int, int, bool]]:
    """(content start, content end, is a file) for each part, found by the boundary delimiters."""
    delim = b"--" + boundary
    spans, pos = [], body.find(delim)
    while pos >= 0:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos + len(delim):pos + len(delim) + 2] == b"--":
            break
        head_end = body.find(b"\r\n\r\n", line_end)
        if head_end < 0:
            break
        nxt = body.find(b"\r\n" + delim, head_end + 4)
        if nxt < 0:
            break
        head = body[line_end + 2:head_end].lower()
        spans.append((head_end + 4, nxt, b"filename=" in head))
        pos = nxt + 2
    return spans


def _json(out: Extracted, ctype: str) -> None:
    try:
        # RFC 8259: JSON on the wire is UTF-8. Decoded here, json.loads skips its own guess at UTF-16 and UTF-32;
        # a body that is not UTF-8 is still given to json.loads as bytes, so those are read as before. (A byte
        # order mark is cut off by hand: the "utf-8-sig" codec is Python code, the plain one is not.)
        try:
            doc = json.loads(out.body[3:].decode() if out.body.startswith(codecs.BOM_UTF8) else out.body.decode())
        except UnicodeDecodeError:
            doc = json.loads(out.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if ctype == "application/graphql":
            out.submission.fields = [("query", out.body.decode("utf-8", "replace"))]
            return
        raise ExtractError(f"malformed JSON body: {exc}") from None
    if isinstance(doc, (dict, list)):
        _walk(out, doc, (), "")
    elif isinstance(doc, str):
        _leaf(out, doc, "body", ())


def _walk(out: Extracted, node: dict | list, path: tuple, name: str, depth: int = 0) -> None:
    """Text fields at any depth, named by their path ("client.name", "media.0.alt"); base64 data URLs and base64
    image strings become attachments. Strings are taken in their container's loop, and numbers, booleans and nulls
    skipped there: most of a post's values are leaves."""
    if depth > 64 or len(out.submission.fields) > MAX_FIELDS:
        return
    dot = f"{name}." if path else ""
    for k, v in (node.items() if isinstance(node, dict) else enumerate(node)):
        if isinstance(v, str):
            _leaf(out, v, f"{dot}{k}" or "body", path, k)
        elif isinstance(v, (dict, list)):
            _walk(out, v, path + (k,), f"{dot}{k}", depth + 1)


def _leaf(out: Extracted, text: str, name: str, parent: tuple, key=None) -> None:
    """A string at parent + (key,) (the whole document when there is no key): a text field, or a file."""
    media = _base64_media(text)
    if media is None:
        out.submission.fields.append((name, text))
        return
    data, prefix, mime = media
    path = parent if key is None else parent + (key,)
    out.parts[len(out.submission.files)] = Part("json", json_path=path, prefix=prefix)
    out.submission.files.append(Attachment(f"{name}.{(sniff(data) or 'bin').lower()}", data, mime, name))


def _base64_media(text: str):
    prefix, mime = "", ""
    m = DATA_URL.match(text) if text[:5].lower() == "data:" else None
    if m:
        prefix, mime = text[:m.end()], m.group(1) or ""
        payload = text[m.end():]
    elif len(text) >= MIN_BASE64_MEDIA and text[:4] in BASE64_OPENINGS:
        payload = text  # a picture or video by how it starts in base64
    else:
        return None
    raw = payload.strip().encode("ascii", "ignore")
    if not BASE64_CHARS.match(raw[:4096]):
        return None
    try:
        data = base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_" if b"-" in raw or b"_" in raw else None)
    except (binascii.Error, ValueError):
        return None
    if not prefix and not sniff(data[:64]):
        return None
    return data, prefix, mime


def rebuild(ex: Extracted, cleaned: dict[int, bytes]) -> bytes:
    """The body with the cleaned attachments put back where they were; every other byte unchanged."""
    body = ex.body
    raw_parts = [(ex.parts[i], data) for i, data in cleaned.items() if ex.parts[i].kind != "json"]
    if raw_parts:  # the body is copied once, whatever the lengths
        body = splice(body, sorted(((part.start, part.end, data) for part, data in raw_parts), key=lambda r: r[0]))
    json_parts = [(ex.parts[i], data) for i, data in cleaned.items() if ex.parts[i].kind == "json"]
    if json_parts:
        doc = json.loads(body)
        for part, data in json_parts:
            doc = _set(doc, part.json_path, part.prefix + base64.b64encode(data).decode())
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return body


def _set(doc, path: tuple, value):
    """The document with the value at `path` replaced (the value itself when the path is empty: the whole body
    was one string)."""
    if not path:
        return value
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return doc
