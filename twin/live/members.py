"""Advancing the flood state under a sequence of rain fields: the hot start, the forecast members,
and the runs a replay verifies against; the members on Dask (the cluster of ``twin ensemble``).

A member starts from the cycle's state (hot-started and nudged) and runs to the longest lead time
under its own rain, radar interval by radar interval; it hands back, for each lead time, the largest
depth since now, and the time after now at which each cell first exceeded the flooded depth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels.flood import FloodAccum, FloodForcing, FloodGrid, FloodParams, FloodState, stored_volume
from kernels.swe import SweParams
from twin.errors import NumericalError
from twin.live.nowcast import onto_grid
from twin.sims.flood.forcing import MM_PER_H
from twin.sims.flood.schemes import advance_of

__all__ = ["MemberInputs", "MemberOutput", "advance_with_rain", "run_member", "run_members"]

_VOLUMES = ("vol_rain", "vol_inflow", "vol_bnd_in", "vol_bnd_out", "vol_infil", "vol_drain")


@dataclass
class MemberInputs:
    """What every member of a cycle shares (scattered to the workers once per cycle).

    ``params`` pick the scheme (:class:`~kernels.swe.SweParams`: the full solver, whose ``state`` is a
    :class:`~kernels.swe.SweState`), as the base scenario's ``numerics.scheme`` did.
    """

    grid: FloodGrid
    forcing: FloodForcing
    params: FloodParams | SweParams
    roof_share: np.ndarray
    state: FloodState
    radar_crs: str
    radar_transform: Any
    crs: str
    transform: Any
    interval: float
    leads: tuple[float, ...]


@dataclass
class MemberOutput:
    """A member's maps: ``h_max`` (leads, ny, nx) float32, ``arrival`` (ny, nx) seconds after now
    (NaN: never within the longest lead), and its water balance."""

    h_max: np.ndarray
    arrival: np.ndarray
    balance: dict[str, float]


def advance_with_rain(
    state: FloodState,
    grid: FloodGrid,
    forcing: FloodForcing,
    params: FloodParams | SweParams,
    segments: Sequence[tuple[float, np.ndarray]],
    t_end: float,
    *,
    accum: FloodAccum | None = None,
    stops: Sequence[float] = (),
    at_stop: Callable[[float], None] | None = None,
) -> dict[str, float]:
    """Advance ``state`` to ``t_end`` (model s); ``segments`` are ``(start, rain field [m/s])`` in time
    order, each holding until the next; ``at_stop(t)`` is called at each of ``stops``. Returns the
    interval's volumes [m3] and its balance (``stored_before``, ``stored_after``, ``residual``).
    ``params`` pick the scheme (see :class:`MemberInputs`)."""
    advance = advance_of(params)
    courant = "numerics.cfl" if isinstance(params, SweParams) else "numerics.alpha"
    totals = dict.fromkeys(_VOLUMES, 0.0)
    totals["steps"] = 0.0
    stored0 = stored_volume(state, grid)
    starts = [s for s, _ in segments]
    times = sorted({t for t in (*starts[1:], *stops, t_end) if state.t < t <= t_end})
    k = max(0, int(np.searchsorted(starts, state.t, side="right")) - 1) if starts else -1
    field = segments[k][1] if k >= 0 else np.zeros(state.h.shape)
    f = forcing._replace(rain_field=np.ascontiguousarray(field, dtype=np.float64))
    for t in times:
        stats = advance(state, grid, f, params, t, accum)
        if stats.status != 0:
            raise NumericalError(
                f"The forecast's flood state became unstable at model time {state.t:.0f} s; lower the base "
                f"scenario's {courant} or numerics.dt_max."
            )
        for name in _VOLUMES:
            totals[name] += getattr(stats, name)
        totals["steps"] += stats.steps
        if at_stop is not None and any(abs(t - s) < 1e-9 for s in stops):
            at_stop(t)
        while k + 1 < len(starts) and starts[k + 1] <= t + 1e-9:
            k += 1
            f = forcing._replace(rain_field=np.ascontiguousarray(segments[k][1], dtype=np.float64))
    stored1 = stored_volume(state, grid)
    net = totals["vol_rain"] + totals["vol_inflow"] + totals["vol_bnd_in"]
    net -= totals["vol_bnd_out"] + totals["vol_infil"] + totals["vol_drain"]
    totals.update(stored_before=stored0, stored_after=stored1, residual=(stored1 - stored0) - net)
    return totals


def run_member(inputs: MemberInputs, rain: np.ndarray) -> MemberOutput:
    """Run one member whose rain [mm/h] on the radar grid is ``rain`` ``(steps, ny, nx)``, step ``k``
    holding from ``now + k x interval``."""
    s = inputs.state
    state = s.copy()  # of the scheme's state class: the full solver's keeps its discharges
    shape = state.h.shape
    on_grid = onto_grid(rain, inputs.radar_crs, inputs.radar_transform, inputs.crs, inputs.transform, shape)
    scale = MM_PER_H * inputs.roof_share
    segments = [(state.t + k * inputs.interval, np.nan_to_num(on_grid[k], nan=0.0) * scale) for k in range(len(rain))]
    accum = FloodAccum.zeros(shape)
    t0 = state.t
    leads = [t0 + lead for lead in inputs.leads]
    h_max = np.zeros((len(leads), *shape), np.float32)

    def snapshot(t: float) -> None:
        h_max[leads.index(min(leads, key=lambda x: abs(x - t)))] = accum.h_max

    balance = advance_with_rain(
        state,
        inputs.grid,
        inputs.forcing,
        inputs.params,
        segments,
        leads[-1],
        accum=accum,
        stops=leads,
        at_stop=snapshot,
    )
    arrival = (accum.t_arrival - t0).astype(np.float32)
    return MemberOutput(h_max, arrival, balance)


def run_members(inputs: MemberInputs, rains: Sequence[np.ndarray], client: Any = None) -> list[MemberOutput]:
    """Run the members (one per rain sequence), on ``client``'s Dask workers or, without one, here."""
    if client is None:
        return [run_member(inputs, r) for r in rains]
    shared = client.scatter(inputs, broadcast=True, hash=False)
    futures = [client.submit(run_member, shared, r, pure=False, retries=1) for r in rains]
    try:
        return client.gather(futures)
    finally:
        client.cancel([*futures, shared])
