"""Full shallow-water flood solver: a Godunov-type finite-volume scheme on the flood kernel's grid.

The 2D shallow-water equations in conservative form (depth h, unit discharges hu, hv at the cell
centres), with the advection term the local-inertial kernel (:mod:`kernels.flood`) drops, for fast
and supercritical flow (dam breaks, steep streets, Froude numbers above about 0.5):

* face fluxes from an HLL Riemann solver with the tangential momentum upwinded by the mass flux
  (the HLLC contact of the shear wave), Toro's two-rarefaction wave speeds and exact dry-bed fronts;
* hydrostatic reconstruction (Audusse et al. 2004): a lake at rest stays at rest over any bed, and
  with the positivity limiter on the mass fluxes depths never go negative;
* second order (``order=2``): MUSCL minmod slopes of depth, water surface and velocities (first
  order next to dry or blocked cells), in time either MUSCL-Hancock (``integrator="hancock"``, Toro
  2009 ch. 14, Liang 2010: each cell's state predicted half a step ahead from its slopes, cell by
  cell, then one Riemann solve per face and one update a step) or SSP-RK2 (``integrator="rk2"``,
  Heun: two stages, two Riemann solves per face a step); ``order=1`` is first order in both;
* point-implicit Manning friction in each stage, ``hu' = hu / (1 + g dt n^2 |u| / h^(4/3))``;
* adaptive step ``dt = cfl dx / max(|u| + c, |v| + c)`` (clipped to ``dt_max`` and to the interval
  end), or a fixed step checked against it.

Inputs and outputs are the inertial kernel's: :class:`~kernels.flood.FloodGrid` (bed, Manning,
blocked cells as walls, open boundaries, level-forced cells, losses),
:class:`~kernels.flood.FloodForcing`, :class:`~kernels.flood.FloodAccum` and
:class:`~kernels.flood.IntervalStats`, checked by the same contract. Sources and losses enter after
each step as in the inertial kernel (rain, infiltration, drainage, point inflows, forced cells).
The state, :class:`SweState`, is a :class:`~kernels.flood.FloodState` with the cell discharges
``hu``, ``hv``; its ``qx``, ``qy`` hold the step's mean face mass fluxes. The reported speed is
|(hu, hv)| / h where h exceeds ``max(h_dry, wet_depth)``, with no Froude bound (the scheme resolves
supercritical flow), so ``speed_capped`` is always 0.

Precision as the inertial kernel's: a float32 state computes in float32 and carries each depth's
rounding remainder in ``h_lo`` (its balance closes as in float64); volumes are float64. In float32
the water surface h + z is rounded to the bed's float32 resolution (the bed is taken relative to
the lowest open cell), so a lake at rest holds speeds of a few 1e-6 m/s where float64 holds 1e-13.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from . import _flood_core, _swe_core
from .flood import FloodAccum, FloodForcing, FloodGrid, FloodParams, FloodState, IntervalStats
from .flood import advance as _inertial_advance

__all__ = ["SweParams", "SweState", "advance", "cell_speed"]


class SweParams(NamedTuple):
    """Numerical parameters of the full solver.

    Attributes
    ----------
    cfl : float
        Courant number of the adaptive step, in (0, 1]; 0.45 keeps the second-order 2D scheme
        stable and positive with margin.
    order : int
        2: MUSCL-minmod, second order in time by ``integrator`` (default); 1: first order in space
        and time (more diffusive).
    integrator : str
        The second-order time integrator: ``"hancock"`` (MUSCL-Hancock, one stage a step: the
        default) or ``"rk2"`` (SSP-RK2 / Heun, two stages: about 1.7x the cost a step). Unused at
        first order.
    h_dry : float
        Depth [m] that, with ``wet_depth``, bounds where a speed is reported (fluxes need none).
    dt_max, fixed_dt, g, wet_depth : float
        As :class:`~kernels.flood.FloodParams`.
    """

    cfl: float = 0.45
    order: int = 2
    h_dry: float = 1e-3
    dt_max: float = 10.0
    fixed_dt: float = 0.0
    g: float = 9.81
    wet_depth: float = 0.01
    integrator: str = "hancock"

    @classmethod
    def from_flood(
        cls, params: FloodParams, cfl: float = 0.45, order: int = 2, integrator: str = "hancock"
    ) -> SweParams:
        """The shared settings of inertial-kernel parameters, with this solver's own."""
        return cls(cfl, order, params.h_dry, params.dt_max, params.fixed_dt, params.g, params.wet_depth, integrator)


class SweState(FloodState):
    """A :class:`~kernels.flood.FloodState` with the cell-centre discharges of the full equations.

    Attributes
    ----------
    hu, hv : (ny, nx), the state's dtype
        Unit discharges [m^2/s] at the cell centres, positive east (hu) and south (hv).
    """

    def __init__(self, h, qx, qy, infil_cum=None, t=0.0, steps=0, hu=None, hv=None, h_lo=None):
        super().__init__(h, qx, qy, infil_cum, t, steps, h_lo)
        self.hu = np.zeros_like(h) if hu is None else hu
        self.hv = np.zeros_like(h) if hv is None else hv
        self._swe_prep = None
        self._h_left = None  # the depths the last advance() left (see there)
        self._swe_scratch = None  # the solver's working arrays, reused from call to call

    @property
    def h_left(self) -> np.ndarray:
        """The depths the last :func:`advance` left (the state's depths before the first): the next one scales
        the discharges where a caller changed the depths since (a sewer exchange), so a checkpoint keeps them."""
        if self._h_left is None or self._h_left.shape != self.h.shape or self._h_left.dtype != self.h.dtype:
            self._h_left = self.h.copy()
        return self._h_left

    def copy(self) -> SweState:
        """Deep copy (for checkpoints)."""
        return SweState(
            self.h.copy(),
            self.qx.copy(),
            self.qy.copy(),
            self.infil_cum.copy(),
            self.t,
            self.steps,
            self.hu.copy(),
            self.hv.copy(),
            self.h_lo.copy(),
        )


class _Prepared(NamedTuple):
    """What :func:`advance` checked and built for one grid, forcing and parameters (kept on the state)."""

    grid: FloodGrid
    forcing: FloodForcing
    params: SweParams
    probe: FloodState
    zb: np.ndarray
    nb: np.ndarray
    rainf: np.ndarray
    blocked: np.ndarray
    zref: float
    rain_sum: float
    has_drain: bool
    losses: tuple
    bnd: tuple
    rest: tuple


def advance(
    state: SweState,
    grid: FloodGrid,
    forcing: FloodForcing,
    params: SweParams,
    t_end: float,
    accum: FloodAccum | None = None,
) -> IntervalStats:
    """Advance ``state`` in place from ``state.t`` to exactly ``t_end`` with the full equations.

    Parameters and result as :func:`kernels.flood.advance` (``params`` a :class:`SweParams`).

    Raises
    ------
    ValueError
        If an input breaks the contract (the inertial kernel's, checked by it), or ``params``.
    """
    if not isinstance(state, SweState):
        raise ValueError("the full solver needs a SweState (its discharges hu, hv); build it with SweState.from_depth")
    _check_params(params)
    prep = state._swe_prep
    if prep is None or not (prep.grid is grid and prep.forcing is forcing and prep.params == params):
        prep = _prepare(state, grid, forcing, params)
        state._swe_prep = prep
    # The contract is the inertial kernel's: a zero-length call of it checks every input (cheaply
    # when the probe has seen the same grid and forcing before).
    probe = prep.probe
    probe.h, probe.qx, probe.qy, probe.infil_cum, probe.t = state.h, state.qx, state.qy, state.infil_cum, state.t
    _inertial_advance(probe, grid, forcing, _probe_params(params), state.t)
    for name, arr in (("hu", state.hu), ("hv", state.hv), ("h_lo", state.h_lo)):
        if arr.shape != state.h.shape or arr.dtype != state.h.dtype or not arr.flags.c_contiguous:
            raise ValueError(f"state.{name} must be a C-contiguous {state.h.dtype} array of shape {state.h.shape}")
    blocked = prep.blocked
    left = state._h_left
    if left is None or left.shape != state.h.shape or left.dtype != state.h.dtype:
        left = state._h_left = state.h.copy()
    # One pass: discharges checked, zero in blocked cells, and where the caller added or took water
    # since the last call (a sewer exchange) scaled with the depth, so that the cell keeps its
    # velocity (a manhole draining a cell must not speed up what stays).
    if not _swe_core.reopen(state.h, state.hu, state.hv, left, blocked):
        raise ValueError("state.hu/hv hold NaN or infinite discharges; start from a valid state")
    if accum is not None:
        _check_accum(accum, state.h.shape)
        acc = (accum.h_max, accum.v_max, accum.hazard_max, accum.t_arrival, accum.duration, accum.wet_since)
    else:
        d32 = np.zeros((1, 1), np.float32)
        d64 = np.zeros((1, 1))
        acc = (d32, d32, d32, d64, d64, d64)
    v_depth = max(params.h_dry, params.wet_depth)
    if accum is not None:
        # the state at the interval's start (a caller may have changed it, e.g. a sewer exchange)
        _swe_core.accumulate(state.h, state.hu, state.hv, blocked, state.t, v_depth, float(params.wet_depth), *acc)
    vols = np.zeros(6)
    scratch = state._swe_scratch
    if not _swe_core.scratch_fits(scratch, state.h.shape, state.h.dtype):
        scratch = state._swe_scratch = _swe_core.scratch_arrays(state.h.shape, state.h.dtype)
    # Below this size one thread is faster: a parallel region costs tens of microseconds to start
    # (far more on a busy machine) and a step runs a dozen of them.
    threads = numba.get_num_threads()
    if state.h.size < _flood_core.PARALLEL_MIN_CELLS:
        numba.set_num_threads(1)
    try:
        t, steps, dt_min, dt_max, status = _swe_core.run(
            state.h,
            state.hu,
            state.hv,
            state.qx,
            state.qy,
            prep.zb,
            prep.nb,
            blocked,
            prep.rainf,
            prep.rain_sum,
            int(forcing.rain_ser),
            *prep.losses,
            state.infil_cum,
            prep.rest[0],
            prep.has_drain,
            prep.bnd,
            *prep.rest[1:],
            float(grid.dx),
            float(params.cfl),
            int(params.order),
            params.integrator == "hancock",
            float(params.dt_max),
            float(params.fixed_dt),
            float(params.g),
            float(v_depth),
            float(params.wet_depth),
            prep.zref,
            state.t,
            float(t_end),
            accum is not None,
            *acc,
            vols,
            state.h_lo,
            state.h.dtype == np.float32,
            scratch,
            numba.get_num_threads(),
        )
    finally:
        numba.set_num_threads(threads)
    if accum is not None:
        _flood_core.accum_close(t, accum.duration, accum.wet_since)
    state.t = float(t)
    state.steps += int(steps)
    np.copyto(state._h_left, state.h)
    if steps == 0:
        dt_min = dt_max = 0.0
    return IntervalStats(int(steps), float(dt_min), float(dt_max), *(float(v) for v in vols), int(status), 0)


def cell_speed(state: SweState, grid: FloodGrid, params: SweParams) -> np.ndarray:
    """The cell speed [m/s] of the state as it is, as the running maximum ``FloodAccum.v_max`` takes it:
    |(hu, hv)| / h where h is above ``max(h_dry, wet_depth)``, else 0 (and 0 in blocked cells).
    A float32 ``(ny, nx)`` array."""
    acc = FloodAccum.zeros(state.h.shape)
    v_depth = max(params.h_dry, params.wet_depth)
    blocked = np.ascontiguousarray(grid.blocked, dtype=np.uint8)
    _swe_core.accumulate(
        state.h, state.hu, state.hv, blocked, state.t, v_depth, float(params.wet_depth),
        acc.h_max, acc.v_max, acc.hazard_max, acc.t_arrival, acc.duration, acc.wet_since,
    )  # fmt: skip
    return acc.v_max


def _probe_params(params: SweParams) -> FloodParams:
    return FloodParams(
        h_dry=params.h_dry, dt_max=params.dt_max, fixed_dt=params.fixed_dt, g=params.g, wet_depth=params.wet_depth
    )


def _prepare(state: SweState, grid: FloodGrid, forcing: FloodForcing, params: SweParams) -> _Prepared:
    """Check the inputs (through the inertial kernel) and build the working copies."""
    probe = FloodState(state.h, state.qx, state.qy, state.infil_cum, state.t)
    _inertial_advance(probe, grid, forcing, _probe_params(params), state.t)
    dtype = state.h.dtype
    blocked = _c(grid.blocked, np.uint8)
    kind = int(grid.infil_kind)
    if kind:
        ia, ib, ic = (_c(a, np.float64) for a in (grid.infil_a, grid.infil_b, grid.infil_c))
    else:
        ia = ib = ic = np.zeros((1, 1))
    drain = _c(grid.drain_cap, np.float64)
    zb, nb, rainf = (np.empty_like(state.h) for _ in range(3))
    problem, zref, rain_sum, _hmax, has_drain = _flood_core.prepare(
        _c(grid.z, dtype),
        _c(grid.manning, dtype),
        blocked,
        _c(forcing.rain_field, np.float64),
        drain,
        kind,
        ia,
        ib,
        ic,
        state.h,
        zb,
        nb,
        rainf,
        state.h_lo,
    )
    if problem:  # the probe raised already; kept for a direct caller of _prepare
        raise ValueError(f"invalid flood inputs (code {problem})")
    ser = forcing.series
    bnd = (
        _c(grid.bnd_row, np.int64),
        _c(grid.bnd_col, np.int64),
        _c(grid.bnd_side, np.int8),
        _c(grid.bnd_kind, np.int8),
        _c(grid.bnd_ser, np.int64),
        _c(grid.bnd_slope, np.float64),
    )
    rest = (
        drain,
        *(_c(a, np.int64) for a in (grid.fix_row, grid.fix_col, grid.fix_ser)),
        *(_c(a, np.int64) for a in (forcing.src_row, forcing.src_col, forcing.src_ser)),
        _c(forcing.src_w, np.float64),
        _c(ser.t, np.float64),
        _c(ser.v, np.float64),
        _c(ser.ptr, np.int64),
    )
    return _Prepared(
        grid,
        forcing,
        params,
        probe,
        zb,
        nb,
        rainf,
        blocked,
        float(zref),
        float(rain_sum),
        bool(has_drain),
        (kind, ia, ib, ic),
        bnd,
        rest,
    )


def _c(a, dtype) -> np.ndarray:
    return np.require(a, dtype=dtype, requirements=("C", "W"))


def _check_params(p: SweParams) -> None:
    rules = (
        ("cfl", 0 < p.cfl <= 1, "in (0, 1]"),
        ("order", p.order in (1, 2), "1 or 2"),
        ("integrator", p.integrator in ("hancock", "rk2"), "'hancock' or 'rk2'"),
        ("h_dry", p.h_dry > 0, "> 0"),
        ("dt_max", p.dt_max > 0, "> 0"),
        ("fixed_dt", p.fixed_dt >= 0, ">= 0 (0 = adaptive)"),
        ("g", p.g > 0, "> 0"),
        ("wet_depth", p.wet_depth >= 0, ">= 0"),
    )
    for name, ok, rule in rules:
        value = getattr(p, name)
        if not (ok and (isinstance(value, str) or np.isfinite(value))):
            raise ValueError(f"SweParams.{name} = {getattr(p, name)} must be {rule}")


def _check_accum(accum: FloodAccum, shape: tuple[int, int]) -> None:
    for name in ("h_max", "v_max", "hazard_max", "t_arrival", "duration", "wet_since"):
        a = getattr(accum, name)
        want = np.float32 if name in ("h_max", "v_max", "hazard_max") else np.float64
        if a.shape != shape or a.dtype != want or not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(
                f"accum.{name} must be a writeable C-contiguous {np.dtype(want)} array of shape {shape}; "
                "build it with FloodAccum.zeros(shape)"
            )
