"""Reservoir operation by zones: what a reservoir may, must and may not release in a step.

A reservoir's storage is split by guide curves (storages that vary with the day of the year) into
zones, from the top (as in HEC-ResSim and WEAP):

* above ``capacity``: spill, always released;
* flood control, between the conservation top (the rule curve) and ``capacity``: released in the
  step, at most ``max_release`` [m3/s] beyond the spill;
* conservation, between the buffer top and the conservation top: released freely to meet demand;
* buffer, between the inactive top and the buffer top: hedging, at most ``buffer_coef`` of the
  water in the zone per step (WEAP's buffer coefficient);
* inactive (dead storage), below the inactive top: never released.

Evaporation is the step's evaporation depth times the lake area at the start-of-step storage (from
the reservoir's storage-area table), limited to the water there is. The functions here give the
bounds of the end-of-step storage; the allocation (``kernels.allocation``) decides the releases
within them. All functions work on scenarios x reservoirs arrays.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["guide_curve", "storage_bounds", "table_lookup"]


@numba.njit(cache=True)
def guide_curve(day: float, days: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Periodic linear interpolation of guide curves at a day of the year.

    Parameters
    ----------
    day : float
        Day of the year, 1-based (1.0 = 1 January 00:00); fractions allowed.
    days, values : float arrays (r, k)
        Each reservoir's curve points (days increasing within [1, 366)), padded by repeating the
        last point. Between the last point and the first point of the next year the curve is
        interpolated across the new year (period 365.25 days).

    Returns
    -------
    float array (r,)
    """
    r, k = days.shape
    out = np.empty(r)
    for i in range(r):
        # number of real points: padding repeats the last day
        npt = k
        while npt > 1 and days[i, npt - 1] == days[i, npt - 2]:
            npt -= 1
        if npt == 1 or day < days[i, 0] or day >= days[i, npt - 1]:
            d0, v0 = days[i, npt - 1], values[i, npt - 1]
            d1, v1 = days[i, 0] + 365.25, values[i, 0]
            x = day if day >= d0 else day + 365.25
            out[i] = v0 if d1 == d0 else v0 + (v1 - v0) * (x - d0) / (d1 - d0)
            continue
        j = 0
        while days[i, j + 1] <= day:
            j += 1
        d0, d1 = days[i, j], days[i, j + 1]
        out[i] = values[i, j] + (values[i, j + 1] - values[i, j]) * (day - d0) / (d1 - d0)
    return out


@numba.njit(cache=True)
def table_lookup(x: np.ndarray, table_x: np.ndarray, table_y: np.ndarray) -> np.ndarray:
    """Linear interpolation per reservoir in (scenario, reservoir) arrays, clamped at the table ends.

    ``x`` is (s, r); ``table_x`` and ``table_y`` are (r, k) with ``table_x`` non-decreasing.
    """
    s, r = x.shape
    out = np.empty((s, r))
    for j in range(r):
        for i in range(s):
            out[i, j] = np.interp(x[i, j], table_x[j], table_y[j])
    return out


@numba.njit(cache=True)
def storage_bounds(
    storage,
    inflow,
    evap_depth,
    capacity,
    conservation,
    buffer,
    inactive,
    buffer_coef,
    max_release,
    table_storage,
    table_area,
    dt,
):
    """Water available in each reservoir this step and the bounds of its end storage.

    Parameters
    ----------
    storage : float array (s, r)
        Storage at the start of the step [m3] (s scenarios, r reservoirs).
    inflow : float array (s, r)
        Inflow [m3/s], step mean.
    evap_depth : float array (s, r)
        Evaporation depth over the step [m] (net of rain on the lake if you like; may be < 0).
    capacity, conservation, buffer, inactive : float arrays (r,)
        Zone tops today [m3]: ``inactive <= buffer <= conservation <= capacity``.
    buffer_coef : float array (r,)
        Fraction of the buffer zone's water that may be released per step.
    max_release : float array (r,)
        Most the flood-control zone releases per step beyond the spill [m3/s] (``inf``: all of it).
    table_storage, table_area : float arrays (r, k)
        Storage [m3] - area [m2] tables.
    dt : float
        Step length [s].

    Returns
    -------
    available, lower, upper, evaporation : float arrays (s, r)
        Water there is after inflow and evaporation [m3]; the end storage must lie in
        ``[lower, upper]`` [m3]; evaporation [m3].
    """
    s, r = storage.shape
    available = np.empty((s, r))
    lower = np.empty((s, r))
    upper = np.empty((s, r))
    evaporation = np.empty((s, r))
    for j in range(r):
        for i in range(s):
            water = storage[i, j] + inflow[i, j] * dt
            area = np.interp(storage[i, j], table_storage[j], table_area[j])
            ev = min(evap_depth[i, j] * area, water)
            water -= ev
            evaporation[i, j] = ev
            available[i, j] = water
            # above capacity: spills; flood-control zone: down to the conservation top within the outlet's capacity
            kept = min(water, capacity[j])
            up = max(min(kept, conservation[j]), kept - max_release[j] * dt)
            # what may be released: everything above the buffer, a fraction of the buffer zone
            releasable = max(water - buffer[j], 0.0) + buffer_coef[j] * max(min(water, buffer[j]) - inactive[j], 0.0)
            lo = water - releasable
            upper[i, j] = max(up, lo)
            lower[i, j] = lo
    return available, lower, upper, evaporation
