"""Whether the DEM shows each river's channel: the ground sampled along its centre line should fall
one way. A DEM too coarse for the channel (or one that shows bridges, walls or the water surface
of a weir) rises along the line, and a flood wave routed down such a river fills those pits before
it goes on; the ingest report says by how much each river rises against its flow.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from rasterio.transform import rowcol

from ingest._notes import warn

__all__ = ["RISE_WARNING_M", "adverse_rise", "check_river_profiles"]

#: A river whose ground rises more than this against its flow is named in a warning [m].
RISE_WARNING_M = 1.0


def adverse_rise(z: np.ndarray) -> float:
    """The largest climb of ``z`` above its lowest value so far, in the direction that climbs least
    (the flow direction is not known from a line's vertex order) [m]."""

    def climb(v: np.ndarray) -> float:
        return float(np.max(v - np.minimum.accumulate(v))) if len(v) else 0.0

    return min(climb(z), climb(z[::-1]))


def check_river_profiles(rivers: gpd.GeoDataFrame, terrain: np.ndarray, transform: Any, report: dict[str, Any]) -> None:
    """Sample ``terrain`` every half cell along each river; record rises above :data:`RISE_WARNING_M`
    in ``report["bed_rises_m"]`` (river name or row: metres) with a warning."""
    step = abs(transform.a) / 2
    ny, nx = terrain.shape
    rises: dict[str, float] = {}
    for i, geom in enumerate(rivers.geometry):
        if geom is None or geom.is_empty:
            continue
        pts = shapely.line_interpolate_point(geom, np.arange(0.0, geom.length + step / 2, step))
        r, c = rowcol(transform, shapely.get_x(pts), shapely.get_y(pts))
        r, c = np.clip(np.asarray(r), 0, ny - 1), np.clip(np.asarray(c), 0, nx - 1)
        rise = adverse_rise(np.asarray(terrain[r, c], dtype=float))
        if rise > RISE_WARNING_M:
            name = rivers["name"].iloc[i] if "name" in rivers.columns else None
            label = (
                str(name[0] if isinstance(name, list) and name else name) if name is not None and name == name else ""
            )
            rises[f"{label or 'river'} (row {i})"] = round(rise, 2)
    if rises:
        report["bed_rises_m"] = rises
        worst = max(rises, key=rises.get)
        warn(
            report,
            "bed_rises",
            f"{len(rises)} river(s) rise against their flow along the DEM, up to {rises[worst]:.1f} m ({worst}): "
            "the DEM does not show their channels (too coarse, or bridges and walls in it), and a flood wave "
            "sent down them ponds in those pits. Use a DEM that resolves the channel (a 1-5 m LiDAR DTM), or carve it with [[edit]] type = 'ground' polygons.",
            stacklevel=4,
        )
