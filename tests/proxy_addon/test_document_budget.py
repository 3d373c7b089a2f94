"""A document the proxy cannot read within its inspection budget ([proxy] inspection_budget_s, 5 s) ends as an
inspection error inside that budget: the addon passes its deadline to the engine and the document reader, whose own
clock is 10 s, stops there (issue 18). Never a clean result."""
import time

from rules.media import documents
from rules.record.store import Filter
from tests.proxy_addon.test_addon import BOUNDARY, addon_with, make_flow, multipart, run
from tests.rules import document_samples as S

CSV = S.csv_bytes(S.pupils(2000), upns=False)  # no identifiers: only the reading can say anything


def upload():
    body = multipart([("file", "class-list.csv", CSV, "text/csv")])
    return make_flow(body, f"multipart/form-data; boundary={BOUNDARY}")


def test_a_document_past_the_budget_is_an_inspection_error_from_the_reader(store, monkeypatch):
    """The reader's clock moves a second each time it is read, the proxy's does not: the reader passes the proxy's
    5 s deadline after a few ticks while the proxy is still waiting, so the error recorded is the reader's own."""
    start = time.monotonic()
    ticks = iter(range(10_000))
    monkeypatch.setattr(documents, "time", type("Clock", (), {"monotonic": staticmethod(lambda: start + next(ticks))}))
    addon = addon_with(store)
    assert addon.engine.config.proxy.inspection_budget_s < documents.DEADLINE_S  # why the deadline is passed down
    flow = run(addon, upload())
    assert flow.response is None  # the default pack fails open, as for any post it could not inspect
    (event,) = store.list(Filter(rule="inspection.error")).rows
    assert event["decision"] == "inspection_error" and "the caller's time budget" in event["reason"]
    assert "rows were read before it stopped" in event["reason"]
    assert store.count() == 1  # nothing else: no finding, no "allowed"


def test_a_document_within_the_budget_is_read_to_its_end(store):
    run(addon_with(store), upload())
    assert store.count() == 0  # read whole, nothing found (no roster, no identifiers): a silent allow
