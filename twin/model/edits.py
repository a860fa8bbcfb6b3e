"""Planners' edits of a twin: floodwalls, raised or lowered ground, retention ponds, buildings added or removed.

:func:`apply_edits` returns an edited *copy* of the twin together with a report per edit (cells
changed, volumes) that a flood run writes into ``summary.json``. The copy shares the caller's
unchanged layers and cached derived grids (all read-only) and goes through the twin's own setters
for what changes, so exactly the derived grids that depend on an edited layer are recomputed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin import _grids
from twin.errors import ScenarioError
from twin.model.twin import Twin
from twin.sims.flood.forcing import outside_error
from twin.sims.flood.scenario import NETWORK_EDITS, BuildingEdit, Edit, FloodwallEdit, GroundEdit, PondEdit

__all__ = ["apply_edits", "wall_cells"]

#: A pond whose grid volume differs from its ``volume_check`` by more than this share gets a warning.
POND_VOLUME_TOLERANCE = 0.10


def apply_edits(twin: Twin, edits: Sequence[Edit]) -> tuple[Twin, list[dict[str, Any]]]:
    """Apply a scenario's edits, in order, to a copy of ``twin``.

    Parameters
    ----------
    twin
        The twin; never modified.
    edits
        Validated edits (``Scenario.edit``).

    Returns
    -------
    edited : Twin
        A copy with the edits applied (``twin`` itself when there are none).
    report : list of dict
        Per edit: ``type``, ``cells`` changed and, for ground changes, ``ground_change_m3`` (signed
        volume between the old and new ground); ponds add ``volume_m3`` (storage below the old
        ground) and ``volume_design_m3`` when ``volume_check`` is given.

    Raises
    ------
    ScenarioError
        An edit outside the twin, a wall crest below the ground, a polygon covering no cell centre,
        a building to remove that does not exist; the message names ``edit[i].key``.
    """
    if not edits:
        return twin, []
    out = twin.copy()
    terrain = np.array(twin.terrain, dtype=np.float64)
    buildings = twin.buildings
    report = []
    for i, edit in enumerate(edits):
        key = f"edit[{i}]"
        if isinstance(edit, NETWORK_EDITS):
            continue  # the sewer network's: applied to the .inp by the coupled run (network_edits.py)
        if isinstance(edit, BuildingEdit):
            buildings, entry = _building(out, buildings, edit, terrain, key)
        else:
            before = terrain.copy()
            if isinstance(edit, FloodwallEdit):
                entry = _floodwall(out, edit, terrain, key)
            elif isinstance(edit, GroundEdit):
                entry = _ground(out, edit, terrain, key)
            else:
                entry = _pond(out, edit, terrain, key)
            changed = terrain != before
            entry["cells"] = int(changed.sum())
            entry["ground_change_m3"] = float((terrain - before).sum() * out.cell_size**2)
        if getattr(edit, "name", None):
            entry["name"] = edit.name
        report.append({"type": edit.type, **entry})
    if (terrain != twin.terrain).any():
        out.set_terrain(terrain)
    if buildings is not twin.buildings:
        out.set_layer("buildings", buildings)
    return out, report


def wall_cells(twin: Twin, line: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the cells a polyline passes through, as one 8-connected chain.

    The line is sampled every quarter cell, so consecutive samples fall in the same or in
    neighbouring cells: the chain has no gaps and, since water crosses only cell faces, a wall on
    it cannot be passed diagonally.
    """
    dense = shapely.segmentize(shapely.LineString(line), twin.cell_size / 4.0)
    xy = shapely.get_coordinates(dense)
    rows, cols = twin.index(xy[:, 0], xy[:, 1])
    ny, nx = twin.shape
    keep = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    cells = np.unique(np.column_stack([rows[keep], cols[keep]]), axis=0)
    return cells[:, 0], cells[:, 1]


def _inside(twin: Twin, points, key: str) -> None:
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    xmin, ymin, xmax, ymax = twin.bounds
    bad = (pts[:, 0] < xmin) | (pts[:, 0] > xmax) | (pts[:, 1] < ymin) | (pts[:, 1] > ymax)
    if bad.any():
        # unlike an inflow point, a wall or polygon may end exactly on the twin's edge
        raise outside_error(twin, key, *pts[np.argmax(bad)])


def _polygon_cells(twin: Twin, ring, key: str) -> np.ndarray:
    _inside(twin, ring, f"{key}.polygon")
    mask = _grids.mask([shapely.Polygon(ring)], twin.shape, twin.transform) > 0
    if not mask.any():
        raise ScenarioError(f"{key}.polygon covers no cell centre of the {twin.cell_size:g} m grid; enlarge it.")
    return mask


def _floodwall(twin: Twin, edit: FloodwallEdit, terrain: np.ndarray, key: str) -> dict[str, Any]:
    _inside(twin, edit.line, f"{key}.line")
    rows, cols = wall_cells(twin, edit.line)
    ground = terrain[rows, cols]
    if edit.crest is not None:
        below = ground >= edit.crest
        if below.any():
            raise ScenarioError(
                f"{key}.crest = {edit.crest:g} m is not above the ground on {int(below.sum())} of the "
                f"wall's {len(rows)} cells (ground up to {ground.max():.2f} m); raise the crest, "
                "shorten the line or give height (m above the ground) instead."
            )
        crest = np.full(len(rows), float(edit.crest))
    else:
        crest = ground + edit.height
    terrain[rows, cols] = crest
    return {
        "length_m": float(shapely.LineString(edit.line).length),
        "crest_min_m": float(crest.min()),
        "crest_max_m": float(crest.max()),
    }


def _ground(twin: Twin, edit: GroundEdit, terrain: np.ndarray, key: str) -> dict[str, Any]:
    mask = _polygon_cells(twin, edit.polygon, key)
    if edit.delta is not None:
        terrain[mask] += edit.delta
    else:
        terrain[mask] = edit.level
    return {"area_m2": float(mask.sum() * twin.cell_size**2)}


def _pond(twin: Twin, edit: PondEdit, terrain: np.ndarray, key: str) -> dict[str, Any]:
    mask = _polygon_cells(twin, edit.polygon, key)
    terrain[mask] -= edit.depth
    volume = float(mask.sum() * twin.cell_size**2 * edit.depth)
    entry: dict[str, Any] = {"area_m2": float(mask.sum() * twin.cell_size**2), "volume_m3": volume}
    if edit.volume_check is not None:
        entry["volume_design_m3"] = edit.volume_check
        if abs(volume / edit.volume_check - 1) > POND_VOLUME_TOLERANCE:
            warnings.warn(
                f"{key}: the pond holds {volume:.0f} m3 on the {twin.cell_size:g} m grid, its volume_check "
                f"says {edit.volume_check:.0f} m3; adjust the polygon or depth, or refine the grid.",
                stacklevel=3,
            )
    return entry


def _building(
    twin: Twin, buildings: gpd.GeoDataFrame | None, edit: BuildingEdit, terrain: np.ndarray, key: str
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    if edit.action == "add":
        mask = _polygon_cells(twin, edit.polygon, key)
        base = float(terrain[mask].min()) if edit.base is None else edit.base
        ids = set() if buildings is None else set(buildings["id"].astype(str))
        bid = edit.id or next(f"edit-{k}" for k in range(len(ids) + 1) if f"edit-{k}" not in ids)
        if bid in ids:
            raise ScenarioError(f"{key}.id = {bid!r} is already a building of the twin; choose another id.")
        row = gpd.GeoDataFrame(
            {"id": [bid], "base": [base], "height": [float(edit.height)], "source": ["edit"]},
            geometry=[shapely.Polygon(edit.polygon)],
            crs=twin.crs,
        )
        new = (
            row if buildings is None else gpd.GeoDataFrame(pd.concat([buildings, row], ignore_index=True), crs=twin.crs)
        )
        return new, {"action": "add", "id": bid, "cells": int(mask.sum()), "base_m": base}
    if buildings is None or not len(buildings):
        raise ScenarioError(f"{key}: the twin has no buildings to remove; drop this edit.")
    if edit.id is not None:
        hit = np.flatnonzero(buildings["id"].astype(str).to_numpy() == edit.id)
        if not len(hit):
            raise ScenarioError(
                f"{key}.id = {edit.id!r} is not a building of the twin; check the id "
                "(`twin info` lists the layers; buildings.gpkg holds the ids)."
            )
    else:
        _inside(twin, [edit.at], f"{key}.at")
        hit = np.flatnonzero(shapely.contains_xy(np.asarray(buildings.geometry.values), *edit.at))
        if not len(hit):
            raise ScenarioError(
                f"{key}.at ({edit.at[0]:.1f}, {edit.at[1]:.1f}) lies in no building footprint; "
                "give a point inside the building or its id."
            )
    gone = buildings.iloc[hit]
    cells = int((_grids.mask(gone.geometry, twin.shape, twin.transform) > 0).sum())
    kept = buildings.drop(index=buildings.index[hit]).reset_index(drop=True)
    return kept, {"action": "remove", "id": ", ".join(gone["id"].astype(str)), "cells": cells}
