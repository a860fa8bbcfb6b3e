"""Ensemble maps: exceedance of max depth (shares of members, probabilities when weighted), the return
period at which each place floods (return-period sweeps), and the same per building."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
import xarray as xr

from twin._cf import global_attrs, grid_mapping, xy_coords
from twin.sims.flood.return_period import AEP_FORMULA, FLAG_MEANINGS, TOLERANCE_M, aep, first_crossing

__all__ = ["building_probabilities", "exceedance_maps", "return_period_maps"]

_GRID = "spatial_ref"
_INTERPOLATION = "linear in ln(T) of the member depths on either side of the threshold"


def exceedance_maps(
    folders: Sequence[Path], weights: Sequence[float] | None, thresholds: Sequence[float], *, title: str = ""
) -> xr.Dataset:
    """The share of members whose max depth exceeds each threshold d; its probability when weighted.

    Parameters
    ----------
    folders
        Member result folders (each with ``max_depth.tif``), read one at a time so memory stays at a
        few grids whatever the number of members.
    weights
        Each member's probability, renormalised over ``folders`` (failed members are left out, so
        the maps are conditional on the members that ran); ``None`` when the ensemble gives no
        weights: then there is no probability, only the share of members.
    thresholds
        Depths [m].
    title
        The dataset's title attribute.

    Returns
    -------
    xarray.Dataset
        ``member_share(threshold, y, x)`` (unweighted fraction of members with max depth > d),
        ``p_exceed(threshold, y, x)`` (only with ``weights``), ``max_depth_mean(y, x)`` (weighted,
        equal weights without), ``max_depth_max(y, x)``; CF-1.8 with the CRS in ``spatial_ref``
        (opens in xarray, QGIS and Panoply).
    """
    if not folders:
        raise ValueError("no member results to aggregate")
    w = _normalised(weights, len(folders))
    thr = np.asarray(thresholds, dtype=np.float64)
    count = prob = mean = peak = None
    for (depth, transform, crs), wk in zip(_depths(folders), w):  # noqa: B007 (the grid is used after the loop); member order: sums independent of completion
        if count is None:
            count = np.zeros((len(thr), *depth.shape), dtype=np.int64)
            prob = np.zeros((len(thr), *depth.shape))
            mean = np.zeros(depth.shape)
            peak = np.full(depth.shape, -np.inf, dtype=np.float32)
        for i, d in enumerate(thr):
            wet = depth > d
            count[i] += wet
            prob[i] += wk * wet
        mean += wk * depth
        np.maximum(peak, depth, out=peak)
    data = {
        "member_share": (
            ("threshold", "y", "x"),
            (count / len(folders)).astype(np.float32),
            {
                "units": "1",
                "long_name": "share of members whose maximum water depth exceeds the "
                "threshold (unweighted; not a probability unless the members are equally likely)",
                "grid_mapping": _GRID,
                "valid_min": 0.0,
                "valid_max": 1.0,
            },
        )
    }
    if weights is not None:
        data["p_exceed"] = (
            ("threshold", "y", "x"),
            prob.astype(np.float32),
            {
                "units": "1",
                "long_name": "probability that the maximum water depth exceeds the "
                "threshold (members weighted by their probabilities)",
                "grid_mapping": _GRID,
                "valid_min": 0.0,
                "valid_max": 1.0,
            },
        )
    data["max_depth_mean"] = (
        ("y", "x"),
        mean.astype(np.float32),
        {
            "units": "m",
            "grid_mapping": _GRID,
            "long_name": "weighted mean of the members' maximum depth"
            if weights is not None
            else "mean of the members' maximum depth",
        },
    )
    data["max_depth_max"] = (
        ("y", "x"),
        peak,
        {"units": "m", "long_name": "largest maximum depth of any member", "grid_mapping": _GRID},
    )
    comment = (
        "members weighted by their probabilities: p_exceed is a probability, member_share the plain share"
        if weights is not None
        else "no weights given: member_share is the share of members, not a "
        "probability, so there is no p_exceed (give weights for one)"
    )
    return _dataset(
        data, thr, transform, crs, depth.shape, title, len(folders), weighted=int(weights is not None), comment=comment
    )


def return_period_maps(
    folders: Sequence[Path],
    periods: Sequence[float],
    thresholds: Sequence[float],
    *,
    title: str = "",
    tolerance: float = TOLERANCE_M,
) -> xr.Dataset:
    """Per cell, the smallest return period at which max depth exceeds each threshold, and its AEP.

    Parameters
    ----------
    folders
        Member result folders (``max_depth.tif``), one per return period; read one at a time in
        order of return period.
    periods
        The members' return periods [years], all different (any order).
    thresholds
        Depths [m]; a cell floods where max depth > threshold.
    title
        The dataset's title attribute.
    tolerance
        m; a cell whose depth drops by more from one return period to the next is counted as
        non-monotonic.

    Returns
    -------
    xarray.Dataset
        ``flood_return_period(threshold, y, x)`` [years] (interpolated in ``ln T`` between the
        members on either side of the crossing; the smallest member's T where that member already
        floods the cell, meaning "at most"; NaN where no member floods it, meaning "more than the
        largest"), ``flood_return_period_flag`` (CF flags: interpolated, at_or_below, above),
        ``flood_aep`` = ``1 - exp(-1/T)``, ``non_monotonic(y, x)``; attributes ``periods_years`` and
        ``non_monotonic_cells``. CF-1.8 like :func:`exceedance_maps`.
    """
    order = np.argsort(np.asarray(periods, dtype=np.float64), kind="stable")
    t = np.asarray(periods, dtype=np.float64)[order]
    grids = _depths([folders[i] for i in order])
    first, transform, crs = next(grids)
    cross = first_crossing(itertools.chain([first], (g for g, _, _ in grids)), t, thresholds, tolerance=tolerance)
    thr = np.asarray(thresholds, dtype=np.float64)
    rp_attrs = {
        "units": "year",
        "grid_mapping": _GRID,
        "ancillary_variables": "flood_return_period_flag",
        "long_name": "smallest return period at which the maximum water depth exceeds the threshold",
        "interpolation": _INTERPOLATION,
        "comment": f"where the smallest member (T = {t[0]:g} y) already floods the cell this is {t[0]:g} "
        f"and means at most {t[0]:g} (flag at_or_below); NaN where no member floods it, i.e. "
        f"more than {t[-1]:g} y (flag above)",
    }
    data = {
        "flood_return_period": (("threshold", "y", "x"), cross.period.astype(np.float32), rp_attrs),
        "flood_return_period_flag": (
            ("threshold", "y", "x"),
            cross.flag,
            {
                "long_name": "how flood_return_period was found",
                "grid_mapping": _GRID,
                "flag_values": np.arange(len(FLAG_MEANINGS), dtype=np.int8),
                "flag_meanings": " ".join(FLAG_MEANINGS),
            },
        ),
        "flood_aep": (
            ("threshold", "y", "x"),
            aep(cross.period).astype(np.float32),
            {
                "units": "1",
                "grid_mapping": _GRID,
                "formula": f"AEP = {AEP_FORMULA}",
                "long_name": "annual exceedance probability of the flood_return_period event",
                "valid_min": 0.0,
                "valid_max": 1.0,
            },
        ),
        "non_monotonic": (
            ("y", "x"),
            cross.decreasing.astype(np.int8),
            {
                "long_name": "1 where the maximum depth drops by more than the tolerance from one "
                "return period to the next (non-physical or numerical)",
                "tolerance_m": tolerance,
                "grid_mapping": _GRID,
            },
        ),
    }
    return _dataset(
        data,
        thr,
        transform,
        crs,
        cross.decreasing.shape,
        title,
        len(folders),
        periods_years=t,
        non_monotonic_cells=int(cross.decreasing.sum()),
        aep_formula=AEP_FORMULA,
    )


def building_probabilities(
    folders: Sequence[Path],
    weights: Sequence[float] | None,
    *,
    periods: Sequence[float] | None = None,
    building_depth: float | None = None,
    tolerance: float = TOLERANCE_M,
) -> gpd.GeoDataFrame | None:
    """Per building: the share of members that flood it (its probability when weighted), the mean and
    max of its max depth, and with ``periods`` the return period at which it floods.

    Reads each member's ``buildings.gpkg`` (attributes only; the geometry comes from the first),
    whose ``flooded`` flag follows the member's ``output.building_depth``. ``None`` without buildings.
    With ``periods`` (one per folder, all different) and the members' common ``building_depth``
    [m], adds ``flood_return_period``, ``flood_return_period_flag`` (``interpolated``,
    ``at_or_below``, ``above``), ``flood_aep`` and ``non_monotonic`` as :func:`return_period_maps`
    does per cell, on the building's exposure depth (its ``max_depth``).
    """
    first = Path(folders[0]) / "buildings.gpkg"
    if not first.is_file():
        return None
    w = _normalised(weights, len(folders))
    out = gpd.read_file(first, engine="pyogrio")
    keep = [c for c in ("id", "base", "height", "source") if c in out.columns]
    out = out[[*keep, out.geometry.name]].copy()
    count = np.zeros(len(out), dtype=np.int64)
    p = np.zeros(len(out))
    mean = np.zeros(len(out))
    peak = np.zeros(len(out))
    depths = []
    for folder, wk in zip(folders, w):
        df = pyogrio.read_dataframe(
            Path(folder) / "buildings.gpkg", columns=["id", "max_depth", "flooded"], read_geometry=False
        )
        if len(df) != len(out) or (
            "id" in out and not (df["id"].astype(str).values == out["id"].astype(str).values).all()
        ):
            raise ValueError(f"{folder} holds other buildings than the first member; were they run on one twin?")
        flooded = df["flooded"].astype(bool).to_numpy()
        depth = df["max_depth"].to_numpy(float)
        count += flooded
        p += wk * flooded
        mean += wk * depth
        peak = np.maximum(peak, depth)
        depths.append(depth)  # one float per building and member: small next to a grid
    out["member_share"] = count / len(folders)
    if weights is not None:
        out["p_flooded"] = p
    out["max_depth_mean"] = mean
    out["max_depth_max"] = peak
    if periods is not None and building_depth is not None:
        order = np.argsort(np.asarray(periods, dtype=np.float64), kind="stable")
        cross = first_crossing(
            (depths[i] for i in order),
            np.asarray(periods, dtype=np.float64)[order],
            [building_depth],
            tolerance=tolerance,
        )
        out["flood_return_period"] = cross.period[0]
        out["flood_return_period_flag"] = np.asarray(FLAG_MEANINGS)[cross.flag[0]]
        out["flood_aep"] = aep(cross.period[0])
        out["non_monotonic"] = cross.decreasing
    return out


def _normalised(weights: Sequence[float] | None, n: int) -> np.ndarray:
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    return w / w.sum()


def _depths(folders: Sequence[Path]) -> Iterator[tuple[np.ndarray, Any, Any]]:
    """Each member's max depth grid with its transform and CRS, read when asked for."""
    for folder in folders:
        with rasterio.open(Path(folder) / "max_depth.tif") as src:
            yield src.read(1), src.transform, src.crs


def _dataset(
    data: dict[str, Any],
    thresholds: np.ndarray,
    transform: Any,
    crs: Any,
    shape: tuple[int, int],
    title: str,
    members: int,
    **attrs: Any,
) -> xr.Dataset:
    """A CF-1.8 dataset over (threshold, y, x) with the grid mapping every ensemble NetCDF carries."""
    return xr.Dataset(
        {**data, _GRID: ((), 0, grid_mapping(crs))},
        coords={
            "threshold": ("threshold", thresholds, {"units": "m", "long_name": "water depth threshold"}),
            **xy_coords(transform, shape),
        },
        attrs=global_attrs(title, members=members, **attrs),
    )
