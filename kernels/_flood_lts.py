"""Local time stepping of the local-inertial flood kernel, by tiles. Private: use :mod:`kernels.flood`.

The global step is set by the deepest water anywhere (``alpha dx / sqrt(g h_max)``): a river or a
lake holds the whole city at its short step. Here the grid is cut into tiles of ``tile`` rows by
``WIDE x tile`` columns (the last row and column of tiles take the remainder), and each tile takes
a power-of-two multiple ``2^k dt0`` of the finest step ``dt0``, the largest that the Courant
condition with its own largest depth and speed (and those of a one-cell ring around it) allows,
``alpha dx / (sqrt(g h) + |u|)``, as in the local time stepping of Sanders (2008, "Integration of
a shallow water model with a local time step", J. Hydraul. Res. 46) and Dazzi et al. (2018, Adv. Water Resour. 111), by blocks rather than cells:

* Levels are chosen at the start of each *cycle* of ``2^K`` fine steps (K the largest level in
  use; fewer where the interval ends first), from the depths and speeds then, graded so that
  neighbouring tiles differ by at most one level; tiles with point inflows, level-forced cells or
  water-level boundary faces take level 0.
* A face takes the finer level of its two tiles. At fine step ``s`` a face is *active* when
  ``2^level`` divides ``s``: it gets a new flux for its own step ``2^level dt0`` (the scheme of
  :func:`kernels._flood_core.face_flux` with that step), and that flux is held until its next
  update. A step of m fine steps weights the face's old flux with ``1 - m (1 - theta)`` rather than
  ``theta`` (:func:`_level_theta`), so that the weighting smooths the discharges as much per second
  as the global step's does. The whole volume of the face's step moves at once, out of one cell into the other,
  after the positivity limiter of the cell that gives it (over the faces active now): so every
  volume leaves one cell and enters the other exactly, and mass is conserved to round-off
  whatever the levels (rain, infiltration and drainage of a tile are taken over its own step).
* A tile, and the ring of cells next to it, that is dry, gets no rain and no inflow and has no
  tile with water within ``_idle_ring`` tiles is *idle*: skipped for the cycle. Water moves at
  most one cell per update, so within a cycle of ``2^K`` fine steps it crosses at most ``2^K``
  cells, fewer than that ring of tiles (every tile is at least ``tile`` cells across).

Where every tile has the same level (the deepest water everywhere) each fine step updates every
face and cell once with the global step: the scheme is the global one (to round-off: the fluxes
are limited from separate passes rather than the fused sweep).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._bitops import as_bits, from_bits, nonfinite
from ._flood_core import (
    ACC_DEPTH,
    ACC_FULL,
    FASTMATH,
    N_PF,
    P_FOUR,
    P_GDT,
    P_HALF,
    P_HALF1M,
    P_HDRY,
    P_INVDX,
    P_ONE,
    P_THETA,
    P_THIRD,
    P_WET,
    P_ZERO,
    boundary_momentum,
    constants,
    face_flux,
    forced_cells,
    point_inflows,
    source_limited_dt,
    wet_dry_row,
)
from ._flood_lts_rows import SCR_ROWS, losses_rect, maxima_rect
from ._flood_lts_rows import uidx as _u
from ._series import series_cumulative, series_integral, series_value

__all__ = ["run", "TILE", "WIDE", "MAX_LEVELS_LIMIT"]

#: Tile edge [cells]. 16 keeps the finest levels to a narrow band around deep water: on the demo city,
#: tiles of 32 x 64 cells spent twice the cell-time at the two finest levels (49 % against 24 %) and
#: 1.2x the kernel's CPU time.
TILE = 16

#: Tiles are ``WIDE`` times wider than tall: each row of a tile is one call of the global sweep's
#: row loops, and a call costs about as much as 30 cells, so short rows would waste it.
WIDE = 2

#: Largest number of levels: 16x the finest step is more than the urban cases need (and an interval
#: between sewer exchanges, 5 s, is rarely more than 13 fine steps).
MAX_LEVELS_LIMIT = 4

# Columns of the per-tile results of the continuity pass.
_T_INFIL, _T_DRAIN, _T_BAD, _T_HMAX, _T_CAPPED = range(5)


@njit(error_model="numpy", cache=True)
def _count(n, tile):
    """Tiles along an edge of n cells: the last one takes the remainder, so every tile is at least
    ``tile`` cells wide (or the whole edge)."""
    return max(n // tile, 1)


@njit(error_model="numpy", cache=True)
def _bounds(a, b, tile, ny, nx):
    """Rows [r0, r1) and columns [c0, c1) of tile (a, b)."""
    r0 = a * tile
    c0 = b * tile * WIDE
    r1 = ny if a == _count(ny, tile) - 1 else r0 + tile
    c1 = nx if b == _count(nx, tile * WIDE) - 1 else c0 + tile * WIDE
    return r0, r1, c0, c1


@njit(error_model="numpy", cache=True)
def _fine_time(t, j, dt0, nfine, last, t_end):
    """Time of fine step boundary j of the cycle that starts at t (the last cycle ends on t_end)."""
    if j == nfine and last:
        return t_end
    return t + j * dt0


@njit(error_model="numpy", cache=True)
def _span(level, s, nfine):
    """Fine steps of the step that a face or tile of ``level`` starts at fine step ``s`` (its 2^level,
    cut to the end of a cycle of ``nfine`` fine steps)."""
    return min(1 << level, nfine - s)


#: Smallest flux weighting a coarse face step takes (:func:`_level_theta`). From 0.5 up the weighting keeps
#: the shortest wave's sign (``2 theta - 1 >= 0``); below, a tile at 4x the finest step (0.2 from 0.8) raised a
#: spurious 1.5 cm peak at a tile's edge on a 5 cm wave (tests/kernels/test_flood_lts.py).
THETA_FLOOR = 0.5


@njit(error_model="numpy", cache=True)
def _level_theta(theta, m):
    """The flux weighting of a face step of ``m`` fine steps: ``1 - m (1 - theta)``, at least ``THETA_FLOOR``.

    The weighting of de Almeida et al. (2012) takes ``(1 - theta) / 2`` of the two neighbouring
    discharges into a face's new one at every step: a smoothing whose strength per second is
    ``(1 - theta) / dt``, so the scheme's answers depend on its step through it (on the demo's whole
    storm the global step at alpha 0.3 and theta 0.9 gave the answers of alpha 0.6 and theta 0.8: max
    depth within 1 cm on 99.93 % of the wet cells, max speed within 2 % on 96.7 %, one flooded building
    of 475 different; at alpha 0.3 and theta 0.8, 70 %, 37 % and 74). A tile stepping 2^k times longer
    with the same theta smoothed 2^k times less than the global step, and its answers moved as far as
    halving the global step moves them (`benchmarks/RESULTS.md`, "Local time stepping over the whole
    storm"). ``m`` steps of the smoothing are, to first order in ``1 - theta``, one with
    ``1 - m (1 - theta)``: the same per second (at most twice the finest step with the default 0.8;
    longer steps smooth less than the global step, as before, from the floor). One fine step keeps
    ``theta`` itself (the bits of the global step where every tile is at the finest level)."""
    if m <= 1:
        return theta
    return max(1.0 - m * (1.0 - theta), THETA_FLOOR)


@njit(error_model="numpy", cache=True)
def _tile_of(r, c, tile, ty, tx):
    return min(r // tile, ty - 1), min(c // (tile * WIDE), tx - 1)


@njit(error_model="numpy", cache=True)
def _face_level(la, lb):
    """Level of a face between tiles of levels la, lb (-1: idle, the face is not updated)."""
    if la < 0 or lb < 0:
        return -1
    return min(la, lb)


@njit(error_model="numpy", cache=True)
def _on(level, s):
    """Whether a face or tile of ``level`` is updated at fine step ``s`` of the cycle."""
    return level >= 0 and (s & ((1 << level) - 1)) == 0


# The row loops below index the 2-D arrays with unsigned integers (_u): Numba then drops the
# negative-index wrap-around test that stops a loop over c - 1 vectorising, and no row views are made
# (each view costs reference counting, as much as 30 cells' work on a tile's short rows).


@njit(error_model="numpy", cache=True, inline="always")
def _face_constants(pf_l, lv):
    """The constants :func:`kernels._flood_core.face_flux` takes, of level lv (read from ``pf_l`` by
    index: a row view of it costs an atomic reference-count pair a call)."""
    return (
        pf_l[lv, P_GDT],
        pf_l[lv, P_THETA],
        pf_l[lv, P_HALF1M],
        pf_l[lv, P_INVDX],
        pf_l[lv, P_HDRY],
        pf_l[lv, P_ONE],
        pf_l[lv, P_FOUR],
        pf_l[lv, P_THIRD],
        pf_l[lv, P_HALF],
        pf_l[lv, P_ZERO],
    )


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _x_faces(h, zb, nb, qx, pf_l, lv, qxn, vx, dtdx, r0, r1, c0, c1):
    """New discharges of x-faces c0 <= c < c1 of rows r0 <= r < r1 (1 <= c0, c1 <= nx - 1), as the
    global sweep's with the constants of level lv (``pf_l[lv]``), into qxn; the depths they move over
    the step (dt/dx = dtdx) into vx. A call per rectangle, not per row: a call passes each array as
    nine words, and a tile's rows are short."""
    gdt, theta, half1m, invdx, hdry, one, four, third, half, zero = _face_constants(pf_l, lv)
    for r in range(r0, r1):
        _x_faces_row(
            h, zb, nb, qx, qxn, vx, dtdx, r, c0, c1, gdt, theta, half1m, invdx, hdry, one, four, third, half, zero
        )


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _x_faces_row(
    h, zb, nb, qx, qxn, vx, dtdx, r, c0, c1, gdt, theta, half1m, invdx, hdry, one, four, third, half, zero
):
    ru = _u(r)
    for j in range(c1 - c0):
        c = _u(c0 + j)
        cm = c - _u(1)
        q = face_flux(
            qx[ru, c], qx[ru, cm], qx[ru, c + _u(1)], h[ru, cm], h[ru, c], zb[ru, cm], zb[ru, c], nb[ru, cm], nb[ru, c],
            gdt, theta, half1m, invdx, hdry, one, four, third, half, zero,
        )  # fmt: skip
        qxn[ru, c] = q
        vx[ru, c] = q * dtdx


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _y_faces(h, zb, nb, qy, pf_l, lv, qyn, vy, dtdx, r0, r1, c0, c1):
    """New discharges of the y-faces of rows r0 <= r < r1 (between cell rows r - 1 and r,
    1 <= r <= ny - 1), columns c0 <= c < c1, into qyn (level lv's constants, as :func:`_x_faces`);
    their depths over the step into vy."""
    gdt, theta, half1m, invdx, hdry, one, four, third, half, zero = _face_constants(pf_l, lv)
    for r in range(r0, r1):
        _y_faces_row(
            h, zb, nb, qy, qyn, vy, dtdx, r, c0, c1, gdt, theta, half1m, invdx, hdry, one, four, third, half, zero
        )


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _y_faces_row(
    h, zb, nb, qy, qyn, vy, dtdx, r, c0, c1, gdt, theta, half1m, invdx, hdry, one, four, third, half, zero
):
    ru = _u(r)
    rm = ru - _u(1)
    rp = ru + _u(1)
    for j in range(c1 - c0):
        c = _u(c0 + j)
        q = face_flux(
            qy[ru, c], qy[rm, c], qy[rp, c], h[rm, c], h[ru, c], zb[rm, c], zb[ru, c], nb[rm, c], nb[ru, c],
            gdt, theta, half1m, invdx, hdry, one, four, third, half, zero,
        )  # fmt: skip
        qyn[ru, c] = q
        vy[ru, c] = q * dtdx


@njit(error_model="numpy", cache=True)
def _zero(v, r, c0, c1, zero):
    ru = _u(r)
    for j in range(c1 - c0):
        v[ru, _u(c0 + j)] = zero


@njit(error_model="numpy", cache=True)
def _rects(out, j, a, b, b1, tile, s, lev, ny, nx):
    """The cells of the run of tiles (a, b), ..., (a, b1 - 1) (see :func:`_items`) that change at fine
    step s, as up to four disjoint rectangles (rows [out[i, 0], out[i, 1]), columns [out[i, 2],
    out[i, 3])) into ``out[j]``: the whole run where it is updated now, else (a run of one tile) the
    rows and columns along the edges it shares with a finer tile updated now (only their faces move
    water). Returns how many."""
    r0, r1, c0, c1 = _bounds(a, b, tile, ny, nx)
    lt = lev[a, b]
    if _on(lt, s):
        out[j, 0, 0], out[j, 0, 1], out[j, 0, 2], out[j, 0, 3] = r0, r1, c0, _bounds(a, b1 - 1, tile, ny, nx)[3]
        return 1
    ty, tx = lev.shape
    e_n = a > 0 and _on(_face_level(lt, lev[a - 1, b]), s)
    e_s = a + 1 < ty and _on(_face_level(lt, lev[a + 1, b]), s)
    e_w = b > 0 and _on(_face_level(lt, lev[a, b - 1]), s)
    e_e = b + 1 < tx and _on(_face_level(lt, lev[a, b + 1]), s)
    n = 0
    ra, rb = r0, r1
    if e_n:
        out[j, n, 0], out[j, n, 1], out[j, n, 2], out[j, n, 3] = r0, r0 + 1, c0, c1
        n += 1
        ra = r0 + 1
    if e_s and r1 - 1 >= ra:
        out[j, n, 0], out[j, n, 1], out[j, n, 2], out[j, n, 3] = r1 - 1, r1, c0, c1
        n += 1
        rb = r1 - 1
    if ra < rb:
        ca = c0
        if e_w:
            out[j, n, 0], out[j, n, 1], out[j, n, 2], out[j, n, 3] = ra, rb, c0, c0 + 1
            n += 1
            ca = c0 + 1
        if e_e and c1 - 1 >= ca:
            out[j, n, 0], out[j, n, 1], out[j, n, 2], out[j, n, 3] = ra, rb, c1 - 1, c1
            n += 1
    return n


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _momentum_tile(
    a, b, b1, rects, nrect, tile, s, lev, touched, h, h0, do_acc, zb, nb, qx, qy, qxn, qyn, vx, vy, pf_l, dtdx_l
):
    """New fluxes of the faces a run of tiles (a, b), ..., (a, b1 - 1) owns (interior, west and north
    edges) that are updated now.

    ``qxn``/``qyn`` get the new unlimited discharge of each face updated now (the face flux of the
    global sweep, with the step of the face's level in ``pf_l``), ``vx``/``vy`` the depth it moves
    over the face's own step; 0 for faces not updated now, so the later passes need no levels.
    Faces owned by a neighbour that is not touched now are not updated: set to 0 here too. With
    ``do_acc``, the depths of the tile and the ring around it are kept in ``h0`` for the running
    maxima (a ring cell of a touched neighbour gets the same value twice).
    """
    ny, nx = h.shape
    r0, r1, c0, _ = _bounds(a, b, tile, ny, nx)
    c1 = _bounds(a, b1 - 1, tile, ny, nx)[3]
    zero = pf_l[0, P_ZERO]
    for i in range(nrect):
        ra, rb, ca, cb = rects[i, 0], rects[i, 1], rects[i, 2], rects[i, 3]
        if do_acc:
            lo_c = max(ca - 1, 0)
            for r in range(max(ra - 1, 0), min(rb + 1, ny)):
                ru = _u(r)
                for j in range(min(cb + 1, nx) - lo_c):
                    h0[ru, _u(lo_c + j)] = h[ru, _u(lo_c + j)]
        if nrect and not _on(lev[a, b], s):
            # the tile's own faces around the cells that change are not updated now
            for r in range(ra, rb):
                _zero(vx, r, max(ca, c0 + 1), min(cb, c1 - 1) + 1, zero)
            for r in range(max(ra, r0 + 1), min(rb, r1 - 1) + 1):
                _zero(vy, r, ca, cb, zero)
    lt = lev[a, b]
    lw = _face_level(lt, lev[a, b - 1]) if b > 0 else -1
    on_t = _on(lt, s)
    on_w = _on(lw, s)
    zero_e = c1 < nx and not touched[a, b1]
    # the west edge faces have the edge's level (column 0's outer face is the boundary's)
    if c0 > 0 and on_w:
        _x_faces(h, zb, nb, qx, pf_l, lw, qxn, vx, dtdx_l[lw], r0, r1, c0, c0 + 1)
    else:
        for r in range(r0, r1):
            vx[r, c0] = zero
    if on_t:
        _x_faces(h, zb, nb, qx, pf_l, lt, qxn, vx, dtdx_l[lt], r0, r1, c0 + 1, c1)
    if c1 == nx or zero_e:
        for r in range(r0, r1):
            vx[r, c1] = zero
    # north edge faces (row 0: the boundary's), each tile's with its north neighbour; the interior rows
    for bb in range(b, b1):
        _, _, ca, cb = _bounds(a, bb, tile, ny, nx)
        ln = _face_level(lt, lev[a - 1, bb]) if a > 0 else -1
        if r0 > 0 and _on(ln, s):
            _y_faces(h, zb, nb, qy, pf_l, ln, qyn, vy, dtdx_l[ln], r0, r0 + 1, ca, cb)
        else:
            _zero(vy, r0, ca, cb, zero)
    if on_t:
        _y_faces(h, zb, nb, qy, pf_l, lt, qyn, vy, dtdx_l[lt], r0 + 1, r1, c0, c1)
    for bb in range(b, b1):
        if r1 == ny or not touched[a + 1, bb]:
            _, _, ca, cb = _bounds(a, bb, tile, ny, nx)
            _zero(vy, r1, ca, cb, zero)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _factor_tile(a, b, b1, rects, nrect, tile, s, lev, h, vx, vy, fp, one, zero):
    """Positivity factor of each cell of a tile over the faces updated now (as the global sweep's),
    into the padded ``fp`` (cell (r, c) at [r + 1, c + 1]; the ring stays 1 for the outer ghosts)."""
    for i in range(nrect):
        _factor_rect(rects[i, 0], rects[i, 1], rects[i, 2], rects[i, 3], h, vx, vy, fp, one, zero)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _factor_rect(r0, r1, c0, c1, h, vx, vy, fp, one, zero):
    for r in range(r0, r1):
        ru = _u(r)
        rp = ru + _u(1)
        for j in range(c1 - c0):
            c = _u(c0 + j)
            cp = c + _u(1)
            o = max(zero - vx[ru, c], zero) + max(vx[ru, cp], zero) + max(zero - vy[ru, c], zero) + max(vy[rp, c], zero)
            hc = h[ru, c]
            fp[rp, cp] = hc / o if o > hc else one


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _update_rows(r0, r1, c0, c1, h, lo, comp, rainf, raindt, vx, vy, fp, zero):
    """Depths of rows r0 <= r < r1, columns c0 <= c < c1, from the limited volumes of their faces and
    the rain.

    As the global sweep's update with volumes for fluxes: float32 rows are summed in float64 with
    the remainder carried in ``lo`` (compensated), so the balance closes as in float64.
    """
    for r in range(r0, r1):
        _update_row(r, c0, c1, h, lo, comp, rainf, raindt, vx, vy, fp, zero)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _update_row(r, c0, c1, h, lo, comp, rainf, raindt, vx, vy, fp, zero):
    ru = _u(r)
    rf = ru + _u(1)  # the row in the padded factors
    raindt64 = np.float64(raindt)
    for j in range(c1 - c0):
        c = _u(c0 + j)
        cf = c + _u(1)
        fc = fp[rf, cf]
        qw = vx[ru, c]
        qw = qw * (fp[rf, c] if qw > zero else fc)
        qe = vx[ru, cf]
        qe = qe * (fc if qe > zero else fp[rf, cf + _u(1)])
        qn = vy[ru, c]
        qn = qn * (fp[ru, cf] if qn > zero else fc)
        qs = vy[rf, c]
        qs = qs * (fc if qs > zero else fp[rf + _u(1), cf])
        if comp:
            div = (np.float64(qw) - np.float64(qe)) + (np.float64(qn) - np.float64(qs))
            w = (np.float64(h[ru, c]) + np.float64(lo[ru, c])) + (div + np.float64(rainf[ru, c]) * raindt64)
            h[ru, c] = max(w, 0.0)
            lo[ru, c] = w - np.float64(h[ru, c])
        else:
            h[ru, c] = max(h[ru, c] + ((qw - qe) + (qn - qs)) + rainf[ru, c] * raindt, zero)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _store_x(r0, r1, c0, c1, qx, qxn, fp, zero):
    """Limited discharges of x-faces c0 <= c < c1 of rows r0 <= r < r1 (the giving cell's factor)
    into qx."""
    for r in range(r0, r1):
        ru = _u(r)
        rf = ru + _u(1)
        for j in range(c1 - c0):
            c = _u(c0 + j)
            q = qxn[ru, c]
            # both factors loaded, then chosen: LLVM does not vectorise a loop with conditional loads
            fw, fe = fp[rf, c], fp[rf, c + _u(1)]
            qx[ru, c] = q * (fw if q > zero else fe)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _store_y(r0, r1, c0, c1, qy, qyn, fp, zero):
    """Limited discharges of the y-faces of rows r0 <= r < r1, columns c0 <= c < c1, into qy."""
    for r in range(r0, r1):
        ru = _u(r)
        for j in range(c1 - c0):
            c = _u(c0 + j)
            cf = c + _u(1)
            q = qyn[ru, c]
            fn, fs = fp[ru, cf], fp[ru + _u(1), cf]  # as _store_x: both loaded, then chosen
            qy[ru, c] = q * (fn if q > zero else fs)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _continuity_tile(
    a, b, b1, rects, nrect, tile, s, lev, h, lo, comp, qx, qy, qxn, qyn, vx, vy, fp, rainf, raindt_l, l_take,
    infil_kind, ia, ib, ic, icum, drain, has_drain, part, k, pf, lscr,
):  # fmt: skip
    """Depth update of a tile's cells from the limited volumes of the faces updated now; rain over the
    tile's own step where the tile itself is updated now, and the losses over ``l_take`` of each tile
    (:func:`_schedule`). Stores the limited discharge of the owned faces updated now. Per-tile sums go
    to ``part[k]``; ``lscr[k]``: the losses' scratch rows."""
    ny, nx = h.shape
    r0, r1, c0, _ = _bounds(a, b, tile, ny, nx)
    c1 = _bounds(a, b1 - 1, tile, ny, nx)[3]
    lt = lev[a, b]
    on_t = _on(lt, s)
    lw = _face_level(lt, lev[a, b - 1]) if b > 0 else -1
    ln = _face_level(lt, lev[a - 1, b]) if a > 0 else -1
    on_w = _on(lw, s)
    on_n = _on(ln, s)
    zero = pf[P_ZERO]
    raindt = raindt_l[lt] if on_t else zero
    s_inf = 0.0
    s_drn = 0.0
    # the largest depth as the largest bit pattern (depths are >= 0; NaN's is above infinity's): an
    # integer max, SIMD, as the global sweep takes it
    kmax = as_bits(zero)
    n_bad = 0
    if not on_t:
        # only the cells along edges shared with a finer tile updated now change
        for i in range(nrect):
            _update_rows(rects[i, 0], rects[i, 1], rects[i, 2], rects[i, 3], h, lo, comp, rainf, zero, vx, vy, fp, zero)
            for r in range(rects[i, 0], rects[i, 1]):
                ru = _u(r)
                for c in range(rects[i, 2], rects[i, 3]):
                    w = h[ru, _u(c)]
                    kmax = max(kmax, as_bits(w))
                    n_bad += nonfinite(w)
        if c0 > 0 and on_w:
            _store_x(r0, r1, c0, c0 + 1, qx, qxn, fp, zero)
        if r0 > 0 and on_n:
            _store_y(r0, r0 + 1, c0, c1, qy, qyn, fp, zero)
        part[k, _T_INFIL] = 0.0
        part[k, _T_DRAIN] = 0.0
        part[k, _T_BAD] = n_bad
        part[k, _T_HMAX] = from_bits(kmax, zero)
        return
    # a call per pass over the whole run (rows are independent: an update reads only its own row's
    # depths, and the faces' volumes and factors that the passes before wrote)
    _update_rows(r0, r1, c0, c1, h, lo, comp, rainf, raindt, vx, vy, fp, zero)
    # the owned faces updated now keep their limited discharge (the others hold theirs)
    if c0 > 0 and on_w:
        _store_x(r0, r1, c0, c0 + 1, qx, qxn, fp, zero)
    _store_x(r0, r1, c0 + 1, c1, qx, qxn, fp, zero)
    _store_y(r0 + 1, r1, c0, c1, qy, qyn, fp, zero)
    if r0 > 0:
        # the north edge faces, each tile's with its north neighbour's level
        for bb in range(b, b1):
            if _on(_face_level(lt, lev[a - 1, bb]), s):
                _, _, ca, cb = _bounds(a, bb, tile, ny, nx)
                _store_y(r0, r0 + 1, ca, cb, qy, qyn, fp, zero)
    if infil_kind != 0 or has_drain:
        # each tile's losses over the time its own schedule took them for (l_take, :func:`_schedule`; 0: not
        # now), a call per group of neighbouring tiles with the same (the whole run where all agree)
        bb = b
        while bb < b1:
            ldt = l_take[a, bb]
            e = bb + 1
            while e < b1 and l_take[a, e] == ldt:
                e += 1
            if ldt > 0.0:
                ca = _bounds(a, bb, tile, ny, nx)[2]
                cb = _bounds(a, e - 1, tile, ny, nx)[3]
                inf, drn = losses_rect(
                    r0, r1, ca, cb, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, ldt, lscr, k
                )
                s_inf += inf
                s_drn += drn
            bb = e
    for r in range(r0, r1):
        ru = _u(r)
        for j in range(c1 - c0):
            w = h[ru, _u(c0 + j)]
            kmax = max(kmax, as_bits(w))
            n_bad += nonfinite(w)
    part[k, _T_INFIL] = s_inf
    part[k, _T_DRAIN] = s_drn
    part[k, _T_BAD] = n_bad
    part[k, _T_HMAX] = from_bits(kmax, zero)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _accumulate_tile(
    a, b, b1, rects, nrect, tile, on_t, sp_full, h, h0, zb, nb, qx, qy, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur,
    a_wet, part, k, pf, do_acc, scr,
):  # fmt: skip
    """Running maxima and wet/dry times of the cells of a work item's rectangles after the update, as
    the global sweep takes them (:func:`kernels._flood_lts_rows.maxima_rect`; ``scr[k]`` its scratch
    rows): the speed from the stored discharges over the largest depth they went through
    (the cell's depth before (``h0``) and after, its faces' flow depths before), held to its bound. A
    face beyond the grid's edge adds nothing (with the cell itself: its own depth, no drop). With the
    lean accumulator (``do_acc`` ACC_DEPTH) only the largest depth and the wet/dry times; with the full one,
    the speed and hazard of a tile updated now where its schedule folds them (``sp_full``, :func:`_schedule`),
    the depth and times elsewhere, as the global steps between two folds. The edge cells of a tile not
    updated itself, which a finer neighbour's faces change, fold at each change (as every step): they are
    few, and folding them only with their tile left the demo's speeds within 2 % on 0.1 % fewer cells."""
    n_cap = 0
    if on_t:
        # the run's one rectangle, a call per group of neighbouring tiles with the same schedule
        ny, nx = h.shape
        r0, r1 = rects[0, 0], rects[0, 1]
        bb = b
        while bb < b1:
            full = do_acc != ACC_DEPTH and sp_full[a, bb]
            e = bb + 1
            while e < b1 and (do_acc != ACC_DEPTH and sp_full[a, e]) == full:
                e += 1
            c0 = _bounds(a, bb, tile, ny, nx)[2]
            c1 = _bounds(a, e - 1, tile, ny, nx)[3]
            if full:
                n_cap += maxima_rect(
                    r0, r1, c0, c1, h, h0, zb, nb, qx, qy, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, pf, scr, k
                )  # fmt: skip
            else:
                _depth_rect(r0, r1, c0, c1, h, h0, t1, a_hmax, a_tarr, a_dur, a_wet, pf)
            bb = e
        part[k, _T_CAPPED] = n_cap
        return
    for i in range(nrect):
        r0, r1, c0, c1 = rects[i, 0], rects[i, 1], rects[i, 2], rects[i, 3]
        if do_acc == ACC_DEPTH:
            _depth_rect(r0, r1, c0, c1, h, h0, t1, a_hmax, a_tarr, a_dur, a_wet, pf)
        else:
            n_cap += maxima_rect(
                r0, r1, c0, c1, h, h0, zb, nb, qx, qy, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, pf, scr, k
            )  # fmt: skip
    part[k, _T_CAPPED] = n_cap


@njit(error_model="numpy", cache=True)
def _depth_rect(r0, r1, c0, c1, h, h0, t1, a_hmax, a_tarr, a_dur, a_wet, pf):
    """The lean accumulator's largest depth and wet/dry times over a rectangle."""
    wet = pf[P_WET]
    for r in range(r0, r1):
        n_changed = 0
        for c in range(c0, c1):
            w = h[r, c]
            a_hmax[r, c] = max(a_hmax[r, c], w)
            n_changed += (w > wet) != (h0[r, c] > wet)
        if n_changed:
            wet_dry_row(r, c0, c1, h[r], h0[r], wet, t1, a_tarr, a_dur, a_wet)


@njit(error_model="numpy", cache=True)
def _tile_state(h, qx, qy, tile, hdry, tmax, tdry, tvel):
    """Largest depth and speed over each tile and the ring of cells around it; whether the tile is
    all dry. The speed of a cell deeper than ``hdry``: its largest face discharge over its depth."""
    ny, nx = h.shape
    ty, tx = tmax.shape
    for a in range(ty):
        for b in range(tx):
            r0, r1, c0, c1 = _bounds(a, b, tile, ny, nx)
            m = 0.0
            u = 0.0
            for r in range(max(r0 - 1, 0), min(r1 + 1, ny)):
                for c in range(max(c0 - 1, 0), min(c1 + 1, nx)):
                    w = np.float64(h[r, c])
                    m = max(m, w)
                    if w > hdry:
                        q = max(max(abs(qx[r, c]), abs(qx[r, c + 1])), max(abs(qy[r, c]), abs(qy[r + 1, c])))
                        u = max(u, np.float64(q) / w)
            tmax[a, b] = m
            tvel[a, b] = u
            dry = True
            for r in range(r0, r1):
                for c in range(c0, c1):
                    if h[r, c] != 0:
                        dry = False
                        break
                if not dry:
                    break
            tdry[a, b] = dry


@njit(error_model="numpy", cache=True)
def _idle_ring(kmax, tile):
    """Tiles around a tile that must be dry (no rain, no inflow) for it to be idle: water moves at
    most one cell per fine step, so over a cycle of up to 2^kmax fine steps it crosses at most that
    many cells, and ``ring`` tiles of at least ``tile`` cells (less a cell of the ring each side)
    keep it out."""
    return ((1 << kmax) + 2 + tile - 1) // tile


@njit(error_model="numpy", cache=True)
def _levels(tmax, tvel, tdry, pinned, rain_tile, raining, dt0, dt_cap, alpha, dx, g, kmax, tile, lev):
    """Each tile's level for the coming cycle (-1: idle); returns the largest level in use."""
    ty, tx = lev.shape
    ring = _idle_ring(kmax, tile)
    for a in range(ty):
        for b in range(tx):
            near_water = False
            for i in range(max(a - ring, 0), min(a + ring + 1, ty)):
                for j in range(max(b - ring, 0), min(b + ring + 1, tx)):
                    near_water = near_water or not tdry[i, j] or pinned[i, j] or (raining and rain_tile[i, j])
            if not near_water:
                lev[a, b] = -1
                continue
            # the Courant step of the tile's fastest wave: its speed as well as the wave's celerity (a
            # shallow sheet on a steep street moves faster than sqrt(g h))
            cel = np.sqrt(g * tmax[a, b]) + tvel[a, b]
            allow = min(dt_cap, alpha * dx / cel) if cel > 0.0 else dt_cap
            k = 0
            while k < kmax and dt0 * (1 << (k + 1)) <= allow:
                k += 1
            lev[a, b] = 0 if pinned[a, b] else k
    # graded: neighbours at most one level apart (a wave leaving deep water meets a step at most twice
    # its own, and deep water spreading into a shallow tile is seen within that tile's next step)
    changed = True
    while changed:
        changed = False
        for a in range(ty):
            for b in range(tx):
                la = lev[a, b]
                if la < 0:
                    continue
                m = la
                if a > 0 and lev[a - 1, b] >= 0:
                    m = min(m, lev[a - 1, b] + 1)
                if a + 1 < ty and lev[a + 1, b] >= 0:
                    m = min(m, lev[a + 1, b] + 1)
                if b > 0 and lev[a, b - 1] >= 0:
                    m = min(m, lev[a, b - 1] + 1)
                if b + 1 < tx and lev[a, b + 1] >= 0:
                    m = min(m, lev[a, b + 1] + 1)
                if m < la:
                    lev[a, b] = m
                    changed = True
    top = -1
    for a in range(ty):
        for b in range(tx):
            top = max(top, lev[a, b])
    return top


@njit(error_model="numpy", cache=True)
def _touched(lev, s, touched, todo, spare, rects, tile, ny, nx):
    """Tiles whose cells change at fine step s (updated now, or next to one across a face updated
    now), as work items into ``todo`` (rows: tile row, first and last + 1 tile column): a run of
    neighbouring tiles of one tile row updated now at the same level is one item, so its rows are
    swept whole (a row call costs as much as tens of cells); a tile that only has edge cells that
    change is an item of its own. The items are dealt alternately to the first and second half of
    ``todo`` (through ``spare``): a parallel loop hands each thread a contiguous share of the items,
    and the fine tiles lie together (along the river), so in grid order one thread would get most of
    the work. Each item's rectangles of cells that change (:func:`_rects`) go to ``rects``, their
    number to the item's fourth column. Returns the number of items."""
    ty, tx = lev.shape
    for a in range(ty):
        for b in range(tx):
            la = lev[a, b]
            t = _on(la, s)
            if la >= 0 and not t:
                t = (
                    (a > 0 and _on(lev[a - 1, b], s))
                    or (a + 1 < ty and _on(lev[a + 1, b], s))
                    or (b > 0 and _on(lev[a, b - 1], s))
                    or (b + 1 < tx and _on(lev[a, b + 1], s))
                )
            touched[a, b] = t
    n = 0
    for a in range(ty):
        b = 0
        while b < tx:
            if not touched[a, b]:
                b += 1
                continue
            la = lev[a, b]
            e = b + 1
            if _on(la, s):
                while e < tx and lev[a, e] == la:
                    e += 1
            spare[n, 0], spare[n, 1], spare[n, 2] = a, b, e
            n += 1
            b = e
    half = (n + 1) // 2
    for i in range(n):
        j = i // 2 if i % 2 == 0 else half + i // 2
        todo[j, 0], todo[j, 1], todo[j, 2] = spare[i, 0], spare[i, 1], spare[i, 2]
        todo[j, 3] = _rects(rects, j, spare[i, 0], spare[i, 1], spare[i, 2], tile, s, lev, ny, nx)
    return n


@njit(error_model="numpy", cache=True)
def _schedule(todo, n, lev, s, nfine, last, dt_l, dt_max, losses_every, speed_every, l_dt, l_n, sp_n, l_take, sp_full):
    """Which tiles updated at fine step ``s`` take their losses and fold their speed now, each on its own schedule.

    Both are counted in fine steps, so that a tile takes them as often in time as the global steps do with the
    same options: a tile takes its losses at its first step that brings the fine steps since its last losses
    to ``losses_every`` (``l_n``: every ``losses_every``-th step at the finest level, every step from the level
    whose step is that long), over the time since (``l_dt``; ``l_take``, 0 where not now), sooner where
    another step as long would take it past ``dt_max`` (within a cycle a tile's steps are no longer than
    this one; across cycles :func:`_flush_losses` sees to it), and at its step that ends the call. It folds
    the speed and hazard into their maxima (``sp_full``) likewise, every ``speed_every`` fine steps (``sp_n``)
    and at its step that ends the call. Counted in the tile's own steps instead, a level-4 tile took them
    every 64 fine steps (its losses every 4 of its steps up to ``dt_max``), and on the demo's whole storm the
    largest speeds were within 2 % of every step's on 95.9 % of the wet cells only (99.3 % for the global
    steps' every 4)."""
    for i in range(n):
        a, b, b1 = todo[i, 0], todo[i, 1], todo[i, 2]
        lt = lev[a, b]
        if not _on(lt, s):
            continue
        m = _span(lt, s, nfine)
        ends = last and s + m == nfine
        dt = dt_l[lt]
        for bb in range(b, b1):
            l_dt[a, bb] += dt
            l_n[a, bb] += m
            if l_n[a, bb] >= losses_every or ends or l_dt[a, bb] + dt > dt_max:
                l_take[a, bb] = l_dt[a, bb]
                l_dt[a, bb] = 0.0
                l_n[a, bb] = 0
            else:
                l_take[a, bb] = 0.0
            sp_n[a, bb] += m
            sp_full[a, bb] = sp_n[a, bb] >= speed_every or ends
            if sp_full[a, bb]:
                sp_n[a, bb] = 0


@njit(error_model="numpy", cache=True)
def _pinned_acc(do_acc, sp_full, rows, cols, tile, ty, tx):
    """What the point inflows' or level-held cells' maxima take this fine step: the speed where their tiles
    fold it now (:func:`_schedule`), else the depth and timing only, as the global steps between two folds.
    Their tiles step at the finest level, every fine step from the call's start, so they fold together."""
    if do_acc == ACC_FULL and not sp_full[_tile_of(rows[0], cols[0], tile, ty, tx)]:
        return ACC_DEPTH
    return do_acc


@njit(error_model="numpy", cache=True)
def _flush_losses(
    lev, dt0, nfine, dt_max, l_dt, l_n, tile, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, lscr, vols,
    cell_area,
):  # fmt: skip
    """At a cycle's start: the pending losses of each tile that is idle in it, or whose first step would take
    its pending time past ``dt_max`` (a coarser level than before), taken now over that time and booked in
    ``vols``, so that no loss covers more than ``dt_max`` and none is left when the call ends."""
    ny, nx = h.shape
    ty, tx = lev.shape
    for a in range(ty):
        for b in range(tx):
            if l_dt[a, b] == 0.0:
                continue
            lt = lev[a, b]
            if lt >= 0 and l_dt[a, b] + dt0 * _span(lt, 0, nfine) <= dt_max:
                continue
            if infil_kind != 0 or has_drain:
                r0, r1, c0, c1 = _bounds(a, b, tile, ny, nx)
                inf, drn = losses_rect(
                    r0, r1, c0, c1, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, l_dt[a, b], lscr, 0
                )
                vols[4] += inf * cell_area
                vols[5] += drn * cell_area
            l_dt[a, b] = 0.0
            l_n[a, b] = 0


@njit(parallel=True, error_model="numpy", cache=True)
def run(
    h, qx, qy, zb, nb, blocked, rainf, rain_ser, infil_kind, ia, ib, ic, icum, drain, has_drain,
    b_row, b_col, b_side, b_kind, b_ser, b_slope, f_row, f_col, f_ser, s_row, s_col, s_ser, s_w, st, sv, sptr,
    dx, alpha, theta, h_dry, dt_max, g, wet_depth, froude_cap, zref, t0, t_end, do_acc,
    a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, vols, lo, comp, tile, kmax, level_cells, losses_every, speed_every,
):  # fmt: skip
    """Advance from t0 to exactly t_end with local time steps; arguments as :func:`_flood_core.run`
    (without the sweeps' ``parallel``, ``nch``, ``hmax``, ``rain_sum`` and ``fixed_dt``: the step is
    adaptive) plus the tile edge ``tile``, the largest level ``kmax`` and ``level_cells`` (length
    kmax + 2, float64), which receives the cell-seconds spent at each level (the last entry: idle tiles),
    and ``losses_every`` / ``speed_every`` as the global run's, counted in each tile's own steps
    (:func:`_schedule`).

    Returns (t, fine steps, smallest fine step, largest tile step, status, capped) as the global run.
    """
    ny, nx = h.shape
    cell_area = dx * dx
    ty = _count(ny, tile)
    tx = _count(nx, tile * WIDE)
    ntile = ty * tx
    pf = constants(h, theta, h_dry, dx, wet_depth, froude_cap, g)
    zero = pf[P_ZERO]
    one = pf[P_ONE]
    qxn = np.zeros_like(qx)
    qyn = np.zeros_like(qy)
    vx = np.zeros_like(qx)
    vy = np.zeros_like(qy)
    fp = np.ones((ny + 2, nx + 2), h.dtype)  # positivity factors, a ring of ghosts at 1
    pf_l = np.zeros((kmax + 1, N_PF), h.dtype)
    h0 = np.zeros_like(h) if do_acc else np.zeros((1, 1), h.dtype)
    bx = np.zeros((ny, 2), dtype=h.dtype)
    by = np.zeros((2, nx), dtype=h.dtype)
    lev = np.full((ty, tx), -1, np.int64)
    touched = np.zeros((ty, tx), np.bool_)
    todo = np.zeros((ntile, 4), np.int64)
    spare = np.zeros((ntile, 3), np.int64)
    rects = np.zeros((ntile, 4, 4), np.int64)
    part = np.zeros((ntile, 5))
    # scratch rows of each work item (no allocation in the loops)
    scr = np.empty((ntile, SCR_ROWS, nx + 1), h.dtype)
    lscr = np.empty((ntile, 2, nx + 1))
    tmax = np.zeros((ty, tx))
    tdry = np.zeros((ty, tx), np.bool_)
    tvel = np.zeros((ty, tx))
    # each tile's schedule of losses and speed maxima (_schedule)
    l_dt = np.zeros((ty, tx))
    l_n = np.zeros((ty, tx), np.int64)
    sp_n = np.zeros((ty, tx), np.int64)
    l_take = np.zeros((ty, tx))
    sp_full = np.zeros((ty, tx), np.bool_)
    dtdx_l = np.zeros(kmax + 1, h.dtype)
    raindt_l = np.zeros(kmax + 1, h.dtype)
    dt_l = np.zeros(kmax + 1)
    th_l = np.full(kmax + 1, theta)
    cum = series_cumulative(st, sv, sptr)
    nser = sptr.size - 1
    level_t = np.zeros(nser)
    # Tiles that step at the finest level (their forcing is applied every fine step, as the global
    # run does) and each tile's rain: its sum over the cells (volumes) and whether it has any.
    pinned = np.zeros((ty, tx), np.bool_)
    for k in range(s_row.size):
        pinned[_tile_of(s_row[k], s_col[k], tile, ty, tx)] = True
    for k in range(f_row.size):
        pinned[_tile_of(f_row[k], f_col[k], tile, ty, tx)] = True
    for k in range(b_row.size):
        if b_kind[k] == 2:
            pinned[_tile_of(b_row[k], b_col[k], tile, ty, tx)] = True
    rain_sum_t = np.zeros((ty, tx))
    rain_tile = np.zeros((ty, tx), np.bool_)
    for r in range(ny):
        for c in range(nx):
            v = np.float64(rainf[r, c])
            a, b = _tile_of(r, c, tile, ty, tx)
            rain_sum_t[a, b] += v
            if v > 0.0:
                rain_tile[a, b] = True
    for k in range(vols.size):
        vols[k] = 0.0
    t = t0
    steps = 0
    status = 0
    capped = 0.0
    dt_min = np.inf
    dt_seen = 0.0
    dt_last = 0.0
    t_tol = 1e-9 * max(1.0, abs(t_end))
    while t_end - t > t_tol and status == 0:
        # --- the cycle: finest step, levels, length
        _tile_state(h, qx, qy, tile, h_dry, tmax, tdry, tvel)
        for k in range(nser):
            level_t[k] = series_value(st, sv, sptr, k, t)
        hm = 0.0
        for a in range(ty):
            for b in range(tx):
                hm = max(hm, tmax[a, b])
        for k in range(b_row.size):
            if b_kind[k] == 2 and not blocked[b_row[k], b_col[k]]:
                d = level_t[b_ser[k]] - zref - np.float64(zb[b_row[k], b_col[k]])
                hm = max(hm, d)
                a, b = _tile_of(b_row[k], b_col[k], tile, ty, tx)
                tmax[a, b] = max(tmax[a, b], d)
        dt0 = min(dt_max, alpha * dx / np.sqrt(g * hm)) if hm > 0.0 else dt_max
        src = 0.0
        for k in range(s_row.size):
            src = max(src, series_value(st, sv, sptr, s_ser[k], t) * s_w[k] / cell_area)
        if src > 0.0:
            dt0 = source_limited_dt(dt0, hm, src, alpha * dx, g)
        raining = False
        if rain_ser >= 0:
            span = min(t_end, t + dt0 * (1 << kmax))
            raining = series_integral(st, sv, cum, sptr, rain_ser, span) > series_integral(
                st, sv, cum, sptr, rain_ser, t
            )
        top = _levels(tmax, tvel, tdry, pinned, rain_tile, raining, dt0, dt_max, alpha, dx, g, kmax, tile, lev)
        top = max(top, 0)
        # The cycle is 2^top fine steps, or the fine steps left to t_end where they are fewer: then
        # the finest step is shortened to land on t_end and a tile's last step within the cycle is
        # cut to what is left of it (_span), so the end of an interval (a sewer exchange every few
        # seconds) does not cap the coarse tiles' step below the interval.
        remaining = t_end - t
        nfine = 1 << top
        last = False
        if dt0 * nfine >= remaining * (1.0 - 1e-3):
            nfine = max(int(np.ceil(remaining / dt0 * (1.0 - 1e-3))), 1)
            dt0 = remaining / nfine
            last = True
            while top > 0 and (1 << (top - 1)) >= nfine:
                top -= 1
        for a in range(ty):
            for b in range(tx):
                lev[a, b] = min(lev[a, b], top)
        for k in range(top + 1):
            pf_l[k, :] = pf
        for a in range(ty):
            for b in range(tx):
                r0, r1, c0, c1 = _bounds(a, b, tile, ny, nx)
                cells = (r1 - r0) * (c1 - c0)
                level_cells[lev[a, b] if lev[a, b] >= 0 else kmax + 1] += cells * (nfine * dt0)
        _flush_losses(
            lev, dt0, nfine, dt_max, l_dt, l_n, tile, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, lscr,
            vols, cell_area,
        )  # fmt: skip
        # --- the fine steps of the cycle
        for s in range(nfine):
            ts = t + s * dt0
            for k in range(nser):
                level_t[k] = series_value(st, sv, sptr, k, ts)
            for k in range(top + 1):
                if (s & ((1 << k) - 1)) != 0:
                    continue
                m = _span(k, s, nfine)
                dt_l[k] = dt0 * m
                pf_l[k, P_GDT] = g * dt_l[k]
                th_l[k] = _level_theta(theta, m)
                pf_l[k, P_THETA] = th_l[k]
                pf_l[k, P_HALF1M] = 0.5 * (1.0 - th_l[k])
                dtdx_l[k] = dt_l[k] / dx
                if rain_ser >= 0:
                    te = _fine_time(t, s + m, dt0, nfine, last, t_end)
                    raindt_l[k] = series_integral(st, sv, cum, sptr, rain_ser, te) - series_integral(
                        st, sv, cum, sptr, rain_ser, ts
                    )
            n = _touched(lev, s, touched, todo, spare, rects, tile, ny, nx)
            _schedule(
                todo, n, lev, s, nfine, last, dt_l, dt_max, losses_every, speed_every, l_dt, l_n, sp_n, l_take, sp_full
            )  # fmt: skip
            for i in prange(n):
                a, b, b1 = todo[i, 0], todo[i, 1], todo[i, 2]
                _momentum_tile(
                    a,
                    b,
                    b1,
                    rects[i],
                    todo[i, 3],
                    tile,
                    s,
                    lev,
                    touched,
                    h,
                    h0,
                    do_acc,
                    zb,
                    nb,
                    qx,
                    qy,
                    qxn,
                    qyn,
                    vx,
                    vy,
                    pf_l,
                    dtdx_l,
                )
            # open boundary faces of the tiles updated now, each with its tile's step
            if b_row.size:
                for k in range(top + 1):
                    if (s & ((1 << k) - 1)) != 0:
                        continue
                    boundary_momentum(
                        h, zb, nb, blocked, qx, qy, bx, by, b_row, b_col, b_side, b_kind, b_ser, b_slope,
                        level_t, zref, dt_l[k], g, dx, th_l[k], h_dry,
                    )  # fmt: skip
                    for j in range(b_row.size):
                        r, c, side = b_row[j], b_col[j], b_side[j]
                        if lev[_tile_of(r, c, tile, ty, tx)] != k:
                            continue
                        if side == 0:
                            qxn[r, 0] = bx[r, 0]
                            vx[r, 0] = bx[r, 0] * dtdx_l[k]
                        elif side == 1:
                            qxn[r, nx] = bx[r, 1]
                            vx[r, nx] = bx[r, 1] * dtdx_l[k]
                        elif side == 2:
                            qyn[0, c] = by[0, c]
                            vy[0, c] = by[0, c] * dtdx_l[k]
                        else:
                            qyn[ny, c] = by[1, c]
                            vy[ny, c] = by[1, c] * dtdx_l[k]
            for i in prange(n):
                a, b, b1 = todo[i, 0], todo[i, 1], todo[i, 2]
                _factor_tile(a, b, b1, rects[i], todo[i, 3], tile, s, lev, h, vx, vy, fp, one, zero)
            for i in prange(n):
                a, b, b1 = todo[i, 0], todo[i, 1], todo[i, 2]
                _continuity_tile(
                    a, b, b1, rects[i], todo[i, 3], tile, s, lev, h, lo, comp, qx, qy, qxn, qyn, vx, vy, fp, rainf, raindt_l, l_take,
                    infil_kind, ia, ib, ic, icum, drain, has_drain, part, i, pf, lscr,
                )  # fmt: skip
            # boundary volumes and stored discharges (after limiting), rain volumes
            for j in range(b_row.size):
                r, c, side = b_row[j], b_col[j], b_side[j]
                lb = lev[_tile_of(r, c, tile, ty, tx)]
                if not _on(lb, s):
                    continue
                if side == 0:
                    v = vx[r, 0] * (one if vx[r, 0] > zero else fp[r + 1, 1])
                    qx[r, 0] = qxn[r, 0] * (one if vx[r, 0] > zero else fp[r + 1, 1])
                    vin = np.float64(v)
                elif side == 1:
                    v = vx[r, nx] * (fp[r + 1, nx] if vx[r, nx] > zero else one)
                    qx[r, nx] = qxn[r, nx] * (fp[r + 1, nx] if vx[r, nx] > zero else one)
                    vin = -np.float64(v)
                elif side == 2:
                    v = vy[0, c] * (one if vy[0, c] > zero else fp[1, c + 1])
                    qy[0, c] = qyn[0, c] * (one if vy[0, c] > zero else fp[1, c + 1])
                    vin = np.float64(v)
                else:
                    v = vy[ny, c] * (fp[ny, c + 1] if vy[ny, c] > zero else one)
                    qy[ny, c] = qyn[ny, c] * (fp[ny, c + 1] if vy[ny, c] > zero else one)
                    vin = -np.float64(v)
                vin *= cell_area
                if vin > 0.0:
                    vols[2] += vin
                else:
                    vols[3] -= vin
            hmax = 0.0
            n_bad = 0.0
            for i in range(n):
                a, b, b1 = todo[i, 0], todo[i, 1], todo[i, 2]
                vols[4] += part[i, _T_INFIL] * cell_area
                vols[5] += part[i, _T_DRAIN] * cell_area
                n_bad += part[i, _T_BAD]
                hmax = max(hmax, part[i, _T_HMAX])
                if _on(lev[a, b], s):
                    for bb in range(b, b1):
                        vols[0] += rain_sum_t[a, bb] * np.float64(raindt_l[lev[a, b]]) * cell_area
            t1 = _fine_time(t, s + 1, dt0, nfine, last, t_end)
            if do_acc:
                for i in prange(n):
                    a, b, b1 = todo[i, 0], todo[i, 1], todo[i, 2]
                    te = t1
                    on_t = _on(lev[a, b], s)
                    if on_t:
                        te = _fine_time(t, s + _span(lev[a, b], s, nfine), dt0, nfine, last, t_end)
                    _accumulate_tile(
                        a, b, b1, rects[i], todo[i, 3], tile, on_t, sp_full, h, h0, zb, nb, qx, qy, te,
                        a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, part, i, pf, do_acc, scr,
                    )  # fmt: skip
                for i in range(n):
                    capped += part[i, _T_CAPPED]
            if s_row.size:
                hmax = max(
                    hmax,
                    point_inflows(
                        h, lo, comp, zb, nb, qx, qy, s_row, s_col, s_ser, s_w, st, sv, cum, sptr, ts, t1, t1 - ts,
                        dx, pf, _pinned_acc(do_acc, sp_full, s_row, s_col, tile, ty, tx), a_hmax, a_vmax, a_haz,
                        a_tarr, a_dur, a_wet, vols,
                    ),
                )  # fmt: skip
            if f_row.size:
                hmax = max(
                    hmax,
                    forced_cells(
                        h, lo, comp, zb, nb, qx, qy, blocked, f_row, f_col, f_ser, st, sv, sptr, zref, t1, dx, pf,
                        _pinned_acc(do_acc, sp_full, f_row, f_col, tile, ty, tx), a_hmax, a_vmax, a_haz, a_tarr,
                        a_dur, a_wet, vols,
                    ),
                )  # fmt: skip
            steps += 1
            if n_bad > 0 or not (hmax < np.inf):
                status = 2
                t = t1
                break
        if status == 0:
            if not last or nfine > 1:
                dt_min = min(dt_min, dt0)
            dt_last = dt0
            dt_seen = max(dt_seen, dt0 * nfine)
            t = _fine_time(t, nfine, dt0, nfine, last, t_end)
    if status == 0:
        t = t_end
    if dt_min == np.inf:
        dt_min = dt_last
    return t, steps, dt_min, dt_seen, status, capped
