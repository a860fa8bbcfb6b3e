"""Terrain hydrology of a twin: filled DEM, D8 directions, accumulation, basins, streams and HAND.

Joins the twin's grids to :mod:`kernels.terrain` and writes the results as GeoTIFFs and a
GeoPackage of stream links in the twin's CRS.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kernels import terrain as _k

from . import _io
from .errors import InputDataError
from .model import Twin

__all__ = ["terrain_analysis", "stream_links_frame", "write_terrain_analysis"]

BURN_MODES = ("block", "none")
FLAT_MODES = ("epsilon", "resolve")
# float32 keeps a 1e-4 m step distinct up to about 1000 m but not beyond, so the tiff gets float64
_RASTERS = {
    "filled_dem": ("filled", np.float64, np.nan),
    "flow_direction": ("flow_direction", np.uint8, _k.NODATA_DIR),
    "accumulation": ("accumulation", np.float64, None),
    "watersheds": ("watersheds", np.int32, 0),
    "hand": ("hand", np.float32, np.nan),
}


def terrain_analysis(twin: Twin, *, threshold_cells: int = 100, burn_buildings: str = "block",
                     flats: str = "epsilon", epsilon: float = 1e-4,
                     out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Hydrological terrain analysis on the twin's grid.

    Parameters
    ----------
    twin : Twin
        Its terrain, cell size and (with ``burn_buildings="block"``) buildings are used.
    threshold_cells : int
        A cell is a stream cell when at least this many cells (itself included) drain through it.
    burn_buildings : {"block", "none"}
        ``"block"`` raises building cells to their roofs so water flows around buildings (the
        twin's ``burned_terrain``); ``"none"`` uses the bare terrain.
    flats : {"epsilon", "resolve"}
        How filled depressions and flats drain: ``"epsilon"`` fills with a tiny gradient
        (Priority-Flood + epsilon; paths run in parallel lines across flats), ``"resolve"`` fills to
        the spill level and directs flat cells towards lower and away from higher terrain
        (Barnes et al. 2014; convergent paths, the filled DEM stays level).
    epsilon : float
        Gradient [m] per cell for ``flats="epsilon"``; filled cells sit at most a few ``epsilon``
        per cell above the spill level.
    out : path, optional
        Folder to write (atomically) with :func:`write_terrain_analysis`.

    Returns
    -------
    dict with ``filled``, ``flow_direction`` (ESRI D8 codes), ``accumulation`` (cells),
    ``upstream_area_m2``, ``watersheds`` (one label per domain outlet, 1..n), ``streams`` (bool),
    ``strahler``, ``hand`` [m], ``links`` (:class:`kernels.terrain.StreamLinks`, lengths in metres).
    """
    if burn_buildings not in BURN_MODES:
        raise InputDataError(f"burn_buildings = {burn_buildings!r} is not known; use one of {BURN_MODES}")
    if int(threshold_cells) != threshold_cells or threshold_cells < 1:
        raise InputDataError(f"threshold_cells = {threshold_cells} must be a whole number of cells >= 1")
    if flats not in FLAT_MODES:
        raise InputDataError(f"flats = {flats!r} is not known; use one of {FLAT_MODES}")
    if not np.isfinite(epsilon) or epsilon <= 0:
        raise InputDataError(f"epsilon = {epsilon} must be > 0 m so that flats drain; 1e-4 suits DEMs in metres")
    z = twin.burned_terrain if burn_buildings == "block" else twin.terrain
    dx = float(twin.cell_size)
    filled = _k.fill_depressions(z, epsilon=epsilon if flats == "epsilon" else 0.0)
    d8 = _k.d8_directions(filled, dx=dx)
    if flats == "resolve":
        d8 = _k.resolve_flats(filled, d8, dx=dx)
    acc = _k.flow_accumulation(d8)
    down = _k.downstream_index(d8)
    outlets = np.flatnonzero(down < 0)
    rows, cols = np.divmod(outlets, d8.shape[1])
    streams = acc >= threshold_cells
    links = _k.stream_links(d8, streams, dx=dx)
    result = {
        "filled": filled,
        "flow_direction": d8,
        "accumulation": acc,
        "upstream_area_m2": acc * dx * dx,
        "watersheds": _k.watersheds(d8, rows, cols),
        "streams": streams,
        "strahler": _k.strahler_order(d8, streams),
        "hand": _k.hand(filled, d8, streams),
        "links": links,
        "threshold_cells": int(threshold_cells),
    }
    if out is not None:
        write_terrain_analysis(twin, result, out)
    return result


def stream_links_frame(twin: Twin, result: dict[str, Any]):
    """The stream links as a GeoDataFrame of lines through cell centres, in the twin's CRS.

    Columns: ``link_id``, ``downstream_id`` (0 at an outlet), ``order`` (Strahler), ``length_m``
    (along the line), ``slope`` (drop of the filled DEM over ``length_m``). Each line runs from
    the link's top cell to the cell its last cell drains to, so links meet at junctions.
    """
    import geopandas as gpd
    import shapely

    links = result["links"]
    ids = links.ids.ravel()
    order, down = _k.topological_order(result["flow_direction"])
    rank = np.empty(ids.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    cells = np.flatnonzero(ids)
    cells = cells[np.lexsort((rank[cells], ids[cells]))]  # by link, then downstream along it
    end = down[links.bottom]
    has_end = end >= 0
    # append each link's receiver after its last cell
    lid = ids[cells]
    ins = np.searchsorted(lid, np.arange(1, links.downstream.size + 1), side="right")[has_end]
    path = np.insert(cells, ins, end[has_end])
    part = np.insert(lid, ins, np.flatnonzero(has_end) + 1) - 1
    rows, cols = np.divmod(path, links.ids.shape[1])
    x, y = twin.xy(rows, cols)
    # a link of one cell draining off the grid is a point: give it a zero-length line
    single = np.bincount(part, minlength=links.downstream.size) == 1
    if single.any():
        dup = np.flatnonzero(single[part])
        path_x, path_y, part = (np.insert(np.asarray(x, float), dup, np.asarray(x, float)[dup]),
                                np.insert(np.asarray(y, float), dup, np.asarray(y, float)[dup]),
                                np.insert(part, dup, part[dup]))
    else:
        path_x, path_y = np.asarray(x, float), np.asarray(y, float)
    geom = shapely.linestrings(np.column_stack([path_x, path_y]), indices=part)
    z = result["filled"].ravel()
    last = np.where(has_end, end, links.bottom)
    drop = z[links.top] - z[last]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(links.length > 0, drop / links.length, 0.0)
    return gpd.GeoDataFrame({
        "link_id": np.arange(1, links.downstream.size + 1, dtype=np.int32),
        "downstream_id": links.downstream.astype(np.int32),
        "order": links.order.astype(np.int32),
        "length_m": links.length,
        "slope": slope,
    }, geometry=geom, crs=twin.crs)


def write_terrain_analysis(twin: Twin, result: dict[str, Any], out: str | os.PathLike) -> Path:
    """Write ``filled_dem.tif``, ``flow_direction.tif``, ``accumulation.tif``, ``watersheds.tif``,
    ``hand.tif`` and ``streams.gpkg`` (layer ``streams``) into the folder ``out``, atomically."""
    with _io.atomic_dir(out) as tmp:
        for name, (key, dtype, nodata) in _RASTERS.items():
            _io.write_geotiff(tmp / f"{name}.tif", np.asarray(result[key]).astype(dtype), twin.transform, twin.crs,
                              nodata=nodata)
        frame = stream_links_frame(twin, result)
        if len(frame):
            frame.to_file(tmp / "streams.gpkg", layer="streams", driver="GPKG", engine="pyogrio")
    return Path(out)
