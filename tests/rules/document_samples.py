"""Real-looking documents for documents.pupil_records, made on the fly: class lists with UPNs and roster names in
every format the detector reads, and unrelated documents that must not be found. Used by tests/rules/test_documents.py
and bench/documents_bench.py."""
from __future__ import annotations

import csv
import io
import random
import zipfile

from stdnum.gb import upn as _upn

FORENAMES = ["Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Ivy", "Leo", "Freya", "Oscar",
             "Lily", "Harry", "Florence", "Muhammad", "Willow", "Jack", "Rosie", "Theo", "Sophia", "Alfie", "Evie",
             "Charlie", "Grace", "Finley", "Poppy", "Archie", "Ella", "Jacob"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
            "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Thomas", "Clarke",
            "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper", "Hill", "Ward", "Hughes", "Khan",
            "Ahmed", "Ali", "Begum", "Kowalski", "Nowak", "Murphy", "Kelly", "Campbell", "Stewart"]
CLASSES = ["3B", "3C", "4H", "4M", "5P", "5T", "6D", "6R"]


def upn(la: int, school: int, year: int, serial: int) -> str:
    """A Unique Pupil Number that passes the DfE check letter: LA code, school number, year, serial."""
    digits = f"{la:03d}{school:04d}{year:02d}{serial:03d}"
    return _upn.calc_check_digit(digits) + digits


def pupils(n: int, seed: int = 7) -> list[tuple[str, str, str, str]]:
    """(forename, surname, UPN, class) for n different pupils."""
    rng = random.Random(seed)
    pairs = [(f, s) for f in FORENAMES for s in SURNAMES]
    rng.shuffle(pairs)
    out = []
    for i in range(n):
        f, s = pairs[i % len(pairs)]
        if i >= len(pairs):
            f = f"{f}-{FORENAMES[(i // len(pairs)) % len(FORENAMES)]}"
        out.append((f, s, upn(801, 2000 + i // 1000, 26, i % 1000), rng.choice(CLASSES)))
    return out


def roster_csv(rows) -> str:
    return "Legal Surname,Legal Forename\n" + "".join(f"{s},{f}\n" for f, s, _, _ in rows)


HEADER = ("Surname", "Forename", "UPN", "Class")


def table(rows, upns: bool = True) -> list[tuple[str, ...]]:
    return [HEADER if upns else HEADER[:2] + HEADER[3:]] + \
        [(s, f, u, c) if upns else (s, f, c) for f, s, u, c in rows]


def pdf(rows, pages: int = 20, title: str = "Class list 2026-27", upns: bool = True) -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("Helvetica", size=10)
    lines = table(rows, upns)
    per_page = max(1, -(-len(lines) // pages))
    for p in range(pages):
        doc.add_page()
        doc.cell(0, 8, f"{title} - page {p + 1}", new_x="LMARGIN", new_y="NEXT")
        for line in lines[p * per_page:(p + 1) * per_page]:
            for cell in line:
                doc.cell(40, 6, cell)
            doc.ln(6)
    return bytes(doc.output())


def prose_pdf(paragraphs: list[str], pages: int = 3) -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("Helvetica", size=11)
    for p in range(pages):
        doc.add_page()
        for text in paragraphs:
            doc.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def xlsx(rows, upns: bool = True, sheet: str = "Year 4") -> bytes:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    for line in table(rows, upns):
        ws.append(list(line))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_cells(cells: list[list]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Budget")
    for line in cells:
        ws.append(line)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def docx(rows, upns: bool = True, intro: str = "Year 4 class list") -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph(intro)
    lines = table(rows, upns)
    t = document.add_table(rows=0, cols=len(lines[0]))
    for line in lines:  # row by row: table.cell(r, c) walks the whole table each time (minutes for 500 rows)
        for cell, text in zip(t.add_row().cells, line):
            cell.text = text
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def docx_text(paragraphs: list[str]) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def pptx(rows, upns: bool = True, per_slide: int = 25) -> bytes:
    """A slide per `per_slide` pupils, each with a title and a table (a real deck's tables are small)."""
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    lines = table(rows, upns)
    header, body = lines[0], lines[1:]
    for at in range(0, max(1, len(body)), per_slide):
        slide = prs.slides.add_slide(prs.slide_layouts[5])
        slide.shapes.title.text = f"Reading groups ({at // per_slide + 1})"
        part = [header] + body[at:at + per_slide]
        shape = slide.shapes.add_table(len(part), len(header), Inches(0.5), Inches(1.5), Inches(9), Inches(5))
        for r, line in enumerate(part):
            for c, cell in enumerate(line):
                shape.table.cell(r, c).text = cell
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def ods(rows, upns: bool = True) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    t = Table(name="Class list")
    for line in table(rows, upns):
        tr = TableRow()
        for cell in line:
            tc = TableCell(valuetype="string")
            tc.addElement(P(text=cell))
            tr.addElement(tc)
        t.addElement(tr)
    doc.spreadsheet.addElement(t)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def odt(rows, upns: bool = True) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    doc = OpenDocumentText()
    doc.text.addElement(P(text="Year 4 groups"))
    for line in table(rows, upns)[1:]:
        doc.text.addElement(P(text=" ".join(line[1::-1]) + " " + " ".join(line[2:])))  # "Forename Surname UPN 4H"
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def csv_bytes(rows, upns: bool = True) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(table(rows, upns))
    return buf.getvalue().encode("utf-8")


def zip_bomb_docx() -> bytes:
    """A zip shaped like a Word file whose document.xml inflates 1000 times (2 MB of zeros from about 2 KB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"\0" * (2 * 1024 * 1024))
    return buf.getvalue()


def many_entries_zip(n: int = 6000) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(n):
            zf.writestr(f"xl/worksheets/sheet{i}.xml", "")
    return buf.getvalue()


NEWSLETTER = [
    "Dear parents and carers, what a busy half term it has been! Our Year 4 trip to the Dorman Museum on "
    "12/03/2026 was a great success, and thank you to the 31 families who came to the spring fair.",
    "The PTA raised 1,482.50 pounds. Order number 9434765919 for the new reading books has been placed, and the "
    "library will reopen on Monday 16 March. Lunch menus for weeks 1 to 3 are on the website.",
    "Reminder: school photographs are on Thursday. Please return reply slips by Friday. Mrs Patel and Mr Hughes "
    "will be running the after-school football club from 3.15 to 4.30 pm.",
]
