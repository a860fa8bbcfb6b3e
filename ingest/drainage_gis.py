"""A sewer network from GIS layers: manholes and outfalls (points), pipes (lines), into a target CRS.

Column names (case-insensitive; the first present is used):

- manholes and outfalls: ``name`` (id, node_id, fid; else M1, M2 ... / O1, O2 ...), ``invert`` (invert_elev,
  invert_el, il; required) [m], ``rim`` (ground, cover_level, rim_elev, cl) [m] (missing: NaN, counted as
  "rim missing" for the twin to fill from its terrain);
- pipes: ``name`` (id, pipe_id; else P1 ...), ``from_node``/``to_node`` (from/to, us_node/ds_node; else each
  line end is snapped to the nearest node within ``snap_tolerance``), ``diameter`` (diam, size, geom1; m, or
  mm when above 10: converted and counted), ``shape`` (circular when missing), ``roughness`` (manning, n;
  default 0.013, counted), ``us_invert``/``ds_invert`` (in_invert/out_invert; default: the nodes' inverts),
  ``length`` (default: the line's length in the target CRS).

Only ingest: the twin writes the SWMM ``.inp`` (:func:`twin.sims.flood.sewer_design.write_inp`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ingest.errors import InputDataError
from ingest.vector import read_vector

__all__ = ["DrainageLayers", "read_drainage_layers", "SHAPES", "DEFAULT_ROUGHNESS"]

#: SWMM cross-section shapes a pipe may name (one size: geom1 = diameter or height).
SHAPES = ("CIRCULAR", "FORCE_MAIN", "FILLED_CIRCULAR", "RECT_CLOSED", "EGG", "HORSESHOE")
#: Manning's n of a pipe whose layer gives none (concrete).
DEFAULT_ROUGHNESS = 0.013

_NAME = ("name", "id", "node_id", "manhole_id", "fid_name")
_INVERT = ("invert", "invert_elev", "invert_el", "invertel", "il")
_RIM = ("rim", "rim_elev", "ground", "ground_level", "cover_level", "cover", "cl")
_PIPE_NAME = ("name", "id", "pipe_id", "link_id")
_FROM = ("from_node", "from", "us_node", "upstream", "inlet_node")
_TO = ("to_node", "to", "ds_node", "downstream", "outlet_node")
_DIAM = ("diameter", "diam", "size", "geom1", "dn")
_SHAPE = ("shape", "xsection", "profile")
_ROUGH = ("roughness", "manning", "manning_n", "n")
_US_INV = ("us_invert", "in_invert", "invert_us", "up_invert")
_DS_INV = ("ds_invert", "out_invert", "invert_ds", "down_invert")
_LENGTH = ("length", "len", "length_m")


@dataclass
class DrainageLayers:
    """A sewer network read from GIS layers, in the target CRS.

    Attributes
    ----------
    nodes : GeoDataFrame
        ``name``, ``kind`` (junction or outfall), ``invert``, ``rim`` (NaN where the layer gives none) [m], points.
    conduits : GeoDataFrame
        ``name``, ``from_node``, ``to_node``, ``length`` [m], ``roughness``, ``in_offset``, ``out_offset``
        (pipe invert above its node's invert) [m], ``shape``, ``geom1`` [m], lines.
    report : dict
        What was read and assumed (counts), for the twin's ingest report.
    """

    nodes: gpd.GeoDataFrame
    conduits: gpd.GeoDataFrame
    report: dict[str, Any] = field(default_factory=dict)


def read_drainage_layers(
    manholes: str | os.PathLike,
    pipes: str | os.PathLike,
    outfalls: str | os.PathLike | None = None,
    *,
    target_crs: Any,
    layer_crs: dict[str, Any] | None = None,
    snap_tolerance: float = 1.0,
) -> DrainageLayers:
    """Read manholes, pipes and outfalls (any vector files, ``file::layer``) into ``target_crs``.

    Parameters
    ----------
    manholes, pipes, outfalls
        The layers (see the module's column names); ``outfalls`` may be left out when the manholes
        layer has a ``kind`` (or ``type``) column saying ``outfall``.
    target_crs
        The twin's CRS.
    layer_crs
        CRS of a layer whose file declares none, by name (``manholes``, ``pipes``, ``outfalls``).
    snap_tolerance
        Largest distance [m] from a pipe end to the node it is snapped to, when pipes name no end nodes.

    Raises
    ------
    InputDataError
        A node without invert, an invert above its rim, a pipe end with no node within the tolerance,
        a pipe naming a node no layer holds, an unknown shape, a missing or non-positive diameter.
    """
    layer_crs = dict(layer_crs or {})
    report: dict[str, Any] = {"read": 0, "kept": 0}
    frames = []
    for name, spec, kind in (("manholes", manholes, "junction"), ("outfalls", outfalls, "outfall")):
        if spec is None:
            continue
        gdf = read_vector(spec, target_crs, src_crs=layer_crs.get(name), kind="point", name=name, report={})
        frames.append(_nodes(gdf, str(spec), kind, report))
    nodes = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    dup = nodes["name"][nodes["name"].duplicated()]
    if len(dup):
        raise InputDataError(
            f"Drainage node name {dup.iloc[0]!r} appears twice in {manholes}"
            + (f" / {outfalls}" if outfalls else "")
            + "; give every manhole and outfall its own name."
        )
    lines = read_vector(pipes, target_crs, src_crs=layer_crs.get("pipes"), kind="line", name="pipes", report={})
    conduits = _conduits(lines, str(pipes), nodes, snap_tolerance, report)
    report["manholes"] = int((nodes["kind"] == "junction").sum())
    report["outfalls"] = int((nodes["kind"] == "outfall").sum())
    report["pipes"] = len(conduits)
    report["read"] = len(nodes) + len(conduits)
    report["kept"] = report["read"]
    report["rim missing"] = int(nodes["rim"].isna().sum())
    # a .inp has no place for a cover's size: every manhole takes [drainage] inlet_area and inlet_perimeter
    report["inlet size from the scenario"] = report["manholes"]
    return DrainageLayers(nodes=nodes, conduits=conduits, report=report)


def _column(gdf: pd.DataFrame, names: Sequence[str]) -> str | None:
    lower = {str(c).lower(): c for c in gdf.columns if c != "geometry"}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def _numbers(gdf: pd.DataFrame, col: str, where: str, ids: Sequence[str]) -> np.ndarray:
    values = pd.to_numeric(gdf[col], errors="coerce").to_numpy(dtype=float)
    bad = pd.notna(gdf[col]).to_numpy() & ~np.isfinite(values)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputDataError(f"{where}: column {col!r} of feature {ids[k]} holds {gdf[col].iloc[k]!r}, not a number.")
    return values


def _nodes(gdf: gpd.GeoDataFrame, where: str, kind: str, report: dict[str, Any]) -> gpd.GeoDataFrame:
    col = _column(gdf, _NAME)
    prefix = "M" if kind == "junction" else "O"
    names = [str(v) for v in gdf[col]] if col is not None else [f"{prefix}{k + 1}" for k in range(len(gdf))]
    if col is None:
        report[f"{kind} names numbered"] = len(gdf)
    inv_col = _column(gdf, _INVERT)
    if inv_col is None:
        raise InputDataError(
            f"{where}: no invert column (looked for {', '.join(_INVERT)}); every manhole and outfall needs "
            "its invert elevation [m]."
        )
    invert = _numbers(gdf, inv_col, where, names)
    if np.isnan(invert).any():
        k = int(np.flatnonzero(np.isnan(invert))[0])
        raise InputDataError(f"{where}: feature {names[k]} has no invert (column {inv_col!r}); give its elevation [m].")
    rim_col = _column(gdf, _RIM)
    rim = _numbers(gdf, rim_col, where, names) if rim_col is not None else np.full(len(gdf), np.nan)
    above = np.isfinite(rim) & (invert > rim)
    if above.any():
        k = int(np.flatnonzero(above)[0])
        raise InputDataError(
            f"{where}: feature {names[k]} has its invert ({invert[k]:g} m, column {inv_col!r}) above its rim "
            f"({rim[k]:g} m, column {rim_col!r}); check both elevations."
        )
    kind_col = _column(gdf, ("kind", "type"))
    kinds = np.full(len(gdf), kind, dtype=object)
    if kind_col is not None:
        kinds[gdf[kind_col].astype(str).str.lower().str.startswith("outfall").to_numpy()] = "outfall"
    return gpd.GeoDataFrame(
        {"name": names, "kind": kinds, "invert": invert, "rim": rim}, geometry=gdf.geometry.values, crs=gdf.crs
    )


def _conduits(
    gdf: gpd.GeoDataFrame, where: str, nodes: gpd.GeoDataFrame, tol: float, report: dict[str, Any]
) -> gpd.GeoDataFrame:
    col = _column(gdf, _PIPE_NAME)
    names = [str(v) for v in gdf[col]] if col is not None else [f"P{k + 1}" for k in range(len(gdf))]
    f_col, t_col = _column(gdf, _FROM), _column(gdf, _TO)
    known = set(nodes["name"])
    if f_col is not None and t_col is not None:
        ends = [[str(v) for v in gdf[f_col]], [str(v) for v in gdf[t_col]]]
        for k, name in enumerate(names):
            for end, c in ((ends[0][k], f_col), (ends[1][k], t_col)):
                if end not in known:
                    raise InputDataError(
                        f"{where}: pipe {name} joins node {end!r} (column {c!r}), which no manhole or outfall "
                        "layer holds; check the node names."
                    )
    else:
        ends = _snap(gdf, where, names, nodes, tol, report)
    invert = dict(zip(nodes["name"], nodes["invert"]))
    diam_col = _column(gdf, _DIAM)
    if diam_col is None:
        raise InputDataError(f"{where}: no diameter column (looked for {', '.join(_DIAM)}); every pipe needs its size.")
    diam = _numbers(gdf, diam_col, where, names)
    if (np.isnan(diam) | (diam <= 0)).any():
        k = int(np.flatnonzero(np.isnan(diam) | (diam <= 0))[0])
        raise InputDataError(f"{where}: pipe {names[k]} has no positive diameter (column {diam_col!r}).")
    mm = diam > 10.0  # no sewer is 10 m across: such sizes are millimetres
    diam = np.where(mm, diam / 1000.0, diam)
    report["diameters in mm converted"] = int(mm.sum())
    shape_col = _column(gdf, _SHAPE)
    shapes = (
        [str(v).strip().upper() if pd.notna(v) else "CIRCULAR" for v in gdf[shape_col]]
        if shape_col is not None
        else ["CIRCULAR"] * len(gdf)
    )
    for k, s in enumerate(shapes):
        if s not in SHAPES:
            raise InputDataError(
                f"{where}: pipe {names[k]} has shape {s!r} (column {shape_col!r}); known shapes: {', '.join(SHAPES)}."
            )
    r_col = _column(gdf, _ROUGH)
    rough = _numbers(gdf, r_col, where, names) if r_col is not None else np.full(len(gdf), np.nan)
    report["roughness defaulted"] = int(np.isnan(rough).sum())
    rough = np.where(np.isnan(rough), DEFAULT_ROUGHNESS, rough)
    length = gdf.geometry.length.to_numpy(dtype=float)
    l_col = _column(gdf, _LENGTH)
    if l_col is not None:
        given = _numbers(gdf, l_col, where, names)
        length = np.where(np.isfinite(given), given, length)
    offsets = []
    for cols, end in ((_US_INV, ends[0]), (_DS_INV, ends[1])):
        c = _column(gdf, cols)
        node_inv = np.array([invert[n] for n in end])
        pipe_inv = _numbers(gdf, c, where, names) if c is not None else node_inv
        pipe_inv = np.where(np.isfinite(pipe_inv), pipe_inv, node_inv)
        offsets.append(np.maximum(pipe_inv - node_inv, 0.0))
    pos = dict(zip(nodes["name"], nodes.geometry))
    geoms = [shapely.LineString([pos[a], pos[b]]) for a, b in zip(*ends)]
    return gpd.GeoDataFrame(
        {
            "name": names,
            "from_node": ends[0],
            "to_node": ends[1],
            "length": np.maximum(length, 1e-3),
            "roughness": rough,
            "in_offset": offsets[0],
            "out_offset": offsets[1],
            "shape": shapes,
            "geom1": diam,
        },
        geometry=geoms,
        crs=nodes.crs,
    )


def _snap(
    gdf: gpd.GeoDataFrame,
    where: str,
    names: list[str],
    nodes: gpd.GeoDataFrame,
    tol: float,
    report: dict[str, Any],
) -> list[list[str]]:
    """Each line's first and last point to the nearest node within ``tol`` [m]."""
    xy = shapely.get_coordinates(nodes.geometry.values)
    ends: list[list[str]] = [[], []]
    worst = 0.0
    for k, line in enumerate(gdf.geometry.values):
        pts = shapely.get_coordinates(line)
        for side, p in enumerate((pts[0], pts[-1])):
            d = np.hypot(xy[:, 0] - p[0], xy[:, 1] - p[1])
            i = int(np.argmin(d))
            if d[i] > tol:
                raise InputDataError(
                    f"{where}: the {'start' if side == 0 else 'end'} of pipe {names[k]} lies {d[i]:.2f} m from the "
                    f"nearest node ({nodes['name'].iloc[i]}), beyond the {tol:g} m snapping tolerance; give "
                    "from_node/to_node columns, move the line end onto its manhole, or raise the tolerance."
                )
            worst = max(worst, float(d[i]))
            ends[side].append(str(nodes["name"].iloc[i]))
    report["pipe ends snapped"] = 2 * len(gdf)
    report["largest snap distance m"] = round(worst, 3)
    return ends
