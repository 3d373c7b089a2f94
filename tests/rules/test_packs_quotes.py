"""Every pack quotes only its own school's policy, word for word; where the policy has no clause, PostGuard's
guidance is shown, marked as such, never another school's words (issue 18 item 7)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rules.packs import GUIDANCE_REF, PACK_DIR, PackError, available, is_guidance, load_pack

POLICIES = Path(__file__).resolve().parents[2] / "rules" / "policies"
SCHOOLS = [name for name in available() if name != "default"]
QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})


def normal(text: str) -> str:
    """Whitespace folded, curly quotes and dashes made plain: the only differences a quote may have."""
    return " ".join(text.translate(QUOTES).split())


def quoted_in(quote: str, policy: str) -> bool:
    """The quote's parts (cut with "..." only) appear in the policy in order, each word for word."""
    at = 0
    for part in (p.strip() for p in normal(quote).split("...")):
        if not part:
            continue
        found = policy.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def every_clause(pack):
    for rule_id, spec in pack.rules.items():
        for clause in spec.clauses:
            yield rule_id, "", clause
        for situation, changes in spec.situations.items():
            for clause in changes.get("clauses", ()):
                yield rule_id, situation, clause


def test_the_check_can_fail():
    policy = normal("Staff members must not edit, open, or access online encyclopaedias, such as Wikipedia, "
                    "in a personal capacity at work.")
    assert quoted_in("Staff members must not edit, ... in a personal capacity at work.", policy)
    assert quoted_in("Staff members must not edit, open,\n or access", policy)
    assert not quoted_in("Staff members must not edit open access online encyclopaedias", policy)  # EMLM's words
    assert not quoted_in("in a personal capacity at work. ... Staff members must not edit,", policy)  # out of order


@pytest.mark.parametrize("name", SCHOOLS)
def test_every_quote_is_from_the_packs_own_policy(name):
    pack = load_pack(name)
    assert pack.source, f"{name}: [pack] source names the policy's text"
    policy = normal((POLICIES / pack.source).read_text(encoding="utf-8"))
    others = {other: normal((POLICIES / load_pack(other).source).read_text(encoding="utf-8"))
              for other in SCHOOLS if other != name}
    quotes = 0
    for rule_id, situation, clause in every_clause(pack):
        if is_guidance(clause):
            continue
        quotes += 1
        where = f"{name}: {rule_id}{'.' + situation if situation else ''}: {clause.ref}"
        assert quoted_in(clause.text, policy), f"{where} is not word for word in {pack.source}: {clause.text[:80]!r}"
        assert not any(o in clause.ref for o in ("St Mary", "Mill Lane", "All Saints", "Corpus Christi",
                                                 "Education My Life")), f"{where}: a ref names a school"
    assert quotes >= 5, f"{name} quotes its own policy"
    assert others  # five policies, so each pack is checked against four others it must not borrow from


def test_the_default_pack_quotes_no_school():
    pack = load_pack("default")
    clauses = list(every_clause(pack))
    assert clauses and all(is_guidance(c) for _, _, c in clauses), "the default pack shows PostGuard's guidance only"
    for spec in pack.active.values():
        assert spec.clauses, f"{spec.id}: a running rule says why (a clause or guidance)"


@pytest.mark.parametrize("name", ["default", *SCHOOLS])
def test_every_running_rule_shows_a_clause_or_marked_guidance(name):
    pack = load_pack(name)
    for spec in pack.active.values():
        assert spec.clauses, f"{name}: {spec.id} runs with nothing to show"
        for clause in spec.clauses:
            assert clause.ref and len(clause.text) > 20
            assert is_guidance(clause) or clause.ref != GUIDANCE_REF


@pytest.mark.parametrize("name", SCHOOLS)
def test_each_school_pack_decides_every_rule_itself(name):
    """Not by inheritance: every rule the default runs has its own table in the school's file."""
    import tomllib

    doc = tomllib.loads((PACK_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    assert set(load_pack("default").rules) <= set(doc.get("rules", {})), \
        f"{name}: rules left to the default: {sorted(set(load_pack('default').rules) - set(doc['rules']))}"


def test_a_child_that_quotes_replaces_the_parents_guidance(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[pack]\nid="t"\nname="T"\nextends="default"\n[[rules."location.gps".clauses]]\nref="1"\n'
                    'text="Our own clause about photos taken on trips."\n')
    spec = load_pack(str(path)).rules["location.gps"]
    assert [c.ref for c in spec.clauses] == ["1"]
    path.write_text('[pack]\nid="t"\nname="T"\nextends="default"\n[rules."location.gps"]\naction="warn"\n')
    assert all(is_guidance(c) for c in load_pack(str(path)).rules["location.gps"].clauses)


def test_guidance_cannot_pass_as_a_clause_nor_a_clause_as_guidance(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(f'[pack]\nid="t"\nname="T"\n[[rules."location.gps".clauses]]\nref="{GUIDANCE_REF}"\n'
                    'text="Words PostGuard did not write, dressed as guidance."\n')
    with pytest.raises(PackError, match=re.escape('rules."location.gps".clauses[0].ref')):
        load_pack(str(path))


def test_no_override_reason_is_offered_for_what_the_config_decides():
    """"Official school account" was offered as a reason although pupil data is blocked (never overridable) there;
    official accounts are now the config's ([school] official_accounts) and have rules of their own."""
    for name in ["default", *SCHOOLS]:
        reasons = load_pack(name).settings["override_reasons"]
        assert reasons and not [r for r in reasons if "official" in r.lower()], name


DOC = Path(__file__).resolve().parents[2] / "docs" / "policy-clauses.md"


def doc_rows() -> dict[str, list[tuple[str, str, str]]]:
    """docs/policy-clauses.md's tables: the school's heading (its pack's name) -> (ref, quote, rule ids) rows."""
    rows, school = {}, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            school = line[3:].strip()
            rows[school] = []
        elif school and line.startswith("| ") and not line.startswith(("| clause ref", "|---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[school].append((cells[0], cells[1], cells[2]))
    return rows


def test_the_clause_table_quotes_each_policy_word_for_word_and_lists_what_each_pack_cites():
    rows = doc_rows()
    for name in SCHOOLS:
        pack = load_pack(name)
        policy = normal((POLICIES / pack.source).read_text(encoding="utf-8"))
        table = rows[pack.name]
        for ref, quote, _ in table:
            if quote.count('"') >= 2:
                text = quote[quote.index('"') + 1:quote.rindex('"')]
                assert quoted_in(text, policy), f"docs/policy-clauses.md, {pack.name} {ref}: {text[:60]!r}"
        for rule_id, situation, clause in every_clause(pack):
            if is_guidance(clause):
                continue
            assert any(ref == clause.ref and rule_id in rules for ref, _, rules in table), \
                f"docs/policy-clauses.md has no {pack.name} row for {clause.ref} -> {rule_id}"
