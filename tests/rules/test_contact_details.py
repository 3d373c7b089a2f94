"""personal_data.contact_details: a personal phone number, personal e-mail address or home address in a post; the
school's own details, organisations' numbers, the platform's addresses and account fields are near misses."""
import pytest

from rules import Engine, Submission
from rules.config import ConfigError, parse_config
from rules.detectors.contact_details import MAX_CHARS, PHONE_MAX_WINDOWS, RULE, ContactDetailsDetector
from rules.detectors.base import Unchecked
from rules.packs import load_pack

SCHOOL = {"name": "St Mary of the Angels", "email_domains": ["stmarys-angels.sch.uk"],
          "official_services": ["stmarysangels.wordpress.com"]}


@pytest.fixture(scope="module")
def detector():
    return ContactDetailsDetector(parse_config({"school": SCHOOL, "contact_details": {
        "school_numbers": ["01642 496000"], "school_postcodes": ["TS18 1AB"]}}))


def found(detector, text, field="message", url="https://www.facebook.com/api/graphql/"):
    return list(detector.check(Submission(url=url, fields=[(field, text)]), {RULE}))


def types(hits):
    return sorted(h.evidence["type"] for h in hits if not isinstance(h, Unchecked))


@pytest.mark.parametrize("text,expected", [
    ("Any problems with the homework, text me on 07911 123456", ["phone"]),
    ("Ring me at home: 01642 496011", ["phone"]),
    ("My mobile is +44 7911 123456", ["phone"]),
    ("Ireland this week, reach me on +353 87 123 4567", ["phone"]),
    ("Email me at jo.bloggs@gmail.com over the holidays", ["email"]),
    ("Send the photos to mrs.smith1987@hotmail.co.uk.", ["email"]),
    ("contact me: jo@proton.me", ["email"]),  # webmail in PostGuard's registry is still a personal address
    ("Party at mine! 12 Acacia Avenue, Stockton, TS19 0QP", ["address"]),
    ("Flat 2, 7 High St., Norton, Stockton-on-Tees TS20 1AA", ["address"]),
    ("I live at 14B Orchard Close, Yarm TS15 9AB - pop round", ["address"]),
    ("Call 07911 123456 or email jo.bloggs@gmail.com", ["email", "phone"]),
    ("home 01642 496011 mobile 07911 123456", ["phone"]),
    ("01642 496011, 07911 123456", ["phone"]),  # two numbers in one digit cluster
])
def test_personal_contact_details_are_found(detector, text, expected):
    assert types(found(detector, text)) == expected


@pytest.mark.parametrize("text,why", [
    ("Call the school office on 01642 496000", "the school's own number (config)"),
    ("Professional Online Safety Helpline - 0344 381 4772", "an 03 number: an organisation's"),
    ("Freephone 0800 123 4567 for tickets", "toll free"),
    ("Text 07700 900123 to enter", "Ofcom's drama range: not a real allocation"),
    ("On 12/03/2015 at 14:30 we met 30 pupils", "a date and a time"),
    ("Order 1234 567 890 shipped", "an order number"),
    ("Email j.smith@stmarys-angels.sch.uk about the trip", "the school's domain"),
    ("Email office@juniors.stmarys-angels.sch.uk", "a subdomain of the school's domain"),
    ("Write to blog@stmarysangels.wordpress.com", "the school's official service"),
    ("noreply@facebookmail.com sent me this", "the platform's own address"),
    ("security@facebook.com says my account is safe", "the platform's own domain"),
    ("The fair is at 12 High Street, TS18 1AB", "the school's own postcode"),
    ("10 Downing Street is where the PM lives", "a street with no postcode"),
    ("Our postcode is TS19 0QP", "a postcode with no street"),
    ("12 Acacia Avenue\n\n\nOther news: TS19 0QP", "a street and a postcode in different paragraphs"),
    ("user@localhost and a@b", "no domain with a dot"),
])
def test_near_misses_are_not_contact_details(detector, text, why):
    assert found(detector, text) == [], why


def test_an_encyclopaedia_article_is_not_a_post(detector):
    text = "The museum is at 1 Exhibition Road, London SW7 2RL; call 020 7942 5000"
    assert types(found(detector, text, url="https://en.wikipedia.org/w/api.php")) == []
    assert types(found(detector, text)) == ["address", "phone"]  # the same words in a post


@pytest.mark.parametrize("field", ["email", "variables.input.email", "phone_number", "user[login]", "password", "to",
                                   "message.cc", "recipients[0]"])
def test_account_and_addressing_fields_are_not_what_the_post_says(detector, field):
    assert found(detector, "07911 123456 jo.bloggs@gmail.com", field=field) == []


def test_evidence_holds_no_detail(detector):
    hits = found(detector, "Text 07911 123456, email jo.bloggs@gmail.com, 12 Acacia Avenue, Stockton TS19 0QP")
    text = repr([h.evidence for h in hits]) + " ".join(h.message for h in hits)
    for detail in ("07911", "123456", "bloggs", "Acacia", "TS19 0QP", "TS19"):
        assert detail not in text, detail
    assert {"j***@gmail.com"} <= {a for h in hits for a in h.evidence.get("addresses", [])}


def test_a_field_longer_than_the_cap_is_an_inspection_error_for_the_rest(detector):
    hits = found(detector, "a" * MAX_CHARS + " 07911 123456")
    assert any(isinstance(h, Unchecked) for h in hits)
    assert types(hits) == []  # past the cap: not read, and said so


def test_a_post_with_more_possible_numbers_than_are_read_is_an_inspection_error(detector):
    """The matcher reads at most PHONE_MAX_WINDOWS stretches of a field; what it did not reach is not called clean."""
    for text in (", ".join(["0123 456 789"] * (PHONE_MAX_WINDOWS + 10)) + " text me on 07911 123456",
                 " ".join(["0123 456 789"] * 3000) + " 07911 123456"):  # one spaced run of 30,000 digits
        hits = found(detector, text[:MAX_CHARS])
        assert any(isinstance(h, Unchecked) and "phone" in h.why for h in hits)
    hits = found(detector, "room 0123 456 789, " * 50 + "text me on 07911 123456")
    assert not any(isinstance(h, Unchecked) for h in hits) and types(hits) == ["phone"]


def test_region_and_school_numbers_are_checked_at_load():
    with pytest.raises(ConfigError, match="contact_details.region"):
        parse_config({"contact_details": {"region": "UK"}})
    with pytest.raises(ConfigError, match="contact_details.school_postcodes"):
        parse_config({"contact_details": {"school_postcodes": ["not a postcode"]}})
    with pytest.raises(ConfigError, match="contact_details: school_numbers: not a phone number: 'call us'"):
        parse_config({"contact_details": {"school_numbers": ["call us"]}})


def test_the_region_reads_numbers_without_a_country_code():
    irish = ContactDetailsDetector(parse_config({"contact_details": {"region": "IE"}}))
    assert types(found(irish, "text me on 087 123 4567")) == ["phone"]


@pytest.mark.parametrize("pack,refs", [
    ("all-saints", ["The Golden Principles"]),
    ("corpus-christi-catholic-primary", ["Communication between pupils / schools staff", "Safer online behaviour"]),
    ("st-mary-of-the-angels", ["6.15", "Appendix A 3.9"]),
    ("education-my-life-matters", ["6.13", "A.4.8"]),
    ("mill-lane-primary", ["6.1 III"]),
])
def test_each_school_pack_warns_with_its_own_clause(pack, refs):
    cfg = parse_config({"school": {**SCHOOL, "pack": pack}})
    verdict = Engine(cfg).evaluate(Submission(url="https://www.instagram.com/api/v1/media/configure/",
                                              fields=[("caption", "DM me or text 07911 123456")]))
    hit = [f for f in verdict.findings if f.rule == RULE]
    assert len(hit) == 1 and hit[0].action == "warn" and [c.ref for c in hit[0].policy] == refs
    assert load_pack(pack).rules[RULE].clauses
