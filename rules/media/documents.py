"""The text of an uploaded document, read within a budget: PDF, DOCX, XLSX, PPTX, ODT/ODS/ODP and CSV.

`kind_of(data, name, content_type)` says which reader a file needs (by its bytes: the formats table sniffs PDF, ODF,
OOXML's ZIP and legacy OLE2; CSV, which has no magic number, by its declared name or type). `read(data, kind)`
returns a `DocumentText`: prose `lines`, table `rows` (a tuple of cell texts each) and `errors`. Each reader is a
well-kept library (pypdf, python-docx, openpyxl in read-only mode with defusedxml, python-pptx, odfpy); this module
only decides how far each may go:

- a ZIP container is checked before any parser opens it: at most MAX_ENTRIES entries, MAX_ENTRY bytes each and
  MAX_UNPACKED in all as its central directory declares them (Python's zipfile never inflates an entry past its
  declared size), and no entry over MAX_RATIO times its compressed size once past 1 MB;
- pages, slides, rows, cells and characters are capped, and the clock is read between pages and rows (DEADLINE_S, or
  the caller's deadline when that comes first: the proxy's inspection budget);
- XML is parsed without entity expansion (lxml with resolve_entities=False for python-docx and python-pptx,
  defusedxml for openpyxl, expat's amplification limit for odfpy).

Whatever is over budget or unreadable is an entry in `errors` (what was read before stays in lines and rows): a
document that could not be read to its end is never "nothing found".
"""
from __future__ import annotations

import csv
import io
import logging
import time
import zipfile
from dataclasses import dataclass, field

from .formats import DOCUMENT, FORMATS, sniff

MAX_BYTES = 64 * 1024 * 1024  # a document larger than this is not opened
MAX_ENTRIES = 5_000  # entries in an OOXML/ODF zip
MAX_ENTRY = 64 * 1024 * 1024  # declared uncompressed bytes of one entry
MAX_UNPACKED = 160 * 1024 * 1024  # declared uncompressed bytes of all entries
MAX_RATIO = 200  # uncompressed / compressed, for an entry past RATIO_FROM bytes
RATIO_FROM = 1024 * 1024
MAX_PAGES = 1_000  # PDF pages, slides
MAX_ROWS = 200_000  # table rows and lines, across the document
MAX_CELLS = 2_000_000  # table cells (a read-only sheet pads a row out to its last used column)
MAX_CHARS = 16_000_000  # characters of text kept
MAX_DEPTH = 64  # nested shapes, tables in tables
DEADLINE_S = 10.0  # seconds of reading per document, checked between pages and rows
# pypdf extracts text at about 0.2 MB of content stream a second when the stream is dense with text operators (a
# 12 KB PDF of one page holding 3.9 MB of "(...) Tj 0 -1 Td" took 18 s): a page's decoded content is capped, so one
# page costs at most a few seconds, and no stream inflates past PDF_STREAM_MAX (pypdf's own limit is 75 MB).
PAGE_CONTENT_MAX = 512 * 1024
PDF_STREAM_MAX = 16 * 1024 * 1024

DOCUMENT_FORMATS = ("PDF", "ODF", "ZIP", "OLE2")  # formats.py names this module reads (or knows it cannot)
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/comma-separated-values", "text/tab-separated-values",
                       "application/vnd.ms-excel"})
CSV_SUFFIXES = (".csv", ".tsv")
# A file named as a document (report.pdf, list.xlsx) whose bytes are no document PostGuard knows: an error, as a photo
# that is not the image its name says is (never "nothing found").
DOCUMENT_SUFFIXES = tuple(s for f in FORMATS if f.kind == DOCUMENT for s in f.suffixes if s != ".zip")
NOT_WHAT_IT_SAYS = "unrecognised"

logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # a hostile PDF logs an error per odd object (kilobytes each)


class OverBudget(Exception):
    """The document goes past one of the limits above: reading stops there."""


@dataclass
class DocumentText:
    kind: str  # "PDF", "DOCX", "XLSX", "PPTX", "ODT", "ODS", "ODP", "CSV"
    lines: list[str] = field(default_factory=list)  # prose: paragraphs, PDF text lines
    rows: list[tuple[str, ...]] = field(default_factory=list)  # table rows: each cell's text ("" when empty)
    errors: list[str] = field(default_factory=list)
    units: int = 0  # pages, slides, sheets or rows read
    unit: str = "pages"
    chars: int = 0
    cells: int = 0
    _deadline: float = 0.0
    _clock: str = ""  # what the deadline is, for the error: "10 s of reading", "the caller's time budget"
    _depth: int = 0  # documents embedded in documents: 1 inside the upload, and so on

    def line(self, text: str) -> None:
        text = text.strip()
        if text:
            self._count(len(text), 0)
            self.lines.append(text)

    def row(self, cells) -> None:
        """A table row; empty cells are kept as "" so columns stay aligned with the header (trailing ones dropped)."""
        cells = [("" if v is None else str(v).strip()) for v in cells]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            self._count(sum(map(len, cells)), len(cells))
            self.rows.append(tuple(cells))

    def _count(self, chars: int, cells: int) -> None:
        self.chars += chars
        self.cells += cells
        if self.chars > MAX_CHARS:
            raise OverBudget(f"more than {MAX_CHARS:,} characters of text")
        if self.cells > MAX_CELLS:
            raise OverBudget(f"more than {MAX_CELLS:,} table cells")
        if len(self.lines) + len(self.rows) >= MAX_ROWS:
            raise OverBudget(f"more than {MAX_ROWS:,} lines and rows")

    def tick(self) -> None:
        if time.monotonic() > self._deadline:
            raise OverBudget(f"past {self._clock}")


def kind_of(data: bytes, name: str = "", content_type: str = "") -> str | None:
    """The document format this file is (a formats.py name, or "CSV"), or None when it is not a document."""
    fmt = sniff(data[:64])
    if fmt in DOCUMENT_FORMATS:
        return fmt
    if fmt is None:
        ctype = content_type.split(";")[0].strip().lower()
        if name.lower().endswith(CSV_SUFFIXES) or ctype in CSV_TYPES:
            return "CSV"
        if name.lower().endswith(DOCUMENT_SUFFIXES):
            return NOT_WHAT_IT_SAYS
    return None


def read(data: bytes, kind: str, deadline_s: float = DEADLINE_S, _depth: int = 0, *,
         deadline: float | None = None) -> DocumentText:
    """The document's text, within the budget; never raises for what the file holds. `deadline` (time.monotonic()
    seconds) is the caller's: the proxy has inspection_budget_s for the whole post, less than DEADLINE_S, and a
    reader still going when that ends would hold a worker for nothing, so reading stops at whichever comes first."""
    doc = DocumentText(kind)
    now = time.monotonic()
    doc._deadline, doc._clock = now + deadline_s, f"{deadline_s:g} s of reading"
    if deadline is not None and deadline < doc._deadline:
        doc._deadline, doc._clock = deadline, f"the caller's time budget ({max(0.0, deadline - now):.2g} s were left)"
    doc._depth = _depth
    if len(data) > MAX_BYTES:
        doc.errors.append(f"a {kind} document of {len(data):,} bytes: over the {MAX_BYTES // 2**20} MB that are read")
        return doc
    try:
        doc.tick()  # the caller's budget may be spent already (other files of the post, a queue)
        if kind == "PDF":
            _pdf(data, doc)
        elif kind == "CSV":
            _csv(data, doc)
        elif kind == NOT_WHAT_IT_SAYS:
            doc.errors.append("not the document its name says (no PDF, Office or OpenDocument header)")
        elif kind == "OLE2":
            doc.errors.append("a legacy Office (OLE2) file, or an encrypted Office document: PostGuard does not "
                              "read these")
        else:
            names = _zip_checked(data)
            if kind == "ODF":
                _odf(data, doc)
            elif "word/document.xml" in names:
                _docx(data, doc)
            elif "xl/workbook.xml" in names:
                _xlsx(data, doc)
            elif "ppt/presentation.xml" in names:
                _pptx(data, doc)
            else:
                doc.kind = "ZIP"
                doc.errors.append("a ZIP archive that is not a Word, Excel or PowerPoint document: PostGuard does "
                                  "not read inside archives")
            if doc.kind != "ZIP":
                _embedded(data, names, doc)
    except OverBudget as exc:
        read = f"; {doc.units} {doc.unit} were read before it stopped" if doc.units else ""
        doc.errors.append(f"{doc.kind}: over budget, not read to its end ({exc}){read}")
    except RecursionError:
        doc.errors.append(f"{doc.kind}: nested too deeply to read")
    except MemoryError:
        doc.errors.append(f"{doc.kind}: too large to read in memory")
    except Exception as exc:  # noqa: BLE001 - each library raises its own zoo for a malformed file
        doc.errors.append(f"{doc.kind}: unreadable ({type(exc).__name__}: {str(exc)[:200]})")
    return doc


# ---------------------------------------------------------------------------------------------------- ZIP budget

def _zip_checked(data: bytes) -> set[str]:
    """The entry names, once the declared sizes are within budget; OverBudget or BadZipFile otherwise."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise OverBudget(f"{len(infos):,} zip entries (at most {MAX_ENTRIES:,})")
        total = 0
        for info in infos:
            size = info.file_size
            if size > MAX_ENTRY:
                raise OverBudget(f"zip entry {info.filename[:80]!r} unpacks to {size:,} bytes")
            if size > RATIO_FROM and size > MAX_RATIO * max(1, info.compress_size):
                raise OverBudget(f"zip entry {info.filename[:80]!r} unpacks {size // max(1, info.compress_size):,} "
                                 f"times its size (a zip bomb?)")
            total += size
        if total > MAX_UNPACKED:
            raise OverBudget(f"zip entries unpack to {total:,} bytes in all")
        return {info.filename for info in infos}


# A class list pasted into a Word file or a slide as a spreadsheet object is a whole .xlsx inside the upload
# (word/embeddings/, ppt/embeddings/, xl/embeddings/): read like the upload, one level deep. Other embedded objects
# (legacy OLE .bin: old spreadsheets, equations) cannot be read, and say so.
_EMBEDDINGS = ("word/embeddings/", "xl/embeddings/", "ppt/embeddings/")
MAX_EMBEDDED_DEPTH = 1


def _embedded(data: bytes, names: set[str], doc: DocumentText) -> None:
    inside = sorted(n for n in names if n.startswith(_EMBEDDINGS) and not n.endswith("/"))
    if not inside:
        return
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in inside:
            if doc._depth >= MAX_EMBEDDED_DEPTH:
                _read_embedded(doc, name, b"")
            else:
                _read_embedded(doc, name, zf.read(name))  # its declared size was checked with the rest


def _read_embedded(doc: DocumentText, name: str, blob: bytes) -> None:
    """A document inside the document (an embedded spreadsheet, a PDF's attached file): its text joins the outer
    one's, within the outer one's clock and caps; what cannot be read is an error of the outer one."""
    short = name.rpartition("/")[2][:80]
    if doc._depth >= MAX_EMBEDDED_DEPTH:
        doc.errors.append(f"{doc.kind}: an embedded document inside an embedded one ({short}): not read")
        return
    kind = kind_of(blob, name)
    if kind is None or kind == "OLE2":
        doc.errors.append(f"{doc.kind}: an embedded object PostGuard does not read ({short})")
        return
    sub = read(blob, kind, DEADLINE_S, doc._depth + 1, deadline=doc._deadline)
    for line in sub.lines:
        doc.line(line)
    for cells in sub.rows:
        doc.row(cells)
    doc.errors += [f"{doc.kind}: embedded {short}: {e}" for e in sub.errors]


# ---------------------------------------------------------------------------------------------------- the readers

def _pdf(data: bytes, doc: DocumentText) -> None:
    from pypdf import apply_configuration  # noqa: PLC0415 - imported with the first PDF, not by every proxy start

    # pypdf 7's limits for this reading only (a context variable): no stream inflates past PDF_STREAM_MAX
    with apply_configuration(zlib_maximum_output_length=PDF_STREAM_MAX, lzw_maximum_output_length=PDF_STREAM_MAX,
                             array_based_stream_maximum_output_length=PDF_STREAM_MAX,
                             maximum_declared_stream_length=PDF_STREAM_MAX):
        _pdf_pages(data, doc)


def _pdf_pages(data: bytes, doc: DocumentText) -> None:
    from pypdf import PdfReader  # noqa: PLC0415

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"encrypted ({exc})") from None
        if not opened:
            doc.errors.append("PDF: encrypted with a password: not read")
            return
    pages = reader.pages
    total = len(pages)
    for i in range(total):
        if i >= MAX_PAGES:
            raise OverBudget(f"{total:,} pages (at most {MAX_PAGES:,})")
        doc.tick()
        page = pages[i]
        contents = page.get_contents()
        size = len(contents.get_data()) if contents is not None else 0
        if size > PAGE_CONTENT_MAX:
            raise OverBudget(f"page {i + 1}'s content is {size:,} bytes (at most {PAGE_CONTENT_MAX:,} are read)")
        text = page.extract_text() or ""
        for line in text.splitlines():
            words = line.split()
            if words:
                doc.row(words)  # a PDF keeps no cells: each word is one, so a table's columns survive as words
        doc.units = i + 1
    if total and not doc.rows:
        doc.errors.append(f"PDF: {total} pages without a text layer (a scan?): their text cannot be read")
    attached = 0
    for name, blobs in reader.attachments.items():  # files attached to the PDF (/EmbeddedFiles)
        for blob in blobs:
            attached += len(blob)
            if attached > MAX_UNPACKED:
                raise OverBudget(f"attached files of more than {MAX_UNPACKED:,} bytes")
            _read_embedded(doc, str(name), blob)


def _docx(data: bytes, doc: DocumentText) -> None:
    import docx  # noqa: PLC0415
    from docx.oxml.ns import qn  # noqa: PLC0415

    doc.kind, doc.unit = "DOCX", "blocks"
    document = docx.Document(io.BytesIO(data))
    W_TBL, W_TR, W_TC, W_P, W_T = qn("w:tbl"), qn("w:tr"), qn("w:tc"), qn("w:p"), qn("w:t")

    def text_of(element) -> str:
        return " ".join("".join(t.text or "" for t in p.iter(W_T)) for p in element.iter(W_P))

    parts = [document.element.body]
    for section in document.sections:  # headers and footers: a class list's title often names the class
        for hf in (section.header, section.footer):
            if not hf.is_linked_to_previous:
                parts.append(hf._element)
    for part in parts:
        for child in part.iterchildren():
            doc.tick()
            if child.tag == W_TBL:
                for tr in child.iter(W_TR):  # nested tables' rows come again inside their cell's text: harmless
                    doc.row(text_of(tc) for tc in tr.iterchildren(W_TC))
            else:
                for p in child.iter(W_P):
                    doc.line("".join(t.text or "" for t in p.iter(W_T)))
            doc.units += 1


def _xlsx(data: bytes, doc: DocumentText) -> None:
    import openpyxl  # noqa: PLC0415

    doc.kind, doc.unit = "XLSX", "rows"
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            if not hasattr(ws, "iter_rows"):  # a chart sheet
                continue
            # The sheet's declared dimension (often A1:XFD... once whole rows are formatted) would pad every row to
            # 16,384 cells; without it a row is as long as its last cell.
            ws.reset_dimensions()
            for n, row in enumerate(ws.iter_rows(values_only=True)):
                if n % 256 == 0:
                    doc.tick()
                doc.row(row)
                doc.units += 1
                if doc.units >= MAX_ROWS:
                    raise OverBudget(f"more than {MAX_ROWS:,} rows")
    finally:
        wb.close()


def _pptx(data: bytes, doc: DocumentText) -> None:
    from pptx import Presentation  # noqa: PLC0415

    doc.kind, doc.unit = "PPTX", "slides"
    prs = Presentation(io.BytesIO(data))

    def shapes(items, depth: int):
        if depth > MAX_DEPTH:
            raise OverBudget(f"shapes nested more than {MAX_DEPTH} deep")
        for shape in items:
            if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                for paragraph in shape.text_frame.paragraphs:
                    doc.line("".join(run.text for run in paragraph.runs))
            if getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    doc.row(cell.text for cell in row.cells)
            if shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
                shapes(shape.shapes, depth + 1)

    for i, slide in enumerate(prs.slides):
        if i >= MAX_PAGES:
            raise OverBudget(f"more than {MAX_PAGES:,} slides")
        doc.tick()
        shapes(slide.shapes, 0)
        if slide.has_notes_slide:
            for line in (slide.notes_slide.notes_text_frame.text or "").splitlines():
                doc.line(line)
        doc.units = i + 1


def _odf(data: bytes, doc: DocumentText) -> None:
    from odf.namespaces import TABLENS, TEXTNS  # noqa: PLC0415
    from odf.opendocument import load  # noqa: PLC0415

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        mimetype = zf.read("mimetype").decode("ascii", "replace") if "mimetype" in zf.namelist() else ""
    doc.kind = {"text": "ODT", "spreadsheet": "ODS", "presentation": "ODP"}.get(
        mimetype.rpartition(".")[2], "ODF")
    doc.unit = "rows" if doc.kind == "ODS" else "blocks"
    document = load(io.BytesIO(data))
    ROW, CELL = (TABLENS, "table-row"), (TABLENS, "table-cell")
    PARAGRAPHS = {(TEXTNS, "p"), (TEXTNS, "h")}
    SPACES = {(TEXTNS, "s"), (TEXTNS, "tab"), (TEXTNS, "line-break")}

    def text_of(node) -> str:
        out, stack = [], [node]
        while stack:
            n = stack.pop()
            if n.nodeType == n.TEXT_NODE:
                out.append(n.data)
                continue
            if getattr(n, "qname", None) in SPACES:
                out.append(" ")
            stack.extend(reversed(n.childNodes))
        return "".join(out)

    stack = [document.body]
    while stack:
        node = stack.pop()
        qname = getattr(node, "qname", None)
        if qname == ROW:
            # repeated rows and cells (number-rows-repeated) are read once: their text is the same
            doc.row(" ".join(text_of(p) for p in cell.childNodes) for cell in node.childNodes
                    if getattr(cell, "qname", None) == CELL)
            doc.units += 1
            if doc.units % 256 == 0:
                doc.tick()
        elif qname in PARAGRAPHS:
            doc.line(text_of(node))
            doc.units += 1
        else:
            stack.extend(reversed([c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]))


def _csv(data: bytes, doc: DocumentText) -> None:
    doc.unit = "rows"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", "replace")
    if "\0" in text[:4096]:
        raise ValueError("binary data, not CSV text")
    # The delimiter that the first lines use most (csv.Sniffer's quote regex is quadratic on hostile text).
    head = "\n".join(text[:16384].splitlines()[:10])
    delimiter = max(",;\t|", key=head.count)
    for n, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)):
        if n % 256 == 0:
            doc.tick()
        doc.row(row)
        doc.units = n + 1
