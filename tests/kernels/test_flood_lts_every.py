"""Local time stepping with the losses and the speed maxima every few finest steps, each tile at its own steps
(``FloodParams(time_stepping="local", losses_every=N, speed_every=N)``, kernels._flood_lts._schedule): the
balance as exact, the depths and flood timing as every step's where only the speed is spaced out, and each
call ending with every loss taken and every speed folded."""

from __future__ import annotations

import numpy as np
import pytest
from test_flood_lts import GLOBAL, LOCAL, _balance, _river

from kernels.flood import FloodAccum, advance


@pytest.mark.parametrize("dtype, bound", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_losses_every_four_tile_steps_close_the_balance(dtype, bound):
    # The river case (Horton, drainage, rain, a point inflow, a held level) at several levels: what the
    # losses take over a tile's summed steps is what the volumes book, so the balance closes as with every
    # step; the water waits up to three finest steps longer, so the losses differ, by little.
    every = LOCAL._replace(losses_every=4, speed_every=4)
    err1, _, s1, _ = _balance(dtype, LOCAL)
    err4, share, s4, _ = _balance(dtype, every)
    assert err1 < bound and err4 < bound
    assert share[1:-1].sum() > 0.3, share  # not one level
    f1, f4 = s1.infil_cum.sum(), s4.infil_cum.sum()
    assert f4 != f1  # read: the losses were spaced out
    assert f4 == pytest.approx(f1, rel=2e-3)


def test_one_level_takes_the_losses_and_speed_when_the_global_steps_do():
    # max_levels = 0: every tile steps with the global step (test_flood_lts.test_one_level_is_the_global_step),
    # so counting a tile's finest steps is counting the global steps: the losses are taken over the same summed
    # intervals and the speed folded at the same steps, every third and at each call's last (calls of 45 s,
    # about 30 steps: not a multiple of 3), as the global run with the same options.
    grid, forcing, s_glob = _river(np.float64, forced=False)
    grid = grid._replace(infil_kind=2, infil_a=grid.infil_a / 3, infil_b=np.full(grid.z.shape, 0.005))
    opts = {"losses_every": 3, "speed_every": 3}
    runs = {}
    for name, params in (
        ("global", GLOBAL._replace(**opts)),
        ("local", LOCAL._replace(max_levels=0, **opts)),
        ("local every step", LOCAL._replace(max_levels=0)),
    ):
        _, _, state = _river(np.float64, forced=False)
        acc = FloodAccum.zeros(state.h.shape)
        steps = 0
        for t in (45.0, 90.0, 135.0, 180.0):
            st = advance(state, grid, forcing, params, t, acc)
            steps += st.steps
        runs[name] = (state, acc, steps)
    (sg, ag, ng), (sl, al, nl), (s1, a1, _) = runs["global"], runs["local"], runs["local every step"]
    assert ng == nl
    np.testing.assert_allclose(sl.infil_cum, sg.infil_cum, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sl.h, sg.h, rtol=0, atol=1e-10)
    np.testing.assert_allclose(al.v_max, ag.v_max, rtol=0, atol=1e-5)  # float32 maxima
    np.testing.assert_allclose(al.hazard_max, ag.hazard_max, rtol=0, atol=1e-5)
    # not vacuous: every step's losses and speeds are another run
    assert np.abs(s1.infil_cum - sg.infil_cum).max() > 1e-6
    assert np.abs(a1.v_max - ag.v_max).max() > 1e-3


def test_speed_every_keeps_the_depths_and_folds_a_subset_of_each_tiles_steps():
    # The losses every step, the speed every 4 finest steps of each tile: the flow is every step's bit for bit
    # (the maxima never change it), the largest depth and flood timing too; the speed and hazard maxima are
    # those of the folded steps, never above every step's (each call's end folded: the test above).
    grid, forcing, _ = _river(np.float32)
    runs = {}
    for every in (1, 4):
        _, _, state = _river(np.float32)
        acc = FloodAccum.zeros(state.h.shape)
        for t in np.arange(30.0, 301.0, 30.0):
            st = advance(state, grid, forcing, LOCAL._replace(speed_every=every), float(t), acc)
            assert st.status == 0 and len(st.level_share) and max(st.level_share[1:-1]) > 0
        runs[every] = (state, acc)
    (s1, a1), (s4, a4) = runs[1], runs[4]
    for name in ("h", "h_lo", "qx", "qy", "infil_cum"):
        np.testing.assert_array_equal(getattr(s4, name), getattr(s1, name), err_msg=name)
    for name in ("h_max", "t_arrival", "duration", "wet_since"):
        np.testing.assert_array_equal(getattr(a4, name), getattr(a1, name), err_msg=name)
    assert np.all(a4.v_max <= a1.v_max) and np.all(a4.hazard_max <= a1.hazard_max)
    assert np.any(a4.v_max < a1.v_max)  # steps were skipped
    wet = a1.v_max > 0.05
    assert np.median(a4.v_max[wet] / a1.v_max[wet]) > 0.95
