"""Which way the packages depend: proxy_addon -> rules <- local_service, and one composition root wires both.

docs/architecture.md draws the picture; these tests keep it true.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rules", "local_service", "proxy_addon")
COMPOSITION_ROOT = ROOT / "local_service" / "composition.py"
MAX_LOCAL_IMPORTS = 5  # function-local imports of the project's own modules, each with a comment saying why


def modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def imported(path: Path, node) -> list[str]:
    """The absolute module names an import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level == 0:
            return [node.module or ""]
        package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
        base = package[:len(package) - node.level + 1]
        return [".".join(base + ([node.module] if node.module else []))]
    return []


def imports(package: str):
    """(path, line, module) for every import statement in the package, at any depth."""
    for path, tree in modules(package):
        for node in ast.walk(tree):
            for name in imported(path, node):
                yield path, node.lineno, name


def top(name: str) -> str:
    return name.split(".")[0]


def test_rules_imports_no_adapter_nor_flask_nor_mitmproxy():
    bad = [f"{p.relative_to(ROOT)}:{line}: {name}" for p, line, name in imports("rules")
           if top(name) in ("local_service", "proxy_addon", "flask", "mitmproxy")]
    assert not bad, bad


def test_proxy_addon_imports_nothing_from_local_service():
    bad = [f"{p.relative_to(ROOT)}:{line}: {name}" for p, line, name in imports("proxy_addon")
           if top(name) == "local_service"]
    assert not bad, bad


def test_only_the_composition_root_imports_the_proxy_addon():
    bad = [f"{p.relative_to(ROOT)}:{line}: {name}" for p, line, name in imports("local_service")
           if top(name) == "proxy_addon" and p != COMPOSITION_ROOT]
    assert not bad, bad
    assert any(top(name) == "proxy_addon" for p, _, name in imports("local_service") if p == COMPOSITION_ROOT)


def test_no_import_cycle_between_top_level_packages():
    edges = {pkg: {top(name) for _, _, name in imports(pkg) if top(name) in PACKAGES and top(name) != pkg}
             for pkg in PACKAGES}
    assert edges["rules"] == set()
    assert edges["proxy_addon"] == {"rules"}
    assert edges["local_service"] == {"rules", "proxy_addon"}  # proxy_addon through the composition root only


def function_local_imports() -> list[tuple[Path, int, str]]:
    found = []
    for package in PACKAGES:
        for path, tree in modules(package):
            seen = set()
            for fn in ast.walk(tree):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(fn):
                    if id(node) in seen:
                        continue
                    seen.add(id(node))
                    for name in imported(path, node):
                        if top(name) in PACKAGES:
                            found.append((path, node.lineno, name))
    return found


def test_few_function_local_imports_of_project_modules_each_saying_why():
    found = function_local_imports()
    assert len(found) <= MAX_LOCAL_IMPORTS, [f"{p.relative_to(ROOT)}:{line}: {name}" for p, line, name in found]
    for path, line, name in found:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert "#" in lines[line - 1] or lines[line - 2].strip().startswith("#"), \
            f"{path.relative_to(ROOT)}:{line}: a function-local import of {name} needs a comment saying why"


@pytest.mark.parametrize("module,forbidden", [
    ("rules, rules.engine, rules.media, rules.detectors, rules.packs, rules.config, rules.geo, rules.record.events, "
     "rules.record.store, rules.record.keys, rules.record.hold, rules.vocabulary", ("mitmproxy", "flask",
                                                                                   "local_service", "proxy_addon")),
    ("proxy_addon.addon, proxy_addon.har, proxy_addon.ca, proxy_addon.service_client", ("local_service", "flask")),
    ("local_service.cli", ("mitmproxy", "proxy_addon", "flask")),  # `postguard scan` loads neither adapter's stack
])
def test_what_importing_loads(module, forbidden):
    code = (f"import sys, {module}\n"
            "import rules; rules.Engine()\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {forbidden!r}]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_import_statement_in_rules_names_them():
    for path in (ROOT / "rules").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in ("mitmproxy", "flask"), f"{path}: {line}"
