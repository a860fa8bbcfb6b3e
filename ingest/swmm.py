"""An EPA SWMM 5 input file (``.inp``) read into georeferenced nodes and conduits.

Only what the 1D-2D coupling needs is read: the options, the nodes (junctions, outfalls, storage
units, dividers) with their invert, depth and rim, the links' end nodes, the conduits' length,
roughness, offsets and cross-section, and the nodes' map coordinates. SWMM itself reads the whole file
when the network runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from ingest.crs import as_crs, same_crs
from ingest.errors import InputDataError

__all__ = ["SewerNetwork", "read_inp", "FLOW_TO_M3S"]

#: Flow units SWMM reports in, as m3/s per unit; US units are refused (the twin works in metres).
FLOW_TO_M3S = {"CMS": 1.0, "LPS": 1e-3, "MLD": 1e3 / 86400.0}

_NODE_SECTIONS = {"JUNCTIONS": "junction", "OUTFALLS": "outfall", "STORAGE": "storage", "DIVIDERS": "divider"}
_LINK_SECTIONS = ("CONDUITS", "PUMPS", "ORIFICES", "WEIRS", "OUTLETS")


@dataclass
class SewerNetwork:
    """A sewer network from a SWMM ``.inp`` file, in the twin's CRS.

    Attributes
    ----------
    path : Path
        The ``.inp`` file.
    nodes : GeoDataFrame
        One row per node: ``name``, ``kind`` (junction, outfall, storage, divider), ``invert``,
        ``max_depth``, ``surcharge_depth``, ``rim`` (invert + max depth) [m], point geometry.
    conduits : GeoDataFrame
        One row per conduit: ``name``, ``from_node``, ``to_node``, ``length`` [m], ``roughness``
        (Manning's n), ``in_offset``, ``out_offset`` [m], ``shape``, ``geom1`` (diameter or height
        [m]), ``barrels``, line geometry from node to node.
    options : dict
        The ``[OPTIONS]`` section, keys upper-case (``FLOW_UNITS``, ``ROUTING_STEP``, ...).
    rows : dict
        Rows in the sections SWMM feeds the network from itself: ``SUBCATCHMENTS``, ``INFLOWS``, ``DWF``.
    """

    path: Path
    nodes: gpd.GeoDataFrame
    conduits: gpd.GeoDataFrame
    options: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def flow_units(self) -> str:
        return self.options.get("FLOW_UNITS", "CFS").upper()

    @property
    def routing_step(self) -> float:
        """The SWMM routing step [s] (``ROUTING_STEP``: seconds or ``H:MM:SS``)."""
        return _seconds(self.options.get("ROUTING_STEP", "20"))


def read_inp(path: str | os.PathLike, crs: Any, target_crs: Any | None = None) -> SewerNetwork:
    """Read a SWMM ``.inp`` file's network, its coordinates in ``crs``, into ``target_crs``.

    Parameters
    ----------
    path
        The ``.inp`` file.
    crs
        The CRS of its ``[COORDINATES]`` (SWMM files do not say; anything :func:`ingest.crs.as_crs` takes).
    target_crs
        The twin's CRS; the coordinates are reprojected into it (default: left in ``crs``).

    Raises
    ------
    InputDataError
        The file is missing or unreadable, uses US flow units, a node has no coordinates, a link names
        a node the file does not define, a node's invert lies above its rim, a number does not parse.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"SWMM input file {path} does not exist. Check [drainage] inp in the scenario.")
    try:
        sections = _sections(path.read_text(errors="replace"))
    except OSError as exc:
        raise InputDataError(f"SWMM input file {path} cannot be read ({exc}).") from None
    options = {r[0].upper(): " ".join(r[1:]) for r in sections.get("OPTIONS", []) if r}
    units = options.get("FLOW_UNITS", "CFS").upper()
    if units not in FLOW_TO_M3S:
        raise InputDataError(
            f"SWMM input file {path} uses FLOW_UNITS {units} (US units: feet); the twin works in "
            f"metres. Save the model in SI units ({', '.join(FLOW_TO_M3S)}) in SWMM and retry."
        )
    links = _links(sections, path)
    nodes = _nodes(sections, path, links)
    coords = {
        r[0]: (_num(r[1], path, "COORDINATES", r[0]), _num(r[2], path, "COORDINATES", r[0]))
        for r in sections.get("COORDINATES", [])
        if len(r) >= 3
    }
    missing = [n for n in nodes if n not in coords]
    if missing:
        raise InputDataError(
            f"SWMM input file {path}: node(s) {', '.join(missing[:5])} have no [COORDINATES]; "
            "every node needs map coordinates to be placed on the twin's grid."
        )
    for name, (kind, a, b) in links.items():
        for end in (a, b):
            if end not in nodes:
                raise InputDataError(
                    f"SWMM input file {path}: link {name} ([{kind}]) joins node {end}, which the "
                    "file does not define in [JUNCTIONS], [OUTFALLS], [STORAGE] or [DIVIDERS]."
                )
    src = as_crs(crs, what=f"[drainage] crs of {path.name}")
    names = list(nodes)
    x = np.array([coords[n][0] for n in names], dtype=float)
    y = np.array([coords[n][1] for n in names], dtype=float)
    out_crs = src
    if target_crs is not None and not same_crs(src, target_crs):
        out_crs = as_crs(target_crs)
        x, y = pyproj.Transformer.from_crs(src, out_crs, always_xy=True).transform(x, y)
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if bad.any():
            first = names[int(np.flatnonzero(bad)[0])]
            raise InputDataError(
                f"SWMM input file {path}: {int(bad.sum())} node(s), {first} first, cannot be placed in "
                f"the twin's CRS from {src.to_string()}: their coordinates do not fit that CRS. Check "
                "[drainage] crs: it must be the CRS of the .inp's coordinates."
            )
    node_gdf = gpd.GeoDataFrame(
        {
            "name": names,
            **{k: [nodes[n][k] for n in names] for k in ("kind", "invert", "max_depth", "surcharge_depth")},
        },
        geometry=shapely.points(x, y),
        crs=out_crs,
    )
    _fill_zero_depths(node_gdf, sections, path)
    node_gdf["rim"] = node_gdf["invert"] + node_gdf["max_depth"]
    return SewerNetwork(
        path=path,
        nodes=node_gdf,
        conduits=_conduits(sections, path, node_gdf),
        options=options,
        rows={k: len(sections.get(k, [])) for k in ("SUBCATCHMENTS", "INFLOWS", "DWF")},
    )


def _sections(text: str) -> dict[str, list[list[str]]]:
    """Rows (whitespace-split, comments dropped) of each ``[SECTION]``."""
    out: dict[str, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip().upper()
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line.split())
    return out


def _num(value: str, path: Path, section: str, name: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise InputDataError(
            f"SWMM input file {path}: [{section}] {name} has {value!r} where a number belongs."
        ) from None
    if not np.isfinite(v):
        raise InputDataError(f"SWMM input file {path}: [{section}] {name} has a non-finite number {value!r}.")
    return v


def _seconds(text: str) -> float:
    parts = [float(p) for p in str(text).split(":")]
    total = 0.0
    for p in parts:
        total = total * 60.0 + p
    return total


def _links(sections: dict, path: Path) -> dict[str, tuple[str, str, str]]:
    links = {}
    for sec in _LINK_SECTIONS:
        for r in sections.get(sec, []):
            if len(r) < 3:
                raise InputDataError(f"SWMM input file {path}: [{sec}] row {' '.join(r)!r} lacks its two end nodes.")
            links[r[0]] = (sec, r[1], r[2])
    return links


def _nodes(sections: dict, path: Path, links: dict) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for sec, kind in _NODE_SECTIONS.items():
        for r in sections.get(sec, []):
            if len(r) < 2:
                raise InputDataError(f"SWMM input file {path}: [{sec}] row {' '.join(r)!r} lacks its elevation.")
            invert = _num(r[1], path, sec, r[0])
            depth, surcharge = 0.0, 0.0
            if kind in ("junction", "storage") and len(r) >= 3:
                depth = _num(r[2], path, sec, r[0])
            if kind == "junction" and len(r) >= 5:
                surcharge = _num(r[4], path, sec, r[0])
            if depth < 0:
                raise InputDataError(
                    f"SWMM input file {path}: [{sec}] node {r[0]} has MaxDepth {depth:g} m: its "
                    f"invert ({invert:g} m) lies above its rim ({invert + depth:g} m). Give the "
                    "depth from invert to rim (>= 0)."
                )
            nodes[r[0]] = {"kind": kind, "invert": invert, "max_depth": depth, "surcharge_depth": surcharge}
    return nodes


def _fill_zero_depths(nodes: gpd.GeoDataFrame, sections: dict, path: Path) -> None:
    """A junction with MaxDepth 0 is as deep as its highest connected crown (SWMM's own rule)."""
    crowns: dict[str, float] = {}
    geom = {r[0]: float(r[2]) for r in sections.get("XSECTIONS", []) if len(r) >= 3 and _isnum(r[2])}
    for r in sections.get("CONDUITS", []):
        if len(r) >= 7:
            d = geom.get(r[0], 0.0)
            for end, off in ((r[1], r[5]), (r[2], r[6])):
                if _isnum(off):
                    crowns[end] = max(crowns.get(end, 0.0), float(off) + d)
    zero = (nodes["max_depth"] == 0) & (nodes["kind"] == "junction")
    nodes.loc[zero, "max_depth"] = [crowns.get(n, 0.0) for n in nodes.loc[zero, "name"]]


def _isnum(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _conduits(sections: dict, path: Path, nodes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    xs = {r[0]: r for r in sections.get("XSECTIONS", [])}
    at = {name: k for k, name in enumerate(nodes["name"])}
    rows, ends = [], []
    for r in sections.get("CONDUITS", []):
        if len(r) < 5:
            raise InputDataError(f"SWMM input file {path}: [CONDUITS] row {' '.join(r)!r} lacks length and roughness.")
        x = xs.get(r[0], [r[0], "DUMMY", "0", "0", "0", "0", "1"])
        rows.append(
            {
                "name": r[0],
                "from_node": r[1],
                "to_node": r[2],
                "length": _num(r[3], path, "CONDUITS", r[0]),
                "roughness": _num(r[4], path, "CONDUITS", r[0]),
                "in_offset": _num(r[5], path, "CONDUITS", r[0]) if len(r) > 5 and _isnum(r[5]) else 0.0,
                "out_offset": _num(r[6], path, "CONDUITS", r[0]) if len(r) > 6 and _isnum(r[6]) else 0.0,
                "shape": x[1].upper() if len(x) > 1 else "DUMMY",
                "geom1": float(x[2]) if len(x) > 2 and _isnum(x[2]) else 0.0,
                "barrels": int(float(x[6])) if len(x) > 6 and _isnum(x[6]) else 1,
            }
        )
        ends.append((at[r[1]], at[r[2]]))
    cols = [
        "name",
        "from_node",
        "to_node",
        "length",
        "roughness",
        "in_offset",
        "out_offset",
        "shape",
        "geom1",
        "barrels",
    ]
    # the pipes' lines made at once from the nodes' coordinates (one LineString at a time from the nodes'
    # Points took most of the reading of a network of 800 pipes, which a coupled run does at its start)
    xy = shapely.get_coordinates(nodes.geometry.to_numpy())
    lines = shapely.linestrings(xy[np.asarray(ends, dtype=np.int64).reshape(-1, 2)]) if ends else []
    return gpd.GeoDataFrame(rows if rows else {c: [] for c in cols}, geometry=lines, crs=nodes.crs)
