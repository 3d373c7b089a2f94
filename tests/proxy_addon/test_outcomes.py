"""A pupil photo with a location: the log says what happened to each finding. Removing the location removes the
location and nothing else, so the pupil photo finding is never logged "sanitised": it went out."""
import io
import threading
import time

import pytest

from proxy_addon.addon import PostGuard
from rules import Engine, load_pack, media
from rules.config import parse_config
from rules.record.outcomes import WENT_OUT
from rules.record.store import Filter
from tests.proxy_addon.test_addon import BOUNDARY, make_flow, multipart, run
from tests.proxy_addon.test_e2e import post
from tests.rules.test_location import SHEFFIELD, gps_ifd

Image = pytest.importorskip("PIL.Image")
SERIAL = "093022004357"
CONFIG = {"school": {"cameras": [{"serial": SERIAL}]}}


def school_photo() -> bytes:
    """Taken on the school's camera (its body serial is in the asset register: pupil.image), with GPS."""
    im = Image.new("RGB", (64, 48), (120, 160, 200))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS R6"
    exif.get_ifd(0x8769)[0xA431] = SERIAL
    exif.get_ifd(0x8825).update(gps_ifd(*SHEFFIELD))
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def decisions(store) -> dict[str, tuple[str, str]]:
    return {r["rule"]: (r["decision"], r["reason"]) for r in store.list().rows}


def test_a_pack_sanitise_logs_the_location_sanitised_and_the_pupil_photo_allowed(store, tmp_path):
    pack = tmp_path / "logphoto.toml"
    pack.write_text('[pack]\nid="logphoto"\nname="L"\nextends="default"\n[rules."pupil.image"]\naction="log"\n')
    addon = PostGuard(store=store, engine=Engine(parse_config(CONFIG), load_pack(str(pack))))
    photo = school_photo()
    flow = run(addon, make_flow(multipart([("photo", "IMG_0007.jpg", photo, "image/jpeg")]),
                                f"multipart/form-data; boundary={BOUNDARY}"))
    sent = flow.request.raw_content
    cleaned = sent[sent.index(b"\xff\xd8\xff"):][:len(photo)]
    assert media.inspect(cleaned).real_coordinates == [] and SERIAL.encode() in cleaned  # the photo went out
    got = decisions(store)
    assert got["location.gps"] == ("sanitised", "EXIF GPS from IMG_0007.jpg")
    assert got["pupil.image"] == ("allowed", f"this {WENT_OUT}")


def test_a_held_post_fixed_by_the_person_logs_each_finding_as_it_happened(tmp_path, upstream):
    """Default pack: pupil.image warns, so the proxy holds the post; the person chooses "Remove location and post";
    the photo goes out without its GPS, and the log says so per finding."""
    from local_service.api import get_broker
    from local_service.app import create_app
    from local_service.services import Services
    from tests.local_service.conftest import EXTENSION_ORIGIN, TOKEN
    from tests.proxy_addon.conftest import Proxy

    config = parse_config({"data_dir": str(tmp_path / "data"), **CONFIG})
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "EXTENSION_ORIGINS": [EXTENSION_ORIGIN]},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'svc.sqlite3'}", token=TOKEN))
    svc = app.extensions["postguard"]
    p = Proxy(tmp_path / "mitm", PostGuard(store=svc.store, broker=get_broker(app), engine=Engine(config)))
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": EXTENSION_ORIGIN}
    asked = {}

    def the_person():
        client = app.test_client()
        for _ in range(500):
            held = client.get("/api/v1/pending", headers=headers).get_json()["pending"]
            if held:
                asked["rules"] = sorted(f["rule"] for f in held[0]["summary"]["findings"])
                asked["answer"] = client.post("/api/v1/decision", headers=headers, json={
                    "pending_id": held[0]["pending_id"], "choice": "fix"}).status_code
                return
            time.sleep(0.02)

    person = threading.Thread(target=the_person, daemon=True)
    person.start()
    photo = school_photo()
    try:
        status, _ = post(p, upstream.url + "/media", photo, "image/jpeg", method="PUT")
    finally:
        person.join(10)
        p.stop()
    try:
        assert asked == {"rules": ["location.gps", "pupil.image"], "answer": 200}
        assert status == 200
        (sent,) = [body for _, path, _, body in upstream.received if path == "/media"]
        assert len(sent) == len(photo) and media.inspect(sent).real_coordinates == [] and SERIAL.encode() in sent
        got = decisions(svc.store)
        assert got["location.gps"] == ("sanitised", "")
        assert got["pupil.image"][0] == "allowed" and "chose 'Remove location'" in got["pupil.image"][1]
        assert svc.store.count(Filter(decision="sanitised")) == 1
    finally:
        svc.store.close()


def test_fix_chosen_in_the_page_is_not_asked_again_in_the_proxy(store):
    """The page had the location removed (/strip) and the person chose "Remove location" there, with the pupil photo
    finding in front of them; the proxy then sees the cleaned copy, still a pupil photo (warn): it must not hold it
    and ask again, nor log a second answer."""
    from local_service.broker import Broker
    from rules.record.hold import fingerprint

    engine = Engine(parse_config(CONFIG))
    photo = school_photo()
    cleaned, removed = engine.sanitise(media_attachment(photo))
    assert removed and media.inspect(cleaned.data).real_coordinates == []
    broker = Broker()
    broker.remember_cleaned(fingerprint(photo), fingerprint(cleaned.data))
    broker.remember_answer(broker.with_cleaned([fingerprint(photo)]), "fix")
    flow = run(PostGuard(store=store, broker=broker, engine=engine), make_flow(cleaned.data, "image/jpeg"))
    assert flow.response is None and flow.request.raw_content == cleaned.data
    assert broker.pending() == [] and store.count() == 0 and broker.notices() == []
    # a photo the person did not answer for is still held (here: nobody answers, the pack's fallback refuses it)
    other = Broker()
    flow = run(PostGuard(store=store, broker=other, engine=Engine(parse_config(CONFIG), warn_quickly())),
               make_flow(cleaned.data, "image/jpeg"))
    assert flow.response is not None and flow.response.status_code == 403


def media_attachment(data: bytes):
    from rules import Attachment
    return Attachment("IMG_0007.jpg", data, "image/jpeg")


def warn_quickly():
    import pathlib
    import tempfile
    pack = pathlib.Path(tempfile.mkdtemp()) / "quick.toml"
    pack.write_text('[pack]\nid="quick"\nname="Q"\nextends="default"\n[settings]\nwarn_timeout_s = 0.3\n')
    return load_pack(str(pack))


def test_a_held_post_posted_anyway_still_loses_its_location_and_the_log_says_so(tmp_path, upstream):
    """Issue 18: "Post anyway" answers the pupil photo; the default pack removes the location whatever is answered
    (its action is sanitise), so the held photo goes out without GPS and the record says "sanitised" for it,
    "overridden" (with the reason) for the pupil photo. Through a real proxy, the service's API and an upstream."""
    from local_service.api import get_broker
    from local_service.app import create_app
    from local_service.services import Services
    from tests.local_service.conftest import EXTENSION_ORIGIN, TOKEN
    from tests.proxy_addon.conftest import Proxy

    config = parse_config({"data_dir": str(tmp_path / "data"), **CONFIG})
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "EXTENSION_ORIGINS": [EXTENSION_ORIGIN]},
                     Services.open(config, database=f"sqlite:///{tmp_path / 'svc.sqlite3'}", token=TOKEN))
    svc = app.extensions["postguard"]
    p = Proxy(tmp_path / "mitm", PostGuard(store=svc.store, broker=get_broker(app), engine=Engine(config)))
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": EXTENSION_ORIGIN}
    asked = {}

    def the_person():
        client = app.test_client()
        for _ in range(500):
            held = client.get("/api/v1/pending", headers=headers).get_json()["pending"]
            if held:
                asked["answer"] = client.post("/api/v1/decision", headers=headers, json={
                    "pending_id": held[0]["pending_id"], "choice": "post_anyway",
                    "reason": "Parental consent on file"}).status_code
                return
            time.sleep(0.02)

    person = threading.Thread(target=the_person, daemon=True)
    person.start()
    photo = school_photo()
    try:
        status, _ = post(p, upstream.url + "/media", photo, "image/jpeg", method="PUT")
    finally:
        person.join(10)
        p.stop()
    try:
        assert asked == {"answer": 200} and status == 200
        (sent,) = [body for _, path, _, body in upstream.received if path == "/media"]
        assert len(sent) == len(photo) and media.inspect(sent).real_coordinates == [] and SERIAL.encode() in sent
        got = decisions(svc.store)
        assert got["location.gps"][0] == "sanitised" and got["pupil.image"] == ("overridden",
                                                                               "Parental consent on file")
        assert svc.store.count() == 2
    finally:
        svc.store.close()


@pytest.mark.parametrize("pack_action, stripped", [("sanitise", True), ("warn", False)])
def test_post_anyway_answered_in_the_page_strips_only_what_the_pack_always_removes(store, tmp_path, pack_action,
                                                                                    stripped):
    """The page's answer for the original photo (its own strip failed or was skipped): the proxy still removes a
    location under "sanitise", and leaves one the pack only warns about, which the person chose to post."""
    from local_service.broker import Broker
    from rules.record.hold import fingerprint

    pack = tmp_path / "p.toml"
    pack.write_text(f'[pack]\nid="p"\nname="P"\nextends="default"\n[rules."location.gps"]\naction="{pack_action}"\n')
    photo = school_photo()
    broker = Broker()
    broker.remember_answer([fingerprint(photo)], "post_anyway", "Parental consent on file")
    flow = run(PostGuard(store=store, broker=broker, engine=Engine(parse_config(CONFIG), load_pack(str(pack)))),
               make_flow(photo, "image/jpeg"))
    assert flow.response is None and broker.pending() == []
    sent = flow.request.raw_content
    assert (media.inspect(sent).real_coordinates == []) is stripped and SERIAL.encode() in sent
    assert store.count() == 0  # the page's /decision logged the answer
