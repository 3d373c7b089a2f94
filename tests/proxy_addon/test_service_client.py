"""The standalone proxy (`mitmdump -s`) talks to the local service through ServiceClient: the same Holder protocol as
the in-process broker, over HTTP with the per-install token."""
import inspect
import json
import threading
import urllib.request

import pytest
from werkzeug.serving import make_server

from local_service.app import create_app
from local_service.services import Services
from proxy_addon.service_client import ServiceClient
from rules.config import parse_config
from rules.record.hold import Holder

TOKEN = "client-test-token-0123456789"


@pytest.fixture
def served(tmp_path):
    svc = Services.open(parse_config({"data_dir": str(tmp_path / "data")}),
                        database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token=TOKEN, user="teacher1")
    app = create_app({"TESTING": True, "SECRET_KEY": "x"}, svc)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", svc
    server.shutdown()
    thread.join(5)
    svc.store.close()


def health(base: str) -> dict:
    req = urllib.request.Request(f"{base}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_service_client_and_broker_are_both_holders(served):
    """Both implement every method of the Holder protocol, with its parameters."""
    base, svc = served
    members = {name: inspect.signature(f) for name, f in vars(Holder).items()
               if callable(f) and not name.startswith("_")}
    assert set(members) == {"hold", "answer_for", "notify", "heartbeat"}
    for holder in (ServiceClient(base, TOKEN), svc.broker):
        for name, signature in members.items():
            method = getattr(holder, name)
            assert list(inspect.signature(method).parameters) == list(signature.parameters)[1:], (holder, name)


def test_a_standalone_proxys_heartbeat_makes_health_say_the_proxy_is_active(served):
    base, _ = served
    assert health(base)["proxy"] is False
    ServiceClient(base, TOKEN).heartbeat()
    assert health(base)["proxy"] is True


def test_a_heartbeat_with_a_wrong_token_is_refused_and_changes_nothing(served):
    base, _ = served
    with pytest.raises(urllib.error.HTTPError) as refused:
        ServiceClient(base, "not-the-token").heartbeat()
    assert refused.value.code == 401 and health(base)["proxy"] is False


def test_the_held_post_round_trip_over_http(served):
    base, svc = served
    client = ServiceClient(base, TOKEN)
    held = client.hold({"url": "https://x.com/post", "decision": "warn", "findings": []}, 5)
    threading.Timer(0.2, lambda: svc.broker.decide(held.id, "post_anyway", "Parental consent on file")).start()
    answer = held.wait(5)
    assert answer.choice == "post_anyway" and answer.reason == "Parental consent on file"
    assert client.answer_for(["anything"]) is None  # answers given in the page live in the service's memory
