"""Lakes and reservoirs as level-pool nodes on a Muskingum-Cunge river network.

A :class:`Lake` is a node of the river network (:class:`kernels.river.RiverNetwork`, SI units):

* **geometry**: a stage-storage-area table (``stage`` [m], ``storage`` [m3], ``area`` [m2]), e.g.
  from DEM hypsometry; storage strictly increasing with stage. Above the table's top the lake has
  vertical walls (storage grows by ``area[-1]`` per metre); :attr:`RiverLakeSystem.overtopped`
  flags lakes that went there, so the caller can extend the table.
* **connections**: ``inflow_links``, the links whose outflow enters the lake (their
  ``network.downstream`` entry is ignored), and ``outlet_link``, the link receiving the lake's
  outflow at its upstream end (``-1``: it leaves the system). Such an *in-line* lake sits between
  the links. Or a *lake link* (``link``): a network link stands for the lake (as
  :mod:`twin.sims.river.network` draws lakes on river lines); the links draining into it feed the lake, its
  downstream link is the outlet, and its outflow reads the lake's. A *side-channel* lake (``exchange_link >= 0``) is also connected to a river link
  by a channel through which water flows both ways (see below).
* **uncontrolled outlet** (spillway), passing ``W(h)`` [m3/s] whatever the operator does: the
  sum of an optional ``rating`` table (rows stage, discharge; linear between rows, its last
  segment extended above) and an optional broad-crested weir ``W = C L (h - crest)^1.5`` above
  ``crest`` (``weir_width`` ``L`` [m], ``weir_coeff`` ``C`` [m^0.5/s], about 1.7 in SI units).
* **controlled release** ``R`` [m3/s] (gates, turbines): by the target-level operating rule when
  ``target_stage`` is given::

      R = clip(I + (S - S_target) / T_r, release_min, release_max)

  with the inflow ``I`` and storage ``S`` at the start of the step (the operator acts on what is
  measured), ``S_target`` the storage at the target stage and ``T_r = max(response_time, dt)``
  (a gain ``dt / T_r <= 1`` never overshoots the target). :attr:`RiverLakeSystem.release`
  overrides it per lake (a pyswmm-like control: ``system.release = [None, 12.0]``). A release
  is never more than the lake holds.
* **evaporation** ``e`` [mm/day] on the lake's area: a loss ``e A(h)``, limited to the water there.
* **two-way exchange** with ``exchange_link`` through a side channel of sill level
  ``exchange_sill`` (default: the lake bottom), width ``L`` and coefficient ``C``, in the
  submerged-weir form of the levels above the sill::

      X = sign(h_r - h) C L (max(h_r, h) - max(min(h_r, h), sill))^1.5   (> 0: into the lake)

  i.e. the free weir law when the lower side is below the sill and ``C L |h_r - h|^1.5`` when
  both are above it. The river stage is Manning's normal depth of the link's step inflow ``Q``
  (wide rectangular, ``h_r = exchange_bed + (Q n / (B sqrt(S)))^(3/5)``), with the link's own
  width, slope and roughness and ``exchange_bed`` the river bed level [m] at the channel. ``X``
  leaves (or enters) the link as lateral inflow at its upstream end in the same step, and never
  takes more than the link carries. Several side lakes on one link are solved one after another
  (each sees what the previous left in the link). A pollutant (:mod:`kernels.transport`) follows
  lake links, and side channels too when the transport is given the side lakes (``side_link``,
  with :attr:`lake_exchange`, :attr:`lake_outflow` and :attr:`lake_storage` each step).

Time stepping. Flows are step means (as in :mod:`kernels.river`). Each step the nodes (links and
lakes) are processed in one topological order; a lake is solved when all its inflows are known
and before its outlet and exchange links are routed. Its storage obeys, with the controlled
release ``R`` held over the step and ``F(h) = W(h) + e A(h) - X(h)`` (non-decreasing in ``h``)::

    S1 = S0 + dt (I - R - theta F(h(S1)) - (1 - theta) F(h(S0)))

solved for ``S1`` by a bracketed Illinois (regula falsi) iteration on the piecewise-linear
table. ``theta = 1/2`` (the storage-indication / modified Puls trapezoidal rule, second order)
unless the step is stiff for the lake: with ``r = dt dF/dS`` (the secant over the step),
``theta = max(1/2, 1 - 1/r)``, which keeps the linearised amplification factor in ``[0, 1]``
(no oscillation, L-stable as ``r`` grows): a big lake with a short step and a small lake with a
long step are both stable. The new storage is then set from the fluxes themselves, so every
lake's and the network's volume ledgers close to round-off.

Public API: :class:`Lake`, :class:`RiverLakeSystem` (``step``, ``run``, ``flows``, ``outflow``,
``lake_stage``, ``lake_storage``, ``lake_outflow``, ``lake_spill``, ``lake_release``,
``lake_evaporation``, ``lake_exchange``, ``release``, ``ledger``, ``link_lake_volume``), and
:func:`weir_discharge`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np

from kernels.river import RiverNetwork, Router, as_series, mc_link

__all__ = ["Lake", "RiverLakeSystem", "weir_discharge"]

_SECONDS_PER_DAY = 86400.0

# columns of the per-lake float parameters
_CREST, _WEIR_W, _WEIR_C, _RMIN, _RMAX, _TRESP, _EX_BED, _EX_SILL, _EX_W, _EX_C, _EX_B, _EX_SQRT_S, _EX_N = range(13)
# columns of the per-lake int parameters
_OUTLET, _EXLINK, _RULE, _LINK = range(4)
# columns of the per-lake step results (m3/s step means)
_OUT, _SPILL, _REL, _EVAP, _EXCH = range(5)


class Lake(NamedTuple):
    """A lake or reservoir on a river network (SI units; see the module docstring).

    Attributes
    ----------
    stage, storage, area : float arrays (m,)
        Stage-storage-area table: stage [m] and storage [m3] strictly increasing, area [m2] >= 0
        with ``area[-1] > 0``.
    inflow_links : int sequence
        Links whose outflow enters the lake.
    outlet_link : int
        Link receiving the lake's outflow, -1 where it leaves the system.
    initial_stage : float, optional
        Stage at the start [m]; default the table's lowest stage (empty).
    rating : (k, 2) array, optional
        Rows (stage [m], discharge [m3/s]) of an uncontrolled outlet; discharge non-decreasing.
    crest, weir_width, weir_coeff : float
        Spillway crest level [m], width [m] (0: no weir) and coefficient [m^0.5/s].
    evaporation : float or float array (T,)
        Evaporation [mm/day] on the lake area, constant or per step (the last value held).
    target_stage : float or float array (T,), optional
        Target stage [m] of the operating rule, constant or per step (the last value held);
        ``None``: no rule (no controlled release unless overridden).
    release_min, release_max : float
        Bounds of the controlled release [m3/s].
    response_time : float
        Time [s] over which the rule closes the gap to the target; at least one step is used.
    exchange_link : int
        River link connected by a side channel (two-way exchange), -1 for none.
    exchange_bed : float
        River bed level at the side channel [m] (needed with ``exchange_link``).
    exchange_sill : float, optional
        Sill level of the side channel [m]; default the table's lowest stage.
    exchange_width, exchange_coeff : float
        Side channel width [m] and weir coefficient [m^0.5/s].
    link : int
        A *lake link*: the network link that stands for this lake (as
        :func:`twin.sims.river.network.network_from_rivers` makes them). The lake replaces its routing: the
        links draining into it become inflow links, the link's own lateral and external inflow
        enter the lake, its ``downstream`` is the outlet link, and its outflow reads the lake's
        outflow. -1 (default): the lake is a node between links (``inflow_links``/``outlet_link``).
    """

    stage: np.ndarray
    storage: np.ndarray
    area: np.ndarray
    inflow_links: Sequence[int] = ()
    outlet_link: int = -1
    initial_stage: float | None = None
    rating: np.ndarray | None = None
    crest: float = 0.0
    weir_width: float = 0.0
    weir_coeff: float = 1.7
    evaporation: float | np.ndarray = 0.0
    target_stage: float | np.ndarray | None = None
    release_min: float = 0.0
    release_max: float = math.inf
    response_time: float = 0.0
    exchange_link: int = -1
    exchange_bed: float = math.nan
    exchange_sill: float | None = None
    exchange_width: float = 0.0
    exchange_coeff: float = 1.7
    link: int = -1


def weir_discharge(head, width: float, coeff: float = 1.7):
    """Broad-crested weir discharge ``C L H^1.5`` [m3/s] for heads ``H`` [m] above the crest (0 below)."""
    h = np.maximum(np.asarray(head, dtype=np.float64), 0.0)
    return coeff * width * h**1.5


# --- numba core ---------------------------------------------------------------------------------


@numba.njit(cache=True)
def _segment(x, xp, p0, p1):
    """Index k in [p0, p1 - 2] of the table segment holding x (clamped to the end segments)."""
    lo = p0
    hi = p1 - 2
    if x <= xp[lo + 1]:
        return lo
    if x >= xp[hi]:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xp[mid] <= x:
            lo = mid
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def _stage_of(s, k, tab_ptr, tab_h, tab_s, tab_a):
    """Stage of storage s in lake k: linear per table segment, vertical walls above the top."""
    p0 = tab_ptr[k]
    p1 = tab_ptr[k + 1]
    if s >= tab_s[p1 - 1]:
        return tab_h[p1 - 1] + (s - tab_s[p1 - 1]) / tab_a[p1 - 1]
    j = _segment(s, tab_s, p0, p1)
    return tab_h[j] + (s - tab_s[j]) * (tab_h[j + 1] - tab_h[j]) / (tab_s[j + 1] - tab_s[j])


@numba.njit(cache=True)
def _interp_hold(x, xp, fp, p0, p1):
    """Linear interpolation, the end values held outside the table."""
    if x <= xp[p0]:
        return fp[p0]
    if x >= xp[p1 - 1]:
        return fp[p1 - 1]
    j = _segment(x, xp, p0, p1)
    return fp[j] + (x - xp[j]) * (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])


@numba.njit(cache=True)
def _exchange(h, hr, sill, width, coeff):
    """Side-channel flow into the lake [m3/s] at lake stage h and river stage hr."""
    if width <= 0.0:
        return 0.0
    up = max(h, hr)
    if up <= sill:
        return 0.0
    head = up - max(min(h, hr), sill)
    q = coeff * width * head**1.5
    return q if hr > h else -q


@numba.njit(cache=True)
def _fluxes(k, h, hr, x_fixed, lk_f, evap, rat_ptr, rat_h, rat_q, tab_ptr, tab_h, tab_a):
    """(spill, evaporation, exchange into the lake) [m3/s] of lake k at stage h."""
    spill = 0.0
    r0 = rat_ptr[k]
    r1 = rat_ptr[k + 1]
    if r1 > r0:
        if h >= rat_h[r1 - 1] and r1 - r0 >= 2:  # last segment extended above the table
            spill += max(
                rat_q[r1 - 1] + (h - rat_h[r1 - 1]) * (rat_q[r1 - 1] - rat_q[r1 - 2]) / (rat_h[r1 - 1] - rat_h[r1 - 2]),
                0.0,
            )
        else:
            spill += _interp_hold(h, rat_h, rat_q, r0, r1)
    if lk_f[k, _WEIR_W] > 0.0 and h > lk_f[k, _CREST]:
        spill += lk_f[k, _WEIR_C] * lk_f[k, _WEIR_W] * (h - lk_f[k, _CREST]) ** 1.5
    e = evap * _interp_hold(h, tab_h, tab_a, tab_ptr[k], tab_ptr[k + 1])
    if not math.isnan(x_fixed):  # the exchange is held at the river's capacity
        x = x_fixed
    elif not math.isnan(hr):
        x = _exchange(h, hr, lk_f[k, _EX_SILL], lk_f[k, _EX_W], lk_f[k, _EX_C])
    else:
        x = 0.0
    return spill, e, x


@numba.njit(cache=True)
def _solve_storage(
    k,
    s0,
    f0,
    inflow,
    release,
    hr,
    x_fixed,
    theta,
    dt,
    lk_f,
    evap,
    s_min,
    s_hi,
    rat_ptr,
    rat_h,
    rat_q,
    tab_ptr,
    tab_h,
    tab_s,
    tab_a,
):
    """Root of G(S) = S - S0 - dt (I - R - theta F(h(S)) - (1 - theta) F0), increasing in S."""
    lo = s_min
    w, e, x = _fluxes(
        k,
        _stage_of(lo, k, tab_ptr, tab_h, tab_s, tab_a),
        hr,
        x_fixed,
        lk_f,
        evap,
        rat_ptr,
        rat_h,
        rat_q,
        tab_ptr,
        tab_h,
        tab_a,
    )
    g_lo = lo - s0 - dt * (inflow - release - theta * (w + e - x) - (1.0 - theta) * f0)
    if g_lo >= 0.0:
        return lo
    hi = s_hi
    w, e, x = _fluxes(
        k,
        _stage_of(hi, k, tab_ptr, tab_h, tab_s, tab_a),
        hr,
        x_fixed,
        lk_f,
        evap,
        rat_ptr,
        rat_h,
        rat_q,
        tab_ptr,
        tab_h,
        tab_a,
    )
    g_hi = hi - s0 - dt * (inflow - release - theta * (w + e - x) - (1.0 - theta) * f0)
    if g_hi <= 0.0:
        return hi
    tol = 1e-14 * (abs(s0) + abs(hi) + 1.0)
    side = 0
    s = lo
    for _ in range(200):
        s = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
        if not (lo < s < hi):
            s = 0.5 * (lo + hi)
        w, e, x = _fluxes(
            k,
            _stage_of(s, k, tab_ptr, tab_h, tab_s, tab_a),
            hr,
            x_fixed,
            lk_f,
            evap,
            rat_ptr,
            rat_h,
            rat_q,
            tab_ptr,
            tab_h,
            tab_a,
        )
        g = s - s0 - dt * (inflow - release - theta * (w + e - x) - (1.0 - theta) * f0)
        if g == 0.0 or hi - lo < tol:
            break
        if g > 0.0:
            hi = s
            g_hi = g
            if side == 1:  # Illinois: halve the stale end's weight
                g_lo *= 0.5
            side = 1
        else:
            lo = s
            g_lo = g
            if side == -1:
                g_hi *= 0.5
            side = -1
    return s


@numba.njit(cache=True)
def _lake_update(
    k,
    inflow,
    acc,
    t,
    dt,
    storage,
    stage,
    res,
    overtop,
    lk_i,
    lk_f,
    evap_series,
    target_series,
    override,
    rat_ptr,
    rat_h,
    rat_q,
    tab_ptr,
    tab_h,
    tab_s,
    tab_a,
):
    """Advance lake k one step under the step-mean inflow ``inflow``; exchange and outflow are
    applied to ``acc`` (the links' step inflows); step-mean rates go to ``res[k]``."""
    s0 = storage[k]
    h0 = stage[k]
    p0 = tab_ptr[k]
    s_min = tab_s[p0]
    ev = evap_series[k, min(t, evap_series.shape[1] - 1)]
    # controlled release, held over the step
    if not math.isnan(override[k]):
        release = max(override[k], 0.0)
    elif lk_i[k, _RULE] > 0:
        s_target = target_series[k, min(t, target_series.shape[1] - 1)]
        release = inflow + (s0 - s_target) / max(lk_f[k, _TRESP], dt)
        release = min(max(release, lk_f[k, _RMIN]), lk_f[k, _RMAX])
        release = max(release, 0.0)
    else:
        release = 0.0
    # river stage at the side channel from the link's step inflow so far
    j = lk_i[k, _EXLINK]
    hr = math.nan
    avail = 0.0
    if j >= 0:
        avail = max(acc[j], 0.0)
        hr = lk_f[k, _EX_BED] + (avail * lk_f[k, _EX_N] / (lk_f[k, _EX_B] * lk_f[k, _EX_SQRT_S])) ** 0.6
    x_fixed = math.nan
    theta = 0.5
    s1 = s0
    w0 = 0.0
    e0 = 0.0
    x0 = 0.0
    w1 = 0.0
    e1 = 0.0
    x1 = 0.0
    for _attempt in range(8):
        w0, e0, x0 = _fluxes(k, h0, hr, x_fixed, lk_f, ev, rat_ptr, rat_h, rat_q, tab_ptr, tab_h, tab_a)
        f0 = w0 + e0 - x0
        x_max = x0
        if j >= 0 and math.isnan(x_fixed):
            x_max = max(
                x0,
                _exchange(
                    _stage_of(s_min, k, tab_ptr, tab_h, tab_s, tab_a),
                    hr,
                    lk_f[k, _EX_SILL],
                    lk_f[k, _EX_W],
                    lk_f[k, _EX_C],
                ),
            )
        # F >= -x_max everywhere, so G(s_hi) >= 0
        s_hi = s0 + dt * (max(inflow, 0.0) + max(x_max, 0.0) + abs(f0)) + 1.0
        s1 = _solve_storage(
            k,
            s0,
            f0,
            inflow,
            release,
            hr,
            x_fixed,
            theta,
            dt,
            lk_f,
            ev,
            s_min,
            s_hi,
            rat_ptr,
            rat_h,
            rat_q,
            tab_ptr,
            tab_h,
            tab_s,
            tab_a,
        )
        w1, e1, x1 = _fluxes(
            k,
            _stage_of(s1, k, tab_ptr, tab_h, tab_s, tab_a),
            hr,
            x_fixed,
            lk_f,
            ev,
            rat_ptr,
            rat_h,
            rat_q,
            tab_ptr,
            tab_h,
            tab_a,
        )
        # stiffness over the step: raise theta so the linearised step never oscillates
        if s1 != s0:
            r = dt * ((w1 + e1 - x1) - f0) / (s1 - s0)
            if r > 2.0:
                theta_needed = 1.0 - 1.0 / r
                if theta_needed > theta * (1.0 + 1e-9):
                    theta = theta_needed
                    continue
        x_mean = theta * x1 + (1.0 - theta) * x0
        if j >= 0 and math.isnan(x_fixed) and x_mean > avail:
            x_fixed = avail  # the side channel cannot take more than the river brings
            continue
        break
    spill = theta * w1 + (1.0 - theta) * w0
    evap = theta * e1 + (1.0 - theta) * e0
    exch = theta * x1 + (1.0 - theta) * x0
    # never remove more than the lake holds plus what it receives
    gain = inflow + max(exch, 0.0)
    loss = release + spill + evap + max(-exch, 0.0)
    room = s0 - s_min + dt * gain
    if dt * loss > room and loss > 0.0:
        f = max(room, 0.0) / (dt * loss)
        release *= f
        spill *= f
        evap *= f
        if exch < 0.0:
            exch *= f
    s1 = s0 + dt * (inflow + exch - release - spill - evap)
    storage[k] = s1
    stage[k] = _stage_of(max(s1, s_min), k, tab_ptr, tab_h, tab_s, tab_a)
    if s1 > tab_s[tab_ptr[k + 1] - 1]:
        overtop[k] = True
    out = release + spill
    res[k, _OUT] = out
    res[k, _SPILL] = spill
    res[k, _REL] = release
    res[k, _EVAP] = evap
    res[k, _EXCH] = exch
    if j >= 0:
        acc[j] -= exch
    o = lk_i[k, _OUTLET]
    if o >= 0:
        acc[o] += out
        return 0.0
    return out


@numba.njit(cache=True)
def _system_step(
    t,
    dt,
    nodes,
    n_links,
    link_down,
    link_lake,
    lake_of_link,
    ptr,
    m_sub,
    c0,
    c1,
    c2,
    q,
    acc,
    lake_acc,
    out,
    storage,
    stage,
    res,
    overtop,
    lk_i,
    lk_f,
    evap_series,
    target_series,
    override,
    rat_ptr,
    rat_h,
    rat_q,
    tab_ptr,
    tab_h,
    tab_s,
    tab_a,
):
    """One step of links and lakes in topological order; ``acc`` and ``lake_acc`` hold the
    external inputs on entry. Returns the volume leaving the system [m3]."""
    leaving = 0.0
    for node in nodes:
        if node < n_links and lake_of_link[node] >= 0:
            lake_acc[lake_of_link[node]] += acc[node]  # a lake link: the lake takes its inputs
        elif node < n_links:
            mean = mc_link(node, acc[node], ptr, m_sub, c0, c1, c2, q)
            out[node] = mean
            if link_lake[node] >= 0:
                lake_acc[link_lake[node]] += mean
            elif link_down[node] >= 0:
                acc[link_down[node]] += mean
            else:
                leaving += mean * dt
        else:
            k = node - n_links
            leaving += dt * _lake_update(
                k,
                lake_acc[k],
                acc,
                t,
                dt,
                storage,
                stage,
                res,
                overtop,
                lk_i,
                lk_f,
                evap_series,
                target_series,
                override,
                rat_ptr,
                rat_h,
                rat_q,
                tab_ptr,
                tab_h,
                tab_s,
                tab_a,
            )
            if lk_i[k, _LINK] >= 0:
                out[lk_i[k, _LINK]] = res[k, _OUT]
    return leaving


@numba.njit(cache=True)
def _system_run(
    t0,
    dt,
    nodes,
    n_links,
    link_down,
    link_lake,
    lake_of_link,
    ptr,
    m_sub,
    c0,
    c1,
    c2,
    q,
    acc,
    lake_acc,
    inflow,
    lateral,
    lake_inflow,
    storage,
    stage,
    overtop,
    lk_i,
    lk_f,
    evap_series,
    target_series,
    override,
    rat_ptr,
    rat_h,
    rat_q,
    tab_ptr,
    tab_h,
    tab_s,
    tab_a,
    out,
    lake_res,
    lake_stage,
    lake_storage,
    ledger,
):
    """Many steps; ``ledger`` accumulates (external inflow, leaving, lake inflow...) volumes."""
    n_lakes = storage.shape[0]
    res = np.zeros((n_lakes, 5))
    for t in range(out.shape[0]):
        acc[:] = 0.0
        lake_acc[:] = 0.0
        if inflow.shape[0] > 0:
            acc += inflow[t]
        if lateral.shape[0] > 0:
            acc += lateral[t]
        if lake_inflow.shape[0] > 0:
            lake_acc += lake_inflow[t]
        ledger[0] += dt * (acc.sum() + lake_acc.sum())
        ledger[1] += _system_step(
            t0 + t,
            dt,
            nodes,
            n_links,
            link_down,
            link_lake,
            lake_of_link,
            ptr,
            m_sub,
            c0,
            c1,
            c2,
            q,
            acc,
            lake_acc,
            out[t],
            storage,
            stage,
            res,
            overtop,
            lk_i,
            lk_f,
            evap_series,
            target_series,
            override,
            rat_ptr,
            rat_h,
            rat_q,
            tab_ptr,
            tab_h,
            tab_s,
            tab_a,
        )
        for k in range(n_lakes):
            ledger[2] += dt * res[k, _EVAP]
            lake_res[t, k] = res[k]
            lake_stage[t, k] = stage[k]
            lake_storage[t, k] = storage[k]
            # per-lake cumulative volumes: inflow, outflow, evaporated, exchanged in
            ledger[3 + 4 * k] += dt * lake_acc[k]
            ledger[4 + 4 * k] += dt * res[k, _OUT]
            ledger[5 + 4 * k] += dt * res[k, _EVAP]
            ledger[6 + 4 * k] += dt * res[k, _EXCH]


# --- Python side --------------------------------------------------------------------------------


def _topological_nodes(n_links: int, n_lakes: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """Kahn's order of links (0..n-1) and lakes (n..n+L-1) under "a before b" edges."""
    n = n_links + n_lakes
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = np.zeros(n, np.int64)
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    ready = deque(int(i) for i in np.flatnonzero(indeg == 0))
    order = []
    while ready:
        a = ready.popleft()
        order.append(a)
        for b in succ[a]:
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    if len(order) < n:
        stuck = [i for i in range(n) if indeg[i] > 0]
        names = ", ".join(f"lake {i - n_links}" if i >= n_links else f"link {i}" for i in stuck[:6])
        raise ValueError(
            f"the links and lakes form a cycle ({names}{', ...' if len(stuck) > 6 else ''}): a lake's "
            f"outlet or exchange link must not drain back into the lake; check inflow_links, outlet_link "
            f"and exchange_link"
        )
    return np.asarray(order, np.int64)


def _link_index(value, n: int, what: str) -> int:
    i = int(value)
    if not -1 <= i < n:
        raise ValueError(f"{what} = {i} is not a link index: use 0..{n - 1}, or -1 for none")
    return i


def _per_step(value, k: int, what: str) -> np.ndarray:
    a = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"lake {k}: {what} must be a finite number or a 1-D series with one value per step")
    return a


def _padded(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of different lengths in one array, each padded with its last value."""
    width = max((r.size for r in rows), default=1)
    out = np.zeros((len(rows), width))
    for k, r in enumerate(rows):
        out[k, : r.size] = r
        out[k, r.size :] = r[-1]
    return out


class RiverLakeSystem:
    """Muskingum-Cunge routing of a river network with lakes and reservoirs, step by step.

    Parameters
    ----------
    network : RiverNetwork
        The links (see :mod:`kernels.river`).
    lakes : sequence of Lake
        The lakes; lake ``k`` is node ``k`` of the ``lake_*`` arrays.
    dt : float
        Time step [s].
    initial_flow : float or array (n,)
        Steady initial discharge of each link [m3/s].

    Attributes
    ----------
    router : kernels.river.Router
        The links' router (its state is advanced by this system).
    n_links, n_lakes, dt, time_step : int, int, float, int
        Sizes, step [s] and the number of steps taken.
    overtopped : bool array (n_lakes,)
        Lakes whose storage went above their table's top.
    """

    def __init__(self, network: RiverNetwork, lakes: Sequence[Lake], dt: float, initial_flow=0.0):
        self.router = Router(network, dt, initial_flow)
        self.dt = self.router.dt
        n = self.n_links = self.router.n_links
        lakes = list(lakes)
        nl = self.n_lakes = len(lakes)
        ds = np.asarray(network.downstream, dtype=np.int64)
        width, slope, manning = (
            np.broadcast_to(np.asarray(getattr(network, a), dtype=np.float64), (n,))
            for a in ("width", "slope", "manning")
        )
        self._link_lake = np.full(n, -1, np.int64)  # lake receiving each link's outflow
        self._lake_of_link = np.full(n, -1, np.int64)  # lake standing for each link
        self._lk_i = np.zeros((max(nl, 1), 4), np.int64)[:nl]
        self._lk_f = np.zeros((max(nl, 1), 13))[:nl]
        tabs, ratings, evaps, targets = [], [], [], []
        s0 = np.zeros(nl)
        for k, lake in enumerate(lakes):
            tabs.append(self._table(lake, k))
            h, s, a = tabs[-1]
            ratings.append(self._rating(lake, k))
            own = _link_index(lake.link, n, f"lake {k}: link")
            outlet = _link_index(lake.outlet_link, n, f"lake {k}: outlet_link")
            inflow_links = list(np.atleast_1d(np.asarray(lake.inflow_links, dtype=np.int64)))
            if own >= 0:
                if self._lake_of_link[own] >= 0:
                    raise ValueError(f"lake {k}: link {own} already stands for lake {self._lake_of_link[own]}")
                if outlet not in (-1, int(ds[own])):
                    raise ValueError(
                        f"lake {k}: outlet_link = {outlet} differs from its lake link's downstream "
                        f"link {int(ds[own])}; leave outlet_link at -1 for a lake link"
                    )
                self._lake_of_link[own] = k
                outlet = int(ds[own])
                inflow_links += [i for i in np.flatnonzero(ds == own) if i not in inflow_links]
            for i in inflow_links:
                i = _link_index(i, n, f"lake {k}: inflow link")
                if i < 0 or self._link_lake[i] >= 0:
                    raise ValueError(
                        f"lake {k}: inflow link {i} is -1 or already drains into lake "
                        f"{self._link_lake[i]}; a link drains into one lake at most"
                    )
                self._link_lake[i] = k
            exlink = _link_index(lake.exchange_link, n, f"lake {k}: exchange_link")
            h_init = h[0] if lake.initial_stage is None else float(lake.initial_stage)
            if not h[0] <= h_init <= h[-1]:
                raise ValueError(f"lake {k}: initial_stage = {h_init} is outside its table [{h[0]}, {h[-1]}]")
            s0[k] = np.interp(h_init, h, s)
            evap = _per_step(lake.evaporation, k, "evaporation [mm/day]")
            if np.any(evap < 0):
                raise ValueError(f"lake {k}: evaporation must be >= 0 mm/day (give inflows for rain)")
            evaps.append(evap / 1000.0 / _SECONDS_PER_DAY)
            rule = lake.target_stage is not None
            if rule:
                tgt = _per_step(lake.target_stage, k, "target_stage [m]")
                if np.any((tgt < h[0]) | (tgt > h[-1])):
                    raise ValueError(f"lake {k}: target_stage must lie within its table [{h[0]}, {h[-1]}] m")
                targets.append(np.interp(tgt, h, s))
            else:
                targets.append(np.zeros(1))
            rmin, rmax = float(lake.release_min), float(lake.release_max)
            if not (0.0 <= rmin <= rmax) or math.isnan(rmax):
                raise ValueError(f"lake {k}: need 0 <= release_min <= release_max, got {rmin}, {rmax} m3/s")
            sill = h[0] if lake.exchange_sill is None else float(lake.exchange_sill)
            if exlink >= 0:
                if not (np.isfinite(lake.exchange_bed) and lake.exchange_width > 0 and lake.exchange_coeff > 0):
                    raise ValueError(
                        f"lake {k}: a side channel to link {exlink} needs a finite exchange_bed "
                        f"[m] and positive exchange_width [m] and exchange_coeff"
                    )
                if sill < h[0]:
                    raise ValueError(
                        f"lake {k}: exchange_sill = {sill} m is below the lake bottom {h[0]} m; "
                        f"an empty lake cannot feed the river: raise the sill"
                    )
            if lake.weir_width < 0 or (lake.weir_width > 0 and not (lake.weir_coeff > 0 and lake.crest >= h[0])):
                raise ValueError(
                    f"lake {k}: a weir needs weir_width >= 0, weir_coeff > 0 and a crest at or "
                    f"above the lake bottom ({h[0]} m)"
                )
            if not lake.response_time >= 0:
                raise ValueError(f"lake {k}: response_time must be >= 0 s")
            self._lk_i[k] = (outlet, exlink, int(rule), own)
            self._lk_f[k] = (
                lake.crest,
                lake.weir_width,
                lake.weir_coeff,
                rmin,
                rmax,
                lake.response_time,
                lake.exchange_bed,
                sill,
                lake.exchange_width if exlink >= 0 else 0.0,
                lake.exchange_coeff,
                width[max(exlink, 0)],
                math.sqrt(slope[max(exlink, 0)]),
                manning[max(exlink, 0)],
            )
        self._tab_ptr = np.concatenate([[0], np.cumsum([t[0].size for t in tabs])]).astype(np.int64)
        self._tab_h, self._tab_s, self._tab_a = (
            np.concatenate([t[j] for t in tabs]) if tabs else np.zeros(0) for j in range(3)
        )
        self._rat_ptr = np.concatenate([[0], np.cumsum([r.shape[0] for r in ratings])]).astype(np.int64)
        self._rat_h, self._rat_q = (
            np.concatenate([r[:, j] for r in ratings]) if ratings else np.zeros(0) for j in range(2)
        )
        self._evap = _padded(evaps) if nl else np.zeros((0, 1))
        self._target = _padded(targets) if nl else np.zeros((0, 1))
        self._override = np.full(nl, np.nan)
        # order: a lake after its inflow links and after everything feeding its exchange link,
        # before its outlet and exchange links
        edges = [
            (i, n + int(self._link_lake[i]) if self._link_lake[i] >= 0 else int(ds[i]))
            for i in range(n)
            if (self._link_lake[i] >= 0 or ds[i] >= 0) and self._lake_of_link[i] < 0
        ]
        edges += [(i, n + int(self._lake_of_link[i])) for i in np.flatnonzero(self._lake_of_link >= 0)]
        self._link_down = np.where((self._link_lake >= 0) | (self._lake_of_link >= 0), -1, ds)
        # a lake link holds no water of its own (the lake holds it)
        self.router.empty_links(np.flatnonzero(self._lake_of_link >= 0))
        feeders: dict[int, list[int]] = {}
        for a, b in edges:
            if b < n:
                feeders.setdefault(b, []).append(a)
        for k in range(nl):
            outlet, exlink = int(self._lk_i[k, 0]), int(self._lk_i[k, 1])
            if outlet >= 0:
                edges.append((n + k, outlet))
                feeders.setdefault(outlet, []).append(n + k)
        for k in range(nl):
            exlink = int(self._lk_i[k, 1])
            if exlink >= 0:
                edges.extend((a, n + k) for a in feeders.get(exlink, []) if a != n + k)
                edges.append((n + k, exlink))
        self._nodes = _topological_nodes(n, nl, edges)
        self._storage = s0
        self._stage = np.array(
            [_stage_of(s0[k], k, self._tab_ptr, self._tab_h, self._tab_s, self._tab_a) for k in range(nl)]
        )
        self._storage_initial = s0.copy()
        self._channel_initial = float(self.router.storage().sum())
        self._res = np.zeros((nl, 5))
        self._acc = np.zeros(n)
        self._lake_acc = np.zeros(nl)
        self._ledger = np.zeros(3 + 4 * nl)
        self.overtopped = np.zeros(nl, np.bool_)
        self.outflow = np.zeros(n)
        self.time_step = 0

    @staticmethod
    def _table(lake: Lake, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, s, a = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (lake.stage, lake.storage, lake.area))
        if not (h.ndim == 1 and h.size >= 2 and s.shape == h.shape and a.shape == h.shape):
            raise ValueError(f"lake {k}: stage, storage and area must be 1-D arrays of the same length >= 2")
        if not (np.all(np.isfinite(h)) and np.all(np.isfinite(s)) and np.all(np.isfinite(a))):
            raise ValueError(f"lake {k}: the stage-storage-area table holds NaN or infinite values")
        if np.any(np.diff(h) <= 0) or np.any(np.diff(s) <= 0):
            raise ValueError(
                f"lake {k}: stage and storage must be strictly increasing; sort the table by "
                f"stage and drop rows where the storage does not grow"
            )
        if np.any(a < 0) or a[-1] <= 0:
            raise ValueError(f"lake {k}: areas must be >= 0 m2 and the top row's area > 0")
        return h, s, a

    @staticmethod
    def _rating(lake: Lake, k: int) -> np.ndarray:
        if lake.rating is None:
            return np.zeros((0, 2))
        r = np.asarray(lake.rating, dtype=np.float64)
        if r.ndim != 2 or r.shape[1] != 2 or r.shape[0] < 2 or not np.all(np.isfinite(r)):
            raise ValueError(f"lake {k}: rating must be an (m, 2) array of finite (stage, discharge) rows, m >= 2")
        if np.any(np.diff(r[:, 0]) <= 0) or np.any(np.diff(r[:, 1]) < 0) or r[0, 1] < 0:
            raise ValueError(
                f"lake {k}: rating stages must increase strictly and discharges be >= 0 and non-decreasing with stage"
            )
        return r

    # --- state ---------------------------------------------------------------------------------

    @property
    def flows(self) -> np.ndarray:
        """Instantaneous discharge at each link's outlet [m3/s] (a copy); a lake link reads its
        lake's outflow (the last step's mean)."""
        q = self.router.flows
        own = self._lk_i[:, _LINK]
        q[own[own >= 0]] = self._res[own >= 0, _OUT]
        return q

    @property
    def lake_stage(self) -> np.ndarray:
        """Stage of each lake [m] (a copy)."""
        return self._stage.copy()

    @property
    def lake_storage(self) -> np.ndarray:
        """Storage of each lake [m3] (a copy)."""
        return self._storage.copy()

    @property
    def lake_outflow(self) -> np.ndarray:
        """Step-mean outflow (spill + release) of each lake in the last step [m3/s]."""
        return self._res[:, _OUT].copy()

    @property
    def lake_spill(self) -> np.ndarray:
        """Step-mean uncontrolled outflow (rating + weir) of each lake in the last step [m3/s]."""
        return self._res[:, _SPILL].copy()

    @property
    def lake_release(self) -> np.ndarray:
        """Step-mean controlled release of each lake in the last step [m3/s]."""
        return self._res[:, _REL].copy()

    @property
    def lake_evaporation(self) -> np.ndarray:
        """Step-mean evaporation of each lake in the last step [m3/s]."""
        return self._res[:, _EVAP].copy()

    @property
    def lake_exchange(self) -> np.ndarray:
        """Step-mean side-channel flow into each lake in the last step [m3/s] (< 0: lake to river)."""
        return self._res[:, _EXCH].copy()

    @property
    def release(self) -> list:
        """Controlled-release override per lake [m3/s], ``None`` where the lake follows its rule."""
        return [None if np.isnan(v) else float(v) for v in self._override]

    @release.setter
    def release(self, value) -> None:
        values = list(value) if np.ndim(value) else [value] * self.n_lakes
        if len(values) != self.n_lakes:
            raise ValueError(
                f"release needs one entry per lake ({self.n_lakes}): a discharge in m3/s, or None "
                f"for the lake's own rule"
            )
        new = np.array([np.nan if v is None else float(v) for v in values])
        if np.any(new[~np.isnan(new)] < 0) or np.any(np.isinf(new)):
            raise ValueError("release overrides must be finite discharges >= 0 m3/s (None: follow the rule)")
        self._override = new

    def link_lake_volume(self) -> np.ndarray:
        """Per link: the storage of the lake a link stands for [m3] (see :attr:`Lake.link`), 0 for
        river links; what :meth:`kernels.transport.Transport.set_flows` takes as ``lake_volume``."""
        v = np.zeros(self.n_links)
        own = self._lk_i[:, _LINK]
        v[own[own >= 0]] = self._storage[own >= 0]
        return v

    # --- stepping --------------------------------------------------------------------------------

    def run(self, inflow=None, lateral=None, n_steps: int | None = None, lake_inflow=None) -> dict:
        """Advance many steps (the same as repeated :meth:`step`, in one compiled loop).

        Parameters
        ----------
        inflow, lateral : float array (T, n_links), optional
            Step-mean external upstream and lateral inflow of each link [m3/s].
        n_steps : int, optional
            Number of steps when no series is given.
        lake_inflow : float array (T, n_lakes), optional
            Step-mean direct inflow into each lake [m3/s], >= 0 (local runoff, rain on the lake).

        Returns
        -------
        dict of float arrays
            ``outflow`` (T, n_links): step-mean link outflows [m3/s]; ``lake_stage``,
            ``lake_storage`` (T, n_lakes): at the end of each step; ``lake_outflow``,
            ``lake_spill``, ``lake_release``, ``lake_evaporation``, ``lake_exchange``
            (T, n_lakes): step means [m3/s].
        """
        shapes = [np.shape(a)[0] for a in (inflow, lateral, lake_inflow) if a is not None]
        if n_steps is None:
            if not shapes:
                raise ValueError(
                    "give inflow, lateral, lake_inflow or n_steps so the system knows how many steps to run"
                )
            n_steps = shapes[0]
        n, nl = self.n_links, self.n_lakes
        inflow_a = as_series(inflow, n_steps, n, "inflow")
        lateral_a = as_series(lateral, n_steps, n, "lateral")
        lake_a = as_series(lake_inflow, n_steps, nl, "lake_inflow") if nl else np.zeros((0, 0))
        own = np.flatnonzero(self._lake_of_link >= 0)
        into_lakes = [lake_a] + [a[:, own] for a in (inflow_a, lateral_a) if a.size]
        if any(np.any(a < 0) for a in into_lakes):
            raise ValueError(
                "inflow into a lake (lake_inflow, or inflow and lateral of a lake link) must be >= 0 "
                "m3/s; take water out of a lake with a release override or evaporation"
            )
        out = np.empty((n_steps, n))
        lake_res = np.zeros((n_steps, nl, 5))
        lake_stage = np.empty((n_steps, nl))
        lake_storage = np.empty((n_steps, nl))
        ptr, m_sub, c0, c1, c2, q = self.router.routing_arrays
        _system_run(
            self.time_step,
            self.dt,
            self._nodes,
            n,
            self._link_down,
            self._link_lake,
            self._lake_of_link,
            ptr,
            m_sub,
            c0,
            c1,
            c2,
            q,
            self._acc,
            self._lake_acc,
            inflow_a,
            lateral_a,
            lake_a,
            self._storage,
            self._stage,
            self.overtopped,
            self._lk_i,
            self._lk_f,
            self._evap,
            self._target,
            self._override,
            self._rat_ptr,
            self._rat_h,
            self._rat_q,
            self._tab_ptr,
            self._tab_h,
            self._tab_s,
            self._tab_a,
            out,
            lake_res,
            lake_stage,
            lake_storage,
            self._ledger,
        )
        self.time_step += n_steps
        if n_steps:
            self.outflow = out[-1].copy()
            self.router.outflow = self.outflow.copy()
            self._res = lake_res[-1].copy()
        return {
            "outflow": out,
            "lake_stage": lake_stage,
            "lake_storage": lake_storage,
            "lake_outflow": lake_res[:, :, _OUT],
            "lake_spill": lake_res[:, :, _SPILL],
            "lake_release": lake_res[:, :, _REL],
            "lake_evaporation": lake_res[:, :, _EVAP],
            "lake_exchange": lake_res[:, :, _EXCH],
        }

    def step(self, lateral=None, inflow=None, lake_inflow=None) -> np.ndarray:
        """Advance one time step.

        Parameters
        ----------
        lateral, inflow : float array (n_links,), optional
            Step-mean lateral and external upstream inflow of each link [m3/s].
        lake_inflow : float array (n_lakes,), optional
            Step-mean direct inflow into each lake [m3/s].

        Returns
        -------
        float array (n_links,)
            Step-mean outflow of each link [m3/s] (also in :attr:`outflow`); the lakes' results
            are in the ``lake_*`` attributes.
        """

        def row(a, size):
            return None if a is None else np.reshape(np.asarray(a, dtype=np.float64), (1, size))

        result = self.run(
            row(inflow, self.n_links),
            row(lateral, self.n_links),
            1,
            row(lake_inflow, self.n_lakes) if self.n_lakes else None,
        )
        return result["outflow"][0].copy()

    # --- ledger ----------------------------------------------------------------------------------

    def ledger(self) -> dict:
        """Cumulative volumes since the start [m3], for mass-balance reports.

        Returns
        -------
        dict
            ``inflow`` (external + lateral + direct lake inflow), ``outflow`` (leaving at outlets),
            ``evaporated``, ``channel_storage`` and ``channel_storage_initial`` (links),
            ``lake_storage`` and ``lake_storage_initial`` (per lake arrays), ``lake_inflow``,
            ``lake_outflow``, ``lake_evaporated``, ``lake_exchange`` (per lake arrays; exchange
            positive into the lake), and ``error``: ``inflow - outflow - evaporated - change in
            storage`` (round-off only).
        """
        led = self._ledger
        per_lake = led[3:].reshape(-1, 4) if self.n_lakes else np.zeros((0, 4))
        channel = float(self.router.storage().sum())
        stored = channel + float(self._storage.sum())
        stored0 = self._channel_initial + float(self._storage_initial.sum())
        return {
            "inflow": float(led[0]),
            "outflow": float(led[1]),
            "evaporated": float(led[2]),
            "channel_storage": channel,
            "channel_storage_initial": self._channel_initial,
            "lake_storage": self._storage.copy(),
            "lake_storage_initial": self._storage_initial.copy(),
            "lake_inflow": per_lake[:, 0].copy(),
            "lake_outflow": per_lake[:, 1].copy(),
            "lake_evaporated": per_lake[:, 2].copy(),
            "lake_exchange": per_lake[:, 3].copy(),
            "error": float(led[0] - led[1] - led[2] - (stored - stored0)),
        }
