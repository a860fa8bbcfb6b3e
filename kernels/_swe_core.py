"""Numba core of the full shallow-water solver. Private: use :mod:`kernels.swe`.

One step (first order and MUSCL-Hancock: one stage; SSP-RK2 / Heun: two) is, per stage, the
open boundary faces (serial, few) and then one fused pass over the rows, in one band of rows per
thread (see :func:`_band`), that for each row computes

1. the velocities (desingularised below ``H_VEL``) and, at second order, the minmod slopes of
   depth, water surface and velocities (first order next to a dry or blocked cell); MUSCL-Hancock
   then predicts the row's depth and velocities half a step ahead from them, cell by cell
   (:func:`_predict_row`), and the faces below take the predicted states;
2. the x-faces of the row and the y-faces above it: hydrostatic reconstruction of the two face states
   (Chen and Noelle 2017: Audusse et al. 2004 where the face's bed drop is under the water, see
   :func:`_face`), an HLL flux with the tangential momentum upwinded by the mass
   flux (the HLLC contact for the shear wave), and the two interface source terms of the
   reconstruction; walls (blocked cells, closed outer faces) are mirror states;
3. the positivity limiter on the mass fluxes (a cell never sends away more water than it holds,
   its outgoing mass fluxes scaled together, so depths never go negative and mass stays exact);
4. the cell update with the well-balanced bed source term and point-implicit Manning friction
   (MUSCL-Hancock: linear, with the coefficient its predictor computed, see :func:`_lagged_friction`),
   and the step's face discharges; in a step's last stage the rain added to the new row and the
   row's Courant speed taken (for the next step), while the row is in cache.

Each face is solved once; the rows in flight live in small per-band ring buffers, so the pass
reads the state and writes the new state and the face discharges, nothing else. Arithmetic is in
the state's dtype (the ring buffers too: float32 has twice float64's SIMD lanes); the loops are
branch-free so that LLVM vectorises them. A float32 state's depths carry their rounding remainder
(``h_lo``): each depth update is summed in float64 and what float32 cannot hold is kept, so the
float32 balance closes as in float64. Volumes are always float64.
"""

from __future__ import annotations

import math

import llvmlite.binding as llvm
import numpy as np
from numba import config, njit, prange, types
from numba.extending import overload

from ._bitops import INV_CBRT_MAGIC, as_bits, from_bits, nonfinite
from ._flood_core import ACC_NONE, DEBRIS_DEPTH, N_PF, forced_cells, losses_row, simd_512
from ._series import series_cumulative, series_integral, series_value

# The face and update loops read a dozen planes of the ring buffer and the state rows and write
# several, all through separate array arguments that may alias as far as LLVM knows: vectorising
# them takes more run-time overlap checks than LLVM's default limits (8, and 128 for the cost model)
# allow, so they stayed scalar. Raised here (process-wide LLVM options, set before anything of this
# module is compiled): a loop whose arrays do overlap still takes the scalar path the checks guard,
# and vectorising a loop without reductions computes the same values (no reassociation).
llvm.set_option("", "-runtime-memory-check-threshold=1000")
llvm.set_option("", "-vectorize-memory-check-threshold=1000")

# Only value-safe fast-math, as the inertial kernel: no reassociation (results must not depend on
# the cache or the build), no 'nnan'/'ninf' (the non-finite checks must stay).
FASTMATH = {"nsz", "contract"}

# Depth [m] below which a cell's velocity is taken as zero (its momentum dropped).
H_VEL = 1e-9


def _as(v, like):
    """``v`` in the float type of ``like`` (the state's dtype): the constants of the float32 path stay
    float32 (a Python float literal would promote its arithmetic to float64, half the SIMD lanes)."""
    raise NotImplementedError  # pragma: no cover - replaced by the overload inside Numba


@overload(_as, inline="always")
def _as_impl(v, like):
    if isinstance(like, types.Float) and like.bitwidth == 32:
        return lambda v, like: np.float32(v)
    return lambda v, like: np.float64(v)


def _blk(blocked, r, c):
    """blocked[r, c], or 0 where blocked is None: the caller's rows have no blocked cell, and the
    wall selects of the faces and slopes fold away when the loop is compiled."""
    raise NotImplementedError  # pragma: no cover - replaced by the overload inside Numba


@overload(_blk, inline="always")
def _blk_impl(blocked, r, c):
    if isinstance(blocked, types.NoneType):
        return lambda blocked, r, c: np.uint8(0)
    return lambda blocked, r, c: blocked[r, c]


@njit(error_model="numpy", cache=True)
def _row_blocked(blocked, r):
    """Whether row r has a blocked cell (a vectorised OR over the row)."""
    simd_512()
    acc = 0
    for c in range(blocked.shape[1]):
        acc |= blocked[r, c]
    return acc != 0


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _minmod(a, b):
    """The smaller of a and b in magnitude where they share a sign, else 0 (branch-free)."""
    half = _as(0.5, a)
    return (math.copysign(half, a) + math.copysign(half, b)) * min(abs(a), abs(b))


# Seed of x**(-1/3) from the float64 bit pattern (float32's is INV_CBRT_MAGIC).
_INV_CBRT_SEED = 0x553EF0FF289DD796


def _inv_cbrt(x):
    """x**(-1/3) for x > 0 in x's dtype, within a few ulps, without a libm call (which would stop LLVM
    vectorising the loop): a bit-pattern seed (about 4 % off; the seed's integer division by 3 in
    floating point, which vectorises) and division-free Newton steps r <- r (4 - x r^3) / 3, each
    squaring the error: four in float64, three in float32. The friction terms take h^(-4/3) and
    h^(-7/3) as its powers, with no division."""
    raise NotImplementedError  # pragma: no cover - replaced by the overload inside Numba


@overload(_inv_cbrt, inline="always")
def _inv_cbrt_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:

        def cbrt32(x):
            four = np.float32(4.0)
            third = np.float32(1.0 / 3.0)
            x = np.float32(x)
            b = np.float32(as_bits(x)) * third
            r = from_bits(np.int32(np.int32(INV_CBRT_MAGIC) - np.int32(b)), np.float32(0.0))
            r = r * (four - x * r * r * r) * third
            r = r * (four - x * r * r * r) * third
            r = r * (four - x * r * r * r) * third
            return r

        return cbrt32

    def cbrt64(x):
        x = np.float64(x)
        seed = np.int64(np.int64(_INV_CBRT_SEED) - np.int64(np.float64(as_bits(x)) * (1.0 / 3.0)))
        r = from_bits(seed, np.float64(0.0))
        r = r * (4.0 - x * r * r * r) * (1.0 / 3.0)
        r = r * (4.0 - x * r * r * r) * (1.0 / 3.0)
        r = r * (4.0 - x * r * r * r) * (1.0 / 3.0)
        r = r * (4.0 - x * r * r * r) * (1.0 / 3.0)
        return r

    return cbrt64


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _pow_m4_3(x):
    """x**(-4/3) for x > 0: r^4, r = x**(-1/3)."""
    r = _inv_cbrt(x)
    r2 = r * r
    return r2 * r2


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _pow_m7_3(x):
    """x**(-7/3) for x > 0: r^7, r = x**(-1/3)."""
    r = _inv_cbrt(x)
    r2 = r * r
    return (r2 * r2) * (r2 * r)


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _flux(hl, ul, vl, hr, ur, vr, g):
    """HLL flux (mass, normal momentum) and upwinded tangential momentum between two face states.

    Wave speeds: the two-rarefaction estimates of Toro, with the dry-bed fronts u -/+ 2c. Written
    without branches (every case computed, the right one selected) so that a row of faces
    vectorises; the values of the cases not selected, NaN included, are discarded. In g's dtype.
    """
    zero = _as(0.0, g)
    half = _as(0.5, g)
    two = _as(2.0, g)
    cl = np.sqrt(abs(g * hl))  # abs: provably non-negative, so llvm.sqrt (vectorised), not libm sqrt
    cr = np.sqrt(abs(g * hr))
    us = half * (ul + ur) + cl - cr
    cs = half * (cl + cr) + _as(0.25, g) * (ul - ur)
    ldry = hl <= zero
    rdry = hr <= zero
    sl = ur - two * cr if ldry else (ul - cl if rdry else min(ul - cl, us - cs))
    sr = ur + cr if ldry else (ul + two * cl if rdry else max(ur + cr, us + cs))
    fl0 = hl * ul
    fl1 = hl * ul * ul + half * g * hl * hl
    fr0 = hr * ur
    fr1 = hr * ur * ur + half * g * hr * hr
    inv = _as(1.0, g) / (sr - sl)
    h0 = (sr * fl0 - sl * fr0 + sl * sr * (hr - hl)) * inv
    h1 = (sr * fl1 - sl * fr1 + sl * sr * (hr * ur - hl * ul)) * inv
    # Identical states (a lake at rest) take the exact flux, with no rounding.
    left = (sl >= zero) | ((sr > zero) & (hl == hr) & (ul == ur))
    right = (sl < zero) & (sr <= zero)
    f0 = fl0 if left else (fr0 if right else h0)
    f1 = fl1 if left else (fr1 if right else h1)
    dry = ldry & rdry
    f0 = zero if dry else f0
    f1 = zero if dry else f1
    f2 = f0 * (vl if f0 >= zero else vr)
    return f0, f1, f2


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _face(hl, el, ul, vl, hr, er, ur, vr, g):
    """Hydrostatically reconstructed flux through a face and the interface source terms of its sides.

    hl, el: depth and water surface on the left side (z = e - h); returns (mass, normal momentum,
    tangential momentum, left correction, right correction): the left cell takes flux + left
    correction as its outflow, the right cell flux + right correction as its inflow.

    The reconstruction of Chen and Noelle (2017, SIAM J. Numer. Anal. 55, eqs. 3.4-3.9): the face
    bed z* = min(max(zl, zr), min(el, er)), the face depths h* = min(e - z*, h), and each side's
    source g (h + h*) / 2 (z* - z). Where z* is not below either bed it is Audusse et al.'s (2004)
    reconstruction (z* = max(zl, zr), correction g (h^2 - h*^2) / 2). Where a thin sheet runs
    down a bed that drops more across the face than the sheet is deep, Audusse's face bed is the
    upper bed, the lower side is dry at the face and its correction saturates at g h^2 / 2: the
    sheet feels that instead of the slope's g h dz, and runs too slowly and too deep ("choked";
    Delestre et al. 2012). Chen and Noelle's face bed drops to the lower side's surface, the upper
    side keeps its depth, and its source g h (z* - z) carries the rest of the drop. Both are
    well-balanced and keep depths non-negative.
    """
    zl = el - hl
    zr = er - hr
    zs = min(max(zl, zr), min(el, er))
    hls = el - zs if zs >= zl else hl
    hrs = er - zs if zs >= zr else hr
    f0, f1, f2 = _flux(hls, ul, vl, hrs, ur, vr, g)
    cl = 0.5 * g * (hl * hl - hls * hls) if zs >= zl else 0.5 * g * (hl + hls) * (zs - zl)
    cr = 0.5 * g * (hr * hr - hrs * hrs) if zs >= zr else 0.5 * g * (hr + hrs) * (zs - zr)
    return f0, f1, f2, cl, cr


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _wall(h, un, ut, g):
    """Flux of a cell's face state against a wall (its mirror image): pressure and impact only."""
    f0, f1, f2 = _flux(h, un, ut, h, -un, ut, g)
    return f1


# --- The fused stage ------------------------------------------------------------------------------
#
# A stage walks the rows once, in bands (one per thread). For the band's lead row L it computes, in
# order: the velocities of row L, the slopes of row L-1, the x-faces of row L-1 and the y-faces
# above it, the limiter factors of row L-2 and the update of row L-3. Each of these reads only rows
# already done, so every face is solved once (a band recomputes the two or three rows on each side
# that its neighbours own) and nothing but the new state and the face discharges goes back to
# memory. The per-band ring buffers hold four rows (slot = row & 3) of these planes:
_U, _V = 0, 1  # velocities (0 where dry or blocked)
_S = 2  # eight limited slopes (second order): x-slopes of h, eta, u, v, then y-slopes
_X = 10  # five fluxes of a row's x-faces (nx + 1): mass, x-momentum, y-momentum, west and east correction
_Y = 15  # five fluxes of the y-faces above a row: mass, y-momentum, x-momentum, north and south correction
_F = 20  # limiter factor of the row's cells, cell c's at c + 1 (1 at 0 and nx + 1: no cell there)
_P = 21  # MUSCL-Hancock: the cell's depth and velocities predicted half a step ahead (h*, u*, v*)
_H = 24  # the row's depths (the faces' at first order and RK2; MUSCL-Hancock's are _P)
_E = 25  # ones: the limiter factor beyond the outer rows
_K = 26  # MUSCL-Hancock: the update's friction coefficient dt g n^2 |u*| / h*^(4/3) (see _predict_row)
_NPLANES = 27
# The row kernels take the whole state and ring arrays and row and slot indices, not row views: a
# view costs an atomic reference-count increment and decrement, and the eighty or so views of a
# row's calls cost several microseconds a row (as in the inertial kernel, see _flood_core's rows).
# The ring rows are nx + 2 long (the factors' padding).


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _velocity_row(h, hu, hv, blocked, r, rb, s):
    """Depths and velocities of row r (the depth desingularised below H_VEL, blocked cells still) into
    the ring planes _H, _U, _V of slot s."""
    simd_512()
    zero = _as(0.0, rb[0, 0, 0])
    hvel = _as(H_VEL, zero)
    for c in range(h.shape[1]):
        w = _as(h[r, c], zero)
        wet = (w > hvel) & (blocked[r, c] == 0)
        rb[s, _H, c] = w
        iw = _as(1.0, zero) / w  # one division for both (as _velocity_cell, which the slope rows use)
        rb[s, _U, c] = _as(hu[r, c], zero) * iw if wet else zero
        rb[s, _V, c] = _as(hv[r, c], zero) * iw if wet else zero


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _velocity_cell(h, hu, hv, blocked, r, c, rb, s):
    """Cell c of :func:`_velocity_row`; returns its velocities as stored."""
    zero = _as(0.0, rb[0, 0, 0])
    w = _as(h[r, c], zero)
    wet = (w > _as(H_VEL, zero)) & (_blk(blocked, r, c) == 0)
    rb[s, _H, c] = w
    iw = _as(1.0, zero) / w  # one division for both
    u = _as(hu[r, c], zero) * iw if wet else zero
    v = _as(hv[r, c], zero) * iw if wet else zero
    rb[s, _U, c] = u
    rb[s, _V, c] = v
    return u, v


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _slopes(w, ec, uc, vc, wm, em, um, vm, wp, ep, up, vp):
    """Minmod slopes of depth, water surface and velocities from a cell and its two neighbours."""
    return (
        _minmod(w - wm, wp - w),
        _minmod(ec - em, ep - ec),
        _minmod(uc - um, up - uc),
        _minmod(vc - vm, vp - vc),
    )


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _wet(w, b):
    return (w > _as(H_VEL, w)) & (b == 0)


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _slope_row(h, hu, hv, zb, blocked, r, rb, sa, s, sb, below):
    """The eight limited slopes of row r into its ring slot s (sa, sb: the slots of the rows above and
    below, for their velocities; unused at the domain's edge). A cell next to a dry or blocked cell,
    or on the domain edge, is first order in that direction (which keeps a lake at rest at rest).
    below: the velocities of row r + 1 computed here too, into slot sb (:func:`_velocity_row` fused
    into the loop that reads them: the row's depths are loaded once). Branch-free over the cells, so
    it vectorises."""
    simd_512()
    ny, nx = h.shape
    inner = 0 < r < ny - 1
    ra = r - 1 if inner else r
    rz = r + 1 if inner else r
    zero = _as(0.0, rb[0, 0, 0])  # the ring's dtype: the state's
    # Every load made up front and the conditions joined with '&' (no branch), the neighbours at
    # fixed offsets (no clamped index): the loops vectorise.
    if below:
        for c in range(nx):
            up, vp = _velocity_cell(h, hu, hv, blocked, r + 1, c, rb, sb)
            _y_slopes(h, zb, blocked, r, ra, rz, inner, rb, sa, s, c, up, vp)
    else:
        for c in range(nx):
            _y_slopes(h, zb, blocked, r, ra, rz, inner, rb, sa, s, c, rb[sb, _U, c], rb[sb, _V, c])
    for k in range(4):
        rb[s, _S + k, 0] = zero
        rb[s, _S + k, nx - 1] = zero
    for c in range(1, nx - 1):
        w = _as(h[r, c], zero)
        ec = w + zb[r, c]
        hw = _as(h[r, c - 1], zero)
        he = _as(h[r, c + 1], zero)
        ok = _wet(w, _blk(blocked, r, c)) & _wet(hw, _blk(blocked, r, c - 1)) & _wet(he, _blk(blocked, r, c + 1))
        s0, s1, s2, s3 = _slopes(w, ec, rb[s, _U, c], rb[s, _V, c], hw, hw + zb[r, c - 1], rb[s, _U, c - 1], rb[s, _V, c - 1], he, he + zb[r, c + 1], rb[s, _U, c + 1], rb[s, _V, c + 1])  # fmt: skip
        rb[s, _S, c] = s0 if ok else zero
        rb[s, _S + 1, c] = s1 if ok else zero
        rb[s, _S + 2, c] = s2 if ok else zero
        rb[s, _S + 3, c] = s3 if ok else zero


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _y_slopes(h, zb, blocked, r, ra, rz, inner, rb, sa, s, c, up, vp):
    """The four limited y-slopes of cell c of row r into ring slot s (ra, rz: the rows above and below,
    r itself at the domain's edge; sa: the slot of the row above; up, vp: the velocities of the row
    below)."""
    zero = _as(0.0, rb[0, 0, 0])
    w = _as(h[r, c], zero)
    ec = w + zb[r, c]
    hn = _as(h[ra, c], zero)
    hs = _as(h[rz, c], zero)
    ok = _wet(w, _blk(blocked, r, c)) & inner & _wet(hn, _blk(blocked, ra, c)) & _wet(hs, _blk(blocked, rz, c))
    s0, s1, s2, s3 = _slopes(w, ec, rb[s, _U, c], rb[s, _V, c], hn, hn + zb[ra, c], rb[sa, _U, c], rb[sa, _V, c], hs, hs + zb[rz, c], up, vp)  # fmt: skip
    rb[s, _S + 4, c] = s0 if ok else zero
    rb[s, _S + 5, c] = s1 if ok else zero
    rb[s, _S + 6, c] = s2 if ok else zero
    rb[s, _S + 7, c] = s3 if ok else zero


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _predict_row(h, nb, r, rb, s, dt, dtdx, g):
    """MUSCL-Hancock's predictor (Toro 2009, sec. 14.4): a row's depth and velocities half a step ahead
    into its ring planes _P (h*), _P + 1 (u*), _P + 2 (v*), from the row's state (velocities _U, _V)
    and its limited slopes, by the primitive form of the equations:
    h* = h - dt/2 (u h_x + h u_x + v h_y + h v_y), u* = u - dt/2 (u u_x + v u_y + g eta_x), v* alike,
    then point-implicit Manning friction over dt/2. Cell-local: no Riemann solver. The surface slope
    (not the depth's and the bed's apart) drives the velocities, so a lake at rest predicts itself;
    where the slopes are 0 (next to dry or blocked cells) only the friction acts. Branch-free."""
    simd_512()
    zero = _as(0.0, rb[0, 0, 0])
    one = _as(1.0, zero)
    gg = _as(g, zero)
    k = _as(0.5 * dtdx, zero)
    dt2 = _as(0.5 * dt, zero)
    hvel = _as(H_VEL, zero)
    for c in range(h.shape[1]):
        w = _as(h[r, c], zero)
        u = rb[s, _U, c]
        v = rb[s, _V, c]
        hx = rb[s, _S, c]
        ex = rb[s, _S + 1, c]
        ux = rb[s, _S + 2, c]
        vx = rb[s, _S + 3, c]
        hy = rb[s, _S + 4, c]
        ey = rb[s, _S + 5, c]
        uy = rb[s, _S + 6, c]
        vy = rb[s, _S + 7, c]
        hp = max(w - k * ((u * hx + w * ux) + (v * hy + w * vy)), zero)
        up = u - k * ((u * ux + v * uy) + gg * ex)
        vp = v - k * ((u * vx + v * vy) + gg * ey)
        n = _as(nb[r, c], zero)
        a = dt2 * gg * n * n * np.sqrt(up * up + vp * vp) * _pow_m4_3(hp)
        inv = one / _implicit_friction_factor(a)
        rough = (hp > hvel) & (n > zero)
        rb[s, _P, c] = hp
        rb[s, _P + 1, c] = up * inv if rough else up
        rb[s, _P + 2, c] = vp * inv if rough else vp
        # dt g n^2 |u*| / h*^(4/3) (|u*| = |u_p| / f, a = dt/2 g n^2 |u_p| / h*^(4/3)): the update's
        # friction, linear in the new discharge with the predicted state's coefficient (0: none).
        rb[s, _K, c] = (a + a) * inv if rough else zero


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _side(rb, sl, hp, vb, zb, r, c, order, k, sign):
    """Reconstructed (h, eta, u, v) of cell c of row r at its face on side ``sign`` (-1/+1) of axis k
    (0: x, 1: y); sl: the row's ring slot, hp and vb its planes of depths and x-velocities."""
    w = np.float64(rb[sl, hp, c])
    e = w + zb[r, c]
    uu = rb[sl, vb, c]
    vv = rb[sl, vb + 1, c]
    if order >= 2:
        o = _S + 4 * k
        half = 0.5 * sign
        w += half * rb[sl, o, c]
        e += half * rb[sl, o + 1, c]
        uu += half * rb[sl, o + 2, c]
        vv += half * rb[sl, o + 3, c]
        e = e if w >= 0.0 else e - w  # (MUSCL-Hancock's predicted state only, as in _face_span)
        w = max(w, 0.0)
    return w, e, uu, vv


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _face_span(n, k, half, hp, vb, g, rb, sl, rl, ol, sr, rr, orr, zb, blocked, so, po, oo):
    """Fluxes of n faces along axis k (0: x, 1: y) into the ring planes po to po + 4 of slot so, at
    oo + c: the face's left / upper cell is cell ol + c of row rl (ring slot sl: its depths, velocities
    and slopes), its right / lower one cell orr + c of row rr (slot sr).

    half: 0.5 at second order, 0 at first (the slopes then drop out exactly); hp, vb: the ring planes
    of the depths and x-velocities (_H and _U, or MUSCL-Hancock's predicted _P and _P + 1).
    A face depth the slopes would take below zero (MUSCL-Hancock's predicted states only; minmod on the
    state itself cannot) is 0 over the face's bed. Branch-free over the faces (walls, blocked cells and
    the Riemann cases are selects) so that LLVM vectorises it.
    """
    simd_512()
    pn = vb + k  # normal velocity
    pt = vb + 1 - k  # tangential velocity
    q = _S + 4 * k  # slopes of h, eta, u, v along the axis
    qn = q + 2 + k
    qt = q + 3 - k
    # The arithmetic in the state's dtype (the ring's): float32 doubles the SIMD lanes.
    zero = _as(0.0, rb[0, 0, 0])
    gg = _as(g, zero)
    hh = _as(half, zero)
    hg = _as(0.5, zero) * gg
    for c in range(n):
        i = ol + c
        j = orr + c
        w = rb[sl, hp, i]
        hl = w + hh * rb[sl, q, i]
        el = (w + zb[rl, i]) + hh * rb[sl, q + 1, i]
        ul = rb[sl, pn, i] + hh * rb[sl, qn, i]
        vl = rb[sl, pt, i] + hh * rb[sl, qt, i]
        el = el if hl >= zero else el - hl
        hl = max(hl, zero)
        w = rb[sr, hp, j]
        hr = w - hh * rb[sr, q, j]
        er = (w + zb[rr, j]) - hh * rb[sr, q + 1, j]
        ur = rb[sr, pn, j] - hh * rb[sr, qn, j]
        vr = rb[sr, pt, j] - hh * rb[sr, qt, j]
        er = er if hr >= zero else er - hr
        hr = max(hr, zero)
        wl = _blk(blocked, rl, i) != 0
        wr = _blk(blocked, rr, j) != 0
        # Hydrostatic reconstruction with Chen and Noelle's (2017) face bed (see _face) and its
        # interface source terms; where the face bed is not below a side's (the Audusse case) the
        # values are Audusse's, so a lake at rest computes exactly as before.
        zl = el - hl
        zr = er - hr
        zs = min(max(zl, zr), min(el, er))
        hls = el - zs if zs >= zl else hl
        hrs = er - zs if zs >= zr else hr
        # Against a wall (a blocked neighbour) the cell's face state meets its mirror image.
        a = hl if wr else (hr if wl else hls)
        ua = ul if wr else (-ur if wl else ul)
        va = vl if wr else (vr if wl else vl)
        b = hl if wr else (hr if wl else hrs)
        ub = -ul if wr else ur
        vz = vl if wr else vr
        f0, f1, f2 = _flux(a, ua, va, b, ub, vz, gg)
        opened = not (wl | wr)
        o = oo + c
        rb[so, po, o] = f0 if opened else zero
        rb[so, po + 1, o] = zero if (wl & wr) else f1
        rb[so, po + 2, o] = f2 if opened else zero
        cl = hg * (hl * hl - hls * hls) if zs >= zl else hg * (hl + hls) * (zs - zl)
        cr = hg * (hr * hr - hrs * hrs) if zs >= zr else hg * (hr + hrs) * (zs - zr)
        rb[so, po + 3, o] = cl if opened else zero
        rb[so, po + 4, o] = cr if opened else zero


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _x_face_row(h, zb, blocked, r, rb, s, order, hancock, g, bf, kw, ke, free):
    """Fluxes of row r's x-faces into its ring slot s (planes _X to _X + 4, nx + 1 faces); kw, ke: the
    open-boundary entries of its west and east faces (-1: a wall), whose fluxes bf holds. hancock: the
    faces of the predicted state (planes _P), not of the row's state. free: the row has no blocked cell
    (its faces' loop then compiled without the wall selects, see :func:`_blk`)."""
    nx = h.shape[1]
    half = 0.5 if order >= 2 else 0.0
    vb = _P + 1 if hancock else _U
    hp = _P if hancock else _H
    if free:  # (no blocked cell in the row: the faces' wall selects compiled away)
        _face_span(nx - 1, 0, half, hp, vb, g, rb, s, r, 0, s, r, 1, zb, None, s, _X, 1)
    else:
        _face_span(nx - 1, 0, half, hp, vb, g, rb, s, r, 0, s, r, 1, zb, blocked, s, _X, 1)
    for j, k in ((0, kw), (nx, ke)):
        f1 = 0.0
        if k >= 0:
            for m in range(5):
                rb[s, _X + m, j] = bf[k, m]
            continue
        if j == 0 and not blocked[r, 0]:
            hq, eq, uq, vq = _side(rb, s, hp, vb, zb, r, 0, order, 0, -1.0)
            f1 = _wall(hq, -uq, vq, g)
        elif j == nx and not blocked[r, nx - 1]:
            hl, el, ul, vl = _side(rb, s, hp, vb, zb, r, nx - 1, order, 0, 1.0)
            f1 = _wall(hl, ul, vl, g)
        rb[s, _X, j] = 0.0
        rb[s, _X + 1, j] = f1
        rb[s, _X + 2, j] = 0.0
        rb[s, _X + 3, j] = 0.0
        rb[s, _X + 4, j] = 0.0


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _y_face_row(h, zb, blocked, i, rb, sa, sb, order, hancock, g, bf, ky, free):
    """Fluxes of the y-faces between rows i - 1 (ring slot sa) and i (slot sb) into the planes _Y to
    _Y + 4 of slot i & 3; ky: the open-boundary entry of each face of the outer rows (-1: a wall);
    hancock: as :func:`_x_face_row`; free: neither row has a blocked cell."""
    ny, nx = h.shape
    vb = _P + 1 if hancock else _U
    hp = _P if hancock else _H
    so = i & 3
    if 0 < i < ny:
        half = 0.5 if order >= 2 else 0.0
        if free:  # (neither row has a blocked cell)
            _face_span(nx, 1, half, hp, vb, g, rb, sa, i - 1, 0, sb, i, 0, zb, None, so, _Y, 0)
        else:
            _face_span(nx, 1, half, hp, vb, g, rb, sa, i - 1, 0, sb, i, 0, zb, blocked, so, _Y, 0)
        return
    r = 0 if i == 0 else ny - 1
    s = sb if i == 0 else sa
    kr = 0 if i == 0 else 1
    for c in range(nx):
        f1 = 0.0
        k = ky[kr, c]
        if k >= 0:
            for m in range(5):
                rb[so, _Y + m, c] = bf[k, m]
            continue
        if not blocked[r, c]:
            if i == 0:
                hq, eq, uq, vq = _side(rb, s, hp, vb, zb, r, c, order, 1, -1.0)
                f1 = _wall(hq, -vq, uq, g)
            else:
                hl, el, ul, vl = _side(rb, s, hp, vb, zb, r, c, order, 1, 1.0)
                f1 = _wall(hl, vl, ul, g)
        rb[so, _Y, c] = 0.0
        rb[so, _Y + 1, c] = f1
        rb[so, _Y + 2, c] = 0.0
        rb[so, _Y + 3, c] = 0.0
        rb[so, _Y + 4, c] = 0.0


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _cell_velocity(h, hu, hv, blocked, r, c):
    w = np.float64(h[r, c])
    if w > H_VEL and not blocked[r, c]:
        return hu[r, c] / w, hv[r, c] / w
    return 0.0, 0.0


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _cell_side(h, zb, hu, hv, blocked, order, r, c, k, sign):
    """Reconstructed (h, eta, u, v) of one cell at its face on side ``sign`` of axis k, from the
    state arrays (the open boundary faces; the rows use _slope_row and _side)."""
    ny, nx = h.shape
    w = np.float64(h[r, c])
    ec = w + zb[r, c]
    uc, vc = _cell_velocity(h, hu, hv, blocked, r, c)
    if order < 2 or not (w > H_VEL and not blocked[r, c]):
        return w, ec, uc, vc
    rm, cm, rp, cp = (r, c - 1, r, c + 1) if k == 0 else (r - 1, c, r + 1, c)
    if not (rm >= 0 and cm >= 0 and rp < ny and cp < nx):
        return w, ec, uc, vc
    wm = np.float64(h[rm, cm])
    wp = np.float64(h[rp, cp])
    if not (wm > H_VEL and wp > H_VEL and not blocked[rm, cm] and not blocked[rp, cp]):
        return w, ec, uc, vc
    um, vm = _cell_velocity(h, hu, hv, blocked, rm, cm)
    up, vp = _cell_velocity(h, hu, hv, blocked, rp, cp)
    s0, s1, s2, s3 = _slopes(w, ec, uc, vc, wm, wm + zb[rm, cm], um, vm, wp, wp + zb[rp, cp], up, vp)
    half = 0.5 * sign
    return w + half * s0, ec + half * s1, uc + half * s2, vc + half * s3


@njit(error_model="numpy", cache=True, inline="always")
def _keep_velocity(h, hu, hv, r, c, old):
    """After a point source or a held level changed cell (r, c)'s depth from ``old``: water taken away
    leaves at the cell's velocity (its momentum scaled with the depth), water added brings none (the
    momentum kept). Without the scaling, a pump or a falling level left the whole discharge on a
    thinner sheet: its velocity hu / h grew with every step (tens of m/s at a held cell of a test basin)."""
    new = np.float64(h[r, c])
    if new <= H_VEL:
        hu[r, c] = 0.0
        hv[r, c] = 0.0
    elif new < old:
        f = new / old
        hu[r, c] = hu[r, c] * f
        hv[r, c] = hv[r, c] * f


@njit(error_model="numpy", cache=True)
def _boundary_faces(h, zb, nb, hu, hv, blocked, order, g, dx, b_row, b_col, b_side, b_kind, b_ser, b_slope, lvl, bf):
    """Fluxes of the open outer faces against a ghost cell, into bf (k, 5) as the faces' five fluxes.

    Free outflow (kind 1): the ghost is the cell itself, its bed S dx lower (the ground running on
    at the boundary's slope S, so the edge cell feels the slope's g h S like any other: over a ghost
    on its own bed, a thin sheet on steep ground stood twice as deep in the edge cell), with its
    outward velocity at least the normal-flow speed h^(2/3) S^(1/2) / n (never inward). Level (kind 2): the ghost holds the
    level over the cell's bed, with the cell's velocity (none when the ghost is dry).
    """
    for k in range(b_row.size):
        r = b_row[k]
        c = b_col[k]
        if blocked[r, c]:
            continue
        side = b_side[k]
        ax = 0 if side < 2 else 1
        outward = -1.0 if (side == 0 or side == 2) else 1.0
        w, e, uu, vv = _cell_side(h, zb, hu, hv, blocked, order, r, c, ax, outward)
        un = uu if ax == 0 else vv
        ut = vv if ax == 0 else uu
        zc = e - w
        if b_kind[k] == 1:
            hg = w
            eg = e - b_slope[k] * dx
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
        bf[k, 0] = f0
        bf[k, 1] = f1
        bf[k, 2] = f2
        bf[k, 3] = pc
        bf[k, 4] = pc


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _factor_row(h, r, rb, s, sn, dtdx):
    """Positivity: the factor that scales row r's outgoing mass fluxes (unlimited: its x-faces and the
    y-faces above it in ring slot s, those below it in slot sn) so that no cell sends away more than
    its water, into plane _F of slot s (cell c at c + 1). Returns whether any factor is below 1: where
    none is, the limiting passes that read only this row's factors can be skipped (q * 1 is q)."""
    simd_512()
    nx = h.shape[1]
    zero = _as(0.0, rb[0, 0, 0])
    one = _as(1.0, zero)
    dtdxt = _as(dtdx, zero)
    rb[s, _F, 0] = one
    rb[s, _F, nx + 1] = one
    # First the factors of 1 and whether any cell sends away more than it holds (in few rows, few
    # cells); only such a row takes the division, the same expression, so the same bits.
    over = False
    for c in range(nx):
        o = (max(rb[s, _X, c + 1], zero) + max(-rb[s, _X, c], zero) + max(rb[sn, _Y, c], zero) + max(-rb[s, _Y, c], zero)) * dtdxt  # fmt: skip
        over = over | (o > _as(h[r, c], zero))
        rb[s, _F, c + 1] = one
    if not over:
        return False
    for c in range(nx):
        o = (max(rb[s, _X, c + 1], zero) + max(-rb[s, _X, c], zero) + max(rb[sn, _Y, c], zero) + max(-rb[s, _Y, c], zero)) * dtdxt  # fmt: skip
        w = _as(h[r, c], zero)
        rb[s, _F, c + 1] = w / o if o > w else one
    return True


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _limit_x_row(rb, s, nx):
    """Scale the outgoing mass fluxes of a row's x-faces (ring slot s) by the limiter factor of their
    upwind cell: q f_west where q > 0, q f_east where q < 0, written as max(q, 0) f_west + min(q, 0)
    f_east (the same number: one product is 0; NaN stays NaN): a select between the two factors
    became a masked gather in LLVM's SIMD loop. The outer faces' factor beyond the row is 1."""
    simd_512()
    zero = _as(0.0, rb[0, 0, 0])
    for j in range(nx + 1):
        q = rb[s, _X, j]
        rb[s, _X, j] = max(q, zero) * rb[s, _F, j] + min(q, zero) * rb[s, _F, j + 1]


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _limit_y_row(rb, sf, sa, pa, sb, pb, nx):
    """Likewise for the y-faces in ring slot sf, between the row of slot sa (factors in its plane pa:
    _F, or _E beyond the top edge) and the row of slot sb (plane pb)."""
    simd_512()
    zero = _as(0.0, rb[0, 0, 0])
    for c in range(nx):
        q = rb[sf, _Y, c]
        rb[sf, _Y, c] = max(q, zero) * rb[sa, pa, c + 1] + min(q, zero) * rb[sb, pb, c + 1]


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _momentum_divergence(rb, s, sn, c, second, g, w):
    """Net momentum fluxes (x, y) into cell c of a row (s: its ring slot, sn: the next row's), with the
    centred bed source of second order, per unit dt / dx."""
    # West face: the cell is its right side; east face: its left side.
    dmx = (rb[s, _X + 1, c] + rb[s, _X + 4, c]) - (rb[s, _X + 1, c + 1] + rb[s, _X + 3, c + 1])
    dmx += rb[s, _Y + 2, c] - rb[sn, _Y + 2, c]
    dmy = (rb[s, _Y + 1, c] + rb[s, _Y + 4, c]) - (rb[sn, _Y + 1, c] + rb[sn, _Y + 3, c])
    dmy += rb[s, _X + 2, c] - rb[s, _X + 2, c + 1]
    # Centred bed source -g h (z_e - z_w) of the reconstruction (z = eta - h at the faces); selects,
    # not a branch (the loop vectorises), the slope planes' values at first order discarded.
    bx = g * w * (rb[s, _S + 1, c] - rb[s, _S, c])
    by = g * w * (rb[s, _S + 5, c] - rb[s, _S + 4, c])
    dmx = dmx - bx if second else dmx
    dmy = dmy - by if second else dmy
    return dmx, dmy


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _implicit_friction_factor(a):
    """Divisor f of Manning friction over a step, backward Euler: the new discharge q = q* / f solves
    q + dt K |q| q = q* (q*: the discharge after the step's fluxes and sources, K = g n^2 / h^(7/3)),
    so with a = dt K |q*|, f = (1 + sqrt(1 + 4 a)) / 2.

    The linearised point-implicit form f = 1 + a takes the friction of |q*| rather than of the new
    discharge; where the step is longer than friction's relaxation time (thin sheets: a 15 mm sheet on
    a 10 % slope relaxes in 0.8 s, the step is 2.4 s at 5 m cells) its steady state balances the
    slope's g h S against dt K q (q + dt g h S) instead of K q^2 and the sheet runs at a fraction of
    Manning's speed, twice as deep. Backward Euler's steady state is exactly K q^2 = g h S; it
    is unconditionally stable and leaves a small a (deep or slow water) as the linear form does."""
    half = _as(0.5, a)
    return half + half * np.sqrt(abs(_as(1.0, a) + _as(4.0, a) * a))


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _friction(hn, mx, my, n, dt, g, second):
    """Implicit Manning friction over dt on the discharges (mx, my) of depth hn (zero where dry):
    backward Euler at second order (see :func:`_implicit_friction_factor`); at first order the
    split form q* / (1 + a), whose steady sheet flow on steep ground is too slow (kept there: the
    wave front's first-order error grows from 0.024 to 0.031 m at n = 0.03 under backward Euler)."""
    zero = _as(0.0, g)
    one = _as(1.0, g)
    # |u| / h^(4/3) = |q| h^(-7/3): no division; then one reciprocal for both components.
    a = dt * g * n * n * np.sqrt(mx * mx + my * my) * _pow_m7_3(hn)
    inv = one / (_implicit_friction_factor(a) if second else one + a)
    wet = hn > _as(H_VEL, g)
    rough = wet & (n > zero)
    mx = (mx * inv if rough else mx) if wet else zero
    my = (my * inv if rough else my) if wet else zero
    return mx, my


@njit(error_model="numpy", cache=True, inline="always", fastmath=FASTMATH)
def _lagged_friction(hn, mx, my, cf):
    """MUSCL-Hancock's friction over the step: q = q* / (1 + cf), cf = dt g n^2 |u*| / h*^(4/3) of the
    cell's predicted state (the ring plane _K, 0 where frictionless or dry). Linear in the new discharge
    with the coefficient of the half step, as ANUGA's semi-implicit friction takes it from the stage's
    old state: unconditionally stable, and steady uniform flow is exact (there u* is the flow's own
    velocity, so q (1 + dt K |u|) = q + dt g h S gives K u |u| = g S, Manning's law). The update needs
    no square root, cube root or friction factor of its own: the predictor's serve both. A cell the
    update wets whose predicted state was dry (cf 0) takes backward Euler instead (see
    :func:`_wetted_friction`)."""
    zero = _as(0.0, cf)
    inv = _as(1.0, cf) / (_as(1.0, cf) + cf)
    wet = hn > _as(H_VEL, cf)
    return (mx * inv if wet else zero), (my * inv if wet else zero)


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _wetted_friction(nb, blocked, r, rb, s, dt, g, ho, huo, hvo):
    """Backward Euler friction (:func:`_friction`) on the new state of row r's cells that the update
    wetted where MUSCL-Hancock's predicted state was dry: their predicted velocity, and so their
    coefficient in :func:`_lagged_friction`, is 0, and a thin new sheet without friction for a step
    takes the momentum of the water pouring in (a wetting front's velocities, and the next Courant
    step, an order of magnitude off). Their discharges are the unfrictioned ones (cf 0); the rows
    without such a cell, nearly all, skip this scalar loop."""
    zero = _as(0.0, rb[0, 0, 0])
    gg = _as(g, zero)
    dtt = _as(dt, zero)
    for c in range(ho.shape[1]):
        hn = ho[r, c]
        if rb[s, _P, c] <= H_VEL and hn > H_VEL and blocked[r, c] == 0:
            mx, my = _friction(_as(hn, zero), _as(huo[r, c], zero), _as(hvo[r, c], zero), _as(nb[r, c], zero), dtt, gg, True)  # fmt: skip
            huo[r, c] = mx
            hvo[r, c] = my


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _update_row(h, hu, hv, nb, blocked, r, rb, s, sn, hs, second, kp, dt, dtdx, g, w0, w1, ho, huo, hvo):
    """Row r of ho = w0 * (h0, hu0, hv0) + w1 * (U + dt L(U)), L the flux divergence and bed source
    of the state U = (h, hu, hv) (s: the row's ring slot, its x-faces and the y-faces above; sn: the
    next row's, the y-faces below; mass fluxes limited), then point-implicit Manning friction over dt:
    kp None, the new state's (:func:`_friction`); else the ring plane of MUSCL-Hancock's friction
    coefficients (:func:`_lagged_friction`). kp's type, not its value, chooses: Numba prunes the
    other branch when it compiles, so the loop has none.
    hs: the ring plane of the depths of the bed source term (_H, or MUSCL-Hancock's predicted h* _P: the centre of the
    faces' depths, which keeps the lake at rest).

    Where w0 != 0 the output row (ho, huo, hvo) holds (h0, hu0, hv0) on entry and is overwritten:
    one array read and written at the same index, which LLVM can vectorise, where two arguments that
    are the same array would fail its run-time overlap check and run scalar. Branch-free over the
    cells (blocked, dry and frictionless cells are selects), so it vectorises."""
    simd_512()
    zero = _as(0.0, rb[0, 0, 0])
    gg = _as(g, zero)
    dtt = _as(dt, zero)
    dtdxt = _as(dtdx, zero)
    ww0 = _as(w0, zero)
    ww1 = _as(w1, zero)
    avg = w0 != 0.0
    hvel = _as(H_VEL, zero)
    wetted = False  # a cell wet after the update whose predicted state was dry (see _wetted_friction)
    for c in range(h.shape[1]):
        w = _as(h[r, c], zero)
        dh = (rb[s, _X, c] - rb[s, _X, c + 1]) + (rb[s, _Y, c] - rb[sn, _Y, c])
        dmx, dmy = _momentum_divergence(rb, s, sn, c, second, gg, rb[s, hs, c])
        hn = max(w + dtdxt * dh, zero)
        mx = _as(hu[r, c], zero) + dtdxt * dmx
        my = _as(hv[r, c], zero) + dtdxt * dmy
        if kp is None:
            mx, my = _friction(hn, mx, my, _as(nb[r, c], zero), dtt, gg, second)
        else:
            mx, my = _lagged_friction(hn, mx, my, rb[s, kp, c])
            wetted = wetted | ((rb[s, _P, c] <= hvel) & (hn > hvel))
        # Selects, not a branch, so that the loop vectorises (w0 = 0 leaves U + dt L(U) as it is).
        hn = ww0 * _as(ho[r, c], zero) + ww1 * hn if avg else hn
        mx = ww0 * _as(huo[r, c], zero) + ww1 * mx if avg else mx
        my = ww0 * _as(hvo[r, c], zero) + ww1 * my if avg else my
        b = blocked[r, c] != 0
        ho[r, c] = zero if b else hn
        huo[r, c] = zero if b else mx
        hvo[r, c] = zero if b else my
    if kp is not None and wetted:
        _wetted_friction(nb, blocked, r, rb, s, dt, g, ho, huo, hvo)


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _update_row_compensated(
    h, lo, hu, hv, nb, blocked, r, rb, s, sn, hs, second, kp, dt, dtdx, g, w0, w1, ho, loo, huo, hvo
):  # fmt: skip
    """:func:`_update_row` of a float32 state whose depths carry their rounding remainder (lo: of h,
    loo: of ho, h0's on entry where w0 != 0), as the inertial kernel's ``update_row_compensated``: the depth is
    summed in float64 from the float32 depth, its remainder and the limited mass fluxes (each face's
    volume leaves one cell and enters the other exactly), the float32 depth takes what it can and the
    remainder the rest. So the balance closes as in float64 while the hydraulics read float32. Where
    the limiter's float32 factors leave a cell a hair below empty, the depth is 0 and the remainder
    holds the (negative) difference, so no water is made. Momentum is float32 throughout."""
    simd_512()
    zero = _as(0.0, rb[0, 0, 0])
    gg = _as(g, zero)
    dtt = _as(dt, zero)
    dtdxt = _as(dtdx, zero)
    ww0 = _as(w0, zero)
    ww1 = _as(w1, zero)
    avg = w0 != 0.0
    hvel = _as(H_VEL, zero)
    wetted = False  # a cell wet after the update whose predicted state was dry (see _wetted_friction)
    for c in range(h.shape[1]):
        w = _as(h[r, c], zero)
        dh = (np.float64(rb[s, _X, c]) - np.float64(rb[s, _X, c + 1])) + (
            np.float64(rb[s, _Y, c]) - np.float64(rb[sn, _Y, c])
        )
        e = (np.float64(w) + np.float64(lo[r, c])) + dtdx * dh
        dmx, dmy = _momentum_divergence(rb, s, sn, c, second, gg, rb[s, hs, c])
        hn = _as(max(e, 0.0), zero)
        mx = _as(hu[r, c], zero) + dtdxt * dmx
        my = _as(hv[r, c], zero) + dtdxt * dmy
        if kp is None:
            mx, my = _friction(hn, mx, my, _as(nb[r, c], zero), dtt, gg, second)
        else:
            mx, my = _lagged_friction(hn, mx, my, rb[s, kp, c])
            wetted = wetted | ((rb[s, _P, c] <= hvel) & (hn > hvel))
        e = w0 * (np.float64(ho[r, c]) + np.float64(loo[r, c])) + w1 * e if avg else e
        mx = ww0 * _as(huo[r, c], zero) + ww1 * mx if avg else mx
        my = ww0 * _as(hvo[r, c], zero) + ww1 * my if avg else my
        b = blocked[r, c] != 0
        hk = _as(max(e, 0.0), zero)
        ho[r, c] = zero if b else hk
        loo[r, c] = 0.0 if b else e - np.float64(hk)
        huo[r, c] = zero if b else mx
        hvo[r, c] = zero if b else my
    if kp is not None and wetted:
        _wetted_friction(nb, blocked, r, rb, s, dt, g, ho, huo, hvo)


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _store_row(q, r, rb, s, p, n, a, b):
    """q[r] = a q[r] + b f, f the first n values of ring plane p of slot s: a row of the step's face
    discharges."""
    simd_512()
    at = _as(a, rb[0, 0, 0])
    bt = _as(b, rb[0, 0, 0])
    if a == 0.0:  # the old values not read (0 q + b f is b f): a row of memory traffic less
        for j in range(n):
            q[r, j] = bt * rb[s, p, j]
        return
    for j in range(n):
        q[r, j] = at * q[r, j] + bt * rb[s, p, j]


@njit(error_model="numpy", cache=True)
def _band(
    b0, b1, h, hu, hv, zb, nb, blocked, order, hancock, g, dt, dx, w0, w1, ho, huo, hvo, lo, loo, comp,
    qx, qy, qa, qb, bf, kx, ky, edge_x, edge_y, rb, rainf, raindt, rain, scan, best, bad, store,
):  # fmt: skip
    """Rows b0 to b1 - 1 of one stage (see the comment above _U); rb: the band's ring (4, planes, nx + 2).
    rain: the step's rain (rainf times raindt) added to each new row right after its update, while
    the row is in cache (a pass of its own over the state cost about 4 % of a step); scan: then each
    new row's Courant speed and non-finite count too (see :func:`_row_speed`), into best and bad.
    hancock (order 2): each row's state predicted half a step ahead right after its slopes, the faces
    of the predicted states (MUSCL-Hancock: one stage a step)."""
    ny, nx = h.shape
    dtdx = dt / dx
    second = order >= 2
    hancock = hancock and second
    hs = _P if hancock else _H
    for k in range(4):
        for c in range(nx + 2):
            rb[k, _E, c] = 1.0
    over = np.zeros(4, np.bool_)  # per ring slot: whether its row has a limiter factor below 1
    # Whether each row (r at r + 1; the rows beyond the edges none) has a blocked cell: the face and
    # slope loops of rows without one take blocked as None, their wall selects compiled away.
    blk = np.zeros(ny + 2, np.bool_)
    for r in range(max(0, b0 - 4), min(ny, b1 + 4)):
        blk[r + 1] = _row_blocked(blocked, r)
    for lead in range(b0 - 3, b1 + 3):
        r = lead
        # At second order the velocities of row r come with the slopes of row r - 1 (below).
        fused = second and max(0, b0 - 2) <= r - 1
        if max(0, b0 - 3) <= r < min(ny, b1 + 3) and not fused:
            _velocity_row(h, hu, hv, blocked, r, rb, r & 3)
        r = lead - 1
        if second and max(0, b0 - 2) <= r < min(ny, b1 + 2):
            s = r & 3
            sa = (r - 1) & 3 if r > 0 else s
            sb = (r + 1) & 3 if r < ny - 1 else s
            below = fused and r + 1 < min(ny, b1 + 3)
            if blk[r] | blk[r + 1] | blk[r + 2]:
                _slope_row(h, hu, hv, zb, blocked, r, rb, sa, s, sb, below)
            else:
                _slope_row(h, hu, hv, zb, None, r, rb, sa, s, sb, below)
            if hancock:
                _predict_row(h, nb, r, rb, s, dt, dtdx, g)
        if max(0, b0 - 1) <= r < min(ny, b1 + 1):
            _x_face_row(h, zb, blocked, r, rb, r & 3, order, hancock, g, bf, kx[r, 0], kx[r, 1], not blk[r + 1])
        i = lead - 1  # the y-faces between rows i - 1 and i
        if max(0, b0 - 1) <= i <= min(ny, b1 + 1):
            sa = (i - 1) & 3 if i > 0 else i & 3
            sb = i & 3 if i < ny else sa
            _y_face_row(h, zb, blocked, i, rb, sa, sb, order, hancock, g, bf, ky, not (blk[i] | blk[i + 1]))
        r = lead - 2
        if max(0, b0 - 1) <= r < min(ny, b1 + 1):
            over[r & 3] = _factor_row(h, r, rb, r & 3, (r + 1) & 3, dtdx)
        r = lead - 3
        if b0 <= r < b1:
            s = r & 3
            sn = (r + 1) & 3
            # (a row whose factors are all 1 leaves its fluxes as they are: those passes skipped)
            if over[s]:
                _limit_x_row(rb, s, nx)
            if r == b0 and (over[s] or (r > 0 and over[(r - 1) & 3])):
                _limit_y_row(rb, s, (r - 1) & 3, _E if r == 0 else _F, s, _F, nx)
            if over[s] or (r < ny - 1 and over[sn]):
                _limit_y_row(rb, sn, s, _F, sn, _E if r == ny - 1 else _F, nx)
            # (MUSCL-Hancock's friction from the predictor's coefficients, plane _K; the others' their own)
            if comp and hancock:
                _update_row_compensated(h, lo, hu, hv, nb, blocked, r, rb, s, sn, hs, second, _K, dt, dtdx, g, w0, w1, ho, loo, huo, hvo)  # fmt: skip
            elif comp:
                _update_row_compensated(h, lo, hu, hv, nb, blocked, r, rb, s, sn, hs, second, None, dt, dtdx, g, w0, w1, ho, loo, huo, hvo)  # fmt: skip
            elif hancock:
                _update_row(h, hu, hv, nb, blocked, r, rb, s, sn, hs, second, _K, dt, dtdx, g, w0, w1, ho, huo, hvo)  # fmt: skip
            else:
                _update_row(h, hu, hv, nb, blocked, r, rb, s, sn, hs, second, None, dt, dtdx, g, w0, w1, ho, huo, hvo)  # fmt: skip
            if rain and comp:
                _rain_row_compensated(ho, loo, rainf, raindt, blocked, r)
            elif rain:
                _rain_row(ho, rainf, raindt, blocked, r)
            if scan:
                _row_speed(ho, huo, hvo, blocked, g, best, bad, r)
            if store:  # (the call's last step: see run)
                _store_row(qx, r, rb, s, _X, nx + 1, qa, qb)
                _store_row(qy, r, rb, s, _Y, nx, qa, qb)
            edge_x[r, 0] = rb[s, _X, 0]
            edge_x[r, 1] = rb[s, _X, nx]
            if r == 0:
                for c in range(nx):
                    edge_y[0, c] = rb[s, _Y, c]
            if r == ny - 1:
                if store:
                    _store_row(qy, ny, rb, sn, _Y, nx, qa, qb)
                for c in range(nx):
                    edge_y[1, c] = rb[sn, _Y, c]


@njit(error_model="numpy", parallel=True, cache=True)
def _bands(
    h, hu, hv, zb, nb, blocked, order, hancock, g, dt, dx, w0, w1, ho, huo, hvo, lo, loo, comp,
    qx, qy, qa, qb, bf, kx, ky, edge_x, edge_y, ring, nband, rainf, raindt, rain, scan, best, bad, store,
):  # fmt: skip
    """One stage over nband bands of rows in parallel."""
    ny = h.shape[0]
    for k in prange(nband):
        _band(
            k * ny // nband, (k + 1) * ny // nband, h, hu, hv, zb, nb, blocked, order, hancock, g, dt, dx,
            w0, w1, ho, huo, hvo, lo, loo, comp, qx, qy, qa, qb, bf, kx, ky, edge_x, edge_y, ring[k],
            rainf, raindt, rain, scan, best, bad, store,
        )  # fmt: skip


@njit(error_model="numpy", cache=True)
def _nbands(ny, ring, threads):
    """Bands of a stage: one per thread, of at least 16 rows."""
    return max(1, min(threads, ring.shape[0], ny // 16))


@njit(error_model="numpy", cache=True)
def _stage(
    h, hu, hv, zb, nb, blocked, order, hancock, g, dt, dx, lvl, bnd, w0, w1, ho, huo, hvo, lo, loo, comp,
    qx, qy, qa, qb, bf, kx, ky, edge_x, edge_y, ring, threads, weight, vols, rainf, raindt, rain, scan, best, bad, store,
):  # fmt: skip
    """One stage: ho = w0 * (h0, ...) + w1 * (U + dt L(U)) of the state U = (h, hu, hv) (ho holding
    h0 on entry where w0 != 0; lo, loo: the float32 remainders of h and ho where comp), with its
    limited face mass fluxes stored as qx = qa qx + qb f; the open boundary's volumes counted with
    ``weight``; rain: the step's rain (rainf times raindt) added to the new state (the step's last stage);
    scan: the new state's rows scanned for the next step's Courant number (best, bad: see :func:`_max_speed`);
    store: whether qx and qy are written (the call's last step only, see :func:`run`)."""
    b_row, b_col, b_side, b_kind, b_ser, b_slope = bnd
    _boundary_faces(h, zb, nb, hu, hv, blocked, order, g, dx, b_row, b_col, b_side, b_kind, b_ser, b_slope, lvl, bf)
    nband = _nbands(h.shape[0], ring, threads)
    if nband == 1:
        _band(0, h.shape[0], h, hu, hv, zb, nb, blocked, order, hancock, g, dt, dx, w0, w1, ho, huo, hvo, lo, loo, comp, qx, qy, qa, qb, bf, kx, ky, edge_x, edge_y, ring[0], rainf, raindt, rain, scan, best, bad, store)  # fmt: skip
    else:
        _bands(h, hu, hv, zb, nb, blocked, order, hancock, g, dt, dx, w0, w1, ho, huo, hvo, lo, loo, comp, qx, qy, qa, qb, bf, kx, ky, edge_x, edge_y, ring, nband, rainf, raindt, rain, scan, best, bad, store)  # fmt: skip
    _boundary_volume(edge_x, edge_y, b_row, b_col, b_side, weight * dt, dx, vols)


@njit(error_model="numpy", parallel=True, cache=True)
def _max_speed(h, hu, hv, blocked, g, best, bad):
    """Largest |u| + c and |v| + c over the wet cells, and the number of non-finite values (best, bad:
    per-row scratch)."""
    ny, nx = h.shape
    for r in prange(ny):
        _row_speed(h, hu, hv, blocked, g, best, bad, r)
    return best.max(), bad.sum()


@njit(error_model="numpy", cache=True, fastmath=FASTMATH)
def _row_speed(h, hu, hv, blocked, g, best, bad, r):
    """Row r's largest |u| + c and |v| + c over its wet cells into best[r], its cells holding a
    non-finite value into bad[r]; in the state's dtype, branch-free (so it vectorises)."""
    simd_512()
    zero = _as(0.0, h[0, 0])
    gg = _as(g, zero)
    hvel = _as(H_VEL, zero)
    m = as_bits(zero)
    nbad = 0
    for c in range(h.shape[1]):
        w = h[r, c]
        p = hu[r, c]
        q = hv[r, c]
        nbad += nonfinite(w) | nonfinite(p) | nonfinite(q)
        sp = max(abs(p), abs(q)) / w + np.sqrt(abs(gg * w))
        sp = sp if (w > hvel) & (blocked[r, c] == 0) else zero
        m = max(m, as_bits(sp))
    best[r] = np.float64(from_bits(m, zero))
    bad[r] = nbad


@njit(error_model="numpy", cache=True)  # no contraction: the sums as before, bit for bit
def _rain_row(h, rainf, raindt, blocked, r):
    """Rain over row r's open cells; branch-free (blocked cells keep their depth by a select), so it
    vectorises."""
    simd_512()
    for c in range(h.shape[1]):
        hc = h[r, c]
        w = np.float64(hc) + np.float64(rainf[r, c]) * raindt
        h[r, c] = hc if blocked[r, c] != 0 else _as(w, hc)


@njit(error_model="numpy", cache=True)  # no contraction: the sums as before, bit for bit
def _rain_row_compensated(h, lo, rainf, raindt, blocked, r):
    """:func:`_rain_row` of a float32 state with its depths' rounding remainder lo carried."""
    simd_512()
    for c in range(h.shape[1]):
        hc = h[r, c]
        lc = lo[r, c]
        w = (np.float64(hc) + np.float64(rainf[r, c]) * raindt) + np.float64(lc)
        hk = _as(w, hc)
        b = blocked[r, c] != 0
        h[r, c] = hc if b else hk
        lo[r, c] = lc if b else w - np.float64(hk)


@njit(error_model="numpy", parallel=True, cache=True)
def _losses(h, lo, comp, hu, hv, infil_kind, ia, ib, ic, icum, drain, has_drain, dt, sums):
    """Infiltration and drainage from the water there after the step's rain (added by the stage, a row
    at a time right after its update: see _band; the float32 remainder lo carried where comp);
    returns (infiltrated, drained) depth sums (sums: per-row scratch)."""
    ny, nx = h.shape
    for r in prange(ny):
        s_inf, s_drn = losses_row(r, 0, nx, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt)
        for c in range(nx):
            if h[r, c] <= H_VEL:
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
def _boundary_volume(edge_x, edge_y, b_row, b_col, b_side, dt, dx, vols):
    """Volumes through the open faces of one stage (limited mass fluxes of the outer faces: edge_x
    (ny, 2) west and east, edge_y (2, nx) north and south) into vols[2] (in), vols[3] (out)."""
    for k in range(b_row.size):
        r = b_row[k]
        c = b_col[k]
        side = b_side[k]
        if side == 0:
            vin = edge_x[r, 0]
        elif side == 1:
            vin = -edge_x[r, 1]
        elif side == 2:
            vin = edge_y[0, c]
        else:
            vin = -edge_y[1, c]
        vin *= dt * dx
        if vin > 0.0:
            vols[2] += vin
        else:
            vols[3] -= vin


@njit(error_model="numpy", cache=True)
def _boundary_maps(shape, blocked, b_row, b_col, b_side):
    """The open-boundary entry of each outer face, -1 for a wall: (ny, 2) west/east, (2, nx) north/south
    (a blocked cell's face stays a wall; of two entries for one face the last wins)."""
    ny, nx = shape
    kx = np.full((ny, 2), -1, np.int64)
    ky = np.full((2, nx), -1, np.int64)
    for k in range(b_row.size):
        r = b_row[k]
        c = b_col[k]
        if blocked[r, c]:
            continue
        side = b_side[k]
        if side < 2:
            kx[r, side] = k
        else:
            ky[side - 2, c] = k
    return kx, ky


def scratch_arrays(shape, dtype):
    """The working arrays of :func:`run` for a state of this shape and dtype (kept between calls):
    the intermediate state of a step (and its rounding remainder in float32), per-row sums and the
    per-band ring buffers of the fused stage (in the state's dtype: its arithmetic)."""
    ny, nx = shape
    bands = max(1, config.NUMBA_NUM_THREADS)
    return (
        np.zeros((ny, nx), dtype),
        np.zeros((ny, nx), dtype),
        np.zeros((ny, nx), dtype),
        np.zeros((ny, nx) if dtype == np.float32 else (1, 1), dtype),
        np.zeros(ny),
        np.zeros(ny, np.int64),
        np.zeros((ny, 2)),
        np.zeros((bands, 4, _NPLANES, nx + 2), dtype),
    )


def scratch_fits(scratch, shape, dtype) -> bool:
    """Whether ``scratch`` (from :func:`scratch_arrays`) serves a state of this shape and dtype."""
    return scratch is not None and scratch[0].shape == tuple(shape) and scratch[0].dtype == dtype


@njit(error_model="numpy", parallel=True, cache=True)
def _copy3(a, b, c, ao, bo, co):
    """ao, bo, co = a, b, c (row-parallel)."""
    for r in prange(a.shape[0]):
        ao[r] = a[r]
        bo[r] = b[r]
        co[r] = c[r]


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
    hancock,
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
    lo,
    comp,
    scratch,
    threads,
):
    """Advance from t0 to exactly t_end. Returns (t, steps, dt_min, dt_max, status).

    scratch: the working arrays of :func:`scratch_arrays` (every element is written before it is read);
    threads: the threads a stage may run on (one band of rows each).

    vols (6,) float64 receives the interval's volumes: rain, inflow, boundary in, boundary out,
    infiltration, drainage. lo: the rounding remainder of a float32 h, carried through every update
    of the depths where comp (float32 states), so that the balance closes as in float64. status: 0 ok, 1 fixed dt above 1.5x the Courant step, 2 non-finite.
    """
    ny, nx = h.shape
    cell_area = dx * dx
    b_row, b_col, b_side, b_kind, b_ser, b_slope = bnd
    h1, hu1, hv1, lo1, row_best, row_bad, sums, ring = scratch
    traded = False  # whether (h, hu, hv, lo) are the scratch state's arrays (see the stage below)
    kx, ky = _boundary_maps(h.shape, blocked, b_row, b_col, b_side)
    bf = np.zeros((max(b_row.size, 1), 5))
    edge_x = np.zeros((ny, 2))
    edge_y = np.zeros((2, nx))
    pf = np.zeros(N_PF, h.dtype)  # forced_cells' constants: read by its running maxima only (off)
    nser = sptr.size - 1
    cum = series_cumulative(st, sv, sptr)
    lvl = np.zeros(max(nser, 1))
    f_old = np.zeros(f_row.size)  # the held cells' depths before their level is set
    t = t0
    steps = 0
    status = 0
    dt_min = np.inf
    dt_min_clipped = np.inf
    dt_seen = 0.0
    # Whether row_best and row_bad hold the state's rows, scanned by the last step's stage as it wrote
    # them (no pass of its own); not where the losses act on every cell after the step.
    scanned = False
    scan = infil_kind == 0 and not has_drain
    while t_end - t > 1e-9 * max(1.0, abs(t_end)):
        remaining = t_end - t
        for k in range(nser):
            lvl[k] = series_value(st, sv, sptr, k, t) - zref
        if scanned:
            smax, bad = row_best.max(), row_bad.sum()
        else:
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
        last = clipped or not (t_end - t1 > 1e-9 * max(1.0, abs(t_end)))  # the loop's condition
        # Rain (its mean over the step), added by the step's last stage; infiltration and drainage
        # after the step (wherever they act the rain is added first, as by a pass of its own before).
        raindt = 0.0
        if rain_ser >= 0:
            raindt = series_integral(st, sv, cum, sptr, rain_ser, t1) - series_integral(st, sv, cum, sptr, rain_ser, t)
        rain = raindt > 0.0 or infil_kind != 0 or has_drain

        # fmt: off
        # (lo, lo1: the rounding remainders of h and h1 where comp, unused otherwise)
        # The face discharges (qx, qy) are stored by the call's last step only (last: it ends at
        # t_end): the caller sees no other step's and nothing in a step reads them (the held cells'
        # running maxima that would are off here), so the other steps write 8 bytes a cell less.
        # The second stage averages with the step's start state, which it overwrites (see _update_row).
        if order >= 2 and not hancock:
            _stage(h, hu, hv, zb, nb, blocked, order, False, g, dt, dx, lvl, bnd, 0.0, 1.0, h1, hu1, hv1,
                   lo, lo1, comp, qx, qy, 0.0, 0.5, bf, kx, ky, edge_x, edge_y, ring, threads, 0.5, vols,
                   rainf, raindt, False, False, row_best, row_bad, last)
            _stage(h1, hu1, hv1, zb, nb, blocked, order, False, g, dt, dx, lvl, bnd, 0.5, 0.5, h, hu, hv,
                   lo1, lo, comp, qx, qy, 1.0, 0.5, bf, kx, ky, edge_x, edge_y, ring, threads, 0.5, vols,
                   rainf, raindt, rain, scan, row_best, row_bad, last)
        else:
            # One stage (first order, or MUSCL-Hancock's predictor and corrector in one pass), into
            # the other state: the rows a band reads from its neighbours must stay as they were, and
            # an update into its own input would run scalar (see _update_row). The two states then
            # trade places (no copy a step); the caller's arrays get the last one at the end.
            _stage(h, hu, hv, zb, nb, blocked, order, hancock, g, dt, dx, lvl, bnd, 0.0, 1.0, h1, hu1, hv1,
                   lo, lo1, comp, qx, qy, 0.0, 1.0, bf, kx, ky, edge_x, edge_y, ring, threads, 1.0, vols,
                   rainf, raindt, rain, scan, row_best, row_bad, last)
            h, h1 = h1, h
            hu, hu1 = hu1, hu
            hv, hv1 = hv1, hv
            lo, lo1 = lo1, lo
            traded = not traded
        # fmt: on

        if rain:
            s_inf, s_drn = 0.0, 0.0
            if infil_kind != 0 or has_drain:
                s_inf, s_drn = _losses(h, lo, comp, hu, hv, infil_kind, ia, ib, ic, icum, drain, has_drain, dt, sums)
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
            if comp:
                old += np.float64(lo[r, c])
            new = old + max(add, -old)
            h[r, c] = new
            if comp:
                lo[r, c] = new - np.float64(h[r, c])
            vols[1] += (new - old) * cell_area
            _keep_velocity(h, hu, hv, r, c, old)

        # Cells with a forced water surface: the change is boundary inflow/outflow (the inertial
        # kernel's loop, its running maxima off: this solver's run over every cell below).
        for k in range(f_row.size):
            f_old[k] = np.float64(h[f_row[k], f_col[k]])
        forced_cells(h, lo, comp, zb, nb, qx, qy, blocked, f_row, f_col, f_ser, st, sv, sptr, zref, t1, dx, pf,
                     ACC_NONE, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, vols)  # fmt: skip
        for k in range(f_row.size):
            _keep_velocity(h, hu, hv, f_row[k], f_col[k], f_old[k])

        if scan:  # the rows the inflows and held cells changed, scanned again
            for k in range(s_row.size):
                _row_speed(h, hu, hv, blocked, g, row_best, row_bad, s_row[k])
            for k in range(f_row.size):
                _row_speed(h, hu, hv, blocked, g, row_best, row_bad, f_row[k])
        scanned = scan

        if do_acc:
            accumulate(h, hu, hv, blocked, t1, v_depth, wet, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet)
        if clipped:
            dt_min_clipped = min(dt_min_clipped, dt)
        else:
            dt_min = min(dt_min, dt)
        dt_seen = max(dt_seen, dt)
        t = t1
        steps += 1
    if traded:  # the current state is the scratch one: into the caller's arrays
        _copy3(h, hu, hv, h1, hu1, hv1)
        if comp:
            lo1[:] = lo
        h, hu, hv, lo = h1, hu1, hv1, lo1
    if status == 0 and _max_speed(h, hu, hv, blocked, g, row_best, row_bad)[1]:
        status = 2
    if status == 0:
        t = t_end
    if dt_min == np.inf:
        dt_min = dt_min_clipped
    return t, steps, dt_min, dt_seen, status
