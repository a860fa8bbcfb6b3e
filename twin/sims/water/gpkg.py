"""Supply networks from GIS: a GeoPackage's ``nodes`` (points) and ``links`` layers as scenario entries.

A water scenario's ``network = "supply.gpkg"`` reads the nodes and links there; ``[[node]]`` entries of
the TOML with the same name add to or override a node's attributes (guide curves, tables and monthly
profiles are easier written there), and ``[[link]]`` entries add links.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# columns that hold lists, written as JSON text in a GeoPackage column
_JSON_COLUMNS = ("monthly", "table", "zones")


def read_network(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Nodes and links of a supply-network GeoPackage as scenario dicts, and the nodes' CRS (WKT).

    Raises
    ------
    ValueError
        A missing file or layer, nodes without a name, type or point geometry, no CRS; the message
        names the layer and row and says what to fix (the scenario turns it into a ScenarioError).
    """
    import pyogrio

    from ingest.crs import as_crs
    from ingest.vector import read_vector
    from twin.errors import TwinError

    if not path.is_file():
        raise ValueError(f"network file {path} does not exist; give a GeoPackage with layers 'nodes' and 'links'")
    try:
        layers = {name for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:  # noqa: BLE001 - pyogrio raises its own errors for corrupt files
        raise ValueError(f"network file {path} cannot be read as a GeoPackage ({exc})") from None
    if "nodes" not in layers:
        raise ValueError(
            f"network file {path} has no 'nodes' layer (it has {sorted(layers)}); name the layer of "
            "points 'nodes' (and the links 'links')"
        )
    crs = pyogrio.read_info(path, layer="nodes").get("crs")
    if not crs:
        raise ValueError(
            f"{path}::nodes declares no CRS; set one (e.g. ogr2ogr -a_srs EPSG:4547) so that the nodes "
            "can be placed in the twin"
        )
    try:
        nodes = read_vector(path, as_crs(crs), layer="nodes", kind="point", name="nodes")
    except TwinError as exc:
        raise ValueError(str(exc)) from None
    for col in ("name", "type"):
        if col not in nodes.columns:
            raise ValueError(f"{path}::nodes has no '{col}' column; every node needs a name and a type")
    node_list = [_row(nodes, i, path, "nodes", _JSON_COLUMNS) for i in range(len(nodes))]
    for entry, geom in zip(node_list, nodes.geometry.values, strict=True):
        entry["at"] = [float(geom.x), float(geom.y)]
    link_list: list[dict[str, Any]] = []
    if "links" in layers:
        links = pyogrio.read_dataframe(path, layer="links", read_geometry=False)
        for col in ("from", "to"):
            if col not in links.columns:
                raise ValueError(f"{path}::links has no '{col}' column; every link needs from and to node names")
        link_list = [_row(links, i, path, "links", ()) for i in range(len(links))]
    return node_list, link_list, as_crs(crs).to_wkt()


def _row(frame, i: int, path: Path, layer: str, json_columns: tuple[str, ...]) -> dict[str, Any]:
    """One feature's attributes as a scenario entry: empty cells left out, numbers as Python numbers."""
    import json

    out: dict[str, Any] = {}
    for col in frame.columns:
        if col == "geometry" or col == "fid":
            continue
        v = frame[col].iloc[i]
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, np.generic):
            v = v.item()
        if col in json_columns and isinstance(v, str):
            try:
                v = json.loads(v)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{path}::{layer} row {i} column {col!r} is not JSON ({exc.msg}); write it as "
                    "in the TOML, e.g. [0.9, 1.0, ...]"
                ) from None
        out[col] = v
    return out


def merge_nodes(from_file: list[dict[str, Any]], from_toml: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The file's nodes with the TOML's entries of the same name laid over them, then the TOML's others."""
    by_name = {n.get("name"): i for i, n in enumerate(from_file)}
    merged = [dict(n) for n in from_file]
    extra = []
    for entry in from_toml:
        i = by_name.get(entry.get("name")) if isinstance(entry, dict) else None
        if i is None:
            extra.append(entry)
        else:
            merged[i].update(entry)
    return merged + extra
