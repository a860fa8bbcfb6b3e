"""Catchment water balance on a twin: HBV-96 runoff per catchment or river link, over scenarios.

Joins the twin (land use, imperviousness from land use and buildings, terrain hydrology) to the
HBV-96 kernel of :mod:`kernels.water_balance`. Parameters come per land-use class from
``twin/data/hbv.csv`` (sources in its header and ``source`` column); the impervious fraction per cell
is the twin's ``impervious`` grid (1 on buildings, rivers and lakes, the class's value elsewhere).

Why no fine grid is needed: the model runs on *response units*, the sets of cells that share a zone,
a land-use class and a forcing column. Cells of one unit have the same parameters and forcing and
differ only in imperviousness, which enters the model linearly (a cell is the mix ``imp`` x
impervious part + ``(1 - imp)`` x pervious part, and neither part's stores depend on ``imp``), so
one unit with the mean imperviousness and the summed area gives the zone exactly the water its
cells would: no block-averaging, no loss. A 2 m twin of a few km2 becomes a few hundred units.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from kernels import water_balance as _wb
from twin.errors import InputDataError
from twin.model.landuse import merge_class_tables
from twin.model.twin import Twin

__all__ = ["catchment_spi", "hbv_table", "response_units", "runoff"]

_ZONE_MODES = ("watersheds", "links")
_FLOW_VARS = {"quick_runoff": "q_fast", "slow_runoff": "q_slow"}
_DEPTH_VARS = {
    "et": "et",
    "precip": "precip",
    "soil": "soil",
    "upper_zone": "upper",
    "lower_zone": "lower",
    "depression": "depression",
}


def hbv_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """HBV parameters per land-use class (columns :data:`kernels.water_balance.PARAMS`), indexed by class.

    Parameters
    ----------
    path : path, optional
        A CSV with a ``class`` column and any of the parameter columns; what it leaves out (columns,
        the ``default`` row) is taken from the shipped ``twin/data/hbv.csv``.

    Raises
    ------
    InputDataError
        Unreadable file, unknown columns, values out of the model's ranges.
    """
    with resources.files("twin").joinpath("data/hbv.csv").open() as fh:
        base = _index(pd.read_csv(fh, comment="#"), "the shipped HBV table")
    if path is None:
        return _check_table(base, "the shipped HBV table")
    try:
        user = _index(pd.read_csv(Path(path), comment="#"), str(path))
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputDataError(f"HBV table {path} cannot be read as CSV ({exc}).") from None
    unknown = sorted(set(user.columns) - set(_wb.PARAMS))
    if unknown:
        raise InputDataError(f"HBV table {path} has unknown columns {unknown}; known: {list(_wb.PARAMS)}.")
    return _check_table(merge_class_tables(base, user), str(path))


def _index(table: pd.DataFrame, source: str) -> pd.DataFrame:
    if "class" not in table.columns:
        raise InputDataError(f"{source} needs a 'class' column naming each land-use class.")
    table = table.set_index("class").drop(columns=["source"], errors="ignore")
    table.index = table.index.astype(str).str.strip().str.lower()
    return table


def _check_table(table: pd.DataFrame, source: str) -> pd.DataFrame:
    table = table[list(_wb.PARAMS)].astype(float)
    try:
        _wb.check_params(table.to_numpy(), len(table))
    except ValueError as exc:
        raise InputDataError(f"{source}: {exc}. Fix the values (see twin/data/hbv.csv for typical ones).") from None
    return table


def _zones(twin: Twin, zones: Any, threshold_cells: int) -> np.ndarray:
    from twin.sims.river.network import Network, network_from_streams

    if isinstance(zones, Network):
        if zones.catchment is None:
            raise InputDataError(
                "The network has no catchments; build it with network_from_streams or attach them "
                "with twin.sims.river.network.link_catchments(twin, network)."
            )
        return zones.catchment
    if isinstance(zones, str):
        if zones not in _ZONE_MODES:
            raise InputDataError(
                f"zones = {zones!r} is not known; use one of {_ZONE_MODES}, a Network or a label grid."
            )
        if zones == "links":
            with warnings.catch_warnings():
                # it warns of links whose slope it floors for routing; the catchments do not depend on it
                warnings.filterwarnings("ignore", message=".*slope was set")
                return network_from_streams(twin, threshold_cells=threshold_cells).catchment
        from twin.sims.terrain.run import terrain_analysis

        return terrain_analysis(twin, threshold_cells=threshold_cells)["watersheds"]
    arr = np.asarray(zones)
    if arr.shape != twin.shape or not np.issubdtype(arr.dtype, np.integer) or (arr < 0).any():
        raise InputDataError(
            f"zones must be a grid of non-negative integer labels of the twin's shape {twin.shape} "
            f"(0 = not simulated); got {arr.dtype} {arr.shape}."
        )
    return arr


def response_units(
    twin: Twin, zones: np.ndarray, forcing_zones: np.ndarray | None = None, table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Group the twin's cells into HBV response units: one per zone, land-use class and forcing column.

    Parameters
    ----------
    twin : Twin
    zones : int array (ny, nx)
        Zone labels (> 0); cells labelled 0 are left out.
    forcing_zones : int array (ny, nx), optional
        The forcing column of each cell (default 0 everywhere).
    table : DataFrame, optional
        HBV parameters by class (default :func:`hbv_table`).

    Returns
    -------
    DataFrame
        One row per unit: ``zone``, ``class``, ``forcing``, ``cells``, ``area_m2``, ``impervious`` (mean)
        and the parameters of :data:`kernels.water_balance.PARAMS`.
    """
    table = hbv_table() if table is None else table
    classes = np.asarray(twin.landuse_table.index)
    cls = np.asarray(twin.derived("landuse_index")).ravel()
    forcing = np.zeros(twin.shape, np.int64) if forcing_zones is None else np.asarray(forcing_zones)
    keep = np.asarray(zones).ravel() > 0
    key = np.stack([np.asarray(zones).ravel()[keep], cls[keep], forcing.ravel()[keep]], axis=1).astype(np.int64)
    if not key.size:
        raise InputDataError("No cell has a zone label > 0; give zones covering the area to simulate.")
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    cells = np.bincount(inv)
    imp = np.bincount(inv, weights=np.asarray(twin.impervious).ravel()[keep]) / cells
    names = classes[uniq[:, 1]]
    rows = table.reindex([c if c in table.index else "default" for c in names])
    units = pd.DataFrame(
        {
            "zone": uniq[:, 0],
            "class": names,
            "forcing": uniq[:, 2],
            "cells": cells,
            "area_m2": cells * twin.cell_size**2,
            "impervious": np.clip(imp, 0.0, 1.0),
        }
    )
    return pd.concat([units, rows.reset_index(drop=True)], axis=1)


def _step(dt: str | pd.Timedelta) -> pd.Timedelta:
    if isinstance(dt, str) and dt.strip().endswith("d"):
        dt = dt.strip()[:-1] + "D"  # pandas deprecates the lower-case day unit
    try:
        step = pd.Timedelta(dt)
    except (ValueError, TypeError):
        step = None
    if step is None or step <= pd.Timedelta(0) or step > pd.Timedelta("1D"):
        raise InputDataError(f"dt = {dt!r} must be a step of at most one day, e.g. '1d' or '1h'.")
    return step


def _forcing(name: str, value: Any, n_forcing: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Forcing as (scenario, time, forcing) in mm per step, with the coordinates it carried."""
    coords: dict[str, Any] = {}
    if isinstance(value, pd.Series):
        value = xr.DataArray(value.to_numpy(), dims=["time"], coords={"time": value.index})
    if isinstance(value, xr.DataArray):
        unknown = set(value.dims) - {"scenario", "time", "forcing"}
        if unknown or "time" not in value.dims:
            raise InputDataError(f"{name} has dims {value.dims}; use 'time' and optionally 'scenario', 'forcing'.")
        for dim in ("scenario", "forcing"):
            if dim not in value.dims:
                value = value.expand_dims(dim)
        value = value.transpose("scenario", "time", "forcing")
        coords = {k: value[k].to_numpy() for k in ("scenario", "time") if k in value.coords}
        arr = value.to_numpy()
    else:
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 1:
            arr = arr[None, :, None]
        elif arr.ndim == 2:
            arr = arr[:, :, None] if n_forcing == 1 else arr[None]
        if arr.ndim != 3:
            raise InputDataError(
                f"{name} must be (time,), (scenario, time) or (scenario, time, forcing); got shape {np.shape(value)}."
            )
    arr = np.asarray(arr, dtype=float)
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise InputDataError(f"{name} must hold finite depths >= 0 mm per step; fill gaps before the run.")
    if arr.shape[2] != n_forcing:
        raise InputDataError(f"{name} has {arr.shape[2]} forcing columns; forcing_zones labels {n_forcing}.")
    return arr, coords


def runoff(
    twin: Twin,
    precip: Any,
    pet: Any,
    *,
    dt: str | pd.Timedelta = "1d",
    zones: Any = "watersheds",
    threshold_cells: int = 100,
    forcing_zones: np.ndarray | None = None,
    scenarios: Sequence[str] | None = None,
    start: str | pd.Timestamp = "2000-01-01",
    table: pd.DataFrame | str | os.PathLike | None = None,
    maxbas_days: float | None = None,
    state: xr.Dataset | None = None,
) -> xr.Dataset:
    """Daily-to-hourly water balance of the twin's catchments (HBV-96), batched over scenarios.

    Parameters
    ----------
    twin : Twin
    precip, pet : array_like, pandas.Series or xarray.DataArray
        Precipitation and potential evapotranspiration [mm per step]: ``(time,)``, ``(scenario, time)``
        or ``(scenario, time, forcing)`` (with ``forcing_zones``, a 2-D array is ``(time, forcing)``);
        DataArrays use those dim names and give the time and scenario coordinates (times ``dt`` apart).
        The two broadcast (e.g. rain per scenario, one PET for all).
    dt : str or Timedelta
        Step length, at most a day ("1d", "1h"); HBV's rates are per day and are converted.
    zones : {"watersheds", "links"}, Network or int array (ny, nx)
        Where runoff is summed: the watersheds of the domain's outlets; the catchment of every link
        of :func:`twin.sims.river.network.network_from_streams`; the catchments of a :class:`twin.sims.river.network.Network`
        (zone = ``link_id``; ``ds.runoff.reindex(zone=network.ids, fill_value=0)`` is then the lateral
        inflow its router takes, ``(scenario, time, link)`` in m3/s); or a label grid (labels > 0;
        cells labelled 0 are not run).
    threshold_cells : int
        Stream threshold of the terrain analysis behind ``"watersheds"`` and ``"links"``.
    forcing_zones : int array (ny, nx), optional
        The forcing column each cell takes (e.g. Thiessen polygons of rain gauges); default one
        series for the whole twin.
    scenarios : sequence of str, optional
        Names of the scenarios (default 0, 1, ... or the forcing's own).
    start : str or Timestamp
        First step's start, when the forcing carries no time coordinate.
    table : DataFrame or path, optional
        HBV parameters by class (default :func:`hbv_table`); a path is read with :func:`hbv_table`.
    maxbas_days : float, optional
        HBV's triangular routing base [d] applied to each zone's runoff (default: none; river routing
        is the network's job).
    state : Dataset, optional
        A previous result of the same twin, zones and forcing layout: the run continues from its end.

    Returns
    -------
    xarray.Dataset
        Dims ``scenario``, ``time``, ``zone``. Flows [m3/s, step means]: ``runoff`` = ``quick_runoff``
        (impervious surfaces, HBV quick flow and interflow) + ``slow_runoff`` (baseflow). Depths [mm,
        zone means]: ``precip``, ``et`` per step; ``soil``, ``upper_zone``, ``lower_zone``, ``depression``
        at step end. Per zone: ``area_m2``, ``impervious``. Ledger: ``balance_error`` [mm] =
        P - ET - Q - dS - in transit, per scenario and zone (round-off). ``state`` and
        ``routing_carry`` continue the run; attrs record ``dt_s`` and the unit count.

    Raises
    ------
    InputDataError
        Forcing with gaps or negative values, shapes that do not fit, a bad table, a state from
        another set-up.
    """
    step = _step(dt)
    dt_s = step.total_seconds()
    if maxbas_days is not None and not (np.isfinite(maxbas_days) and maxbas_days > 0):
        raise InputDataError(f"maxbas_days = {maxbas_days} must be a positive routing base in days (or None).")
    if table is not None and not isinstance(table, pd.DataFrame):
        table = hbv_table(table)
    elif table is not None:
        table = _check_table(table, "the HBV table")
    zone_grid = _zones(twin, zones, threshold_cells)
    n_forcing = 1 if forcing_zones is None else int(np.max(forcing_zones)) + 1
    if forcing_zones is not None and (np.shape(forcing_zones) != twin.shape or np.min(forcing_zones) < 0):
        raise InputDataError(f"forcing_zones must be a grid of column indices >= 0 of shape {twin.shape}.")
    units = response_units(twin, zone_grid, forcing_zones, table)
    p, p_coords = _forcing("precip", precip, n_forcing)
    e, e_coords = _forcing("pet", pet, n_forcing)
    try:
        n_scen, n_steps, _ = np.broadcast_shapes(p.shape, e.shape)
    except ValueError:
        raise InputDataError(
            f"precip {p.shape} and pet {e.shape} (scenario, time, forcing) do not broadcast; "
            "give both the same number of steps."
        ) from None
    labels, zone_index = np.unique(units["zone"].to_numpy(), return_inverse=True)
    state0, carry0 = _previous(state, len(units), n_scen)
    res = _wb.hbv(
        p,
        e,
        units[list(_wb.PARAMS)].to_numpy(),
        units["impervious"].to_numpy(),
        dt_days=dt_s / 86400.0,
        zones=zone_index.ravel(),
        n_zones=labels.size,
        forcing_index=units["forcing"].to_numpy(),
        weights=units["area_m2"].to_numpy(),
        state=state0,
    )
    area = np.bincount(zone_index.ravel(), weights=units["area_m2"].to_numpy())
    flows = {name: res.zone[..., _wb.ZONE_VARS.index(col)] for name, col in _FLOW_VARS.items()}  # mm m2 per step
    carry: dict[str, np.ndarray] = {}
    if maxbas_days is None and carry0 is not None and np.any(carry0):
        raise InputDataError(
            "The state still holds routed water (it ran with maxbas_days); continue with the same maxbas_days."
        )
    if maxbas_days is None:
        carry0 = None
    else:
        w = _wb.triangular_weights(maxbas_days * 86400.0 / dt_s)
        for i, name in enumerate(_FLOW_VARS):
            old = None if carry0 is None else carry0[..., i]
            flows[name], carry[name] = _wb.route_triangular(
                flows[name], w, _fit_carry(old, w.size, n_scen, labels.size)
            )
    times = p_coords.get("time", e_coords.get("time"))
    if times is None:
        times = pd.date_range(pd.Timestamp(start), periods=n_steps, freq=step)
    elif len(times) > 1 and (np.diff(pd.DatetimeIndex(times)) != step).any():
        raise InputDataError(f"The forcing's times are not {step} apart; pass dt matching its step (e.g. dt='1h').")
    names = (
        scenarios if scenarios is not None else p_coords.get("scenario", e_coords.get("scenario", np.arange(n_scen)))
    )
    if len(names) != n_scen or len(times) != n_steps:
        raise InputDataError(
            f"{len(names)} scenario names / {len(times)} times for {n_scen} scenarios x "
            f"{n_steps} steps; give one name per scenario."
        )
    dims = ("scenario", "time", "zone")
    to_flow = 1e-3 / dt_s  # mm m2 per step -> m3/s
    data = {name: (dims, q * to_flow, {"units": "m3 s-1"}) for name, q in flows.items()}
    data["runoff"] = (dims, (flows["quick_runoff"] + flows["slow_runoff"]) * to_flow, {"units": "m3 s-1"})
    for name, col in _DEPTH_VARS.items():
        data[name] = (dims, res.zone[..., _wb.ZONE_VARS.index(col)] / area, {"units": "mm"})
    data["area_m2"] = (("zone",), area, {"units": "m2"})
    data["impervious"] = (
        ("zone",),
        np.bincount(zone_index.ravel(), weights=units["area_m2"] * units["impervious"]) / area,
    )
    data["balance_error"] = (
        ("scenario", "zone"),
        _balance(res, flows, units, zone_index.ravel(), labels.size, area, carry, carry0),
        {"units": "mm", "long_name": "P - ET - Q - dS - in transit"},
    )
    data["state"] = (("scenario", "unit", "store"), res.state_end)
    if carry:
        data["routing_carry"] = (("scenario", "lag", "zone", "flow"), np.stack([carry[k] for k in _FLOW_VARS], -1))
    return xr.Dataset(
        data,
        coords={"scenario": list(names), "time": times, "zone": labels, "store": list(_wb.STATES)},
        attrs={
            "model": "HBV-96 (Lindström et al. 1997; Seibert & Vis 2012)",
            "dt_s": dt_s,
            "units_simulated": len(units),
            "cells_simulated": int(units["cells"].sum()),
        },
    )


def catchment_spi(
    precip: xr.DataArray | xr.Dataset, scales: Sequence[int] = (1, 3, 6, 12), *, fit_on: Any = None, method: str = "mle"
) -> xr.DataArray:
    """Standardized Precipitation Index per catchment from daily or hourly rainfall (McKee et al. 1993).

    Parameters
    ----------
    precip : DataArray or Dataset
        Rainfall [mm per step] with a ``time`` dim (and any others, e.g. ``scenario``, ``zone``); a
        :func:`runoff` result gives its zone-mean ``precip``. Summed to calendar months; a partial
        first or last month is dropped. Decades of record are needed for a meaningful fit (30 years
        is the WMO's advice).
    scales : sequence of int
        Accumulation periods in months.
    fit_on : scenario label, optional
        Fit the distribution on this scenario (e.g. the historical record) and judge every scenario
        against it; default: each scenario against its own record.
    method : {"mle", "thom"}
        Gamma fit (:func:`kernels.drought.fit_gamma`).

    Returns
    -------
    DataArray
        Dims ``scale``, the input's other dims, ``month`` (the month's first day); NaN where undefined.
    """
    from kernels import drought

    da = precip["precip"] if isinstance(precip, xr.Dataset) else precip
    if "time" not in da.dims:
        raise InputDataError("precip needs a 'time' dim to be summed to calendar months.")
    times = pd.DatetimeIndex(da["time"].to_numpy())
    if times.size < 2:
        raise InputDataError("precip needs at least two steps to tell its step length.")
    step = times[1] - times[0]
    monthly = da.resample(time="MS").sum()
    counts = da["time"].resample(time="MS").count().to_numpy()
    starts = pd.DatetimeIndex(monthly["time"].to_numpy())
    expected = np.array([(s + pd.offsets.MonthBegin(1) - s) / step for s in starts])
    monthly = monthly.isel(time=np.flatnonzero(counts >= expected - 1e-9))
    if monthly.sizes["time"] < 24:
        raise InputDataError(
            f"Only {monthly.sizes['time']} complete months of rainfall; the SPI needs years "
            "(at least two per calendar month, decades for a sound fit)."
        )
    months = pd.DatetimeIndex(monthly["time"].to_numpy())
    if (np.diff(months.year * 12 + months.month) != 1).any():
        raise InputDataError("The complete months of rainfall are not consecutive; fill the gaps first.")
    monthly = monthly.rename(time="month")
    other = [d for d in monthly.dims if d != "month"]
    values = monthly.transpose(*other, "month").to_numpy()
    out = []
    for scale in scales:
        fit = None
        if fit_on is not None:
            if "scenario" not in monthly.dims:
                raise InputDataError("fit_on names a scenario, but precip has no 'scenario' dim.")
            labels = list(monthly["scenario"].to_numpy())
            if fit_on not in labels:
                raise InputDataError(f"fit_on = {fit_on!r} is not a scenario of precip ({labels}).")
            base = np.take(values, [labels.index(fit_on)], axis=other.index("scenario"))
            fit = drought.fit_gamma(drought.rolling_sum(base, scale), start_month=int(months[0].month), method=method)
        try:
            index, _ = drought.spi(values, scale, start_month=int(months[0].month), fit=fit, method=method)
        except ValueError as exc:
            raise InputDataError(f"SPI: {exc}") from None
        out.append(index)
    coords = {d: monthly[d] for d in other if d in monthly.coords}
    return xr.DataArray(
        np.stack(out),
        dims=("scale", *other, "month"),
        coords={**coords, "scale": list(scales), "month": months},
        name="spi",
        attrs={"long_name": "Standardized Precipitation Index (McKee et al. 1993)"},
    )


def _previous(state: xr.Dataset | None, n_units: int, n_scen: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    if state is None:
        return None, None
    arr = state["state"].to_numpy()
    if arr.shape[1] != n_units or arr.shape[0] not in (1, n_scen):
        raise InputDataError(
            f"The state holds {arr.shape[1]} units x {arr.shape[0]} scenarios; this set-up has "
            f"{n_units} x {n_scen}. Continue with the same twin, zones, forcing layout and scenarios."
        )
    carry = state["routing_carry"].to_numpy() if "routing_carry" in state else None
    return arr, carry


def _fit_carry(carry: np.ndarray | None, m: int, n_scen: int, n_zones: int) -> np.ndarray | None:
    """A previous run's routing carry, padded or trimmed to ``m - 1`` lags (it holds no more water)."""
    if carry is None:
        return None
    out = np.zeros((n_scen, m - 1, n_zones))
    k = min(m - 1, carry.shape[1])
    out[:, :k] = carry[:, :k]
    if carry.shape[1] > k and np.any(carry[:, k:]):
        raise InputDataError(
            "The state's routing carry is longer than this run's maxbas_days; continue with the same maxbas_days."
        )
    return out


def _balance(
    res: _wb.HBVResult,
    flows: dict[str, np.ndarray],
    units: pd.DataFrame,
    zone_index: np.ndarray,
    n_zones: int,
    area: np.ndarray,
    carry: dict[str, np.ndarray],
    carry0: np.ndarray | None,
) -> np.ndarray:
    """Zone ledger [mm] from the outputs themselves: P - ET - Q - dS - (water the router took in minus released)."""
    w = units["area_m2"].to_numpy()

    def by_zone(per_unit: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(zone_index, weights=w * row, minlength=n_zones) for row in per_unit])

    p, et = (res.zone[..., _wb.ZONE_VARS.index(col)].sum(axis=1) for col in ("precip", "et"))
    q = sum(f.sum(axis=1) for f in flows.values())
    ds = by_zone(res.storage(res.state_end)) - by_zone(res.storage(res.state_start))
    transit = sum(c.sum(axis=1) for c in carry.values()) if carry else 0.0
    if carry0 is not None:
        transit = transit - carry0.sum(axis=(1, 3))
    return (p - et - q - ds - transit) / area
