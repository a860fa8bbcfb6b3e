"""Surface-sewer exchange at manholes and inlets (1D-2D coupling), vectorised over the nodes.

The flow through each inlet follows the weir/orifice linkage of Chen et al. (2007), Leandro et al.
(2009) and Rubinato et al. (2017), as Itzi uses it:

* the surface water stands above the rim and the node head below it: free weir over the inlet's
  perimeter, ``Q = c_w P h sqrt(2 g h)`` with ``h`` the surface water over the rim, while
  ``h < A / P``; once the inlet is submerged (``h >= A / P``) an orifice, ``Q = c_o A sqrt(2 g h)``;
* the node is surcharged (head above the rim) and the surface higher still: orifice on the head
  difference, ``Q = c_o A sqrt(2 g (H_s - H_n))``;
* the node head above the surface water (and above the rim): the network pushes water out onto the
  street through the same orifice, ``Q = -c_o A sqrt(2 g (H_n - max(H_s, rim)))``.

Positive flows go into the network. A flow into the network never takes more than the cell holds
over the step; a flow out of it never more than the node holds.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["exchange_flow", "book_step", "cap_rates", "outfalls_to_close", "settle", "book_outfalls"]


@numba.njit(cache=True)
def _one(
    h_surf: float, z_rim: float, head: float, area: float, perimeter: float, cw: float, co: float, g: float
) -> float:
    """Exchange [m3/s] through one inlet, before the volume limits (positive into the network)."""
    up = max(h_surf, head) - z_rim
    if up <= 0.0 or area <= 0.0:
        return 0.0
    if h_surf >= head:
        if head <= z_rim:
            depth = h_surf - z_rim
            if perimeter > 0.0 and depth < area / perimeter:
                return cw * perimeter * depth * np.sqrt(2.0 * g * depth)
            return co * area * np.sqrt(2.0 * g * depth)
        return co * area * np.sqrt(2.0 * g * (h_surf - head))
    return -co * area * np.sqrt(2.0 * g * (head - max(h_surf, z_rim)))


@numba.njit(cache=True)
def exchange_flow(
    depth: np.ndarray,
    ground: np.ndarray,
    head: np.ndarray,
    rim: np.ndarray,
    area: np.ndarray,
    perimeter: np.ndarray,
    node_volume: np.ndarray,
    cw: float,
    co: float,
    cell_area: np.ndarray,
    dt: float,
    g: float = 9.81,
) -> np.ndarray:
    """Flows [m3/s] between the surface cells and the network's nodes over one coupling step.

    Parameters
    ----------
    depth, ground : ndarray (n,)
        Water depth [m] and ground elevation [m] of the cell each node lies in.
    head, rim : ndarray (n,)
        The node's hydraulic head and rim (crest) elevation [m].
    area, perimeter : ndarray (n,)
        The inlet's (manhole cover's or grate's) area [m2] and perimeter [m].
    node_volume : ndarray (n,)
        Water the node holds [m3]; the most it can give back over the step.
    cw, co : float
        Weir and orifice discharge coefficients.
    cell_area : ndarray (n,)
        Area [m2] of the node's cell, divided among the nodes that share it.
    dt : float
        Length of the step [s] the flows act over (longest, if it varies).
    g : float
        Gravity [m/s2].

    Returns
    -------
    ndarray (n,)
        Flow per node, positive from the surface into the network.
    """
    n = depth.shape[0]
    q = np.zeros(n)
    for i in range(n):
        hs = ground[i] + max(depth[i], 0.0)
        qi = _one(hs, rim[i], head[i], area[i], perimeter[i], cw, co, g)
        if qi > 0.0:
            qi = min(qi, max(depth[i], 0.0) * cell_area[i] / dt)
        elif qi < 0.0:
            qi = max(qi, -max(node_volume[i], 0.0) / dt)
        q[i] = qi
    return q


# The coupling's books between SWMM's steps, one compiled call each instead of a dozen NumPy calls on arrays of a
# few hundred nodes (their fixed cost was most of the coupling's Python). Each keeps NumPy's element-wise
# results bit for bit, ``np.maximum``'s and ``np.minimum``'s handling of NaN and signed zeros included.


@numba.njit(cache=True)
def _maximum(a: float, b: float) -> float:
    """``np.maximum(a, b)``: ``a`` where it is NaN or above ``b``, else ``b`` (on a tie too: NumPy's signed zeros)."""
    return a if (a > b or a != a) else b


@numba.njit(cache=True)
def _minimum(a: float, b: float) -> float:
    """``np.minimum(a, b)``: ``a`` where it is NaN or below ``b``, else ``b`` (on a tie too: NumPy's signed zeros)."""
    return a if (a < b or a != a) else b


@numba.njit(cache=True)
def book_step(
    dt: float,
    rate: np.ndarray,
    fed: np.ndarray,
    q_in: np.ndarray,
    q_out: np.ndarray,
    to_m3s: float,
    out_rate: np.ndarray,
    out_back: np.ndarray,
    dis: np.ndarray,
) -> None:
    """Book one SWMM step of ``dt`` [s], in place: each node's lateral inflow ``rate`` [m3/s] into ``fed``
    [m3]; each surface outfall's signed discharge from SWMM's inflow ``q_in`` and outflow ``q_out`` of it (its
    flow units, times ``to_m3s``) into ``out_rate`` [m3/s], its largest backflow so far ``out_back`` and
    ``dis`` [m3]. An outfall's discharge is its inflow, or minus its outflow where water runs back up its
    pipe (SWMM then books the reversed flow as its inflow too)."""
    for k in range(rate.shape[0]):
        fed[k] += rate[k] * dt
    for k in range(q_in.shape[0]):
        qi, qo = q_in[k], q_out[k]
        if qo == 0.0:
            q = qi
        elif qi == qo:
            q = -qo
        else:
            q = 0.0
        r = q * to_m3s
        out_rate[k] = r
        out_back[k] = _maximum(out_back[k], -r)
        dis[k] += r * dt


@numba.njit(cache=True)
def cap_rates(rate: np.ndarray, fed: np.ndarray, allow: np.ndarray, longest: float, short: np.ndarray) -> int:
    """Cut the inflow ``rate`` [m3/s] of nodes whose next step (at most ``longest`` s) would take or give
    more than is left of ``allow`` [m3] after ``fed``, in place; their indices into ``short``; how many."""
    n = 0
    for k in range(rate.shape[0]):
        room = _maximum(allow[k] - abs(fed[k]), 0.0) / longest
        if abs(rate[k]) > room:
            rate[k] = np.sign(rate[k]) * room
            short[n] = k
            n += 1
    return n


@numba.njit(cache=True)
def outfalls_to_close(
    out_water: np.ndarray,
    dis: np.ndarray,
    out_back: np.ndarray,
    out_guess: np.ndarray,
    longest: float,
    close: np.ndarray,
) -> int:
    """The surface outfalls whose next step (at most ``longest`` s) could take in more than their cell has
    left (``out_water`` [m3] less what they took, ``dis`` below 0), judged by their largest backflow
    ``out_back`` or, before any, ``out_guess`` [m3/s]: their indices into ``close``; how many."""
    n = 0
    for k in range(out_water.shape[0]):
        left = out_water[k] + _minimum(dis[k], 0.0)
        bound = out_back[k] if out_back[k] > 0 else out_guess[k]
        if bound > 0 and bound * longest > left:
            close[n] = k
            n += 1
    return n


@numba.njit(cache=True)
def settle(
    h: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    change: np.ndarray,
    out_rows: np.ndarray,
    out_cols: np.ndarray,
    idx: np.ndarray,
    fed: np.ndarray,
    back: np.ndarray,
    elapsed: float,
    to_network: np.ndarray,
    to_surface: np.ndarray,
    overflow_time: np.ndarray,
) -> None:
    """The exchange's end, in place: add ``change`` (depths, ``h``'s dtype) to the coupled nodes' cells
    ``(rows, cols)`` in order (as ``np.add.at``), floor those cells and the surface outfalls' at 0 (float
    rounding only), and book each coupled node ``idx[k]``: what it was ``fed`` (into the network where
    positive) and gave back (``-fed`` where negative, plus SWMM's overflow ``back`` [m3]) and, where it gave
    any, the ``elapsed`` seconds as overflowing."""
    for k in range(rows.shape[0]):
        h[rows[k], cols[k]] += change[k]
    for k in range(rows.shape[0]):
        h[rows[k], cols[k]] = _maximum(h[rows[k], cols[k]], 0.0)
    for k in range(out_rows.shape[0]):
        h[out_rows[k], out_cols[k]] = _maximum(h[out_rows[k], out_cols[k]], 0.0)
    for k in range(idx.shape[0]):
        f = fed[k]
        surf = _maximum(-f, 0.0) + back[k]
        to_network[idx[k]] += _maximum(f, 0.0)
        to_surface[idx[k]] += surf
        overflow_time[idx[k]] += elapsed if surf > 0 else 0.0


@numba.njit(cache=True)
def book_outfalls(
    h: np.ndarray,
    out_rows: np.ndarray,
    out_cols: np.ndarray,
    out_cell: np.ndarray,
    dis: np.ndarray,
    cell_area: float,
    elapsed: float,
    out_idx: np.ndarray,
    to_network: np.ndarray,
    to_surface: np.ndarray,
    overflow_time: np.ndarray,
    want: np.ndarray,
    taken: np.ndarray,
    given: np.ndarray,
) -> None:
    """Put what the surface outfalls discharged (``dis`` [m3], positive) on their cells ``(out_rows, out_cols)``
    of ``h`` and take off them what SWMM let in (negative), never more than a cell holds (outfalls sharing a
    cell, ``out_cell``, share its water), in place; book it at the nodes ``out_idx`` (the ``elapsed`` seconds as
    overflowing where an outfall gave water). ``want``, ``taken`` and ``given`` [m3] receive what each asked,
    took and gave."""
    n = dis.shape[0]
    asked = np.zeros(n)  # by cell: what all outfalls of the cell ask, summed in order (as np.bincount)
    for k in range(n):
        want[k] = _maximum(-dis[k], 0.0)
        asked[out_cell[k]] += want[k]
    for k in range(n):  # every cell's water before any changes
        held = _maximum(np.float64(h[out_rows[k], out_cols[k]]), 0.0) * cell_area
        a = asked[out_cell[k]]
        taken[k] = want[k] * _minimum(1.0, held / (a if a > 0 else 1.0))
        given[k] = _maximum(dis[k], 0.0)
    change = np.empty(n, dtype=h.dtype)
    for k in range(n):
        change[k] = (given[k] - taken[k]) / cell_area
    for k in range(n):
        h[out_rows[k], out_cols[k]] += change[k]
    for k in range(n):
        to_surface[out_idx[k]] += given[k]
        to_network[out_idx[k]] += taken[k]
        overflow_time[out_idx[k]] += elapsed if given[k] > 0 else 0.0
