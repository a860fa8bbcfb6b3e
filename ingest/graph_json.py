"""Line layers from a node-link graph saved as JSON, as OSMnx writes a street or river network
(``osmnx.save_graph_geojson`` aside, ``networkx.node_link_data`` + ``json.dump``); ``osmnx`` itself is not needed.
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
from ingest.vector import split_layer_path

__all__ = ["is_graph_json", "read_graph_lines", "clip_lines", "merged_values"]


def merged_values(value: Any) -> list[Any]:
    """The values of an attribute of an edge OSMnx merged from several ways: a list, or that list written
    as text by a file format without lists (``"['footway', 'steps']"``); a single value as a list of one."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]


def is_graph_json(path: str | os.PathLike) -> bool:
    """True for a JSON file holding a node-link graph (``nodes`` and ``links`` or ``edges``), as OSMnx
    and ``networkx.node_link_data`` write it; False for GeoJSON and anything else."""
    file, _ = split_layer_path(path)
    if file.suffix.lower() != ".json" or not file.is_file():
        return False
    with open(file, "rb") as fh:
        head = fh.read(4096).decode("utf-8", "replace")
    return '"nodes"' in head and '"FeatureCollection"' not in head


def read_graph_lines(
    path: str | os.PathLike,
    crs: object,
    *,
    src_crs: object | None = None,
    layer: str = "roads",
    report: dict[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    """The edges of a node-link graph as lines in ``crs``, one per edge (the two directions of a
    two-way edge merged), with the edges' attributes as columns.

    Parameters
    ----------
    path
        The JSON file.
    crs
        The twin's CRS.
    src_crs
        The CRS of a graph that declares none (``graph.crs``).
    layer
        The twin layer it is read for ("roads", "rivers"): errors name it.
    report
        Receives ``read``, ``directions_merged``, ``crs`` and ``reprojected``.

    Raises
    ------
    InputDataError
        Not a readable node-link graph, or no edge with a geometry.
    CRSError
        No CRS in the graph and no ``src_crs``.
    """
    report = {} if report is None else report
    file = Path(split_layer_path(path)[0])
    try:
        data = json.loads(file.read_text())
        nodes = {n["id"]: (float(n["x"]), float(n["y"])) for n in data["nodes"]}
        links = data.get("links", data.get("edges"))
        if links is None:
            raise KeyError("links")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputDataError(
            f"{file} is not a readable {layer} graph ({type(exc).__name__}: {exc}); give node-link JSON as OSMnx "
            "writes it (nodes with id, x, y; links with source, target and optionally geometry)."
        ) from None
    declared = (data.get("graph") or {}).get("crs")
    if declared is None and src_crs is None:
        raise CRSError(
            f"The {layer} graph {file} declares no CRS (graph.crs); give it, e.g. layer_crs={{'{layer}': "
            f"'EPSG:32631'}} (--layer-crs {layer}=EPSG:32631)."
        )
    graph_crs = as_crs(declared if declared is not None else src_crs, what=f"the CRS of {file}")
    rows, geoms, seen = [], [], set()
    for link in links:
        u, v = link.get("source"), link.get("target")
        key = (min(str(u), str(v)), max(str(u), str(v)), link.get("key", 0), round(float(link.get("length") or 0), 3))
        if key in seen:  # the other direction of a two-way edge
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
        raise InputDataError(f"The {layer} graph {file} holds no edges with a geometry or known end nodes.")
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=graph_crs)
    report["crs"] = crs_label(graph_crs)
    target = as_crs(crs)
    if not same_crs(graph_crs, target):
        gdf = gdf.to_crs(target)
        report["reprojected"] = f"{report['crs']} -> {crs_label(target)}"
    return gdf.set_crs(target, allow_override=True)


def clip_lines(
    gdf: gpd.GeoDataFrame, bounds: Sequence[float], where: str, report: dict[str, Any], *, what: str = "streets"
) -> gpd.GeoDataFrame:
    """``gdf``'s lines cut at ``bounds`` (``xmin, ymin, xmax, ymax``), one line per row; the count of
    rows left with nothing inside goes to ``report["outside_extent_dropped"]``.

    Raises
    ------
    InputDataError
        No line within ``bounds``.
    """
    left, bottom, right, top = (float(v) for v in bounds)
    geoms = shapely.clip_by_rect(np.asarray(gdf.geometry.values), left, bottom, right, top)
    keep = ~shapely.is_empty(geoms) & np.isin(shapely.get_type_id(geoms), (1, 5))
    report["outside_extent_dropped"] = int((~keep).sum())
    if not keep.any():
        raise InputDataError(
            f"None of the {len(gdf)} {what} of {where} lies within the twin's extent "
            f"({left:.1f}, {bottom:.1f}, {right:.1f}, {top:.1f}); is it the right area and CRS?"
        )
    out = gdf.loc[keep].copy()
    out = out.set_geometry(gpd.GeoSeries(geoms[keep], index=out.index, crs=gdf.crs), crs=gdf.crs)
    return out.explode(index_parts=False).reset_index(drop=True)
