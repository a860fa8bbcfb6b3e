"""Roads for flood scenes: a result's ``roads.gpkg`` read against its contract.

``roads.gpkg`` (written by a flood run that has a roads layer), layer ``roads``: one row per road
segment with ``road_id``, ``name``, ``class``, ``threshold_m`` (the depth that makes it impassable),
``max_depth_m``, ``cut_at_s`` (first time it is impassable; NaN: never), ``reopen_at_s`` (when it is
passable again; NaN: not within the run), ``cut_hours`` and a LineString geometry in the twin's CRS.
The page colours a segment as cut at time t when ``cut_at_s <= t < reopen_at_s``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from twin.errors import InputDataError

__all__ = ["ROAD_COLUMNS", "CUT_RGBA", "OPEN_RGBA", "read_roads", "road_records", "cut_at"]

#: The columns ``roads.gpkg`` must have (besides the geometry).
ROAD_COLUMNS = ("road_id", "name", "class", "threshold_m", "max_depth_m", "cut_at_s", "reopen_at_s", "cut_hours")
#: Cut roads: vermilion (Okabe-Ito), apart from the depth blues for every kind of colour vision.
CUT_RGBA = (213, 94, 0, 255)
#: Open roads: a neutral dark grey.
OPEN_RGBA = (70, 70, 78, 255)


def read_roads(roads):
    """The roads of a result as a GeoDataFrame checked against the contract.

    Parameters
    ----------
    roads : GeoDataFrame or path-like
        A frame, or ``roads.gpkg`` (layer ``roads``).

    Raises
    ------
    InputDataError
        The file or layer cannot be read, or a column of the contract is missing.
    """
    if isinstance(roads, (str, os.PathLike)):
        import geopandas as gpd

        path = Path(roads)
        try:
            roads = gpd.read_file(path, layer="roads", engine="pyogrio")
        except Exception as err:  # pyogrio raises its own DataSourceError / DataLayerError
            raise InputDataError(
                f"{path} has no readable layer 'roads' ({err}); write it again with the flood run."
            ) from None
        where = f"{path} (layer roads)"
    else:
        where = "the roads"
    missing = [c for c in ROAD_COLUMNS if c not in roads.columns]
    if missing:
        raise InputDataError(
            f"{where} lack the column(s) {missing}; a flood run with a roads layer writes "
            f"{list(ROAD_COLUMNS)}: run it again with this cimtwin."
        )
    return roads


def _seconds(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def road_records(roads, lonlat) -> list[dict]:
    """One record per LineString part: path (lon/lat arrays), name, class and the times and depths.

    ``lonlat(geom)`` returns the lon and lat arrays of a geometry's vertices.
    """
    records = []
    for row in range(len(roads)):
        geom = roads.geometry.iloc[row]
        if geom is None or geom.is_empty:
            continue
        parts = [geom] if geom.geom_type == "LineString" else list(getattr(geom, "geoms", []))
        item = roads.iloc[row]
        for part in parts:
            if part.geom_type != "LineString":
                continue
            lon, lat = lonlat(part)
            records.append(
                {
                    "lon": lon,
                    "lat": lat,
                    "id": str(item["road_id"]),
                    "name": "" if item["name"] is None or item["name"] != item["name"] else str(item["name"]),
                    "cls": "" if item["class"] is None or item["class"] != item["class"] else str(item["class"]),
                    "threshold": _seconds(item["threshold_m"]),
                    "max_depth": _seconds(item["max_depth_m"]),
                    "cut": _seconds(item["cut_at_s"]),
                    "reopen": _seconds(item["reopen_at_s"]),
                    "hours": _seconds(item["cut_hours"]),
                }
            )
    return records


def cut_at(records: list[dict], t: float | None) -> np.ndarray:
    """Which roads are cut at time ``t`` (s); ``None``: at any time of the event."""
    out = np.zeros(len(records), dtype=bool)
    for k, r in enumerate(records):
        if r["cut"] is None:
            continue
        out[k] = t is None or (r["cut"] <= t and (r["reopen"] is None or t < r["reopen"]))
    return out
