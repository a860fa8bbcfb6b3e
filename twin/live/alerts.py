"""Warnings per cycle: the buildings, facilities and roads expected to be flooded within each lead time.

Any layer of the twin takes part: the buildings, every other point or polygon layer (hospitals,
schools, substations: *facilities*) and every line layer with a ``class`` column (*roads*). Each
feature is read where water would touch it, as a flood run reads buildings: a polygon on a ring
just outside its outline (buffered by 0.75 cell, sampled every half cell), a line along itself
(every half cell), a point in its cell. Against a building's ``base`` (when it has one) the water
counts from the base up: ``min(depth, ground + depth - base)``. A feature floods in a member when
that depth exceeds its threshold: ``flooded_depth`` for buildings and facilities, the depth cutting
its class for roads: the flood run's table (:data:`twin.sims.flood.roads.THRESHOLDS_M`, with its
sources; ``road_depths`` in the forecast file over it), so that a flood result's ``roads.gpkg`` and a
forecast's road warnings cut the same roads; bridges are never cut (the water passes under). Its probability is the share of members in which it floods by the
lead time; its expected time, the median over those members of when the water first reached the
flooded depth at it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.model.twin import LAYERS, Twin

__all__ = ["FeatureSampler", "feature_layers", "feature_forecast", "warning_table"]

#: Named layers that describe the ground and water, not things to warn for.
_GROUND = {"buildings", "rivers", "lakes", "landuse", "spaces"}


@dataclass
class FeatureSampler:
    """The grid cells each feature of a layer is read at, concatenated (``cells``, ``owner``)."""

    cells: np.ndarray
    owner: np.ndarray
    base: np.ndarray
    count: int

    @classmethod
    def of(cls, gdf: gpd.GeoDataFrame, twin: Twin) -> FeatureSampler:
        """The sampler of ``gdf``'s features on ``twin``'s grid (features off the grid read nothing)."""
        half = twin.cell_size / 2
        cells, owner = [], []
        ny, nx = twin.shape
        for i, geom in enumerate(gdf.geometry.values):
            if geom is None or geom.is_empty:
                continue
            if geom.geom_type in ("Polygon", "MultiPolygon"):
                line = geom.buffer(0.75 * twin.cell_size).boundary
            elif geom.geom_type in ("Point", "MultiPoint"):
                line = geom
            else:
                line = geom
            pts = shapely.get_coordinates(shapely.segmentize(line, half) if line.geom_type != "Point" else line)
            rows, cols = twin.index(pts[:, 0], pts[:, 1])
            ok = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
            flat = np.unique(rows[ok] * nx + cols[ok])
            cells.append(flat)
            owner.append(np.full(len(flat), i))
        base = gdf["base"].to_numpy(float) if "base" in gdf else np.full(len(gdf), np.nan)
        return cls(
            np.concatenate(cells) if cells else np.zeros(0, np.int64),
            np.concatenate(owner) if owner else np.zeros(0, np.int64),
            base,
            len(gdf),
        )

    def without(self, cells: np.ndarray) -> FeatureSampler:
        """The sampler with the cells where ``cells`` (a grid mask) is true left out: the water a river
        or lake holds at the base scenario's start is not a flood at the wall beside it."""
        keep = ~np.asarray(cells, bool).ravel()[self.cells]
        return FeatureSampler(self.cells[keep], self.owner[keep], self.base, self.count)

    def depth(self, h: np.ndarray, ground: np.ndarray) -> np.ndarray:
        """Each feature's deepest water [m] (0 without cells)."""
        hv = h.ravel()[self.cells].astype(np.float64)
        b = self.base[self.owner]
        above = np.where(np.isnan(b), hv, np.minimum(hv, ground.ravel()[self.cells] + hv - b))
        out = np.zeros(self.count)
        np.maximum.at(out, self.owner, np.clip(above, 0.0, None))
        return out

    def first(self, arrival: np.ndarray) -> np.ndarray:
        """Each feature's earliest arrival [s] over its cells (NaN: never)."""
        a = arrival.ravel()[self.cells].astype(np.float64)
        out = np.full(self.count, np.inf)
        np.minimum.at(out, self.owner, np.where(np.isnan(a), np.inf, a))
        return np.where(np.isfinite(out), out, np.nan)


def feature_layers(
    twin: Twin, extra: dict[str, gpd.GeoDataFrame] | None = None
) -> dict[str, tuple[str, gpd.GeoDataFrame]]:
    """The twin's layers that warnings cover, ``name -> (kind, layer)``: ``buildings``, ``facility``
    (point and polygon layers) and ``road`` (line layers with a ``class`` column); ``extra`` layers too."""
    layers: dict[str, tuple[str, gpd.GeoDataFrame]] = {}
    if twin.buildings is not None and len(twin.buildings):
        layers["buildings"] = ("building", twin.buildings)
    # named layers other than the ground's own (a roads layer added to LAYERS is picked up), then free ones
    named = {n: getattr(twin, n, None) for n in LAYERS if n not in _GROUND}
    for name, gdf in {**named, **twin.vectors, **(extra or {})}.items():
        if gdf is None or not len(gdf):
            continue
        types = set(gdf.geometry.geom_type.dropna())
        if types <= {"LineString", "MultiLineString"}:
            if "class" in gdf.columns:
                layers[name] = ("road", gdf)
        elif types <= {"Point", "MultiPoint", "Polygon", "MultiPolygon"}:
            layers[name] = ("facility", gdf)
    return layers


def feature_forecast(
    sampler: FeatureSampler,
    h_max: list[np.ndarray],
    arrivals: list[np.ndarray],
    ground: np.ndarray,
    thresholds: np.ndarray,
    leads: list[float],
) -> pd.DataFrame:
    """Per feature and lead: ``p_flooded`` (share of members above the feature's threshold),
    ``depth_median`` [m] and ``time_median`` [s after now] over the members that flood (NaN: none)."""
    n_members = len(h_max)
    rows = {}
    first = np.stack([sampler.first(a) for a in arrivals])  # (members, features)
    for j, lead in enumerate(leads):
        depth = np.stack([sampler.depth(h[j], ground) for h in h_max])
        flooded = depth > thresholds[None, :]
        tag = f"{lead / 60:g}min"
        rows[f"p_flooded_{tag}"] = flooded.sum(axis=0) / n_members
        rows[f"depth_median_{tag}"] = np.median(depth, axis=0)
        t = np.where(flooded, np.where(np.isnan(first), lead, np.minimum(first, lead)), np.nan)
        with warnings.catch_warnings():  # features no member floods: NaN, said below
            warnings.simplefilter("ignore", RuntimeWarning)
            rows[f"time_median_{tag}"] = np.where(
                flooded.any(axis=0), np.nanmedian(np.where(flooded, t, np.nan), axis=0), np.nan
            )
    return pd.DataFrame(rows)


def warning_table(
    layer: str,
    kind: str,
    gdf: gpd.GeoDataFrame,
    fc: pd.DataFrame,
    thresholds: np.ndarray,
    leads: list[float],
    min_p: float,
) -> gpd.GeoDataFrame:
    """One row per feature and lead time with ``p_flooded >= min_p`` (and above 0): layer, kind, id,
    class, threshold, lead, probability, expected time [min after now], median depth; geometry."""
    ids = gdf["id"].astype(str).to_numpy() if "id" in gdf else np.arange(len(gdf)).astype(str)
    cls = gdf["class"].astype(str).to_numpy() if "class" in gdf else np.full(len(gdf), "")
    parts = []
    for lead in leads:
        tag = f"{lead / 60:g}min"
        p = fc[f"p_flooded_{tag}"].to_numpy()
        sel = (p >= max(min_p, 1e-12)) & (p > 0)
        if not sel.any():
            continue
        parts.append(
            gpd.GeoDataFrame(
                {
                    "layer": layer,
                    "kind": kind,
                    "id": ids[sel],
                    "class": cls[sel],
                    "threshold_m": thresholds[sel],
                    "lead_min": lead / 60,
                    "probability": p[sel],
                    "expected_min": fc[f"time_median_{tag}"].to_numpy()[sel] / 60,
                    "depth_median_m": fc[f"depth_median_{tag}"].to_numpy()[sel],
                },
                geometry=gdf.geometry.values[sel],
                crs=gdf.crs,
            )
        )
    if not parts:
        return gpd.GeoDataFrame(
            columns=[
                "layer",
                "kind",
                "id",
                "class",
                "threshold_m",
                "lead_min",
                "probability",
                "expected_min",
                "depth_median_m",
            ],
            geometry=[],
            crs=gdf.crs,
        )
    return pd.concat(parts, ignore_index=True)
