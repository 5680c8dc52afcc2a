"""Where a region is, roughly: the shipped centres of regions (``centroids.json``) and great-circle distances."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

EARTH_RADIUS_KM = 6371.0088


@cache
def centroids() -> dict[str, tuple[float, float]]:
    """Code → (latitude, longitude) in degrees, from the table shipped in the package."""
    raw = json.loads((Path(__file__).parent / "centroids.json").read_text(encoding="utf-8"))
    return {code: (float(v["lat"]), float(v["lon"])) for code, v in raw.items() if not code.startswith("_")}


def centroid(region: str) -> tuple[float, float] | None:
    """The centre of ``region``, else of its prefecture (``5329xx`` → ``532900``), else of its province's
    capital (``53xxxx`` → ``530000``); None for a code of no known province."""
    table = centroids()
    for code in (region, region[:4] + "00", region[:2] + "0000"):
        if code in table:
            return table[code]
    return None


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle distance between two (latitude, longitude) points, in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_km(region_a: str, region_b: str) -> float | None:
    """How far apart the centres of two regions are (None when either is unknown)."""
    a, b = centroid(region_a), centroid(region_b)
    if a is None or b is None:
        return None
    return haversine_km(a, b)
