"""school.identified: a personal account's profile field (bio, headline, works at) naming the school, an alias or its
e-mail domain; other fields, other schools, the school's own accounts and sites outside the registry are near misses."""
import pytest

from rules import Engine, Submission
from rules.config import parse_config
from rules.detectors.base import Unchecked
from rules.detectors.school_identity import MAX_CHARS, RULE, SchoolIdentityDetector, profiles
from rules.packs import load_pack

SCHOOL = {"name": "St Mary of the Angels", "aliases": ["St Mary's", "SMOTA"],
          "email_domains": ["stmarys-angels.sch.uk"], "official_services": ["stmarysangels.wordpress.com"]}


@pytest.fixture(scope="module")
def detector():
    return SchoolIdentityDetector(parse_config({"school": SCHOOL}))


def found(detector, url, *fields):
    return list(detector.check(Submission(url=url, fields=list(fields)), {RULE}))


@pytest.mark.parametrize("url,field,value,what", [
    ("https://www.instagram.com/api/v1/web/accounts/edit/", "biography",
     "Year 4 teacher at St Mary of the Angels \u2764\ufe0f books & coffee", "the school's name"),
    ("https://x.com/i/api/1.1/account/update_profile.json", "description",
     "Teacher @ Saint Mary of the Angels. Views my own.", "the school's name"),  # Saint for St
    ("https://www.tiktok.com/api/update/profile/", "signature", "Miss J | ST. MARY'S | KS2", "an alias of the school"),
    ("https://www.linkedin.com/voyager/api/graphql", "variables.entity.headline",
     "Deputy Head, SMOTA", "an alias of the school"),
    ("https://mastodon.social/api/v1/accounts/update_credentials", "fields_attributes[0][value]",
     "j.smith@stmarys-angels.sch.uk", "its e-mail domain"),
    ("https://www.facebook.com/api/graphql/", "variables.input.bio", "Proud to teach at St Mary's",
     "an alias of the school"),
    ("https://www.tes.com/profile/update", "job_title", "Class teacher, St Mary of the Angels School",
     "the school's name"),
    ("https://www.strava.com/athletes/update", "occupation", "Teacher at St Mary's", "an alias of the school"),
])
def test_a_profile_naming_the_school_is_found(detector, url, field, value, what):
    hits = found(detector, url, (field, value))
    assert [h.rule for h in hits] == [RULE]
    assert hits[0].evidence["matched"] == what and hits[0].evidence["field"] == field


@pytest.mark.parametrize("url,field,value,why", [
    ("https://www.instagram.com/api/v1/media/configure/", "caption", "Our trip with St Mary of the Angels",
     "a post's caption is not a profile field"),
    ("https://www.instagram.com/api/v1/web/accounts/edit/", "biography", "Teacher at Mill Lane Primary",
     "another school"),
    ("https://www.instagram.com/api/v1/web/accounts/edit/", "biography", "Mary loves the angels in St Ives",
     "the words, not in the name's order"),
    ("https://www.instagram.com/api/v1/web/accounts/edit/", "biography", "St Marylebone runner",
     "a longer word starting like an alias"),
    ("https://x.com/i/api/1.1/account/update_profile.json", "bio_note", "St Mary of the Angels",
     "a field X does not use for the profile, and not a generic one"),
    ("https://stmarysangels.wordpress.com/wp-admin/profile.php", "description", "St Mary of the Angels",
     "the school's own official service"),
    ("https://www.stmarys-angels.sch.uk/staff/edit", "bio", "St Mary of the Angels", "the school's own site"),
    ("https://intranet.example.org/profile", "bio", "St Mary of the Angels", "not a platform PostGuard inspects"),
])
def test_near_misses_are_not_found(detector, url, field, value, why):
    assert found(detector, url, (field, value)) == [], why


def test_names_a_post_also_uses_count_only_when_the_request_edits_the_account(detector):
    """X's "description" is a profile's in update_profile and a list's in CreateList; Bluesky's putRecord writes a
    profile or a post, told apart by the record's collection."""
    x_profile = "https://x.com/i/api/1.1/account/update_profile.json"
    x_list = "https://x.com/i/api/graphql/abc123/CreateList"
    assert found(detector, x_profile, ("description", "St Mary of the Angels"))
    assert found(detector, x_list, ("variables.description", "Parents of St Mary of the Angels")) == []
    bsky = "https://bsky.social/xrpc/com.atproto.repo.putRecord"
    profile = found(detector, bsky, ("collection", "app.bsky.actor.profile"),
                    ("record.description", "teaching at stmarys-angels.sch.uk"))
    assert [h.evidence["matched"] for h in profile] == ["its e-mail domain"]
    post = found(detector, bsky, ("collection", "app.bsky.feed.post"), ("record.text", "Great fair today"),
                 ("record.embed.external.description", "St Mary of the Angels summer fair"))
    assert post == []
    fb = "https://www.facebook.com/api/graphql/"
    assert found(detector, fb, ("fb_api_req_friendly_name", "ProfileCometAboutAppSectionMutation"),
                 ("variables.input.about", "St Mary of the Angels"))
    assert found(detector, fb, ("fb_api_req_friendly_name", "ComposerStoryCreateMutation"),
                 ("variables.input.about", "St Mary of the Angels")) == []


def test_no_school_configured_finds_nothing_and_says_so():
    d = SchoolIdentityDetector(parse_config({}))
    assert found(d, "https://www.instagram.com/api/v1/web/accounts/edit/", ("biography", "St Mary's")) == []
    assert "no [school] name" in d.status()


def test_a_long_profile_field_is_read_to_the_cap_and_the_rest_is_an_error(detector):
    hits = found(detector, "https://x.com/i/api/1.1/account/update_profile.json",
                 ("description", "x" * MAX_CHARS + " St Mary of the Angels"))
    assert any(isinstance(h, Unchecked) for h in hits) and not [h for h in hits if not isinstance(h, Unchecked)]


def test_profile_fields_are_data_in_platforms_toml():
    anywhere, by_platform = profiles()
    assert anywhere is not None and "bio" in anywhere.fields
    keys = {p.key for p in by_platform}
    assert {"facebook", "instagram", "x", "tiktok", "linkedin"} <= keys
    assert all(p.sites and (p.fields or p.account_fields) for p in by_platform)
    assert all(not (p.fields & p.account_fields) for p in by_platform)


@pytest.mark.parametrize("pack,refs", [
    ("st-mary-of-the-angels", ["6.1"]),
    ("mill-lane-primary", ["6.1 III"]),
    ("corpus-christi-catholic-primary", ["Safer online behaviour"]),
    ("education-my-life-matters", ["6.1"]),
])
def test_each_school_pack_with_the_clause_warns_with_its_words(pack, refs):
    cfg = parse_config({"school": {**SCHOOL, "pack": pack}})
    verdict = Engine(cfg).evaluate(Submission(url="https://www.instagram.com/api/v1/web/accounts/edit/",
                                              fields=[("biography", "Teacher at St Mary's")]))
    hit = [f for f in verdict.findings if f.rule == RULE]
    assert len(hit) == 1 and hit[0].action == "warn" and [c.ref for c in hit[0].policy] == refs


def test_all_saints_has_no_such_clause_and_does_not_run_it():
    assert RULE not in load_pack("all-saints").active


@pytest.mark.parametrize("pack,found_for_profession", [
    ("corpus-christi-catholic-primary", True), ("st-mary-of-the-angels", False), ("mill-lane-primary", False)])
def test_the_profession_counts_only_where_the_policy_says_so(pack, found_for_profession):
    """Corpus Christi asks staff not to identify "either your profession or the school"; the others, the school."""
    cfg = parse_config({"school": {**SCHOOL, "pack": pack}})
    verdict = Engine(cfg).evaluate(Submission(url="https://www.linkedin.com/voyager/api/graphql",
                                              fields=[("variables.entity.headline", "Year 5 Teacher & SENCo")]))
    hits = [f for f in verdict.findings if f.rule == RULE]
    assert bool(hits) == found_for_profession
    if hits:
        assert hits[0].evidence["matched"] == "the profession" and hits[0].evidence["word"] == "teacher"


@pytest.mark.parametrize("text,word", [
    ("KS2 teacher. Runner.", "teacher"), ("HLTA and mum of 3", "hlta"), ("Deputy Head | coffee", "deputy head"),
    ("Teaching my dog new tricks", ""), ("Ex-footballer, coach", ""), ("Teachers' pet (the band)", ""),
    ("Loves architecture", ""), ("Head of the family", ""),
])
def test_profession_words_and_near_misses(text, word):
    d = SchoolIdentityDetector(parse_config({"school": SCHOOL}), {RULE: {"profession": 1}})
    hits = found(d, "https://www.instagram.com/api/v1/web/accounts/edit/", ("biography", text))
    assert [h.evidence["word"] for h in hits] == ([word] if word else [])
