"""location.school_site: a photo taken inside a configured school site is its own finding (warn, per pack), beside
location.gps's removal; near the site but outside its radius, or with no GPS, it is not."""
import pytest

from rules import Attachment, Engine, Submission
from rules.config import parse_config
from rules.detectors.school_site import RULE, SchoolSiteDetector
from rules.packs import load_pack
from tests.rules.test_location import exif_blob, gps_ifd, jpeg_with_gps

MAIN = {"name": "Main site", "lat": 54.5705, "lon": -1.3187, "radius_m": 300}
FIELD = {"name": "Playing field", "lat": 54.5750, "lon": -1.3100, "radius_m": 120}


def config(*sites):
    return parse_config({"school": {"name": "St Mary of the Angels", "sites": list(sites)}})


def hits(data, cfg, name="IMG_0001.jpg"):
    return list(SchoolSiteDetector(cfg).check(Submission(files=[Attachment(name, data)]), {RULE}))


@pytest.mark.parametrize("lat,lon,site", [
    (54.5705, -1.3187, "Main site"),  # the centre
    (54.5710, -1.3150, "Main site"),  # about 250 m east: inside 300 m
    (54.5751, -1.3101, "Playing field"),  # the second site
])
def test_a_photo_taken_on_a_site_is_found(lat, lon, site):
    found = hits(jpeg_with_gps(gps_ifd(lat, lon)), config(MAIN, FIELD))
    assert [h.rule for h in found] == [RULE]
    ev = found[0].evidence
    assert ev["site"] == site and ev["distance_m"] <= ev["radius_m"] and ev["source"].startswith("EXIF")
    assert site in found[0].message


@pytest.mark.parametrize("data,why", [
    (jpeg_with_gps(gps_ifd(54.5705, -1.3087)), "about 650 m east: near the school, outside its 300 m"),
    (jpeg_with_gps(gps_ifd(53.3828, -1.4567)), "Sheffield"),
    (jpeg_with_gps(None), "no GPS at all"),
    (jpeg_with_gps({0: b"\x02\x02\x00\x00", 1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}),
     "a (0, 0) placeholder"),
])
def test_near_misses_are_not_the_school_site(data, why):
    assert hits(data, config(MAIN, FIELD)) == [], why


def test_no_sites_configured_means_nothing_to_compare_and_status_says_so():
    cfg = config()
    assert hits(jpeg_with_gps(gps_ifd(54.5705, -1.3187)), cfg) == []
    assert "no [school] sites" in SchoolSiteDetector(cfg).status()
    assert SchoolSiteDetector(config(MAIN)).status() == ""


def test_a_bare_exif_block_on_site_is_found_too():
    assert [h.rule for h in hits(exif_blob(gps_ifd(54.5705, -1.3187)), config(MAIN))] == [RULE]


def test_an_unreadable_file_is_an_inspection_error_not_clean():
    from tests.rules.test_unreadable import forged_gps_count
    broken = forged_gps_count(jpeg_with_gps(gps_ifd(54.5705, -1.3187)), 4000)  # the IFD runs past its segment
    found = hits(broken, config(MAIN))
    assert any(type(h).__name__ == "Unchecked" for h in found)


def test_the_st_mary_pack_warns_with_its_own_clause_and_still_removes_the_location():
    cfg = parse_config({"school": {"pack": "st-mary-of-the-angels", "sites": [MAIN]}})
    verdict = Engine(cfg).evaluate(Submission(files=[Attachment("IMG_0001.jpg",
                                                                  jpeg_with_gps(gps_ifd(54.5705, -1.3187)))]))
    by_rule = {f.rule: f for f in verdict.findings}
    assert by_rule[RULE].action == "warn" and by_rule[RULE].severity == "high"
    assert [c.ref for c in by_rule[RULE].policy] == ["6.9"]
    assert "sensitive school premises" in by_rule[RULE].policy[0].text
    assert by_rule["location.gps"].action == "sanitise"
    assert verdict.decision == "warn"


@pytest.mark.parametrize("pack", ["all-saints", "corpus-christi-catholic-primary", "education-my-life-matters",
                                  "mill-lane-primary"])
def test_packs_whose_policy_has_no_premises_clause_do_not_run_it(pack):
    assert RULE not in load_pack(pack).active
