"""Single sign-on end to end (issue 16 item 2): a real OpenID provider process (oidc-provider-mock) and the trust
server's dashboard served over HTTP, a browser played by a requests session. Accounts map to roles by e-mail (a named
account) or by group claim ([[sso.groups]]); the allow-list refuses a provider's tokens whose issuer it does not
list; a school-IT account sees device health and gets 403 on every event page and export, a reporting account sees
aggregates only, the DSL of school A sees nothing of school B, and every view is audited under the account. The
issuer checks of Entra ID (multi-tenant) and Google Workspace are tested on claims."""
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from local_service import accounts, sso
from local_service.app import create_app
from local_service.server import create_server_app
from local_service.services import Services
from rules.config import ConfigError, parse_config
from rules.record.store import events as events_table

from .admin_helpers import fast_hashing, make_events  # noqa: F401

pytest.importorskip("oidc_provider_mock")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def provider():
    """oidc-provider-mock in its own process, reached as http://localhost:PORT (its issuer): another cookie host
    than the dashboard's 127.0.0.1."""
    port = _free_port()
    exe = shutil.which("oidc-provider-mock", path=str(Path(sys.executable).parent)) or "oidc-provider-mock"
    proc = subprocess.Popen([exe, "--port", str(port), "--host", "127.0.0.1", "--require-nonce", "true"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://localhost:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(f"{base}/.well-known/openid-configuration", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("oidc-provider-mock did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def set_user(base, sub, **claims):
    assert requests.put(f"{base}/users/{sub}", json=claims, timeout=10).status_code == 204


class Dashboard:
    """The trust server's app served on 127.0.0.1, with events of schools A and B."""

    def __init__(self, tmp_path, provider, issuers=None, groups=(), laptop=False):
        self.port = _free_port()
        callback = f"http://127.0.0.1:{self.port}/admin/sso/trust/callback"
        reg = requests.post(f"{provider}/oauth2/clients", json={"redirect_uris": [callback]}, timeout=10).json()
        secret = tmp_path / "client-secret"
        secret.write_text(reg["client_secret"] + "\n")
        config = parse_config({"data_dir": str(tmp_path / "server"), "school": {"name": "A"}, "sso": {
            "providers": [{"name": "trust", "kind": "oidc", "label": "the trust's account",
                           "client_id": reg["client_id"], "client_secret_file": str(secret),
                           "metadata_url": f"{provider}/.well-known/openid-configuration",
                           "issuers": issuers or [provider]}],
            "groups": list(groups)}})
        self.svc = Services.open(config, database=f"sqlite:///{tmp_path / 'server.sqlite3'}", token="t" * 20,
                                 user="s")
        self.app = (create_app({"SECRET_KEY": "sso-test"}, self.svc) if laptop  # a laptop's dashboard: school A's
                    else create_server_app(self.svc, {"SECRET_KEY": "sso-test"}))
        self.store = self.svc.store
        evs = make_events(12)
        self.store.append(evs)
        self.a, self.b = evs[:6], evs[6:]
        with self.store.engine.begin() as conn:
            for school, part in (("A", self.a), ("B", self.b)):
                conn.execute(events_table.update().where(events_table.c.id.in_([e.id for e in part]))
                             .values(school=school))
        self.store.school_add("A", "a" * 43)
        self.store.school_add("B", "b" * 43)
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.thread.join(5)
        self.store.close()

    def sign_in(self, sub, next_page="/admin/"):
        """A browser signing in: the dashboard's button, the provider's page, the way back. The last response."""
        browser = requests.Session()
        r = browser.get(f"{self.base}/admin/sso/trust/login", params={"next": next_page}, allow_redirects=False,
                        timeout=10)
        assert r.status_code == 302
        authorize = r.headers["Location"]
        assert authorize.startswith("http://localhost:") and "nonce=" in authorize and "state=" in authorize
        assert "code_challenge_method=S256" in authorize and "code_challenge=" in authorize  # PKCE
        assert browser.get(authorize, timeout=10).status_code == 200  # the provider's sign-in page
        r = browser.post(authorize, data={"sub": sub}, allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["Location"].startswith(f"{self.base}/admin/sso/trust/callback?")
        back = browser.get(r.headers["Location"], allow_redirects=False, timeout=30)
        return browser, back


@pytest.fixture
def dashboard(tmp_path, provider):
    d = Dashboard(tmp_path, provider, groups=[{"provider": "trust", "group": "it-team", "role": "school_it"},
                                              {"provider": "trust", "group": "reports", "role": "reporting"}])
    yield d
    d.close()


def audits(store, action):
    return [a for a in store.audit_entries(limit=1000) if a["action"] == action]


EVENT_PAGES = ["/admin/events", "/admin/people/amy", "/admin/export.csv", "/admin/export.jsonl", "/admin/audit",
               "/admin/triage/"]


def test_the_login_page_offers_the_provider(dashboard):
    page = requests.get(f"{dashboard.base}/admin/login", timeout=10).text
    assert "Sign in with the trust&#39;s account" in page and "/admin/sso/trust/login" in page


def test_school_it_by_group_sees_device_health_and_403_on_every_event_page(dashboard, provider):
    set_user(provider, "it-1", email="it@trust.org.uk", groups=["it-team", "unrelated"])
    browser, back = dashboard.sign_in("it-1", "/admin/fleet/devices")
    assert back.status_code == 302 and back.headers["Location"] == "/admin/fleet/devices"
    assert browser.get(f"{dashboard.base}/admin/fleet/devices", timeout=10).status_code == 200
    for page in EVENT_PAGES + [f"/admin/events/{dashboard.a[0].id}"]:
        r = browser.get(dashboard.base + page, timeout=10)
        assert r.status_code == 403, page
        assert "Finding number" not in r.text and "laptop-" not in r.text
    login = audits(dashboard.store, "login")[-1]
    assert login["actor"] == "it@trust.org.uk" and login["detail"]["method"] == "sso:trust"
    assert login["detail"]["groups"] == ["it-team"] and login["detail"]["issuer"] == provider
    assert {a["actor"] for a in audits(dashboard.store, "refused")} == {"it@trust.org.uk"}
    assert accounts.Account.of(dashboard.store.account_get("it@trust.org.uk")).roles == ["school_it"]


def test_reporting_sees_only_aggregates(dashboard, provider):
    set_user(provider, "rep-1", email="reports@trust.org.uk", groups=["reports"])
    browser, back = dashboard.sign_in("rep-1")
    assert back.status_code == 302
    overview = browser.get(f"{dashboard.base}/admin/", timeout=10)
    assert overview.status_code == 200 and "amy" not in overview.text and "ben" not in overview.text
    assert browser.get(f"{dashboard.base}/admin/fleet/", timeout=10).status_code == 200
    for page in EVENT_PAGES + ["/admin/fleet/devices", "/admin/settings"]:
        assert browser.get(dashboard.base + page, timeout=10).status_code == 403, page


def test_the_dsl_of_school_a_sees_nothing_of_school_b_and_is_audited(dashboard, provider):
    accounts.add(dashboard.store, "dsl@a.sch.uk", "dsl", ["A"])  # mapped by e-mail: no group
    set_user(provider, "dsl-a", email="dsl@a.sch.uk")
    browser, back = dashboard.sign_in("dsl-a", "/admin/events")
    assert back.status_code == 302 and back.headers["Location"] == "/admin/events"
    listed = browser.get(f"{dashboard.base}/admin/events", timeout=10).text
    ids = set(re.findall(r"/admin/events/([0-9a-f-]{36})", listed))
    assert ids == {e.id for e in dashboard.a}
    assert browser.get(f"{dashboard.base}/admin/events/{dashboard.b[0].id}", timeout=10).status_code == 404
    exported = browser.get(f"{dashboard.base}/admin/export.jsonl?school=B", timeout=10).text
    assert exported == ""
    exported = browser.get(f"{dashboard.base}/admin/export.jsonl", timeout=10).text
    assert {json.loads(line)["id"] for line in exported.splitlines()} == {e.id for e in dashboard.a}
    browser.get(f"{dashboard.base}/admin/people/amy", timeout=10)
    for action in ("view_events", "view_person", "export_jsonl"):
        assert {a["actor"] for a in audits(dashboard.store, action)} == {"dsl@a.sch.uk"}, action


def test_a_laptops_dashboard_signs_in_the_same_way(tmp_path, provider):
    d = Dashboard(tmp_path, provider, laptop=True)
    try:
        accounts.add(d.store, "dsl@a.sch.uk", "dsl", ["A"])
        accounts.add(d.store, "dsl@b.sch.uk", "dsl", ["B"])
        set_user(provider, "laptop-dsl-a", email="dsl@a.sch.uk")
        set_user(provider, "laptop-dsl-b", email="dsl@b.sch.uk")
        browser, back = d.sign_in("laptop-dsl-a", "/admin/events")
        assert back.status_code == 302 and browser.get(f"{d.base}/admin/events", timeout=10).status_code == 200
        browser, back = d.sign_in("laptop-dsl-b", "/admin/events")  # this laptop is school A's
        assert back.status_code == 302 and browser.get(f"{d.base}/admin/events", timeout=10).status_code == 403
        assert [a["actor"] for a in audits(d.store, "view_events")] == ["dsl@a.sch.uk"]
    finally:
        d.close()


def test_someone_with_no_account_and_no_group_is_refused(dashboard, provider):
    set_user(provider, "stranger", email="stranger@elsewhere.org", groups=["visitors"])
    browser, back = dashboard.sign_in("stranger")
    assert back.status_code == 403 and "has no role in PostGuard" in back.text
    assert browser.get(f"{dashboard.base}/admin/", allow_redirects=False, timeout=10).status_code == 302
    assert dashboard.store.account_get("stranger@elsewhere.org") is None
    assert audits(dashboard.store, "login_failed")[-1]["detail"]["account"] == "stranger@elsewhere.org"


def test_a_token_naming_the_admin_account_gets_nothing(dashboard, provider):
    from local_service import auth as admin_auth

    admin_auth.set_password(dashboard.store, "the admin password")
    set_user(provider, "sneaky", email="admin", preferred_username="admin")
    browser, back = dashboard.sign_in("sneaky")
    assert back.status_code == 403 and "is not an e-mail address" in back.text
    assert browser.get(f"{dashboard.base}/admin/audit", allow_redirects=False, timeout=10).status_code == 302


def test_a_group_taken_away_takes_its_role_away_at_the_next_sign_in(dashboard, provider):
    set_user(provider, "mover", email="mover@trust.org.uk", groups=["it-team"])
    assert dashboard.sign_in("mover")[1].status_code == 302
    set_user(provider, "mover", email="mover@trust.org.uk", groups=["reports"])
    browser, back = dashboard.sign_in("mover")
    assert back.status_code == 302
    assert accounts.Account.of(dashboard.store.account_get("mover@trust.org.uk")).roles == ["reporting"]
    assert browser.get(f"{dashboard.base}/admin/fleet/devices", timeout=10).status_code == 403


def test_tokens_from_an_issuer_not_on_the_allow_list_are_refused(tmp_path, provider):
    d = Dashboard(tmp_path, provider, issuers=["https://login.example.org"],
                  groups=[{"provider": "trust", "group": "it-team", "role": "school_it"}])
    try:
        set_user(provider, "it-2", email="it2@trust.org.uk", groups=["it-team"])
        browser, back = d.sign_in("it-2")
        assert back.status_code == 401 and "did not verify" in back.text
        assert browser.get(f"{d.base}/admin/fleet/devices", allow_redirects=False, timeout=10).status_code == 302
        assert d.store.account_get("it2@trust.org.uk") is None
    finally:
        d.close()


def test_a_forged_or_replayed_callback_signs_nobody_in(dashboard, provider):
    set_user(provider, "it-3", email="it3@trust.org.uk", groups=["it-team"])
    browser = requests.Session()
    r = browser.get(f"{dashboard.base}/admin/sso/trust/callback?code=made-up&state=made-up", timeout=10)
    assert r.status_code == 200 and "hop=1" in r.text  # no session cookie came with it: reload from this site
    r = browser.get(f"{dashboard.base}/admin/sso/trust/callback?code=made-up&state=made-up&hop=1", timeout=10)
    assert r.status_code == 401
    browser, back = dashboard.sign_in("it-3")
    assert back.status_code == 302
    replay = requests.Session()
    replay.cookies.update(browser.cookies)
    url = back.url + "&hop=1"  # the same code and state again, with the signed-in browser's cookie
    assert replay.get(url, allow_redirects=False, timeout=10).status_code == 401
    assert len(audits(dashboard.store, "login")) == 1


# -- the allow-list on claims: Entra ID and Google Workspace ---------------------------------------------------------

ENTRA_TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER = "0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


def entra():
    return parse_config({"sso": {"providers": [{"name": "entra", "kind": "entra", "client_id": "c",
                                                "tenants": [TENANT]}]}}).sso.providers[0]


@pytest.mark.parametrize("claims, why", [
    ({"tid": TENANT, "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0"}, ""),
    ({"tid": OTHER, "iss": f"https://login.microsoftonline.com/{OTHER}/v2.0"}, "is not one of"),
    ({"tid": TENANT, "iss": f"https://login.microsoftonline.com/{OTHER}/v2.0"}, "is not tenant"),
    ({"tid": TENANT, "iss": ENTRA_TEMPLATE}, "is not tenant"),  # the placeholder itself is no issuer
    ({"iss": f"https://login.microsoftonline.com/{TENANT}/v2.0"}, "tenant (none)"),
])
def test_entra_tokens_must_come_from_an_allowed_tenant_with_its_own_issuer(claims, why):
    got = sso.refusal(entra(), ENTRA_TEMPLATE, claims)
    assert (why in got and bool(got) == bool(why)) if why else got == ""
    assert sso.allowed_issuers(entra(), ENTRA_TEMPLATE) == [f"https://login.microsoftonline.com/{TENANT}/v2.0"]


@pytest.mark.parametrize("claims, why", [
    ({"iss": "https://accounts.google.com", "hd": "stmarys.sch.uk", "email_verified": True}, ""),
    ({"iss": "https://accounts.google.com", "email_verified": True}, "personal Google account"),
    ({"iss": "https://accounts.google.com", "hd": "other.sch.uk", "email_verified": True}, "not allowed"),
    ({"iss": "https://accounts.google.com", "hd": "stmarys.sch.uk", "email_verified": False}, "not verified"),
    ({"iss": "https://evil.example", "hd": "stmarys.sch.uk", "email_verified": True}, "not Google's"),
])
def test_google_tokens_must_come_from_an_allowed_workspace_domain(claims, why):
    conf = parse_config({"sso": {"providers": [{"name": "google", "kind": "google", "client_id": "c",
                                                "hosted_domains": ["stmarys.sch.uk"]}]}}).sso.providers[0]
    got = sso.refusal(conf, "https://accounts.google.com", claims)
    assert (why in got) if why else got == ""


@pytest.mark.parametrize("sso_table, message", [
    ({"providers": [{"name": "e", "kind": "entra", "client_id": "c"}]}, "needs tenants"),
    ({"providers": [{"name": "e", "kind": "entra", "client_id": "c", "tenants": ["St Mary"]}]}, "GUID"),
    ({"providers": [{"name": "g", "kind": "google", "client_id": "c"}]}, "needs hosted_domains"),
    ({"providers": [{"name": "o", "kind": "oidc", "client_id": "c", "issuers": ["https://x"]}]}, "metadata_url"),
    ({"groups": [{"provider": "nope", "group": "g", "role": "dsl"}]}, "not in sso.providers"),
    ({"providers": [{"name": "e", "kind": "entra", "client_id": "c", "tenants": [TENANT]}],
      "groups": [{"provider": "e", "group": "g", "role": "admin"}]}, "sso.groups[0].role"),
])
def test_the_sso_table_is_checked_loudly(sso_table, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config({"sso": sso_table})
