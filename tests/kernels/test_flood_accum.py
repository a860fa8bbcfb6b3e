"""The running maxima of the flood kernel: the lean accumulator (depth and timing only) against the full one."""

from __future__ import annotations

import numpy as np
import pytest

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


def _run(dtype, kind, stops=(60.0, 130.0, 200.0, 300.0, 450.0, 600.0), poke=True):
    grid, forcing = _city(dtype)
    state = FloodState.zeros(grid.z.shape, dtype)
    accum = FloodAccum.zeros(grid.z.shape, kind=kind)
    params = FloodParams(alpha=0.6)
    for k, t in enumerate(stops):
        advance(state, grid, forcing, params, t, accum)
        if poke and k % 2 == 0:
            # The caller changes a few depths between calls (a sewer exchange): folded at the next call.
            state.h[18:21, 20:23] += state.h.dtype.type(0.05)
    return state, accum


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lean_accumulator_keeps_the_full_ones_depth_and_timing_bit_for_bit(dtype):
    full_state, full = _run(dtype, "full")
    lean_state, lean = _run(dtype, "depth")
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


def test_accumulator_kind_is_checked():
    assert ACCUM_KINDS == ("full", "depth")
    with pytest.raises(ValueError, match="kind = 'speed' must be one of"):
        FloodAccum.zeros((3, 3), kind="speed")
