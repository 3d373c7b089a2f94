"""Policy packs: every shipped pack loads; a bad pack refuses to load and names the file and the key."""
import pytest

from rules import PackError, load_pack
from rules.packs import available

SCHOOLS = ["st-mary-of-the-angels", "mill-lane-primary", "all-saints", "corpus-christi-catholic-primary",
           "education-my-life-matters"]


def test_a_pack_per_policy_and_a_default():
    assert set(available()) >= {"default", *SCHOOLS}


@pytest.mark.parametrize("name", ["default", *SCHOOLS])
def test_shipped_pack_loads_with_location_rules_and_clauses(name):
    pack = load_pack(name)
    for rule in ("location.gps", "location.place"):
        spec = pack.rules[rule]
        assert spec.action in ("log", "warn", "sanitise", "block")
        assert spec.clauses and all(c.ref and len(c.text) > 20 for c in spec.clauses)
    assert pack.settings["warn_fallback"] in ("allow", "block")


# Every quote of every pack against its own policy: tests/rules/test_packs_quotes.py.


def write(tmp_path, body: str, name="test-pack"):
    path = tmp_path / f"{name}.toml"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize("body,key", [
    ('[pack]\nid="t"\nname="T"\n[rules."location.gsp"]\naction="warn"\n', 'rules."location.gsp"'),
    ('[pack]\nid="t"\nname="T"\n[rules."location.gps"]\naction="shout"\n', 'rules."location.gps".action'),
    ('[pack]\nid="t"\nname="T"\n[rules."location.gps"]\nseverity="dire"\n', 'rules."location.gps".severity'),
    ('[pack]\nid="t"\nname="T"\n[rules."location.gps"]\ncolour="red"\n', 'rules."location.gps".colour'),
    ('[pack]\nid="t"\nname="T"\n[rules."location.gps"]\nretention_days=0\n', 'rules."location.gps".retention_days'),
    ('[pack]\nid="t"\nname="T"\n[[rules."location.gps".clauses]]\nref="1"\n', 'rules."location.gps".clauses[0]'),
    ('[pack]\nid="t"\nname="T"\n[settings]\nwarn_fallback="maybe"\n', "settings.warn_fallback"),
    ('[pack]\nid="t"\nname="T"\n[settings]\nspeed=3\n', "settings.speed"),
    ('[pack]\nname="T"\n', "pack.id"),
    ('[pack]\nid="t"\nname="T"\nextends="nonexistent"\n', "nonexistent"),
    ('[pack\nid="t"', "test-pack.toml"),
])
def test_bad_pack_names_file_and_key(tmp_path, body, key):
    path = write(tmp_path, body)
    with pytest.raises(PackError) as err:
        load_pack(path)
    assert path in str(err.value) or "nonexistent" in str(err.value)
    assert key in str(err.value)


def test_extends_inherits_and_overrides(tmp_path):
    path = write(tmp_path, '[pack]\nid="t"\nname="T"\nextends="default"\n[rules."location.gps"]\naction="block"\n')
    pack = load_pack(path)
    base = load_pack("default")
    assert pack.rules["location.gps"].action == "block"
    assert pack.rules["location.gps"].clauses == base.rules["location.gps"].clauses
    assert pack.rules["location.place"] == base.rules["location.place"]


def test_off_rules_do_not_run(tmp_path):
    from rules import Attachment, Engine, Submission
    from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

    path = write(tmp_path, '[pack]\nid="t"\nname="T"\nextends="default"\n[rules."location.gps"]\naction="off"\n')
    verdict = Engine(pack=load_pack(path)).evaluate(
        Submission(files=[Attachment("a.jpg", jpeg_with_gps(gps_ifd(*SHEFFIELD)))]))
    assert verdict.findings == [] and verdict.decision == "allow"


def test_decision_is_the_strongest_action(tmp_path):
    from rules import Attachment, Engine, Submission
    from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

    path = write(tmp_path, '[pack]\nid="t"\nname="T"\nextends="default"\n[rules."location.gps"]\naction="block"\n')
    verdict = Engine(pack=load_pack(path)).evaluate(
        Submission(files=[Attachment("a.jpg", jpeg_with_gps(gps_ifd(*SHEFFIELD)))]))
    assert verdict.decision == "block"
