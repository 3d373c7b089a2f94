"""postguard status on a deployed laptop, in words: the CA trusted by the system and by Firefox, the PAC and the
extension set by the browsers' policies, the native host registered, the service running, the extension connected
(it called the service in the last five minutes), the laptop enrolled with the trust server; and after the
deployment's uninstall script, none of it left."""
from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
from werkzeug.serving import make_server

from local_service import forwarder, install_state
from local_service.app import create_app
from local_service.cli import main
from local_service.install_state import Inspector
from local_service.services import Services
from proxy_addon import ca
from rules import load_config
from rules.record.events import Event
from rules.record.keys import TOKEN_FILE
from rules.record.keys import rotate as rotate_secret
from rules.record.store import open_store

EXT_ID = "abcdefghijklmnopabcdefghijklmnop"


def _config(tmp_path, extra=""):
    conf = tmp_path / "config.toml"
    conf.write_text(f'data_dir = "{tmp_path / "data"}"\n[deploy]\nextension_id = "{EXT_ID}"\nservice_port = 9411\n'
                    + extra)
    return load_config(conf)


@pytest.mark.parametrize("extra", ["", 'ca_dir = "/var/lib/postguard/ca"\n'])
def test_ca_folder_is_the_proxys(tmp_path, extra):
    config = _config(tmp_path, extra)
    assert install_state.ca_folder(config) == ca.confdir(config)


def test_ca_trusted_by_the_system_bundle_and_by_firefox_policy(tmp_path):
    config = _config(tmp_path)
    cert = ca.ensure_ca(config)
    root = tmp_path / "root"
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.parent.mkdir(parents=True)
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    checks = {c.what: c for c in Inspector(config, root=root, nss=tmp_path / "nss", system="Linux").ca()}
    assert "CA trusted by Firefox" not in checks  # no Firefox on this machine: not reported
    (root / "etc/firefox").mkdir()  # Firefox installed, without PostGuard's policies
    checks = {c.what: c for c in Inspector(config, root=root, nss=tmp_path / "nss", system="Linux").ca()}
    assert checks["proxy certificate"].ok
    assert checks["CA trusted by the system"].ok is False
    assert checks["CA trusted by Firefox"].ok is False
    bundle.write_text(bundle.read_text() + cert.read_text())
    ff = root / "etc/firefox/policies/policies.json"
    ff.parent.mkdir(parents=True)
    ff.write_text(f'{{"policies": {{"Certificates": {{"Install": ["{cert}"]}}}}}}')
    checks = {c.what: c for c in Inspector(config, root=root, nss=tmp_path / "nss", system="Linux").ca()}
    assert checks["CA trusted by the system"].ok and checks["CA trusted by Firefox"].ok
    assert "NO" in checks["CA trusted by NSS (Chromium and Chrome on Linux)"].line()


def test_no_certificate_yet_says_who_makes_it(tmp_path):
    check = Inspector(_config(tmp_path), root=tmp_path, system="Linux").ca()[0]
    assert check.ok is False and "install script" in check.line()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="install.sh runs as root")
def test_install_puts_every_policy_in_effect_and_uninstall_leaves_none(tmp_path):
    conf = tmp_path / "school.toml"
    conf.write_text(f'[deploy]\nextension_id = "{EXT_ID}"\nservice_port = 9411\n')
    out = tmp_path / "out"
    assert main(["deploy", "--config", str(conf), "--out", str(out)]) == 0
    bundle = out / "linux/postguard"
    bundle.mkdir()
    (bundle / "postguard").write_text("#!/bin/sh\n")
    (bundle / "postguard").chmod(0o755)
    staging = tmp_path / "root"
    staging.mkdir()
    env = {**os.environ, "POSTGUARD_ROOT": str(staging)}
    config = load_config(out / "linux/config.toml")

    def look():
        return {c.what: c for c in Inspector(config, root=staging, system="Linux").browsers()}

    assert not look()  # no browser folders: nothing to report per browser
    subprocess.run(["sh", str(out / "linux/install.sh")], check=True, capture_output=True, env=env)
    checks = look()
    for browser in ("chrome", "chromium", "edge"):
        assert checks[f"{browser}: PAC in effect by policy"].ok, checks
        assert checks[f"{browser}: extension installed by policy"].ok
        assert checks[f"{browser}: native host registered"].ok
    assert checks["firefox: native host registered"].ok
    subprocess.run(["sh", str(out / "linux/uninstall.sh")], check=True, capture_output=True, env=env)
    after = look()
    assert after and not any(c.ok for c in after.values()), after


def test_service_running_is_told_by_its_pac_file(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "config.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n[deploy]\nservice_port = {port}\n')
    config = load_config(tmp_path / "config.toml")
    assert Inspector(config).service().ok is False
    svc = Services.open(config, database=f"sqlite:///{tmp_path / 'e.sqlite3'}", user="t")
    server = make_server("127.0.0.1", port, create_app({"TESTING": True}, svc), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check = Inspector(config).service()
    finally:
        server.shutdown()
        server.server_close()
        svc.store.close()
    assert check.ok, check.line()


def test_status_prints_the_setup_in_words(tmp_path, capsys):
    config = _config(tmp_path)
    assert main(["status", "--config", str(config.path)]) == 1  # not in order: lines say NO
    out = capsys.readouterr().out
    assert "this laptop's setup" in out and "proxy certificate: NO" in out and "service running: NO" in out


@pytest.mark.parametrize("mode,words", [(0o600, "its owner only"), (0o640, "its group"), (0o644, "everyone")])
def test_ca_instructions_say_who_can_read_the_key(tmp_path, mode, words):
    config = _config(tmp_path)
    cert = ca.ensure_ca(config)
    (cert.parent / "mitmproxy-ca.pem").chmod(mode)
    assert words in ca.instructions(cert, "http://127.0.0.1:1/proxy.pac").split("\n")[1]


# -- the extension connected, the laptop enrolled: what only the running service and the record know ---------------

@pytest.fixture
def running(tmp_path):
    """The real service on a free loopback port, with [deploy] service_port naming it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "config.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n[deploy]\nextension_id = "{EXT_ID}"\n'
                                          f'service_port = {port}\n')
    config = load_config(tmp_path / "config.toml")
    svc = Services.open(config, database=f"sqlite:///{tmp_path / 'e.sqlite3'}", user="t")
    server = make_server("127.0.0.1", port, create_app({"TESTING": True}, svc), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield config, svc
    server.shutdown()
    server.server_close()
    svc.store.close()


def _extension_check(config) -> install_state.Check:
    insp = Inspector(config)
    return insp.extension(insp.service())


def test_extension_connected_once_it_calls_the_service(running):
    config, svc = running
    check = _extension_check(config)
    assert check.ok is False and "never called" in check.line(), check.line()
    assert _extension_check(config).ok is False  # status's own question (token, no Origin) is not the extension's
    req = urllib.request.Request(f"{Inspector(config).service_url}/api/v1/health",
                                 headers={"Authorization": f"Bearer {svc.token}",
                                          "Origin": f"chrome-extension://{EXT_ID}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    check = _extension_check(config)
    assert check.ok is True and check.line().startswith("extension connected to the service: yes (its last call"), \
        check.line()


def test_extension_silent_for_more_than_five_minutes_is_not_connected(running):
    config, svc = running
    svc.extension_seen = time.monotonic() - 6 * 60
    check = _extension_check(config)
    assert check.ok is False and "6 min ago" in check.line(), check.line()


def test_extension_connection_cannot_be_told_by_another_accounts_service(running):
    config, svc = running
    svc.extension_seen = time.monotonic()
    rotate_secret(config, TOKEN_FILE)  # this account's token is no longer the one the running service holds
    check = _extension_check(config)
    assert check.ok is None and "does not take this account's token" in check.line(), check.line()


def test_extension_connection_cannot_be_told_without_the_service(tmp_path):
    config = _config(tmp_path)  # port 9411: nothing runs there in the tests
    check = _extension_check(config)
    assert check.ok is None and "not running" in check.line()


def test_not_enrolled_is_in_order_when_the_deployment_names_no_server(tmp_path):
    config = _config(tmp_path)
    check = Inspector(config).enrolment()
    assert check.ok is True and check.line().startswith("enrolled with a trust server: not needed"), check.line()
    assert not (config.data_dir / "events.sqlite3").exists()  # status opens no record where there is none


def test_not_enrolled_is_a_no_when_the_deployment_names_a_server(tmp_path):
    config = _config(tmp_path, 'server_url = "https://postguard.trust.example"\n')
    open_store(config).close()  # a record, without an enrolment in it
    check = Inspector(config).enrolment()
    assert check.ok is False and "postguard enrol https://postguard.trust.example" in check.line(), check.line()


def test_enrolled_says_with_which_server_as_enrol_status_does(tmp_path, capsys):
    config = _config(tmp_path, 'server_url = "https://postguard.trust.example"\n')
    store = open_store(config)
    try:
        store.append(Event(rule="location.gps", decision="sanitised", severity="high", source="proxy",
                           message="m"))  # the record's chain begins: enrolment sends its first key

        def trust_server(_config, url, body, headers=None):
            assert url == "https://postguard.trust.example/device/v1/enrol"
            return 201, {"device": "dev-42", "school": "St Mary"}

        forwarder.enrol(config, store, "https://postguard.trust.example", "s3cret", "ICT-LAPTOP-042",
                        post=trust_server)
    finally:
        store.close()
    check = Inspector(config).enrolment()
    assert check.ok is True, check.line()
    assert check.line() == ("enrolled with a trust server: yes (https://postguard.trust.example as ICT-LAPTOP-042 "
                            "(dev-42), school St Mary; 1 events waiting to be forwarded)")
    assert main(["enrol", "--status", "--config", str(config.path)]) == 0  # the same state enrol --status reads
    assert "enrolled with https://postguard.trust.example as ICT-LAPTOP-042" in capsys.readouterr().out


def test_status_prints_the_extension_and_enrolment_lines(tmp_path, capsys):
    config = _config(tmp_path)
    assert main(["status", "--config", str(config.path)]) == 1
    out = capsys.readouterr().out
    assert "  extension connected to the service: cannot tell (the service is not running)" in out
    assert "  enrolled with a trust server: not needed (" in out


def test_uninstall_does_not_count_the_enrolment_as_left_behind(tmp_path, capsys):
    config = _config(tmp_path)
    assert main(["uninstall", "--config", str(config.path)]) == 0, capsys.readouterr().out


YES, NO, UNKNOWN = (install_state.Check("a", True, "d"), install_state.Check("b", False, "d"),
                    install_state.Check("c", None, "d"))
NOT_NEEDED = install_state.Check("enrolled with a trust server", True, "d", word="not needed")


@pytest.mark.parametrize("checks,code", [
    ([YES, NOT_NEEDED], 0),  # every line yes or in order without being one
    ([YES, NO, NOT_NEEDED], 1),
    ([YES, UNKNOWN, NO], 1),  # a NO outweighs what cannot be told
    ([YES, UNKNOWN, NOT_NEEDED], 3),  # nothing wrong found, but not all of it checked: not known to be in order
])
def test_status_exits_with_whether_the_setup_is_in_order(tmp_path, capsys, monkeypatch, checks, code):
    config = _config(tmp_path)
    monkeypatch.setattr(Inspector, "all", lambda self: checks)
    assert main(["status", "--config", str(config.path)]) == code
    out = capsys.readouterr().out
    assert all(f"  {c.line()}" in out for c in checks), out  # every line printed, whatever the exit


def test_status_exits_one_on_a_no_from_a_real_staged_laptop(tmp_path, capsys):
    """No stand-ins: a laptop whose CA exists but that nothing trusts and where no service runs."""
    config = _config(tmp_path)
    ca.ensure_ca(config)
    checks = Inspector(config).all()
    assert checks[0].ok is True and any(c.ok is False for c in checks)
    assert install_state.exit_status(checks) == 1
    assert main(["status", "--config", str(config.path)]) == 1
    assert "proxy certificate: yes" in capsys.readouterr().out
