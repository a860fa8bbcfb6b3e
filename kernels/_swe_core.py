"""Numba core of the full shallow-water solver. Private: use :mod:`kernels.swe`.

One step (first order: one stage; second order: two stages of SSP-RK2 / Heun) is a few parallel
sweeps over the rows:

1. primitives (velocities, desingularised below ``H_VEL``) and, at second order, the minmod
   slopes of depth, water surface and velocities (first order next to a dry or blocked cell);
2. the x- and y-faces: hydrostatic reconstruction (Audusse et al. 2004) of the two face states,
   an HLL flux with the tangential momentum upwinded by the mass flux (the HLLC contact for the
   shear wave), and the two pressure corrections of the reconstruction; walls (blocked cells,
   closed outer faces) are mirror states;
3. the open boundary faces (serial, few);
4. a positivity limiter on the mass fluxes (a cell never sends away more water than it holds,
   its outgoing mass fluxes scaled together, so depths never go negative and mass stays exact);
5. the cell update with the well-balanced bed source term and point-implicit Manning friction.

Arithmetic is float64; the state and the scratch arrays are in the state's dtype. Volumes are
always float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._flood_core import DEBRIS_DEPTH, green_ampt_capacity, horton_capacity
from ._series import series_cumulative, series_integral, series_value

# Only value-safe fast-math, as the inertial kernel: no reassociation (results must not depend on
# the cache or the build), no 'nnan'/'ninf' (the non-finite checks must stay).
FASTMATH = {"nsz", "contract"}

# Depth [m] below which a cell's velocity is taken as zero (its momentum dropped).
H_VEL = 1e-9


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _minmod(a, b):
    """The smaller of a and b in magnitude where they share a sign, else 0 (branch-free)."""
    return (math.copysign(0.5, a) + math.copysign(0.5, b)) * min(abs(a), abs(b))


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _flux(hl, ul, vl, hr, ur, vr, g):
    """HLL flux (mass, normal momentum) and upwinded tangential momentum between two face states.

    Wave speeds: the two-rarefaction estimates of Toro, with the dry-bed fronts u -/+ 2c.
    """
    if hl <= 0.0 and hr <= 0.0:
        return 0.0, 0.0, 0.0
    cl = np.sqrt(g * hl)
    cr = np.sqrt(g * hr)
    if hl <= 0.0:
        sl = ur - 2.0 * cr
        sr = ur + cr
    elif hr <= 0.0:
        sl = ul - cl
        sr = ul + 2.0 * cl
    else:
        us = 0.5 * (ul + ur) + cl - cr
        cs = 0.5 * (cl + cr) + 0.25 * (ul - ur)
        sl = min(ul - cl, us - cs)
        sr = max(ur + cr, us + cs)
    fl0 = hl * ul
    fl1 = hl * ul * ul + 0.5 * g * hl * hl
    fr0 = hr * ur
    fr1 = hr * ur * ur + 0.5 * g * hr * hr
    if sl >= 0.0:
        f0, f1 = fl0, fl1
    elif sr <= 0.0:
        f0, f1 = fr0, fr1
    elif hl == hr and ul == ur:
        f0, f1 = fl0, fl1  # identical states (a lake at rest): the exact flux, no rounding
    else:
        inv = 1.0 / (sr - sl)
        f0 = (sr * fl0 - sl * fr0 + sl * sr * (hr - hl)) * inv
        f1 = (sr * fl1 - sl * fr1 + sl * sr * (hr * ur - hl * ul)) * inv
    f2 = f0 * (vl if f0 >= 0.0 else vr)
    return f0, f1, f2


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _face(hl, el, ul, vl, hr, er, ur, vr, g):
    """Hydrostatically reconstructed flux through a face and the pressure corrections of its sides.

    hl, el: depth and water surface on the left side (z = e - h); returns (mass, normal momentum,
    tangential momentum, left correction, right correction): the left cell takes flux + left
    correction as its outflow, the right cell flux + right correction as its inflow (Audusse et al.
    2004, eq. 2.10).
    """
    zs = max(el - hl, er - hr)
    hls = max(0.0, el - zs)
    hrs = max(0.0, er - zs)
    f0, f1, f2 = _flux(hls, ul, vl, hrs, ur, vr, g)
    return f0, f1, f2, 0.5 * g * (hl * hl - hls * hls), 0.5 * g * (hr * hr - hrs * hrs)


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _wall(h, un, ut, g):
    """Flux of a cell's face state against a wall (its mirror image): pressure and impact only."""
    f0, f1, f2 = _flux(h, un, ut, h, -un, ut, g)
    return f1


@njit(error_model="numpy", parallel=True, cache=True)
def _primitives(h, hu, hv, zb, blocked, order, u, v, sl):
    """Velocities into u, v; at second order the limited slopes into sl (ny, nx, 8).

    sl[..., 0:4]: x-slopes of h, eta, u, v; sl[..., 4:8]: y-slopes. A cell next to a dry or blocked cell, or
    on the domain edge, is first order in that direction (which keeps a lake at rest at rest).
    """
    ny, nx = h.shape
    for r in prange(ny):
        for c in range(nx):
            w = np.float64(h[r, c])
            if w > H_VEL and not blocked[r, c]:
                u[r, c] = hu[r, c] / w
                v[r, c] = hv[r, c] / w
            else:
                u[r, c] = 0.0
                v[r, c] = 0.0
    if order < 2:
        return
    for r in prange(ny):
        _row_slopes(h, zb, u, v, blocked, r, sl)


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _row_slopes(h, zb, u, v, blocked, r, sl):
    """The eight limited slopes of row r (see _primitives)."""
    ny, nx = h.shape
    for c in range(nx):
        w = np.float64(h[r, c])
        ec = w + zb[r, c]
        wet = w > H_VEL and not blocked[r, c]
        s0 = s1 = s2 = s3 = 0.0
        if wet and 0 < c < nx - 1:
            hw = np.float64(h[r, c - 1])
            he = np.float64(h[r, c + 1])
            if hw > H_VEL and he > H_VEL and not blocked[r, c - 1] and not blocked[r, c + 1]:
                s0 = _minmod(w - hw, he - w)
                s1 = _minmod(ec - (hw + zb[r, c - 1]), (he + zb[r, c + 1]) - ec)
                uc = np.float64(u[r, c])
                vc = np.float64(v[r, c])
                s2 = _minmod(uc - u[r, c - 1], u[r, c + 1] - uc)
                s3 = _minmod(vc - v[r, c - 1], v[r, c + 1] - vc)
        sl[r, c, 0] = s0
        sl[r, c, 1] = s1
        sl[r, c, 2] = s2
        sl[r, c, 3] = s3
        s0 = s1 = s2 = s3 = 0.0
        if wet and 0 < r < ny - 1:
            hn = np.float64(h[r - 1, c])
            hs = np.float64(h[r + 1, c])
            if hn > H_VEL and hs > H_VEL and not blocked[r - 1, c] and not blocked[r + 1, c]:
                s0 = _minmod(w - hn, hs - w)
                s1 = _minmod(ec - (hn + zb[r - 1, c]), (hs + zb[r + 1, c]) - ec)
                uc = np.float64(u[r, c])
                vc = np.float64(v[r, c])
                s2 = _minmod(uc - u[r - 1, c], u[r + 1, c] - uc)
                s3 = _minmod(vc - v[r - 1, c], v[r + 1, c] - vc)
        sl[r, c, 4] = s0
        sl[r, c, 5] = s1
        sl[r, c, 6] = s2
        sl[r, c, 7] = s3


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _side(h, zb, u, v, sl, order, r, c, k, sign):
    """Reconstructed (h, eta, u, v) of cell (r, c) at its face on side ``sign`` (-1/+1) of axis k
    (0: x, 1: y)."""
    w = np.float64(h[r, c])
    e = w + zb[r, c]
    uu = np.float64(u[r, c])
    vv = np.float64(v[r, c])
    if order >= 2:
        o = 4 * k
        half = 0.5 * sign
        w += half * sl[r, c, o]
        e += half * sl[r, c, o + 1]
        uu += half * sl[r, c, o + 2]
        vv += half * sl[r, c, o + 3]
    return w, e, uu, vv


@njit(error_model="numpy", parallel=True, cache=True)
def _faces(h, zb, u, v, sl, blocked, order, g, fx, fy):
    """Fluxes of every face, walls included (open boundary faces are redone by _boundary_faces).

    fx (ny, nx+1, 5): mass, x-momentum, y-momentum, west-cell and east-cell pressure correction;
    fy (ny+1, nx, 5): mass, y-momentum, x-momentum, north-cell and south-cell correction.
    """
    ny = h.shape[0]
    # One pass: the x-faces of row i and the y-faces above it read the same rows while they are in cache.
    for i in prange(ny + 1):
        if i < ny:
            _x_face_row(h, zb, u, v, sl, blocked, order, g, fx, i)
        _y_face_row(h, zb, u, v, sl, blocked, order, g, fy, i)


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _x_face_row(h, zb, u, v, sl, blocked, order, g, fx, r):
    nx = h.shape[1]
    for j in range(nx + 1):
        lb = j == 0 or blocked[r, j - 1]
        rb = j == nx or blocked[r, j]
        f0 = f1 = f2 = pl = pr = 0.0
        if lb and rb:
            pass
        elif rb:  # the west cell against a wall
            hl, el, ul, vl = _side(h, zb, u, v, sl, order, r, j - 1, 0, 1.0)
            f1 = _wall(hl, ul, vl, g)
        elif lb:
            hr, er, ur, vr = _side(h, zb, u, v, sl, order, r, j, 0, -1.0)
            f1 = _wall(hr, -ur, vr, g)
        else:
            hl, el, ul, vl = _side(h, zb, u, v, sl, order, r, j - 1, 0, 1.0)
            hr, er, ur, vr = _side(h, zb, u, v, sl, order, r, j, 0, -1.0)
            f0, f1, f2, pl, pr = _face(hl, el, ul, vl, hr, er, ur, vr, g)
        fx[r, j, 0] = f0
        fx[r, j, 1] = f1
        fx[r, j, 2] = f2
        fx[r, j, 3] = pl
        fx[r, j, 4] = pr


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _y_face_row(h, zb, u, v, sl, blocked, order, g, fy, i):
    ny, nx = h.shape
    for c in range(nx):
        ub = i == 0 or blocked[i - 1, c]
        db = i == ny or blocked[i, c]
        f0 = f1 = f2 = pl = pr = 0.0
        if ub and db:
            pass
        elif db:
            hl, el, ul, vl = _side(h, zb, u, v, sl, order, i - 1, c, 1, 1.0)
            f1 = _wall(hl, vl, ul, g)
        elif ub:
            hr, er, ur, vr = _side(h, zb, u, v, sl, order, i, c, 1, -1.0)
            f1 = _wall(hr, -vr, ur, g)
        else:
            hl, el, ul, vl = _side(h, zb, u, v, sl, order, i - 1, c, 1, 1.0)
            hr, er, ur, vr = _side(h, zb, u, v, sl, order, i, c, 1, -1.0)
            f0, f1, f2, pl, pr = _face(hl, el, vl, ul, hr, er, vr, ur, g)
        fy[i, c, 0] = f0
        fy[i, c, 1] = f1
        fy[i, c, 2] = f2
        fy[i, c, 3] = pl
        fy[i, c, 4] = pr


@njit(error_model="numpy", cache=True)
def _boundary_faces(h, zb, nb, u, v, sl, blocked, order, g, fx, fy, b_row, b_col, b_side, b_kind, b_ser, b_slope, lvl):
    """Fluxes of the open outer faces against a ghost cell.

    Free outflow (kind 1): the ghost is the cell itself with its outward velocity at least the
    normal-flow speed h^(2/3) S^(1/2) / n (never inward). Level (kind 2): the ghost holds the
    level over the cell's bed, with the cell's velocity (none when the ghost is dry).
    """
    ny, nx = h.shape
    for k in range(b_row.size):
        r = b_row[k]
        c = b_col[k]
        if blocked[r, c]:
            continue
        side = b_side[k]
        ax = 0 if side < 2 else 1
        outward = -1.0 if (side == 0 or side == 2) else 1.0
        w, e, uu, vv = _side(h, zb, u, v, sl, order, r, c, ax, outward)
        un = uu if ax == 0 else vv
        ut = vv if ax == 0 else uu
        zc = e - w
        if b_kind[k] == 1:
            hg = w
            eg = e
            ung = outward * max(outward * un, 0.0)
            if w > H_VEL and nb[r, c] > 0.0:
                vn = w ** (2.0 / 3.0) * np.sqrt(b_slope[k]) / nb[r, c]
                ung = outward * max(outward * ung, vn)
            utg = ut
        else:
            hg = max(lvl[b_ser[k]] - zc, 0.0)
            eg = hg + zc
            ung = un if hg > H_VEL else 0.0
            utg = ut if hg > H_VEL else 0.0
        if outward > 0.0:
            f0, f1, f2, pl, pr = _face(w, e, un, ut, hg, eg, ung, utg, g)
            pc = pl
        else:
            f0, f1, f2, pl, pr = _face(hg, eg, ung, utg, w, e, un, ut, g)
            pc = pr
        if ax == 0:
            j = 0 if side == 0 else nx
            fx[r, j, 0] = f0
            fx[r, j, 1] = f1
            fx[r, j, 2] = f2
            fx[r, j, 3] = pc
            fx[r, j, 4] = pc
        else:
            i = 0 if side == 2 else ny
            fy[i, c, 0] = f0
            fy[i, c, 1] = f1
            fy[i, c, 2] = f2
            fy[i, c, 3] = pc
            fy[i, c, 4] = pc


@njit(error_model="numpy", parallel=True, cache=True)
def _limit(h, fx, fy, dtdx, fac):
    """Positivity: scale every cell's outgoing mass fluxes so that it sends away at most its water."""
    ny, nx = h.shape
    for r in prange(ny):
        for c in range(nx):
            o = (
                max(np.float64(fx[r, c + 1, 0]), 0.0)
                + max(-np.float64(fx[r, c, 0]), 0.0)
                + max(np.float64(fy[r + 1, c, 0]), 0.0)
                + max(-np.float64(fy[r, c, 0]), 0.0)
            ) * dtdx
            w = np.float64(h[r, c])
            fac[r, c] = w / o if o > w else 1.0
    for r in prange(ny):
        for j in range(nx + 1):
            q = fx[r, j, 0]
            if q > 0.0 and j > 0:
                fx[r, j, 0] = q * fac[r, j - 1]
            elif q < 0.0 and j < nx:
                fx[r, j, 0] = q * fac[r, j]
    for i in prange(ny + 1):
        for c in range(nx):
            q = fy[i, c, 0]
            if q > 0.0 and i > 0:
                fy[i, c, 0] = q * fac[i - 1, c]
            elif q < 0.0 and i < ny:
                fy[i, c, 0] = q * fac[i, c]


@njit(error_model="numpy", parallel=True, cache=True, fastmath=FASTMATH)
def _update(h0, hu0, hv0, h, hu, hv, zb, nb, blocked, sl, fx, fy, order, dt, dx, g, w0, w1, ho, huo, hvo):
    """ho = w0 * (h0, hu0, hv0) + w1 * (U + dt L(U)) with L the flux divergence and bed source of
    the state U = (h, hu, hv), then point-implicit Manning friction over dt."""
    ny, nx = h.shape
    dtdx = dt / dx
    for r in prange(ny):
        for c in range(nx):
            if blocked[r, c]:
                ho[r, c] = 0.0
                huo[r, c] = 0.0
                hvo[r, c] = 0.0
                continue
            w = np.float64(h[r, c])
            # West face: the cell is its right side; east face: its left side.
            dh = (np.float64(fx[r, c, 0]) - fx[r, c + 1, 0]) + (np.float64(fy[r, c, 0]) - fy[r + 1, c, 0])
            dmx = (np.float64(fx[r, c, 1]) + fx[r, c, 4]) - (np.float64(fx[r, c + 1, 1]) + fx[r, c + 1, 3])
            dmx += np.float64(fy[r, c, 2]) - fy[r + 1, c, 2]
            dmy = (np.float64(fy[r, c, 1]) + fy[r, c, 4]) - (np.float64(fy[r + 1, c, 1]) + fy[r + 1, c, 3])
            dmy += np.float64(fx[r, c, 2]) - fx[r, c + 1, 2]
            if order >= 2:
                # Centred bed source -g h (z_e - z_w) of the reconstruction (z = eta - h at the faces).
                dmx -= g * w * (np.float64(sl[r, c, 1]) - sl[r, c, 0])
                dmy -= g * w * (np.float64(sl[r, c, 5]) - sl[r, c, 4])
            hn = max(w + dtdx * dh, 0.0)
            mx = np.float64(hu[r, c]) + dtdx * dmx
            my = np.float64(hv[r, c]) + dtdx * dmy
            if hn > H_VEL:
                n = np.float64(nb[r, c])
                if n > 0.0:
                    # |u| / h^(4/3) = |q| / (h^2 h^(1/3)): one division and no pow call; then one
                    # reciprocal for both components.
                    f = 1.0 + dt * g * n * n * np.sqrt(mx * mx + my * my) / (hn * hn * np.cbrt(hn))
                    inv = 1.0 / f
                    mx *= inv
                    my *= inv
            else:
                mx = 0.0
                my = 0.0
            if w0 != 0.0:
                hn = w0 * np.float64(h0[r, c]) + w1 * hn
                mx = w0 * np.float64(hu0[r, c]) + w1 * mx
                my = w0 * np.float64(hv0[r, c]) + w1 * my
            ho[r, c] = hn
            huo[r, c] = mx
            hvo[r, c] = my


@njit(error_model="numpy", parallel=True, cache=True)
def _max_speed(h, hu, hv, blocked, g, best, bad):
    """Largest |u| + c and |v| + c over the wet cells, and the number of non-finite values (best, bad:
    per-row scratch)."""
    ny, nx = h.shape
    for r in prange(ny):
        _row_speed(h[r], hu[r], hv[r], blocked[r], g, best, bad, r)
    return best.max(), bad.sum()


@njit(error_model="numpy", cache=True)
def _row_speed(h, hu, hv, blocked, g, best, bad, r):
    m = 0.0
    nbad = 0
    for c in range(h.size):
        w = np.float64(h[c])
        a = max(abs(np.float64(hu[c])), abs(np.float64(hv[c])))
        if not (np.isfinite(w) and np.isfinite(a)):
            nbad += 1
        elif w > H_VEL and not blocked[c]:
            m = max(m, a / w + np.sqrt(g * w))
    best[r] = m
    bad[r] = nbad


@njit(error_model="numpy", parallel=True, cache=True)
def _store_q(fx, fy, a, b, qx, qy):
    """qx = a qx + b (mass flux of fx), likewise qy: the step's face discharges."""
    for i in prange(qx.shape[0]):
        for j in range(qx.shape[1]):
            qx[i, j] = a * qx[i, j] + b * fx[i, j, 0]
    for i in prange(qy.shape[0]):
        for j in range(qy.shape[1]):
            qy[i, j] = a * qy[i, j] + b * fy[i, j, 0]


@njit(error_model="numpy", parallel=True, cache=True)
def _losses(h, hu, hv, rainf, raindt, infil_kind, ia, ib, ic, icum, drain, has_drain, dt, blocked, sums):
    """Rain, then infiltration and drainage from the water there; returns (infiltrated, drained) depth sums
    (sums: per-row scratch)."""
    ny, nx = h.shape
    for r in prange(ny):
        s_inf = 0.0
        s_drn = 0.0
        for c in range(nx):
            if blocked[r, c]:
                continue
            w = np.float64(h[r, c]) + np.float64(rainf[r, c]) * raindt
            h[r, c] = w
            w = np.float64(h[r, c])
            if w <= 0.0 or (infil_kind == 0 and not has_drain):
                continue
            if infil_kind == 1:
                inf = min(horton_capacity(ia[r, c], ib[r, c], ic[r, c], icum[r, c], dt), w)
                icum[r, c] += max(inf - ib[r, c] * dt, 0.0)
                w -= inf
                s_inf += inf
            elif infil_kind == 2:
                inf = min(green_ampt_capacity(ia[r, c], ib[r, c], icum[r, c], dt), w)
                icum[r, c] += inf
                w -= inf
                s_inf += inf
            if has_drain:
                d = min(drain[r, c] * dt, w)
                w -= d
                s_drn += d
            h[r, c] = w
            if w <= H_VEL:
                hu[r, c] = 0.0
                hv[r, c] = 0.0
        sums[r, 0] = s_inf
        sums[r, 1] = s_drn
    return sums[:, 0].sum(), sums[:, 1].sum()


@njit(error_model="numpy", cache=True)
def reopen(h, hu, hv, h_left, blocked):
    """Check the discharges, zero them in blocked cells and scale them by h / h_left where the depth
    changed since the last call left it. Returns False on a non-finite discharge."""
    ny, nx = h.shape
    for r in range(ny):
        for c in range(nx):
            a = hu[r, c]
            b = hv[r, c]
            if not (np.isfinite(a) and np.isfinite(b)):
                return False
            if blocked[r, c]:
                hu[r, c] = 0.0
                hv[r, c] = 0.0
            elif h[r, c] != h_left[r, c]:
                ratio = np.float64(h[r, c]) / np.float64(h_left[r, c]) if h_left[r, c] > 0.0 else 0.0
                hu[r, c] = a * ratio
                hv[r, c] = b * ratio
    return True


@njit(error_model="numpy", parallel=True, cache=True)
def accumulate(h, hu, hv, blocked, t1, v_depth, wet, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet):
    """Running maxima (depth, speed, hazard) and wet/dry timing after a step ending at t1."""
    ny, nx = h.shape
    for r in prange(ny):
        for c in range(nx):
            if blocked[r, c]:
                continue
            w = np.float64(h[r, c])
            spd = 0.0
            if w > v_depth:
                spd = np.sqrt(np.float64(hu[r, c]) ** 2 + np.float64(hv[r, c]) ** 2) / w
            hz = w * (spd + 0.5) + (1.0 if w > DEBRIS_DEPTH else 0.0)
            a_hmax[r, c] = max(a_hmax[r, c], w)
            a_vmax[r, c] = max(a_vmax[r, c], spd)
            a_haz[r, c] = max(a_haz[r, c], hz)
            is_wet = w > wet
            was_wet = not np.isnan(a_wet[r, c])
            if is_wet and not was_wet:
                a_wet[r, c] = t1
                if np.isnan(a_tarr[r, c]):
                    a_tarr[r, c] = t1
            elif was_wet and not is_wet:
                a_dur[r, c] += t1 - a_wet[r, c]
                a_wet[r, c] = np.nan


@njit(error_model="numpy", cache=True)
def _boundary_volume(fx, fy, b_row, b_col, b_side, dt, dx, vols):
    """Volumes through the open faces of one stage (fluxes after limiting) into vols[2] (in), vols[3] (out)."""
    ny = fy.shape[0] - 1
    nx = fx.shape[1] - 1
    for k in range(b_row.size):
        r = b_row[k]
        c = b_col[k]
        side = b_side[k]
        if side == 0:
            vin = np.float64(fx[r, 0, 0])
        elif side == 1:
            vin = -np.float64(fx[r, nx, 0])
        elif side == 2:
            vin = np.float64(fy[0, c, 0])
        else:
            vin = -np.float64(fy[ny, c, 0])
        vin *= dt * dx
        if vin > 0.0:
            vols[2] += vin
        else:
            vols[3] -= vin


@njit(error_model="numpy", cache=True)
def _stage(h, hu, hv, zb, nb, blocked, order, g, dt, dx, lvl, bnd, u, v, sl, fx, fy, fac, weight, vols):
    """Fluxes of state (h, hu, hv) for one stage, limited; boundary volumes counted with ``weight``."""
    b_row, b_col, b_side, b_kind, b_ser, b_slope = bnd
    _primitives(h, hu, hv, zb, blocked, order, u, v, sl)
    _faces(h, zb, u, v, sl, blocked, order, g, fx, fy)
    _boundary_faces(h, zb, nb, u, v, sl, blocked, order, g, fx, fy, b_row, b_col, b_side, b_kind, b_ser, b_slope, lvl)
    _limit(h, fx, fy, dt / dx, fac)
    _boundary_volume(fx, fy, b_row, b_col, b_side, weight * dt, dx, vols)


def scratch_arrays(shape, dtype, order):
    """The working arrays of :func:`run` for a state of this shape, dtype and order (kept between calls)."""
    ny, nx = shape
    return (
        np.zeros((ny, nx), dtype),
        np.zeros((ny, nx), dtype),
        np.zeros((ny, nx, 8 if order >= 2 else 1), dtype),
        np.zeros((ny, nx + 1, 5), dtype),
        np.zeros((ny + 1, nx, 5), dtype),
        np.ones((ny, nx)),
        np.zeros((ny, nx), dtype),
        np.zeros((ny, nx), dtype),
        np.zeros((ny, nx), dtype),
        np.zeros(ny),
        np.zeros(ny, np.int64),
        np.zeros((ny, 2)),
    )


@njit(error_model="numpy", cache=True)
def run(
    h,
    hu,
    hv,
    qx,
    qy,
    zb,
    nb,
    blocked,
    rainf,
    rain_sum,
    rain_ser,
    infil_kind,
    ia,
    ib,
    ic,
    icum,
    drain,
    has_drain,
    bnd,
    f_row,
    f_col,
    f_ser,
    s_row,
    s_col,
    s_ser,
    s_w,
    st,
    sv,
    sptr,
    dx,
    cfl,
    order,
    dt_max,
    fixed_dt,
    g,
    v_depth,
    wet,
    zref,
    t0,
    t_end,
    do_acc,
    a_hmax,
    a_vmax,
    a_haz,
    a_tarr,
    a_dur,
    a_wet,
    vols,
    scratch,
):
    """Advance from t0 to exactly t_end. Returns (t, steps, dt_min, dt_max, status).

    scratch: the working arrays of :func:`scratch_arrays` (every element is written before it is read).

    vols (6,) float64 receives the interval's volumes: rain, inflow, boundary in, boundary out,
    infiltration, drainage. status: 0 ok, 1 fixed dt above 1.5x the Courant step, 2 non-finite.
    """
    ny, nx = h.shape
    cell_area = dx * dx
    b_row, b_col, b_side, b_kind, b_ser, b_slope = bnd
    u, v, sl, fx, fy, fac, h1, hu1, hv1, row_best, row_bad, sums = scratch
    nser = sptr.size - 1
    cum = series_cumulative(st, sv, sptr)
    lvl = np.zeros(max(nser, 1))
    t = t0
    steps = 0
    status = 0
    dt_min = np.inf
    dt_min_clipped = np.inf
    dt_seen = 0.0
    while t_end - t > 1e-9 * max(1.0, abs(t_end)):
        remaining = t_end - t
        for k in range(nser):
            lvl[k] = series_value(st, sv, sptr, k, t) - zref
        smax, bad = _max_speed(h, hu, hv, blocked, g, row_best, row_bad)
        if bad:
            status = 2
            break
        for k in range(b_row.size):
            if b_kind[k] == 2 and not blocked[b_row[k], b_col[k]]:
                smax = max(smax, np.sqrt(g * max(lvl[b_ser[k]] - zb[b_row[k], b_col[k]], 0.0)))
        dt_cfl = cfl * dx / smax if smax > 0.0 else np.inf
        if fixed_dt > 0.0:
            if fixed_dt > 1.5 * dt_cfl:
                status = 1
                break
            dt = fixed_dt
        else:
            dt = min(dt_cfl, dt_max)
        clipped = dt >= remaining * (1.0 - 1e-3)
        if clipped:
            dt = remaining
        t1 = t_end if clipped else t + dt

        if order >= 2:
            _stage(h, hu, hv, zb, nb, blocked, order, g, dt, dx, lvl, bnd, u, v, sl, fx, fy, fac, 0.5, vols)
            _update(h, hu, hv, h, hu, hv, zb, nb, blocked, sl, fx, fy, order, dt, dx, g, 0.0, 1.0, h1, hu1, hv1)
            _store_q(fx, fy, 0.0, 0.5, qx, qy)
            _stage(h1, hu1, hv1, zb, nb, blocked, order, g, dt, dx, lvl, bnd, u, v, sl, fx, fy, fac, 0.5, vols)
            _update(h, hu, hv, h1, hu1, hv1, zb, nb, blocked, sl, fx, fy, order, dt, dx, g, 0.5, 0.5, h, hu, hv)
            _store_q(fx, fy, 1.0, 0.5, qx, qy)
        else:
            _stage(h, hu, hv, zb, nb, blocked, order, g, dt, dx, lvl, bnd, u, v, sl, fx, fy, fac, 1.0, vols)
            _update(h, hu, hv, h, hu, hv, zb, nb, blocked, sl, fx, fy, order, dt, dx, g, 0.0, 1.0, h, hu, hv)
            _store_q(fx, fy, 0.0, 1.0, qx, qy)

        # Rain (its mean over the step), infiltration, drainage.
        raindt = 0.0
        if rain_ser >= 0:
            raindt = series_integral(st, sv, cum, sptr, rain_ser, t1) - series_integral(st, sv, cum, sptr, rain_ser, t)
        if raindt > 0.0 or infil_kind != 0 or has_drain:
            s_inf, s_drn = _losses(
                h, hu, hv, rainf, raindt, infil_kind, ia, ib, ic, icum, drain, has_drain, dt, blocked, sums
            )
            vols[0] += rain_sum * raindt * cell_area
            vols[4] += s_inf * cell_area
            vols[5] += s_drn * cell_area

        # Point inflows (a negative one takes at most the water there).
        for k in range(s_row.size):
            r = s_row[k]
            c = s_col[k]
            qmean = (
                series_integral(st, sv, cum, sptr, s_ser[k], t1) - series_integral(st, sv, cum, sptr, s_ser[k], t)
            ) / dt
            add = qmean * s_w[k] * dt / cell_area
            old = np.float64(h[r, c])
            h[r, c] = old + max(add, -old)
            vols[1] += (np.float64(h[r, c]) - old) * cell_area
            if h[r, c] <= H_VEL:
                hu[r, c] = 0.0
                hv[r, c] = 0.0

        # Cells with a forced water surface: the change is boundary inflow/outflow.
        for k in range(f_row.size):
            r = f_row[k]
            c = f_col[k]
            if blocked[r, c]:
                continue
            target = series_value(st, sv, sptr, f_ser[k], t1) - zref - np.float64(zb[r, c])
            old = np.float64(h[r, c])
            h[r, c] = max(target, 0.0)
            d = (np.float64(h[r, c]) - old) * cell_area
            if d > 0.0:
                vols[2] += d
            else:
                vols[3] -= d
            if h[r, c] <= H_VEL:
                hu[r, c] = 0.0
                hv[r, c] = 0.0

        if do_acc:
            accumulate(h, hu, hv, blocked, t1, v_depth, wet, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet)
        if clipped:
            dt_min_clipped = min(dt_min_clipped, dt)
        else:
            dt_min = min(dt_min, dt)
        dt_seen = max(dt_seen, dt)
        t = t1
        steps += 1
    if status == 0 and _max_speed(h, hu, hv, blocked, g, row_best, row_bad)[1]:
        status = 2
    if status == 0:
        t = t_end
    if dt_min == np.inf:
        dt_min = dt_min_clipped
    return t, steps, dt_min, dt_seen, status
