"""The full solver's optimised core against the scheme written out plainly.

``kernels._swe_core`` is one fused, branch-free pass per stage (faces solved once in per-thread
ring buffers, selects instead of branches, a cube root without libm) for speed; this file keeps it
honest. The first-order scheme is written here face by face in plain Python (HLL with Toro's wave
speeds and the upwinded tangential momentum, Chen and Noelle's hydrostatic reconstruction, mirror-state
walls, the positivity limiter, point-implicit Manning friction), and the kernel must match it to
round-off on a small grid with a bed step, a building, dry ground and a dam break. A second test
checks that splitting the rows into bands (one per thread) changes nothing.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from kernels.flood import FloodForcing, FloodGrid
from kernels.swe import SweParams, SweState, advance

G = 9.81
H_VEL = 1e-9


def _hll(hl, ul, vl, hr, ur, vr):
    """HLL flux (mass, normal momentum) and upwinded tangential momentum, written plainly."""
    if hl <= 0.0 and hr <= 0.0:
        return 0.0, 0.0, 0.0
    cl, cr = math.sqrt(G * hl), math.sqrt(G * hr)
    if hl <= 0.0:
        sl, sr = ur - 2 * cr, ur + cr
    elif hr <= 0.0:
        sl, sr = ul - cl, ul + 2 * cl
    else:
        us = 0.5 * (ul + ur) + cl - cr
        cs = 0.5 * (cl + cr) + 0.25 * (ul - ur)
        sl, sr = min(ul - cl, us - cs), max(ur + cr, us + cs)
    fl = (hl * ul, hl * ul * ul + 0.5 * G * hl * hl)
    fr = (hr * ur, hr * ur * ur + 0.5 * G * hr * hr)
    if sl >= 0:
        f = fl
    elif sr <= 0:
        f = fr
    else:
        dq = (hr - hl, hr * ur - hl * ul)
        f = tuple((sr * a - sl * b + sl * sr * d) / (sr - sl) for a, b, d in zip(fl, fr, dq, strict=True))
    return f[0], f[1], f[0] * (vl if f[0] >= 0 else vr)


def _face(left, right, normal):
    """Five fluxes of a face between two cells (depth, bed, u, v, blocked); None for the outside."""
    lb = left is None or left[4]
    rb = right is None or right[4]
    if lb and rb:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    n, t = (2, 3) if normal == "x" else (3, 2)
    if rb:  # the left cell against a wall: its mirror image
        return 0.0, _hll(left[0], left[n], left[t], left[0], -left[n], left[t])[1], 0.0, 0.0, 0.0
    if lb:
        return 0.0, _hll(right[0], -right[n], right[t], right[0], right[n], right[t])[1], 0.0, 0.0, 0.0
    # Chen and Noelle's (2017) reconstruction: face bed min(max(zl, zr), min(el, er)), face depths
    # min(e - z*, h), interface sources g (h + h*) / 2 (z* - z).
    el, er = left[0] + left[1], right[0] + right[1]
    zs = min(max(left[1], right[1]), min(el, er))
    hls = min(el - zs, left[0])
    hrs = min(er - zs, right[0])
    f0, f1, f2 = _hll(hls, left[n], left[t], hrs, right[n], right[t])
    return f0, f1, f2, 0.5 * G * (left[0] + hls) * (zs - left[1]), 0.5 * G * (right[0] + hrs) * (zs - right[1])


def _reference_step(h, hu, hv, z, manning, blocked, dt, dx):
    """One first-order step of the scheme; returns the new (h, hu, hv), the limited mass fluxes and the
    smallest limiter factor."""
    ny, nx = h.shape

    def cell(r, c):
        if not (0 <= r < ny and 0 <= c < nx):
            return None
        wet = h[r, c] > H_VEL and not blocked[r, c]
        u, v = (hu[r, c] / h[r, c], hv[r, c] / h[r, c]) if wet else (0.0, 0.0)
        return h[r, c], z[r, c], u, v, bool(blocked[r, c])

    fx = np.array([[_face(cell(r, j - 1), cell(r, j), "x") for j in range(nx + 1)] for r in range(ny)])
    fy = np.array([[_face(cell(i - 1, c), cell(i, c), "y") for c in range(nx)] for i in range(ny + 1)])
    # Positivity: a cell's outgoing mass fluxes scaled together to at most its water.
    out = (np.maximum(fx[:, 1:, 0], 0) + np.maximum(-fx[:, :-1, 0], 0) + np.maximum(fy[1:, :, 0], 0)) + np.maximum(
        -fy[:-1, :, 0], 0
    )
    out *= dt / dx
    fac = np.where(out > h, h / np.where(out > 0, out, 1.0), 1.0)
    for r in range(ny):
        for j in range(nx + 1):
            q = fx[r, j, 0]
            if q > 0 and j > 0:
                fx[r, j, 0] = q * fac[r, j - 1]
            elif q < 0 and j < nx:
                fx[r, j, 0] = q * fac[r, j]
    for i in range(ny + 1):
        for c in range(nx):
            q = fy[i, c, 0]
            if q > 0 and i > 0:
                fy[i, c, 0] = q * fac[i - 1, c]
            elif q < 0 and i < ny:
                fy[i, c, 0] = q * fac[i, c]
    k = dt / dx
    hn = np.maximum(h + k * (fx[:, :-1, 0] - fx[:, 1:, 0] + fy[:-1, :, 0] - fy[1:, :, 0]), 0.0)
    mx = hu + k * ((fx[:, :-1, 1] + fx[:, :-1, 4]) - (fx[:, 1:, 1] + fx[:, 1:, 3]) + fy[:-1, :, 2] - fy[1:, :, 2])
    my = hv + k * ((fy[:-1, :, 1] + fy[:-1, :, 4]) - (fy[1:, :, 1] + fy[1:, :, 3]) + fx[:, :-1, 2] - fx[:, 1:, 2])
    wet = hn > H_VEL
    # Point-implicit Manning friction: q / (1 + g dt n^2 |q| / h^(7/3)).
    hs = np.where(wet, hn, 1.0)
    den = 1.0 + dt * G * manning**2 * np.hypot(mx, my) / hs ** (7.0 / 3.0)
    mx, my = np.where(wet, mx / den, 0.0), np.where(wet, my / den, 0.0)
    b = blocked.astype(bool)
    return np.where(b, 0.0, hn), np.where(b, 0.0, mx), np.where(b, 0.0, my), fx[:, :, 0], fy[:, :, 0], fac.min()


def _dam_break():
    """9 x 11 cells of 1 m: a bed step and a rise, a 2 x 2 building, deep water behind a dam, dry
    high ground with a 2 m column of water on it (which spills four ways at once: the positivity
    limiter acts) and a moving shallow layer."""
    ny, nx, dx = 9, 11, 1.0
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = np.where(xx >= 6, 0.3, 0.0) + 0.05 * yy + np.where((xx >= 8) & (yy <= 2), 0.6, 0.0)
    blocked = np.zeros((ny, nx), np.uint8)
    blocked[4:6, 5:7] = 1
    h = np.where(xx < 4, 1.0, 0.0) + np.where((xx >= 6) & (yy >= 5), 0.05, 0.0)
    h[blocked == 1] = 0.0
    h[1, 9] = 2.0
    hu = np.where(h > 0, 0.02, 0.0)
    hv = np.where(h > 0, -0.01, 0.0)
    return z, blocked, h, hu, hv, dx


def test_first_order_core_equals_the_plain_scheme():
    z, blocked, h, hu, hv, dx = _dam_break()
    manning, dt, steps = 0.03, 0.1, 25  # Courant number up to 0.45 (the column)
    grid = FloodGrid.simple(z, dx, manning, blocked=blocked)
    state = SweState.from_depth(h.copy(), np.float64)
    state.hu[:] = hu
    state.hv[:] = hv
    st = advance(state, grid, FloodForcing.none(h.shape), SweParams(order=1, fixed_dt=dt), steps * dt)
    assert st.status == 0 and st.steps == steps
    rh, rhu, rhv = h, hu, hv
    limited = 1.0
    for _ in range(steps):
        rh, rhu, rhv, qx, qy, fac = _reference_step(rh, rhu, rhv, z, manning, blocked, dt, dx)
        limited = min(limited, fac)
    # The flow is not trivial: the front has moved in x and in y, a dry cell got wet, the positivity
    # limiter acted.
    assert np.abs(rhu).max() > 0.1 and np.abs(rhv).max() > 0.05 and limited < 0.99
    assert ((h == 0) & (rh > 1e-3) & (blocked == 0)).any()
    # Round-off: the kernel's cube root and fused multiply-adds differ from libm's pow by a few ulps.
    for got, want in ((state.h, rh), (state.hu, rhu), (state.hv, rhv), (state.qx, qx), (state.qy, qy)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
@pytest.mark.parametrize(("order", "integrator"), [(1, "hancock"), (2, "hancock"), (2, "rk2")])
def test_bands_of_rows_change_nothing(order, integrator):
    # 210 x 210 cells: above the size where the solver runs a band of rows per thread.
    n = 210
    yy, xx = np.mgrid[0:n, 0:n]
    z = 0.004 * (n - xx) + 0.05 * np.sin(yy / 5.0)
    blocked = np.zeros((n, n), np.uint8)
    blocked[95:110, 50:70] = 1  # straddles the two bands' boundary (row 105)
    grid = FloodGrid.simple(z, 2.0, 0.03, blocked=blocked)
    h = np.where(xx < 40, 0.5, 0.0) + np.where((yy > 100) & (yy < 120), 0.2, 0.0)
    h[blocked == 1] = 0.0
    forcing = FloodForcing.uniform_rain((n, n), 0.1 / 3600)
    results = []
    previous = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            state = SweState.from_depth(h.copy(), np.float64)
            advance(state, grid, forcing, SweParams(order=order, integrator=integrator), 5.0)
            results.append(state)
    finally:
        numba.set_num_threads(previous)
    a, b = results
    assert a.steps == b.steps > 5
    for name in ("h", "hu", "hv", "qx", "qy"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
