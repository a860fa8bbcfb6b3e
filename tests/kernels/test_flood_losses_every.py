"""The flood kernel's losses taken every few steps (``FloodParams.losses_every``): over the steps' summed
time, at every call's end, with the balance as exact as every step."""

from __future__ import annotations

import numpy as np
import pytest

from kernels._flood_core import green_ampt_capacity
from kernels.flood import FloodForcing, FloodGrid, FloodParams, FloodState, advance, stored_volume

KS, PSI = 10 / 3.6e6, 0.08  # Green-Ampt: Ks 10 mm/h, psi * dtheta 0.08 m


def _ponded(shape=(4, 5)) -> tuple[FloodGrid, FloodState]:
    """A flat grid under 0.5 m of still water with Green-Ampt: the capacity alone sets each loss."""
    grid = FloodGrid.simple(np.zeros(shape), 10.0, 0.03)._replace(
        infil_kind=2, infil_a=np.full(shape, KS), infil_b=np.full(shape, PSI), infil_c=np.zeros(shape)
    )
    return grid, FloodState.from_depth(np.full(shape, 0.5))


def _green_ampt(intervals) -> float:
    f = 0.0
    for dt in intervals:
        f += green_ampt_capacity.py_func(KS, PSI, f, dt)
    return f


def test_losses_are_taken_over_the_summed_steps_and_at_the_call_end():
    """Five 1 s steps with losses every 3: taken over 3 s at the third step, then over the 2 s left at the
    call's last step (a loss left pending at the end would be lost to the next call's balance)."""
    grid, state = _ponded()
    st = advance(state, grid, FloodForcing.none(grid.z.shape), FloodParams(fixed_dt=1.0, losses_every=3), 5.0)
    assert st.steps == 5
    want = _green_ampt([3.0, 2.0])
    np.testing.assert_allclose(state.infil_cum, want, rtol=1e-12)
    assert st.vol_infil == pytest.approx(want * state.h.size * 100.0, rel=1e-12)
    # not what every step takes: the implicit capacity depends on the interval it covers
    assert abs(want - _green_ampt([1.0] * 5)) > 1e-3 * want


def test_losses_every_step_is_the_default():
    grid, state = _ponded()
    st = advance(state, grid, FloodForcing.none(grid.z.shape), FloodParams(fixed_dt=1.0), 5.0)
    np.testing.assert_allclose(state.infil_cum, _green_ampt([1.0] * 5), rtol=1e-12)
    assert st.steps == 5


def _sloping(dtype) -> tuple[FloodGrid, FloodForcing]:
    ny, nx = 24, 30
    z = 0.02 * (nx - np.arange(nx))[None, :] * np.ones((ny, 1))
    shape = (ny, nx)
    drain = np.zeros(shape)
    drain[:, : nx // 2] = 10 / 3.6e6
    grid = FloodGrid.simple(z.astype(dtype), 10.0, 0.03)._replace(
        infil_kind=2,
        infil_a=np.full(shape, KS),
        infil_b=np.full(shape, 0.005),
        infil_c=np.zeros(shape),
        drain_cap=drain,
    )
    return grid, FloodForcing.uniform_rain(shape, 100 / 3.6e6)  # ponds within the first minute


@pytest.mark.parametrize(("dtype", "bound"), [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_losses_every_four_steps_close_the_balance_and_take_what_every_step_does(dtype, bound):
    """Rain on a slope with Green-Ampt and drainage, over calls of 60 s: the volumes close as with every
    step, and the losses are within 1 % of every step's (the water waits up to three steps longer)."""
    grid, forcing = _sloping(dtype)
    out = {}
    for every in (1, 4):
        state = FloodState.from_depth(np.full(grid.z.shape, 0.2), dtype)  # steps of about 3.5 s: 4 pass dt_max
        params = FloodParams(losses_every=every)
        v0 = stored_volume(state, grid)
        net = infil = drain = 0.0
        for t in np.arange(60.0, 601.0, 60.0):
            st = advance(state, grid, forcing, params, float(t))
            assert st.status == 0
            net, infil, drain = net + st.net_inflow, infil + st.vol_infil, drain + st.vol_drain
        scale = stored_volume(state, grid) + infil + drain
        assert abs(stored_volume(state, grid) - v0 - net) < bound * scale
        out[every] = (infil, drain, state.h.copy())
        assert infil < 0.5 * st.vol_rain * 10  # ponded: the capacity, not the rain, sets the infiltration
    assert out[4][0] == pytest.approx(out[1][0], rel=1e-2) and out[4][1] == pytest.approx(out[1][1], rel=1e-2)
    assert np.abs(out[4][2] - out[1][2]).max() < 1e-3
    assert out[4][0] != out[1][0]  # the option did change something


@pytest.mark.parametrize("bad", [0, -1, 2.0])
def test_losses_every_must_be_a_positive_integer(bad):
    grid, state = _ponded()
    with pytest.raises(ValueError, match="losses_every"):
        advance(state, grid, FloodForcing.none(grid.z.shape), FloodParams(losses_every=bad), 5.0)
