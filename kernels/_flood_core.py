"""Numba core of the local-inertial flood solver. Private: use :mod:`kernels.flood`.

One time step is one parallel sweep over row chunks plus short serial loops:

1. ``boundary_momentum``: the fluxes of the open boundary faces.
2. ``_step``: momentum and continuity fused, row by row with a one-row look-ahead: the de Almeida
   et al. (2012) theta-weighted local-inertial flux of the faces, the positivity limiter, the depth
   update, rain, infiltration, drainage and the running maxima; it also returns the next step's
   maximum depth and a non-finite count. New fluxes wait in small ring buffers until their last
   old-value reader has run, then overwrite the old ones in place (one flux array, and no write
   has to fetch its cache line first).
3. Serial loops: the faces between chunks, the point inflows, the level-forced cells and the
   boundary faces (volume accounting).

Memory traffic, not arithmetic, bounds a step on a CPU (about 60 bytes per cell in float32 with
the running maxima on), so the step is a single pass over the state: the maximum depth and the
non-finite check use the float's bit pattern (an integer reduction that vectorises without
fast-math), and blocked cells are folded into the bed elevation instead of a mask to read.

Precision: the state (depth, fluxes) may be float32 or float64; all volumes are accumulated in
float64. Arithmetic on the state stays in the state's dtype: every constant the hot loops need is
read from the small typed array ``pf`` (a Python float literal would promote float32 maths to
float64 and halve the SIMD width).
"""

from __future__ import annotations

import warnings

import numpy as np
from llvmlite import ir
from numba import njit, prange, typeof
from numba.core import types
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.core.types.function_type import WrapperAddressProtocol
from numba.experimental.function_type import _get_wrapper_address
from numba.extending import intrinsic, overload

from ._bitops import INV_CBRT_MAGIC as _INV_CBRT_MAGIC
from ._bitops import as_bits as _as_bits
from ._bitops import from_bits as _from_bits
from ._bitops import nonfinite as _nonfinite
from ._series import series_cumulative, series_integral, series_value

# Only value-safe fast-math: 'nsz' and FMA contraction. 'reassoc'/'arcp'/'afn' made the cached
# and the freshly compiled builds round differently (results must not depend on the cache), and
# 'nnan'/'ninf' would let LLVM drop the non-finite checks.
FASTMATH = {"nsz", "contract"}
# The running maxima without FMA contraction: LLVM fused a multiply-add one way where maxima is
# inlined into the sweep's row loop and another where it is called, and the speed of a cell must
# round the same in every path that takes it (the sweep, a cell the caller changed, local time stepping).
FASTMATH_EXACT = {"nsz"}

#: Depth [m] above which the FD2320 hazard rating adds the urban debris factor DF = 1.
DEBRIS_DEPTH = 0.25

# Internal bed elevation of blocked cells: any face touching one gets a flow depth <= 0 (no flux),
# so the momentum sweep needs no separate mask. Far below float32's maximum (3.4e38).
BLOCKED_Z = 1.0e30

# Slots of the typed per-step constant array ``pf``.
P_DT, P_DTDX, P_GDT, P_THETA, P_HALF1M, P_HDRY, P_INVDX, P_RAINDT, P_WET = range(9)
P_ONE, P_FOUR, P_THIRD, P_HALF, P_ZERO, P_DF_DEPTH, P_V_DEPTH, P_V_CAP2, P_BIG, P_G = range(9, 19)
# The time the step's losses (infiltration, drainage capacity) cover: the step's own dt, the steps' summed
# dt since the last losses where they are taken every few steps (``losses_every``), 0 on the steps between.
P_LOSS_DT = 19
N_PF = 20

# What the running maxima keep (the kernel's ``do_acc``): nothing, everything (speed, hazard too; a
# bool True means this), or only the depth and the wet/dry timing (a lean accumulator).
ACC_NONE, ACC_FULL, ACC_DEPTH = 0, 1, 2
# The sweep's own codes beside those (see _run_impl): a lean step that leaves the largest depth to the next
# step (the wet/dry timing only), and a flag added to ACC_FULL or ACC_DEPTH: fold the start-of-step depths
# too (the step before left them).
ACC_TIMING, ACC_START = 3, 4

# Columns of the per-chunk results of the continuity sweep.
S_INFIL, S_DRAIN, S_BAD, S_HMAX, S_CAPPED = range(5)


@intrinsic
def _claim(typingctx, counter):
    """Atomically add 1 to ``counter[0]`` (an int64 array) and return its value before.

    The threads of a parallel sweep take their row chunks from one shared counter (dynamic
    scheduling): a thread that gets its core takes the next chunk, so a thread that shares its
    core with another process, or starts late, holds back only the chunk it is on.
    """
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(counter)(context, builder, args[0])
        return builder.atomic_rmw("add", ary.data, ir.Constant(ir.IntType(64), 1), "seq_cst")

    return types.int64(counter), codegen


@intrinsic
def _inv_cbrt_seed(typingctx, x):
    """Seed for x**(-1/3) (float32, x >= 0): the magic constant minus a third of x's bit pattern.

    The third is an unsigned 32-bit division (LLVM makes it one multiply-high per lane): the
    bit pattern of a depth is never negative, so it equals the floor division it replaces, while
    Python's ``//`` on signed integers costs a second multiply and the rounding fix-up for
    negatives in every face of the SIMD loops.
    """
    if not (isinstance(x, types.Float) and x.bitwidth == 32):
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        third = builder.udiv(builder.bitcast(args[0], i32), ir.Constant(i32, 3))
        return builder.bitcast(builder.sub(ir.Constant(i32, _INV_CBRT_MAGIC), third), ir.FloatType())

    return types.float32(x), codegen


@intrinsic
def _simd_512(typingctx):
    """Let LLVM vectorise the calling function's loops 512 bits wide where the CPU has AVX-512.

    LLVM's tuning for recent Intel server CPUs prefers 256-bit vectors everywhere (the clock
    penalty of 512-bit code on early AVX-512 parts); the face loops are arithmetic-bound
    (a cube root by Newton steps and a division per face), and 16 lanes made them about twice as
    fast as 8 on the CPU they are benchmarked on. The function attributes say so for this function
    only (and travel with it when it is inlined); on CPUs without AVX-512 they change nothing.
    llvmlite's attribute set admits only LLVM's keyword attributes, hence ``set.add``.
    """

    def codegen(context, builder, signature, args):
        attrs = builder.function.attributes
        set.add(attrs, '"prefer-vector-width"="512"')
        set.add(attrs, '"min-legal-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


#: :func:`_simd_512` for the other kernels (the full shallow-water solver's row loops).
simd_512 = _simd_512


def _newton_last(r, x, four, third):
    """Last Newton step of the inverse cube root: needed for float64 only (see the overload)."""
    raise NotImplementedError  # pragma: no cover - replaced by the overload inside Numba


@overload(_newton_last)
def _newton_last_impl(r, x, four, third):
    if isinstance(r, types.Float) and r.bitwidth == 32:
        # Three steps already reach ~1e-6 relative, float32's resolution for x**(-7/3).
        return lambda r, x, four, third: r
    return lambda r, x, four, third: r * (four - x * r * r * r) * third


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _pow_m7_3(x, one, four, third):
    """x**(-7/3) for x > 0 in x's dtype, without a libm call so the face loops stay SIMD.

    libm's pow/cbrt are scalar calls that stop LLVM vectorising the loop; the bit-trick seed plus
    Newton steps r <- r (4 - x r^3) / 3 (no division) vectorise and are ~6x faster.
    """
    r = one * _inv_cbrt_seed(np.float32(x))
    r = r * (four - x * r * r * r) * third
    r = r * (four - x * r * r * r) * third
    r = r * (four - x * r * r * r) * third
    r = _newton_last(r, x, four, third)
    r2 = r * r
    return r * r2 * r2 * r2


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def face_flux(q, qm, qp, hl, hr, zl, zr, nl, nr, gdt, theta, half1m, invdx, hdry, one, four, third, half, zero):
    """New unit discharge through one face (positive from the left/upper cell to the right/lower).

    Bates et al. (2010) eq. 11 with the de Almeida et al. (2012) theta weighting of the old face
    flux ``q`` and its two neighbours ``qm``, ``qp`` along the flow direction; Manning friction
    (face n = mean of the two cells) is backward Euler: the new discharge solves
    q + a' |q| q = q* (q*: the weighted flux plus the step's push, a' = g dt n^2 / h^(7/3)), so
    q = q* / f with f = (1 + sqrt(1 + 4 a' |q*|)) / 2: the fully implicit friction of Tanaka and
    Yoshioka (2017), as the full solver's (kernels._swe_core). Bates et al.'s semi-implicit form divides
    by 1 + a' |q_old|, the friction of the old discharge: where the step is longer than friction's
    relaxation time (thin sheets on steep ground: 0.6 s for 15 mm on 10 %, the step 5 s) a face that
    was still carries no friction in the step, its flux overshoots Manning's and empties its cell,
    the next step that face is dry again, and the depths alternated between 0.1 and 25 mm from cell
    to cell where the kinematic wave stands at 15 mm. Backward Euler has the same steady state
    (a' q^2 = g h S), is monotone in q_old for any step, and equals the old form where a' |q| is
    small (deep or slow water).
    """
    el = hl + zl
    er = hr + zr
    hf = max(el, er) - max(zl, zr)
    hfc = max(hf, hdry)
    nf = half * (nl + nr)
    num = theta * q + half1m * (qm + qp) - gdt * hf * (er - el) * invdx
    a = gdt * nf * nf * abs(num) * _pow_m7_3(hfc, one, four, third)
    den = half + half * np.sqrt(abs(one + four * a))  # abs: provably >= 0, so SIMD llvm.sqrt, not libm
    return num / den if hf > hdry else zero


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def x_faces(hrow, zrow, nrow, qo, pf, out):
    """New fluxes of a row's interior x-faces into out[1:nx] (out and qo, the old ones: nx + 1).

    Face j lies between cells j - 1 and j: the y-face loop on the row shifted by one cell.
    """
    _simd_512()
    nx = hrow.size
    y_faces(
        hrow[: nx - 1],
        hrow[1:],
        zrow[: nx - 1],
        zrow[1:],
        nrow[: nx - 1],
        nrow[1:],
        qo[: nx - 1],
        qo[1:nx],
        qo[2:],
        pf,
        out[1:nx],
    )


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def y_faces(hu, hd, zu, zd, nu, nd, qm, qo, qp, pf, out):
    """New fluxes of a row of y-faces (cells u above, d below; old fluxes qo, neighbours qm, qp)."""
    _simd_512()
    nx = hu.size
    gdt = pf[P_GDT]
    theta = pf[P_THETA]
    half1m = pf[P_HALF1M]
    invdx = pf[P_INVDX]
    hdry = pf[P_HDRY]
    one = pf[P_ONE]
    four = pf[P_FOUR]
    third = pf[P_THIRD]
    half = pf[P_HALF]
    zero = pf[P_ZERO]
    for c in range(nx):
        out[c] = face_flux(
            qo[c],
            qm[c],
            qp[c],
            hu[c],
            hd[c],
            zu[c],
            zd[c],
            nu[c],
            nd[c],
            gdt,
            theta,
            half1m,
            invdx,
            hdry,
            one,
            four,
            third,
            half,
            zero,
        )


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def boundary_momentum(
    h,
    zb,
    nb,
    blocked,
    qx,
    qy,
    bx,
    by,
    b_row,
    b_col,
    b_side,
    b_kind,
    b_ser,
    b_slope,
    level_t,
    zref,
    dt,
    g,
    dx,
    theta,
    hdry,
):
    """New fluxes of the outer faces into bx (west, east per row) and by (north, south per column).

    Open boundary faces per their kind; every other outer face is closed (q = 0). The state's own
    outer faces still hold the old fluxes, which the interior faces next to them need.
    """
    ny, nx = h.shape
    bx[:, :] = 0.0
    by[:, :] = 0.0
    half1m = 0.5 * (1.0 - theta)
    for k in range(b_row.size):
        r = b_row[k]
        c = b_col[k]
        if blocked[r, c]:
            continue
        side = b_side[k]
        # Outward sign of the face normal in the array's +col/+row convention.
        outward = -1.0 if (side == 0 or side == 2) else 1.0
        hc = np.float64(h[r, c])
        n = np.float64(nb[r, c])
        q = 0.0
        if b_kind[k] == 1:
            if hc > hdry:
                q = outward * hc ** (5.0 / 3.0) * np.sqrt(b_slope[k]) / n
        else:
            zc = np.float64(zb[r, c])
            ec = hc + zc
            eg = level_t[b_ser[k]] - zref
            hf = max(ec, eg) - zc
            if hf > hdry:
                if side == 0:
                    qo, qi = qx[r, 0], qx[r, 1]
                elif side == 1:
                    qo, qi = qx[r, nx], qx[r, nx - 1]
                elif side == 2:
                    qo, qi = qy[0, c], qy[1, c]
                else:
                    qo, qi = qy[ny, c], qy[ny - 1, c]
                qo = np.float64(qo)
                # Slope along +col/+row: from the ghost into the cell on the west/north sides.
                slope = outward * (eg - ec) / dx
                num = theta * qo + half1m * (qo + np.float64(qi)) - g * dt * hf * slope
                # Backward-Euler Manning friction, as the interior faces (see face_flux).
                a = g * dt * n * n * abs(num) / hf ** (7.0 / 3.0)
                q = num / (0.5 + 0.5 * np.sqrt(1.0 + 4.0 * a))
        if side < 2:
            bx[r, side] = q
        else:
            by[side - 2, c] = q


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _factor_row(hrow, qxr, qnr, qsr, dtdx, one, zero, out):
    """Positivity factors of one row into out[1:nx+1] (out[0] = out[nx+1] = 1 for the ghosts).

    hrow: depths before the update; qxr: the row's x-faces (nx + 1); qnr, qsr: its north and south
    y-faces. A cell whose outgoing face volumes in this step exceed its water gets all its
    outgoing fluxes scaled by (water / outflow); a face is outgoing for exactly one cell, so the
    scaled flux is the same on both sides and the update stays conservative.
    """
    _simd_512()
    nx = hrow.size
    out[0] = one
    out[nx + 1] = one
    for c in range(nx):
        o = (max(zero - qxr[c], zero) + max(qxr[c + 1], zero) + max(zero - qnr[c], zero) + max(qsr[c], zero)) * dtdx
        hc = hrow[c]
        out[c + 1] = hc / o if o > hc else one


# y-face rows a chunk copies before the sweep: r0 - 2 .. r0 + 2 and r1 - 1 .. r1 + 2 (see _old_y).
SNAP_Y_ROWS = 9


@njit(error_model="numpy", cache=True)
def _old_h(h, snap_h, ch, r0, r1, k):
    """Depth row k at the start of the step, as seen by chunk ch."""
    if r0 <= k < r1:
        return h[k]  # own rows change only after their last use
    if k < r0:
        return snap_h[ch, k - r0 + 2]
    return snap_h[ch, k - r1 + 2]


@njit(error_model="numpy", cache=True)
def _old_x(qx, snap_x, ch, r0, r1, k):
    """x-face row k at the start of the step, as seen by chunk ch."""
    if k == r0 - 1 or k == r0:
        return snap_x[ch, k - r0 + 1]
    if k == r1 - 1 or k == r1:
        return snap_x[ch, k - r1 + 3]
    return qx[k]


@njit(error_model="numpy", cache=True)
def _old_y(qy, snap_y, ch, r0, r1, k):
    """y-face row k at the start of the step, as seen by chunk ch.

    The band above reaches r0 - 2: the chunk's private y-faces of row r0 - 1 (for the factors
    of the row above it) take that row as their upstream neighbour, and the chunk above
    overwrites it during the sweep (read live, it made parallel runs differ from run to run).
    """
    if r0 - 2 <= k <= r0 + 2:
        return snap_y[ch, k - r0 + 2]
    if r1 - 1 <= k <= r1 + 2:
        return snap_y[ch, k - r1 + 6]
    return qy[k]


@njit(error_model="numpy", cache=True)
def _snapshot(h, qx, qy, nch, snap_h, snap_x, snap_y):
    """Copy every chunk's border bands (see above) before the sweep changes them."""
    ny, nx = h.shape
    for ch in range(nch):
        r0 = ch * ny // nch
        r1 = (ch + 1) * ny // nch
        for i in range(4):
            k = r0 - 2 + i if i < 2 else r1 + i - 2
            if 0 <= k < ny:
                for c in range(nx):
                    snap_h[ch, i, c] = h[k, c]
            k = r0 - 1 + i if i < 2 else r1 + i - 3
            if 0 <= k < ny:
                for c in range(nx + 1):
                    snap_x[ch, i, c] = qx[k, c]
        for i in range(SNAP_Y_ROWS):
            k = r0 - 2 + i if i < 5 else r1 + i - 6
            if 0 <= k <= ny:
                for c in range(nx):
                    snap_y[ch, i, c] = qy[k, c]


@njit(error_model="numpy", cache=True)
def _new_x_row(k, h, zb, nb, qx, bx, snap_h, snap_x, ch, r0, r1, pf, out):
    """New x-faces of row k into out: the outer two from bx, the interior from the old state."""
    out[0] = bx[k, 0]
    out[out.size - 1] = bx[k, 1]
    x_faces(_old_h(h, snap_h, ch, r0, r1, k), zb[k], nb[k], _old_x(qx, snap_x, ch, r0, r1, k), pf, out)


@njit(error_model="numpy", cache=True)
def _new_y_row(k, h, zb, nb, qy, by, snap_h, snap_y, ch, r0, r1, pf, out):
    """New y-face row k (between cell rows k-1 and k) into out; rows 0 and ny come from by."""
    ny = h.shape[0]
    if k == 0:
        out[:] = by[0]
    elif k == ny:
        out[:] = by[1]
    elif 0 < k < ny:
        y_faces(
            _old_h(h, snap_h, ch, r0, r1, k - 1),
            _old_h(h, snap_h, ch, r0, r1, k),
            zb[k - 1],
            zb[k],
            nb[k - 1],
            nb[k],
            _old_y(qy, snap_y, ch, r0, r1, k - 1),
            _old_y(qy, snap_y, ch, r0, r1, k),
            _old_y(qy, snap_y, ch, r0, r1, k + 1),
            pf,
            out,
        )


# The row kernels below take whole arrays and row indices, not row views: a view costs an atomic
# reference-count increment and decrement, and the fifty or so views of a row's calls took about
# 1.2 us a row (a quarter of a 1000-cell row's time, 70 % on 16-cell rows).


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _x_faces_live(h, zb, nb, qx, bx, k, pf, xb, slot):
    """:func:`x_faces` of row k read from the state itself into ``xb[slot]``, the outer two from bx
    (rows whose old depths and x-faces no chunk border snapshot holds)."""
    _simd_512()
    nx = h.shape[1]
    gdt = pf[P_GDT]
    theta = pf[P_THETA]
    half1m = pf[P_HALF1M]
    invdx = pf[P_INVDX]
    hdry = pf[P_HDRY]
    one = pf[P_ONE]
    four = pf[P_FOUR]
    third = pf[P_THIRD]
    half = pf[P_HALF]
    zero = pf[P_ZERO]
    xb[slot, 0] = bx[k, 0]
    xb[slot, nx] = bx[k, 1]
    for c in range(1, nx):
        xb[slot, c] = face_flux(
            qx[k, c], qx[k, c - 1], qx[k, c + 1], h[k, c - 1], h[k, c], zb[k, c - 1], zb[k, c], nb[k, c - 1],
            nb[k, c], gdt, theta, half1m, invdx, hdry, one, four, third, half, zero,
        )  # fmt: skip


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _y_faces_live(h, zb, nb, qy, k, pf, yb, slot):
    """:func:`y_faces` of y-face row k (between cell rows k - 1 and k) read from the state itself
    into ``yb[slot]``."""
    _simd_512()
    nx = h.shape[1]
    gdt = pf[P_GDT]
    theta = pf[P_THETA]
    half1m = pf[P_HALF1M]
    invdx = pf[P_INVDX]
    hdry = pf[P_HDRY]
    one = pf[P_ONE]
    four = pf[P_FOUR]
    third = pf[P_THIRD]
    half = pf[P_HALF]
    zero = pf[P_ZERO]
    for c in range(nx):
        yb[slot, c] = face_flux(
            qy[k, c], qy[k - 1, c], qy[k + 1, c], h[k - 1, c], h[k, c], zb[k - 1, c], zb[k, c], nb[k - 1, c],
            nb[k, c], gdt, theta, half1m, invdx, hdry, one, four, third, half, zero,
        )  # fmt: skip


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _factor_live(h, k, xb, kx, yb, kn, ks, dtdx, one, zero, fr, kf):
    """:func:`_factor_row` of row k (depths read from the state) into ``fr[kf]``, from the x-faces
    ``xb[kx]`` and the y-faces ``yb[kn]`` (north) and ``yb[ks]`` (south)."""
    _simd_512()
    nx = h.shape[1]
    fr[kf, 0] = one
    fr[kf, nx + 1] = one
    for c in range(nx):
        o = (
            max(zero - xb[kx, c], zero) + max(xb[kx, c + 1], zero) + max(zero - yb[kn, c], zero) + max(yb[ks, c], zero)
        ) * dtdx
        hc = h[k, c]
        fr[kf, c + 1] = hc / o if o > hc else one


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _limit_x(xb, kx, fr, kf, zero, qx, r):
    """Limited x-faces ``xb[kx]`` of row r into ``qx[r]`` (factors of the row: ``fr[kf]``).

    q f_west where the flow leaves the western cell (q > 0), q f_east where it leaves the eastern
    one, written as max(q, 0) f_west + min(q, 0) f_east: the same number (one of the two products
    is 0, and NaN stays NaN). The select ``fa if q > 0 else fb`` became a masked gather in LLVM's
    SIMD loop, the slowest part of the sweep.
    """
    _simd_512()
    for c in range(xb.shape[1]):
        v = xb[kx, c]
        qx[r, c] = max(v, zero) * fr[kf, c] + min(v, zero) * fr[kf, c + 1]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _limit_y(yb, ky, fr, kn, ks, zero, out, ko):
    """Limited y-faces ``yb[ky]`` into ``out[ko]``: factors ``fr[kn]`` of the row above them (the
    donor where q > 0) and ``fr[ks]`` of the row below (as :func:`_limit_x`)."""
    _simd_512()
    for c in range(yb.shape[1]):
        v = yb[ky, c]
        out[ko, c] = max(v, zero) * fr[kn, c + 1] + min(v, zero) * fr[ks, c + 1]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def update_row_compensated(h, lo, r, h0b, k0, rainf, qx, yl, kn, ks, dtdx, raindt):
    """Continuity of float32 row r with the rounding remainder carried (compensated summation).

    ``qx[r]``: the row's limited x-faces; ``yl[kn]``, ``yl[ks]``: its limited north and south
    y-faces; ``h0b[k0]`` receives the depths before the update. The new depth is summed in float64
    from the cell's float32 depth, its remainder ``lo`` (what float32 could not hold of it) and the
    face volumes; the float32 depth takes what it can and the remainder keeps the rest. So a rain
    increment of 1e-5 m on 3.5 m of water (ulp 2.4e-7 m) is not rounded away step after step, and
    each face's volume leaves one cell and enters the other exactly: the balance closes as in
    float64 while the hydraulics read float32. Where the limiter's float32 factors leave a cell a
    hair below empty, the depth is 0 and the remainder holds the (negative) difference, so no
    water is made.
    """
    _simd_512()
    nx = h.shape[1]
    dtdx64 = np.float64(dtdx)
    raindt64 = np.float64(raindt)
    for c in range(nx):
        hc = h[r, c]
        h0b[k0, c] = hc
        div = (np.float64(qx[r, c]) - np.float64(qx[r, c + 1])) + (np.float64(yl[kn, c]) - np.float64(yl[ks, c]))
        w = (np.float64(hc) + np.float64(lo[r, c])) + (dtdx64 * div + np.float64(rainf[r, c]) * raindt64)
        h[r, c] = max(w, 0.0)
        lo[r, c] = w - np.float64(h[r, c])


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _step_chunk(
    ch,
    h,
    zb,
    nb,
    qx,
    qy,
    bx,
    by,
    rainf,
    infil_kind,
    ia,
    ib,
    ic,
    icum,
    drain,
    has_drain,
    do_acc,
    a_hmax,
    a_vmax,
    a_haz,
    a_tarr,
    a_dur,
    a_wet,
    t1,
    nch,
    snap_h,
    snap_x,
    snap_y,
    edge,
    edge_q,
    pf,
    part,
    lo,
    comp,
):
    """One time step for the rows of chunk ch: momentum and continuity fused in one pass, in place.

    Rows are swept in order with a short look-ahead: before row r is updated, the new x-faces of
    row r+1, the new y-faces between rows r+1 and r+2 and the positivity factors of row r+1 are
    made (in small ring buffers), so every face and factor is computed once, from the start-of-step
    state, and used while in cache. Once row r is updated, its limited x-faces and north y-faces
    overwrite the old ones in place (their last reader has run), so the fluxes need one array and
    no write ever has to fetch its cache line first. The rows bordering the chunk are read from
    the snapshot and the faces there that belong to a neighbour are recomputed privately (the same
    arithmetic gives the same numbers). The y-face row r0 is shared: its unlimited value goes to
    ``edge_q`` and its factors to ``edge``, and it is limited after the sweep.
    """
    _simd_512()
    ny, nx = h.shape
    dtdx = pf[P_DTDX]
    raindt = pf[P_RAINDT]
    one = pf[P_ONE]
    zero = pf[P_ZERO]
    hdry = pf[P_HDRY]
    wet = pf[P_WET]
    loss_dt = np.float64(pf[P_LOSS_DT])
    r0 = ch * ny // nch
    r1 = (ch + 1) * ny // nch
    xb = np.empty((2, nx + 1), dtype=h.dtype)  # new x-face rows, row k in slot k % 2
    yb = np.empty((3, nx), dtype=h.dtype)  # new y-face rows, row k in slot k % 3
    fr = np.empty((3, nx + 2), dtype=h.dtype)
    yl = np.empty((2, nx), dtype=h.dtype)  # limited y-face rows, row k in slot k % 2
    h0b = np.empty((2, nx), dtype=h.dtype)  # start-of-step depths of rows r - 1 and r, row k in slot k % 2
    fx = np.zeros(nx + 1, dtype=h.dtype)  # flow depths of the row's x-faces (the outer two stay 0)
    sx = np.zeros(nx + 1, dtype=h.dtype)  # their water-surface drops
    dbuf = np.empty(nx, dtype=h.dtype)  # row buffers of the running maxima (see _maxima_row)
    pbuf = np.empty(nx, dtype=h.dtype)
    capb = np.empty(nx, dtype=np.int32)
    if do_acc and r0 > 0:
        h0b[(r0 - 1) % 2, :] = _old_h(h, snap_h, ch, r0, r1, r0 - 1)
    if r0 > 0:
        _new_x_row(r0 - 1, h, zb, nb, qx, bx, snap_h, snap_x, ch, r0, r1, pf, xb[(r0 - 1) % 2])
        _new_y_row(r0 - 1, h, zb, nb, qy, by, snap_h, snap_y, ch, r0, r1, pf, yb[(r0 - 1) % 3])
    _new_x_row(r0, h, zb, nb, qx, bx, snap_h, snap_x, ch, r0, r1, pf, xb[r0 % 2])
    _new_y_row(r0, h, zb, nb, qy, by, snap_h, snap_y, ch, r0, r1, pf, yb[r0 % 3])
    _new_y_row(r0 + 1, h, zb, nb, qy, by, snap_h, snap_y, ch, r0, r1, pf, yb[(r0 + 1) % 3])
    if r0 > 0:
        _factor_row(
            _old_h(h, snap_h, ch, r0, r1, r0 - 1),
            xb[(r0 - 1) % 2],
            yb[(r0 - 1) % 3],
            yb[r0 % 3],
            dtdx,
            one,
            zero,
            fr[0],
        )
        edge_q[ch, :] = yb[r0 % 3]
    else:
        fr[0, :] = one
    _factor_row(h[r0], xb[r0 % 2], yb[r0 % 3], yb[(r0 + 1) % 3], dtdx, one, zero, fr[1])
    # The chunk's first y-face row limited privately (shared with the chunk above: stored after the sweep).
    _limit_y(yb, r0 % 3, fr, 0, 1, zero, yl, r0 % 2)
    if r0 == 0:
        qy[0, :] = yl[0]
    edge[0, ch, :] = fr[0]
    edge[1, ch, :] = fr[1]
    fold_start = do_acc >= ACC_START
    do_acc = do_acc % ACC_START
    ip, ic_, inx = 0, 1, 2
    n_bad = 0
    n_cap = 0
    kmax = _as_bits(zero)
    for r in range(r0, r1):
        if r + 1 < ny:
            # The rows ahead, read from the state where no chunk-border snapshot holds them.
            k = r + 1
            if r0 < k < r1 - 1:
                _x_faces_live(h, zb, nb, qx, bx, k, pf, xb, k % 2)
            else:
                _new_x_row(k, h, zb, nb, qx, bx, snap_h, snap_x, ch, r0, r1, pf, xb[k % 2])
            k = r + 2
            if r0 + 4 <= k <= r1 - 3:
                _y_faces_live(h, zb, nb, qy, k, pf, yb, k % 3)
            else:
                _new_y_row(k, h, zb, nb, qy, by, snap_h, snap_y, ch, r0, r1, pf, yb[k % 3])
            if r + 1 < r1:
                _factor_live(h, r + 1, xb, (r + 1) % 2, yb, (r + 1) % 3, (r + 2) % 3, dtdx, one, zero, fr, inx)
            else:
                _factor_row(
                    _old_h(h, snap_h, ch, r0, r1, r + 1),
                    xb[(r + 1) % 2],
                    yb[(r + 1) % 3],
                    yb[(r + 2) % 3],
                    dtdx,
                    one,
                    zero,
                    fr[inx],
                )
        else:
            fr[inx, :] = one
        # Each face limited once. The row's x-faces go in place at once (their one old-value
        # reader, the x-faces of this row, has run); the y-faces below it once their last reader,
        # the y-faces two rows down, has (the row between chunks waits for the chunk below).
        kn = r % 2
        ks = (r + 1) % 2
        _limit_x(xb, r % 2, fr, ic_, zero, qx, r)
        _limit_y(yb, (r + 1) % 3, fr, ic_, inx, zero, yl, ks)
        if r + 1 < r1 or r + 1 == ny:
            for c in range(nx):
                qy[r + 1, c] = yl[ks, c]
        # Sweep 1: the depth update.
        if comp:
            update_row_compensated(h, lo, r, h0b, kn, rainf, qx, yl, kn, ks, dtdx, raindt)
        else:
            for c in range(nx):
                hc = h[r, c]
                h0b[kn, c] = hc
                div = (qx[r, c] - qx[r, c + 1]) + (yl[kn, c] - yl[ks, c])
                h[r, c] = max(hc + dtdx * div + rainf[r, c] * raindt, zero)
        if do_acc:
            h0_row = h0b[kn]
            qn_row = yl[kn]
            qs_row = yl[ks]
        # Sweep 2: losses, only where there is water (the row is in cache by now).
        if (infil_kind != 0 or has_drain) and loss_dt > 0.0:
            inf, drn = losses_row(r, 0, nx, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, loss_dt)
        else:
            inf = drn = 0.0
        # Per row, summed in row order after the sweep: the volumes' last digits do not depend on
        # the chunks (their number follows the threads and the measured sweep choice).
        part[nch + r, S_INFIL] = inf
        part[nch + r, S_DRAIN] = drn
        # Sweep 3: next step's maximum depth, non-finite check, running maxima.
        for c in range(nx):
            w = h[r, c]
            kmax = max(kmax, _as_bits(w))
            n_bad += _nonfinite(w)
        if do_acc >= ACC_DEPTH:
            # The lean accumulator: the largest depth (with the start depths the step before left, or
            # left to the next step) and the wet/dry timing, every step.
            n_changed = 0
            hm_row = a_hmax[r]
            if do_acc == ACC_TIMING:
                for c in range(nx):
                    n_changed += (h[r, c] > wet) != (h0_row[c] > wet)
            elif fold_start:
                for c in range(nx):
                    w = h[r, c]
                    w0 = h0_row[c]
                    hm_row[c] = max(hm_row[c], max(w, w0))
                    n_changed += (w > wet) != (w0 > wet)
            else:
                for c in range(nx):
                    w = h[r, c]
                    hm_row[c] = max(hm_row[c], w)
                    n_changed += (w > wet) != (h0_row[c] > wet)
            if n_changed:
                wet_dry_row(r, 0, nx, h[r], h0_row, wet, t1, a_tarr, a_dur, a_wet)
        elif do_acc:
            # Flow depths and water-surface drops of the faces as the momentum sweep saw them
            # (start-of-step depths), for the speed and its bound (see maxima).
            zr = zb[r]
            hn, zn = (h0b[(r - 1) % 2], zb[r - 1]) if r > 0 else (h0_row, zr)
            hs, zs = (_old_h(h, snap_h, ch, r0, r1, r + 1), zb[r + 1]) if r + 1 < ny else (h0_row, zr)
            # the x-faces only where _maxima_row reads them: its wet span (the outer two stay 0)
            w_lo, w_hi = wet_span(h[r], pf)
            f0, f1 = max(w_lo, 1), min(w_hi + 1, nx)
            if f1 > f0:
                _face_drops(
                    h0_row[f0 - 1 : f1 - 1],
                    h0_row[f0:f1],
                    zr[f0 - 1 : f1 - 1],
                    zr[f0:f1],
                    hdry,
                    zero,
                    fx[f0:f1],
                    sx[f0:f1],
                )
            n_changed, cap = _maxima_row(
                h[r],
                h0_row,
                hn,
                hs,
                zn,
                zr,
                zs,
                fx,
                sx,
                nb[r],
                qx[r],
                qn_row,
                qs_row,
                a_hmax[r],
                a_vmax[r],
                a_haz[r],
                pf,
                dbuf,
                pbuf,
                capb,
            )
            n_cap += cap
            if fold_start:
                hm_row = a_hmax[r]
                for c in range(nx):
                    hm_row[c] = max(hm_row[c], h0_row[c])
            # Wet/dry changes are rare and branchy: a separate loop keeps the one above SIMD.
            if n_changed:
                wet_dry_row(r, 0, nx, h[r], h0_row, wet, t1, a_tarr, a_dur, a_wet)
        ip, ic_, inx = ic_, inx, ip
    part[ch, S_BAD] = n_bad
    part[ch, S_CAPPED] = n_cap
    part[ch, S_HMAX] = _from_bits(kmax, zero)


# The parallel function is a thin prange loop over a worker passed as a function pointer (see
# :func:`run`): parfor lowering time grows quickly with the size of the loop body, and Numba would
# re-optimise a linked worker inside every caller. The index is cast so the worker's signature is
# fixed (prange hands out an unsigned index).
@njit(parallel=True, error_model="numpy", cache=True)
def _step(
    chunk_fn,
    h,
    zb,
    nb,
    qx,
    qy,
    bx,
    by,
    rainf,
    infil_kind,
    ia,
    ib,
    ic,
    icum,
    drain,
    has_drain,
    do_acc,
    a_hmax,
    a_vmax,
    a_haz,
    a_tarr,
    a_dur,
    a_wet,
    t1,
    nch,
    snap_h,
    snap_x,
    snap_y,
    edge,
    edge_q,
    pf,
    part,
    lo,
    comp,
):
    """One time step over all row chunks in parallel (``chunk_fn`` is :func:`_step_chunk`).

    Per chunk it leaves in ``part`` the number of non-finite depths and the maximum depth (the
    next step's time step); per row r, in ``part[nch + r]``, the infiltrated and drained depth sums.

    Each thread takes chunks from a shared counter until none is left, rather than a fixed
    share of them (prange's static split): a chunk's result does not depend on which thread
    sweeps it or when (see :func:`_step_chunk`), and on a busy machine the thread that has its
    core sweeps what the other has not reached.
    """
    claim = np.zeros(1, dtype=np.int64)
    # prange still splits its iterations statically, but a thread's first one sweeps chunks while
    # any is left, so its others find none. (No get_num_threads() here: it would stop the caching.)
    for _ in prange(nch):
        while True:
            ch = _claim(claim)
            if ch >= nch:
                break
            chunk_fn(
                ch,
                h,
                zb,
                nb,
                qx,
                qy,
                bx,
                by,
                rainf,
                infil_kind,
                ia,
                ib,
                ic,
                icum,
                drain,
                has_drain,
                do_acc,
                a_hmax,
                a_vmax,
                a_haz,
                a_tarr,
                a_dur,
                a_wet,
                t1,
                nch,
                snap_h,
                snap_x,
                snap_y,
                edge,
                edge_q,
                pf,
                part,
                lo,
                comp,
            )


@njit(error_model="numpy", cache=True)
def _step_serial(
    chunk_fn,
    h,
    zb,
    nb,
    qx,
    qy,
    bx,
    by,
    rainf,
    infil_kind,
    ia,
    ib,
    ic,
    icum,
    drain,
    has_drain,
    do_acc,
    a_hmax,
    a_vmax,
    a_haz,
    a_tarr,
    a_dur,
    a_wet,
    t1,
    nch,
    snap_h,
    snap_x,
    snap_y,
    edge,
    edge_q,
    pf,
    part,
    lo,
    comp,
):
    """:func:`_step` on one thread (small grids: waking threads costs more than the work)."""
    for ch in range(nch):
        chunk_fn(
            ch,
            h,
            zb,
            nb,
            qx,
            qy,
            bx,
            by,
            rainf,
            infil_kind,
            ia,
            ib,
            ic,
            icum,
            drain,
            has_drain,
            do_acc,
            a_hmax,
            a_vmax,
            a_haz,
            a_tarr,
            a_dur,
            a_wet,
            t1,
            nch,
            snap_h,
            snap_x,
            snap_y,
            edge,
            edge_q,
            pf,
            part,
            lo,
            comp,
        )


@njit(error_model="numpy", cache=True)
def _limit_chunk_edges(qy, nch, edge, edge_q):
    """Limit and store the y-faces between chunks, left alone by the sweep (both chunks use them)."""
    ny, nx = qy.shape[0] - 1, qy.shape[1]
    for ch in range(1, nch):
        r0 = ch * ny // nch
        for c in range(nx):
            q = edge_q[ch, c]
            # Donor: the cell above (factor row r0 - 1) for southward flow, else the one below.
            qy[r0, c] = q * (edge[0, ch, c + 1] if q > 0 else edge[1, ch, c + 1])


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def face_depth_drop(hl, hr, zl, zr, hdry, zero):
    """Flow depth of a face as :func:`face_flux` takes it, and the drop of the water surface across
    it (0 where the face carries no flow: flow depth not above hdry, a blocked cell)."""
    el = hl + zl
    er = hr + zr
    hf = max(el, er) - max(zl, zr)
    return max(hf, zero), (abs(el - er) if hf > hdry else zero)


@njit(fastmath=FASTMATH_EXACT, error_model="numpy", cache=True)
def _maxima_row(hr, h0r, hn, hs, zn, zr, zs, fx, sx, nbr, qxr, qn_row, qs_row, hmr, vmr, hzr, pf, db, pb, capb):
    """:func:`maxima` over a row after the sweep: ``hr``, ``h0r`` its depths at the end and start of
    the step, ``hn``/``hs`` and ``zn``/``zs`` the start depths and beds of the rows north and south,
    ``zr`` its bed, ``fx``/``sx`` its x-faces' flow depths and drops, ``qxr`` its limited x-faces,
    ``qn_row``/``qs_row`` its limited y-faces; ``db``, ``pb`` (the row's dtype) and ``capb`` (int32)
    are row buffers. Returns (cells that turned wet or dry, cells capped).

    Where the row's wet span (:func:`wet_span`: from its first to its last cell above the wet
    threshold) is under a quarter of it, only the span goes through :func:`maxima` (``fx``, ``sx`` are
    read there only): a cell not above the threshold has speed 0 in :func:`maxima` whatever its bound
    (s^2 = 0; the bound is never negative), so the cells outside take :func:`_maxima_dry`, the same
    numbers without the speed's cube root, divisions and square root (early in a storm most rows).
    Wider spans take the whole row (on slices the loops ran slower, and a dry margin saves little).
    Three loops that LLVM vectorises whole: the cells' flow depths and drops, then :func:`maxima`
    inlined (its capped flags to ``capb``: a 64-bit count in that loop halves its SIMD width), then
    the counts."""
    _simd_512()
    hdry = pf[P_HDRY]
    zero = pf[P_ZERO]
    half = pf[P_HALF]
    wet = pf[P_WET]
    n = hr.size
    lo, hi = wet_span(hr, pf)
    n_cap = 0
    if 4 * (hi - lo) > n:
        # Mostly wet: the whole row, on the arrays as they are (on slices these loops ran slower).
        for c in range(n):
            w0 = h0r[c]
            dn, sn = face_depth_drop(hn[c], w0, zn[c], zr[c], hdry, zero)
            ds, ss = face_depth_drop(w0, hs[c], zr[c], zs[c], hdry, zero)
            db[c] = max(max(max(hr[c], w0), max(fx[c], fx[c + 1])), max(dn, ds))
            pb[c] = max(max(sx[c], sx[c + 1]), max(sn, ss))
        for c in range(n):
            ux = half * (qxr[c] + qxr[c + 1])
            uy = half * (qn_row[c] + qs_row[c])
            hmr[c], vmr[c], hzr[c], capb[c] = _maxima_inline(
                hr[c], db[c], pb[c], nbr[c], ux, uy, hmr[c], vmr[c], hzr[c], pf
            )
        n_changed = 0
        for c in range(n):
            n_cap += capb[c]
            n_changed += (hr[c] > wet) != (h0r[c] > wet)
        return n_changed, n_cap
    elif hi > lo:
        # Slices from 0: indexed from lo, LLVM could not prove the index non-negative and gathered.
        h1, h01, hn1, hs1, zn1, zr1, zs1 = hr[lo:hi], h0r[lo:hi], hn[lo:hi], hs[lo:hi], zn[lo:hi], zr[lo:hi], zs[lo:hi]
        fx1, sx1, qx1, qn1, qs1 = fx[lo : hi + 1], sx[lo : hi + 1], qxr[lo : hi + 1], qn_row[lo:hi], qs_row[lo:hi]
        nb1, hm1, vm1, hz1 = nbr[lo:hi], hmr[lo:hi], vmr[lo:hi], hzr[lo:hi]
        for c in range(hi - lo):
            w0 = h01[c]
            dn, sn = face_depth_drop(hn1[c], w0, zn1[c], zr1[c], hdry, zero)
            ds, ss = face_depth_drop(w0, hs1[c], zr1[c], zs1[c], hdry, zero)
            db[c] = max(max(max(h1[c], w0), max(fx1[c], fx1[c + 1])), max(dn, ds))
            pb[c] = max(max(sx1[c], sx1[c + 1]), max(sn, ss))
        for c in range(hi - lo):
            ux = half * (qx1[c] + qx1[c + 1])
            uy = half * (qn1[c] + qs1[c])
            hm1[c], vm1[c], hz1[c], capb[c] = _maxima_inline(
                h1[c], db[c], pb[c], nb1[c], ux, uy, hm1[c], vm1[c], hz1[c], pf
            )
        for c in range(hi - lo):
            n_cap += capb[c]
    _maxima_dry(hr[:lo], hmr[:lo], hzr[:lo], pf)
    _maxima_dry(hr[hi:], hmr[hi:], hzr[hi:], pf)
    n_changed = 0
    for c in range(n):
        n_changed += (hr[c] > wet) != (h0r[c] > wet)
    return n_changed, n_cap


@njit(error_model="numpy", cache=True)
def wet_span(hr, pf):
    """(first, one past the last) cell of a row whose depth is above the wet threshold ``pf[P_V_DEPTH]``
    (or NaN, by the bits); (0, 0) if none is. Scans in from both ends: as long as the dry margins."""
    v_bits = _as_bits(pf[P_V_DEPTH])
    n = hr.size
    lo = 0
    while lo < n and _as_bits(hr[lo]) <= v_bits:
        lo += 1
    if lo == n:
        return 0, 0
    hi = n
    while _as_bits(hr[hi - 1]) <= v_bits:
        hi -= 1
    return lo, hi


@njit(fastmath=FASTMATH_EXACT, error_model="numpy", cache=True)
def _maxima_dry(hr, hmr, hzr, pf):
    """:func:`maxima` of cells none of which is above the wet threshold: speed 0 (``v_max`` stays, never
    capped), the depth, and the hazard w (0 + 1/2) + DF as :func:`maxima` rounds it."""
    _simd_512()
    zero = pf[P_ZERO]
    one = pf[P_ONE]
    half = pf[P_HALF]
    df_depth = pf[P_DF_DEPTH]
    for c in range(hr.size):
        w = hr[c]
        hmr[c] = max(hmr[c], w)
        hzr[c] = max(hzr[c], w * half + (one if w > df_depth else zero))


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _face_drops(hl, hr, zl, zr, hdry, zero, fd, sd):
    """:func:`face_depth_drop` of the faces between cells ``hl``/``zl`` and ``hr``/``zr`` into ``fd``, ``sd``."""
    _simd_512()
    for c in range(hl.size):
        fd[c], sd[c] = face_depth_drop(hl[c], hr[c], zl[c], zr[c], hdry, zero)


@njit(fastmath=FASTMATH_EXACT, error_model="numpy", cache=True)
def maxima(w, d, drop, n, ux, uy, hm, vm, hz, pf):
    """New running maxima (depth, speed, hazard) of a cell, and 1 where its speed was held to the bound.

    w: the cell's depth; d: the largest depth the step's fluxes went through (the cell's depth at
    the start and end of the step, its faces' flow depths); drop: the largest water-surface drop
    across a flowing face; n: Manning's n; ux, uy: the step's face discharges averaged to the centre.

    The speed is the centre discharge over d, so never above the fastest face's own speed q / h_f,
    and only where w is above the wet threshold ``pf[P_V_DEPTH]``. It is held to the larger of

    * the Manning speed d^(2/3) S^(1/2) / n on the steepest water-surface slope S = drop / dx
      around the cell: what friction allows, and
    * an inertial allowance Fr sqrt(g d min(1, L / dx)), Fr = ``froude_cap`` (pf[P_V_CAP2] =
      Fr^2 g): a flow can carry a speed above its friction speed only over about the friction
      length L = d^(4/3) / (g n^2) (the e-folding distance of the excess), so in a cell much longer
      than L it cannot, and the allowance shrinks; in deep water it is Fr times the critical speed.

    A faster reported speed comes from the scheme, not the flow: the local-inertial equations have
    no advection (no supercritical flow), and where friction is stiff (shallow sheet flow, long
    steps) their semi-implicit friction lets the face discharges oscillate from step to step
    around the right mean. Scalars in, scalars out, so that it inlines into a row loop (the sweep
    takes it as ``_maxima_inline``).
    """
    # Every constant read up front: read between the arithmetic, they kept LLVM from vectorising the
    # row loop this is inlined into at all.
    zero = pf[P_ZERO]
    one = pf[P_ONE]
    big = pf[P_BIG]
    g = pf[P_G]
    invdx = pf[P_INVDX]
    v_depth = pf[P_V_DEPTH]
    hdry = pf[P_HDRY]
    four = pf[P_FOUR]
    third = pf[P_THIRD]
    cap_fr2 = pf[P_V_CAP2]
    half = pf[P_HALF]
    df_depth = pf[P_DF_DEPTH]
    wet = w > v_depth
    dd = max(d, hdry)  # d >= w; the floor only keeps the dry cells' (unused) arithmetic finite
    s2 = (ux * ux + uy * uy) / (dd * dd) if wet else zero
    # nn = n^2 d^(-4/3) (as d * d^(-7/3)): Manning v^2 = S / nn, friction length L = 1 / (g nn).
    nn = n * n * dd * _pow_m7_3(dd, one, four, third)
    manning2 = drop * invdx / nn if nn > zero else big
    g_eff = min(g, invdx / nn) if nn > zero else g  # g min(1, L / dx)
    cap2 = max(cap_fr2 / g * g_eff * dd, manning2)
    spd = np.sqrt(min(s2, cap2))
    # Defra FD2320 hazard rating with the urban debris factor (DF = 1 above 0.25 m).
    hazard = w * (spd + half) + (one if w > df_depth else zero)
    return max(hm, w), max(vm, spd), max(hz, hazard), (1 if s2 > cap2 else 0)


# maxima inlined into the caller's Numba IR, for the sweep's row loop: LLVM does not inline a function
# this large by itself, and a call per cell cost more than its arithmetic (the same arithmetic and
# flags, so the same numbers).
_maxima_inline = njit(fastmath=FASTMATH_EXACT, error_model="numpy", cache=True, inline="always")(maxima.py_func)

#: :func:`_maxima_row` for the other time loops' row segments (local time stepping's tiles).
maxima_row = _maxima_row


@njit(error_model="numpy", cache=True)
def flow_depth_drop(h, zb, r, c, hdry, zero):
    """(depth, drop) for maxima from the state as it is: cells changed outside the sweep."""
    ny, nx = h.shape
    w = h[r, c]
    z = zb[r, c]
    d = w
    drop = zero
    if c > 0:
        f, s = face_depth_drop(h[r, c - 1], w, zb[r, c - 1], z, hdry, zero)
        d, drop = max(d, f), max(drop, s)
    if c + 1 < nx:
        f, s = face_depth_drop(w, h[r, c + 1], z, zb[r, c + 1], hdry, zero)
        d, drop = max(d, f), max(drop, s)
    if r > 0:
        f, s = face_depth_drop(h[r - 1, c], w, zb[r - 1, c], z, hdry, zero)
        d, drop = max(d, f), max(drop, s)
    if r + 1 < ny:
        f, s = face_depth_drop(w, h[r + 1, c], z, zb[r + 1, c], hdry, zero)
        d, drop = max(d, f), max(drop, s)
    return d, drop


@njit(error_model="numpy", cache=True)
def wet_dry(r, c, is_wet, t1, a_tarr, a_dur, a_wet):
    """Arrival time and wet duration of a cell that turned wet (is_wet) or dry in a step ending at t1."""
    if is_wet:
        a_wet[r, c] = t1
        if np.isnan(a_tarr[r, c]):
            a_tarr[r, c] = t1
    else:
        a_dur[r, c] += t1 - a_wet[r, c]
        a_wet[r, c] = np.nan


@njit(error_model="numpy", cache=True)
def wet_dry_row(r, c0, c1, hr, h0r, wet, t1, a_tarr, a_dur, a_wet):
    """:func:`wet_dry` for the cells c0..c1 of row r whose depth crossed ``wet`` in a step ending at
    t1 (``hr``, ``h0r``: the row's depths at its end and start, indexed by column). Called only for
    rows where some cell did: the changes are rare and branchy, and apart they keep the caller's
    loop SIMD."""
    for c in range(c0, c1):
        is_wet = hr[c] > wet
        if is_wet != (h0r[c] > wet):
            wet_dry(r, c, is_wet, t1, a_tarr, a_dur, a_wet)


@njit(error_model="numpy", cache=True)
def horton_capacity(f0, fc, k, fe, dt):
    """Horton infiltration capacity [m] over dt, cumulative-infiltration form.

    With Fe the infiltration in excess of fc so far, Horton's ponded curve gives f = f0 - k Fe
    (never below fc); integrating dFe/dt = f - fc exactly over the step makes it stable for any
    k dt. Where supply limits infiltration, Fe grows only by what infiltrated (capacity declines
    with infiltrated water, not with clock time).
    """
    if k <= 0.0:
        return f0 * dt
    fe_max = (f0 - fc) / k
    return fc * dt + max(fe_max - fe, 0.0) * (1.0 - np.exp(-k * dt))


@njit(error_model="numpy", cache=True, inline="always")
def cell_losses(w, r, c, infil_kind, ia, ib, ic, icum, drain, has_drain, dt):
    """Infiltration (Horton: ``infil_kind`` 1, Green-Ampt: 2) then drainage over ``dt`` from the water
    ``w`` [m] of cell (r, c), each never more than is there; returns (w left, infiltrated, drained).

    The one loss rule of every scheme and time stepping, so their balances book the same volumes.
    """
    inf = 0.0
    if infil_kind == 1:
        inf = min(horton_capacity(ia[r, c], ib[r, c], ic[r, c], icum[r, c], dt), w)
        icum[r, c] += max(inf - ib[r, c] * dt, 0.0)
        w -= inf
    elif infil_kind == 2:
        inf = min(green_ampt_capacity(ia[r, c], ib[r, c], icum[r, c], dt), w)
        icum[r, c] += inf
        w -= inf
    d = 0.0
    if has_drain:
        d = min(drain[r, c] * dt, w)
        w -= d
    return w, inf, d


@njit(error_model="numpy", cache=True, inline="always")
def losses_row(r, c0, c1, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt):
    """:func:`cell_losses` over cells ``c0:c1`` of row ``r`` where there is water, the float32
    remainder ``lo`` taken in and kept (``comp``); returns the row's (infiltrated, drained) depth sums."""
    if infil_kind == 1:
        return _losses_cells(r, c0, c1, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt)
    return _losses_simd(r, c0, c1, h, lo, comp, infil_kind, ia, ib, icum, drain, has_drain, dt)


@njit(error_model="numpy", cache=True)
def _losses_cells(r, c0, c1, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt):
    """:func:`losses_row` cell by cell (Horton: its exponential is a libm call that stops SIMD)."""
    s_inf = 0.0
    s_drn = 0.0
    for c in range(c0, c1):
        w = np.float64(h[r, c])
        if comp:
            w += np.float64(lo[r, c])
        if w <= 0.0:
            continue
        w, inf, d = cell_losses(w, r, c, infil_kind, ia, ib, ic, icum, drain, has_drain, dt)
        s_inf += inf
        s_drn += d
        h[r, c] = w
        if comp:
            lo[r, c] = w - np.float64(h[r, c])
    return s_inf, s_drn


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _losses_simd(r, c0, c1, h, lo, comp, infil_kind, ia, ib, icum, drain, has_drain, dt):
    """:func:`losses_row` without Horton, branch-free so that it runs SIMD: the same numbers as
    :func:`cell_losses` cell by cell (Green-Ampt's capacity is taken everywhere and used where there
    is water; a dry cell's depth, remainder and F stay as they are, F + 0 being F). The sums are
    taken in cell order from a row buffer, so they round as the cell-by-cell sums do.

    The loop is written out once per combination of the flags (:func:`_losses_loop` inlined with
    constants): with the flags as values LLVM kept every branch in the loop, and a loss the grid
    does not have was still stored and summed (0.7 ns a cell of Green-Ampt's 3.6 alone)."""
    n = c1 - c0
    binf = np.empty(n)
    bdrn = np.empty(n)
    hr = h[r, c0:c1]
    lr = lo[r, c0:c1]
    ks = ia[r, c0:c1]
    pd = ib[r, c0:c1]
    fr = icum[r, c0:c1]
    dr = drain[r, c0:c1]
    if infil_kind == 2:
        if has_drain:
            if comp:
                return _losses_loop(hr, lr, ks, pd, fr, dr, binf, bdrn, dt, True, True, True)
            return _losses_loop(hr, lr, ks, pd, fr, dr, binf, bdrn, dt, False, True, True)
        if comp:
            return _losses_loop(hr, lr, ks, pd, fr, dr, binf, bdrn, dt, True, True, False)
        return _losses_loop(hr, lr, ks, pd, fr, dr, binf, bdrn, dt, False, True, False)
    if comp:
        return _losses_loop(hr, lr, ks, pd, fr, dr, binf, bdrn, dt, True, False, has_drain)
    return _losses_loop(hr, lr, ks, pd, fr, dr, binf, bdrn, dt, False, False, has_drain)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _losses_loop(hr, lr, ks, pd, fr, dr, binf, bdrn, dt, comp, infil, has_drain):
    """:func:`_losses_simd`'s loop over one row's cells: Green-Ampt where ``infil``, drainage where
    ``has_drain``, the float32 remainder where ``comp``; returns the (infiltrated, drained) sums."""
    n = hr.size
    for j in range(n):
        h0 = np.float64(hr[j])
        w = h0 + np.float64(lr[j]) if comp else h0
        wet = w > 0.0
        inf = 0.0
        if infil:
            inf = min(green_ampt_capacity(ks[j], pd[j], fr[j], dt), w) if wet else 0.0
            fr[j] += inf
        w -= inf
        d = 0.0
        if has_drain:
            d = min(dr[j] * dt, w) if wet else 0.0
            w -= d
        if infil:
            binf[j] = inf
        if has_drain:
            bdrn[j] = d
        hr[j] = w if wet else h0
        if comp:
            lr[j] = w - np.float64(hr[j]) if wet else lr[j]
    # A sum of zeros is 0: only the losses there are summed (two chains side by side in one loop).
    s_inf = 0.0
    s_drn = 0.0
    if infil and has_drain:
        for j in range(n):
            s_inf += binf[j]
            s_drn += bdrn[j]
    elif infil:
        for j in range(n):
            s_inf += binf[j]
    elif has_drain:
        for j in range(n):
            s_drn += bdrn[j]
    return s_inf, s_drn


@njit(error_model="numpy", cache=True)
def green_ampt_capacity(ks, psi_dtheta, f, dt):
    """Green-Ampt capacity [m] over dt: f = Ks (1 + psi dtheta / F) taken at the end of the step.

    Implicit in F, so dF solves dF (F + dF) = Ks dt (F + dF + psi dtheta): finite at F = 0 (no
    ad-hoc minimum F) and stable for large steps. Written in the cancellation-free form.
    """
    a = ks * dt
    b = f - a
    cc = a * (f + psi_dtheta)
    disc = np.sqrt(b * b + 4.0 * cc)
    if b > 0.0:
        return 2.0 * cc / (b + disc)
    return 0.5 * (disc - b)


@njit(cache=True)
def source_limited_dt(dt, hm, src, cfl_length, g):
    """The largest step <= dt with g dt^2 (hm + src dt) <= cfl_length^2 (Newton from above: convex)."""
    c2 = cfl_length * cfl_length
    for _ in range(30):
        phi = g * dt * dt * (hm + src * dt) - c2
        if phi <= 1e-9 * c2:
            break
        dt -= phi / (g * dt * (2.0 * hm + 3.0 * src * dt))
    return dt


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _sparse_accumulate(r, c, h, zb, nb, qx, qy, pf, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, do_acc):
    """Running maxima of one cell whose depth changed after the continuity sweep (``do_acc``: what
    they keep, see ACC_FULL and ACC_DEPTH)."""
    w = h[r, c]
    was_wet = not np.isnan(a_wet[r, c])
    if do_acc == ACC_DEPTH:
        a_hmax[r, c] = max(a_hmax[r, c], w)
    else:
        half = pf[P_HALF]
        ux = half * (qx[r, c] + qx[r, c + 1])
        uy = half * (qy[r, c] + qy[r + 1, c])
        d, drop = flow_depth_drop(h, zb, r, c, pf[P_HDRY], pf[P_ZERO])
        a_hmax[r, c], a_vmax[r, c], a_haz[r, c], _ = maxima(
            w, d, drop, nb[r, c], ux, uy, a_hmax[r, c], a_vmax[r, c], a_haz[r, c], pf
        )
    if (w > pf[P_WET]) != was_wet:
        wet_dry(r, c, not was_wet, t1, a_tarr, a_dur, a_wet)


@njit(error_model="numpy", cache=True)
def _fold_depths(h, rows, cols, a_hmax):
    """The depths of cells (``rows``, ``cols``) into their running maxima."""
    for k in range(rows.size):
        r = rows[k]
        c = cols[k]
        a_hmax[r, c] = max(a_hmax[r, c], h[r, c])


@njit(error_model="numpy", cache=True)
def point_inflows(
    h, lo, comp, zb, nb, qx, qy, s_row, s_col, s_ser, s_w, st, sv, cum, sptr, t, t1, dt, dx, pf, do_acc,
    a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, vols,
):  # fmt: skip
    """Add the point inflows' mean over the step [t, t1] (of length dt) to their cells (after a step's
    sweep); returns the largest depth of those cells. ``vols[1]`` receives what the state really gained [m^3]."""
    cell_area = dx * dx
    hmax = 0.0
    for k in range(s_row.size):
        r = s_row[k]
        c = s_col[k]
        qmean = (
            series_integral(st, sv, cum, sptr, s_ser[k], t1) - series_integral(st, sv, cum, sptr, s_ser[k], t)
        ) / dt
        add = qmean * s_w[k] * dt / cell_area
        # A negative inflow (abstraction) takes at most the water there.
        old = np.float64(h[r, c]) + (np.float64(lo[r, c]) if comp else 0.0)
        new = old + max(add, -old)
        h[r, c] = new
        if comp:
            lo[r, c] = new - np.float64(h[r, c])
        else:
            new = np.float64(h[r, c])
        # Account what the state really gained (float32 without the remainder rounds the sum).
        vols[1] += (new - old) * cell_area
        hmax = max(hmax, np.float64(h[r, c]))
        if do_acc:
            _sparse_accumulate(r, c, h, zb, nb, qx, qy, pf, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, do_acc)
    return hmax


@njit(error_model="numpy", cache=True)
def forced_cells(
    h, lo, comp, zb, nb, qx, qy, blocked, f_row, f_col, f_ser, st, sv, sptr, zref, t1, dx, pf, do_acc,
    a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, vols,
):  # fmt: skip
    """Set the level-forced cells to their series at t1; the volume change is boundary in/out
    (``vols[2]``, ``vols[3]``). Returns the largest depth of those cells."""
    cell_area = dx * dx
    hmax = 0.0
    for k in range(f_row.size):
        r = f_row[k]
        c = f_col[k]
        if blocked[r, c]:
            continue
        target = series_value(st, sv, sptr, f_ser[k], t1) - zref - np.float64(zb[r, c])
        old = np.float64(h[r, c])
        if comp:
            old += np.float64(lo[r, c])
            lo[r, c] = 0.0
        h[r, c] = max(target, 0.0)
        new = np.float64(h[r, c])
        d = (new - old) * cell_area
        if d > 0.0:
            vols[2] += d
        else:
            vols[3] -= d
        hmax = max(hmax, new)
        if do_acc:
            _sparse_accumulate(r, c, h, zb, nb, qx, qy, pf, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, do_acc)
    return hmax


@njit(error_model="numpy", cache=True)
def constants(h, theta, h_dry, dx, wet_depth, froude_cap, g):
    """The typed per-step constant array ``pf`` in the state's dtype (the P_* slots; the step's own
    slots P_DT, P_DTDX, P_GDT, P_RAINDT, P_LOSS_DT are filled by the time loop)."""
    pf = np.zeros(N_PF, dtype=h.dtype)
    pf[P_THETA] = theta
    pf[P_HALF1M] = 0.5 * (1.0 - theta)
    pf[P_HDRY] = h_dry
    pf[P_INVDX] = 1.0 / dx
    pf[P_WET] = wet_depth
    pf[P_ONE] = 1.0
    pf[P_FOUR] = 4.0
    pf[P_THIRD] = 1.0 / 3.0
    pf[P_HALF] = 0.5
    pf[P_ZERO] = 0.0
    pf[P_DF_DEPTH] = DEBRIS_DEPTH
    pf[P_V_DEPTH] = max(h_dry, wet_depth)
    pf[P_V_CAP2] = min(froude_cap * froude_cap * g, 1e30)  # finite: 0 * inf would be NaN
    pf[P_BIG] = 1e30
    pf[P_G] = g
    return pf


def _run_impl(
    step,
    step_chunk,
    h,
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
    b_row,
    b_col,
    b_side,
    b_kind,
    b_ser,
    b_slope,
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
    alpha,
    theta,
    h_dry,
    dt_max,
    fixed_dt,
    g,
    wet_depth,
    froude_cap,
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
    nch,
    hmax,
    vols,
    lo,
    comp,
    losses_every,
    speed_every,
):
    """Advance from t0 to exactly t_end, the whole time loop compiled (see :func:`run`).

    The first two arguments are function pointers: the sweep (parallel or one-thread) and the
    per-chunk worker it applies.

    (qx, qy) are the face fluxes, updated in place. ``nch`` row chunks share the sweep among the
    threads (a few per thread, for balance); ``hmax`` is the largest
    depth at t0. Returns (t, steps, dt_min, dt_max_seen, status, capped): ``capped`` counts the cell-steps
    whose speed was held to its bound (see :func:`maxima`); ``vols`` (float64, length 6)
    receives the interval's volumes [m^3]: rain, inflow, boundary in, boundary out, infiltration,
    drainage. status: 0 ok, 1 fixed dt above 1.5x the adaptive (Courant) step, 2 non-finite.

    ``losses_every`` (>= 1): the infiltration and drainage capacity are taken every that many steps, over
    the steps' summed time (each takes no more than the water there, and what they remove is what the
    volumes book), sooner where another step would take that time past ``dt_max`` (Green-Ampt's implicit
    step is first order in its interval: its error stays that of steps of ``dt_max``), and always at the
    call's last step, so that a call ends with every loss of its interval taken.

    ``speed_every`` (>= 1): the running maxima of speed and hazard (``do_acc`` ACC_FULL) are taken every that
    many steps and at the call's last step; the steps between keep the depth and the wet/dry timing only
    (ACC_DEPTH), so the largest depth, arrival and duration are as every step's.

    The largest depth is folded on every second lean step (and on every full one, and the call's last), over
    the depths at the start and the end of that step (ACC_TIMING, then ACC_START): the start depths are the
    step before's end depths, except in the cells a step changes after its sweep (point inflows, level-forced
    cells), which that step folds before the change. The same maximum, bit for bit, with half the lean steps
    leaving the depth maxima untouched.
    """
    ny, nx = h.shape
    cell_area = dx * dx
    bx = np.zeros((ny, 2), dtype=h.dtype)
    by = np.zeros((2, nx), dtype=h.dtype)
    snap_h = np.zeros((nch, 4, nx), dtype=h.dtype)
    snap_x = np.zeros((nch, 4, nx + 1), dtype=h.dtype)
    snap_y = np.zeros((nch, SNAP_Y_ROWS, nx), dtype=h.dtype)
    edge = np.empty((2, nch, nx + 2), dtype=h.dtype)
    edge_q = np.empty((nch, nx), dtype=h.dtype)
    part = np.zeros((nch + ny, 5))  # per chunk, then per row (see _step)
    pf = constants(h, theta, h_dry, dx, wet_depth, froude_cap, g)
    cum = series_cumulative(st, sv, sptr)
    nser = sptr.size - 1
    level_t = np.zeros(nser)
    for k in range(vols.size):
        vols[k] = 0.0
    t = t0
    steps = 0
    status = 0
    capped = 0.0
    dt_min = np.inf
    dt_min_clipped = np.inf
    dt_seen = 0.0
    # Time tolerance: an interval end closer than this is reached (no sliver steps).
    t_tol = 1e-9 * max(1.0, abs(t_end))
    loss_dt = 0.0
    loss_steps = 0
    speed_steps = 0
    left_depth = False  # the last step left its end depths to this one's maxima (ACC_TIMING)
    while t_end - t > t_tol:
        for k in range(nser):
            level_t[k] = series_value(st, sv, sptr, k, t)
        hm = hmax
        for k in range(b_row.size):
            if b_kind[k] == 2 and not blocked[b_row[k], b_col[k]]:
                hm = max(hm, level_t[b_ser[k]] - zref - np.float64(zb[b_row[k], b_col[k]]))
        dt_courant = alpha * dx / np.sqrt(g * hm) if hm > 0.0 else np.inf
        if fixed_dt > 0.0:
            if fixed_dt > 1.5 * dt_courant:
                status = 1
                break
            dt = fixed_dt
        else:
            dt = min(dt_max, dt_courant)
            # A point inflow adds q dt / A to its cell after the sweep: the step must also keep the
            # Courant number of the depth it makes there, or a first step of dt_max on a dry domain
            # stacks metres of water on one cell (a spike in the maximum depth).
            src = 0.0
            for k in range(s_row.size):
                src = max(src, series_value(st, sv, sptr, s_ser[k], t) * s_w[k] / cell_area)
            if src > 0.0:
                dt = source_limited_dt(dt, hm, src, alpha * dx, g)
        remaining = t_end - t
        # Stretch by at most 0.1 % rather than leave a sliver step before t_end.
        clipped = dt >= remaining * (1.0 - 1e-3)
        if clipped:
            dt = remaining
        t1 = t_end if clipped else t + dt
        pf[P_DT] = dt
        pf[P_DTDX] = dt / dx
        pf[P_GDT] = g * dt
        rain_mean = 0.0
        if rain_ser >= 0:
            rain_mean = (
                series_integral(st, sv, cum, sptr, rain_ser, t1) - series_integral(st, sv, cum, sptr, rain_ser, t)
            ) / dt
        pf[P_RAINDT] = rain_mean * dt
        loss_dt += dt
        loss_steps += 1
        # Also before the interval would pass dt_max (another step as long): the losses' own error (Green-Ampt's
        # implicit step is first order in its interval) stays that of a run whose steps reach dt_max.
        if loss_steps >= losses_every or t_end - t1 <= t_tol or loss_dt + dt > dt_max:
            pf[P_LOSS_DT] = loss_dt
            loss_dt = 0.0
            loss_steps = 0
        else:
            pf[P_LOSS_DT] = 0.0
        speed_steps += 1
        acc_now = do_acc
        last = t_end - t1 <= t_tol
        if do_acc == ACC_FULL and speed_steps < speed_every and not last:
            acc_now = ACC_DEPTH
        else:
            speed_steps = 0
        # The largest depth every second lean step, over the start and end depths of its step (the depths
        # the step before ended with, unless a cell's was changed after its sweep: those are folded below).
        # Half the lean steps then leave its row of maxima untouched, and the result is the same maximum.
        sweep_acc = acc_now
        skip_depth = acc_now == ACC_DEPTH and not left_depth and not last
        if skip_depth:
            sweep_acc = ACC_TIMING
        elif left_depth and acc_now != ACC_NONE:
            sweep_acc = acc_now + ACC_START

        # Boundary faces first: the sweep reads them (for the chunks' border rows too).
        boundary_momentum(
            h,
            zb,
            nb,
            blocked,
            qx,
            qy,
            bx,
            by,
            b_row,
            b_col,
            b_side,
            b_kind,
            b_ser,
            b_slope,
            level_t,
            zref,
            dt,
            g,
            dx,
            theta,
            h_dry,
        )
        _snapshot(h, qx, qy, nch, snap_h, snap_x, snap_y)
        step(
            step_chunk,
            h,
            zb,
            nb,
            qx,
            qy,
            bx,
            by,
            rainf,
            infil_kind,
            ia,
            ib,
            ic,
            icum,
            drain,
            has_drain,
            sweep_acc,
            a_hmax,
            a_vmax,
            a_haz,
            a_tarr,
            a_dur,
            a_wet,
            t1,
            nch,
            snap_h,
            snap_x,
            snap_y,
            edge,
            edge_q,
            pf,
            part,
            lo,
            comp,
        )
        _limit_chunk_edges(qy, nch, edge, edge_q)
        hmax = 0.0
        n_bad = 0.0
        s_inf = 0.0
        s_drn = 0.0
        for r in range(ny):
            s_inf += part[nch + r, S_INFIL]
            s_drn += part[nch + r, S_DRAIN]
        vols[4] += s_inf * cell_area
        vols[5] += s_drn * cell_area
        for ch in range(nch):
            n_bad += part[ch, S_BAD]
            capped += part[ch, S_CAPPED]
            hmax = max(hmax, part[ch, S_HMAX])
        vols[0] += rain_sum * np.float64(pf[P_RAINDT]) * cell_area
        left_depth = skip_depth
        if skip_depth:
            # The depths the sweep left in the cells changed below, which the next step does not see.
            _fold_depths(h, s_row, s_col, a_hmax)
            _fold_depths(h, f_row, f_col, a_hmax)

        # Point inflows (after the sweep, so its wet/dry bookkeeping saw the start-of-step depth).
        hmax = max(
            hmax,
            point_inflows(
                h, lo, comp, zb, nb, qx, qy, s_row, s_col, s_ser, s_w, st, sv, cum, sptr, t, t1, dt, dx, pf, acc_now,
                a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, vols,
            ),
        )  # fmt: skip

        # Boundary faces: volumes through them (after limiting).
        for k in range(b_row.size):
            r = b_row[k]
            c = b_col[k]
            side = b_side[k]
            if side == 0:
                vin = np.float64(qx[r, 0])
            elif side == 1:
                vin = -np.float64(qx[r, nx])
            elif side == 2:
                vin = np.float64(qy[0, c])
            else:
                vin = -np.float64(qy[ny, c])
            # The cells moved q dtdx dx^2 (dtdx in the state's dtype), not q dt dx.
            vin *= np.float64(pf[P_DTDX]) * dx * dx
            if vin > 0.0:
                vols[2] += vin
            else:
                vols[3] -= vin

        # Cells with a forced water surface: the change is boundary inflow/outflow.
        hmax = max(
            hmax,
            forced_cells(
                h, lo, comp, zb, nb, qx, qy, blocked, f_row, f_col, f_ser, st, sv, sptr, zref, t1, dx, pf, acc_now,
                a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, vols,
            ),
        )  # fmt: skip

        if clipped:
            dt_min_clipped = min(dt_min_clipped, dt)
        else:
            dt_min = min(dt_min, dt)
        dt_seen = max(dt_seen, dt)
        t = t1
        steps += 1
        if n_bad > 0 or not (hmax < np.inf):
            status = 2
            break
    if status == 0:
        t = t_end  # also when the interval was shorter than the time tolerance
    if dt_min == np.inf:
        dt_min = dt_min_clipped
    return t, steps, dt_min, dt_seen, status, capped


# One compiled time loop per argument-type combination (in practice: per state dtype).
_RUNNERS: dict = {}

# Below this many cells one thread does a step faster than several (a parallel region costs tens
# of microseconds to start, far more when the machine is busy).
PARALLEL_MIN_CELLS = 40_000


def plan(shape: tuple[int, int], threads: int) -> tuple[bool, int]:
    """(parallel, number of row chunks) for a grid: a few chunks per thread, or one serial chunk."""
    ny, nx = shape
    # At least 4 rows a chunk: a chunk's private border rows (r0-2 .. r1+1) then never reach the
    # outer faces or another chunk's border.
    nch = min(4 * threads, ny // 4)
    if threads > 1 and ny * nx >= PARALLEL_MIN_CELLS and nch > 1:
        return True, nch
    return False, 1


def is_compiled(dtype) -> bool:
    """True once the time loop for states of ``dtype`` is compiled (or loaded) in this process."""
    return np.dtype(dtype).str in _RUNNERS


def run(parallel: bool, *args):
    """Advance from t0 to exactly t_end; arguments as :func:`_run_impl` without the sweeps.

    Every array must be C-contiguous and writeable, with the dtypes of the first call for the
    same state dtype (the compiled loop refuses others rather than recompiling silently).

    The time loop calls the sweeps through function pointers (Numba first-class functions)
    instead of linking them in. Numba re-optimises every linked callee inside the caller's module,
    which made the time loop's first compile take longer than all the sweeps together; with
    pointers each sweep is optimised once (and cached), and the parallel and the one-thread sweeps
    share one compiled time loop.
    """
    # The caller hands over C-contiguous writeable arrays of fixed dtypes, so the state dtype
    # decides every type (typeof on all the arguments would cost milliseconds per call).
    key = args[0].dtype.str
    entry = _RUNNERS.get(key)
    if entry is None:
        entry = _compile_runner(tuple(typeof(a) for a in args))
        _RUNNERS[key] = entry
    runner, parallel_sweep, serial_sweep, worker = entry
    return runner(parallel_sweep if parallel else serial_sweep, worker, *args)


class _SweepPointer(WrapperAddressProtocol):
    """A compiled sweep as a first-class function, its address looked up once.

    Passing the dispatcher itself works too, but Numba then resolves its address on every call
    (milliseconds, as long as a short interval's whole time loop).
    """

    def __init__(self, dispatcher, sig):
        dispatcher.compile(sig.args)
        self._addr = _get_wrapper_address(dispatcher, sig)
        self._sig = sig
        self._dispatcher = dispatcher  # keeps the compiled code alive

    def __wrapper_address__(self):
        return self._addr

    def signature(self):
        return self._sig


def _compile_runner(argtypes):
    """Compile :func:`_run_impl` for these argument types, with the sweeps as function pointers."""
    h, qx, qy = argtypes[0], argtypes[1], argtypes[2]
    zb, nb, rainf = argtypes[3], argtypes[4], argtypes[6]
    infil_kind, ia, ib, ic, icum, drain, has_drain = argtypes[9:16]
    do_acc = argtypes[44]
    acc = argtypes[45:51]
    lo, comp = argtypes[-4], argtypes[-3]  # then losses_every, speed_every
    # Arrays _run_impl allocates itself.
    row = types.Array(h.dtype, 1, "C")
    cube = types.Array(h.dtype, 3, "C")
    part = types.Array(types.float64, 2, "C")
    i64 = types.int64
    mat = types.Array(h.dtype, 2, "C")
    worker_sig = types.void(
        i64,
        h,
        zb,
        nb,
        qx,
        qy,
        mat,
        mat,
        rainf,
        infil_kind,
        ia,
        ib,
        ic,
        icum,
        drain,
        has_drain,
        do_acc,
        *acc,
        types.float64,
        i64,
        cube,
        cube,
        cube,
        cube,
        mat,
        row,
        part,
        lo,
        comp,
    )
    # The sweep takes its worker as a pointer too, so the worker is optimised once, not again inside
    # each sweep that calls it.
    sweep_sig = types.void(types.FunctionType(worker_sig), *worker_sig.args[1:])
    worker = _SweepPointer(_step_chunk, worker_sig)
    parallel = _SweepPointer(_step, sweep_sig)
    serial = _SweepPointer(_step_serial, sweep_sig)
    runner = njit(error_model="numpy", cache=True)(_run_impl)
    with warnings.catch_warnings():
        # First-class function types are marked experimental; this use (a fixed signature, called
        # by pointer) is the documented one.
        warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
        runner.compile((types.FunctionType(sweep_sig), types.FunctionType(worker_sig)) + tuple(argtypes))
    # No silent recompiles for other types: a mismatch is a bug in the caller.
    runner.disable_compile()
    return runner, parallel, serial, worker


@njit(parallel=True, error_model="numpy", cache=True)
def accum_open(h, zb, nb, qx, qy, blocked, t0, pf, a_hmax, a_vmax, a_haz, a_tarr, a_wet, do_acc):
    """Fold the state at the start of an interval into the running maxima and wet/dry bookkeeping.

    zb, nb: the bed and Manning's n as :func:`prepare` leaves them; pf: :func:`constants`;
    do_acc: what the maxima keep (ACC_FULL, ACC_DEPTH).
    """
    ny, nx = h.shape
    nch = min(ny, 64)
    for k in prange(nch):
        _open_rows(
            k * ny // nch,
            (k + 1) * ny // nch,
            h,
            zb,
            nb,
            qx,
            qy,
            blocked,
            t0,
            pf,
            a_hmax,
            a_vmax,
            a_haz,
            a_tarr,
            a_wet,
            do_acc,
        )


@njit(fastmath=FASTMATH_EXACT, error_model="numpy", cache=True)
def _open_rows(r0, r1, h, zb, nb, qx, qy, blocked, t0, pf, a_hmax, a_vmax, a_haz, a_tarr, a_wet, do_acc):
    """:func:`_open_cell` of every open cell of rows r0..r1, a row at a time in loops that vectorise
    (the cell-by-cell calls took about 250 ns a cell: 60 ms a call on the demo's 500 x 500 grid, at
    every run's start and every snapshot's speed frame). The same numbers: a cell's largest flow
    depth and drop are the maxima of the same :func:`face_depth_drop` values (a face the grid does
    not have counts 0, as in :func:`flow_depth_drop`), and :func:`maxima` rounds the same inlined."""
    _simd_512()
    ny, nx = h.shape
    hdry = pf[P_HDRY]
    zero = pf[P_ZERO]
    half = pf[P_HALF]
    wet = pf[P_WET]
    fx = np.zeros(nx + 1, dtype=h.dtype)
    sx = np.zeros(nx + 1, dtype=h.dtype)
    db = np.empty(nx, dtype=h.dtype)
    pb = np.empty(nx, dtype=h.dtype)
    for r in range(r0, r1):
        hr = h[r]
        zr = zb[r]
        bl = blocked[r]
        if do_acc == ACC_DEPTH:
            hm = a_hmax[r]
            for c in range(nx):
                hm[c] = hm[c] if bl[c] else max(hm[c], hr[c])
        else:
            _face_drops(hr[:-1], hr[1:], zr[:-1], zr[1:], hdry, zero, fx[1:nx], sx[1:nx])
            # the faces north and south (none at the grid's edge: 0, as flow_depth_drop leaves them)
            hn, zn, has_n = (h[r - 1], zb[r - 1], True) if r > 0 else (hr, zr, False)
            hs, zs, has_s = (h[r + 1], zb[r + 1], True) if r + 1 < ny else (hr, zr, False)
            for c in range(nx):
                w = hr[c]
                dn, sn = face_depth_drop(hn[c], w, zn[c], zr[c], hdry, zero)
                ds, ss = face_depth_drop(w, hs[c], zr[c], zs[c], hdry, zero)
                dn, sn = (dn, sn) if has_n else (zero, zero)
                ds, ss = (ds, ss) if has_s else (zero, zero)
                db[c] = max(max(w, max(fx[c], fx[c + 1])), max(dn, ds))
                pb[c] = max(max(sx[c], sx[c + 1]), max(sn, ss))
            hm, vm, hz, qxr, qn, qs, nbr = a_hmax[r], a_vmax[r], a_haz[r], qx[r], qy[r], qy[r + 1], nb[r]
            for c in range(nx):
                ux = half * (qxr[c] + qxr[c + 1])
                uy = half * (qn[c] + qs[c])
                m, v, z, _ = _maxima_inline(hr[c], db[c], pb[c], nbr[c], ux, uy, hm[c], vm[c], hz[c], pf)
                keep = bl[c] != 0
                hm[c] = hm[c] if keep else m
                vm[c] = vm[c] if keep else v
                hz[c] = hz[c] if keep else z
        # the wet/dry bookkeeping: branchy, float64, rare to change
        for c in range(nx):
            if bl[c]:
                continue
            if hr[c] > wet:
                if np.isnan(a_wet[r, c]):
                    a_wet[r, c] = t0
                if np.isnan(a_tarr[r, c]):
                    a_tarr[r, c] = t0
            else:
                a_wet[r, c] = np.nan


@njit(error_model="numpy", cache=True)
def _open_cell(h, zb, nb, qx, qy, r, c, t0, pf, a_hmax, a_vmax, a_haz, a_tarr, a_wet, do_acc):
    w = h[r, c]
    if do_acc == ACC_DEPTH:
        a_hmax[r, c] = max(a_hmax[r, c], w)
    else:
        ux = pf[P_HALF] * (qx[r, c] + qx[r, c + 1])
        uy = pf[P_HALF] * (qy[r, c] + qy[r + 1, c])
        d, drop = flow_depth_drop(h, zb, r, c, pf[P_HDRY], pf[P_ZERO])
        a_hmax[r, c], a_vmax[r, c], a_haz[r, c], _ = maxima(
            w, d, drop, nb[r, c], ux, uy, a_hmax[r, c], a_vmax[r, c], a_haz[r, c], pf
        )
    if w > pf[P_WET]:
        if np.isnan(a_wet[r, c]):
            a_wet[r, c] = t0
        if np.isnan(a_tarr[r, c]):
            a_tarr[r, c] = t0
    else:
        a_wet[r, c] = np.nan


@njit(error_model="numpy", cache=True)
def reopen(h, h_end, qx, qy, zb, nb, blocked, t0, pf, cont, a_hmax, a_vmax, a_haz, a_tarr, a_wet, lo, do_acc):
    """The per-call part of :func:`prepare` and :func:`accum_open` for a state the last call left.

    One pass over the depths (:func:`_reopen_rows`, rows in parallel): check them, zero blocked
    cells, find the largest, and mark the rows where a depth differs from ``h_end`` (what the last
    call left: the caller changed them, e.g. a sewer exchange). Only those cells and their
    neighbours (their flow depths changed) are folded into the accumulators, one thread, in row
    order; the others were folded at the last call's end (``cont``; ``do_acc``: what the
    accumulators keep). Returns (problem code, largest depth).
    """
    ny, nx = h.shape
    row_bad = np.zeros(ny, dtype=np.uint8)
    row_changed = np.zeros(ny, dtype=np.uint8)
    row_max = np.zeros(ny)
    _reopen_rows(h, h_end, blocked, lo, cont, row_bad, row_changed, row_max)
    hmax = 0.0
    for r in range(ny):
        if row_bad[r]:
            return BAD_DEPTH, 0.0
        hmax = max(hmax, row_max[r])
    if cont:
        for r in range(ny):
            if not row_changed[r]:
                continue
            for c in range(nx):
                _refold(h, h_end, zb, nb, qx, qy, blocked, r, c, t0, pf, a_hmax, a_vmax, a_haz, a_tarr, a_wet, do_acc)
    return 0, hmax


@njit(error_model="numpy", cache=True)
def _refold(h, h_end, zb, nb, qx, qy, blocked, r, c, t0, pf, a_hmax, a_vmax, a_haz, a_tarr, a_wet, do_acc):
    """Where the caller changed cell (r, c)'s depth since ``h_end``: fold it and its open neighbours
    (their flow depths changed) into the accumulators again. Idempotent (largest values, wet/dry
    from the depth now): repeats and overlaps are harmless."""
    if h[r, c] == h_end[r, c]:
        return
    ny, nx = h.shape
    for rr, cc in ((r, c), (r, c - 1), (r, c + 1), (r - 1, c), (r + 1, c)):
        if 0 <= rr < ny and 0 <= cc < nx and not blocked[rr, cc]:
            _open_cell(h, zb, nb, qx, qy, rr, cc, t0, pf, a_hmax, a_vmax, a_haz, a_tarr, a_wet, do_acc)


@njit(parallel=True, error_model="numpy", cache=True)
def _reopen_rows(h, h_end, blocked, lo, cont, row_bad, row_changed, row_max):
    """:func:`reopen`'s pass over the grid, rows in parallel: blocked cells zeroed, and per row a
    flag for a bad depth, a flag for a depth that differs from ``h_end`` (if ``cont``) and the
    largest depth. Serial, it held the other threads idle 0.7-2.3 ms a call (at different loads), a
    good part of a step's time on two threads, and the sewer coupling calls every 5 s."""
    ny, nx = h.shape
    for r in prange(ny):
        bad = False
        changed = False
        hm = 0.0
        for c in range(nx):
            if blocked[r, c]:
                h[r, c] = 0.0
                lo[r, c] = 0.0
                continue
            hh = np.float64(h[r, c])
            bad = bad or not (hh >= 0.0 and hh < np.inf and np.isfinite(lo[r, c]))
            hm = max(hm, hh)
            changed = changed or (cont and h[r, c] != h_end[r, c])
        row_bad[r] = bad
        row_changed[r] = changed
        row_max[r] = hm


@njit(error_model="numpy", cache=True)
def reopen_cells(
    h, h_end, lo, qx, qy, zb, nb, blocked, t0, pf, rows, cols, end_max, a_hmax, a_vmax, a_haz, a_tarr, a_wet, do_acc
):
    """:func:`reopen` for a caller that says which cells it changed since the last call: (rows, cols)
    (repeats allowed), all others as the last call left them (``h_end``, whose largest depth over the
    open cells is ``end_max``, :func:`close_call`). Only those cells are checked, zeroed if blocked, and
    (where their depth differs from ``h_end``) folded with their neighbours into the accumulators.

    The largest depth is ``end_max`` raised by the changed cells: exact, unless a changed cell held
    ``end_max`` and went down (the largest may then lie anywhere): then RESCAN (the caller makes the
    full pass). Returns (problem code, largest depth), as :func:`reopen`.
    """
    hmax = end_max
    rescan = False
    for k in range(rows.size):
        r = rows[k]
        c = cols[k]
        if blocked[r, c]:
            h[r, c] = 0.0
            lo[r, c] = 0.0
            continue
        hh = np.float64(h[r, c])
        if not (hh >= 0.0 and hh < np.inf and np.isfinite(lo[r, c])):
            return BAD_DEPTH, 0.0
        old = np.float64(h_end[r, c])
        rescan = rescan or (old == end_max and hh < old)
        hmax = max(hmax, hh)
    if rescan:
        return RESCAN, 0.0
    for k in range(rows.size):
        _refold(
            h, h_end, zb, nb, qx, qy, blocked, rows[k], cols[k], t0, pf, a_hmax, a_vmax, a_haz, a_tarr, a_wet, do_acc
        )
    return 0, hmax


# Codes of the first problem prepare() finds in the inputs (0: none).
BAD_Z, BAD_MANNING, BAD_RAIN, BAD_DRAIN, BAD_INFIL, BAD_DEPTH = 1, 2, 3, 4, 5, 6
# reopen_cells: the largest depth is not known from the changed cells; make the full pass
RESCAN = 7


@njit(error_model="numpy", cache=True)
def prepare(z, manning, blocked, rain_field, drain, infil_kind, ia, ib, ic, h, zb, nb, rainf, lo):
    """Check the static inputs and build the kernel's working copies, in two passes.

    Fills zb (bed relative to the lowest open cell, BLOCKED_Z on blocked cells), nb (Manning),
    rainf (rain map, 0 on blocked cells) and zeroes h on blocked cells. Returns (problem code,
    zref, rain-map sum, largest depth, any drainage).
    """
    ny, nx = z.shape
    zref = np.inf
    has_drain = False
    for r in range(ny):
        for c in range(nx):
            d = drain[r, c]
            if not (d >= 0.0 and d < np.inf):
                return BAD_DRAIN, 0.0, 0.0, 0.0, False
            has_drain = has_drain or d > 0.0
            rf = rain_field[r, c]
            if not (rf >= 0.0 and rf < np.inf):
                return BAD_RAIN, 0.0, 0.0, 0.0, False
            if infil_kind != 0:
                a = ia[r, c]
                b = ib[r, c]
                k = ic[r, c]
                ok = a >= 0.0 and a < np.inf and b >= 0.0 and b < np.inf and k >= 0.0 and k < np.inf
                if not ok or (infil_kind == 1 and a < b):
                    return BAD_INFIL, 0.0, 0.0, 0.0, False
            if blocked[r, c]:
                continue
            hh = np.float64(h[r, c])
            if not (hh >= 0.0 and hh < np.inf and np.isfinite(lo[r, c])):
                return BAD_DEPTH, 0.0, 0.0, 0.0, False
            zz = np.float64(z[r, c])
            if not np.isfinite(zz):
                return BAD_Z, 0.0, 0.0, 0.0, False
            n = manning[r, c]
            if not (n >= 0.0 and n < np.inf):
                return BAD_MANNING, 0.0, 0.0, 0.0, False
            zref = min(zref, zz)
    if zref == np.inf:
        zref = 0.0
    rain_sum = 0.0
    hmax = 0.0
    for r in range(ny):
        for c in range(nx):
            if blocked[r, c]:
                zb[r, c] = BLOCKED_Z
                nb[r, c] = 0.0
                rainf[r, c] = 0.0
                h[r, c] = 0.0
                lo[r, c] = 0.0
            else:
                zb[r, c] = np.float64(z[r, c]) - zref
                nb[r, c] = manning[r, c]
                rainf[r, c] = rain_field[r, c]
                # Sum what the kernel will add (rounded to the state dtype), so volumes match.
                rain_sum += np.float64(rainf[r, c])
                hmax = max(hmax, np.float64(h[r, c]))
    return 0, zref, rain_sum, hmax, has_drain


@njit(parallel=True, error_model="numpy", cache=True)
def accum_close(t, a_dur, a_wet):
    """Credit the wet time up to t to the duration of the cells wet now (they stay tracked).

    Once per :func:`run` call, over the whole grid: in parallel rows, and without branches (every
    cell stored, NaN kept where dry) so the row loop vectorises; it was a tenth of a short call.
    """
    ny, nx = a_wet.shape
    for r in prange(ny):
        for c in range(nx):
            ws = a_wet[r, c]
            wet = ws == ws  # not NaN
            a_dur[r, c] += (t - ws) if wet else 0.0
            a_wet[r, c] = t if wet else ws


@njit(parallel=True, error_model="numpy", cache=True)
def close_call(t, a_dur, a_wet, h, h_end, blocked):
    """:func:`accum_close`, and in the same pass over the rows: ``h`` copied to ``h_end`` (what the next
    call compares with to see what its caller changed) and the largest depth over the open cells (the
    next call's starting point, :func:`reopen_cells`). One pass instead of three: the wet durations,
    the copy, and a whole pass of :func:`reopen` at the next call. Returns the largest depth."""
    ny, nx = a_wet.shape
    row_max = np.zeros(ny)
    for r in prange(ny):
        dr = a_dur[r]
        wr = a_wet[r]
        for c in range(nx):
            ws = wr[c]
            wet = ws == ws  # not NaN
            dr[c] += (t - ws) if wet else 0.0
            wr[c] = t if wet else ws
        row_max[r] = _copy_max(h[r], h_end[r], blocked[r])
    return np.max(row_max)


@njit(fastmath={"nnan", "ninf", "nsz"}, error_model="numpy", cache=True)
def _copy_max(hr, er, br):
    """``hr`` copied to ``er``, and the largest of ``hr`` where ``br`` is 0 (as float64), taken in the
    state's dtype (the same number) over four running maxima: one alone is a chain of dependent
    ``max`` (LLVM does not vectorise the reduction), 0.23 against 0.13 ms on a 500 x 500 grid."""
    zero = hr[0] * 0
    m0 = m1 = m2 = m3 = zero
    n = hr.size
    n4 = n - n % 4
    for c in range(0, n4, 4):
        v0, v1, v2, v3 = hr[c], hr[c + 1], hr[c + 2], hr[c + 3]
        er[c], er[c + 1], er[c + 2], er[c + 3] = v0, v1, v2, v3
        m0 = max(m0, zero if br[c] else v0)
        m1 = max(m1, zero if br[c + 1] else v1)
        m2 = max(m2, zero if br[c + 2] else v2)
        m3 = max(m3, zero if br[c + 3] else v3)
    for c in range(n4, n):
        v0 = hr[c]
        er[c] = v0
        m0 = max(m0, zero if br[c] else v0)
    return np.float64(max(max(m0, m1), max(m2, m3)))
