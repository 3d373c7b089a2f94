"""postguard native-host: Chrome's native messaging protocol (a 4-byte native-order length, then JSON), the service's
address and this account's token to PostGuard's extension only, and a bounded, strict reader."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from local_service import native_host
from local_service.deploy import FIREFOX_ID
from rules import load_config
from rules.record.keys import TOKEN_FILE, read_secret

EXT_ID = "abcdefghijklmnopabcdefghijklmnop"


def frame(message) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack("=I", len(body)) + body


def frames(raw: bytes) -> list[dict]:
    out, stream = [], io.BytesIO(raw)
    while (m := native_host.read_message(stream)) is not None:
        out.append(m)
    return out


@pytest.fixture
def config(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text(f'data_dir = "{tmp_path / "data"}"\n[deploy]\nextension_id = "{EXT_ID}"\nservice_port = 9311\n')
    return load_config(conf)


def test_hello_gets_the_service_address_and_this_accounts_token(config):
    out = io.BytesIO()
    rc = native_host.serve(config, [f"chrome-extension://{EXT_ID}/"], io.BytesIO(frame({"type": "hello"}) * 2), out)
    assert rc == 0
    answers = frames(out.getvalue())
    assert len(answers) == 2
    assert answers[0]["ok"] and answers[0]["serviceUrl"] == "http://127.0.0.1:9311"
    assert answers[0]["token"] == read_secret(config, TOKEN_FILE) and len(answers[0]["token"]) >= 32


def test_firefox_caller_is_the_extensions_id(config):
    out = io.BytesIO()
    native_host.serve(config, ["/usr/lib/mozilla/native-messaging-hosts/x.json", FIREFOX_ID],
                      io.BytesIO(frame({"type": "hello"})), out)
    assert frames(out.getvalue())[0]["ok"]


@pytest.mark.parametrize("caller", [["chrome-extension://bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/"],
                                    ["/x.json", "other@example.org"], []])
def test_another_extension_gets_no_token(config, caller):
    out = io.BytesIO()
    native_host.serve(config, caller, io.BytesIO(frame({"type": "hello"})), out)
    answer = frames(out.getvalue())[0]
    assert answer["ok"] is False and "token" not in answer


def test_no_configured_extension_gives_no_token(tmp_path):
    conf = tmp_path / "config.toml"
    conf.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    out = io.BytesIO()
    native_host.serve(load_config(conf), [f"chrome-extension://{EXT_ID}/"], io.BytesIO(frame({"type": "hello"})), out)
    assert frames(out.getvalue())[0]["ok"] is False


def test_unknown_message_is_an_error_answer(config):
    out = io.BytesIO()
    native_host.serve(config, [f"chrome-extension://{EXT_ID}/"], io.BytesIO(frame({"type": "token?"})), out)
    answer = frames(out.getvalue())[0]
    assert answer["ok"] is False and "token" not in answer


@pytest.mark.parametrize("raw", [b"\x01\x00", struct.pack("=I", 10) + b"{}", struct.pack("=I", 3) + b"abc",
                                 struct.pack("=I", native_host.MAX_IN + 1) + b"{}", frame([1, 2]),
                                 struct.pack("=I", 2) + b"\xff\xfe"])
def test_broken_protocol_ends_without_an_answer(config, raw):
    out = io.BytesIO()
    assert native_host.serve(config, [f"chrome-extension://{EXT_ID}/"], io.BytesIO(raw), out) == 1
    assert out.getvalue() == b""


def test_the_command_speaks_the_protocol_on_stdio(config, tmp_path):
    """As the browser runs it: a process with the caller as its argument, messages on stdin, answers on stdout."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "POSTGUARD_CONFIG": str(config.path)}
    r = subprocess.run([sys.executable, "-m", "local_service.cli", "native-host", f"chrome-extension://{EXT_ID}/"],
                       input=frame({"type": "hello"}), capture_output=True, cwd=root, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    answer = frames(r.stdout)[0]
    assert answer["token"] == read_secret(config, TOKEN_FILE)
    assert answer["version"]
