"""The flood kernel's speed and hazard maxima folded every few steps (``FloodParams.speed_every``): the depth
and flood timing as every step's, bit for bit; the speed and hazard maxima those of the folded steps."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.flood import FloodAccum, FloodForcing, FloodGrid, FloodParams, FloodState, advance


def _storm(dtype):
    """Rain on a wavy slope with a block of buildings: flow that speeds up and slows down."""
    ny, nx = 30, 36
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.01 * 5.0 * (nx - xx) + 0.08 * np.sin(yy / 2.5) * np.cos(xx / 3.0)
    blocked = np.zeros((ny, nx), np.uint8)
    blocked[12:16, 14:20] = 1
    grid = FloodGrid.simple(z.astype(dtype), 5.0, 0.03, blocked=blocked)
    return grid, FloodForcing.uniform_rain((ny, nx), 120 / 3.6e6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_speed_every_keeps_depth_and_timing_and_folds_a_subset_of_the_steps(dtype):
    grid, forcing = _storm(dtype)
    runs = {}
    for every in (1, 5):
        state = FloodState.zeros(grid.z.shape, dtype)
        acc = FloodAccum.zeros(grid.z.shape)
        capped = 0
        for t in (120.0, 240.0, 300.0):
            st = advance(state, grid, forcing, FloodParams(speed_every=every), t, acc)
            assert st.status == 0
            capped += st.speed_capped
        runs[every] = (state, acc, capped)
    (s1, a1, c1), (s5, a5, c5) = runs[1], runs[5]
    np.testing.assert_array_equal(s5.h, s1.h)  # the maxima never change the flow
    for name in ("h_max", "t_arrival", "duration", "wet_since"):
        np.testing.assert_array_equal(getattr(a5, name), getattr(a1, name))
    # every fifth step's speed and hazard, the same numbers as every step's there: never above
    assert np.all(a5.v_max <= a1.v_max) and np.all(a5.hazard_max <= a1.hazard_max)
    assert np.any(a5.v_max < a1.v_max)  # steps were skipped
    wet = a1.v_max > 0.05
    assert np.median(a5.v_max[wet] / a1.v_max[wet]) > 0.95
    assert c5 <= c1


def test_each_call_ends_with_a_folded_step():
    """Calls of three 1 s steps with speed_every 10 fold at every call's end: the steps 3, 6, 9, ..., as
    speed_every 3 does (without the fold at the end they would be the steps 10, 20, ...)."""
    grid, forcing = _storm(np.float64)
    out = []
    for every in (10, 3):
        state = FloodState.from_depth(np.full(grid.z.shape, 0.05))  # flowing from the start
        acc = FloodAccum.zeros(grid.z.shape)
        for t in np.arange(3.0, 91.0, 3.0):
            advance(state, grid, forcing, FloodParams(fixed_dt=1.0, speed_every=every), float(t), acc)
        out.append(acc)
    np.testing.assert_array_equal(out[0].v_max, out[1].v_max)
    np.testing.assert_array_equal(out[0].hazard_max, out[1].hazard_max)
    assert out[0].v_max.max() > 0.05


def test_speed_every_must_be_a_positive_integer():
    grid, forcing = _storm(np.float64)
    with pytest.raises(ValueError, match="speed_every"):
        advance(FloodState.zeros(grid.z.shape), grid, forcing, FloodParams(speed_every=0), 10.0)
