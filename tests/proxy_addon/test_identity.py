"""The proxy's events name the person (the OS account running PostGuard) and the device, so they appear on the
person's own page (issue 14: they carried neither and never appeared there)."""
import getpass
import socket

import pytest

from local_service.composition import proxy_addon
from local_service.services import Services
from proxy_addon.addon import PostGuard
from rules import Engine
from rules.config import parse_config
from rules.record.store import Filter
from tests.proxy_addon.test_addon import make_flow, run
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps


@pytest.fixture
def svc(tmp_path):
    s = Services.open(parse_config({"data_dir": str(tmp_path / "data")}),
                      database=f"sqlite:///{tmp_path / 'svc.sqlite3'}", token="test-token-0123456789",
                      user="j.smith")
    yield s
    s.store.close()


def test_an_event_the_proxy_records_under_postguard_run_names_the_person_and_device(svc):
    addon = proxy_addon(svc)  # exactly as `postguard run` builds it
    flow = run(addon, make_flow(jpeg_with_gps(gps_ifd(*SHEFFIELD)), "image/jpeg"))
    assert flow.metadata["postguard"]["decision"] == "sanitise"
    (event,) = svc.store.list(Filter(user="j.smith")).rows  # what the person's own page (/me) lists
    assert event["rule"] == "location.gps" and event["source"] == "proxy"
    assert event["user"] == "j.smith" and event["device"] == svc.device == socket.gethostname()


def test_an_inspection_error_names_the_person_and_device_too(svc):
    addon = proxy_addon(svc)
    addon.max_body = 1024
    run(addon, make_flow(b"x" * 2048, "application/octet-stream"))
    (event,) = svc.store.list(Filter(user="j.smith")).rows
    assert event["rule"] == "inspection.error" and event["device"] == socket.gethostname()


def test_a_standalone_proxy_names_the_os_account_running_it(svc):
    addon = PostGuard(store=svc.store, engine=Engine())
    assert addon.user == getpass.getuser() and addon.device == socket.gethostname()
    run(addon, make_flow(jpeg_with_gps(gps_ifd(*SHEFFIELD)), "image/jpeg"))
    (event,) = svc.store.list(Filter(user=getpass.getuser(), device=socket.gethostname())).rows
    assert event["rule"] == "location.gps"
