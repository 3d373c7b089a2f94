"""`postguard scan-har`: the same extraction and engine as the live addon, on a HAR 1.2 capture."""
import base64
import copy
import json

import pytest

from mitmproxy.addons.savehar import SaveHar
from mitmproxy.test import tflow

from local_service.cli import main
from rules.record.store import Filter, Store
from proxy_addon.addon import PostGuard
from rules import Engine
from tests.proxy_addon.test_addon import BOUNDARY, make_flow, multipart, run
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps


def flows():
    gps = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    return [
        make_flow(multipart([("photo", "a.jpg", gps, "image/jpeg"), ("t", None, b"hi", "")]),
                  f"multipart/form-data; boundary={BOUNDARY}"),
        make_flow(multipart([("photo", "b.jpg", jpeg_with_gps(None), "image/jpeg")]),
                  f"multipart/form-data; boundary={BOUNDARY}"),
        make_flow(gps, "image/jpeg", method="PUT"),
        make_flow(json.dumps({"img": "data:image/jpeg;base64," + base64.b64encode(gps).decode()}).encode(),
                  "application/json"),
        make_flow(b"status=hello", "application/x-www-form-urlencoded"),
        make_flow(b'{"unclosed": ', "application/json"),  # HAR bodies are stored decoded: a bad body, not gzip
    ]


def test_har_replay_matches_the_live_addon(tmp_path, capsys):
    originals = flows()
    for f in originals:
        f.response = tflow.tresp()
    har = SaveHar().make_har([copy.deepcopy(f) for f in originals])
    path = tmp_path / "capture.har"
    path.write_text(json.dumps(har))

    store = Store(f"sqlite:///{tmp_path / 'live.sqlite3'}")
    addon = PostGuard(store=store, engine=Engine())
    live = []
    for f in originals:
        f.response = None
        before = store.count(Filter(decision="inspection_error"))
        run(addon, f)
        not_inspected = store.count(Filter(decision="inspection_error")) > before and "postguard" not in f.metadata
        live.append("not_checked" if not_inspected else f.metadata.get("postguard", {}).get("decision", "allow"))
    store.close()

    code = main(["scan-har", str(path)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and len(rows) == len(originals)
    assert [r["decision"] for r in rows] == live
    assert [sorted(f["rule"] for f in r["findings"]) for r in rows][:4] == [["location.gps"], [], ["location.gps"],
                                                                            ["location.gps"]]
    assert rows[5]["error"] and rows[5]["findings"] == []


def test_not_a_har_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "x.har"
    bad.write_text("{}")
    assert main(["scan-har", str(bad)]) == 2
    assert "not a HAR" in capsys.readouterr().err


def test_an_entry_without_its_request_body_is_not_a_plain_allow(tmp_path, capsys):
    """Dev tools can export a HAR without content: an upload then holds no body, and nothing was checked."""
    original = make_flow(jpeg_with_gps(gps_ifd(*SHEFFIELD)), "image/jpeg", method="PUT")
    original.response = tflow.tresp()
    har = SaveHar().make_har([original, copy.deepcopy(original), copy.deepcopy(original)])
    entries = har["log"]["entries"]
    entries[0]["request"].pop("postData", None)  # exported without content
    entries[1]["request"]["postData"]["text"] = ""  # or with its text left out
    path = tmp_path / "no-content.har"
    path.write_text(json.dumps(har))
    main(["scan-har", str(path)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for row in rows[:2]:
        assert row["decision"] != "allow" and row["findings"] == []
        assert row["note"] == "no request body in the capture (export the HAR with content)"
    assert rows[2]["note"] is None and rows[2]["findings"]  # the same upload with its body is checked


@pytest.mark.parametrize("entries", [
    [{"request": [[], {}]}],  # a list where the request object belongs
    [{"request": {"postData": {"mimeType": "application/x-www-form-urlencoded", "encoding": [1]}}}],
    [{"request": {"url": None, "method": "POST", "postData": {"text": "x"}}}],
    [{"request": {"method": [], "url": {"a": 1}}}],
    [{"request": {"headers": [[None]]}}],
    [{"request": {"method": "POST", "url": "https://[::1", "postData": {"text": "a=b"}}}],  # urlsplit raises
    [None, 7, "entry"],
])
def test_a_malformed_entry_is_that_entry_not_checked_never_a_crash_or_an_allow(tmp_path, capsys, entries):
    path = tmp_path / "odd.har"
    path.write_text(json.dumps({"log": {"entries": entries}}))
    assert main(["scan-har", str(path)]) == 2  # nothing found, not everything checked: as `scan`
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(entries) and all(r["decision"] == "not_checked" and r["error"] for r in rows)


@pytest.mark.parametrize("doc", ['{"log": {"entries": null}}', '{"log": {"entries": 5}}', "[" * 100_000])
def test_a_file_that_is_not_a_har_is_a_usage_error_not_a_crash(tmp_path, capsys, doc):
    path = tmp_path / "x.har"
    path.write_text(doc)
    assert main(["scan-har", str(path)]) == 2 and "not a HAR" in capsys.readouterr().err
