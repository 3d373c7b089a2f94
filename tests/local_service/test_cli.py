"""The `postguard` command: scan's JSON Lines schema and exit codes, init, strip."""
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from local_service.cli import main
from rules import Config, load_config
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

ROOT = Path(__file__).resolve().parents[2]


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    (d / "trip").mkdir(parents=True)
    (d / "trip" / "beach.jpg").write_bytes(jpeg_with_gps(gps_ifd(*SHEFFIELD)))
    (d / "clean.jpg").write_bytes(jpeg_with_gps(None))
    (d / "empty.jpg").write_bytes(b"")
    (d / "notes.jpg").write_bytes(b"this is not a photo")
    return d


def test_scan_jsonl_schema_and_exit_status(photos, capsys):
    code, out, _ = run(["scan", str(photos)], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    by_name = {Path(r["path"]).name: r for r in rows}
    assert set(by_name) == {"beach.jpg", "clean.jpg", "empty.jpg", "notes.jpg"}
    beach = by_name["beach.jpg"]
    assert beach["error"] is None
    (finding,) = beach["findings"]
    assert set(finding) >= {"rule", "severity", "message", "policy", "evidence"}
    assert finding["rule"] == "location.gps" and finding["policy"][0]["ref"]
    assert abs(finding["evidence"]["lat"] - SHEFFIELD[0]) < 1e-4
    assert by_name["clean.jpg"] == {**by_name["clean.jpg"], "findings": [], "error": None}
    assert by_name["empty.jpg"]["error"] == "empty file"
    assert "not a recognised" in by_name["notes.jpg"]["error"]


def test_scan_clean_file_exits_zero(photos, capsys):
    code, out, _ = run(["scan", str(photos / "clean.jpg")], capsys)
    assert code == 0 and json.loads(out)["findings"] == []


def test_scan_text_format(photos, capsys):
    code, out, _ = run(["scan", "--format", "text", str(photos / "trip")], capsys)
    assert code == 1 and "location.gps" in out and "policy" in out


def test_missing_file_is_reported_and_the_scan_goes_on(photos, capsys):
    code, out, _ = run(["scan", str(photos / "gone.jpg"), str(photos / "trip" / "beach.jpg")], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["error"] and rows[1]["findings"] and code == 1


@pytest.mark.parametrize("args", [["scan"], ["frobnicate"], ["scan", "--format", "xml", "x"]])
def test_usage_errors_exit_two(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2


def test_bad_config_exits_two_and_names_the_key(tmp_path, photos, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[school]\nnetworks = ["nonsense"]\n')
    code, _, err = run(["scan", "--config", str(cfg), str(photos)], capsys)
    assert code == 2 and "school.networks[0]" in err


def test_init_writes_private_commented_config(tmp_path, capsys):
    cfg = tmp_path / "conf" / "config.toml"
    code, out, _ = run(["init", "--config", str(cfg)], capsys)
    assert code == 0 and cfg.exists()
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    text = cfg.read_text()
    assert "# " in text and "[school]" in text and "email_domains" in text
    code, _, err = run(["init", "--config", str(cfg)], capsys)
    assert code == 2 and "already exists" in err
    code, _, _ = run(["scan", "--config", str(cfg), str(tmp_path)], capsys)
    assert code == 0


def test_strip_writes_clean_copy(photos, tmp_path, capsys):
    out = tmp_path / "clean-beach.jpg"
    code, _, err = run(["strip", str(photos / "trip" / "beach.jpg"), "-o", str(out)], capsys)
    assert code == 0 and "removed" in err
    code, stdout, _ = run(["scan", str(out)], capsys)
    assert code == 0 and json.loads(stdout)["findings"] == []


def test_console_script_runs(photos):
    exe = Path(sys.executable).with_name("postguard")
    if not exe.exists():
        pytest.skip("not installed as a package")
    result = subprocess.run([str(exe), "scan", str(photos / "trip")], capture_output=True, text=True)
    assert result.returncode == 1 and json.loads(result.stdout)["findings"]


# -- a misspelt key or an unknown table stops every command, naming the file, the key and the nearest valid name -------

MISSPELT = {
    "email_domian": ('[school]\nname = "St Mary\'s"\nemail_domian = ["stmarys-angels.sch.uk"]\n',
                     "school.email_domian: unknown key (did you mean 'email_domains'?)"),
    "unknown table": ('[school]\nname = "St Mary\'s"\n\n[servise]\ndatabase = ""\n',
                      "servise: unknown table (did you mean 'service'?)"),
    "smtp_port": ('[service]\nsmtp_port = "x"\n', "service.smtp_port: expected a whole number, not 'x'"),
}
COMMANDS = {"scan": lambda photos: ["scan", str(photos / "clean.jpg")], "status": lambda _: ["status"],
            "run": lambda _: ["run", "--service-port", "0", "--proxy-port", "0"]}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", MISSPELT)
def test_a_bad_config_exits_two_naming_file_key_and_suggestion(tmp_path, photos, capsys, command, case):
    cfg = tmp_path / "config.toml"
    cfg.write_text(MISSPELT[case][0])
    code, out, err = run([*COMMANDS[command](photos), "--config", str(cfg)], capsys)
    assert code == 2 and out == ""
    assert err == f"postguard: {cfg}: {MISSPELT[case][1]}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_config_exits_two_from_a_real_process(tmp_path, photos, command):
    cfg = tmp_path / "config.toml"
    cfg.write_text(MISSPELT["email_domian"][0])
    result = subprocess.run([sys.executable, "-m", "local_service.cli", *COMMANDS[command](photos), "--config",
                             str(cfg)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"postguard: {cfg}: school.email_domian: unknown key (did you mean 'email_domains'?)\n"


def test_the_template_init_writes_loads_back_as_the_defaults(tmp_path, capsys):
    cfg = tmp_path / "conf" / "config.toml"
    code, _, _ = run(["init", "--config", str(cfg)], capsys)
    assert code == 0
    assert load_config(cfg).model_dump() == Config().model_dump()


# -- a file that could not be checked never exits 0 (issue 14: what a new admin hit) ------------------------------------

def test_a_missing_file_alone_is_not_checked_and_exits_two(photos, capsys):
    code, out, _ = run(["scan", str(photos / "gone.jpg")], capsys)
    row = json.loads(out)
    assert code == 2 and row["error"] and row["decision"] == "not_checked"


def test_an_unreadable_file_is_not_checked_and_exits_two(photos, capsys):
    locked = photos / "locked.jpg"
    locked.write_bytes(jpeg_with_gps(None))
    locked.chmod(0)
    try:
        if locked.read_bytes():  # root reads anything
            pytest.skip("running as root")
    except OSError:
        pass
    try:
        code, out, _ = run(["scan", str(locked)], capsys)
    finally:
        locked.chmod(0o600)
    row = json.loads(out)
    assert code == 2 and row["error"] and row["decision"] == "not_checked"


def test_text_format_of_a_missing_file_exits_two(photos, capsys):
    code, out, _ = run(["scan", "--format", "text", str(photos / "gone.jpg")], capsys)
    assert code == 2 and "could not check" in out


def test_a_detector_error_makes_scan_exit_non_zero(photos, capsys, monkeypatch):
    from rules.detectors.location import LocationDetector

    def broken(self, *args, **kwargs):
        raise TypeError("walker fell over")
    monkeypatch.setattr(LocationDetector, "check_file", broken)
    code, out, _ = run(["scan", str(photos / "clean.jpg")], capsys)
    row = json.loads(out)
    assert code != 0 and "walker fell over" in row["error"] and row["decision"] != "allow"


def test_scan_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    out = capsys.readouterr().out
    assert "exit status" in out and "not_checked" in out


def test_strip_of_a_non_image_writes_nothing_and_exits_non_zero(photos, tmp_path, capsys):
    out = tmp_path / "out.jpg"
    code, _, err = run(["strip", str(photos / "notes.jpg"), "-o", str(out)], capsys)
    assert code != 0 and not out.exists() and "not a recognised image" in err and "nothing written" in err
    code, _, err = run(["strip", str(photos / "notes.jpg")], capsys)
    assert code != 0 and not (photos / "notes.noloc.jpg").exists()


def test_strip_of_a_file_it_cannot_parse_writes_nothing(photos, tmp_path, capsys):
    broken = photos / "broken.jpg"
    whole = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    broken.write_bytes(whole[:len(whole) // 2])  # cut inside the EXIF segment
    out = tmp_path / "out.jpg"
    code, _, err = run(["strip", str(broken), "-o", str(out)], capsys)
    assert code != 0 and not out.exists() and "nothing written" in err


def test_library_add_of_a_missing_path_exits_non_zero_naming_it(tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    assert main(["init", "--config", str(cfg)]) == 0
    capsys.readouterr()
    gone = tmp_path / "no-such-folder"
    code, _, err = run(["library", "add", "--config", str(cfg), str(gone)], capsys)
    assert code != 0 and str(gone) in err
