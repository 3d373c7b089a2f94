"""Mutants of real files (the corpus, or built files without it) through inspect and strip: no crash, no hang, no
damaged output. A bounded number each test run; `make fuzz` runs the same checks for ten minutes
(tests/rules/fuzz_media.py, figures in docs/robustness.md)."""
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CORPUS
from tests.rules import fuzz_media

SEEDS = fuzz_media.seeds(CORPUS)
NAMES = sorted(SEEDS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.integers(0, len(NAMES) - 1), st.integers(0, 2 ** 32))
def test_a_mutant_never_crashes_hangs_or_comes_back_damaged(which, seed):
    name = NAMES[which]
    tally = fuzz_media.Tally()
    fuzz_media.check(name, fuzz_media.mutate(SEEDS[name], random.Random(seed)), tally)
    assert not tally.crashes and not tally.hangs and not tally.damaged, tally


def test_the_damage_check_catches_damage():
    """The check is not vacuous: a byte changed outside the patches, or a larger file, is reported."""
    from rules import media
    name = next(n for n in NAMES if media.inspect(SEEDS[n]).patches and media.inspect(SEEDS[n]).format == "JPEG")
    data = SEEDS[name]
    report = media.inspect(data)
    good = media.strip(data, report)
    assert fuzz_media.damage(data, good, report) == ""
    bad = bytearray(good)
    bad[-3] ^= 0xFF  # in the scan data, far from any metadata
    assert "outside the reported patches" in fuzz_media.damage(data, bytes(bad), report)
    assert "larger" in fuzz_media.damage(data, good + b"\0", report)
