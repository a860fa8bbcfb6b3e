"""The running maxima of the flood kernel: the lean accumulator (depth and timing only) against the full one."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from kernels._flood_core import (
    ACC_DEPTH,
    ACC_FULL,
    BLOCKED_Z,
    P_HALF,
    P_HDRY,
    P_WET,
    P_ZERO,
    accum_open,
    constants,
    face_depth_drop,
    flow_depth_drop,
    maxima,
    wet_span,
)
from kernels.flood import (
    ACCUM_KINDS,
    FloodAccum,
    FloodForcing,
    FloodGrid,
    FloodParams,
    FloodState,
    Series,
    advance,
    edge_faces,
)


def _city(dtype, shape=(40, 50), dx=4.0):
    """A sloping street grid with blocks, Green-Ampt, drainage, a river inflow, a level boundary and
    a level-forced line: every path that folds a cell into the running maxima."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.01 * dx * (nx - xx) + 0.2 * np.sin(yy / 4.0) + 0.3 * (np.abs(yy - ny // 2) < 2)
    blocked = np.zeros(shape, np.uint8)
    blocked[5:9, 10:16] = 1
    blocked[25:30, 30:35] = 1
    faces = edge_faces(shape, "east", 2, series=1)
    grid = FloodGrid.simple(z.astype(dtype), dx, 0.03, blocked=blocked, boundaries=faces)
    grid = grid._replace(
        infil_kind=2,
        infil_a=np.full(shape, 5 / 3.6e6),
        infil_b=np.full(shape, 0.05),
        infil_c=np.zeros(shape),
        drain_cap=np.where(xx < nx // 2, 10 / 3.6e6, 0.0),
        fix_row=np.arange(30, 34),
        fix_col=np.full(4, 5),
        fix_ser=np.full(4, 2),
    )
    z_east = float(z[:, -1].min())
    series = Series.pack(
        [
            ([0.0, 120.0, 400.0], [0.0, 1.0, 0.3]),  # rain multiplier
            ([0.0, 600.0], [z_east + 0.2, z_east - 0.5]),  # the east level, in then out
            ([0.0, 600.0], [float(z[30, 5]) + 0.4, float(z[30, 5]) - 0.2]),  # the held line
            ([0.0, 200.0, 600.0], [0.0, 3.0, 0.5]),  # the inflow [m3/s]
        ]
    )
    forcing = FloodForcing.none(shape, series)._replace(
        rain_field=np.full(shape, 60 / 3.6e6),
        rain_ser=0,
        src_row=np.array([20]),
        src_col=np.array([2]),
        src_ser=np.array([3]),
        src_w=np.array([1.0]),
    )
    return grid, forcing


def _run(dtype, kind, stops=(60.0, 130.0, 200.0, 300.0, 450.0, 600.0), poke=True, stepping="global"):
    grid, forcing = _city(dtype)
    state = FloodState.zeros(grid.z.shape, dtype)
    accum = FloodAccum.zeros(grid.z.shape, kind=kind)
    params = FloodParams(alpha=0.6, time_stepping=stepping)
    for k, t in enumerate(stops):
        advance(state, grid, forcing, params, t, accum)
        if poke and k % 2 == 0:
            # The caller changes a few depths between calls (a sewer exchange): folded at the next call.
            state.h[18:21, 20:23] += state.h.dtype.type(0.05)
    return state, accum


@pytest.mark.parametrize("stepping", ["global", "local"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lean_accumulator_keeps_the_full_ones_depth_and_timing_bit_for_bit(dtype, stepping):
    full_state, full = _run(dtype, "full", stepping=stepping)
    lean_state, lean = _run(dtype, "depth", stepping=stepping)
    # The same run (the accumulator does not touch the state) ...
    assert np.array_equal(full_state.h, lean_state.h)
    # ... and the same largest depth, arrival and wet duration, not just close.
    for name in ("h_max", "t_arrival", "duration", "wet_since"):
        assert np.array_equal(getattr(full, name), getattr(lean, name), equal_nan=True), name
    # Not vacuous: the water arrived at different times, and the full one has speeds and hazards.
    arrived = np.isfinite(full.t_arrival)
    assert 0.2 < arrived.mean() < 1.0 and np.unique(full.t_arrival[arrived]).size > 20
    assert full.v_max.max() > 0.1 and full.hazard_max.max() > 0.5
    assert np.all(full.duration[arrived] > 0)
    # The lean one leaves the speed and hazard alone.
    assert not lean.v_max.any() and not lean.hazard_max.any()
    assert lean.copy().kind == "depth"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lean_steps_fold_the_depths_of_cells_changed_after_the_sweep(dtype):
    """Every second lean step leaves its end depths to the next step's fold (its start depths): a cell the
    step changes after its sweep (a point inflow that abstracts, a level-forced cell) is folded before the
    change, or the depth the sweep gave it would be lost. The lean accumulator takes such steps; the full
    one, folding every step, is the reference."""
    grid, forcing = _city(dtype)
    # A line downstream held dry (forced to the east level, below its bed): the sweep wets it, the level dries it.
    held = np.arange(16, 25)
    grid = grid._replace(
        fix_row=np.append(grid.fix_row, held),
        fix_col=np.append(grid.fix_col, np.full(held.size, 12)),
        fix_ser=np.append(grid.fix_ser, np.full(held.size, 1)),
    )
    # A well beside the inflow abstracts half of it: the sweep fills its cell, the well empties it.
    forcing = forcing._replace(
        src_row=np.array([20, 20]), src_col=np.array([2, 8]), src_ser=np.array([3, 3]), src_w=np.array([1.0, -0.5])
    )
    runs = {}
    for kind in ("full", "depth"):
        state = FloodState.zeros(grid.z.shape, dtype)
        accum = FloodAccum.zeros(grid.z.shape, kind=kind)
        for t in (60.0, 200.0, 330.0):
            assert advance(state, grid, forcing, FloodParams(alpha=0.6), t, accum).status == 0
        runs[kind] = (state, accum)
    (s_full, full), (s_lean, lean) = runs["full"], runs["depth"]
    assert np.array_equal(s_full.h, s_lean.h)
    for name in ("h_max", "t_arrival", "duration", "wet_since"):
        assert np.array_equal(getattr(full, name), getattr(lean, name), equal_nan=True), name
    # Not vacuous: the sweep brought water to the well's cell and to the cell held dry, and the well and the
    # level took it (so only a fold before they act sees it).
    assert s_full.h[20, 8] == 0 and full.h_max[20, 8] > 0.005
    assert np.all(s_full.h[held, 12] == 0) and np.sum(full.h_max[held, 12] > 0.001) >= 5


def test_accumulator_kind_is_checked():
    assert ACCUM_KINDS == ("full", "depth")
    with pytest.raises(ValueError, match="kind = 'speed' must be one of"):
        FloodAccum.zeros((3, 3), kind="speed")


@njit(cache=False)
def _fold_step(h0, h, qx, qy, zb, nb, pf, hm, vm, hz):
    """One step's running maxima cell by cell, as :func:`kernels._flood_core.maxima` defines them: the
    start-of-step depths ``h0`` give the faces' flow depths and drops (a row on the grid's edge takes
    its own cell as the missing neighbour, an outer x-face counts 0), ``h`` and the fluxes are the
    step's end. Returns the cells whose speed was held to its bound."""
    ny, nx = h.shape
    hdry, zero, half = pf[P_HDRY], pf[P_ZERO], pf[P_HALF]
    capped = 0
    for r in range(ny):
        rn = r - 1 if r > 0 else r
        rs = r + 1 if r + 1 < ny else r
        for c in range(nx):
            w0 = h0[r, c]
            d = max(h[r, c], w0)
            drop = zero
            if c > 0:
                f, s = face_depth_drop(h0[r, c - 1], w0, zb[r, c - 1], zb[r, c], hdry, zero)
                d, drop = max(d, f), max(drop, s)
            if c + 1 < nx:
                f, s = face_depth_drop(w0, h0[r, c + 1], zb[r, c], zb[r, c + 1], hdry, zero)
                d, drop = max(d, f), max(drop, s)
            f, s = face_depth_drop(h0[rn, c], w0, zb[rn, c], zb[r, c], hdry, zero)
            d, drop = max(d, f), max(drop, s)
            f, s = face_depth_drop(w0, h0[rs, c], zb[r, c], zb[rs, c], hdry, zero)
            d, drop = max(d, f), max(drop, s)
            ux = half * (qx[r, c] + qx[r, c + 1])
            uy = half * (qy[r, c] + qy[r + 1, c])
            hm[r, c], vm[r, c], hz[r, c], cap = maxima(
                h[r, c], d, drop, nb[r, c], ux, uy, hm[r, c], vm[r, c], hz[r, c], pf
            )
            capped += cap
    return capped


@pytest.mark.parametrize("strip", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_sweeps_running_maxima_equal_a_cell_by_cell_fold(dtype, strip):
    """The sweep takes the speed, hazard and depth maxima of whole rows at once (SIMD): bit for bit what
    folding each cell alone gives, step after step, and the same count of speeds held to their bound.
    ``strip``: water only in a few columns, so each row's wet span is under a quarter of it and the dry
    margins take the depth and hazard alone (see ``_maxima_row``)."""
    grid, forcing = _city(dtype)
    grid = grid._replace(fix_row=grid.fix_row[:0], fix_col=grid.fix_col[:0], fix_ser=grid.fix_ser[:0])
    forcing = forcing._replace(src_row=forcing.src_row[:0], src_col=forcing.src_col[:0])
    forcing = forcing._replace(src_ser=forcing.src_ser[:0], src_w=forcing.src_w[:0])
    params = FloodParams(alpha=0.6, fixed_dt=0.5)
    # 5 cm of water everywhere: sheet flow down the slope, many speeds held to their bound.
    wet = np.ones(grid.z.shape, bool)
    if strip:
        wet[:, :] = False
        wet[:, 20:30] = True
    state = FloodState.from_depth(np.where((grid.blocked != 0) | ~wet, 0.0, 0.05), dtype)
    accum = FloodAccum.zeros(grid.z.shape)
    advance(state, grid, forcing, params, 60.0, accum)
    # The kernel's own bed, Manning's n and constants (blocked cells folded into the bed).
    blocked = grid.blocked != 0
    z = np.asarray(grid.z, np.float64)
    zb = np.where(blocked, BLOCKED_Z, z - z[~blocked].min()).astype(dtype)
    nb = np.where(blocked, 0.0, grid.manning).astype(dtype)
    pf = constants(state.h, params.theta, params.h_dry, grid.dx, params.wet_depth, params.froude_cap, params.g)
    ref = accum.copy()
    start = accum.v_max.copy()
    capped = steps = 0
    for _ in range(30):
        h0 = state.h.copy()
        st = advance(state, grid, forcing, params, state.t + 0.5, accum)
        steps += st.steps
        cap = _fold_step(h0, state.h, state.qx, state.qy, zb, nb, pf, ref.h_max, ref.v_max, ref.hazard_max)
        assert st.speed_capped == cap
        capped += cap
        for name in ("h_max", "v_max", "hazard_max"):
            assert np.array_equal(getattr(accum, name), getattr(ref, name)), name
    # Not vacuous: water flows, some speeds are held to their bound, and maxima still grow.
    assert steps == 30 and capped > 0
    if strip:  # and the rows' dry margins took the short path
        narrow = [wet_span(state.h[r], pf) for r in range(state.h.shape[0])]
        assert sum(0 < 4 * (hi - lo) <= state.h.shape[1] for lo, hi in narrow) > 10
    assert np.count_nonzero(accum.v_max) > 100 and np.count_nonzero(accum.v_max > start) > 10


@njit(cache=False)
def _open_cell_by_cell(h, zb, nb, qx, qy, blocked, t0, pf, hm, vm, hz, tarr, wet_since, do_acc):
    """The state folded into the accumulators one open cell at a time, as :func:`accum_open` defines it:
    the cell's largest flow depth and drop from :func:`flow_depth_drop`, then :func:`maxima`."""
    ny, nx = h.shape
    for r in range(ny):
        for c in range(nx):
            if blocked[r, c]:
                continue
            w = h[r, c]
            if do_acc == ACC_DEPTH:
                hm[r, c] = max(hm[r, c], w)
            else:
                ux = pf[P_HALF] * (qx[r, c] + qx[r, c + 1])
                uy = pf[P_HALF] * (qy[r, c] + qy[r + 1, c])
                d, drop = flow_depth_drop(h, zb, r, c, pf[P_HDRY], pf[P_ZERO])
                hm[r, c], vm[r, c], hz[r, c], _ = maxima(w, d, drop, nb[r, c], ux, uy, hm[r, c], vm[r, c], hz[r, c], pf)
            if w > pf[P_WET]:
                if np.isnan(wet_since[r, c]):
                    wet_since[r, c] = t0
                if np.isnan(tarr[r, c]):
                    tarr[r, c] = t0
            else:
                wet_since[r, c] = np.nan


@pytest.mark.parametrize("do_acc", [ACC_FULL, ACC_DEPTH])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_opening_an_interval_folds_the_state_as_cell_by_cell(dtype, do_acc):
    """``accum_open`` (at a run's start and for every snapshot's speed frame) takes whole rows at once,
    rows in parallel: bit for bit what folding each open cell alone gives, blocked cells and the grid's
    edges left as they are, on a rough state (wet, dry and fast cells, steps in the bed)."""
    rng = np.random.default_rng(3)
    ny, nx = 37, 70
    blocked = (rng.random((ny, nx)) < 0.15).astype(np.uint8)
    zb = np.where(blocked != 0, BLOCKED_Z, 300.0 + 5.0 * rng.random((ny, nx))).astype(dtype)  # rounds w + z
    h = np.where(blocked != 0, 0.0, np.where(rng.random((ny, nx)) < 0.4, 0.0, 0.6 * rng.random((ny, nx)) ** 3))
    h = h.astype(dtype)
    nb = np.where(blocked != 0, 0.0, rng.choice([0.0, 0.015, 0.05], (ny, nx))).astype(dtype)
    qx = (2.0 * rng.standard_normal((ny, nx + 1))).astype(dtype)
    qy = (2.0 * rng.standard_normal((ny + 1, nx))).astype(dtype)
    pf = constants(h, 0.7, 1e-3, 4.0, 0.01, 1.0, 9.81)
    hm = (0.3 * rng.random((ny, nx))).astype(np.float32)
    vm = (0.2 * rng.random((ny, nx))).astype(np.float32)
    hz = (1.2 * rng.random((ny, nx))).astype(np.float32)
    tarr = np.where(rng.random((ny, nx)) < 0.5, np.nan, 10.0)
    wet_since = np.where(rng.random((ny, nx)) < 0.5, np.nan, 20.0)
    ref = [a.copy() for a in (hm, vm, hz, tarr, wet_since)]
    init = [a.copy() for a in ref]
    accum_open(h, zb, nb, qx, qy, blocked, 30.0, pf, hm, vm, hz, tarr, wet_since, do_acc)
    _open_cell_by_cell(h, zb, nb, qx, qy, blocked, 30.0, pf, *ref, do_acc)
    for name, got, want in zip(
        ("h_max", "v_max", "hazard_max", "t_arrival", "wet_since"), (hm, vm, hz, tarr, wet_since), ref
    ):
        assert np.array_equal(got, want, equal_nan=True), name
    # Not vacuous: the fold raised many maxima and timings, and left the blocked cells alone.
    b = blocked != 0
    assert np.count_nonzero(hm != init[0]) > 300 and np.count_nonzero(tarr == 30.0) > 100
    assert np.array_equal(hm[b], init[0][b]) and np.array_equal(vm[b], init[1][b]) and np.array_equal(hz[b], init[2][b])
    if do_acc == ACC_FULL:
        assert np.count_nonzero(vm != init[1]) > 100 and np.count_nonzero(hz != init[2]) > 100
    else:
        assert np.array_equal(vm, init[1]) and np.array_equal(hz, init[2])
