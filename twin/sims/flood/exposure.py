"""What a flood means for people and buildings: hazard classes and per-building exposure."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

__all__ = ["HAZARD_CLASSES", "EXPOSURE_RULE", "hazard_class", "building_exposure"]

#: How :func:`building_exposure` measures a building's water; a result's ``summary.json`` records it
#: (results without it counted the depth in the ring cells, water below the base included).
EXPOSURE_RULE = "water against the walls above the base"

#: UK Defra/EA FD2320 flood hazard rating classes, HR = d (v + 0.5) + DF: upper bounds and names.
HAZARD_CLASSES = ((0.75, "low"), (1.25, "moderate"), (2.0, "significant"), (np.inf, "extreme"))


def hazard_class(hr: np.ndarray, depth: np.ndarray, wet_depth: float) -> np.ndarray:
    """uint8 classes: 0 dry, 1 low, 2 moderate, 3 significant, 4 extreme (FD2320 thresholds)."""
    bounds = np.array([b for b, _ in HAZARD_CLASSES[:-1]])
    cls = (np.searchsorted(bounds, hr, side="right") + 1).astype(np.uint8)  # HR = 0.75 is moderate
    cls[depth <= wet_depth] = 0
    return cls


def building_exposure(
    buildings: gpd.GeoDataFrame,
    transform: Affine,
    shape: tuple[int, int],
    max_depth: np.ndarray,
    arrival: np.ndarray,
    *,
    ground: np.ndarray,
    flooded_depth: float,
) -> gpd.GeoDataFrame:
    """Per building: the deepest water against its walls above its base, and when water first came.

    Water stands against a building, not inside it (blocked cells stay dry, raised roofs shed), so
    the water is read on a ring just outside each footprint: its outline buffered by 0.75 cell and
    sampled every half cell. Buildings that touch each other each get their own ring.

    At each ring cell the water counts up to its surface and down to the building's ``base``:
    ``min(depth, ground + depth - base)``, clipped at 0, where ``ground`` is the bed the run used
    (edits applied). Water in a cell lower than the base -- a pond or channel dug next to the wall,
    a street below a raised plinth -- reaches the building only where its surface rises above the
    base; on ground above the base (the uphill side) it counts with its depth there, not more.
    ``max_depth`` is the largest of these along the ring. A building without a base (NaN) takes
    the depth alone.

    Parameters
    ----------
    buildings
        Footprints with ``base`` [m] (the twin's buildings).
    transform, shape
        The grid of the rasters.
    max_depth, arrival
        Maximum depth [m] and first arrival [s] (NaN: never) per cell.
    ground
        Bed elevation [m] per cell, the one the depths are measured from.
    flooded_depth
        A building with ``max_depth`` above this [m] is ``flooded``.

    Returns
    -------
    GeoDataFrame
        ``buildings`` with ``max_depth``, ``arrival_time`` (first arrival along the ring, NaN: never)
        and ``flooded``.
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
    h = max_depth[r, c].astype(np.float64)
    if "base" in out.columns:
        base = pd.to_numeric(out["base"], errors="coerce").to_numpy(np.float64)
    else:
        base = np.full(n, np.nan)
    above_base = np.asarray(ground, dtype=np.float64)[r, c] + h - base[owner]
    wall = np.clip(np.where(np.isnan(above_base), h, np.minimum(h, above_base)), 0.0, None)
    depth = np.zeros(n)
    np.maximum.at(depth, owner, wall)
    first = np.full(n, np.inf)
    arr = arrival[r, c].astype(np.float64)
    wet = np.isfinite(arr)
    np.minimum.at(first, owner[wet], arr[wet])
    out["max_depth"] = depth
    out["arrival_time"] = np.where(np.isfinite(first), first, np.nan)
    out["flooded"] = depth > flooded_depth
    return out
