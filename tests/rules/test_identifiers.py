"""rules.identifiers: the published checks, their published examples, and candidates that must not count."""
import random

import pytest

from rules import identifiers as ids


@pytest.mark.parametrize("upn,source", [
    ("B801200005001", "python-stdnum's stdnum.gb.upn documentation"),
    ("P207000016049", "Arbor's worked example for DfE error 1510, with the arithmetic corrected (see below)"),
])
def test_published_upn_examples_pass(upn, source):
    assert ids.upn_is_valid(upn), source


def test_arbors_printed_upn_example_has_a_wrong_check_letter():
    # Arbor's help page prints 4+28+9+60+48+117 = 267 and "Q"; the sum is 266, 266 mod 23 = 13, and 13 is P in the
    # check alphabet (A-Z without I, O, S). The check letter is computed, not copied from the page.
    weights = sum(w * int(d) for w, d in zip(range(2, 14), "207000016049"))
    assert weights == 266 and weights % 23 == 13 and "ABCDEFGHJKLMNPQRTUVWXYZ"[13] == "P"
    assert not ids.upn_is_valid("Q207000016049")


@pytest.mark.parametrize("upn,why", [
    ("A801200005001", "wrong check letter (stdnum's own near miss)"),
    ("C801200005001", "wrong check letter"),
    ("E000200005001", "LA code 000 is not a local authority"),
    ("X80120000A001", "letter in the middle"),
    ("B80120000500", "12 characters"),
    ("I801200005001", "I is not a check letter"),
])
def test_upn_near_misses_fail(upn, why):
    assert not ids.upn_is_valid(upn), why


def test_temporary_upn_with_a_final_letter_passes():
    body = "80120000501A"
    assert ids.upn_is_valid(ids._upn.calc_check_digit(body) + body)


@pytest.mark.parametrize("number", ["9434765919", "943 476 5919", "943-476-5919", "9434765870", "401 023 2137"])
def test_published_nhs_examples_pass(number):
    # 943 476 5919: NHS Digital's example; 9434765870: stdnum.gb.nhs; 401 023 2137: Presidio's UK_NHS tests.
    assert ids.nhs_is_valid(number)


@pytest.mark.parametrize("number,why", [
    ("9434765918", "check digit off by one"),
    ("9434765911", "check digit wrong"),
    ("0000000000", "repeated digit placeholder passes modulus 11 but is not a number"),
    ("1111111111", "repeated digit placeholder"),
    ("943476591", "nine digits"),
])
def test_nhs_near_misses_fail(number, why):
    assert not ids.nhs_is_valid(number), why


def test_uln_algorithm_by_hand():
    # DD01: 10x1st + 9x2nd + ... + 2x9th, mod 11, check digit = 10 - remainder (remainder 0: invalid).
    total = sum(w * int(d) for w, d in zip(range(10, 1, -1), "927630868"))
    assert total == 290 and total % 11 == 4 and 10 - 4 == 6  # so 9276308686, HESA's example
    assert ids.uln_is_valid("9276308686")


@pytest.mark.parametrize("uln,valid,why", [
    ("9276308686", True, "HESA's ULN field example"),
    ("1000102504", True, "the LRS specification's example as an implementation's README quotes it"),
    ("9276308685", False, "wrong check digit"),
    ("0276308686", False, "first digit 0 (HESA: non-zero)"),
    ("9999999999", False, "the ILR's 'not known' placeholder"),
    ("1000000060", False, "remainder 0 (10 + 2x6 = 22): no check digit exists"),
    ("1000000069", False, "remainder 0, whatever the last digit"),
])
def test_uln_examples_and_near_misses(uln, valid, why):
    assert ids.uln_is_valid(uln) is valid, why


def test_no_ten_digit_number_is_both_an_nhs_number_and_a_uln():
    rnd = random.Random(7)
    for _ in range(20_000):
        n = str(rnd.randrange(1_000_000_000, 10_000_000_000))
        assert not (ids.nhs_is_valid(n) and ids.uln_is_valid(n)), n


@pytest.mark.parametrize("nino,valid,why", [
    ("AB123456C", True, "valid shape and prefix"),
    ("AB 12 34 56 C", True, "printed with spaces"),
    ("QQ123456A", False, "HMRC's printed example: Q is never a first letter"),
    ("BG123456A", False, "prefix BG is not allocated"),
    ("GB123456A", False, "prefix GB is not allocated"),
    ("NK123456A", False, "prefix NK is not allocated"),
    ("ZZ123456A", False, "prefix ZZ is not allocated"),
    ("AO123456A", False, "O is never a second letter"),
    ("DA123456A", False, "D is never a first letter"),
    ("AB123456E", False, "suffix is A-D"),
    ("OO123456A", False, "administrative reference, not a NINO"),
])
def test_nino_format_rules(nino, valid, why):
    assert ids.nino_is_valid(nino) is valid, why


@pytest.mark.parametrize("postcode,valid", [
    ("TS18 1AB", True), ("SW1A 1AA", True), ("M1 1AE", True), ("EC1A 1BB", True), ("ts181ab", True),
    ("QA1 1AA", False),  # Q is never first
    ("AZ1 1AA", False),  # Z is never second
    ("TS18 1CI", False),  # C and I are never in the inward code
    ("W1L 1AA", False),  # L is not a third-position letter (A9A)
])
def test_postcode_format_rules(postcode, valid):
    assert ids.postcode_is_valid(postcode) is valid


def scan(text):
    runs = ids.digit_runs(text)
    return [(m.entity, m.value) for r in (*ids.PUPIL, *ids.STAFF) for m in r.analyze(text, runs)]


@pytest.mark.parametrize("text,expected", [
    ("Her UPN is B801200005001.", [("UPN", "B801200005001")]),
    ("B801200005001", [("UPN", "B801200005001")]),
    ("Her NHS number is 943 476 5919", [("NHS", "943 476 5919")]),
    ("943-476-5919", [("NHS", "943-476-5919")]),
    ("NHS: 9434765919", [("NHS", "9434765919")]),
    ("ULN 9276308686", [("ULN", "9276308686")]),
    ("NI number AB 12 34 56 C", [("NINO", "AB 12 34 56 C")]),
])
def test_identifiers_found_in_text(text, expected):
    assert scan(text) == expected


@pytest.mark.parametrize("text,why", [
    ("9434765919", "ten bare digits without a context word (could be a timestamp)"),
    ("9276308686", "a valid ULN without a context word"),
    ("NHS 9434765918", "fails modulus 11 even beside 'NHS'"),
    ("UPN A801200005001", "13 characters failing the check letter even beside 'UPN'"),
    ("ref XB801200005001", "a UPN inside a longer word"),
    ("+1 943 476 5919", "tail of a longer (international) number"),
    ("0943 476 5919", "a 4-3-4 phone number"),
    ("943 476 5919 2", "head of a longer spaced number"),
    ("NI number BG 12 34 56 A", "disallowed prefix BG"),
    ("ULN 9276308686123", "13 digits"),
])
def test_near_misses_are_not_found(text, why):
    assert scan(text) == [], why


def test_evidence_helper_keeps_only_the_last_two_characters():
    (match,) = ids.NHS().analyze("NHS 943 476 5919")
    assert match.last_two == "19"
    assert "context 'nhs'" in match.explanation and "check passed" in match.explanation


def random_failing(make, valid, n, seed):
    rnd = random.Random(seed)
    out = []
    while len(out) < n:
        s = make(rnd)
        if not valid(s):
            out.append(s)
    return out


UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def test_100000_random_13_character_strings_failing_the_check_letter_find_nothing():
    strings = random_failing(lambda r: r.choice(UPN_LETTERS) + "".join(r.choices("0123456789", k=12)),
                             ids.upn_is_valid, 100_000, 1)
    recognizer = ids.UPN()
    found = [s for s in strings if recognizer.analyze(f"Her UPN is {s}.")]
    assert found == []
    # The test can fail: the same strings with their check letter corrected are found (most of them: the rest
    # carry an LA code no local authority has).
    fixed = [ids._upn.calc_check_digit(s[1:]) + s[1:] for s in strings[:2000]]
    assert sum(bool(recognizer.analyze(f"Her UPN is {s}.")) for s in fixed) > 200


def test_100000_random_10_digit_strings_failing_nhs_and_uln_checks_find_nothing():
    strings = random_failing(lambda r: str(r.randrange(1_000_000_000, 10_000_000_000)),
                             lambda s: ids.nhs_is_valid(s) or ids.uln_is_valid(s), 100_000, 2)
    nhs, uln = ids.NHS(), ids.ULN()
    found = [s for s in strings
             if nhs.analyze(f"NHS number {s}") or uln.analyze(f"ULN {s}")
             or nhs.analyze(f"NHS {s[:3]} {s[3:6]} {s[6:]}")]
    assert found == []
    rnd = random.Random(3)
    valid = [s for s in (str(rnd.randrange(1_000_000_000, 10_000_000_000)) for _ in range(5000))
             if ids.nhs_is_valid(s)]
    assert valid and all(nhs.analyze(f"NHS number {s}") for s in valid)
