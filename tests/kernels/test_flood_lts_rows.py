"""Local time stepping's row loops (kernels._flood_lts_rows) take the same numbers as the global sweep's
rows (kernels._flood_core.losses_row, maxima_row), bit for bit: they are a second form of the same loops
(whole arrays and column bounds instead of row views), and must not drift from the first."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import _flood_core as core
from kernels import _flood_lts_rows as rows


def _losses_inputs(dtype, seed):
    rng = np.random.default_rng(seed)
    ny, nx = 6, 40
    h = (rng.random((ny, nx)) * 0.02).astype(dtype)
    h[rng.random((ny, nx)) < 0.3] = 0  # dry cells keep their depth, remainder and F
    lo = (rng.standard_normal((ny, nx)) * 1e-9).astype(dtype)
    ia = rng.random((ny, nx)) * 3e-5
    ib = rng.random((ny, nx)) * 1e-5 + 0.05
    ic = rng.random((ny, nx)) * 1e-3
    icum = rng.random((ny, nx)) * 1e-2
    drain = rng.random((ny, nx)) * 3e-6
    return h, lo, ia, ib, ic, icum, drain


@pytest.mark.parametrize("infil_kind", [0, 1, 2])
@pytest.mark.parametrize("has_drain", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_rect_equals_the_global_rows(infil_kind, has_drain, dtype):
    comp = dtype == np.float32
    ref = _losses_inputs(dtype, 1)
    got = tuple(a.copy() for a in ref)
    r0, r1, c0, c1, dt = 1, 5, 3, 37, 7.5
    s_ref = [0.0, 0.0]
    for r in range(r0, r1):
        h, lo, ia, ib, ic, icum, drain = ref
        inf, drn = core.losses_row(r, c0, c1, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt)
        s_ref[0] += inf
        s_ref[1] += drn
    h, lo, ia, ib, ic, icum, drain = got
    scr = np.full((3, 2, 41), np.nan)
    s_got = rows.losses_rect(r0, r1, c0, c1, h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt, scr, 2)
    assert s_got == tuple(s_ref)
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cols", [(0, 40), (5, 6), (7, 31), (33, 40)])
def test_maxima_rect_equals_the_global_rows(dtype, cols):
    rng = np.random.default_rng(2)
    ny, nx = 7, 40
    h0 = (rng.random((ny, nx)) * 0.4).astype(dtype)
    h0[rng.random((ny, nx)) < 0.2] = 0
    h = np.maximum(h0 + (rng.standard_normal((ny, nx)) * 0.05).astype(dtype), 0).astype(dtype)
    zb = (rng.random((ny, nx)) * 2).astype(dtype)
    nb = np.full((ny, nx), 0.03, dtype)
    qx = (rng.standard_normal((ny, nx + 1)) * 0.2).astype(dtype)
    qy = (rng.standard_normal((ny + 1, nx)) * 0.2).astype(dtype)
    pf = core.constants(h, 0.7, 1e-3, 4.0, 0.01, 1.0, 9.81)
    acc = [np.full((ny, nx), 0.05, dtype) for _ in range(3)]  # depth, speed, hazard maxima
    times = [np.full((ny, nx), np.nan), np.zeros((ny, nx)), np.full((ny, nx), 10.0)]  # arrival, duration, wet since
    ref = [a.copy() for a in acc + times]
    got = [a.copy() for a in acc + times]
    c0, c1 = cols
    t1 = 20.0
    cap_ref = 0
    n = c1 - c0
    db, pb, capb = np.empty(n, dtype), np.empty(n, dtype), np.empty(n, np.int32)
    for r in range(1, ny):  # from row 1 to the grid's last row (its south neighbour: itself)
        rn, rs = r - 1, min(r + 1, ny - 1)
        fx = np.zeros(n + 1, dtype)
        sx = np.zeros(n + 1, dtype)
        for j in range(1 if c0 == 0 else 0, n if c1 == nx else n + 1):
            c = c0 + j
            fx[j], sx[j] = core.face_depth_drop(
                h0[r, c - 1], h0[r, c], zb[r, c - 1], zb[r, c], pf[core.P_HDRY], pf[core.P_ZERO]
            )
        hm, vm, hz, tarr, dur, wet = ref
        n_changed, cap = core.maxima_row(
            h[r, c0:c1], h0[r, c0:c1], h0[rn, c0:c1], h0[rs, c0:c1], zb[rn, c0:c1], zb[r, c0:c1], zb[rs, c0:c1],
            fx, sx, nb[r, c0:c1], qx[r, c0 : c1 + 1], qy[r, c0:c1], qy[r + 1, c0:c1],
            hm[r, c0:c1], vm[r, c0:c1], hz[r, c0:c1], pf, db, pb, capb,
        )  # fmt: skip
        cap_ref += cap
        if n_changed:
            core.wet_dry_row(r, c0, c1, h[r], h0[r], pf[core.P_WET], t1, tarr, dur, wet)
    hm, vm, hz, tarr, dur, wet = got
    scr = np.full((2, rows.SCR_ROWS, nx + 1), np.nan, dtype)
    cap_got = rows.maxima_rect(1, ny, c0, c1, h, h0, zb, nb, qx, qy, t1, hm, vm, hz, tarr, dur, wet, pf, scr, 1)
    assert cap_got == cap_ref
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(acc, ref[:3]))  # the case moves the maxima at all
