"""What a flood means for people and buildings: hazard classes and per-building exposure."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine

__all__ = ["HAZARD_CLASSES", "hazard_class", "building_exposure"]

#: UK Defra/EA FD2320 flood hazard rating classes, HR = d (v + 0.5) + DF: upper bounds and names.
HAZARD_CLASSES = ((0.75, "low"), (1.25, "moderate"), (2.0, "significant"), (np.inf, "extreme"))


def hazard_class(hr: np.ndarray, depth: np.ndarray, wet_depth: float) -> np.ndarray:
    """uint8 classes: 0 dry, 1 low, 2 moderate, 3 significant, 4 extreme (FD2320 thresholds)."""
    bounds = np.array([b for b, _ in HAZARD_CLASSES[:-1]])
    cls = (np.searchsorted(bounds, hr, side="right") + 1).astype(np.uint8)  # HR = 0.75 is moderate
    cls[depth <= wet_depth] = 0
    return cls


def building_exposure(buildings: gpd.GeoDataFrame, transform: Affine, shape: tuple[int, int],
                      max_depth: np.ndarray, arrival: np.ndarray, *, flooded_depth: float) -> gpd.GeoDataFrame:
    """Per building: max depth along the footprint and the first arrival of water there.

    Water stands against a building, not inside it (blocked cells stay dry, raised roofs shed), so
    depths are read on a ring just outside each footprint: its outline buffered by 0.75 cell and
    sampled every half cell. Buildings that touch each other each get their own ring.
    """
    out = buildings.copy()
    n = len(out)
    if n == 0:
        for col in ("max_depth", "arrival_time", "flooded"):
            out[col] = np.zeros(0)
        return out
    cell = abs(transform.a)
    rings = shapely.boundary(shapely.buffer(np.asarray(out.geometry.values), 0.75 * cell, join_style="mitre"))
    rings = shapely.segmentize(rings, cell / 2.0)
    coords, owner = shapely.get_coordinates(rings, return_index=True)
    cols, rows = ~transform @ (coords[:, 0], coords[:, 1])
    r = np.floor(rows).astype(np.int64)
    c = np.floor(cols).astype(np.int64)
    ok = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    r, c, owner = r[ok], c[ok], owner[ok]
    depth = np.zeros(n)
    np.maximum.at(depth, owner, max_depth[r, c].astype(np.float64))
    first = np.full(n, np.inf)
    arr = arrival[r, c].astype(np.float64)
    wet = np.isfinite(arr)
    np.minimum.at(first, owner[wet], arr[wet])
    out["max_depth"] = depth
    out["arrival_time"] = np.where(np.isfinite(first), first, np.nan)
    out["flooded"] = depth > flooded_depth
    return out
