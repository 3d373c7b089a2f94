"""The extension's pure JavaScript modules, tested with Node's built-in runner: `node --test tests/extension/`."""
import subprocess

from .conftest import ROOT, require_node


def test_node_unit_tests_pass():
    node = require_node()
    result = subprocess.run([node, "--test", "tests/extension/"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    summary = [line for line in result.stdout.splitlines() if line.startswith(("# tests", "# pass", "# fail"))]
    failed = [line for line in result.stdout.splitlines() if line.startswith("not ok")]
    assert result.returncode == 0, "node --test failed:\n" + "\n".join(failed + summary) + "\n" + \
        result.stdout[-4000:] + result.stderr[-2000:]
    assert any(line.startswith("# pass") and int(line.split()[-1]) > 0 for line in summary), result.stdout[-2000:]
