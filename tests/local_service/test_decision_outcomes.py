"""The extension's answer for a pupil photo with a location: one event per finding, each saying what happened to
it. "Remove location" removes the location only; the pupil photo went out, so it is "allowed", never "sanitised"."""
import base64

import pytest

from local_service.app import create_app
from local_service.services import Services
from rules.config import parse_config
from rules.record.outcomes import ALWAYS_REMOVED, WENT_OUT
from tests.local_service.conftest import EXTENSION_ORIGIN, TOKEN, Api
from tests.proxy_addon.test_outcomes import CONFIG, school_photo

V1 = "/api/v1"


@pytest.fixture
def api(tmp_path):
    config = parse_config({"data_dir": str(tmp_path / "data"), **CONFIG})
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "EXTENSION_ORIGINS": [EXTENSION_ORIGIN]},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'e.sqlite3'}", token=TOKEN, user="t1"))
    yield Api(app.test_client())
    app.extensions["postguard"].store.close()


def store_of(api):
    return api.client.application.extensions["postguard"].store


def checked(api) -> dict:
    files = [{"name": "IMG_0007.jpg", "type": "image/jpeg", "data": base64.b64encode(school_photo()).decode()}]
    response = api.post(f"{V1}/check", json={"url": "https://www.facebook.com/", "files": files})
    assert response.status_code == 200
    assert sorted(f["rule"] for f in response.json["findings"]) == ["location.gps", "pupil.image"]
    return response.json


def logged(api) -> dict[str, tuple[str, str]]:
    return {r["rule"]: (r["decision"], r["reason"]) for r in store_of(api).list().rows}


def test_fix_after_a_check_logs_the_location_sanitised_and_the_pupil_photo_allowed(api):
    response = api.post(f"{V1}/decision", json={"check_id": checked(api)["check_id"], "choice": "fix"})
    assert response.status_code == 200 and len(response.json["event_ids"]) == 2
    got = logged(api)
    assert got["location.gps"] == ("sanitised", "")
    assert got["pupil.image"] == ("allowed", f"the person chose 'Remove location'; this {WENT_OUT}")


def test_fix_for_a_held_post_logs_each_finding_and_a_retry_adds_nothing(api):
    verdict = checked(api)
    summary = {"url": "https://www.facebook.com/", "decision": verdict["decision"], "findings": verdict["findings"],
               "errors": []}
    pending_id = api.post(f"{V1}/pending", json={"summary": summary, "timeout_s": 10}).json["pending_id"]
    body = {"pending_id": pending_id, "choice": "fix"}
    first, again = api.post(f"{V1}/decision", json=body), api.post(f"{V1}/decision", json=body)
    assert first.status_code == again.status_code == 200 and first.json["event_ids"] == again.json["event_ids"]
    got = logged(api)
    assert got["location.gps"][0] == "sanitised" and got["pupil.image"][0] == "allowed"
    assert store_of(api).count() == 2


def test_cancel_covers_every_finding_and_is_logged_for_each(api):
    body = {"check_id": checked(api)["check_id"], "choice": "cancel", "reason": "Parental consent on file"}
    assert api.post(f"{V1}/decision", json=body).status_code == 200
    assert {d for d, _ in logged(api).values()} == {"cancelled"}


@pytest.mark.parametrize("how", ["check", "pending"])
def test_post_anyway_overrides_what_was_asked_and_the_location_the_pack_removes_is_sanitised(api, how):
    """Issue 18: the person's "Post anyway" answers the pupil photo; the default pack removes the location whatever
    is answered (action "sanitise": the page strips it first, the proxy strips a held post), so it never went out
    and is not "overridden"."""
    verdict = checked(api)
    assert {f["rule"]: f["action"] for f in verdict["findings"]} == {"location.gps": "sanitise", "pupil.image": "warn"}
    if how == "check":
        body = {"check_id": verdict["check_id"]}
    else:
        summary = {"url": "https://www.facebook.com/", "decision": verdict["decision"],
                   "findings": verdict["findings"], "errors": []}
        body = {"pending_id": api.post(f"{V1}/pending", json={"summary": summary, "timeout_s": 10}).json["pending_id"]}
    assert api.post(f"{V1}/decision", json={**body, "choice": "post_anyway",
                                           "reason": "Parental consent on file"}).status_code == 200
    got = logged(api)
    assert got["pupil.image"] == ("overridden", "Parental consent on file")
    assert got["location.gps"] == ("sanitised", ALWAYS_REMOVED)


def test_post_anyway_on_a_location_the_pack_only_warns_about_is_overridden(tmp_path):
    """A pack whose location rule warns: the person may post the location, and then it did go out."""
    pack = tmp_path / "warnloc.toml"
    pack.write_text('[pack]\nid="warnloc"\nname="W"\nextends="default"\n[rules."location.gps"]\naction="warn"\n')
    config = parse_config({"data_dir": str(tmp_path / "data"), "school": {**CONFIG["school"], "pack": str(pack)}})
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "EXTENSION_ORIGINS": [EXTENSION_ORIGIN]},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'w.sqlite3'}", token=TOKEN, user="t1"))
    api = Api(app.test_client())
    try:
        body = {"check_id": checked(api)["check_id"], "choice": "post_anyway", "reason": "Parental consent on file"}
        assert api.post(f"{V1}/decision", json=body).status_code == 200
        assert {d for d, _ in logged(api).values()} == {"overridden"}
    finally:
        app.extensions["postguard"].store.close()


def test_post_anyway_in_the_page_covers_the_copy_it_stripped(api):
    """The page strips the location (/strip), then posts anyway: the proxy sees the stripped copy, still a pupil
    photo, and must not hold it and ask again."""
    from local_service.api import get_broker
    from rules.record.hold import fingerprint

    photo = school_photo()
    stripped = api.post(f"{V1}/strip", json={"name": "IMG_0007.jpg", "type": "image/jpeg",
                                            "data": base64.b64encode(photo).decode()}).data
    body = {"check_id": checked(api)["check_id"], "choice": "post_anyway", "reason": "Parental consent on file"}
    assert api.post(f"{V1}/decision", json=body).status_code == 200
    assert get_broker(api.client.application).answer_for([fingerprint(stripped)]).choice == "post_anyway"


def test_fix_in_the_page_covers_the_cleaned_copy_the_proxy_will_see(api):
    """The extension strips first, then reports "fix": the in-process proxy must recognise the copy it posts."""
    from local_service.api import get_broker
    from rules.record.hold import fingerprint

    photo = school_photo()
    stripped = api.post(f"{V1}/strip", json={"name": "IMG_0007.jpg", "type": "image/jpeg",
                                            "data": base64.b64encode(photo).decode()})
    assert stripped.status_code == 200 and stripped.data != photo
    broker = get_broker(api.client.application)
    assert broker.answer_for([fingerprint(stripped.data)]) is None  # stripping alone is no answer
    assert api.post(f"{V1}/decision", json={"check_id": checked(api)["check_id"], "choice": "fix"}).status_code == 200
    assert broker.answer_for([fingerprint(stripped.data)]).choice == "fix"
    assert broker.answer_for([fingerprint(photo)]).choice == "fix"
    assert broker.answer_for([fingerprint(b"another file")]) is None
