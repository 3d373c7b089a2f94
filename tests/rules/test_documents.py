"""documents.pupil_records: class lists with UPNs and roster names are found in every format read, within budget;
unrelated documents are not; what cannot be read (bombs, encryption, scans, legacy Office, over budget) is an
inspection error on the verdict, never "nothing found"."""
import io
import zipfile

import pytest

from rules import Attachment, Engine, Submission, roster
from rules.config import parse_config
from rules.detectors.base import Unchecked
from rules.detectors.documents import RULE, DocumentsDetector
from rules.media import documents
from tests.rules import document_samples as S

ROSTER = S.pupils(2000)
OTHERS = [(f, s, S.upn(908, 4000, 25, i), "5X") for i, (f, s) in enumerate(  # pupils not on the roster
    [("Zebedee", "Quartermaine"), ("Ottoline", "Fairweather"), ("Barnaby", "Thistlewood")])]


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("documents")
    (tmp / "roster.csv").write_text(S.roster_csv(ROSTER), encoding="utf-8")
    cfg = parse_config({"data_dir": str(tmp / "data")})
    roster.import_csv(cfg, tmp / "roster.csv")
    return cfg


@pytest.fixture(scope="module")
def detector(config):
    return DocumentsDetector(config)


def check(detector, name, data, content_type=""):
    out = list(detector.check(Submission(files=[Attachment(name, data, content_type)]), {RULE}))
    return [h for h in out if not isinstance(h, Unchecked)], [h for h in out if isinstance(h, Unchecked)]


def test_acceptance_a_20_page_pdf_class_list_is_found(detector):
    data = S.pdf(ROSTER[:600], pages=20)
    hits, errors = check(detector, "Year 4 class list.pdf", data)
    assert errors == []
    assert len(hits) == 1 and hits[0].rule == RULE
    ev = hits[0].evidence
    assert ev["format"] == "PDF" and ev["units_read"] == 20 and ev["complete"]
    assert ev["counts"]["UPN"] == 600 and ev["roster_names"] >= 600
    assert hits[0].severity == "high"


def test_acceptance_a_2000_row_xlsx_class_list_is_found(detector):
    hits, errors = check(detector, "whole school.xlsx", S.xlsx(ROSTER))
    assert errors == []
    ev = hits[0].evidence
    assert ev["format"] == "XLSX" and ev["units_read"] == 2001
    assert ev["counts"]["UPN"] == 2000 and ev["roster_names"] >= 2000


@pytest.mark.parametrize("name,make,fmt", [
    ("groups.docx", lambda: S.docx(ROSTER[:60]), "DOCX"),
    ("reading groups.pptx", lambda: S.pptx(ROSTER[:12]), "PPTX"),
    ("class.ods", lambda: S.ods(ROSTER[:200]), "ODS"),
    ("groups.odt", lambda: S.odt(ROSTER[:50]), "ODT"),
    ("export.csv", lambda: S.csv_bytes(ROSTER[:300]), "CSV"),
])
def test_every_format_is_read(detector, name, make, fmt):
    hits, errors = check(detector, name, make())
    assert errors == [] and len(hits) == 1
    assert hits[0].evidence["format"] == fmt and hits[0].evidence["counts"]["UPN"] > 0


@pytest.mark.parametrize("name,make", [
    ("names only.xlsx", lambda: S.xlsx(ROSTER[:30], upns=False)),
    ("names only.pdf", lambda: S.pdf(ROSTER[:30], pages=2, upns=False)),
    ("names only.csv", lambda: S.csv_bytes(ROSTER[:30], upns=False)),
])
def test_roster_names_without_identifiers_are_found_by_name(detector, name, make):
    hits, errors = check(detector, name, make())
    assert errors == [] and hits and hits[0].evidence["counts"] == {} and hits[0].evidence["roster_names"] >= 30


def test_a_csv_known_by_its_declared_type_only(detector):
    hits, _ = check(detector, "upload.bin", S.csv_bytes(ROSTER[:5]), "text/csv; charset=utf-8")
    assert hits
    assert check(detector, "upload.bin", S.csv_bytes(ROSTER[:5]))[0] == []  # no name, no type: not a document


@pytest.mark.parametrize("name,make,why", [
    ("newsletter.pdf", lambda: S.prose_pdf(S.NEWSLETTER), "dates, prices, an order number that passes NHS mod 11"),
    ("newsletter.docx", lambda: S.docx_text(S.NEWSLETTER), "the same newsletter as Word"),
    ("budget.xlsx", lambda: S.xlsx_cells([["Item", "Cost", "Order"], ["Books", 1482.5, 9434765919],
                                          ["Coach", 640, "B801200005002"]]),
     "an order number; a UPN failing its check letter"),
    ("other school.xlsx", lambda: S.xlsx(OTHERS, upns=False), "pupils who are not on this school's roster"),
    ("surnames.csv", lambda: ("Surname,Count\n" + "".join(f"{s},{i}\n" for i, s in enumerate(S.SURNAMES))).encode(),
     "surnames alone"),
])
def test_unrelated_documents_are_not_found(detector, name, make, why):
    hits, errors = check(detector, name, make())
    assert hits == [] and errors == [], why


def test_a_upn_not_on_the_roster_still_counts(detector):
    hits, _ = check(detector, "transfer.csv", S.csv_bytes(OTHERS))
    assert hits and hits[0].evidence["counts"]["UPN"] == 3 and hits[0].evidence["roster_names"] == 0


def test_evidence_keeps_no_identifier_or_name(detector):
    hits, _ = check(detector, "class.csv", S.csv_bytes(ROSTER[:20]))
    text = repr(hits[0].evidence) + hits[0].message
    for f, s, u, _ in ROSTER[:20]:
        assert u not in text and f"{f} {s}" not in text and s not in text


# -- what cannot be read is an inspection error ------------------------------------------------------------------

def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(S.pdf(ROSTER[:10], pages=1))))
    writer.encrypt(user_password="secret", owner_password="owner")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def scanned_pdf() -> bytes:
    from fpdf import FPDF
    doc = FPDF()
    doc.add_page()
    doc.rect(10, 10, 100, 50, style="F")  # a page with marks and no text layer
    return bytes(doc.output())


def zip_with(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("name,make,why", [
    ("bomb.docx", S.zip_bomb_docx, "zip bomb"),
    ("many.xlsx", S.many_entries_zip, "zip entries"),
    ("secret.pdf", encrypted_pdf, "encrypted"),
    ("scan.pdf", scanned_pdf, "text layer"),
    ("truncated.pdf", lambda: S.pdf(ROSTER[:100], pages=2)[:1500], "unreadable"),
    ("old.xls", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "legacy Office"),
    ("broken.xlsx", lambda: zip_with({"xl/workbook.xml": "<workbook", "[Content_Types].xml": "<Types/>"}),
     "unreadable"),
    ("archive.zip", lambda: zip_with({"class list.csv": S.csv_bytes(ROSTER[:10])}), "inside archives"),
    ("broken.ods", lambda: S.ods(ROSTER[:5])[:300], "unreadable"),
    ("entities.docx", lambda: zip_with({
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                               'content-types"/>',
        "word/document.xml": '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;'
                             '&a;&a;&a;&a;&a;&a;">]><d>&b;</d>'}), "unreadable"),
])
def test_what_cannot_be_read_is_an_inspection_error(detector, name, make, why):
    hits, errors = check(detector, name, make())
    assert errors, f"{name}: nothing reported"
    assert why in errors[0].why, errors[0].why


def test_over_the_clock_budget_is_an_error_with_what_was_read_so_far(detector):
    doc = documents.read(S.csv_bytes(ROSTER[:600]), "CSV", deadline_s=-1)
    assert doc.errors and "over budget" in doc.errors[0] and "s of reading" in doc.errors[0]


def test_over_the_row_budget_keeps_what_was_read(detector, monkeypatch):
    monkeypatch.setattr(documents, "MAX_ROWS", 100)
    doc = documents.read(S.xlsx(ROSTER[:300]), "ZIP")
    assert doc.errors and "rows" in doc.errors[0] and 90 <= len(doc.rows) <= 100


def test_a_document_over_the_size_cap_is_not_opened(monkeypatch):
    monkeypatch.setattr(documents, "MAX_BYTES", 1000)
    doc = documents.read(S.pdf(ROSTER[:50], pages=2), "PDF")
    assert doc.errors and "bytes" in doc.errors[0] and not doc.rows


def test_the_verdict_carries_the_error_and_is_never_allow_for_an_unreadable_document(config):
    verdict = Engine(config).evaluate(Submission(files=[Attachment("bomb.docx", S.zip_bomb_docx())]))
    assert any("zip bomb" in e for e in verdict.errors)


def test_the_formats_table_names_the_documents():
    from rules.media import sniff
    assert sniff(S.pdf(ROSTER[:1], pages=1)) == "PDF"
    assert sniff(S.xlsx(ROSTER[:1])) == sniff(S.docx(ROSTER[:1])) == sniff(S.pptx(ROSTER[:1])) == "ZIP"
    assert sniff(S.ods(ROSTER[:1])) == sniff(S.odt(ROSTER[:1])) == "ODF"
    assert documents.kind_of(b"\xff\xd8\xff\xe0" + b"\0" * 60, "photo.jpg") is None  # a photo is not a document


def test_a_pack_quotes_its_own_clause(config):
    cfg = parse_config({"data_dir": str(config.data_dir), "school": {"pack": "mill-lane-primary"}})
    verdict = Engine(cfg).evaluate(Submission(files=[Attachment("list.csv", S.csv_bytes(ROSTER[:5]))]))
    hit = [f for f in verdict.findings if f.rule == RULE]
    assert hit and [c.ref for c in hit[0].policy] == ["4.2", "6.1 VIII"] and verdict.decision == "warn"


def _mutants(rng, data: bytes, n: int):
    """Bit flips, overwrites, cuts and insertions of a few bytes; for a zip, the same inside its entries too."""
    for i in range(n):
        b = bytearray(data)
        if i % 2 and data[:2] == b"PK":
            zin, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
                for info in zin.infolist():
                    entry = bytearray(zin.read(info))
                    if len(entry) > 8 and rng.random() < 0.3:
                        at = rng.randrange(len(entry))
                        entry[at:at + 4] = rng.randbytes(rng.randrange(0, 8))
                    z.writestr(info.filename, bytes(entry))
            yield out.getvalue()
            continue
        for _ in range(rng.randrange(1, 6)):
            if not b:
                break
            at = rng.randrange(len(b))
            kind = rng.randrange(3)
            if kind == 0:
                b[at] ^= 1 << rng.randrange(8)
            elif kind == 1:
                del b[at:at + rng.randrange(1, 64)]
            else:
                b[at:at] = rng.randbytes(rng.randrange(1, 16))
        yield bytes(b)


@pytest.mark.parametrize("name,make", [
    ("m.pdf", lambda: S.pdf(ROSTER[:40], pages=2)), ("m.docx", lambda: S.docx(ROSTER[:20])),
    ("m.xlsx", lambda: S.xlsx(ROSTER[:40])), ("m.pptx", lambda: S.pptx(ROSTER[:20])),
    ("m.ods", lambda: S.ods(ROSTER[:40])), ("m.odt", lambda: S.odt(ROSTER[:40])),
    ("m.csv", lambda: S.csv_bytes(ROSTER[:40])),
])
def test_mutants_never_raise_and_an_unreadable_one_is_said_so(detector, name, make):
    import random
    rng = random.Random(18)
    base = make()
    unreadable = 0
    for data in _mutants(rng, base, 30):
        hits, errors = check(detector, name, data)  # never raises: a detector error would fail the post quietly
        unreadable += bool(errors)
    if not name.endswith(".csv"):
        assert unreadable, "a mutated container is usually unreadable, and then said so"


def dense_page_pdf(operators: int) -> bytes:
    """One page whose (compressed) content stream shows text `operators` times: 100,000 make 12 KB of file and
    3.9 MB of content, which pypdf took 18 s to extract."""
    import zlib

    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, StreamObject
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    stream = StreamObject()
    stream._data = zlib.compress(b"BT /F1 12 Tf 72 720 Td " + b"(B801200005001 Jamie Smith) Tj 0 -1 Td " * operators
                                 + b"ET", 9)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(stream)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
        {NameObject("/F1"): writer._add_object(font)})})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@pytest.mark.parametrize("operators,why", [(100_000, "content is"), (2_000_000, "unreadable")])
def test_a_page_too_dense_to_extract_in_time_is_refused_before_extraction(operators, why):
    doc = documents.read(dense_page_pdf(operators), "PDF")
    assert doc.errors and why in doc.errors[0] and doc.rows == []


def test_a_dense_page_under_the_cap_is_read(detector):
    hits, errors = check(detector, "dense.pdf", dense_page_pdf(200))
    assert errors == [] and hits and hits[0].evidence["counts"]["UPN"] == 1


_LAUGHS = ('<!DOCTYPE x [<!ENTITY a "' + "a" * 100 + '">'
           + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi")) + "]>")


def _with_entity_bomb(data: bytes, entry: str, tag: str) -> bytes:
    """The document with a billion-laughs DTD in one XML part and its largest entity used in the text (10^8 'a's)."""
    zin, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in zin.infolist():
            part = zin.read(info)
            if info.filename == entry:
                text = part.decode()
                at = text.index("?>") + 2 if text.startswith("<?xml") else 0
                part = (text[:at] + _LAUGHS + text[at:]).replace(tag, tag + "&i;", 1).encode()
            z.writestr(info, part)
    return out.getvalue()


@pytest.mark.parametrize("make,entry,tag", [
    (lambda: S.xlsx(ROSTER[:5]), "xl/worksheets/sheet1.xml", "<sheetData>"),
    (lambda: S.docx(ROSTER[:5]), "word/document.xml", "<w:t>"),
    (lambda: S.pptx(ROSTER[:5]), "ppt/slides/slide1.xml", "<a:t>"),
    (lambda: S.ods(ROSTER[:5]), "content.xml", "<text:p>"),
], ids=["xlsx", "docx", "pptx", "ods"])
def test_an_entity_expansion_bomb_is_refused_not_expanded(make, entry, tag):
    bomb = _with_entity_bomb(make(), entry, tag)
    doc = documents.read(bomb, documents.kind_of(bomb, "x"))
    assert doc.errors and "unreadable" in doc.errors[0] and doc.chars < 10_000


def test_identifiers_that_need_a_context_word_get_it_from_their_column_header(detector):
    """ULNs and bare NHS numbers count only beside a word that says what they are: in a sheet, that word is the
    column's header, rows away."""
    from rules.identifiers import nhs_is_valid, uln_is_valid

    def weighted(digits):
        return sum(w * int(d) for w, d in zip(range(10, 1, -1), digits)) % 11

    ulns = [d + str(10 - weighted(d)) for d in ("927630868", "512345678", "712345671") if weighted(d)]
    nhs_numbers = [d + str((11 - weighted(d)) % 11) for d in ("943476591", "401023213", "450557710")
                   if (11 - weighted(d)) % 11 != 10]
    assert len(ulns) == len(nhs_numbers) == 3
    assert all(map(uln_is_valid, ulns)) and all(map(nhs_is_valid, nhs_numbers))
    rows = [["Forename", "Surname", "ULN", "NHS Number"]] + [
        ["Zebedee", "Quartermaine", u, n] for u, n in zip(ulns, nhs_numbers)]
    hits, errors = check(detector, "medical.xlsx", S.xlsx_cells(rows))
    assert errors == [] and hits[0].evidence["counts"] == {"ULN": 3, "NHS": 3}
    unlabelled = [["Forename", "Surname", "Ref", "Order"]] + [r[:2] + r[2:] for r in rows[1:]]
    assert check(detector, "orders.xlsx", S.xlsx_cells(unlabelled))[0] == []  # the same digits, no such header


@pytest.mark.parametrize("how", ["multipart", "raw", "base64 json"])
def test_an_upload_the_proxy_extracts_is_checked(config, how):
    """The proxy's extraction (shared with scan-har) makes the document a file, by the formats table: a multipart
    part, a raw body, or a base64 string in JSON (its opening "UEsD" is in the table)."""
    import base64
    import json

    from proxy_addon.extract import extract
    data = S.xlsx(ROSTER[:30])
    url = "https://www.dropbox.com/upload"
    if how == "multipart":
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"Year 4.xlsx\"\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--XyZ--\r\n")
        headers = {"content-type": "multipart/form-data; boundary=XyZ"}
    elif how == "raw":
        body, headers = data, {"content-type": "application/octet-stream"}
    else:
        body = json.dumps({"name": "Year 4.xlsx", "content": base64.b64encode(data).decode()}).encode()
        headers = {"content-type": "application/json"}
    submission = extract("POST", url, headers, body).submission
    verdict = Engine(config).evaluate(submission)
    assert [f.rule for f in verdict.findings] == [RULE] and verdict.decision == "warn"


def test_status_says_when_there_is_no_roster_to_match_names(config, tmp_path):
    assert DocumentsDetector(config).status() == ""
    assert "no roster" in DocumentsDetector(parse_config({"data_dir": str(tmp_path)})).status()


def _embed(outer: bytes, inner: dict) -> bytes:
    """`outer` (an OOXML file) with files added under its embeddings folder."""
    zin, out = zipfile.ZipFile(io.BytesIO(outer)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in zin.infolist():
            z.writestr(info, zin.read(info))
        for name, data in inner.items():
            z.writestr(name, data)
    return out.getvalue()


def test_a_spreadsheet_embedded_in_a_word_file_is_read(detector):
    word = _embed(S.docx_text(["Please find the groups below."]),
                  {"word/embeddings/Microsoft_Excel_Worksheet.xlsx": S.xlsx(ROSTER[:25])})
    hits, errors = check(detector, "letter.docx", word)
    assert errors == [] and hits[0].evidence["counts"]["UPN"] == 25


@pytest.mark.parametrize("inner,why", [
    ({"ppt/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100}, "does not read"),
    ({"word/embeddings/nested.docx": _embed(S.docx_text(["x"]), {"word/embeddings/list.xlsx": b"PK"})},
     "inside an embedded one"),
])
def test_an_embedded_object_that_cannot_be_read_says_so(detector, inner, why):
    outer = S.pptx(ROSTER[:1]) if "ppt/" in next(iter(inner)) else S.docx_text(["Groups"])
    hits, errors = check(detector, "with object", _embed(outer, inner))
    assert errors and why in errors[0].why


@pytest.mark.parametrize("name,data", [("list.xlsx", b"\x00\x01garbage" * 20),
                                       ("report.pdf", b"<html>not a pdf</html>"), ("groups.odt", b"")])
def test_a_file_named_as_a_document_that_is_not_one_is_an_error(detector, name, data):
    hits, errors = check(detector, name, data)
    assert hits == [] and errors and "not the document its name says" in errors[0].why


def test_a_photo_named_as_a_document_is_left_to_the_photo_rules(detector):
    assert check(detector, "list.xlsx", b"\xff\xd8\xff\xe0" + b"\0" * 60) == ([], [])


def test_a_class_list_attached_to_a_pdf_is_read(detector):
    from pypdf import PdfReader, PdfWriter
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(S.prose_pdf(S.NEWSLETTER, pages=1))))
    writer.add_attachment("Year 4.csv", S.csv_bytes(ROSTER[:12]))
    buf = io.BytesIO()
    writer.write(buf)
    hits, errors = check(detector, "newsletter.pdf", buf.getvalue())
    assert errors == [] and hits and hits[0].evidence["counts"]["UPN"] == 12


def test_strip_refuses_a_document_as_it_refuses_any_file_that_is_not_a_picture(tmp_path, capsys):
    """PDF and Office files joined the formats table to be read; `postguard strip` still writes nothing for them."""
    from local_service.cli import main
    src = tmp_path / "class list.pdf"
    src.write_bytes(S.pdf(ROSTER[:5], pages=1))
    assert main(["strip", str(src), "-o", str(tmp_path / "out.pdf")]) == 2
    assert not (tmp_path / "out.pdf").exists() and "not a recognised image" in capsys.readouterr().err
