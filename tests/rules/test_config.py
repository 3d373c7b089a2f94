"""The config file: one schema, every key typed; bad values and unknown names give the file, the key and why."""
import ast
import datetime as dt
import ipaddress
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import Field, ValidationError

import rules
from rules import Config, ConfigError, load_config
from rules.config import Site, assemble, markdown, parse_config, template
from rules.detectors import DETECTORS, Detector
from rules.detectors.personal_data import PersonalDataDetector
from rules.detectors.wikipedia import WikipediaDetector
from rules.images import context
from rules.schema import Int, Options as OptionsTable, explain, fields_of

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "configuration.md"

GOOD = '''
data_dir = "/var/lib/postguard"
[school]
name = "St Mary of the Angels"
aliases = ["St Mary's", "SMOTA"]
email_domains = ["StMarys-Angels.sch.uk"]
networks = ["10.20.0.0/16", "203.0.113.0/24"]
sites = [{ name = "Main site", lat = 54.5705, lon = -1.3187, radius_m = 300 }]
pack = "st-mary-of-the-angels"
cameras = [{ serial = "X123" }]
[[trips]]
name = "Whitby"
start = 2026-06-08
'''


def test_documented_config_loads(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert str(cfg.data_dir) == "/var/lib/postguard"
    assert cfg.school.email_domains == ["stmarys-angels.sch.uk"]
    assert str(cfg.school.networks[0]) == "10.20.0.0/16"
    assert cfg.school.sites[0].radius_m == 300
    assert cfg.school.pack == "st-mary-of-the-angels"
    assert cfg.trips[0].name == "Whitby"  # typed now: was cfg.extra["trips"][0]["name"]


@pytest.mark.parametrize("bad,key", [
    ('[school]\nnetworks = ["10.20.0.0/33"]', "school.networks[0]"),
    ('[school]\nsites = [{ name = "x", lat = 95, lon = 0 }]', "school.sites[0].lat"),
    ('[school]\nsites = [{ name = "x", lat = 50, lon = 0, radius_m = -1 }]', "school.sites[0].radius_m"),
    ('[school]\nemail_domains = "a.sch.uk"', "school.email_domains"),
    ('[school]\npack = "no-such-pack"', "school.pack"),
    ('[school\n', "config.toml"),
])
def test_bad_config_names_file_and_key(tmp_path, bad, key):
    path = tmp_path / "config.toml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and key in str(err.value)


def test_missing_named_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.toml")


# -- the messages: `<file>: <dotted.key>: <why>` ---------------------------------------------------------------------

def error(tmp_path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


@pytest.mark.parametrize("text,message", [
    ('[school]\nemail_domian = ["stmarys-angels.sch.uk"]\n',
     "school.email_domian: unknown key (did you mean 'email_domains'?)"),
    ('[servise]\ndatabase = ""\n', "servise: unknown table (did you mean 'service'?)"),
    ('[[trip]]\nname = "x"\n', "trip: unknown table (did you mean 'trips'?)"),
    ('data_dri = "/tmp"\n', "data_dri: unknown key (did you mean 'data_dir'?)"),
    ('[school]\nsites = [{ name = "x", lat = 50, lon = 0, radius = 9 }]\n',
     "school.sites[0].radius: unknown key (did you mean 'radius_m'?)"),
    ('[personal_data]\nwindow = 80\n', "personal_data.window: unknown option (did you mean 'dob_window'?)"),
    ('[wikipedia]\nextra_wiki = []\n', "wikipedia.extra_wiki: unknown option (did you mean 'extra_wikis'?)"),
    ('[zzz]\nq = 1\n', "zzz: unknown table (known: data_dir, school, trips, service, "),
    ('[service]\nsmtp_port = "x"\n', "service.smtp_port: expected a whole number, not 'x'"),
    ('[service]\nsmtp_port = 70000\n', "service.smtp_port: must be less than or equal to 65535, not 70000"),
    ('[service]\nretention_days = 0\n', "service.retention_days: must be greater than or equal to 1, not 0"),
    ('[service]\nextension_origins = "chrome-extension://x"\n',
     "service.extension_origins: expected a list of strings, not 'chrome-extension://x'"),
    ('[school]\nname = 3\n', "school.name: expected a string, not 3"),
    ('[school]\naliases = ["a", 2]\n', "school.aliases[1]: expected a string, not 2"),
    ('school = 3\n', "school: expected a table, not 3"),
    ('[school]\nsites = [{ lat = true, lon = 0 }]\n', "school.sites[0].lat: expected a number, not True"),
    ('[school]\nsites = [{ name = "x" }]\n', "school.sites[0].lat: missing"),
    ('[personal_data]\ndob_window = "80"\n', "personal_data.dob_window: expected a whole number, not '80'"),
    ('[wikipedia]\nextra_wikis = [3]\n', "wikipedia.extra_wikis[0]: expected a host name, not 3"),
    ('[wikipedia]\nextra_wikis = ["a b"]\n', "wikipedia.extra_wikis[0]: not a host name: 'a b'"),
    ('[school]\ncameras = [{ make = "Apple" }]\n',
     "school.cameras[0]: needs a serial, or a model (with its make)"),
    ('[school]\nofficial_services = [" "]\n', "school.official_services[0]: must not be empty"),
    ('[[trips]]\nname = "x"\nstart = 2026-06-08\nend = 2026-06-01\n',
     "trips[0]: ends (2026-06-01) before it starts (2026-06-08)"),
    ('[[trips]]\nname = "x"\nstart = "next week"\n', "trips[0].start: expected a date, not 'next week'"),
    ('[[trips]]\nstart = 2026-06-08\nplace = { lat = 54, lon = 200 }\n', "trips[0].place.lon: must be less than"),
    ('data_dir = ""\n', "data_dir: expected a path, not ''"),
])
def test_messages_name_the_file_the_key_and_why(tmp_path, text, message):
    assert error(tmp_path, text).startswith(f"{tmp_path / 'config.toml'}: {message}")


def test_every_problem_is_reported_one_line_each(tmp_path):
    lines = error(tmp_path, '[school]\nemail_domian = []\nname = 3\n[servise]\n').splitlines()
    assert sorted(line.split(": ")[1] for line in lines) == ["school.email_domian", "school.name", "servise"]


def test_a_config_given_as_a_dict_is_named_config():
    with pytest.raises(ConfigError, match=r"^config: school.email_domian: unknown key"):
        parse_config({"school": {"email_domian": []}})


def test_bad_smtp_port_is_a_config_error_not_a_traceback(tmp_path):
    with pytest.raises(ConfigError, match="service.smtp_port"):
        load_config(_write(tmp_path, '[service]\nsmtp_port = "x"\n'))


def _write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


# -- typed values ----------------------------------------------------------------------------------------------------

def test_defaults():
    cfg = Config()
    assert cfg.path is None and isinstance(cfg.data_dir, Path)
    assert cfg.school.pack == "default" and cfg.school.networks == [] and cfg.trips == []
    assert (cfg.service.database, cfg.service.retention_days, cfg.service.smtp_host, cfg.service.smtp_port) == \
        ("", 90, "localhost", 25)
    assert cfg.wikipedia.extra_wikis == [] and cfg.personal_data.dob_window == 80
    assert not hasattr(cfg, "extra")


def test_typed_values(tmp_path):
    (tmp_path / "badge.png").write_bytes(b"png")
    cfg = load_config(_write(tmp_path, '''
data_dir = "~/pg"
[school]
networks = ["10.20.1.7/16"]
cameras = [{ make = " Apple ", model = "iPad  (9th generation)" }, { serial = "09-3022 004357" }]
logos = ["badge.png"]
official_services = ["https://stmarysangels.wordpress.com/"]
[[trips]]
name = "Year 6 residential"
start = 2026-06-08
place = { lat = 54.45, lon = -3.03, radius_m = 2000 }
[[trips]]
start = 2026-07-01T09:00:00
end = 2026-07-02
[service]
database = "postgresql://pg@localhost/pg"
extension_origins = ["chrome-extension://abc"]
smtp_port = 2525
[wikipedia]
extra_wikis = ["https://www.SchoolWiki.net/", "*.wiki.example.org."]
[personal_data]
dob_window = 20
'''))
    assert cfg.path == tmp_path / "config.toml"
    assert cfg.data_dir == Path("~/pg").expanduser()
    assert cfg.school.networks == [ipaddress.ip_network("10.20.0.0/16")]
    assert context.cameras(cfg) == [context.Camera("apple", "ipad (9th generation)", ""),
                                    context.Camera("", "", "093022004357")]
    assert context.logos(cfg) == [tmp_path / "badge.png"]
    assert context.trips(cfg) == [
        context.Trip("Year 6 residential", dt.date(2026, 6, 8), dt.date(2026, 6, 8),
                     Site("Year 6 residential", 54.45, -3.03, 2000)),
        context.Trip("Trip 2", dt.date(2026, 7, 1), dt.date(2026, 7, 2), None)]
    assert cfg.school.official_services == ["https://stmarysangels.wordpress.com/"]
    assert cfg.service.database.startswith("postgresql://") and cfg.service.smtp_port == 2525
    assert cfg.service.extension_origins == ["chrome-extension://abc"]
    assert cfg.wikipedia.extra_wikis == ["www.schoolwiki.net", "wiki.example.org"]
    assert WikipediaDetector(cfg).wikis >= {"www.schoolwiki.net", "wiki.example.org", "wikipedia.org"}
    detector = PersonalDataDetector(cfg)
    assert detector.options is cfg.personal_data and detector._dob_window == 20


def test_site_is_still_made_positionally():
    site = Site("Main", 54.5705, -1.3187, 300)
    assert (site.name, site.lat, site.lon, site.radius_m) == ("Main", 54.5705, -1.3187, 300.0)
    assert site == Site(name="Main", lat=54.5705, lon=-1.3187, radius_m=300) and hash(site)
    with pytest.raises(ValidationError):
        Site("Main", 95, 0)


# -- the schema is assembled from the detector registry --------------------------------------------------------------

def test_each_detector_table_is_in_the_schema():
    tables = {d.table: d.Options for d in DETECTORS if d.table}
    assert set(tables) >= {"wikipedia", "personal_data"}
    for table, options in tables.items():
        assert fields_of(Config)[table].annotation is options


def test_a_new_detector_declares_its_table_without_touching_config():
    class Fake(Detector):
        id = "fake"
        rules: ClassVar[dict] = {"fake.rule": "nothing"}
        table = "fake"

        class Options(OptionsTable):
            """A fake detector's options."""
            limit: Int = Field(3, ge=0, description="How many.")

    model = assemble([*DETECTORS, Fake])
    cfg = model.model_validate({"fake": {"limit": 5}})
    assert Fake(cfg).options.limit == 5
    assert Fake(model()).options.limit == 3
    with pytest.raises(ValidationError) as err:
        model.model_validate({"fake": {"limt": 5}})
    assert str(explain(err.value, "c.toml", model)) == "c.toml: fake.limt: unknown option (did you mean 'limit'?)"
    with pytest.raises(TypeError, match="already a config table"):
        assemble([*DETECTORS, type("Clash", (Fake,), {"table": "school"})])


# -- the template `postguard init` writes, and docs/configuration.md -------------------------------------------------

def test_template_loads_back_as_the_defaults(tmp_path):
    text = template()
    cfg = load_config(_write(tmp_path, text))
    assert cfg.model_dump() == Config().model_dump()
    for table, field in fields_of(Config).items():  # every key is in the template, with a comment above it
        keys = fields_of(field.annotation) if table != "trips" else fields_of(rules.config.Trip)
        for key in keys or [table]:
            assert f"\n{key} = " in text or f"\n# {key} = " in text, key


def test_template_keeps_the_examples():
    text = template()
    for example in ('["stmarys-angels.sch.uk"]', '["10.20.0.0/16", "203.0.113.0/24"]',
                    '{ name = "Main site", lat = 54.5705, lon = -1.3187, radius_m = 300 }',
                    '{ serial = "093022004357" }, { make = "Apple", model = "iPad (9th generation)" }',
                    '["badge.png"]', "# [[trips]]", '# name = "Year 6 residential"', "# start = 2026-06-08",
                    "# end = 2026-06-12", "# place = { lat = 54.45, lon = -3.03, radius_m = 2000 }",
                    "st-mary-of-the-angels"):
        assert example in text, example


def test_docs_configuration_md_is_generated_from_the_schema():
    assert DOCS.read_text(encoding="utf-8") == markdown(), \
        "docs/configuration.md is stale: python -m rules.config_docs > docs/configuration.md"


def test_every_table_and_key_is_in_the_docs():
    text = DOCS.read_text(encoding="utf-8")
    for table, field in fields_of(Config).items():
        entry = field.annotation if fields_of(field.annotation) else rules.config.Trip if table == "trips" else None
        if entry is None:
            assert f"| `{table}` |" in text
            continue
        assert f"`[{table}]`" in text or f"`[[{table}]]`" in text
        for key in fields_of(entry):
            assert f"| `{table}.{key}` |" in text, f"{table}.{key}"
    for nested, entry in (("school.sites[]", Site), ("school.cameras[]", rules.config.Camera)):
        for key in fields_of(entry):
            assert f"| `{nested}.{key}` |" in text, f"{nested}.{key}"


# -- no import cycle through the config ------------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["rules/config.py", "rules/packs.py", "rules/images/context.py",
                                    "rules/schema.py"])
def test_no_function_local_import_of_a_project_module(module):
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    local = [node.lineno for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert local == [], f"{module}: imports inside functions at lines {local}"


def test_schema_is_a_leaf():
    tree = ast.parse((ROOT / "rules" / "schema.py").read_text(encoding="utf-8"))
    project = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.level or
                                                                                      (n.module or "").startswith(
                                                                                          ("rules", "local_service",
                                                                                           "proxy_addon")))]
    assert project == []
