"""Nearest town and school sites: offline, and the same answer as comparing with every place."""
import math
import random

import numpy as np

from rules import geo
from rules.config import Site


def brute_force(lat, lon):
    t = geo._towns()
    p, lam = math.radians(lat), math.radians(lon)
    a = np.sin((t.lat - p) / 2) ** 2 + math.cos(p) * t.cos_lat * np.sin((t.lon - lam) / 2) ** 2
    return t.names[int(np.argmin(a))]


def test_known_places():
    assert geo.nearest_town(53.3828, -1.4567)["name"] == "Sheffield"
    town = geo.nearest_town(54.9897, -1.9142)
    assert town["country"] == "United Kingdom" and town["distance_km"] < 10


def test_grid_lookup_matches_brute_force_everywhere():
    rng = random.Random(5)
    points = [(rng.uniform(-89, 89), rng.uniform(-180, 180)) for _ in range(200)] + [(0.0, -140.0), (-78, -137),
                                                                                     (71.2, 179.9), (51.5, -0.001)]
    for lat, lon in points:
        assert geo.nearest_town(lat, lon)["name"] == brute_force(lat, lon), (lat, lon)


def test_school_site_geofence():
    sites = [Site("Main", 54.5705, -1.3187, 300), Site("Annexe", 54.58, -1.30, 100)]
    assert geo.nearest_site(54.5710, -1.3187, sites) == {"name": "Main", "distance_m": 56, "on_site": True}
    far = geo.nearest_site(54.60, -1.3187, sites)
    assert far["on_site"] is False and far["distance_m"] > 1000
    assert geo.nearest_site(54.0, -1.0, []) is None
