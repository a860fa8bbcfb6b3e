"""Conceptual catchment water balance: the HBV-96 model on cells x time x scenarios.

The soil and response routines follow HBV-96 (Lindström et al. 1997, *J. Hydrol.* 201, 272-288) in
the form of HBV-light (Seibert & Vis 2012, *Hydrol. Earth Syst. Sci.* 16, 3315-3325).
No snow routine: the cities this engine targets (Guangdong) see none. Every cell has a pervious part
(the HBV stores) and an impervious part of fraction ``imp``; each step, in this order:

Impervious part (a depression store of capacity ``dep`` [mm])::

    sd += P;  q_imp = max(sd - dep, 0);  sd -= q_imp;  e_imp = min(PET, sd);  sd -= e_imp

Soil routine (Seibert & Vis 2012), with the soil moisture ``sm`` before the rain::

    r   = P * min(sm / FC, 1) ** BETA          # recharge to the upper zone
    sm += P - r;  if sm > FC: r += sm - FC; sm = FC
    ea  = min(PET * min(sm / (LP * FC), 1), sm);  sm -= ea

Response routine: the recharge enters the upper zone, which percolates to the lower zone
and drains through two outlets, the quick one only above the threshold ``UZL``::

    suz += r;  perc = min(PERC * dt, suz);  suz -= perc;  slz += perc
    q0 = a0 * max(suz - UZL, 0);  suz -= q0     # quick flow
    q1 = a1 * suz;                suz -= q1     # interflow
    q2 = a2 * slz;                slz -= q2     # baseflow

Time steps: the parameters are given per **day** (``PERC`` [mm/d]; ``K0``, ``K1``, ``K2`` [1/d]) and the
forcing per **step** ([mm/step]). The storage coefficients are read as continuous-time rate constants:
a step of ``dt`` days drains the fraction ``a = 1 - exp(-K dt)`` of a linear store, the exact
solution over the step without inflow. HBV-light's daily ``Q = K S`` is its first-order form (equal
when ``K dt`` is small); the exact form makes a recession independent of the step (hourly and daily
runs of a draining lower zone agree, ``slz(t) = slz(0) exp(-K2 t)``) and keeps every store
non-negative for any ``K dt``. The two upper-zone outlets act one after the other (quick flow first),
so together they never take more than the store holds.

Conservation: every flux is taken from one store and added to another or to an output, so for every
cell and scenario ``P = ET + Q + (S_end - S_start)`` holds to round-off (:attr:`HBVResult.balance_error`).
Cell values are per unit cell area [mm]: ``Q = imp q_imp + (1 - imp)(q0 + q1 + q2)``, likewise ET and S.

Runoff and storages are summed per **zone** (catchment, river link) inside the kernel, so memory
grows with zones, not cells. The step-ahead triangular routing of HBV (``MAXBAS``) is
:func:`route_triangular`, applied to those zone series.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

__all__ = [
    "PARAMS",
    "STATES",
    "ZONE_VARS",
    "HBVResult",
    "check_params",
    "hbv",
    "route_triangular",
    "triangular_weights",
]

#: Parameter columns, in this order: field capacity FC [mm], LP [-], BETA [-], PERC [mm/d],
#: UZL [mm], K0, K1, K2 [1/d], impervious depression storage DEP [mm].
PARAMS = ("fc", "lp", "beta", "perc", "uzl", "k0", "k1", "k2", "dep")
#: State variables per cell [mm over their own part of the cell]: soil moisture, upper zone, lower
#: zone (pervious part) and the depression store (impervious part).
STATES = ("soil", "upper", "lower", "depression")
#: Per zone and step, summed over the zone's cells [mm x cell weight]: fast runoff (impervious + quick flow
#: + interflow), slow runoff (baseflow), actual ET, precipitation, and the four storages at step end
#: (weighted by each part's area fraction).
ZONE_VARS = ("q_fast", "q_slow", "et", "precip", "soil", "upper", "lower", "depression")

_FC, _LP, _BETA, _PERC, _UZL, _K0, _K1, _K2, _DEP = range(9)


class HBVResult(NamedTuple):
    """What :func:`hbv` returns.

    Attributes
    ----------
    zone : ndarray (n_scenarios, n_steps, n_zones, len(ZONE_VARS))
        Zone sums per step (see :data:`ZONE_VARS`) [mm x cell weight].
    precip, et, runoff : ndarray (n_scenarios, n_cells)
        The ledger: per-cell totals over the run [mm of cell area].
    state_start, state_end : ndarray (n_scenarios, n_cells, 4)
        Stores (see :data:`STATES`) at the start and end; pass ``state_end`` as ``state`` to continue.
    impervious : ndarray (n_cells,)
        The impervious fractions used (to weight the stores).
    """

    zone: np.ndarray
    precip: np.ndarray
    et: np.ndarray
    runoff: np.ndarray
    state_start: np.ndarray
    state_end: np.ndarray
    impervious: np.ndarray

    def storage(self, state: np.ndarray) -> np.ndarray:
        """Water held per cell [mm of cell area] for a state array ``(n_scenarios, n_cells, 4)``."""
        imp = self.impervious
        return (1.0 - imp) * state[..., :3].sum(axis=-1) + imp * state[..., 3]

    @property
    def balance_error(self) -> np.ndarray:
        """``P - ET - Q - dS`` per scenario and cell [mm]; round-off only."""
        return self.precip - self.et - self.runoff - (self.storage(self.state_end) - self.storage(self.state_start))


@numba.njit(cache=True, parallel=True)
def _hbv(
    precip,
    pet,
    forcing_index,
    params,
    imp,
    weight,
    zones,
    n_zones,
    state,
    dt_days,
    n_chunks,
    zone_out,
    p_tot,
    e_tot,
    q_tot,
    state_end,
):
    n_scen, n_steps = precip.shape[0], precip.shape[1]
    n_cells = params.shape[0]
    chunk = (n_cells + n_chunks - 1) // n_chunks
    # per chunk, zone-major: a cell's steps are consecutive in memory
    buf = np.zeros((n_chunks, n_zones, n_steps, 8))
    for s in range(n_scen):
        for k in numba.prange(n_chunks):
            b = buf[k]
            b[:] = 0.0
            for c in range(k * chunk, min((k + 1) * chunk, n_cells)):
                fc = params[c, _FC]
                lpfc = params[c, _LP] * fc
                beta = params[c, _BETA]
                perc_max = params[c, _PERC] * dt_days
                uzl = params[c, _UZL]
                a0 = -np.expm1(-params[c, _K0] * dt_days)
                a1 = -np.expm1(-params[c, _K1] * dt_days)
                a2 = -np.expm1(-params[c, _K2] * dt_days)
                dep = params[c, _DEP]
                fi = imp[c]
                fp = 1.0 - fi
                w = weight[c]
                f = forcing_index[c]
                z = zones[c]
                sm = state[s, c, 0]
                suz = state[s, c, 1]
                slz = state[s, c, 2]
                sd = state[s, c, 3]
                sp = 0.0
                se = 0.0
                sq = 0.0
                for t in range(n_steps):
                    p = precip[s, t, f]
                    e = pet[s, t, f]
                    # impervious part: depression storage, then runoff and evaporation
                    sd += p
                    q_imp = max(sd - dep, 0.0)
                    sd -= q_imp
                    e_imp = min(e, sd)
                    sd -= e_imp
                    # soil routine (the power is the costly part: skip it on dry steps)
                    r = p * min(sm / fc, 1.0) ** beta if p > 0.0 else 0.0
                    sm += p - r
                    if sm > fc:
                        r += sm - fc
                        sm = fc
                    ea = min(e * min(sm / lpfc, 1.0), sm)
                    sm -= ea
                    # response routine
                    suz += r
                    perc = min(perc_max, suz)
                    suz -= perc
                    slz += perc
                    q0 = a0 * max(suz - uzl, 0.0)
                    suz -= q0
                    q1 = a1 * suz
                    suz -= q1
                    q2 = a2 * slz
                    slz -= q2
                    fast = fi * q_imp + fp * (q0 + q1)
                    slow = fp * q2
                    et = fi * e_imp + fp * ea
                    sp += p
                    se += et
                    sq += fast + slow
                    b[z, t, 0] += w * fast
                    b[z, t, 1] += w * slow
                    b[z, t, 2] += w * et
                    b[z, t, 3] += w * p
                    b[z, t, 4] += w * fp * sm
                    b[z, t, 5] += w * fp * suz
                    b[z, t, 6] += w * fp * slz
                    b[z, t, 7] += w * fi * sd
                p_tot[s, c] = sp
                e_tot[s, c] = se
                q_tot[s, c] = sq
                state_end[s, c, 0] = sm
                state_end[s, c, 1] = suz
                state_end[s, c, 2] = slz
                state_end[s, c, 3] = sd
        for k in range(n_chunks):
            for z in range(n_zones):
                for t in range(n_steps):
                    for v in range(8):
                        zone_out[s, t, z, v] += buf[k, z, t, v]


def _forcing(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(
            f"{name} must be (n_steps,), (n_steps, n_forcing) or (n_scenarios, n_steps, n_forcing) "
            f"in mm per step; got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)) or (a < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative depths in mm per step; fill gaps before the run")
    return a


def check_params(params: np.ndarray, n_cells: int) -> np.ndarray:
    """Parameters as a contiguous ``(n_cells, len(PARAMS))`` float array, checked against the model's ranges.

    Raises
    ------
    ValueError
        Non-finite or negative values, ``FC <= 0``, ``LP`` outside ``(0, 1]``, ``BETA <= 0``.
    """
    params = np.ascontiguousarray(np.broadcast_to(np.asarray(params, dtype=np.float64), (n_cells, len(PARAMS))))
    bad = []
    if not np.all(np.isfinite(params)) or (params < 0).any():
        bad.append("all parameters must be finite and >= 0")
    if (params[:, _FC] <= 0).any():
        bad.append("FC must be > 0 mm")
    if ((params[:, _LP] <= 0) | (params[:, _LP] > 1)).any():
        bad.append("LP must be in (0, 1]")
    if (params[:, _BETA] <= 0).any():
        bad.append("BETA must be > 0")
    if bad:
        raise ValueError(f"HBV parameters ({', '.join(PARAMS)}) are invalid: {'; '.join(bad)}")
    return params


def hbv(
    precip: np.ndarray,
    pet: np.ndarray,
    params: np.ndarray,
    impervious: np.ndarray | float = 0.0,
    *,
    dt_days: float = 1.0,
    zones: np.ndarray | None = None,
    n_zones: int | None = None,
    forcing_index: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    state: np.ndarray | None = None,
    n_chunks: int | None = None,
) -> HBVResult:
    """Run the HBV-96 water balance over cells, time steps and scenarios.

    Parameters
    ----------
    precip, pet : array_like
        Precipitation and potential evapotranspiration [mm per step], shaped ``(n_steps,)``,
        ``(n_steps, n_forcing)`` or ``(n_scenarios, n_steps, n_forcing)``; the two broadcast
        against each other (e.g. rain per scenario, one PET for all).
    params : array_like (n_cells, 9) or (9,)
        Parameters per cell in the order of :data:`PARAMS` (per-day rates, see the module notes).
    impervious : array_like (n_cells,) or float
        Impervious fraction of each cell in [0, 1].
    dt_days : float
        Step length in days (1 for daily, 1/24 for hourly forcing).
    zones : int array (n_cells,), optional
        Zone label of each cell in ``0..n_zones-1`` (default: all cells in zone 0).
    n_zones : int, optional
        Number of zones (default ``zones.max() + 1``).
    forcing_index : int array (n_cells,), optional
        The forcing column each cell takes (default 0: one series for all cells).
    weights : array_like (n_cells,), optional
        Weight of each cell in the zone sums, e.g. its area in m2 when cells differ in size
        (then the zone sums are in mm x m2 = litres); default 1.
    state : array_like (n_cells, 4) or (n_scenarios, n_cells, 4), optional
        Initial stores (:data:`STATES`) [mm]; default empty. A previous run's ``state_end`` continues it.
    n_chunks : int, optional
        Cell chunks run in parallel (default: Numba's thread count). Zone sums are added chunk by
        chunk, so they can differ in the last bits between chunk counts; cell values do not.

    Returns
    -------
    HBVResult

    Raises
    ------
    ValueError
        Shapes that do not fit, negative or non-finite forcing, parameters out of range.
    """
    precip = _forcing("precip", precip)
    pet = _forcing("pet", pet)
    try:
        n_scen, n_steps, n_forcing = np.broadcast_shapes(precip.shape, pet.shape)
    except ValueError:
        raise ValueError(
            f"precip {precip.shape} and pet {pet.shape} do not broadcast to (n_scenarios, n_steps, n_forcing)"
        ) from None
    precip = np.broadcast_to(precip, (n_scen, n_steps, n_forcing))
    pet = np.broadcast_to(pet, (n_scen, n_steps, n_forcing))
    params = np.asarray(params, dtype=np.float64)
    n_cells = params.shape[0] if params.ndim == 2 else np.size(impervious) if np.ndim(impervious) else 1
    params = check_params(params, n_cells)
    imp = np.ascontiguousarray(np.broadcast_to(np.asarray(impervious, dtype=np.float64), (n_cells,)))
    if not np.all(np.isfinite(imp)) or (imp < 0).any() or (imp > 1).any():
        raise ValueError("impervious must be fractions in [0, 1], one per cell")
    zones = np.zeros(n_cells, np.int64) if zones is None else np.asarray(zones)
    if zones.shape != (n_cells,) or not np.issubdtype(zones.dtype, np.integer) or (n_cells and zones.min() < 0):
        raise ValueError(f"zones must be non-negative integer labels, one per cell ({n_cells})")
    zones = zones.astype(np.int64)
    n_zones = int(zones.max()) + 1 if n_zones is None else int(n_zones)
    if n_cells and zones.max() >= n_zones:
        raise ValueError(f"zone label {zones.max()} is not below n_zones = {n_zones}")
    fidx = np.zeros(n_cells, np.int64) if forcing_index is None else np.asarray(forcing_index).astype(np.int64)
    if fidx.shape != (n_cells,) or (n_cells and (fidx.min() < 0 or fidx.max() >= n_forcing)):
        raise ValueError(f"forcing_index must give each of the {n_cells} cells a column in 0..{n_forcing - 1}")
    state0 = np.zeros((n_cells, 4)) if state is None else np.asarray(state, dtype=np.float64)
    try:
        state0 = np.ascontiguousarray(np.broadcast_to(state0, (n_scen, n_cells, 4)))
    except ValueError:
        raise ValueError(f"state must be (n_cells, 4) or (n_scenarios, n_cells, 4); got {state0.shape}") from None
    if not np.all(np.isfinite(state0)) or (state0 < 0).any():
        raise ValueError("state must hold finite, non-negative storages in mm")
    weights = np.ascontiguousarray(
        np.broadcast_to(np.asarray(1.0 if weights is None else weights, dtype=np.float64), (n_cells,))
    )
    if not np.all(np.isfinite(weights)) or (weights < 0).any():
        raise ValueError("weights must be finite and >= 0, one per cell")
    if not np.isfinite(dt_days) or dt_days <= 0:
        raise ValueError(f"dt_days = {dt_days} must be a positive step length in days (1/24 for hourly)")
    n_chunks = max(1, min(numba.get_num_threads() if n_chunks is None else int(n_chunks), max(n_cells, 1)))
    zone_out = np.zeros((n_scen, n_steps, n_zones, len(ZONE_VARS)))
    p_tot, e_tot, q_tot = (np.zeros((n_scen, n_cells)) for _ in range(3))
    state_end = np.zeros((n_scen, n_cells, 4))
    _hbv(
        precip,
        pet,
        fidx,
        params,
        imp,
        weights,
        zones,
        n_zones,
        state0,
        float(dt_days),
        n_chunks,
        zone_out,
        p_tot,
        e_tot,
        q_tot,
        state_end,
    )
    return HBVResult(zone_out, p_tot, e_tot, q_tot, state0, state_end, imp)


def triangular_weights(maxbas: float) -> np.ndarray:
    """HBV's triangular routing weights for a base of ``maxbas`` steps (Seibert & Vis 2012).

    The weight of lag ``i`` (``i = 0, 1, ...``) is the area of the triangle of base ``[0, maxbas]``
    and unit area over ``[i, i + 1]``, integrated exactly, so a non-integer base is allowed and the
    weights sum to 1. ``maxbas <= 1`` gives ``[1.0]`` (no delay).
    """
    m = float(maxbas)
    if not np.isfinite(m) or m <= 0:
        raise ValueError(f"maxbas = {maxbas} must be a positive number of steps")
    if m <= 1.0:
        return np.ones(1)
    u = np.minimum(np.arange(int(np.ceil(m)) + 1, dtype=float), m)
    cdf = np.where(u <= m / 2, 2 * u**2 / m**2, 1 - 2 * (m - u) ** 2 / m**2)
    return np.diff(cdf)


def route_triangular(
    q: np.ndarray, weights: np.ndarray, carry: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Delay series along axis 1 (time) with :func:`triangular_weights`, keeping what is still in transit.

    Parameters
    ----------
    q : ndarray (n_scenarios, n_steps, ...)
        Series per step (e.g. :attr:`HBVResult.zone` runoff columns).
    weights : ndarray (m,)
        Weights summing to 1.
    carry : ndarray (n_scenarios, m - 1, ...), optional
        In transit from an earlier run (its returned ``carry``): added to the first ``m - 1`` steps.

    Returns
    -------
    routed : ndarray, like ``q``
    carry : ndarray (n_scenarios, m - 1, ...)
        What leaves after the last step; ``routed.sum(1) + carry.sum(1) == q.sum(1) + old carry``.
    """
    q = np.asarray(q, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = q.shape[1]
    m = w.size
    full = np.zeros((q.shape[0], n + m - 1, *q.shape[2:]))
    for i in range(m):
        full[:, i : i + n] += w[i] * q
    if carry is not None:
        full[:, : m - 1] += carry
    return full[:, :n], full[:, n:]
