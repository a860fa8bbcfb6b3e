"""Advancing the flood state under a sequence of rain fields: the hot start, the forecast members,
and the runs a replay verifies against; the members on Dask (the cluster of ``twin ensemble``).

A member starts from the cycle's state (hot-started and nudged) and runs to the longest lead time
under its own rain, radar interval by radar interval; it hands back, for each lead time, the largest
depth since now, and the time after now at which each cell first exceeded the flooded depth (the
kernel's lean accumulator: no speed, hazard or duration). It runs the members' numerics
(:mod:`twin.live.member_numerics`: the base scenario's, the forecast's ``[numerics]`` over them) as a flood run does (:func:`twin.sims.flood.schemes.stepper`). With a sewer
network each member runs SWMM coupled from the SWMM state of now (:mod:`twin.live.sewer`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels.flood import FloodAccum, FloodForcing, FloodGrid, FloodParams, FloodState, gpu_available, stored_volume
from twin.errors import NumericalError, ScenarioError
from twin.live.member_numerics import member_params
from twin.live.nowcast import crop_to, onto_grid
from twin.sims.flood.forcing import MM_PER_H
from twin.sims.flood.scenario import Scenario
from twin.sims.flood.schemes import courant_factor, new_state, stepper

__all__ = [
    "MemberHead",
    "first_interval",
    "MemberInputs",
    "MemberOutput",
    "advance_with_rain",
    "member_state",
    "run_member",
    "run_members",
    "warm_up",
]

_VOLUMES = ("vol_rain", "vol_inflow", "vol_bnd_in", "vol_bnd_out", "vol_infil", "vol_drain")


@dataclass
class MemberInputs:
    """What every member of a cycle shares (scattered to the workers once per cycle).

    ``scenario`` is the cycle's flood scenario with the members' numerics: they pick the scheme, dtype,
    device and time stepping the members run (``state`` is already of that scheme and dtype; ``params``
    carry the same numerics); ``sewer`` the SWMM state of now when
    the scenario has a network (:class:`twin.live.sewer.SewerStart`), else None.
    """

    grid: FloodGrid
    forcing: FloodForcing
    params: FloodParams
    roof_share: np.ndarray
    state: FloodState
    radar_crs: str
    radar_transform: Any
    crs: str
    transform: Any
    interval: float
    leads: tuple[float, ...]
    scenario: Scenario | None = None
    sewer: Any = None
    head: MemberHead | None = None


@dataclass
class MemberHead:
    """The first radar interval, run once for all the members of a cycle: their rain over it is the same
    (the last observed frame), so each goes on from ``state`` (at now + one interval) and ``accum``, and
    adds ``balance`` to its own. ``t0`` is now (model s)."""

    state: FloodState
    accum: FloodAccum
    balance: dict[str, float]
    t0: float


@dataclass
class MemberOutput:
    """A member's maps: ``h_max`` (leads, ny, nx) float32, ``arrival`` (ny, nx) seconds after now
    (NaN: never within the longest lead), its water balance, the CPU seconds it took (``cpu_s``) and,
    with a sewer network, per manhole its first overflow [s after now] and volume by each lead
    (``manholes``, see :class:`twin.live.sewer.ManholeForecast`)."""

    h_max: np.ndarray
    arrival: np.ndarray
    balance: dict[str, float]
    cpu_s: float = 0.0
    manholes: Any = None


def member_state(scenario: Scenario | None, h: np.ndarray) -> FloodState:
    """Still water of depth ``h`` in the state the scenario's scheme advances, in its dtype."""
    if scenario is None:
        return FloodState.from_depth(h)
    return new_state(scenario, np.asarray(h, dtype=scenario.numerics.dtype))


def _stepper(scenario: Scenario | None, params: FloodParams) -> tuple[Callable[..., Any], Any]:
    """The scheme's ``advance`` and parameters, as a flood run of ``scenario`` takes them."""
    if scenario is None:
        from kernels.flood import advance

        return advance, params
    device = scenario.numerics.device
    if device == "gpu" and not gpu_available():
        raise ScenarioError(
            "The forecast's base scenario sets numerics.device = 'gpu', but this machine (or a Dask worker) "
            "has no CUDA GPU that numba-cuda can use; set numerics.device = 'cpu' in the base scenario."
        )
    return stepper(scenario, params, device)


def advance_with_rain(
    state: FloodState,
    grid: FloodGrid,
    forcing: FloodForcing,
    params: FloodParams,
    segments: Sequence[tuple[float, np.ndarray]],
    t_end: float,
    *,
    accum: FloodAccum | None = None,
    stops: Sequence[float] = (),
    at_stop: Callable[[float], None] | None = None,
    scenario: Scenario | None = None,
    sewer: Any = None,
) -> dict[str, float]:
    """Advance ``state`` to ``t_end`` (model s); ``segments`` are ``(start, rain field [m/s])`` in time
    order, each holding until the next; ``at_stop(t)`` is called at each of ``stops``. ``scenario``'s
    numerics pick the scheme (default: the local-inertial kernel); ``sewer`` (a
    :class:`twin.sims.flood.drainage.SewerCoupling`) exchanges water with the surface every coupling
    interval. Returns the interval's volumes [m3] (``vol_sewer``: the network's net gift to the
    surface) and its balance (``stored_before``, ``stored_after``, ``residual``)."""
    advance, sparams = _stepper(scenario, params)
    totals = dict.fromkeys(_VOLUMES, 0.0)
    totals["steps"] = 0.0
    totals["vol_sewer"] = 0.0
    stored0 = stored_volume(state, grid)
    starts = [s for s, _ in segments]
    coupling: list[float] = []
    if sewer is not None:
        n = int(np.floor((t_end - state.t) / sewer.interval + 1e-9))
        coupling = [state.t + (k + 1) * sewer.interval for k in range(n)]
    times = sorted({round(t, 9) for t in (*starts[1:], *stops, *coupling, t_end) if state.t < t <= t_end})
    k = max(0, int(np.searchsorted(starts, state.t, side="right")) - 1) if starts else -1
    field = segments[k][1] if k >= 0 else np.zeros(state.h.shape)
    f = forcing._replace(rain_field=np.ascontiguousarray(field, dtype=np.float64))
    if sewer is not None:
        sewer_before = sewer.exchanged()
        sewer.step(state.h, min(state.t + sewer.interval, t_end))
    for t in times:
        stats = advance(state, grid, f, sparams, t, accum)
        if stats.status != 0:
            raise NumericalError(
                f"The forecast's flood state became unstable at model time {state.t:.0f} s; lower the base "
                f"scenario's numerics.{courant_factor(scenario)[1] if scenario is not None else 'alpha'} or "
                "numerics.dt_max."
            )
        for name in _VOLUMES:
            totals[name] += getattr(stats, name)
        totals["steps"] += stats.steps
        if sewer is not None and t < t_end - 1e-9 and any(abs(t - c) < 1e-6 for c in coupling):
            sewer.step(state.h, min(t + sewer.interval, t_end))
        if at_stop is not None and any(abs(t - s) < 1e-9 for s in stops):
            at_stop(t)
        while k + 1 < len(starts) and starts[k + 1] <= t + 1e-9:
            k += 1
            f = forcing._replace(rain_field=np.ascontiguousarray(segments[k][1], dtype=np.float64))
    if sewer is not None:
        totals["vol_sewer"] = sewer.exchanged() - sewer_before
    stored1 = stored_volume(state, grid)
    net = totals["vol_rain"] + totals["vol_inflow"] + totals["vol_bnd_in"] + totals["vol_sewer"]
    net -= totals["vol_bnd_out"] + totals["vol_infil"] + totals["vol_drain"]
    totals.update(stored_before=stored0, stored_after=stored1, residual=(stored1 - stored0) - net)
    return totals


def run_member(inputs: MemberInputs, rain: np.ndarray) -> MemberOutput:
    """Run one member whose rain [mm/h] on the radar grid is ``rain`` ``(steps, ny, nx)``, step ``k``
    holding from ``now + k x interval``."""
    cpu0 = time.process_time()
    head = inputs.head
    state = (head.state if head is not None else inputs.state).copy()
    shape = state.h.shape
    segments = _segments(inputs, rain[1:] if head is not None else rain, state.t)
    # the lean accumulator: a member publishes only its largest depths and first-flooded times
    accum = head.accum.copy() if head is not None else FloodAccum.zeros(shape, kind="depth")
    t0 = head.t0 if head is not None else state.t
    leads = [t0 + lead for lead in inputs.leads]
    h_max = np.zeros((len(leads), *shape), np.float32)
    sewer = watch = None
    if inputs.sewer is not None:
        from twin.live.sewer import ManholeWatch

        sewer = inputs.sewer.open(leads[-1])
        watch = ManholeWatch(sewer, t0, len(leads))

    def snapshot(t: float) -> None:
        j = leads.index(min(leads, key=lambda x: abs(x - t)))
        h_max[j] = accum.h_max
        if watch is not None:
            watch.lead(j)

    try:
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
            scenario=inputs.scenario,
            sewer=watch,
        )
    finally:
        if sewer is not None:
            sewer.close()
    if head is not None:
        balance = _joined(head.balance, balance)
    arrival = (accum.t_arrival - t0).astype(np.float32)
    manholes = watch.result() if watch is not None else None
    return MemberOutput(h_max, arrival, balance, time.process_time() - cpu0, manholes)


def _segments(inputs: MemberInputs, rain: np.ndarray, start: float) -> list[tuple[float, np.ndarray]]:
    """Rain [mm/h] on the radar grid ``(steps, ny, nx)`` as ``advance_with_rain``'s segments from ``start``."""
    shape = inputs.state.h.shape
    on_grid = onto_grid(rain, inputs.radar_crs, inputs.radar_transform, inputs.crs, inputs.transform, shape)
    scale = MM_PER_H * inputs.roof_share
    return [(start + k * inputs.interval, np.nan_to_num(on_grid[k], nan=0.0) * scale) for k in range(len(rain))]


def _joined(first: dict[str, float], then: dict[str, float]) -> dict[str, float]:
    """The books of two intervals run one after the other, as one."""
    out = {k: first[k] + then[k] for k in (*_VOLUMES, "steps", "vol_sewer", "residual")}
    return {**out, "stored_before": first["stored_before"], "stored_after": then["stored_after"]}


def first_interval(inputs: MemberInputs, rains: Sequence[np.ndarray]) -> MemberHead | None:
    """The first radar interval run once, when every member's rain over it is the same and no lead time
    or sewer network needs a member's own run of it (else None: each member runs it)."""
    if len(rains) < 2 or inputs.sewer is not None or min(len(r) for r in rains) < 2:
        return None
    if min(inputs.leads) <= inputs.interval + 1e-9 or not all(np.array_equal(r[0], rains[0][0]) for r in rains):
        return None
    state = inputs.state.copy()
    accum = FloodAccum.zeros(state.h.shape, kind="depth")
    t0 = state.t
    balance = advance_with_rain(
        state,
        inputs.grid,
        inputs.forcing,
        inputs.params,
        _segments(inputs, rains[0][:1], t0),
        t0 + inputs.interval,
        accum=accum,
        scenario=inputs.scenario,
    )
    return MemberHead(state, accum, balance, t0)


def run_members(inputs: MemberInputs, rains: Sequence[np.ndarray], client: Any = None) -> list[MemberOutput]:
    """Run the members (one per rain sequence), on ``client``'s Dask workers or, without one, here.

    Their first radar interval, the same last observed frame in every member, is run once here and
    each member goes on from it (:class:`MemberHead`; the same bits as each running it).

    The rain is cut to the radar pixels over the twin (and a margin for the bilinear reprojection)
    before it is shipped: a 40 km radar over a 2 km city would otherwise travel whole to every member.
    """
    if len(rains):
        window, transform = crop_to(
            rains[0].shape[-2:],
            inputs.radar_crs,
            inputs.radar_transform,
            inputs.crs,
            inputs.transform,
            inputs.state.h.shape,
        )
        rains = [np.ascontiguousarray(r[..., window[0], window[1]]) for r in rains]
        inputs = dataclasses.replace(inputs, radar_transform=transform)
        inputs = dataclasses.replace(inputs, head=first_interval(inputs, rains))
    if client is None:
        return [run_member(inputs, r) for r in rains]
    shared = client.scatter(inputs, broadcast=True, hash=False)
    futures = [client.submit(run_member, shared, r, pure=False, retries=1) for r in rains]
    try:
        return client.gather(futures)
    finally:
        client.cancel([*futures, shared])


def warm_up(scenario: Scenario | None) -> None:
    """Load (or compile) the kernel of ``scenario``'s scheme and dtype in this process: a Dask worker
    does it once when the cluster starts, not in its first member of the first cycle."""
    from kernels.flood import FloodGrid as Grid

    grid = Grid.simple(np.zeros((4, 4)), 1.0)
    state = member_state(scenario, np.full((4, 4), 0.01))
    params = FloodParams() if scenario is None else member_params(FloodParams(), scenario.numerics)
    forcing = FloodForcing.none((4, 4))
    advance, sparams = _stepper(scenario, params)
    advance(state, grid, forcing, sparams, 1.0, FloodAccum.zeros((4, 4), kind="depth"))
