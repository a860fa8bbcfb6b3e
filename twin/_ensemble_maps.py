"""Ensemble maps: exceedance probabilities of max depth and per-building flood probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
import xarray as xr

import twin as _pkg
from twin._cf import grid_mapping, xy_coords

__all__ = ["building_probabilities", "exceedance_maps"]


def exceedance_maps(folders: Sequence[Path], weights: Sequence[float], thresholds: Sequence[float],
                    *, title: str = "") -> xr.Dataset:
    """P(max depth > d) for each threshold d, and the weighted mean and the max of max depth.

    Parameters
    ----------
    folders
        Member result folders (each with ``max_depth.tif``), read one at a time so memory stays at a
        few grids whatever the number of members.
    weights
        Each member's probability; renormalised over ``folders`` (failed members are left out, so
        the maps are conditional on the members that ran).
    thresholds
        Depths [m].
    title
        The dataset's title attribute.

    Returns
    -------
    xarray.Dataset
        ``p_exceed(threshold, y, x)``, ``max_depth_mean(y, x)``, ``max_depth_max(y, x)`` with CF-1.8
        metadata and the CRS in ``spatial_ref`` (opens in xarray, QGIS and Panoply).
    """
    if not folders:
        raise ValueError("no member results to aggregate")
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    thr = np.asarray(thresholds, dtype=np.float64)
    count = mean = peak = None
    for folder, wk in zip(folders, w):  # member order, so the sums do not depend on completion order
        with rasterio.open(Path(folder) / "max_depth.tif") as src:
            depth = src.read(1)
            transform, crs = src.transform, src.crs
        if count is None:
            count = np.zeros((len(thr), *depth.shape))
            mean = np.zeros(depth.shape)
            peak = np.full(depth.shape, -np.inf, dtype=np.float32)
        for i, d in enumerate(thr):
            count[i] += wk * (depth > d)
        mean += wk * depth
        np.maximum(peak, depth, out=peak)
    grid = "spatial_ref"
    ds = xr.Dataset(
        {"p_exceed": (("threshold", "y", "x"), count.astype(np.float32),
                      {"units": "1", "long_name": "probability that the maximum water depth exceeds the threshold",
                       "grid_mapping": grid, "valid_min": 0.0, "valid_max": 1.0}),
         "max_depth_mean": (("y", "x"), mean.astype(np.float32),
                            {"units": "m", "long_name": "probability-weighted mean of the members' maximum depth",
                             "grid_mapping": grid}),
         "max_depth_max": (("y", "x"), peak,
                           {"units": "m", "long_name": "largest maximum depth of any member", "grid_mapping": grid}),
         grid: ((), 0, grid_mapping(crs))},
        coords={"threshold": ("threshold", thr, {"units": "m", "long_name": "water depth threshold"}),
                **xy_coords(transform, depth.shape)},
        attrs={"Conventions": "CF-1.8", "title": title, "source": f"cimtwin {_pkg.__version__}",
               "members": len(folders)})
    return ds


def building_probabilities(folders: Sequence[Path], weights: Sequence[float]) -> gpd.GeoDataFrame | None:
    """Per building: the weighted probability of being flooded and the mean and max of its max depth.

    Reads each member's ``buildings.gpkg`` (attributes only; the geometry comes from the first),
    whose ``flooded`` flag follows the member's ``output.building_depth``. ``None`` without buildings.
    """
    first = Path(folders[0]) / "buildings.gpkg"
    if not first.is_file():
        return None
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    out = gpd.read_file(first, engine="pyogrio")
    keep = [c for c in ("id", "base", "height", "source") if c in out.columns]
    out = out[[*keep, out.geometry.name]].copy()
    p = np.zeros(len(out))
    mean = np.zeros(len(out))
    peak = np.zeros(len(out))
    for folder, wk in zip(folders, w):
        df = pyogrio.read_dataframe(Path(folder) / "buildings.gpkg", columns=["id", "max_depth", "flooded"],
                                    read_geometry=False)
        if len(df) != len(out) or ("id" in out and not (df["id"].astype(str).values == out["id"].astype(str).values).all()):
            raise ValueError(f"{folder} holds other buildings than the first member; were they run on one twin?")
        p += wk * df["flooded"].astype(bool).to_numpy()
        mean += wk * df["max_depth"].to_numpy(float)
        peak = np.maximum(peak, df["max_depth"].to_numpy(float))
    out["p_flooded"] = p
    out["max_depth_mean"] = mean
    out["max_depth_max"] = peak
    return out
