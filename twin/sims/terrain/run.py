"""Terrain hydrology of a twin: filled DEM, D8 directions, accumulation, basins, streams and HAND.

Joins the twin's grids to :mod:`kernels.terrain` and writes the results as GeoTIFFs and a
GeoPackage of stream links in the twin's CRS. Buildings can block flow (raised to their roofs) or be
ignored; culverts and bridges (lines) are carved through embankments before depressions are filled
or breached.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kernels import terrain as _k
from twin import _io
from twin.errors import CRSError, InputDataError
from twin.model.twin import Twin
from twin.sims.base import Result, common_summary
from twin.sims.terrain.scenario import TerrainScenario

__all__ = [
    "TerrainResult",
    "TerrainScenario",
    "run",
    "terrain_analysis",
    "conditioned_dem",
    "culvert_paths",
    "stream_links_frame",
    "write_terrain_analysis",
]

BURN_MODES = ("block", "ignore", "none")  # "none" is the older name of "ignore"
FLAT_MODES = ("epsilon", "resolve")
DEPRESSION_MODES = ("fill", "breach")
# float32 keeps a 1e-4 m step distinct up to about 1000 m but not beyond, so the tiff gets float64
_RASTERS = {
    "filled_dem": ("filled", np.float64, np.nan),
    "flow_direction": ("flow_direction", np.uint8, _k.NODATA_DIR),
    "accumulation": ("accumulation", np.float64, None),
    "watersheds": ("watersheds", np.int32, 0),
    "hand": ("hand", np.float32, np.nan),
    # written only when computed
    "weighted_accumulation": ("weighted_accumulation", np.float64, None),
    "dinf_angle": ("dinf_angle", np.float64, np.nan),
    "dinf_accumulation": ("dinf_accumulation", np.float64, None),
    "pour_watersheds": ("pour_watersheds", np.int32, 0),
}


def terrain_analysis(
    twin: Twin,
    *,
    threshold_cells: int = 100,
    burn_buildings: str = "block",
    flats: str = "epsilon",
    epsilon: float = 1e-4,
    depressions: str = "fill",
    breach_max_depth: float = np.inf,
    breach_max_length: int = 50,
    culverts: str | Any | None = None,
    weights: str | np.ndarray | None = None,
    dinf: bool = False,
    pour_points: Any = None,
    snap_distance: float = 0.0,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Hydrological terrain analysis on the twin's grid.

    Parameters
    ----------
    twin : Twin
        Its terrain, cell size and (with ``burn_buildings="block"``) buildings are used.
    threshold_cells : int
        A cell is a stream cell when at least this many cells (itself included) drain through it.
    burn_buildings : {"block", "ignore"}
        ``"block"`` raises building cells to their roofs so water flows around buildings (the
        twin's ``burned_terrain``); ``"ignore"`` (or ``"none"``) uses the bare terrain, so water
        flows through them as if they were not there.
    flats : {"epsilon", "resolve"}
        How filled depressions and flats drain: ``"epsilon"`` fills with a tiny gradient
        (Priority-Flood + epsilon; paths run in parallel lines across flats), ``"resolve"`` fills to
        the spill level and directs flat cells towards lower and away from higher terrain
        (Barnes et al. 2014; convergent paths, the filled DEM stays level).
    epsilon : float
        Gradient [m] per cell for ``flats="epsilon"``; filled cells sit at most a few ``epsilon``
        per cell above the spill level.
    depressions : {"fill", "breach"}
        ``"fill"`` raises every depression to its spill level (Priority-Flood); ``"breach"`` first
        carves channels out of depressions through thin barriers
        (:func:`kernels.terrain.breach_depressions`) and fills only what cannot be breached.
    breach_max_depth, breach_max_length : float, int
        Deepest cut [m] and longest channel [cells] for ``depressions="breach"``.
    culverts : str or GeoDataFrame of lines, optional
        Culverts and bridges: the name of one of the twin's vector layers, or lines in any CRS.
        Each line is carved into the DEM from end to end (see :func:`conditioned_dem`).
    weights : "impervious" or (ny, nx) array, optional
        Also accumulate these per-cell values (``"impervious"``: the twin's impervious fraction,
        so the result is the impervious area upstream in cells) as ``weighted_accumulation``.
    dinf : bool
        Also compute D-infinity angles (``dinf_angle``, radians counter-clockwise from east) and
        their proportional accumulation (``dinf_accumulation``, cells). Streams, basins and HAND
        stay on D8.
    pour_points : sequence of (x, y) in the twin's CRS, optional
        Delineate the catchment of each point (labels 1..n in ``pour_watersheds``, a nested point
        keeps its own sub-catchment) instead of only the domain outlets' basins.
    snap_distance : float
        Move each pour point to the cell of largest accumulation within this distance [m] (a gauge
        or intake drawn beside the stream still gets the stream's catchment).
    out : path, optional
        Folder to write (atomically) with :func:`write_terrain_analysis`; checked before any work
        (see :func:`twin._io.check_out`).
    overwrite : bool
        Let ``out`` replace a cimtwin folder of another kind.

    Returns
    -------
    dict with ``filled`` (the conditioned DEM: culverts carved, depressions filled or breached),
    ``flow_direction`` (ESRI D8 codes), ``accumulation`` (cells), ``upstream_area_m2``,
    ``watersheds`` (one label per domain outlet, 1..n), ``streams`` (bool), ``strahler``,
    ``hand`` [m], ``links`` (:class:`kernels.terrain.StreamLinks`, lengths in metres), and the
    optional ``weighted_accumulation``, ``dinf_angle``, ``dinf_accumulation``, and with
    ``pour_points`` ``pour_watersheds`` and ``pour_cells`` (the snapped (row, col) of each point).
    """
    if int(threshold_cells) != threshold_cells or threshold_cells < 1:
        raise InputDataError(f"threshold_cells = {threshold_cells} must be a whole number of cells >= 1")
    if out is not None:
        _io.check_out(out, "terrain", inputs=[twin.path], overwrite=overwrite)
    if flats not in FLAT_MODES:
        raise InputDataError(f"flats = {flats!r} is not known; use one of {FLAT_MODES}")
    if not np.isfinite(epsilon) or epsilon <= 0:
        raise InputDataError(f"epsilon = {epsilon} must be > 0 m so that flats drain; 1e-4 suits DEMs in metres")
    if depressions not in DEPRESSION_MODES:
        raise InputDataError(f"depressions = {depressions!r} is not known; use one of {DEPRESSION_MODES}")
    w = _weights(twin, weights)
    z = conditioned_dem(twin, burn_buildings=burn_buildings, culverts=culverts)
    dx = float(twin.cell_size)
    eps = epsilon if flats == "epsilon" else 0.0
    if depressions == "breach":
        try:
            filled = _k.breach_depressions(z, max_depth=breach_max_depth, max_length=breach_max_length, epsilon=eps)
        except ValueError as e:
            raise InputDataError(f"{e}: adjust breach_max_depth / breach_max_length") from None
    else:
        filled = _k.fill_depressions(z, epsilon=eps)
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
    if w is not None:
        result["weighted_accumulation"] = _k.flow_accumulation(d8, w)
    if dinf:
        angle = _k.dinf_directions(filled, dx=dx)
        result["dinf_angle"] = angle
        result["dinf_accumulation"] = _k.flow_accumulation_dinf(angle, dx=dx)
    if pour_points is not None:
        cells = _pour_cells(twin, pour_points, acc, snap_distance)
        result["pour_cells"] = cells
        result["pour_watersheds"] = _k.watersheds(d8, cells[:, 0], cells[:, 1])
    if out is not None:
        write_terrain_analysis(twin, result, out, overwrite=overwrite)
    return result


def _pour_cells(twin: Twin, points: Any, acc: np.ndarray, snap_distance: float) -> np.ndarray:
    """(row, col) of each pour point, snapped to the largest accumulation within ``snap_distance``."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2) if len(points) else np.zeros((0, 2))
    if not len(pts):
        raise InputDataError("pour_points is empty; give at least one [x, y] in the twin's CRS")
    if not np.isfinite(snap_distance) or snap_distance < 0:
        raise InputDataError(f"snap_distance = {snap_distance} must be >= 0 m")
    rows, cols = twin.index(pts[:, 0], pts[:, 1])
    ny, nx = twin.shape
    outside = np.flatnonzero((rows < 0) | (rows >= ny) | (cols < 0) | (cols >= nx))
    if outside.size:
        i = int(outside[0])
        raise InputDataError(
            f"pour point {i} at ({pts[i, 0]:.1f}, {pts[i, 1]:.1f}) is outside the twin's grid; "
            "give points in the twin's CRS inside its bounds"
        )
    radius = int(np.ceil(snap_distance / twin.cell_size))
    return np.array([_k.snap_to_stream(acc, int(r), int(c), radius) for r, c in zip(rows, cols)], dtype=np.int64)


def _weights(twin: Twin, weights: str | np.ndarray | None) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights != "impervious":
            raise InputDataError(f"weights = {weights!r} is not known; use 'impervious' or give a grid")
        return np.asarray(twin.impervious, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != twin.shape:
        raise InputDataError(f"weights have shape {w.shape}, the twin's grid is {twin.shape}; resample them first")
    return w


def conditioned_dem(twin: Twin, *, burn_buildings: str = "block", culverts: str | Any | None = None) -> np.ndarray:
    """The twin's terrain prepared for flow routing: buildings blocking or ignored, culverts carved.

    Parameters
    ----------
    twin : Twin
    burn_buildings : {"block", "ignore"}
        See :func:`terrain_analysis`.
    culverts : str or GeoDataFrame of lines, optional
        A vector layer of the twin (by name) or lines with a CRS. Each line's cells (in order along
        it, see :func:`culvert_paths`) are lowered linearly between the elevations of its two end
        cells, never raised (:func:`kernels.terrain.carve_path`): water passes through the
        embankment from the higher end to the lower one whichever way the line was digitised.

    Returns
    -------
    (ny, nx) float64 DEM (a new array).
    """
    if burn_buildings not in BURN_MODES:
        raise InputDataError(f"burn_buildings = {burn_buildings!r} is not known; use 'block' or 'ignore'")
    z = np.array(twin.burned_terrain if burn_buildings == "block" else twin.terrain, dtype=np.float64)
    if culverts is not None:
        for rows, cols in culvert_paths(twin, culverts):
            z = _k.carve_path(z, rows, cols)
    return z


def culvert_paths(twin: Twin, culverts: str | Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """The grid cells of each culvert line, in order along it: ``[(rows, cols), ...]``.

    Lines are clipped to the grid and sampled every quarter cell, so consecutive cells are
    neighbours; multi-part lines give one path per part. Lines inside a single cell are skipped
    (nothing to carve).
    """
    import geopandas as gpd
    import shapely

    from ingest.crs import same_crs

    if isinstance(culverts, str):
        layers = twin.vectors
        if culverts not in layers:
            raise InputDataError(
                f"the twin has no vector layer {culverts!r} for culverts; "
                f"its layers: {sorted(layers)}. Add one with twin.set_vector(name, gdf)"
            )
        gdf = layers[culverts]
    elif isinstance(culverts, gpd.GeoDataFrame):
        gdf = culverts
        if gdf.crs is None:
            raise CRSError("the culvert lines have no CRS; set it with gdf.set_crs(...)")
        if not same_crs(gdf.crs, twin.crs):
            gdf = gdf.to_crs(twin.crs)
    else:
        raise InputDataError(f"culverts must be a vector layer name or a GeoDataFrame, got {type(culverts).__name__}")
    xmin, ymin, xmax, ymax = twin.bounds
    ny, nx = twin.shape
    step = 0.25 * float(twin.cell_size)
    paths = []
    for geom in gdf.geometry:
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("LineString", "MultiLineString"):
            raise InputDataError(f"culverts must be lines, got a {geom.geom_type}; draw each culvert from end to end")
        clipped = shapely.clip_by_rect(geom, xmin, ymin, xmax, ymax)
        for part in getattr(clipped, "geoms", [clipped]):
            if part.is_empty or part.geom_type != "LineString":
                continue
            pts = shapely.line_interpolate_point(
                part, np.linspace(0.0, part.length, int(np.ceil(part.length / step)) + 1)
            )
            rows, cols = twin.index(shapely.get_x(pts), shapely.get_y(pts))
            # a point on the grid's east or south edge falls just outside: into the last cell
            rows, cols = np.clip(rows, 0, ny - 1), np.clip(cols, 0, nx - 1)
            keep = np.r_[True, (np.diff(rows) != 0) | (np.diff(cols) != 0)]
            if keep.sum() >= 2:
                paths.append((rows[keep], cols[keep]))
    return paths


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
        path_x, path_y, part = (
            np.insert(np.asarray(x, float), dup, np.asarray(x, float)[dup]),
            np.insert(np.asarray(y, float), dup, np.asarray(y, float)[dup]),
            np.insert(part, dup, part[dup]),
        )
    else:
        path_x, path_y = np.asarray(x, float), np.asarray(y, float)
    geom = shapely.linestrings(np.column_stack([path_x, path_y]), indices=part)
    z = result["filled"].ravel()
    last = np.where(has_end, end, links.bottom)
    drop = z[links.top] - z[last]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(links.length > 0, drop / links.length, 0.0)
    return gpd.GeoDataFrame(
        {
            "link_id": np.arange(1, links.downstream.size + 1, dtype=np.int32),
            "downstream_id": links.downstream.astype(np.int32),
            "order": links.order.astype(np.int32),
            "length_m": links.length,
            "slope": slope,
        },
        geometry=geom,
        crs=twin.crs,
    )


def _write_grids(folder: Path, arrays: dict[str, Any], transform: Any, crs: Any, streams: Any) -> None:
    """The rasters of ``arrays`` that were computed, and ``streams.gpkg`` when there are streams."""
    for name, (key, dtype, nodata) in _RASTERS.items():
        if key in arrays:
            _io.write_geotiff(
                folder / f"{name}.tif", np.asarray(arrays[key]).astype(dtype), transform, crs, nodata=nodata
            )
    if streams is not None and len(streams):
        streams.to_file(folder / "streams.gpkg", layer="streams", driver="GPKG", engine="pyogrio")


def write_terrain_analysis(
    twin: Twin,
    result: dict[str, Any],
    out: str | os.PathLike,
    files: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``filled_dem.tif``, ``flow_direction.tif``, ``accumulation.tif``, ``watersheds.tif``,
    ``hand.tif`` and ``streams.gpkg`` (layer ``streams``) into the folder ``out``, atomically; also
    ``weighted_accumulation.tif``, ``dinf_angle.tif`` and ``dinf_accumulation.tif`` when the result
    has them, and ``cimtwin.json`` (SHA-256 of each file). Only a new or empty folder or a folder
    cimtwin wrote is replaced (see :func:`twin._io.check_out`); ``overwrite`` also replaces a cimtwin
    folder of another kind."""
    with _io.atomic_dir(out, "terrain", overwrite=overwrite) as tmp:
        _write_grids(tmp, result, twin.transform, twin.crs, stream_links_frame(twin, result))
        for name, obj in (files or {}).items():  # JSON documents (summary, scenario) or GeoDataFrames
            if hasattr(obj, "to_file"):
                obj.to_file(tmp / name, driver="GPKG", engine="pyogrio")
            else:
                _io.write_json(tmp / name, obj)
    return Path(out)


# ------------------------------------------------------------------------------------ scenario kind


@dataclass
class TerrainResult(Result):
    """What :func:`run` computed and its ``summary``; :meth:`save` writes the result folder,
    :meth:`load` reads it back.

    Attributes
    ----------
    arrays : dict
        The arrays of :func:`terrain_analysis`. A loaded result holds those its rasters keep
        (``filled``, ``flow_direction``, ``accumulation``, ``watersheds``, ``hand`` and the optional
        ones), not ``links`` or ``pour_cells``: the links are in ``streams``.
    summary, scenario : dict
    pour_points : GeoDataFrame or None
        Each pour point snapped, with its upstream and own catchment areas.
    crs, transform
        The twin's grid.
    streams : GeoDataFrame or None
        The stream links (see :func:`stream_links_frame`).
    """

    kind: ClassVar[str] = "terrain"
    signature: ClassVar[tuple[str, ...]] = ("filled_dem.tif", "flow_direction.tif")
    arrays: dict[str, Any]
    summary: dict[str, Any]
    scenario: dict[str, Any]
    pour_points: Any = None
    crs: Any = None
    transform: Any = None
    streams: Any = None
    twin: Any = field(default=None, repr=False)

    def scene(self) -> Any:
        """The stream links on the twin coloured by Strahler order (see :func:`twin.scene.city.network_scene`)."""
        from twin.scene.city import network_scene

        if self.twin is None:
            raise InputDataError(
                "This result has no twin attached; load it with load_result(path, twin=Twin.load(...))."
            )
        if self.streams is None or not len(self.streams):
            raise InputDataError(
                "this terrain result has no streams.gpkg (no cell reached the stream threshold); "
                "run the terrain analysis again with a lower threshold_cells."
            )
        return network_scene(
            self.twin, self.streams, "order", title="Stream order (Strahler)", unit="order", whole=True
        )

    def scene_title(self) -> str:
        return f"{super().scene_title()}, streams"

    def _write_files(self, tmp: Path) -> None:
        """The rasters, ``streams.gpkg`` and ``pour_points.gpkg``."""
        _write_grids(tmp, self.arrays, self.transform, self.crs, self.streams)
        if self.pour_points is not None:
            self.pour_points.to_file(tmp / "pour_points.gpkg", driver="GPKG", engine="pyogrio")

    @classmethod
    def _read_files(cls, path: Path, summary: dict[str, Any], scenario: dict[str, Any], twin: Any) -> TerrainResult:
        import geopandas as gpd
        import rasterio

        arrays: dict[str, Any] = {}
        crs = transform = None
        for name, (key, _, _) in _RASTERS.items():
            if (path / f"{name}.tif").is_file():
                with rasterio.open(path / f"{name}.tif") as src:
                    arrays[key] = src.read(1)
                    crs, transform = src.crs, src.transform

        def layer(name: str) -> Any:
            return gpd.read_file(path / name, engine="pyogrio") if (path / name).is_file() else None

        return cls(
            arrays,
            summary,
            scenario,
            layer("pour_points.gpkg"),
            crs=crs,
            transform=transform,
            streams=layer("streams.gpkg"),
            twin=twin,
        )


def run(
    twin: Twin,
    scenario: TerrainScenario | dict | str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> TerrainResult:
    """Run a terrain scenario: :func:`terrain_analysis` with the scenario's options.

    Writes (atomically, into ``out``) the rasters and ``streams.gpkg`` of
    :func:`write_terrain_analysis`, ``pour_points.gpkg`` (each point snapped, with its catchment
    area), ``summary.json`` and ``scenario.json``. ``progress`` is accepted for a uniform call
    and ignored (the analysis takes seconds). ``out`` is checked before any work and ``overwrite``
    lets it replace a cimtwin folder of another kind (see :func:`twin._io.check_out`).
    """
    import geopandas as gpd

    scenario = TerrainScenario.coerce(scenario)
    if out is not None:
        _io.check_out(out, "terrain", inputs=[twin.path], overwrite=overwrite)
    wall0 = time.perf_counter()
    points = [p.at for p in scenario.pour_point]
    res = terrain_analysis(
        twin,
        threshold_cells=scenario.threshold_cells,
        burn_buildings=scenario.buildings,
        flats=scenario.flats,
        epsilon=scenario.epsilon,
        depressions=scenario.depressions,
        breach_max_depth=scenario.breach_max_depth or np.inf,
        breach_max_length=scenario.breach_max_length,
        culverts=scenario.culverts,
        weights=scenario.weights,
        dinf=scenario.dinf,
        pour_points=points or None,
        snap_distance=scenario.snap_distance,
    )
    cell_area = float(twin.cell_size) ** 2
    z = conditioned_dem(twin, burn_buildings=scenario.buildings, culverts=scenario.culverts)
    frame = None
    if points:
        rows, cols = res["pour_cells"][:, 0], res["pour_cells"][:, 1]
        x, y = twin.xy(rows, cols)
        areas = np.bincount(res["pour_watersheds"].ravel(), minlength=len(points) + 1)[1:] * cell_area
        frame = gpd.GeoDataFrame(
            {
                "name": [p.name for p in scenario.pour_point],
                "upstream_area_m2": res["accumulation"][rows, cols] * cell_area,
                "own_catchment_m2": areas.astype(float),
            },
            geometry=gpd.points_from_xy(x, y),
            crs=twin.crs,
        )
    summary = {
        **common_summary("terrain", scenario, twin, time.perf_counter() - wall0),
        "cells": int(np.prod(twin.shape)),
        "cell_size_m": float(twin.cell_size),
        "watersheds": int(res["watersheds"].max()),
        "stream_links": int(len(res["links"].downstream)),
        "max_accumulation_cells": float(res["accumulation"].max()),
        "filled_volume_m3": float(np.nansum(np.maximum(res["filled"] - z, 0.0)) * cell_area),
        "breached_volume_m3": float(np.nansum(np.maximum(z - res["filled"], 0.0)) * cell_area),
    }
    if frame is not None:
        summary["pour_points"] = {
            n: {"upstream_area_m2": float(a)} for n, a in zip(frame["name"], frame["upstream_area_m2"])
        }
    result = TerrainResult(
        res,
        summary,
        scenario.to_dict(),
        frame,
        crs=twin.crs,
        transform=twin.transform,
        streams=stream_links_frame(twin, res),
        twin=twin,
    )
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result
