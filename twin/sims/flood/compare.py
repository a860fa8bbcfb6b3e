"""Comparing two flood results on one twin: difference rasters, buildings newly flooded or safe, volumes.

:func:`compare` takes two results (folders or :class:`~twin.sims.flood.run.FloodResult`) of the same grid,
typically a scenario with and without a planner's edit, and returns a :class:`Comparison` holding
``b - a`` rasters, a per-building table and the key figures side by side; ``save`` writes them as a
folder and ``scene`` draws them (a diverging depth-difference overlay, buildings coloured by change).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ingest.crs import same_crs
from twin import _io
from twin.errors import InputDataError
from twin.model.twin import Twin
from twin.sims.flood.run import FloodResult

__all__ = ["Comparison", "compare", "BUILDING_STATUS"]

#: Building status codes (``status_code`` column) and names, in the order the scene colours them.
BUILDING_STATUS = ("dry in both", "flooded in both", "newly flooded", "newly safe", "added", "removed")

#: Summary figures put side by side (present in every flood result's summary.json).
_FIGURES = (
    "volume_in_m3",
    "volume_rain_m3",
    "volume_inflow_m3",
    "volume_out_m3",
    "volume_lost_m3",
    "volume_stored_m3",
    "max_depth_m",
    "flooded_area_km2",
    "buildings",
    "buildings_flooded",
)

_DIFF_STEPS = (0.15, 0.5)
_SHALLOWER = ((33, 102, 172, 235), (103, 169, 207, 215), (209, 229, 240, 200))
_DEEPER = ((253, 219, 199, 200), (239, 138, 98, 215), (178, 24, 43, 235))
_STATUS_RGBA = (
    (205, 205, 205, 255),
    (120, 120, 130, 255),
    (214, 40, 40, 255),
    (40, 170, 90, 255),
    (150, 110, 220, 255),
    (0, 0, 0, 0),
)


@dataclass
class Comparison:
    """Result ``b`` against result ``a`` on the same grid.

    Attributes
    ----------
    max_depth_diff : ndarray (float32)
        ``b.max_depth - a.max_depth`` [m]: positive where ``b`` is deeper.
    arrival_time_diff : ndarray (float64)
        ``b.arrival_time - a.arrival_time`` [s]: negative where water comes earlier in ``b``;
        NaN where either never got wet.
    hazard_class_change : ndarray (int16)
        ``b.hazard_class - a.hazard_class`` (classes 0 dry .. 4 extreme).
    buildings : GeoDataFrame or None
        One row per building id of either result: ``depth_a``, ``depth_b``, ``depth_change``,
        ``flooded_a``, ``flooded_b``, ``status`` (see :data:`BUILDING_STATUS`) and ``status_code``.
    summary : dict
        What ``comparison.json`` holds: both scenarios, figures side by side, cell counts and
        volumes of the change (on land when the twin is known: rivers and lakes left out), building
        counts and ids by status; with a sewer network in both runs, ``drainage``: manholes
        overflowing and pipes surcharged side by side, and the names of those newly so or no longer.
    twin : Twin or None
        The twin of ``b`` (with its edits), for :meth:`scene`.
    drainage : DrainageResult or None
        ``b``'s pipes and manholes when both runs had a sewer network, for :meth:`scene`.
    edits : list of dict
        ``b``'s scenario ``[[edit]]`` entries, drawn in the scene.
    """

    crs: Any
    transform: Any
    max_depth_diff: np.ndarray
    arrival_time_diff: np.ndarray
    hazard_class_change: np.ndarray
    buildings: gpd.GeoDataFrame | None
    summary: dict[str, Any]
    twin: Twin | None = field(default=None, repr=False)
    drainage: Any = field(default=None, repr=False)
    edits: list = field(default_factory=list, repr=False)

    def save(self, path: str | os.PathLike, *, scene: bool = True, overwrite: bool = False) -> Path:
        """Write the comparison folder atomically: ``max_depth_diff.tif``, ``arrival_time_diff.tif``,
        ``hazard_class_change.tif``, ``buildings.gpkg``, ``comparison.json`` and ``cimtwin.json`` (SHA-256
        of each); then, with a twin and ``scene``, ``scene.html`` (a scene that fails is a warning).

        Only a new or empty folder or a folder cimtwin wrote is replaced (see
        :func:`twin._io.check_out`; the two results compared are inputs, never replaced);
        ``overwrite`` also replaces a cimtwin folder of another kind.
        """
        path = Path(path)
        inputs = [self.summary[k].get(what) for k in ("a", "b") for what in ("path", "twin")]
        _io.check_out(path, "compare", inputs=[*inputs, getattr(self.twin, "path", None)], overwrite=overwrite)
        with _io.atomic_dir(path, "compare", overwrite=overwrite) as tmp:
            _io.write_geotiff(
                tmp / "max_depth_diff.tif", self.max_depth_diff.astype(np.float32), self.transform, self.crs
            )
            _io.write_geotiff(
                tmp / "arrival_time_diff.tif",
                self.arrival_time_diff.astype(np.float32),
                self.transform,
                self.crs,
                nodata=np.nan,
            )
            _io.write_geotiff(
                tmp / "hazard_class_change.tif", self.hazard_class_change.astype(np.int16), self.transform, self.crs
            )
            if self.buildings is not None:
                self.buildings.to_file(tmp / "buildings.gpkg", layer="buildings", driver="GPKG", engine="pyogrio")
            _io.write_json(tmp / "comparison.json", self.summary)
        if scene and self.twin is not None:
            _io.write_extra(
                path,
                "scene.html",
                lambda f: self.scene().to_html(f, title=self._title()),
                "run the comparison again to get it.",
            )
        return path

    def _title(self) -> str:
        return f"cimtwin: {self.summary['b']['scenario']} against {self.summary['a']['scenario']}"

    def scene(self, *, depth_min: float = 0.05, **kwargs: Any):
        """The scene of the change: depth difference in red (deeper in ``b``) and blue (shallower),
        changes under ``depth_min`` [m] left clear; buildings grey (dry in both), dark grey (flooded
        in both), red (newly flooded), green (newly safe), violet (added); with sewer networks, ``b``'s
        pipes by capacity ratio and its manholes yellow (newly overflowing), magenta (overflowing in
        both), green (no longer overflowing) or grey.

        Other keyword arguments go to :func:`twin.scene.city.city_scene` (e.g. ``basemap_url``).
        """
        if self.twin is None:
            raise InputDataError(
                "This comparison has no twin attached; compare results that carry one, or load "
                "them with FloodResult.load(path, twin=Twin.load(...))."
            )
        from twin.scene.city import city_scene
        from twin.scene.raster import classify, png_classes

        classes = _diff_classes(depth_min)
        twin = self.twin
        frame = self.buildings
        if frame is not None:
            # the scene draws the twin's buildings; show the ones standing in b, coloured by status
            frame = frame[frame["status"] != "removed"].reset_index(drop=True)
            twin = _with_buildings(twin, frame)
        scene = city_scene(twin, None, depth_min=depth_min, **{"edits": self.edits, **kwargs})
        data = scene.data  # filled in place: the scene module has no diverging overlay of its own
        data.default_title = "Flood comparison"
        data.depth_title = "Change in maximum depth"
        data.images["depth"] = png_classes(classify(self.max_depth_diff, classes), classes)
        data.depth_legend = [[list(c.rgba), c.label] for c in classes if c.rgba[3] > 0]
        if frame is not None and data.buildings is not None:
            codes = frame["status_code"].to_numpy()[data.buildings.rows].astype(np.uint8)
            data.building_attrs["b_class"] = codes
            data.building_meta["colours"] = [list(c) for c in _STATUS_RGBA]
            present = sorted(set(codes.tolist()))
            data.building_meta["legend"] = [[list(_STATUS_RGBA[k]), BUILDING_STATUS[k].capitalize()] for k in present]
        data.subtitle = f"{self.summary['b']['scenario']} minus {self.summary['a']['scenario']} · " + data.subtitle
        if self.drainage is not None:  # b's pipes, and its manholes by what changed
            from twin.scene.city import add_drainage

            change = self.summary["drainage"]
            add_drainage(
                scene,
                self.drainage,
                twin.crs,
                newly_overflowing=change["manholes_newly_overflowing"],
                no_longer_overflowing=change["manholes_no_longer_overflowing"],
            )
        return scene


def compare(
    result_a: FloodResult | str | os.PathLike,
    result_b: FloodResult | str | os.PathLike,
    *,
    tolerance: float = 0.01,
    time_tolerance: float = 60.0,
    twin: Twin | None = None,
) -> Comparison:
    """Compare flood result ``b`` with ``a`` (e.g. with and without a floodwall) on the same grid.

    Parameters
    ----------
    result_a, result_b
        Results or result folders (see :meth:`FloodResult.save`).
    tolerance
        Depth change [m] below which a cell counts as unchanged in the cell counts.
    time_tolerance
        Arrival time change [s] below which a cell counts as unchanged (two runs take different
        adaptive time steps, so arrival times differ by seconds everywhere).
    twin
        The twin for the scene, when the results carry none; ``b``'s edits are applied to it.
        Folders find their twin through the path in ``summary.json`` when it still exists.

    Returns
    -------
    Comparison

    Raises
    ------
    InputDataError
        Results on different grids (CRS, cell size, origin or shape), from different twins, or whose
        buildings' water was measured by different rules (a result from an older cimtwin).
    """
    a, path_a = _load(result_a)
    b, path_b = _load(result_b)
    _same_grid(a, b)
    ta, tb = a.summary.get("twin"), b.summary.get("twin")
    if ta and tb and Path(ta).resolve() != Path(tb).resolve():
        raise InputDataError(
            f"The results come from different twins ({ta} and {tb}); a comparison cell by cell "
            "needs both runs on the same twin. Run both scenarios on one twin."
        )
    rules = [r.summary.get("building_exposure", "depth beside the walls") for r in (a, b)]
    if rules[0] != rules[1]:
        older = "a" if "building_exposure" not in a.summary else "b"
        raise InputDataError(
            f"The results measure the buildings' water differently ({rules[0]!r} and {rules[1]!r}): "
            f"result {older} comes from an older cimtwin. Run its scenario again, then compare."
        )
    if not (tolerance >= 0 and time_tolerance >= 0):
        raise InputDataError(f"tolerance ({tolerance!r} m) and time_tolerance ({time_tolerance!r} s) must be >= 0.")
    depth_a = a.max_depth.astype(np.float32)
    depth_b = b.max_depth.astype(np.float32)
    diff = depth_b - depth_a
    arrival = b.arrival_time.astype(np.float64) - a.arrival_time.astype(np.float64)
    hazard = b.hazard_class.astype(np.int16) - a.hazard_class.astype(np.int16)
    cell_area = abs(a.transform.a * a.transform.e)
    tw = b.twin if b.twin is not None else _twin_of(b, path_b, twin)
    # the figures are about the city: a lake or river a metre higher is not a street flooded
    land = (tw.river_mask == 0) & (tw.lake_mask == 0) if tw is not None else np.ones(diff.shape, bool)
    diff_land = np.where(land, diff, 0.0)
    wet_a = _scenario_value(a, "wet_depth", 0.01)
    wet_b = _scenario_value(b, "wet_depth", 0.01)
    newly_wet = land & (depth_a <= wet_a) & (depth_b > wet_b)
    newly_dry = land & (depth_a > wet_a) & (depth_b <= wet_b)
    both = land & np.isfinite(arrival)
    buildings = _buildings(a.buildings, b.buildings)
    summary: dict[str, Any] = {
        "a": _about(a, path_a),
        "b": _about(b, path_b),
        "figures": {k: _side(a.summary.get(k), b.summary.get(k)) for k in _FIGURES if k in a.summary or k in b.summary},
        "hazard_cells": {
            k: _side(a.summary.get("hazard_cells", {}).get(k), b.summary.get("hazard_cells", {}).get(k))
            for k in ("low", "moderate", "significant", "extreme")
        },
        "difference": {
            "tolerance_m": tolerance,
            "cells_counted": "land (rivers and lakes left out)" if tw is not None else "all (twin unknown)",
            "cells_deeper": int(np.count_nonzero(diff_land > tolerance)),
            "cells_shallower": int(np.count_nonzero(diff_land < -tolerance)),
            "cells_newly_wet": int(np.count_nonzero(newly_wet)),
            "cells_newly_dry": int(np.count_nonzero(newly_dry)),
            "area_newly_wet_m2": float(np.count_nonzero(newly_wet) * cell_area),
            "area_newly_dry_m2": float(np.count_nonzero(newly_dry) * cell_area),
            "max_increase_m": float(max(diff_land.max(), 0.0)),
            "max_decrease_m": float(max(-diff_land.min(), 0.0)),
            "max_depth_volume_change_m3": float(diff_land.astype(np.float64).sum() * cell_area),
            "time_tolerance_s": time_tolerance,
            "cells_earlier": int(np.count_nonzero(both & (arrival < -time_tolerance))),
            "cells_later": int(np.count_nonzero(both & (arrival > time_tolerance))),
            "cells_hazard_up": int(np.count_nonzero(land & (hazard > 0))),
            "cells_hazard_down": int(np.count_nonzero(land & (hazard < 0))),
        },
    }
    if buildings is not None:
        counts = buildings["status"].value_counts()
        summary["buildings"] = {s.replace(" ", "_"): int(counts.get(s, 0)) for s in BUILDING_STATUS}
        for s in ("newly flooded", "newly safe", "added", "removed"):
            summary["buildings"][f"{s.replace(' ', '_')}_ids"] = buildings.loc[buildings["status"] == s, "id"].tolist()
    if a.drainage is not None and b.drainage is not None:
        summary["drainage"] = _drainage_change(a.drainage, b.drainage)
    return Comparison(
        crs=b.crs,
        transform=b.transform,
        max_depth_diff=diff,
        arrival_time_diff=arrival,
        hazard_class_change=hazard,
        buildings=buildings,
        summary=summary,
        twin=tw,
        drainage=b.drainage if "drainage" in summary else None,
        edits=list(b.scenario.get("edit") or []),
    )


def _load(result: FloodResult | str | os.PathLike) -> tuple[FloodResult, Path | None]:
    if isinstance(result, FloodResult):
        return result, None
    path = Path(result)
    _io.recover_dir(path)
    if not (path / "summary.json").is_file():
        raise InputDataError(
            f"{path} is not a flood result folder (no summary.json); give the folder that `twin run --out` wrote."
        )
    return FloodResult.load(path), path


def _same_grid(a: FloodResult, b: FloodResult) -> None:
    ta, tb = tuple(a.transform)[:6], tuple(b.transform)[:6]
    if not same_crs(a.crs, b.crs):
        raise InputDataError("The results are in different CRSs; compare two runs on the same twin.")
    if a.max_depth.shape != b.max_depth.shape or not np.allclose(ta, tb, rtol=0, atol=1e-6):
        raise InputDataError(
            f"The results lie on different grids ({a.max_depth.shape} cells at {ta[0]:g} m from "
            f"({ta[2]:.1f}, {ta[5]:.1f}) and {b.max_depth.shape} at {tb[0]:g} m from ({tb[2]:.1f}, "
            f"{tb[5]:.1f})); compare two runs on the same twin."
        )


def _scenario_value(r: FloodResult, key: str, default: float) -> float:
    return float((r.scenario.get("output") or {}).get(key, default))


def _about(r: FloodResult, path: Path | None) -> dict[str, Any]:
    about = {
        "scenario": r.scenario.get("name", r.summary.get("scenario", "")),
        "scenario_hash": r.summary.get("scenario_hash", ""),
        "edits": r.summary.get("edits", []),
    }
    if path is not None:
        about["path"] = str(path.resolve())
    if r.summary.get("twin"):
        about["twin"] = r.summary["twin"]
    return about


def _side(a: Any, b: Any) -> dict[str, Any]:
    out = {"a": a, "b": b}
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        out["b_minus_a"] = b - a
    return out


def _buildings(a: gpd.GeoDataFrame | None, b: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """One row per building id of either result, with both depths and the change of status."""
    if a is None and b is None:
        return None
    frames = [f for f in (a, b) if f is not None]
    crs = frames[-1].crs
    cols = ["id", "max_depth", "flooded"]
    left = a[cols + ["geometry"]] if a is not None else gpd.GeoDataFrame(columns=cols + ["geometry"], crs=crs)
    right = b[cols + ["geometry"]] if b is not None else gpd.GeoDataFrame(columns=cols + ["geometry"], crs=crs)
    left = pd.DataFrame(left).assign(id=lambda d: d["id"].astype(str))
    right = pd.DataFrame(right).assign(id=lambda d: d["id"].astype(str))
    m = right.merge(left, on="id", how="outer", suffixes=("_b", "_a"), indicator=True)
    m["geometry"] = m["geometry_b"].where(m["geometry_b"].notna(), m["geometry_a"])
    fa = m["flooded_a"].fillna(False).astype(bool)
    fb = m["flooded_b"].fillna(False).astype(bool)
    code = np.select(
        [m["_merge"] == "left_only", m["_merge"] == "right_only", fa & fb, fb & ~fa, fa & ~fb],
        [4, 5, 1, 2, 3],
        default=0,
    )
    # the merge's "left" is b: left_only = only in b = added, right_only = only in a = removed
    out = gpd.GeoDataFrame(
        {
            "id": m["id"],
            "depth_a": m["max_depth_a"].astype(float),
            "depth_b": m["max_depth_b"].astype(float),
            "depth_change": (m["max_depth_b"].astype(float) - m["max_depth_a"].astype(float)),
            "flooded_a": fa,
            "flooded_b": fb,
            "status_code": code.astype(np.int16),
            "status": np.asarray(BUILDING_STATUS, dtype=object)[code],
        },
        geometry=list(m["geometry"]),
        crs=crs,
    )
    for col in ("base", "height", "source"):
        src = b if b is not None and col in b.columns else a
        if src is not None and col in src.columns:
            out[col] = out["id"].map(dict(zip(src["id"].astype(str), src[col])))
    return out


def _drainage_change(a: Any, b: Any) -> dict[str, Any]:
    """Manholes that overflow and pipes over capacity in ``b`` and not in ``a``, and back (by name).

    A manhole overflows when it put water onto the street (``overflow_volume_m3 > 0``); a pipe is
    surcharged when its peak flow passed its full-bore capacity (``capacity_ratio > 1``), the same
    rules as the run's ``manholes_overflowing`` and ``conduits_over_capacity``. A manhole or pipe in one
    network only (a planner's edit) counts as not overflowing in the other.
    """

    def names(frame: pd.DataFrame, column: str, limit: float) -> set[str]:
        return set(frame.loc[frame[column].to_numpy(dtype=float) > limit, "name"].astype(str))

    over_a, over_b = names(a.nodes, "overflow_volume_m3", 0.0), names(b.nodes, "overflow_volume_m3", 0.0)
    sur_a, sur_b = names(a.conduits, "capacity_ratio", 1.0), names(b.conduits, "capacity_ratio", 1.0)
    sa, sb = a.summary, b.summary
    return {
        "manholes_overflowing": _side(len(over_a), len(over_b)),
        "pipes_surcharged": _side(len(sur_a), len(sur_b)),
        "volume_network_to_surface_m3": _side(
            sa.get("volume_network_to_surface_m3"), sb.get("volume_network_to_surface_m3")
        ),
        "manholes_newly_overflowing": sorted(over_b - over_a),
        "manholes_no_longer_overflowing": sorted(over_a - over_b),
        "pipes_newly_surcharged": sorted(sur_b - sur_a),
        "pipes_no_longer_surcharged": sorted(sur_a - sur_b),
        "network_edits": {"a": sa.get("network_edits", []), "b": sb.get("network_edits", [])},
    }


def _twin_of(b: FloodResult, path: Path | None, given: Twin | None) -> Twin | None:
    """The twin of result ``b`` with ``b``'s edits, from ``given`` or the path its summary records."""
    from twin.model.edits import apply_edits
    from twin.sims.flood.scenario import Scenario

    tw = given
    if tw is None and path is not None and b.summary.get("twin") and Path(b.summary["twin"]).is_dir():
        tw = Twin.load(b.summary["twin"])
    if tw is None:
        return None
    if tw.shape != b.max_depth.shape:
        raise InputDataError(f"The twin's grid {tw.shape} is not the results' {b.max_depth.shape}; pass their twin.")
    edits = Scenario.from_record(b.scenario).edit if b.scenario.get("edit") else []
    return apply_edits(tw, edits)[0]


def _with_buildings(twin: Twin, frame: gpd.GeoDataFrame) -> Twin:
    """A copy of ``twin`` whose buildings are ``frame`` (with the twin's required columns)."""
    out = twin.copy()
    layer = frame[["id", "geometry"]].copy()
    for col, default in (("base", 0.0), ("height", 0.0), ("source", "gis")):
        layer[col] = frame[col].fillna(default) if col in frame.columns else default
    out.set_layer("buildings", gpd.GeoDataFrame(layer, geometry="geometry", crs=twin.crs))
    return out


def _diff_classes(depth_min: float):
    """Diverging classes of the depth change: blues shallower, clear within ``depth_min``, reds deeper."""
    from twin.scene.raster import ColourClass

    steps = [s for s in _DIFF_STEPS if s > depth_min]
    edges = [-np.inf] + [-s for s in reversed(steps)] + [-depth_min, depth_min] + steps + [np.inf]
    blues = _SHALLOWER[len(_SHALLOWER) - len(steps) - 1 :]
    reds = _DEEPER[: len(steps) + 1]
    classes = []
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        if hi <= -depth_min:
            rgba, label = blues[k], f"Shallower by {_span(-hi, -lo)}"
        elif lo >= depth_min:
            rgba, label = reds[k - len(blues) - 1], f"Deeper by {_span(lo, hi)}"
        else:
            rgba, label = (0, 0, 0, 0), f"Unchanged (within {depth_min:g} m)"
        classes.append(ColourClass(float(lo), float(hi), rgba, label))
    return tuple(classes)


def _span(lo: float, hi: float) -> str:
    return f"> {lo:g} m" if np.isinf(hi) else f"{lo:g} – {hi:g} m"
