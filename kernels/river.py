"""River network routing: topology, Muskingum-Cunge links and level-pool reservoirs.

A river network is a set of links in plain arrays: ``downstream[i]`` is the index of the link that
receives link ``i``'s outflow, ``-1`` at an outlet (a tree, or a forest of trees).

Links are prismatic, wide rectangular channels (hydraulic radius = depth) routed by the
constant-parameter Muskingum-Cunge method (Cunge 1969; Ponce & Yevjevich 1978; Ponce 1989,
*Engineering Hydrology*, ch. 9): the wave celerity ``c = (5/3) v`` and the hydraulic diffusivity
``D = Q / (2 B S)`` are taken at a reference discharge per link, and the Muskingum ``X`` and
``K = dx / c`` are chosen so that the scheme's numerical diffusion equals ``D``::

    X = 0.5 * (1 - Q / (B S c dx))

Each link is split into ``n_sub`` equal sub-reaches of length ``dx >= Q / (B S c)`` (so ``X >= 0``)
and each time step into ``m_sub`` equal sub-steps so that the Courant number ``c dt_s / dx <= 1``;
together ``2X`` stays in ``[0, 1]`` (``X`` is clipped at 0 only where a whole link is shorter
than ``Q / (B S c)``, i.e. where the wave is so diffusive that one link cannot resolve it).

Flows exchanged between links are **step means** (m3/s averaged over a time step): the inflow,
lateral inflow and outflow of step ``t`` move ``value * dt`` cubic metres. A link's upstream
inflow is held at its step mean across the sub-steps, and its outflow is the exact trapezoidal
mean of its outlet over the sub-steps; with the Muskingum storage ``S = K (X I + (1 - X) O)`` this
makes the network conserve volume to round-off (the storage change telescopes).

Lateral inflow enters at the upstream end of its link. The model is linear (constant
parameters), so its answers for flows far from the reference discharge carry the usual error of
the constant-parameter method; choose the reference near the flows of interest (e.g. a bankfull
or mean annual flood discharge).

Reservoirs and lakes: :func:`level_pool`, the storage-indication (modified Puls) method, for
one reservoir; lakes as nodes of a routed network (spillways, operating rules, side channels,
volume ledger): :class:`kernels.lake.RiverLakeSystem`. :meth:`Router.storage` gives the water
held in each link, whose change equals the inflow minus the outflow volume exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from kernels._graph import kahn_order

__all__ = ["RiverNetwork", "Router", "channel_parameters", "level_pool", "route", "topological_order"]


# --- topology ---------------------------------------------------------------------------------


@numba.njit(cache=True)
def _link_on_cycle(downstream: np.ndarray, placed: np.ndarray) -> int:
    """A link on a cycle, given which links Kahn's algorithm placed (-1 if none)."""
    n = downstream.shape[0]
    for start in range(n):
        if placed[start]:
            continue
        # Walking n links downstream from an unplaced link either reaches an outlet (the link
        # hangs below a cycle) or ends on the cycle it drains into.
        i = start
        for _ in range(n):
            i = downstream[i]
            if i < 0:
                break
        if i >= 0:
            return i
    return -1


def topological_order(downstream: np.ndarray) -> np.ndarray:
    """Order the links so that every link comes before the link it drains into.

    Parameters
    ----------
    downstream : int array (n,)
        Index of the link receiving each link's outflow, ``-1`` at an outlet.

    Returns
    -------
    int64 array (n,)
        A permutation of ``0..n-1``; head links first, outlets last along each path.

    Raises
    ------
    ValueError
        If an index is out of range, or the links form a cycle (the message names a link on it).
    """
    ds = np.asarray(downstream)
    if ds.ndim != 1 or not np.issubdtype(ds.dtype, np.integer):
        raise ValueError(f"downstream must be a 1-D integer array of link indices, got {ds.dtype} {ds.shape}")
    ds = np.ascontiguousarray(ds, dtype=np.int64)
    n = ds.shape[0]
    bad = np.flatnonzero((ds < -1) | (ds >= n))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"downstream[{i}] = {int(ds[i])} is not a link index: use 0..{n - 1} for the receiving link, "
            f"or -1 where link {i} is an outlet ({bad.size} such entries)"
        )
    order, _ = kahn_order(ds, np.ones(n, np.bool_))
    placed_count = order.size
    if placed_count < n:
        placed = np.zeros(n, np.bool_)
        placed[order] = True
        link = int(_link_on_cycle(ds, placed))
        cycle = [link]
        j = int(ds[link])
        while j != link and len(cycle) < 10:
            cycle.append(j)
            j = int(ds[j])
        path = " -> ".join(str(k) for k in cycle) + (f" -> {link}" if j == link else " -> ...")
        raise ValueError(
            f"the river network has a cycle through link {link} ({path}); a link's outflow must never "
            f"return to it: fix the downstream index of one link on the cycle ({n - placed_count} links affected)"
        )
    return order


# --- Muskingum-Cunge ----------------------------------------------------------------------------


class RiverNetwork(NamedTuple):
    """Prismatic wide rectangular links of a river network (SI units).

    Attributes
    ----------
    downstream : int array (n,)
        Receiving link of each link, -1 at an outlet.
    length : float array (n,)
        Link length [m], > 0.
    slope : float array (n,)
        Bed slope [-], > 0.
    manning : float array (n,)
        Manning's n [s m^-1/3], > 0.
    width : float array (n,)
        Channel width [m], > 0.
    q_ref : float array (n,)
        Reference discharge [m3/s], > 0, at which the celerity and diffusivity are taken.
    """

    downstream: np.ndarray
    length: np.ndarray
    slope: np.ndarray
    manning: np.ndarray
    width: np.ndarray
    q_ref: np.ndarray


def channel_parameters(q: np.ndarray, width: np.ndarray, slope: np.ndarray, manning: np.ndarray) -> tuple:
    """Normal depth, velocity, kinematic celerity and hydraulic diffusivity of wide rectangular channels.

    Manning with hydraulic radius = depth: ``Q = B h^(5/3) S^(1/2) / n``.

    Returns
    -------
    depth, velocity, celerity, diffusivity : float arrays
        ``h`` [m], ``v = Q / (B h)`` [m/s], ``c = (5/3) v`` [m/s], ``D = Q / (2 B S)`` [m2/s].
    """
    q, width, slope, manning = (np.asarray(a, dtype=np.float64) for a in (q, width, slope, manning))
    depth = (q * manning / (width * np.sqrt(slope))) ** 0.6
    velocity = q / (width * depth)
    return depth, velocity, 5.0 / 3.0 * velocity, q / (2.0 * width * slope)


def _checked_network(net: RiverNetwork) -> tuple:
    order = topological_order(net.downstream)
    n = order.shape[0]
    arrays = []
    for name in ("length", "slope", "manning", "width", "q_ref"):
        a = np.ascontiguousarray(np.broadcast_to(np.asarray(getattr(net, name), dtype=np.float64), (n,)))
        if not np.all(np.isfinite(a) & (a > 0)):
            i = int(np.flatnonzero(~(np.isfinite(a) & (a > 0)))[0])
            raise ValueError(f"network.{name}[{i}] = {a[i]} must be a finite positive number (SI units)")
        arrays.append(a)
    return (order, np.ascontiguousarray(net.downstream, dtype=np.int64), *arrays)


def _discretise(length, slope, manning, width, q_ref, dt: float):
    """Sub-reaches, sub-steps and Muskingum coefficients of each link."""
    _, _, c, _ = channel_parameters(q_ref, width, slope, manning)
    dx_min = q_ref / (width * slope * c)  # cell Reynolds number D = 1 (X = 0)
    # Reaches no shorter than the wave travels in a step, so most links need no sub-steps; no
    # shorter than dx_min, so X >= 0.
    dx_target = np.maximum(dx_min, c * dt)
    n_sub = np.maximum(1, np.floor(length / dx_target)).astype(np.int64)
    dx = length / n_sub
    m_sub = np.maximum(1, np.ceil(c * dt / dx * (1.0 - 1e-12))).astype(np.int64)
    dt_s = dt / m_sub
    x = np.clip(0.5 * (1.0 - q_ref / (width * slope * c * dx)), 0.0, 0.5)
    k = dx / c
    den = k * (1.0 - x) + 0.5 * dt_s
    c0 = (0.5 * dt_s - k * x) / den
    c1 = (0.5 * dt_s + k * x) / den
    c2 = (k * (1.0 - x) - 0.5 * dt_s) / den
    ptr = np.zeros(length.shape[0] + 1, np.int64)
    np.cumsum(n_sub, out=ptr[1:])
    return n_sub, m_sub, c0, c1, c2, ptr, k, x


@numba.njit(cache=True)
def mc_link(i, qin, ptr, m_sub, c0, c1, c2, q):
    """Route link ``i`` over one time step under the step-mean inflow ``qin``; advances its
    sub-reach outlet discharges ``q`` in place and returns its step-mean outflow."""
    a0 = c0[i]
    a1 = c1[i]
    a2 = c2[i]
    p0 = ptr[i]
    p1 = ptr[i + 1]
    m = m_sub[i]
    total = 0.0
    for _ in range(m):
        # The first sub-reach sees the step-mean inflow at both time levels.
        i_old = qin
        i_new = qin
        o_old = 0.0
        o_new = 0.0
        for p in range(p0, p1):
            o_old = q[p]
            o_new = a0 * i_new + a1 * i_old + a2 * o_old
            q[p] = o_new
            i_old = o_old
            i_new = o_new
        total += 0.5 * (o_old + o_new)
    return total / m


@numba.njit(cache=True)
def _mc_step(order, downstream, ptr, m_sub, c0, c1, c2, q, acc, out):
    """One time step over the network. ``acc`` holds each link's external + lateral inflow on
    entry (step means) and receives its upstream links' outflows; ``out`` gets the step-mean
    outflows; ``q`` (the sub-reach outlet discharges) is advanced in place."""
    for j in range(order.shape[0]):
        i = order[j]
        mean = mc_link(i, acc[i], ptr, m_sub, c0, c1, c2, q)
        out[i] = mean
        d = downstream[i]
        if d >= 0:
            acc[d] += mean


@numba.njit(cache=True)
def _mc_storage(ptr, k, x, q, first_inflow):
    """Muskingum storage ``K (X I + (1 - X) O)`` of each link summed over its sub-reaches [m3].

    ``q`` holds the sub-reach outlet discharges; the first sub-reach's inflow term is taken at
    ``first_inflow`` (a fixed reference, the hot-start flow), not at the step's inflow: the
    scheme holds the inflow over a step, so only this choice makes the storage change of every
    step equal its inflow minus outflow volume exactly.
    """
    n = ptr.shape[0] - 1
    out = np.zeros(n)
    for i in range(n):
        inflow = first_inflow[i]
        for p in range(ptr[i], ptr[i + 1]):
            out[i] += k[i] * (x[i] * inflow + (1.0 - x[i]) * q[p])
            inflow = q[p]
    return out


@numba.njit(cache=True)
def _mc_run(order, downstream, ptr, m_sub, c0, c1, c2, q, inflow, lateral, out):
    n = order.shape[0]
    acc = np.empty(n)
    for t in range(out.shape[0]):
        for i in range(n):
            acc[i] = 0.0
        if inflow.shape[0] > 0:
            for i in range(n):
                acc[i] += inflow[t, i]
        if lateral.shape[0] > 0:
            for i in range(n):
                acc[i] += lateral[t, i]
        _mc_step(order, downstream, ptr, m_sub, c0, c1, c2, q, acc, out[t])


def as_series(a, n_steps: int | None, n: int, name: str) -> np.ndarray:
    """``a`` as a contiguous float64 ``(n_steps, n)`` series (steps x links), or ``(0, n)`` for None.

    Raises ValueError naming ``name`` for another shape or a NaN/infinite value.
    """
    if a is None:
        return np.zeros((0, n))
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != n or (n_steps is not None and a.shape[0] != n_steps):
        want = f"({n_steps if n_steps is not None else 'steps'}, {n})"
        raise ValueError(f"{name} must have shape {want} (steps x links, m3/s), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values; give 0 where a link has no {name}")
    return np.ascontiguousarray(a)


class Router:
    """Step-by-step Muskingum-Cunge routing of a river network (for controls and coupling).

    Parameters
    ----------
    network : RiverNetwork
        The links.
    dt : float
        Time step [s].
    initial_flow : float or array (n,), optional
        Steady discharge along each link at the start [m3/s]; 0 (an empty channel) by default.

    Notes
    -----
    :attr:`flows` reads the instantaneous discharge at each link's outlet; assigning to it sets
    each link to a steady state at that discharge (a hot start, or a control resetting a link).
    """

    def __init__(self, network: RiverNetwork, dt: float, initial_flow=0.0):
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt = {dt} must be a positive time step in seconds")
        (self._order, self._downstream, length, slope, manning, width, q_ref) = _checked_network(network)
        self.dt = float(dt)
        self.n_links = self._order.shape[0]
        self.n_sub, self.m_sub, self._c0, self._c1, self._c2, self._ptr, self._k, self._x = _discretise(
            length, slope, manning, width, q_ref, self.dt
        )
        self._q = np.zeros(int(self._ptr[-1]))
        self._acc = np.zeros(self.n_links)
        self.outflow = np.zeros(self.n_links)
        self.flows = initial_flow

    @property
    def flows(self) -> np.ndarray:
        """Instantaneous discharge at each link's outlet [m3/s] (a copy)."""
        return self._q[self._ptr[1:] - 1].copy()

    @flows.setter
    def flows(self, value) -> None:
        v = np.broadcast_to(np.asarray(value, dtype=np.float64), (self.n_links,))
        if not np.all(np.isfinite(v)):
            raise ValueError("flows must be finite discharges in m3/s, one per link (or one for all)")
        self._q[:] = np.repeat(v, self.n_sub)
        self._storage_ref = v.copy()

    def empty_links(self, links) -> None:
        """Set the flow and the stored water of ``links`` (link indices) to zero, e.g. links a lake holds."""
        for i in np.asarray(links, dtype=np.int64):
            self._q[self._ptr[i] : self._ptr[i + 1]] = 0.0
            self._storage_ref[i] = 0.0

    @property
    def routing_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(ptr, m_sub, c0, c1, c2, q)`` for a compiled loop that routes with this router's state.

        ``ptr`` and ``m_sub`` locate each link's sub-reaches, ``c0, c1, c2`` are their Muskingum-Cunge
        coefficients and ``q`` their outlet discharges [m3/s]: the router's own state, which the loop
        advances in place (as :meth:`run` does).
        """
        return self._ptr, self.m_sub, self._c0, self._c1, self._c2, self._q

    def storage(self) -> np.ndarray:
        """Water stored in each link [m3], the Muskingum storage ``K (X I + (1 - X) O)`` of its sub-reaches.

        Its change over any run equals the inflow minus outflow volume to round-off (the first
        sub-reach's inflow term is held at the flow of the last :attr:`flows` assignment, see
        :func:`_mc_storage`), so it closes volume ledgers exactly.
        """
        return _mc_storage(self._ptr, self._k, self._x, self._q, self._storage_ref)

    def step(self, lateral=None, inflow=None) -> np.ndarray:
        """Advance one time step.

        Parameters
        ----------
        lateral, inflow : float array (n,), optional
            Step-mean lateral and external upstream inflow of each link [m3/s] (0 where absent).

        Returns
        -------
        float array (n,)
            Step-mean outflow of each link [m3/s] (also kept in :attr:`outflow`).
        """
        self._acc[:] = 0.0
        for a, name in ((lateral, "lateral"), (inflow, "inflow")):
            if a is not None:
                self._acc += as_series(np.reshape(a, (1, -1)), 1, self.n_links, name)[0]
        out = np.empty(self.n_links)
        _mc_step(
            self._order, self._downstream, self._ptr, self.m_sub, self._c0, self._c1, self._c2, self._q, self._acc, out
        )
        self.outflow = out
        return out.copy()

    def run(self, inflow=None, lateral=None, n_steps: int | None = None) -> np.ndarray:
        """Advance many steps at once (same as repeated :meth:`step`, without the Python loop).

        Parameters
        ----------
        inflow, lateral : float array (T, n), optional
            Step-mean external and lateral inflows [m3/s].
        n_steps : int, optional
            Number of steps when both series are absent.

        Returns
        -------
        float array (T, n)
            Step-mean outflow of each link in each step [m3/s].
        """
        shapes = [np.shape(a)[0] for a in (inflow, lateral) if a is not None]
        if n_steps is None:
            if not shapes:
                raise ValueError("give inflow, lateral or n_steps so the router knows how many steps to run")
            n_steps = shapes[0]
        inflow_a = as_series(inflow, n_steps, self.n_links, "inflow")
        lateral_a = as_series(lateral, n_steps, self.n_links, "lateral")
        out = np.empty((n_steps, self.n_links))
        _mc_run(
            self._order,
            self._downstream,
            self._ptr,
            self.m_sub,
            self._c0,
            self._c1,
            self._c2,
            self._q,
            inflow_a,
            lateral_a,
            out,
        )
        if n_steps:
            self.outflow = out[-1].copy()
        return out


def route(network: RiverNetwork, inflow=None, lateral=None, dt: float = 3600.0, initial_flow=0.0) -> np.ndarray:
    """Route inflow hydrographs through a river network by Muskingum-Cunge.

    Parameters
    ----------
    network : RiverNetwork
        The links.
    inflow : float array (T, n), optional
        Step-mean external upstream inflow of each link [m3/s] (non-zero at head links, typically).
    lateral : float array (T, n), optional
        Step-mean lateral inflow of each link [m3/s].
    dt : float
        Time step [s].
    initial_flow : float or array (n,)
        Steady initial discharge of each link [m3/s].

    Returns
    -------
    float array (T, n)
        Step-mean outflow of each link [m3/s]; ``sum(outflow[:, outlet]) * dt`` is the volume the
        outlet released.
    """
    return Router(network, dt, initial_flow).run(inflow, lateral)


# --- level pool ---------------------------------------------------------------------------------


def _table(table, name: str, strictly: bool) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] != 2 or t.shape[0] < 2:
        raise ValueError(f"{name} must be an (m, 2) array of (stage, value) rows with m >= 2, got shape {t.shape}")
    stage, value = t[:, 0], t[:, 1]
    if not (np.all(np.isfinite(t)) and np.all(np.diff(stage) > 0)):
        raise ValueError(f"{name}: stages must be finite and strictly increasing; sort the rows by stage")
    dv = np.diff(value)
    if np.any(dv <= 0 if strictly else dv < 0) or value[0] < 0:
        kind = "strictly increasing" if strictly else "non-decreasing"
        raise ValueError(f"{name}: values must be non-negative and {kind} with stage")
    return stage, value


def level_pool(inflow, dt: float, storage_table, outflow_table, initial_stage: float) -> tuple[np.ndarray, np.ndarray]:
    """Route an inflow hydrograph through a reservoir by the storage-indication (modified Puls) method.

    Solves ``(I_j + I_{j+1}) + (2 S_j / dt - O_j) = 2 S_{j+1} / dt + O_{j+1}`` each step. Storage and
    outflow are piecewise linear in stage between their table rows; on the union of both tables'
    stages ``2 S / dt + O`` is linear per segment, so the new stage is found exactly (no iteration).

    Parameters
    ----------
    inflow : float array (T,)
        Inflow at the instants ``0, dt, ..., (T-1) dt`` [m3/s].
    dt : float
        Time step [s].
    storage_table : (m, 2) array
        Rows (stage [m], storage [m3]); storage strictly increasing.
    outflow_table : (k, 2) array
        Rows (stage [m], outflow [m3/s]); outflow non-decreasing. Both tables must cover every
        stage reached.
    initial_stage : float
        Stage at time 0 [m].

    Returns
    -------
    outflow, stage : float arrays (T,)
        At the same instants as ``inflow``.

    Raises
    ------
    ValueError
        For malformed tables, or when the pool would rise above the tables (extend them).
    """
    inflow = np.asarray(inflow, dtype=np.float64)
    if inflow.ndim != 1 or inflow.size < 1 or not np.all(np.isfinite(inflow)):
        raise ValueError("inflow must be a non-empty 1-D series of finite discharges in m3/s")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt = {dt} must be a positive time step in seconds")
    hs, sv = _table(storage_table, "storage_table", strictly=True)
    ho, ov = _table(outflow_table, "outflow_table", strictly=False)
    lo, hi = max(hs[0], ho[0]), min(hs[-1], ho[-1])
    if not lo <= initial_stage <= hi:
        raise ValueError(f"initial_stage = {initial_stage} lies outside the stages both tables cover [{lo}, {hi}]")
    h = np.union1d(hs, ho)
    h = h[(h >= lo) & (h <= hi)]
    s = np.interp(h, hs, sv)
    o = np.interp(h, ho, ov)
    stage, outflow, overflow = _puls(inflow, float(dt), h, s, o, float(initial_stage))
    if overflow >= 0:
        raise ValueError(
            f"the pool rises above the highest stage both tables cover ({hi}) at step {overflow}: extend "
            f"storage_table and outflow_table to higher stages"
        )
    return outflow, stage


@numba.njit(cache=True)
def _puls(inflow, dt, h, s, o, h0):
    n = inflow.shape[0]
    ind = 2.0 * s / dt + o  # storage indication, strictly increasing in stage
    stage = np.empty(n)
    outflow = np.empty(n)
    stage[0] = h0
    # np.interp equivalent for one value, kept explicit so the segment is reused.
    k = 0
    while k < h.shape[0] - 2 and h[k + 1] < h0:
        k += 1
    w = (h0 - h[k]) / (h[k + 1] - h[k])
    s_now = s[k] + w * (s[k + 1] - s[k])
    outflow[0] = o[k] + w * (o[k + 1] - o[k])
    for j in range(n - 1):
        target = inflow[j] + inflow[j + 1] + 2.0 * s_now / dt - outflow[j]
        if target > ind[-1]:
            return stage, outflow, j + 1
        if target <= ind[0]:
            k = 0
            w = 0.0
        else:
            while k > 0 and ind[k] > target:
                k -= 1
            while k < h.shape[0] - 2 and ind[k + 1] < target:
                k += 1
            w = (target - ind[k]) / (ind[k + 1] - ind[k])
        stage[j + 1] = h[k] + w * (h[k + 1] - h[k])
        outflow[j + 1] = o[k] + w * (o[k + 1] - o[k])
        # From the equation itself rather than the table, so the balance closes to round-off.
        s_now = 0.5 * dt * (target - outflow[j + 1])
    return stage, outflow, -1
