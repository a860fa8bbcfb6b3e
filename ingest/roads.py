"""Road networks read into line layers with a ``class`` and a ``name``: any vector source OGR reads,
GeoParquet, or an OSMnx street graph saved as node-link JSON (``osmnx`` itself is not needed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ingest.errors import InputDataError
from ingest.graph_json import clip_lines, is_graph_json, merged_values, read_graph_lines
from ingest.vector import read_vector

__all__ = ["read_roads", "is_graph_json", "CLASS_COLUMNS", "NAME_COLUMNS"]

#: Columns tried, in order, for a road's class (OpenStreetMap's ``highway``, Geofabrik's ``fclass``).
CLASS_COLUMNS = ("class", "highway", "fclass", "road_class", "type")
#: Columns tried, in order, for a road's name.
NAME_COLUMNS = ("name", "street", "road_name", "ref")


def read_roads(
    path: str | os.PathLike,
    crs: object,
    *,
    src_crs: object | None = None,
    bounds: Sequence[float] | None = None,
    class_column: str | None = None,
    report: dict[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    """Read a road network as lines in ``crs`` with ``class`` (lower case; blank: "road"), ``name``
    (blank: "") and ``bridge`` (bool: the road passes over water) columns, clipped to ``bounds``.

    Parameters
    ----------
    path
        A vector file (``file::layer``) of lines, or an OSMnx graph as node-link JSON (e.g.
        ``street.json``); a graph's two directions of a two-way street become one line.
    crs
        The twin's CRS.
    src_crs
        The CRS of a file that declares none.
    bounds
        ``(xmin, ymin, xmax, ymax)`` in ``crs``: lines are cut at this box.
    class_column
        The class column (default: the first of :data:`CLASS_COLUMNS` present; none: every road "road").
    report
        Receives counts of what was read and kept.

    Raises
    ------
    InputDataError
        Unreadable file, no line, or no line within ``bounds``.
    CRSError
        A file without CRS and no ``src_crs``.
    """
    report = {} if report is None else report
    if is_graph_json(path):
        gdf = read_graph_lines(path, crs, src_crs=src_crs, layer="roads", report=report)
        if bounds is not None:
            gdf = clip_lines(gdf, bounds, str(path), report)
    else:
        gdf = read_vector(
            path,
            crs,
            src_crs=src_crs,
            prefer_layer="roads",
            bounds=bounds,
            kind="line",
            clip=True,
            name="roads",
            report=report,
        )
    return _normalise(gdf, class_column, str(path), report)


def _first(value: Any) -> Any:
    """The first of an OSMnx merged edge's values (``"['footway', 'steps']"``: footway)."""
    values = merged_values(value)
    return values[0] if values else None


def _text(values: pd.Series, blank: str) -> pd.Series:
    out = values.map(_first).map(lambda v: blank if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return out.str.strip().replace("", blank)


def _normalise(gdf: gpd.GeoDataFrame, class_column: str | None, where: str, report: dict[str, Any]) -> gpd.GeoDataFrame:
    lower = {str(c).lower(): c for c in gdf.columns if c != gdf.geometry.name}
    if class_column is not None:
        found = lower.get(class_column.lower())
        if found is None:
            raise InputDataError(
                f"The roads' class column {class_column!r} is not in {where}; its columns are {sorted(lower)}."
            )
    else:
        found = next((lower[c] for c in CLASS_COLUMNS if c in lower), None)
    name = next((lower[c] for c in NAME_COLUMNS if c in lower), None)
    n = len(gdf)
    classes = _text(gdf[found], "road").str.lower() if found is not None else pd.Series(["road"] * n, index=gdf.index)
    names = _text(gdf[name], "") if name is not None else pd.Series([""] * n, index=gdf.index)
    bridge = (
        gdf[lower["bridge"]].map(_first).map(lambda v: str(v).lower() in ("yes", "true", "1", "viaduct"))
        if "bridge" in lower
        else pd.Series(False, index=gdf.index)
    )
    if found is None:
        report["class_missing"] = "no class column; every road is 'road'"
    elif found != "class":
        report["class_column"] = str(found)
    report["kept"] = int(n)
    report["classes"] = {str(k): int(v) for k, v in classes.value_counts().sort_index().items()}
    return gpd.GeoDataFrame(
        {"class": classes.to_numpy(), "name": names.to_numpy(), "bridge": bridge.to_numpy(bool)},
        geometry=gpd.GeoSeries(np.asarray(gdf.geometry.values), crs=gdf.crs),
        crs=gdf.crs,
    )
