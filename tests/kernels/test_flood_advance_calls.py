"""Repeated advance() calls (a run stopped every few seconds, as the sewer coupling does) keep their
inputs checked and prepared once, and give the same result as one call."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.flood import FloodAccum, FloodForcing, FloodGrid, FloodParams, FloodState, advance, edge_faces

ACC = ("h_max", "v_max", "hazard_max", "t_arrival", "duration", "wet_since")


def _slope(dtype=np.float32):
    ny, nx, dx = 40, 60, 2.0
    xs, ys = np.meshgrid(np.arange(nx) * dx, np.arange(ny) * dx)
    z = 10 - 0.01 * xs + 0.02 * np.abs(ys - 40) + 0.05 * np.sin(xs / 7.0) * np.cos(ys / 5.0)
    blocked = np.zeros((ny, nx), np.uint8)
    blocked[10:14, 20:25] = 1  # a building
    grid = FloodGrid.simple(
        z.astype(dtype), dx, 0.03, blocked=blocked, boundaries=edge_faces((ny, nx), "east", 1, slope=0.01)
    )
    forcing = FloodForcing.uniform_rain((ny, nx), 100.0 / 3.6e6)
    return grid, forcing, FloodState.zeros((ny, nx), dtype), FloodAccum.zeros((ny, nx))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_call_and_many_five_second_calls_are_bit_identical_with_a_fixed_step(dtype):
    params = FloodParams(fixed_dt=0.25)
    grid, forcing, one, acc1 = _slope(dtype)
    advance(one, grid, forcing, params, 300.0, acc1)
    _, _, many, acc2 = _slope(dtype)
    for k in range(1, 61):
        advance(many, grid, forcing, params, 5.0 * k, acc2)
    assert one.steps == many.steps == 1200
    for name in ("h", "qx", "qy", "infil_cum"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name), err_msg=name)
    for name in ACC:
        np.testing.assert_array_equal(getattr(acc1, name), getattr(acc2, name), err_msg=name)


def test_adaptive_steps_differ_only_by_the_shortened_last_steps():
    # The adaptive step is cut to land on each call's end, so the step sequence differs, and with it the
    # free outflow of a thin sheet at the edge (the same as before the inputs were kept between calls:
    # 143 against 160 steps, outflow 21.3 against 18.6 m3); the water is accounted for in both.
    params = FloodParams(alpha=0.6)
    grid, forcing, one, acc1 = _slope(np.float64)
    out1 = advance(one, grid, forcing, params, 300.0, acc1).vol_bnd_out
    _, _, many, acc2 = _slope(np.float64)
    out2 = sum(advance(many, grid, forcing, params, 5.0 * k, acc2).vol_bnd_out for k in range(1, 61))
    assert many.steps > one.steps
    rain = 100.0 / 3.6e6 * 300.0 * 4.0 * (one.h.size - 20)
    for state, out in ((one, out1), (many, out2)):
        assert state.h.sum() * 4.0 + out == pytest.approx(rain, rel=1e-9)
    np.testing.assert_allclose(many.h, one.h, atol=1e-2)


def test_a_new_grid_or_forcing_is_checked_again_after_earlier_calls():
    params = FloodParams()
    grid, forcing, state, acc = _slope(np.float64)
    advance(state, grid, forcing, params, 5.0, acc)
    z = grid.z.copy()
    z[3, 3] = np.nan
    with pytest.raises(ValueError, match="grid.z holds NaN"):
        advance(state, grid._replace(z=z), forcing, params, 10.0, acc)
    rain = forcing.rain_field.copy()
    rain[0, 0] = -1.0
    with pytest.raises(ValueError, match="rain_field must be finite and >= 0"):
        advance(state, grid, forcing._replace(rain_field=rain), params, 10.0, acc)
    with pytest.raises(ValueError, match="alpha"):
        advance(state, grid, forcing, params._replace(alpha=2.0), 10.0, acc)
    # and the remembered inputs still run after the refused ones
    assert advance(state, grid, forcing, params, 10.0, acc).status == 0


def test_depths_the_caller_changes_between_calls_are_checked_and_counted():
    params = FloodParams()
    grid, forcing, state, acc = _slope(np.float64)
    advance(state, grid, forcing, params, 5.0, acc)
    state.h[20, 30] += 0.8  # water a manhole puts on its cell
    advance(state, grid, forcing, params, 5.0, acc)  # an empty interval: only the start is folded in
    assert acc.h_max[20, 30] == pytest.approx(state.h[20, 30])
    assert acc.t_arrival[20, 30] <= 5.0
    state.h[5, 5] = -0.1
    with pytest.raises(ValueError, match="negative, NaN or infinite depths"):
        advance(state, grid, forcing, params, 10.0, acc)
    state.h[5, 5] = 0.0
    state.h[11, 21] = 1.0  # in the building: zeroed, as on the first call
    advance(state, grid, forcing, params, 10.0, acc)
    assert state.h[11, 21] == 0.0


def _exchange(state, k, cells):
    """What a sewer exchange does between calls: water on and off a few cells (k: which exchange)."""
    rows, cols = cells
    sign = np.where(np.arange(rows.size) % 2 == 0, 1.0, -0.5)
    change = sign * 0.02 * (1 + np.sin(k + np.arange(rows.size)))
    np.add.at(state.h, cells, change.astype(state.h.dtype))
    state.h[cells] = np.maximum(state.h[cells], 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stepping", ["global", "local"])
def test_naming_the_changed_cells_gives_the_same_bits_as_the_whole_grid_pass(dtype, stepping):
    params = FloodParams(alpha=0.6, time_stepping=stepping)
    # manholes (two sharing a cell) and a cell in the building, whose change is zeroed
    cells = (np.array([20, 20, 5, 33, 12, 39]), np.array([30, 30, 50, 10, 22, 59]))
    results = []
    for named in (False, True):
        grid, forcing, state, acc = _slope(dtype)
        for k in range(1, 41):
            advance(state, grid, forcing, params, 5.0 * k, acc, changed=cells if named and k > 1 else None)
            _exchange(state, k, cells)
        results.append((state, acc))
    (one, acc1), (two, acc2) = results
    assert one.steps == two.steps
    for name in ("h", "qx", "qy", "infil_cum", "h_lo"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    for name in ACC:
        np.testing.assert_array_equal(getattr(acc1, name), getattr(acc2, name), err_msg=name)


def test_named_changes_are_checked_folded_and_time_the_next_step():
    params = FloodParams()
    grid, forcing, state, acc = _slope(np.float64)
    advance(state, grid, forcing, params, 5.0, acc)
    deep = 3.0  # deeper than any water there: the next step's Courant limit must see it
    state.h[20, 30] = deep
    st = advance(state, grid, forcing, params, 5.0 + 1e-3, acc, changed=([20], [30]))
    assert acc.h_max[20, 30] == deep
    assert st.dt_max == pytest.approx(1e-3)
    st = advance(state, grid, forcing, params, 6.0, acc, changed=([], []))
    assert st.dt_min <= 0.7 * 2.0 / np.sqrt(9.81 * deep) * 1.001  # its first step (the column then spreads)
    # the deepest cell drained: the largest depth is found again over the whole grid, as without the names
    state.h[20, 30] = 0.0
    _, _, ref, ref_acc = _slope(np.float64)
    for name in ("h", "qx", "qy", "h_lo", "infil_cum"):
        np.copyto(getattr(ref, name), getattr(state, name))
    ref.t = state.t
    a = advance(state, grid, forcing, params, 7.0, acc, changed=([20], [30]))
    b = advance(ref, grid, forcing, params, 7.0, ref_acc)
    assert (a.steps, a.dt_max) == (b.steps, b.dt_max)
    np.testing.assert_array_equal(state.h, ref.h)
    state.h[5, 5] = -0.1
    with pytest.raises(ValueError, match="negative, NaN or infinite depths"):
        advance(state, grid, forcing, params, 8.0, acc, changed=([5], [5]))
    state.h[5, 5] = 0.0
    state.h[11, 21] = 1.0  # in the building: zeroed, as on the first call
    advance(state, grid, forcing, params, 8.0, acc, changed=([11], [21]))
    assert state.h[11, 21] == 0.0
    with pytest.raises(ValueError, match="outside the 40 x 60 grid"):
        advance(state, grid, forcing, params, 9.0, acc, changed=([40], [0]))


# --- The sweep each call runs (kernels._sweep_choice) ---------------------------------------------


def test_the_sweep_choice_follows_the_measured_speed_and_tries_the_other_again():
    from kernels._sweep_choice import PROBE_FIRST, PROBE_MAX, SweepChoice

    def calls(ch, n, rate):
        """n calls as advance makes them: choose, run, record; the parallel picks' call numbers."""
        picked = []
        for k in range(n):
            par = ch.choose(True)
            ch.record(par, rate[par], 1.0)
            if par:
                picked.append(k)
        return picked

    ch = SweepChoice()
    assert ch.choose(False) is False  # a grid too small for threads never runs in parallel
    # A busy machine: one thread a little faster than two. Parallel first (nothing measured), then
    # one thread, tried in parallel again after 8, 16, 32, then every 64 calls.
    busy = calls(ch, 300, {True: 1e8, False: 1.1e8})
    gaps = np.diff(busy).tolist()
    # (the first gap also holds the one-thread call that measured it)
    assert busy[0] == 0 and gaps[:4] == [PROBE_FIRST + 1, 2 * PROBE_FIRST, 4 * PROBE_FIRST, PROBE_MAX]
    assert set(gaps[3:]) == {PROBE_MAX}
    # The machine frees up: the next try finds parallel faster, and it is kept from then on, but for
    # its own tries of one thread, which back off the same way.
    idle = calls(ch, 200, {True: 1.2e8, False: 1.1e8})
    first = idle[0]
    assert first <= PROBE_MAX
    serial_after = sorted(set(range(first, 200)) - set(idle))
    assert serial_after[0] - first <= PROBE_FIRST + 1
    assert np.diff(serial_after).tolist()[:3] == [2 * PROBE_FIRST, 4 * PROBE_FIRST, PROBE_MAX]


def test_a_sweep_far_slower_is_tried_again_only_after_the_longest_interval():
    """Each try costs what the slower sweep loses: one thread on a free machine is tried rarely."""
    from kernels._sweep_choice import CLEAR, PROBE_MAX, SweepChoice

    ch = SweepChoice()
    picked = []
    for k in range(300):
        par = ch.choose(True)
        ch.record(par, 1.01 * CLEAR * 1e8 if par else 1e8, 1.0)  # no CPU time: no proof
        if not par:
            picked.append(k)
    # one thread measured once after the first parallel call, then every PROBE_MAX calls
    assert picked[0] == 1 and set(np.diff(picked).tolist()) == {PROBE_MAX}
    # The machine gets busy: the parallel sweep's own measurements show it, and one thread takes over.
    assert ch.choose(True) is True
    ch.record(True, 0.9e8, 1.0)
    assert ch.choose(True) is False


def test_parallel_calls_that_prove_themselves_faster_skip_the_one_thread_tries():
    from kernels._sweep_choice import PROVEN, SweepChoice

    ch = SweepChoice()
    # Both threads kept their cores (1.9 CPU-seconds a second, waiting threads asleep): one thread
    # could not have been faster, so it is never tried.
    for _ in range(100):
        assert ch.choose(True) is True
        ch.record(True, 1e8, 1.0, cpu_seconds=1.9)
    # Spinning threads report no CPU time (None): no proof, and one thread is tried next.
    ch.record(True, 1e8, 1.0, cpu_seconds=None)
    assert ch.choose(True) is False
    ch.record(False, 2e8, 1.0)  # one thread was faster: a busy machine
    assert ch.choose(True) is False
    # A thread lost its core: below the bound, the tries of one thread come back.
    ch = SweepChoice()
    ch.choose(True)
    ch.record(True, 1e8, 1.0, cpu_seconds=0.99 * PROVEN)
    assert ch.choose(True) is False


def test_short_calls_are_summed_into_one_measurement_of_one_sweep():
    from kernels._sweep_choice import MIN_SECONDS, SweepChoice

    ch = SweepChoice()
    short = MIN_SECONDS / 4.5
    # A run's short calls (a sewer exchange every few steps): one descheduled call alone would
    # decide the choice, so the parallel sweep runs until its calls span MIN_SECONDS together.
    for k in range(5):
        assert ch.rate[True] is None
        assert ch.choose(True) is True
        ch.record(True, 1e6 if k else 1e3, short)  # the first call lost its core
    assert ch.rate[True] == pytest.approx((4e6 + 1e3) / (5 * short))
    # Then one thread is tried, over as many calls, before the two are compared.
    for _ in range(5):
        assert ch.choose(True) is False
        ch.record(False, 3e5, short)
    assert ch.rate[False] == pytest.approx(3e5 / short)
    assert ch.choose(True) is True  # the parallel sweep measured faster


def test_a_one_thread_call_runs_on_one_thread_throughout(monkeypatch):
    """The whole call, its once-a-call parallel passes too: as fast as a one-thread run, not slower."""
    from kernels import flood
    from kernels._sweep_choice import SweepChoice

    if flood.numba.get_num_threads() < 2:
        pytest.skip("needs two Numba threads")
    seen = []

    class OneThread(SweepChoice):
        def choose(self, can_parallel):
            return False

        def record(self, parallel, *args, **kwargs):
            seen.append((parallel, flood.numba.get_num_threads()))

    n = 210  # above the kernel's parallel threshold (40,000 cells)
    grid = FloodGrid.simple(np.zeros((n, n), np.float32), 2.0)
    forcing = FloodForcing.uniform_rain((n, n), 100 / 3.6e6)
    state, acc = FloodState.zeros((n, n), np.float32), FloodAccum.zeros((n, n))
    state._sweeps = OneThread()
    threads = flood.numba.get_num_threads()
    for t in (10.0, 20.0, 30.0):
        advance(state, grid, forcing, FloodParams(), t, acc)
        assert flood.numba.get_num_threads() == threads  # given back after the call
    assert seen and set(seen) == {(False, 1)}


def test_switching_sweeps_between_calls_changes_no_bit(monkeypatch):
    from kernels import flood
    from kernels._sweep_choice import SweepChoice

    class Alternate(SweepChoice):
        def __init__(self):
            super().__init__()
            self.n = 0

        def choose(self, can_parallel):
            self.n += 1
            return can_parallel and self.n % 2 == 0

    def big():  # above the kernel's parallel threshold (40,000 cells)
        ny, nx, dx = 210, 200, 2.0
        xs = np.arange(nx) * dx
        z = np.broadcast_to(0.002 * (xs.max() - xs), (ny, nx)).astype(np.float32)
        grid = FloodGrid.simple(z, dx, 0.03, boundaries=edge_faces((ny, nx), "east", 1, slope=0.002))
        return grid, FloodForcing.uniform_rain((ny, nx), 100 / 3.6e6), FloodState.zeros((ny, nx), np.float32)

    if flood.numba.get_num_threads() < 2:
        pytest.skip("needs two Numba threads")
    monkeypatch.setattr(flood, "ADAPTIVE_THREADS", False)
    grid, forcing, fixed = big()
    for k in range(1, 9):
        advance(fixed, grid, forcing, FloodParams(), 15.0 * k)
    monkeypatch.setattr(flood, "ADAPTIVE_THREADS", True)
    grid, forcing, mixed = big()
    mixed._sweeps = Alternate()
    for k in range(1, 9):
        advance(mixed, grid, forcing, FloodParams(), 15.0 * k)
    assert mixed._sweeps.n == 8 and fixed.steps == mixed.steps and fixed.h.max() > 0.001
    for name in ("h", "qx", "qy", "h_lo"):
        np.testing.assert_array_equal(getattr(fixed, name), getattr(mixed, name), err_msg=name)


@pytest.mark.parametrize("scheme", ["inertial", "swe"])
def test_cell_speed_is_the_speed_a_fresh_running_maximum_takes_from_the_state(scheme):
    from kernels import flood, swe

    grid, forcing, state, _ = _slope()
    params = FloodParams()
    if scheme == "swe":
        state, params, speed_of, step = swe.SweState.from_depth(state.h), swe.SweParams.from_flood(params), swe, swe
    else:
        speed_of, step = flood, flood
    step.advance(state, grid, forcing, params, 200.0, FloodAccum.zeros(state.h.shape))
    h = state.h.copy()
    speed = speed_of.cell_speed(state, grid, params)
    np.testing.assert_array_equal(state.h, h)  # the state is left as it was
    # a zero-length call folds the state as it is into a fresh accumulator: the same speed, bit for bit
    fresh = FloodAccum.zeros(state.h.shape)
    step.advance(state, grid, forcing, params, state.t, fresh)
    assert speed.dtype == np.float32 and float(speed.max()) > 0.05
    np.testing.assert_array_equal(speed, fresh.v_max)
    assert not speed[h <= params.wet_depth].any() and not speed[grid.blocked == 1].any()
