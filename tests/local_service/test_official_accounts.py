"""The extension's check on the school's official account: the consent rules, not the personal-account ones (issue 18
item 6). The extension sends the page it is on as the check's url; the config lists the school's accounts."""
from __future__ import annotations

import pytest

from local_service.app import create_app
from local_service.services import Services
from rules.config import parse_config

from .conftest import EXTENSION_ORIGIN, TOKEN, Api

UPN = "Well done Jamie, UPN B801200005001"


@pytest.fixture
def api(tmp_path):
    config = parse_config({"data_dir": str(tmp_path / "data"), "school": {
        "name": "Test School", "pack": "st-mary-of-the-angels",
        "official_accounts": ["https://www.facebook.com/TestSchoolOfficial"]}})
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "EXTENSION_ORIGINS": [EXTENSION_ORIGIN]},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token=TOKEN,
                                   user="teacher1"))
    yield Api(app.test_client())
    app.extensions["postguard"].store.close()


def check(api, url):
    r = api.post("/api/v1/check", json={"url": url, "fields": [["message", UPN]]})
    assert r.status_code == 200, r.json
    return r.json


def test_pupil_data_is_a_consent_warning_on_the_official_page_and_a_block_elsewhere(api):
    personal = check(api, "https://www.facebook.com/jsmith.teacher")
    assert personal["decision"] == "block"
    assert [c["ref"] for c in personal["findings"][0]["policy"]] == ["5.4", "6.8", "3.2"]
    official = check(api, "https://www.facebook.com/TestSchoolOfficial/posts/new")
    (finding,) = official["findings"]
    assert official["decision"] == "warn" and finding["evidence"]["situation"] == "official_account"
    assert [c["ref"] for c in finding["policy"]] == ["Appendix A 2.4", "Appendix A 4.2"]
    assert "official" in finding["message"]
