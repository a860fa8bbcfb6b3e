"""A scenario's forcings, boundaries and losses put onto the twin's grid as the flood kernel's inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.ndimage as ndi
import shapely

from ingest.raster import read_onto
from kernels.flood import BoundaryFaces, FloodForcing, FloodGrid, FloodParams, Series, edge_faces
from twin import _grids
from twin.errors import InputDataError, ScenarioError
from twin.model.twin import Twin
from twin.sims.flood.scenario import Scenario

__all__ = ["FloodSetup", "setup", "outside_error"]

MM_PER_H = 1.0 / 3.6e6  # m/s in one mm/h


@dataclass
class FloodSetup:
    """Everything the time loop needs: kernel inputs plus the schedule of rain frames and gauges."""

    grid: FloodGrid
    forcing: FloodForcing
    params: FloodParams
    h0: np.ndarray
    roof_share: np.ndarray  # rain multiplier map (roof rain moved to the cells around buildings)
    frames: list[tuple[float, str]] = field(default_factory=list)  # (time, raster path) rain frames
    gauge_names: list[str] = field(default_factory=list)
    gauge_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    gauge_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    water_mask: np.ndarray | None = None

    def rain_field_for(self, twin: Twin, path: str) -> np.ndarray:
        """A rain frame [mm/h] resampled onto the grid, as the kernel's rate map [m/s]."""
        mmh = read_onto(path, twin.crs, twin.transform, twin.shape)
        if np.isnan(mmh).any():
            raise InputDataError(
                f"Rain raster {path} does not cover the whole twin ({int(np.isnan(mmh).sum())} "
                "cells without data); extend it or fill with 0."
            )
        if (mmh < 0).any():
            raise InputDataError(f"Rain raster {path} has negative rain rates; rain must be >= 0 mm/h.")
        return mmh * MM_PER_H * self.roof_share


def setup(twin: Twin, scenario: Scenario) -> FloodSetup:
    """Translate ``scenario`` on ``twin`` into kernel inputs (no simulation yet).

    Raises
    ------
    ScenarioError
        A point or line outside the twin, an inflow on a building.
    """
    shape = twin.shape
    dtype = np.dtype(scenario.numerics.dtype)
    water = (twin.river_mask > 0) | (twin.lake_mask > 0)
    if scenario.buildings == "block":
        blocked = twin.building_mask.astype(np.uint8)
        z = np.asarray(twin.terrain, dtype=dtype)
    else:
        blocked = np.zeros(shape, np.uint8)
        z = np.asarray(twin.burned_terrain, dtype=dtype)
    blocked[water] = 0  # a footprint drawn over a river or lake must not dam it
    imp = np.asarray(twin.impervious, dtype=np.float64)
    pervious = 1.0 - imp

    infil_kind = {"none": 0, "horton": 1, "green-ampt": 2}[scenario.infiltration.model]
    a = np.zeros(shape)
    b = np.zeros(shape)
    c = np.zeros(shape)
    if infil_kind == 1:
        a = twin.landuse_param("f0_mm_h") * MM_PER_H * pervious
        b = twin.landuse_param("fc_mm_h") * MM_PER_H * pervious
        c = twin.landuse_param("k_per_h") / 3600.0
    elif infil_kind == 2:
        a = twin.landuse_param("ks_mm_h") * MM_PER_H * pervious
        b = twin.landuse_param("psi_dtheta_mm") / 1000.0
    drain = scenario.drainage.capacity * MM_PER_H * imp * ~water
    for arr in (a, b, c, drain):
        arr[blocked > 0] = 0.0

    series: list[tuple[np.ndarray, np.ndarray]] = []

    def add_series(pairs) -> int:
        arr = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
        series.append((arr[:, 0], arr[:, 1]))
        return len(series) - 1

    roof = _roof_share(blocked) if scenario.buildings == "block" else np.ones(shape)
    rain_field = np.zeros(shape)
    rain_ser = -1
    frames: list[tuple[float, str]] = []
    rain = scenario.rain
    if rain is not None:
        if rain.constant is not None:
            rain_field = rain.constant * MM_PER_H * roof
            rain_ser = add_series([(0.0, 1.0)])
        elif rain.hyetograph is not None or rain.design is not None:
            rain_field = MM_PER_H * roof
            rain_ser = add_series(rain.hyetograph if rain.design is None else rain.design.hyetograph().series())
        else:
            frames = [(float(f.time), str(f.file)) for f in rain.frames]
            rain_ser = add_series([(0.0, 1.0)])

    src_rows, src_cols, src_ser, src_w = [], [], [], []
    for i, inflow in enumerate(scenario.inflow):
        key = f"inflow.{i}"
        rows, cols = (
            _point_cells(twin, inflow.at, blocked, key)
            if inflow.at is not None
            else _line_cells(twin, inflow.line, blocked, key)
        )
        k = add_series(inflow.hydrograph)
        src_rows += list(rows)
        src_cols += list(cols)
        src_ser += [k] * len(rows)
        src_w += [1.0 / len(rows)] * len(rows)

    edges: list[BoundaryFaces] = []
    fix_rows, fix_cols, fix_ser = [], [], []
    for i, bc in enumerate(scenario.boundary):
        if bc.type == "closed":
            continue
        k = add_series(bc.level) if bc.type == "level" else -1
        if bc.line is not None:
            rows, cols = _line_cells(twin, bc.line, blocked, f"boundary.{i}")
            fix_rows += list(rows)
            fix_cols += list(cols)
            fix_ser += [k] * len(rows)
            continue
        # faces of blocked edge cells carry no flux: the kernel skips them
        edges.append(edge_faces(shape, bc.edge, 1 if bc.type == "free" else 2, series=k, slope=bc.slope or 0.0))

    if not series:
        add_series([(0.0, 0.0)])  # Numba wants at least one series to type the arrays
    bnd = BoundaryFaces.concat(edges)
    grid = FloodGrid(
        z=z,
        manning=np.asarray(twin.manning, dtype=dtype),
        blocked=blocked,
        dx=twin.cell_size,
        infil_kind=infil_kind,
        infil_a=a,
        infil_b=b,
        infil_c=c,
        drain_cap=drain,
        bnd_row=bnd.row,
        bnd_col=bnd.col,
        bnd_side=bnd.side,
        bnd_kind=bnd.kind,
        bnd_ser=bnd.ser,
        bnd_slope=bnd.slope,
        fix_row=_i64(fix_rows),
        fix_col=_i64(fix_cols),
        fix_ser=_i64(fix_ser),
    )
    forcing = FloodForcing(
        series=Series.pack(series),
        rain_field=np.ascontiguousarray(rain_field, dtype=np.float64),
        rain_ser=rain_ser,
        src_row=_i64(src_rows),
        src_col=_i64(src_cols),
        src_ser=_i64(src_ser),
        src_w=np.asarray(src_w, dtype=np.float64),
    )
    n = scenario.numerics
    params = FloodParams(
        alpha=n.alpha,
        theta=n.theta,
        h_dry=n.h_dry,
        dt_max=n.dt_max,
        fixed_dt=n.fixed_dt,
        wet_depth=scenario.output.wet_depth,
        time_stepping=n.time_stepping,
        max_levels=n.max_levels,
        losses_every=n.losses_every,
        speed_every=n.speed_every,
    )
    g_rows, g_cols = [], []
    for i, g in enumerate(scenario.gauge):
        r, cc = _inside(twin, [g.at], f"gauge.{i}.at")
        if blocked[r[0], cc[0]]:  # its depth would read 0 all run, as if the street beside stayed dry
            raise ScenarioError(
                f"gauge.{i}.at ({g.at[0]:.1f}, {g.at[1]:.1f}) of gauge {g.name!r} falls on a building cell, where "
                "no water stands (it would read 0 all run); move it onto the open ground beside the building."
            )
        g_rows.append(r[0])
        g_cols.append(cc[0])
    return FloodSetup(
        grid=grid,
        forcing=forcing,
        params=params,
        h0=_initial_depth(twin, scenario, blocked).astype(dtype),
        roof_share=roof,
        frames=frames,
        gauge_names=[g.name for g in scenario.gauge],
        gauge_rows=_i64(g_rows),
        gauge_cols=_i64(g_cols),
        water_mask=water,
    )


def _roof_share(blocked: np.ndarray) -> np.ndarray:
    """Rain multiplier that moves the rain falling on each blocked building onto the open cells around it.

    Roofs drain to the ground beside the building; leaving that rain out would drop a third of a
    dense district's rain. Each building (8-connected block of blocked cells) passes its cells' rain
    in equal shares to the open cells that touch it, so the total volume is unchanged.
    """
    mult = np.ones(blocked.shape)
    if not blocked.any():
        return mult
    labels, n = ndi.label(blocked > 0, structure=np.ones((3, 3)))
    ring_label = ndi.grey_dilation(labels, size=(3, 3))
    ring = (blocked == 0) & (ring_label > 0)
    roof_cells = np.bincount(labels.ravel(), minlength=n + 1)
    ring_cells = np.bincount(ring_label[ring], minlength=n + 1)
    share = np.zeros(n + 1)
    has_ring = ring_cells > 0
    share[has_ring] = roof_cells[has_ring] / ring_cells[has_ring]
    mult[ring] += share[ring_label[ring]]
    mult[blocked > 0] = 0.0
    return mult


def _inside(twin: Twin, points, key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    rows, cols = twin.index(pts[:, 0], pts[:, 1])
    ny, nx = twin.shape
    bad = (rows < 0) | (rows >= ny) | (cols < 0) | (cols >= nx)
    if bad.any():
        raise outside_error(twin, key, *pts[np.argmax(bad)])
    return rows, cols


def outside_error(twin: Twin, key: str, x: float, y: float) -> ScenarioError:
    """The error for a scenario point ``(x, y)`` at ``key`` that lies outside the twin."""
    b = twin.bounds
    return ScenarioError(
        f"{key}: the point ({x:.1f}, {y:.1f}) lies outside the twin (x {b[0]:.1f}..{b[2]:.1f}, "
        f"y {b[1]:.1f}..{b[3]:.1f} in {twin.crs.to_string()}). Give coordinates in the twin's CRS."
    )


def _point_cells(twin: Twin, at, blocked: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
    """An inflow point's cells: on a river, the river's cross-section there; elsewhere the one cell."""
    rows, cols = _inside(twin, [at], f"{key}.at")
    r, c = int(rows[0]), int(cols[0])
    rivers = twin.rivers
    if twin.river_mask[r, c] and rivers is not None and len(rivers):
        p = shapely.Point(at)
        nearest = int(np.argmin(shapely.distance(np.asarray(rivers.geometry.values), p)))
        half = max(float(rivers["width"].iloc[nearest]) / 2.0, twin.cell_size)
        k = int(np.ceil(half / twin.cell_size))
        rr, cc = np.mgrid[max(r - k, 0) : min(r + k + 1, twin.shape[0]), max(c - k, 0) : min(c + k + 1, twin.shape[1])]
        xs, ys = twin.xy(rr, cc)
        near = (np.hypot(xs - at[0], ys - at[1]) <= half) & (twin.river_mask[rr, cc] > 0) & (blocked[rr, cc] == 0)
        if near.any():
            return rr[near].ravel(), cc[near].ravel()
    if blocked[r, c]:
        raise ScenarioError(
            f"{key}.at ({at[0]:.1f}, {at[1]:.1f}) falls on a building cell, where water cannot enter; "
            "move the point onto open ground or a river."
        )
    return np.array([r]), np.array([c])


def _line_cells(twin: Twin, line, blocked: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
    _inside(twin, line, f"{key}.line")
    m = _grids.mask([shapely.LineString(line)], twin.shape, twin.transform, all_touched=True) & (blocked == 0)
    rows, cols = np.nonzero(m)
    if not len(rows):
        raise ScenarioError(f"{key}.line crosses no open cell of the twin; check its coordinates.")
    return rows, cols


def _i64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _initial_depth(twin: Twin, scenario: Scenario, blocked: np.ndarray) -> np.ndarray:
    h0 = np.zeros(twin.shape)
    terrain = twin.terrain
    if scenario.initial.lakes and twin.lakes is not None and len(twin.lakes):
        level = _grids.burn(
            twin.lakes.geometry, twin.lakes["level"].to_numpy(float), twin.shape, twin.transform, fill=-np.inf
        )
        h0 = np.maximum(h0, level - terrain)
    if scenario.initial.river_fill > 0 and twin.rivers is not None and len(twin.rivers) and "depth" in twin.rivers:
        polys = _grids.buffered_lines(twin.rivers.geometry, twin.rivers["width"].to_numpy(float), twin.cell_size)
        widths = twin.rivers["width"].to_numpy(float)
        depth = _grids.burn(polys, twin.rivers["depth"].to_numpy(float), twin.shape, twin.transform, all_touched=True)
        # A level, not a depth: the channel fills to (lowest bed across its width) + fill x depth, so the
        # sloping banks of the buffered river hold less water and nothing spills onto the floodplain at t=0.
        river = (twin.river_mask > 0) & (depth > 0)
        across = 2 * int(np.ceil(np.nanmax(widths) / 2 / twin.cell_size)) + 1
        bed = ndi.minimum_filter(np.where(river, terrain, np.inf), size=across, mode="nearest")
        level = np.where(river, bed + scenario.initial.river_fill * depth, -np.inf)
        # ...and never above its lowest bank: where the DEM shows no channel (a coarse DEM, a walled
        # river narrower than a cell) the "bed" is the street beside it, and a fill above the banks
        # stood on streets and riverside paths at t = 0 (Andorra la Vella: 84 road segments cut at 0 s)
        bank = ndi.binary_dilation(river) & ~river & (blocked == 0)
        lowest_bank = ndi.minimum_filter(np.where(bank, terrain, np.inf), size=across + 2, mode="nearest")
        level = np.minimum(level, lowest_bank)
        h0 = np.maximum(h0, level - terrain)
    h0[blocked > 0] = 0.0
    return np.where(np.isfinite(h0), np.maximum(h0, 0.0), 0.0)
