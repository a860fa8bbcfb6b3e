"""Road networks read into line layers with a ``class`` and a ``name``: any vector source OGR reads,
GeoParquet, or an OSMnx street graph saved as node-link JSON (``osmnx`` itself is not needed).
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ingest.crs import as_crs, crs_label, same_crs
from ingest.errors import CRSError, InputDataError
from ingest.vector import read_vector, split_layer_path

__all__ = ["read_roads", "is_graph_json", "CLASS_COLUMNS", "NAME_COLUMNS"]

#: Columns tried, in order, for a road's class (OpenStreetMap's ``highway``, Geofabrik's ``fclass``).
CLASS_COLUMNS = ("class", "highway", "fclass", "road_class", "type")
#: Columns tried, in order, for a road's name.
NAME_COLUMNS = ("name", "street", "road_name", "ref")


def is_graph_json(path: str | os.PathLike) -> bool:
    """True for a JSON file holding a node-link graph (``nodes`` and ``links`` or ``edges``), as OSMnx
    and ``networkx.node_link_data`` write it; False for GeoJSON and anything else."""
    file, _ = split_layer_path(path)
    if file.suffix.lower() != ".json" or not file.is_file():
        return False
    with open(file, "rb") as fh:
        head = fh.read(4096).decode("utf-8", "replace")
    return '"nodes"' in head and '"FeatureCollection"' not in head


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
        gdf = _read_graph(Path(split_layer_path(path)[0]), crs, src_crs, report)
        if bounds is not None:
            gdf = _clip(gdf, bounds, str(path), report)
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


def _read_graph(file: Path, crs: object, src_crs: object | None, report: dict[str, Any]) -> gpd.GeoDataFrame:
    """The edges of a node-link graph as lines, one per street (both directions of a two-way street merged)."""
    try:
        data = json.loads(file.read_text())
        nodes = {n["id"]: (float(n["x"]), float(n["y"])) for n in data["nodes"]}
        links = data.get("links", data.get("edges"))
        if links is None:
            raise KeyError("links")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputDataError(
            f"{file} is not a readable street graph ({type(exc).__name__}: {exc}); give node-link JSON as OSMnx "
            "writes it (nodes with id, x, y; links with source, target and optionally geometry)."
        ) from None
    declared = (data.get("graph") or {}).get("crs")
    if declared is None and src_crs is None:
        raise CRSError(
            f"Street graph {file} declares no CRS (graph.crs); give it, e.g. layer_crs={{'roads': 'EPSG:32631'}} "
            "(--layer-crs roads=EPSG:32631)."
        )
    graph_crs = as_crs(declared if declared is not None else src_crs, what=f"the CRS of {file}")
    rows, geoms, seen = [], [], set()
    for link in links:
        u, v = link.get("source"), link.get("target")
        key = (min(str(u), str(v)), max(str(u), str(v)), link.get("key", 0), round(float(link.get("length") or 0), 3))
        if key in seen:  # the other direction of a two-way street
            continue
        seen.add(key)
        wkt = link.get("geometry")
        if isinstance(wkt, str):
            geom = shapely.from_wkt(wkt)
        elif u in nodes and v in nodes:
            geom = shapely.LineString([nodes[u], nodes[v]])
        else:
            continue
        rows.append({k: val for k, val in link.items() if k not in ("geometry", "source", "target", "key")})
        geoms.append(geom)
    report["read"] = len(links)
    report["directions_merged"] = len(links) - len(rows)
    if not rows:
        raise InputDataError(f"Street graph {file} holds no edges with a geometry or known end nodes.")
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=graph_crs)
    report["crs"] = crs_label(graph_crs)
    target = as_crs(crs)
    if not same_crs(graph_crs, target):
        gdf = gdf.to_crs(target)
        report["reprojected"] = f"{report['crs']} -> {crs_label(target)}"
    return gdf.set_crs(target, allow_override=True)


def _clip(gdf: gpd.GeoDataFrame, bounds: Sequence[float], where: str, report: dict[str, Any]) -> gpd.GeoDataFrame:
    left, bottom, right, top = (float(v) for v in bounds)
    geoms = shapely.clip_by_rect(np.asarray(gdf.geometry.values), left, bottom, right, top)
    keep = ~shapely.is_empty(geoms) & np.isin(shapely.get_type_id(geoms), (1, 5))
    report["outside_extent_dropped"] = int((~keep).sum())
    if not keep.any():
        raise InputDataError(
            f"None of the {len(gdf)} streets of {where} lies within the twin's extent "
            f"({left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f}); is it the right area and CRS?"
        )
    out = gdf.loc[keep].copy()
    out = out.set_geometry(gpd.GeoSeries(geoms[keep], index=out.index, crs=gdf.crs), crs=gdf.crs)
    return out.explode(index_parts=False).reset_index(drop=True)


def _first(value: Any) -> Any:
    """The first of a list, or of a list written as text (OSMnx's merged edges: "['footway', 'steps']")."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return value[0] if len(value) else None
    return value


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
