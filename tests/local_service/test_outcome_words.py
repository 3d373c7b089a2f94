"""Every outcome the record keeps has plain words on the staff page and is a valid dashboard filter (issue 14: "no
answer in time" is its own outcome, "unanswered")."""
from local_service import explain
from local_service.forms import parse_filter
from rules.vocabulary import Outcome


def test_every_outcome_has_plain_words():
    assert set(explain.DECISIONS) == {o.value for o in Outcome}
    assert "no answer" in explain.decision_meaning(Outcome.UNANSWERED)


def test_unanswered_is_a_valid_dashboard_filter():
    flt, _ = parse_filter({"decision": "unanswered"})
    assert flt.decision == "unanswered"
