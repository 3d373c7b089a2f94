"""The document reader stops at its caller's deadline when that comes before its own clock (issue 18: the reader's
10 s was longer than the proxy's 5 s inspection budget), and what it could not read is an inspection error."""
import time

from rules import Attachment, Engine, Submission
from rules.media import documents
from tests.rules import document_samples as S

CSV = S.csv_bytes(S.pupils(2000), upns=False)  # 2,001 rows: the clock is read every 256


def test_a_deadline_already_past_reads_nothing_and_says_so():
    doc = documents.read(CSV, "CSV", deadline=time.monotonic() - 1)
    assert doc.rows == [] and doc.errors
    assert "over budget" in doc.errors[0] and "the caller's time budget" in doc.errors[0]


def test_its_own_clock_still_applies_when_the_callers_deadline_is_later():
    doc = documents.read(CSV, "CSV", deadline_s=-1, deadline=time.monotonic() + 3600)
    assert doc.errors and "s of reading" in doc.errors[0] and "caller" not in doc.errors[0]


def test_a_deadline_with_time_to_spare_reads_the_whole_document():
    doc = documents.read(CSV, "CSV", deadline=time.monotonic() + 3600)
    assert doc.errors == [] and len(doc.rows) == 2001


def test_the_reader_stops_mid_document_at_the_deadline(monkeypatch):
    """A clock that moves a second each time it is read: a 3 s deadline stops the reader after a few ticks, with
    what it read so far kept."""
    start = time.monotonic()
    ticks = iter(range(10_000))
    monkeypatch.setattr(documents, "time", type("Clock", (), {"monotonic": staticmethod(lambda: start + next(ticks))}))
    doc = documents.read(CSV, "CSV", deadline=start + 3.5)
    assert doc.errors and "the caller's time budget" in doc.errors[0]
    assert 0 < len(doc.rows) < 2001 and "rows were read before it stopped" in doc.errors[0]


def test_the_submissions_deadline_reaches_the_documents_detector():
    late = Submission(files=[Attachment("class.csv", CSV, "text/csv")], context={"deadline": time.monotonic() - 1})
    verdict = Engine().evaluate(late)
    assert any("documents: file:class.csv" in e and "the caller's time budget" in e for e in verdict.errors)
    on_time = Engine().evaluate(Submission(files=[Attachment("class.csv", CSV, "text/csv")]))
    assert not any(e.startswith("documents") for e in on_time.errors)
