"""Row loops of local time stepping over column spans of whole arrays. Private: used by
:mod:`kernels._flood_lts`.

Local time stepping moves short row segments (a run of tiles is a few tens of cells wide) many times
per step. The global sweep's row loops take row views (``h[r, c0:c1]``): each view costs an atomic
reference-count increment and decrement on the whole array (and, with two threads, the cache line
of that count goes back and forth between cores), and its loss row allocates two buffers per call.
On a 16-row run of 60 cells that is most of the time the row's cells take. The loops here index the
whole arrays with unsigned row and column indices (no views, no wrap-around test, so they stay
SIMD) and write their intermediate rows into scratch rows allocated once per kernel call (row ``k``
of ``scr``, one per work item).

They compute the same numbers as the global sweep's rows, in the same order: the losses of
:func:`kernels._flood_core.losses_row` (its own cell-by-cell loop for
Horton, Green-Ampt's capacity branch-free, as its SIMD loop), the running maxima of
:func:`kernels._flood_core.maxima_row` (:func:`kernels._flood_core.maxima` inlined).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._flood_core import (
    FASTMATH,
    FASTMATH_EXACT,
    P_HALF,
    P_HDRY,
    P_WET,
    P_ZERO,
    face_depth_drop,
    green_ampt_capacity,
    losses_row,
    maxima,
    wet_dry_row,
)

__all__ = ["uidx", "losses_rect", "maxima_rect", "SCR_ROWS"]

#: Scratch rows per work item that :func:`maxima_rect` uses (x-face flow depths, their drops).
SCR_ROWS = 2


@njit(error_model="numpy", cache=True)
def uidx(i):
    """``i`` as an unsigned index: Numba then drops the negative-index wrap-around test that stops a
    loop over ``c - 1`` vectorising."""
    return np.uint64(i)


# maxima inlined into the row loop (as the global sweep's _maxima_row has it): a call per cell costs
# more than its arithmetic. The same function and flags, so the same numbers.
_maxima_cell = njit(fastmath=FASTMATH_EXACT, error_model="numpy", cache=True, inline="always")(maxima.py_func)


@njit(error_model="numpy", cache=True)
def losses_rect(r0, r1, c0, c1, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt, scr, k):
    """:func:`kernels._flood_core.losses_row` of cells ``c0:c1`` of rows ``r0:r1``; the per-cell losses
    go to the float64 scratch rows ``scr[k, 0]`` and ``scr[k, 1]`` and are summed from there in cell
    order, as the global row sums them, then row by row. Returns the (infiltrated, drained) depth
    sums."""
    s_inf = 0.0
    s_drn = 0.0
    for r in range(r0, r1):
        if infil_kind == 1:
            # Horton cell by cell: the global row's own loop (its exponential is a libm call that stops SIMD)
            inf, drn = losses_row(r, c0, c1, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt)
        else:
            inf, drn = _simd_span(r, c0, c1, h, lo, comp, infil_kind, ia, ib, icum, drain, has_drain, dt, scr, k)
        s_inf += inf
        s_drn += drn
    return s_inf, s_drn


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _simd_span(r, c0, c1, h, lo, comp, infil_kind, ia, ib, icum, drain, has_drain, dt, scr, k):
    """Without Horton: the loop written out once per combination of the flags (constants), so that
    LLVM drops the losses the grid does not have (as the global row does)."""
    if infil_kind == 2:
        if has_drain:
            if comp:
                return _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, True, True, True)
            return _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, False, True, True)
        if comp:
            return _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, True, True, False)
        return _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, False, True, False)
    if has_drain:
        if comp:
            return _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, True, False, True)
        return _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, False, False, True)
    # no losses: the remainder still folded into the depth where it can be (as the global row does)
    if comp:
        return _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, True, False, False)
    return _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, False, False, False)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _loss_loop(r, c0, c1, h, lo, ia, ib, icum, drain, dt, scr, k, comp, infil, has_drain):
    """Green-Ampt (``infil``) then drainage (``has_drain``) over cells ``c0:c1`` of row ``r``,
    branch-free: the capacity is taken everywhere and used where there is water (a dry cell's depth,
    remainder and F stay as they are)."""
    ru = uidx(r)
    ku = uidx(k)
    z = uidx(0)
    o = uidx(1)
    n = c1 - c0
    for j in range(n):
        c = uidx(c0 + j)
        ju = uidx(j)
        h0 = np.float64(h[ru, c])
        w = h0 + np.float64(lo[ru, c]) if comp else h0
        wet = w > 0.0
        inf = 0.0
        if infil:
            inf = min(green_ampt_capacity(ia[ru, c], ib[ru, c], icum[ru, c], dt), w) if wet else 0.0
            icum[ru, c] += inf
        w -= inf
        d = 0.0
        if has_drain:
            d = min(drain[ru, c] * dt, w) if wet else 0.0
            w -= d
        if infil:
            scr[ku, z, ju] = inf
        if has_drain:
            scr[ku, o, ju] = d
        h[ru, c] = w if wet else h0
        if comp:
            lo[ru, c] = w - np.float64(h[ru, c]) if wet else lo[ru, c]
    # A sum of zeros is 0: only the losses there are summed, in cell order.
    s_inf = 0.0
    s_drn = 0.0
    if infil and has_drain:
        for j in range(n):
            s_inf += scr[ku, z, uidx(j)]
            s_drn += scr[ku, o, uidx(j)]
    elif infil:
        for j in range(n):
            s_inf += scr[ku, z, uidx(j)]
    elif has_drain:
        for j in range(n):
            s_drn += scr[ku, o, uidx(j)]
    return s_inf, s_drn


@njit(fastmath=FASTMATH_EXACT, error_model="numpy", cache=True)
def maxima_rect(
    r0, r1, c0, c1, h, h0, zb, nb, qx, qy, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, pf, scr, k
):  # fmt: skip
    """:func:`kernels._flood_core.maxima_row` over rows ``r0:r1``, columns ``c0:c1`` after the update
    (``h0``: the depths before it), wet/dry times at ``t1``; scratch rows ``scr[k]`` (the depth's
    dtype, ``SCR_ROWS`` rows of at least c1 - c0 + 1). Returns the cells capped.

    The same arithmetic as the row's: the x-faces' flow depths and drops (0 beyond the grid's edges),
    then in one loop the cells' largest depths and drops (with the rows north and south; a grid
    edge's row stands for its missing neighbour), :func:`kernels._flood_core.maxima` inlined and the
    counts (the row's three loops: each value is computed as there, so the numbers are the same)."""
    ny, nx = h.shape
    hdry = pf[P_HDRY]
    zero = pf[P_ZERO]
    half = pf[P_HALF]
    wet = pf[P_WET]
    ku = uidx(k)
    i0, i1 = uidx(0), uidx(1)
    n = c1 - c0
    nu = uidx(n)
    ja = 1 if c0 == 0 else 0
    jb = n if c1 == nx else n + 1
    n_cap = 0
    for r in range(r0, r1):
        ru = uidx(r)
        rn = ru - uidx(1) if r > 0 else ru
        rs = ru + uidx(1) if r + 1 < ny else ru
        scr[ku, i0, i0], scr[ku, i1, i0], scr[ku, i0, nu], scr[ku, i1, nu] = zero, zero, zero, zero
        for j in range(ja, jb):
            c = uidx(c0 + j)
            ju = uidx(j)
            cm = c - uidx(1)
            scr[ku, i0, ju], scr[ku, i1, ju] = face_depth_drop(h0[ru, cm], h0[ru, c], zb[ru, cm], zb[ru, c], hdry, zero)
        # the cells' largest depths and drops, their maxima and the counts in one loop (the row's
        # three): a tile's rows are short, and each loop's setup costs about as much as its cells
        n_changed = 0
        for j in range(n):
            c = uidx(c0 + j)
            ju = uidx(j)
            jp = ju + uidx(1)
            w = h[ru, c]
            w0 = h0[ru, c]
            z = zb[ru, c]
            dn, sn = face_depth_drop(h0[rn, c], w0, zb[rn, c], z, hdry, zero)
            ds, ss = face_depth_drop(w0, h0[rs, c], z, zb[rs, c], hdry, zero)
            d = max(max(max(w, w0), max(scr[ku, i0, ju], scr[ku, i0, jp])), max(dn, ds))
            drop = max(max(scr[ku, i1, ju], scr[ku, i1, jp]), max(sn, ss))
            ux = half * (qx[ru, c] + qx[ru, c + uidx(1)])
            uy = half * (qy[ru, c] + qy[ru + uidx(1), c])
            a_hmax[ru, c], a_vmax[ru, c], a_haz[ru, c], cap = _maxima_cell(
                w, d, drop, nb[ru, c], ux, uy, a_hmax[ru, c], a_vmax[ru, c], a_haz[ru, c], pf
            )
            n_cap += cap
            n_changed += (w > wet) != (w0 > wet)
        if n_changed:
            # rare and branchy: apart, they keep the loops above SIMD
            wet_dry_row(r, c0, c1, h[r], h0[r], wet, t1, a_tarr, a_dur, a_wet)
    return n_cap
