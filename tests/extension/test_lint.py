"""`web-ext lint` (Mozilla's addons-linter) reports no errors for the one manifest that serves Chrome and Firefox."""
import json
import os
import shutil
import subprocess

import pytest

from .conftest import EXT, require_node


def test_web_ext_lint_reports_no_errors():
    require_node()
    npx = shutil.which("npx")
    if not (EXT / "node_modules" / ".bin" / "web-ext").exists() or not npx:
        if os.environ.get("CI"):
            pytest.fail("web-ext is not installed, but CI must install it: cd extension && npm ci")
        pytest.skip("web-ext is not installed (cd extension && npm ci)")
    result = subprocess.run([npx, "--no-install", "web-ext", "lint", "--output=json", "--no-config-discovery",
                             "--config=web-ext-config.mjs"], cwd=EXT, capture_output=True, text=True, timeout=300)
    start = result.stdout.find("{")
    assert start != -1, f"web-ext lint printed no report:\n{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout[start:])
    errors = [f"{e.get('file', '')}: {e.get('code')}: {e.get('message')}" for e in report.get("errors", [])]
    assert report["summary"]["errors"] == 0, "web-ext lint errors:\n" + "\n".join(errors)
    assert result.returncode == 0, result.stderr[-2000:]
