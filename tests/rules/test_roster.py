"""rules.roster: MIS exports in, keyed hashes out; nothing readable on disk; names matched however they are typed."""
import json
import os
import stat
import sys

import pytest

from rules import roster
from rules.config import parse_config

PUPILS = [("Jamie", "Smith", ""), ("Chloé", "O'Brien-Jones", "Clo"), ("Mary-Jane", "Núñez", ""),
          ("Olivia Rose", "Taylor", "Liv"), ("Łukasz", "Kowalski", ""), ("Lena", "van der Berg", "")]


def sims_export(path):
    """SIMS: UTF-8 with a BOM, comma-separated, legal and preferred name columns, quoted values."""
    lines = ['"Legal Surname","Legal Forename","Preferred Forename","Reg"']
    lines += [f'"{s}","{f}","{p}","6A"' for f, s, p in PUPILS]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))


def arbor_export(path):
    """Arbor-like: a title line first, Windows-1252, semicolon-separated, First/Last/Preferred First Name."""
    lines = ["Student list exported 01/09/2025", "First Name;Last Name;Preferred First Name;Year Group"]
    lines += [f"{f};{s};{p};Year 6" for f, s, p in PUPILS if f != "Łukasz"]  # Ł has no Windows-1252 byte
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1252"))


def bromcom_export(path):
    """Bromcom-like: tab-separated, one "Name" column written "Surname, Forename"."""
    lines = ["Name\tTutor Group\tAdmission No"]
    lines += [f"{s}, {f}\t6B\t00{i}" for i, (f, s, _) in enumerate(PUPILS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def single_column_export(path):
    """One unquoted "Name" column: the commas in the names must not split the rows."""
    path.write_text("Name\n" + "".join(f"{s}, {f}\n" for f, s, _ in PUPILS), encoding="utf-8")


SHAPES = {"sims": sims_export, "arbor": arbor_export, "bromcom": bromcom_export, "one-column": single_column_export}


@pytest.fixture
def config(tmp_path):
    return parse_config({"data_dir": str(tmp_path / "data")})


def imported(config, tmp_path, shape="sims"):
    path = tmp_path / f"{shape}.csv"
    SHAPES[shape](path)
    return roster.import_csv(config, path)


@pytest.mark.parametrize("shape,pupils,delimiter,encoding", [
    ("sims", 6, ",", "utf-8"), ("arbor", 5, ";", "cp1252"), ("bromcom", 6, "\t", "utf-8"),
    ("one-column", 6, "\x1e", "utf-8"),
])
def test_each_mis_shape_imports_every_pupil(config, tmp_path, shape, pupils, delimiter, encoding):
    result = imported(config, tmp_path, shape)
    assert (result.pupils, result.delimiter, result.encoding, result.skipped) == (pupils, delimiter, encoding, [])
    names = roster.Roster.load(config.data_dir)
    assert names.names_in("Well done Jamie Smith!") == 1
    assert names.names_in("Mary-Jane Núñez and Chloé O'Brien-Jones") == 2
    assert str(tmp_path) in result.summary()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_stored_files_hold_no_name_in_any_case(config, tmp_path, shape):
    imported(config, tmp_path, shape)
    stored = b"".join(p.read_bytes() for p in config.data_dir.iterdir())
    for forename, surname, preferred in PUPILS:
        for name in (forename, surname, preferred):
            for part in roster.words(name) + [name]:
                if len(part) < 3:
                    continue
                for variant in {part, part.lower(), part.upper(), part.title(), roster.fold(part)}:
                    for encoding in ("utf-8", "utf-16-le", "cp1252"):
                        try:
                            assert variant.encode(encoding) not in stored, (variant, encoding)
                        except UnicodeEncodeError:
                            pass


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_key_and_roster_are_readable_by_their_owner_only(config, tmp_path):
    result = imported(config, tmp_path)
    assert result.key_created
    for path in (config.data_dir / roster.KEY_FILE, result.roster_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(config.data_dir).st_mode) == 0o700


def test_reimport_keeps_the_key_and_replaces_the_roster(config, tmp_path):
    imported(config, tmp_path)
    key = (config.data_dir / roster.KEY_FILE).read_text()
    path = tmp_path / "new.csv"
    path.write_text("Forename,Surname\nAva,Patel\n", encoding="utf-8")
    result = roster.import_csv(config, path)
    assert not result.key_created and (config.data_dir / roster.KEY_FILE).read_text() == key
    names = roster.cached(config.data_dir)
    assert names.names_in("Ava Patel") == 1 and names.names_in("Jamie Smith") == 0


def test_progress_is_reported(config, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("Forename,Surname\n" + "".join(f"Pupil{i},Family{i}\n" for i in range(1200)), encoding="utf-8")
    calls = []
    roster.import_csv(config, path, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 1200) and calls[-1] == (1200, 1200) and len(calls) >= 3


def test_a_replaced_key_is_a_loud_error(config, tmp_path):
    imported(config, tmp_path)
    (config.data_dir / roster.KEY_FILE).write_text("00" * 32)
    with pytest.raises(roster.RosterError, match="different key"):
        roster.Roster.load(config.data_dir)


def test_no_roster_is_none(config):
    assert roster.Roster.load(config.data_dir) is None and roster.cached(config.data_dir) is None


@pytest.mark.parametrize("content,message", [
    (b"Year,Tutor\n6,AB\n", "no name columns found"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
    (b"Forename,Surname\n\x81\x8d\x8f\x90\x9d,Smith\n", "neither UTF-8 nor Windows-1252"),
    (b"Forename,Surname\n,\n", "no pupil names found"),
    (b"Name\nSmith Jamie\n", "no comma"),
])
def test_bad_exports_raise_errors_naming_the_file(config, tmp_path, content, message):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(roster.RosterError, match=message) as info:
        roster.import_csv(config, path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(config, tmp_path):
    with pytest.raises(roster.RosterError, match="missing.csv"):
        roster.import_csv(config, tmp_path / "missing.csv")


def test_bad_rows_are_skipped_with_file_and_row_and_without_the_name(config, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Legal Forename,Legal Surname\nJamie,Smith\nOlivia,\n\n,Brown\nAva,Patel\n", encoding="utf-8")
    result = roster.import_csv(config, path)
    assert result.pupils == 2
    assert result.skipped == [f"{path}: row 3: no surname", f"{path}: row 5: no forename"]
    assert "Olivia" not in result.summary() and "Brown" not in result.summary()


def test_a_name_that_is_an_everyday_word_is_reported_not_hidden(config, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Forename,Surname\nJamie,Smith\nAbout,Time\n", encoding="utf-8")
    result = roster.import_csv(config, path)
    assert result.unmatchable == 1 and result.everyday_words == ["about"]


@pytest.fixture
def names(config, tmp_path):
    imported(config, tmp_path)
    return roster.Roster.load(config.data_dir)


@pytest.mark.parametrize("text,count", [
    ("Well done Jamie Smith!", 1),
    ("WELL DONE JAMIE SMITH", 1),  # all capitals
    ("well done jamie smith", 1),  # a post written without capitals
    ("Smith, Jamie", 1),  # register order
    ("SMITH, Jamie", 1),
    ("Jamie   Smith", 1),  # extra spaces
    ("Jamie Smith's painting", 1),  # possessive
    ("Chloe O'Brien-Jones", 1),  # accent typed without it
    ("Chloé O’Brien Jones", 1),  # curly apostrophe, hyphen typed as a space
    ("Clo OBrien-Jones", 1),  # preferred forename, apostrophe left out
    ("Mary Jane Nunez", 1),  # hyphenated forename with a space, accents without
    ("MaryJane Núñez", 1),
    ("Olivia Taylor", 1),  # the first word of a two-word forename
    ("Liv Taylor", 1),  # a preferred forename
    ("Lukasz Kowalski", 1),  # Ł folded to L
    ("Lena van der Berg", 1),  # lower-case particles
    ("Jamie", 0),  # a forename alone
    ("Smith", 0),  # a surname alone
    ("Jamie did well. Smith came second", 0),  # forename and surname in different sentences
    ("Jamie. Smith", 0),
    ("Jamie Taylor", 0),  # a forename and a surname of two different pupils
    ("Well done jamie smith, said Mrs Patel", 0),  # lower case in a post that has capitals: not written as a name
])
def test_roster_names_are_matched_however_typed(names, text, count):
    got = names.names_in(text)
    assert (got >= 1) if count else (got == 0), (text, got)


def test_the_roster_document_is_only_tags_and_counts(config, tmp_path):
    result = imported(config, tmp_path)
    doc = json.loads(result.roster_path.read_text())
    assert set(doc) == {"format", "version", "key_id", "hash", "imported_at", "pupils", "forename_parts",
                        "surname_parts", "particles", "tags", "initials"}
    assert doc["pupils"] == 6 and all(len(t) == 2 * roster.TAG_BYTES for t in doc["tags"] + doc["initials"])


def test_tags_are_hmac_sha256(config, tmp_path):
    import hashlib
    import hmac
    key = bytes(range(32))
    tagger = roster._Tagger(key)
    assert tagger.tag("jamie\x1fsmith") == hmac.new(key, "jamie\x1fsmith".encode(), hashlib.sha256).digest()[:16]


def test_fold_remembers_single_characters_but_never_longer_runs_of_post_text():
    roster._FOLDED.clear()
    text = "Zoë and O’Brien met 王小明: £5"
    assert roster.words(text) == roster.words("Zoe and O'Brien met 王小明:  5")
    assert roster.words(text)[:4] == ["Zoe", "and", "OBrien", "met"]
    assert set(roster._FOLDED) == {"ë", "’", "£"}  # the name in another script is post text: not kept
