"""The config file: the fixed key names load; bad values name the file and key."""
import pytest

from rules import ConfigError, load_config

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
    assert cfg.extra["trips"][0]["name"] == "Whitby"  # kept for the feature that reads it


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
