"""The engine knows nothing of its callers."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rules_imports_neither_mitmproxy_nor_flask():
    code = ("import sys, rules, rules.engine, rules.media, rules.detectors, rules.packs, rules.config, rules.geo\n"
            "rules.Engine()\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('mitmproxy', 'flask')]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_import_statement_in_rules_names_them():
    for path in (ROOT / "rules").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in ("mitmproxy", "flask"), f"{path}: {line}"
