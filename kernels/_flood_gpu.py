"""GPU time loop of the local-inertial flood solver (numba-cuda). Private: use :mod:`kernels.flood`
with ``device="gpu"``.

The same scheme, state and outputs as :mod:`kernels._flood_core`, as a few kernels per step:

1. ``_k_faces``: the new face fluxes of the interior faces from the start-of-step state (one thread
   per cell corner: its x-face and its y-face), closed outer faces; ``_k_boundary`` then the open
   boundary faces (one thread, the few faces in order).
2. ``_k_factors``: each cell's positivity factor (its outgoing face volumes scaled to its water).
3. ``_k_update``: limited fluxes, depth update summed in float64 with the rounding remainder
   carried (as the CPU kernel does for float32), rain, infiltration, drainage, the running maxima,
   and the block's largest depth for the next time step.
4. One-thread kernels for what the CPU also does serially: point inflows, boundary-face volumes,
   level-forced cells.

Face arithmetic runs in float64 (the GPU is memory-bound; the state stays in its dtype), so depths
agree with the CPU kernel to float rounding, not bit for bit. The state lives on the device for the
whole :func:`run` call; the host keeps the time loop (the step needs the largest depth: one 8-byte
copy per step) and the series. Per-cell infiltration and drainage are summed into float64 arrays
and reduced once per call, so volumes are exact float64 sums of what the depths lost.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ._series import series_cumulative, series_integral, series_value

_BLOCK = 16  # threads per block side: 256 threads, one per cell of a 16 x 16 tile
_TILE = _BLOCK * _BLOCK  # a compile-time constant for the shared reduction array


def available() -> bool:
    """True when numba-cuda finds a usable GPU (or runs under its simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver install is "no GPU" here; the caller names it
        return False


def device_name() -> str:
    """The current GPU's name (the simulator says so)."""
    name = getattr(cuda.get_current_device(), "name", None)
    if name is None:
        return "Numba CUDA simulator"
    return name.decode() if isinstance(name, bytes) else str(name)


@cuda.jit(device=True, inline=True)
def _pow_m7_3(x):
    return 1.0 / (x * x * math.pow(x, 1.0 / 3.0))


@cuda.jit(device=True, inline=True)
def _face_flux(q, qm, qp, hl, hr, zl, zr, nl, nr, gdt, theta, half1m, invdx, hdry):
    el = hl + zl
    er = hr + zr
    hf = max(el, er) - max(zl, zr)
    if hf <= hdry:
        return 0.0
    nf = 0.5 * (nl + nr)
    num = theta * q + half1m * (qm + qp) - gdt * hf * (er - el) * invdx
    # Backward-Euler Manning friction, as the CPU sweep (see _flood_core.face_flux).
    a = gdt * nf * nf * abs(num) * _pow_m7_3(max(hf, hdry))
    return num / (0.5 + 0.5 * math.sqrt(1.0 + 4.0 * a))


@cuda.jit
def _k_faces(h, zb, nb, qx, qy, qx_new, qy_new, gdt, theta, half1m, invdx, hdry):
    """New fluxes of x-face (r, c) and y-face (r, c); the outer faces closed (0)."""
    c, r = cuda.grid(2)  # threadIdx.x runs along a row: neighbouring threads read neighbouring cells
    ny, nx = h.shape
    if r < ny and c <= nx:
        if c == 0 or c == nx:
            qx_new[r, c] = 0.0
        else:
            qx_new[r, c] = _face_flux(
                float(qx[r, c]),
                float(qx[r, c - 1]),
                float(qx[r, c + 1]),
                float(h[r, c - 1]),
                float(h[r, c]),
                float(zb[r, c - 1]),
                float(zb[r, c]),
                float(nb[r, c - 1]),
                float(nb[r, c]),
                gdt,
                theta,
                half1m,
                invdx,
                hdry,
            )
    if r <= ny and c < nx:
        if r == 0 or r == ny:
            qy_new[r, c] = 0.0
        else:
            qy_new[r, c] = _face_flux(
                float(qy[r, c]),
                float(qy[r - 1, c]),
                float(qy[r + 1, c]),
                float(h[r - 1, c]),
                float(h[r, c]),
                float(zb[r - 1, c]),
                float(zb[r, c]),
                float(nb[r - 1, c]),
                float(nb[r, c]),
                gdt,
                theta,
                half1m,
                invdx,
                hdry,
            )


@cuda.jit
def _k_boundary(
    h,
    zb,
    nb,
    blocked,
    qx,
    qy,
    qx_new,
    qy_new,
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
):  # noqa: E501
    """The open boundary faces (as _flood_core._boundary_momentum), one thread in face order."""
    if cuda.grid(1) != 0:
        return
    ny, nx = h.shape
    half1m = 0.5 * (1.0 - theta)
    for k in range(b_row.size):
        r = b_row[k]
        c = b_col[k]
        if blocked[r, c]:
            continue
        side = b_side[k]
        outward = -1.0 if (side == 0 or side == 2) else 1.0
        hc = float(h[r, c])
        n = float(nb[r, c])
        q = 0.0
        if b_kind[k] == 1:
            if hc > hdry:
                q = outward * math.pow(hc, 5.0 / 3.0) * math.sqrt(b_slope[k]) / n
        else:
            zc = float(zb[r, c])
            ec = hc + zc
            eg = level_t[b_ser[k]] - zref
            hf = max(ec, eg) - zc
            if hf > hdry:
                if side == 0:
                    qo = float(qx[r, 0])
                    qi = float(qx[r, 1])
                elif side == 1:
                    qo = float(qx[r, nx])
                    qi = float(qx[r, nx - 1])
                elif side == 2:
                    qo = float(qy[0, c])
                    qi = float(qy[1, c])
                else:
                    qo = float(qy[ny, c])
                    qi = float(qy[ny - 1, c])
                slope = outward * (eg - ec) / dx
                num = theta * qo + half1m * (qo + qi) - g * dt * hf * slope
                a = g * dt * n * n * abs(num) / math.pow(hf, 7.0 / 3.0)
                q = num / (0.5 + 0.5 * math.sqrt(1.0 + 4.0 * a))
        if side == 0:
            qx_new[r, 0] = q
        elif side == 1:
            qx_new[r, nx] = q
        elif side == 2:
            qy_new[0, c] = q
        else:
            qy_new[ny, c] = q


@cuda.jit
def _k_factors(h, qx, qy, dtdx, fac):
    """Positivity factor of each cell: its outgoing volumes scaled down to the water it holds."""
    c, r = cuda.grid(2)  # threadIdx.x runs along a row: neighbouring threads read neighbouring cells
    ny, nx = h.shape
    if r < ny and c < nx:
        o = (
            max(-float(qx[r, c]), 0.0)
            + max(float(qx[r, c + 1]), 0.0)
            + max(-float(qy[r, c]), 0.0)
            + max(float(qy[r + 1, c]), 0.0)
        ) * dtdx
        hc = float(h[r, c])
        fac[r, c] = hc / o if o > hc else 1.0


@cuda.jit(device=True, inline=True)
def _donor(fac, r, c, ny, nx):
    """The factor of cell (r, c), 1 outside the grid (ghost cells)."""
    if 0 <= r < ny and 0 <= c < nx:
        return fac[r, c]
    return 1.0


@cuda.jit(device=True, inline=True)
def _depth_drop(hl, hr, zl, zr, hdry):
    el = hl + zl
    er = hr + zr
    hf = max(el, er) - max(zl, zr)
    return max(hf, 0.0), (abs(el - er) if hf > hdry else 0.0)


@cuda.jit(device=True, inline=True)
def _maxima(w, d, drop, n, ux, uy, hdry, vdepth, invdx, vcap2, g, dfdepth):
    """(speed, hazard, capped) of a cell, as _flood_core._maxima."""
    dd = max(d, hdry)
    s2 = (ux * ux + uy * uy) / (dd * dd) if w > vdepth else 0.0
    nn = n * n * dd * _pow_m7_3(dd)
    manning2 = drop * invdx / nn if nn > 0.0 else 1e30
    g_eff = min(g, invdx / nn) if nn > 0.0 else g
    cap2 = max(vcap2 / g * g_eff * dd, manning2)
    spd = math.sqrt(min(s2, cap2))
    hazard = w * (spd + 0.5) + (1.0 if w > dfdepth else 0.0)
    return spd, hazard, (1 if s2 > cap2 else 0)


@cuda.jit(device=True, inline=True)
def _horton(f0, fc, k, fe, dt):
    if k <= 0.0:
        return f0 * dt
    fe_max = (f0 - fc) / k
    return fc * dt + max(fe_max - fe, 0.0) * (1.0 - math.exp(-k * dt))


@cuda.jit(device=True, inline=True)
def _green_ampt(ks, psi_dtheta, f, dt):
    a = ks * dt
    b = f - a
    cc = a * (f + psi_dtheta)
    disc = math.sqrt(b * b + 4.0 * cc)
    if b > 0.0:
        return 2.0 * cc / (b + disc)
    return 0.5 * (disc - b)


@cuda.jit
def _k_update(
    h0,
    h,
    lo,
    zb,
    nb,
    qx,
    qy,
    qx_out,
    qy_out,
    fac,
    rainf,
    raindt,
    dtdx,
    dt,
    infil_kind,
    ia,
    ib,
    ic,
    icum,
    drain,
    has_drain,
    s_inf,
    s_drn,
    do_acc,
    a_hmax,
    a_vmax,
    a_haz,
    a_tarr,
    a_dur,
    a_wet,
    t1,
    cst,
    red,
):
    """Limited fluxes, the depth update with losses, the running maxima; the block's largest depth.

    h0: start-of-step depths (read); h: new depths (written); qx, qy: unlimited new fluxes;
    qx_out, qy_out: the limited ones (the state's). red[0]: largest depth (atomic max), red[1]:
    non-finite depths, red[2]: speed-capped cells. cst: h_dry, wet_depth, speed depth, 1/dx,
    Fr^2 g, g, debris-factor depth.
    """
    c, r = cuda.grid(2)  # threadIdx.x runs along a row: neighbouring threads read neighbouring cells
    ny, nx = h.shape
    tid = cuda.threadIdx.y * cuda.blockDim.x + cuda.threadIdx.x
    smax = cuda.shared.array(_TILE, np.float64)
    wnew = 0.0
    if r < ny and c < nx:
        qw = float(qx[r, c])
        qw = qw * (_donor(fac, r, c - 1, ny, nx) if qw > 0.0 else fac[r, c])
        qe = float(qx[r, c + 1])
        qe = qe * (fac[r, c] if qe > 0.0 else _donor(fac, r, c + 1, ny, nx))
        qn = float(qy[r, c])
        qn = qn * (_donor(fac, r - 1, c, ny, nx) if qn > 0.0 else fac[r, c])
        qs = float(qy[r + 1, c])
        qs = qs * (fac[r, c] if qs > 0.0 else _donor(fac, r + 1, c, ny, nx))
        qx_out[r, c] = qw
        qy_out[r, c] = qn
        if c == nx - 1:
            qx_out[r, nx] = qe
        if r == ny - 1:
            qy_out[ny, c] = qs
        w0 = float(h0[r, c])
        w = (w0 + float(lo[r, c])) + (dtdx * ((qw - qe) + (qn - qs)) + float(rainf[r, c]) * raindt)
        if w > 0.0:
            if infil_kind == 1:
                inf = min(_horton(ia[r, c], ib[r, c], ic[r, c], icum[r, c], dt), w)
                icum[r, c] += max(inf - ib[r, c] * dt, 0.0)
                w -= inf
                s_inf[r, c] += inf
            elif infil_kind == 2:
                inf = min(_green_ampt(ia[r, c], ib[r, c], icum[r, c], dt), w)
                icum[r, c] += inf
                w -= inf
                s_inf[r, c] += inf
            if has_drain:
                d = min(drain[r, c] * dt, w)
                w -= d
                s_drn[r, c] += d
        h[r, c] = max(w, 0.0)
        lo[r, c] = w - float(h[r, c])
        wnew = float(h[r, c])
        if not (wnew < math.inf):  # NaN or infinite
            red[1] = 1.0
        if do_acc:
            hdry = cst[0]
            zc = float(zb[r, c])
            d = max(wnew, w0)
            drop = 0.0
            if c > 0:
                f, s = _depth_drop(float(h0[r, c - 1]), w0, float(zb[r, c - 1]), zc, hdry)
                d = max(d, f)
                drop = max(drop, s)
            if c + 1 < nx:
                f, s = _depth_drop(w0, float(h0[r, c + 1]), zc, float(zb[r, c + 1]), hdry)
                d = max(d, f)
                drop = max(drop, s)
            if r > 0:
                f, s = _depth_drop(float(h0[r - 1, c]), w0, float(zb[r - 1, c]), zc, hdry)
                d = max(d, f)
                drop = max(drop, s)
            if r + 1 < ny:
                f, s = _depth_drop(w0, float(h0[r + 1, c]), zc, float(zb[r + 1, c]), hdry)
                d = max(d, f)
                drop = max(drop, s)
            spd, haz, cap = _maxima(
                wnew, d, drop, float(nb[r, c]), 0.5 * (qw + qe), 0.5 * (qn + qs), hdry, cst[2], cst[3], cst[4],
                cst[5], cst[6],
            )  # fmt: skip
            a_hmax[r, c] = max(a_hmax[r, c], wnew)
            a_vmax[r, c] = max(a_vmax[r, c], spd)
            a_haz[r, c] = max(a_haz[r, c], haz)
            if cap:
                cuda.atomic.add(red, 2, 1.0)
            wet = cst[1]
            if (wnew > wet) != (w0 > wet):
                if wnew > wet:
                    a_wet[r, c] = t1
                    if math.isnan(a_tarr[r, c]):
                        a_tarr[r, c] = t1
                else:
                    a_dur[r, c] += t1 - a_wet[r, c]
                    a_wet[r, c] = math.nan
    # The block's largest depth, then one atomic per block.
    smax[tid] = wnew if wnew < math.inf else 0.0
    cuda.syncthreads()
    s = _TILE // 2
    while s > 0:
        if tid < s:
            smax[tid] = max(smax[tid], smax[tid + s])
        cuda.syncthreads()
        s //= 2
    if tid == 0:
        cuda.atomic.max(red, 0, smax[0])


@cuda.jit(device=True, inline=True)
def _refresh_cell(r, c, h, zb, nb, qx, qy, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, cst):
    """Running maxima of one cell changed after the update (as _flood_core._sparse_accumulate)."""
    ny, nx = h.shape
    hdry = cst[0]
    w = float(h[r, c])
    zc = float(zb[r, c])
    d = w
    drop = 0.0
    if c > 0:
        f, s = _depth_drop(float(h[r, c - 1]), w, float(zb[r, c - 1]), zc, hdry)
        d = max(d, f)
        drop = max(drop, s)
    if c + 1 < nx:
        f, s = _depth_drop(w, float(h[r, c + 1]), zc, float(zb[r, c + 1]), hdry)
        d = max(d, f)
        drop = max(drop, s)
    if r > 0:
        f, s = _depth_drop(float(h[r - 1, c]), w, float(zb[r - 1, c]), zc, hdry)
        d = max(d, f)
        drop = max(drop, s)
    if r + 1 < ny:
        f, s = _depth_drop(w, float(h[r + 1, c]), zc, float(zb[r + 1, c]), hdry)
        d = max(d, f)
        drop = max(drop, s)
    ux = 0.5 * (float(qx[r, c]) + float(qx[r, c + 1]))
    uy = 0.5 * (float(qy[r, c]) + float(qy[r + 1, c]))
    spd, haz, _ = _maxima(w, d, drop, float(nb[r, c]), ux, uy, hdry, cst[2], cst[3], cst[4], cst[5], cst[6])
    a_hmax[r, c] = max(a_hmax[r, c], w)
    a_vmax[r, c] = max(a_vmax[r, c], spd)
    a_haz[r, c] = max(a_haz[r, c], haz)
    was_wet = not math.isnan(a_wet[r, c])
    if (w > cst[1]) != was_wet:
        if not was_wet:
            a_wet[r, c] = t1
            if math.isnan(a_tarr[r, c]):
                a_tarr[r, c] = t1
        else:
            a_dur[r, c] += t1 - a_wet[r, c]
            a_wet[r, c] = math.nan


@cuda.jit
def _k_serial(
    h,
    lo,
    zb,
    nb,
    blocked,
    qx,
    qy,
    s_row,
    s_col,
    s_add,
    b_row,
    b_col,
    b_side,
    f_row,
    f_col,
    f_target,
    dtdx,
    dx,
    do_acc,
    a_hmax,
    a_vmax,
    a_haz,
    a_tarr,
    a_dur,
    a_wet,
    t1,
    cst,
    red,
    vols,
):
    """Point inflows, boundary-face volumes and level-forced cells, in the CPU kernel's order.

    One thread: these lists are short, and two entries may share a cell.
    """
    if cuda.grid(1) != 0:
        return
    ny, nx = h.shape
    area = dx * dx
    for k in range(s_row.size):
        r = s_row[k]
        c = s_col[k]
        old = float(h[r, c]) + float(lo[r, c])
        new = old + max(s_add[k], -old)
        h[r, c] = new
        lo[r, c] = new - float(h[r, c])
        vols[1] += (new - old) * area
        red[0] = max(red[0], float(h[r, c]))
        if do_acc:
            _refresh_cell(r, c, h, zb, nb, qx, qy, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, cst)
    for k in range(b_row.size):
        r = b_row[k]
        c = b_col[k]
        side = b_side[k]
        if side == 0:
            vin = float(qx[r, 0])
        elif side == 1:
            vin = -float(qx[r, nx])
        elif side == 2:
            vin = float(qy[0, c])
        else:
            vin = -float(qy[ny, c])
        vin *= dtdx * dx * dx
        if vin > 0.0:
            vols[2] += vin
        else:
            vols[3] -= vin
    for k in range(f_row.size):
        r = f_row[k]
        c = f_col[k]
        if blocked[r, c]:
            continue
        old = float(h[r, c]) + float(lo[r, c])
        lo[r, c] = 0.0
        h[r, c] = max(f_target[k] - float(zb[r, c]), 0.0)
        new = float(h[r, c])
        d = (new - old) * area
        if d > 0.0:
            vols[2] += d
        else:
            vols[3] -= d
        red[0] = max(red[0], new)
        if do_acc:
            _refresh_cell(r, c, h, zb, nb, qx, qy, t1, a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet, cst)


def _put(dev, values):
    """Copy a short host vector into the front of a preallocated device vector; return the device one."""
    if values.size:
        dev[: values.size].copy_to_device(np.ascontiguousarray(values, np.float64))
    return dev


def _source_limited_dt(dt, hm, src, cfl_length, g):
    c2 = cfl_length * cfl_length
    for _ in range(30):
        phi = g * dt * dt * (hm + src * dt) - c2
        if phi <= 1e-9 * c2:
            break
        dt -= phi / (g * dt * (2.0 * hm + 3.0 * src * dt))
    return dt


def run(
    parallel,
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
):
    """:func:`kernels._flood_core.run` on the GPU: same arguments (``parallel``, ``nch`` unused) and
    results; the arrays are copied to the device once and back at the end."""
    ny, nx = h.shape
    dtype = h.dtype.type
    cell_area = dx * dx
    to = cuda.to_device
    d_h0, d_h = to(h), to(h)
    d_lo = to(lo)
    d_qx, d_qy = to(qx), to(qy)
    d_qxn, d_qyn = cuda.device_array_like(qx), cuda.device_array_like(qy)
    d_zb, d_nb, d_blk, d_rain = to(zb), to(nb), to(blocked), to(rainf)
    d_ia, d_ib, d_ic, d_icum, d_drain = to(ia), to(ib), to(ic), to(icum), to(drain)
    d_fac = cuda.device_array((ny, nx), np.float64)
    d_sinf = to(np.zeros((ny, nx)))
    d_sdrn = to(np.zeros((ny, nx)))
    acc = [to(a) for a in (a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet)]
    d_b = [to(a) for a in (b_row, b_col, b_side, b_kind, b_ser, b_slope)]
    d_srow, d_scol, d_frow, d_fcol = to(s_row), to(s_col), to(f_row), to(f_col)
    d_vols = to(np.zeros(6))
    vcap2 = min(froude_cap * froude_cap * g, 1e30)
    d_cst = to(np.array([h_dry, wet_depth, max(h_dry, wet_depth), 1.0 / dx, vcap2, g, 0.25]))
    vols[:] = 0.0
    # Small per-step buffers, allocated once (a device allocation per step would cost more than a
    # small step's work): the reduction, the level series, the inflow depths, the forced levels.
    zeros3 = np.zeros(3)
    red_host = np.zeros(3)
    d_red = to(zeros3)
    d_level = cuda.device_array(max(sptr.size - 1, 1), np.float64)
    d_sadd = cuda.device_array(max(s_row.size, 1), np.float64)
    d_ftarget = cuda.device_array(max(f_row.size, 1), np.float64)
    # Blocks along (columns, rows); grid2 covers the nx + 1 by ny + 1 face corners.
    grid2 = ((nx + _BLOCK) // _BLOCK, (ny + _BLOCK) // _BLOCK)
    cells2 = ((nx + _BLOCK - 1) // _BLOCK, (ny + _BLOCK - 1) // _BLOCK)
    block = (_BLOCK, _BLOCK)
    cum = series_cumulative(st, sv, sptr)
    nser = sptr.size - 1
    t = t0
    steps = 0
    status = 0
    capped = 0.0
    dt_min = np.inf
    dt_min_clipped = np.inf
    dt_seen = 0.0
    t_tol = 1e-9 * max(1.0, abs(t_end))
    half1m = 0.5 * (1.0 - theta)
    while t_end - t > t_tol:
        level_t = np.array([series_value(st, sv, sptr, k, t) for k in range(nser)])
        hm = hmax
        for k in range(b_row.size):
            if b_kind[k] == 2 and not blocked[b_row[k], b_col[k]]:
                hm = max(hm, level_t[b_ser[k]] - zref - float(zb[b_row[k], b_col[k]]))
        dt_courant = alpha * dx / np.sqrt(g * hm) if hm > 0.0 else np.inf
        if fixed_dt > 0.0:
            if fixed_dt > 1.5 * dt_courant:
                status = 1
                break
            dt = fixed_dt
        else:
            dt = min(dt_max, dt_courant)
            src = 0.0
            for k in range(s_row.size):
                src = max(src, series_value(st, sv, sptr, s_ser[k], t) * s_w[k] / cell_area)
            if src > 0.0:
                dt = _source_limited_dt(dt, hm, src, alpha * dx, g)
        remaining = t_end - t
        clipped = dt >= remaining * (1.0 - 1e-3)
        if clipped:
            dt = remaining
        t1 = t_end if clipped else t + dt
        # The step's numbers in the state's dtype, as the CPU kernel's pf holds them (so both
        # account the same volumes).
        dtdx = float(dtype(dt / dx))
        rain_mean = 0.0
        if rain_ser >= 0:
            rain_mean = (
                series_integral(st, sv, cum, sptr, rain_ser, t1) - series_integral(st, sv, cum, sptr, rain_ser, t)
            ) / dt
        raindt = float(dtype(rain_mean * dt))
        gdt = float(dtype(g * dt))
        _k_faces[grid2, block](d_h0, d_zb, d_nb, d_qx, d_qy, d_qxn, d_qyn, gdt, theta, half1m, 1.0 / dx, h_dry)
        if b_row.size:
            _k_boundary[1, 1](
                d_h0,
                d_zb,
                d_nb,
                d_blk,
                d_qx,
                d_qy,
                d_qxn,
                d_qyn,
                *d_b,
                _put(d_level, level_t),
                zref,
                dt,
                g,
                dx,
                theta,
                h_dry,
            )
        _k_factors[cells2, block](d_h0, d_qxn, d_qyn, dtdx, d_fac)
        d_red.copy_to_device(zeros3)
        _k_update[cells2, block](
            d_h0, d_h, d_lo, d_zb, d_nb, d_qxn, d_qyn, d_qx, d_qy, d_fac, d_rain, raindt, dtdx, dt, infil_kind,
            d_ia, d_ib, d_ic, d_icum, d_drain, has_drain, d_sinf, d_sdrn, do_acc, *acc, t1, d_cst, d_red,
        )  # fmt: skip
        vols[0] += rain_sum * raindt * cell_area
        if s_row.size or b_row.size or f_row.size:
            s_add = np.array(
                [
                    (series_integral(st, sv, cum, sptr, s_ser[k], t1) - series_integral(st, sv, cum, sptr, s_ser[k], t))
                    * s_w[k]
                    / cell_area
                    for k in range(s_row.size)
                ]
            )
            f_target = np.array([series_value(st, sv, sptr, f_ser[k], t1) - zref for k in range(f_row.size)])
            _k_serial[1, 1](
                d_h, d_lo, d_zb, d_nb, d_blk, d_qx, d_qy, d_srow, d_scol, _put(d_sadd, s_add), d_b[0], d_b[1],
                d_b[2], d_frow, d_fcol, _put(d_ftarget, f_target), dtdx, dx, do_acc, *acc, t1, d_cst, d_red, d_vols,
            )  # fmt: skip
        red = d_red.copy_to_host(red_host)
        d_h0, d_h = d_h, d_h0  # the new depths are the next step's start (the old buffer is rewritten)
        capped += red[2]
        hmax = red[0]
        if clipped:
            dt_min_clipped = min(dt_min_clipped, dt)
        else:
            dt_min = min(dt_min, dt)
        dt_seen = max(dt_seen, dt)
        t = t1
        steps += 1
        if red[1] > 0 or not (hmax < np.inf):
            status = 2
            break
    if status == 0:
        t = t_end
    if dt_min == np.inf:
        dt_min = dt_min_clipped
    # Back to the host arrays (the caller's state, in place).
    d_h0.copy_to_host(h)
    d_lo.copy_to_host(lo)
    d_qx.copy_to_host(qx)
    d_qy.copy_to_host(qy)
    d_icum.copy_to_host(icum)
    if do_acc:
        for dev, host in zip(acc, (a_hmax, a_vmax, a_haz, a_tarr, a_dur, a_wet), strict=True):
            dev.copy_to_host(host)
    dv = d_vols.copy_to_host()
    vols[1] += dv[1]
    vols[2] += dv[2]
    vols[3] += dv[3]
    vols[4] += float(np.sum(d_sinf.copy_to_host())) * cell_area
    vols[5] += float(np.sum(d_sdrn.copy_to_host())) * cell_area
    return t, steps, dt_min, dt_seen, status, capped
