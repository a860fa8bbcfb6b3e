"""Local time stepping of the flood kernel (``FloodParams(time_stepping="local")``, kernels._flood_lts).

A river channel through a floodplain: the channel's 3 m of water set a step four to eight times
shorter than the floodplain's, so the tiles step at two levels or more (the tests check they do). The
verification cases of test_flood_kernel.py also run with local steps (their ``stepping`` parameter).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from kernels import flood
from kernels.flood import (
    DeviceError,
    FloodAccum,
    FloodForcing,
    FloodGrid,
    FloodParams,
    FloodState,
    Series,
    advance,
    edge_faces,
    stored_volume,
)

LOCAL = FloodParams(time_stepping="local", alpha=0.6)
GLOBAL = FloodParams(alpha=0.6)


def _river(dtype, ny: int = 96, nx: int = 160, dx: float = 4.0, forced: bool = True):
    """A valley draining to a 3 m deep channel along row ny/2 that flows east (free outflow), with
    rain, Horton infiltration, drainage, a point inflow, a pump and (``forced``) a level-held cell."""
    yy, xx = np.mgrid[0:ny, 0:nx]
    chan = np.abs(yy - ny // 2) < 4
    z = 0.004 * dx * np.abs(yy - ny // 2) + 0.0005 * dx * (nx - xx) + 0.05 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    z = np.where(chan, z - 3.0, z)
    blocked = np.zeros((ny, nx), np.uint8)
    blocked[20:26, 40:50] = 1  # a building
    grid = FloodGrid.simple(
        z.astype(dtype), dx, 0.03, blocked=blocked, boundaries=[edge_faces((ny, nx), "east", 1, slope=0.0005)]
    )
    shape = (ny, nx)
    drain = np.zeros(shape)
    drain[:, : nx // 2] = 10 / 3.6e6
    grid = grid._replace(
        infil_kind=1,
        infil_a=np.full(shape, 30 / 3.6e6),
        infil_b=np.full(shape, 5 / 3.6e6),
        infil_c=np.full(shape, 2 / 3600),
        drain_cap=drain,
    )
    ser = Series.pack(
        [([0.0, 300.0, 900.0], [0.0, 1.0, 0.2]), ([0.0, 1800.0], [2.0, 2.0]), ([0.0, 1800.0], [-0.3, -0.3])]
    )
    forcing = FloodForcing.none(shape, ser)._replace(
        rain_field=np.full(shape, 60 / 3.6e6),
        rain_ser=0,
        src_row=np.array([ny // 2, 10]),
        src_col=np.array([2, 120]),
        src_ser=np.array([1, 2]),
        src_w=np.array([1.0, 1.0]),
    )
    if forced:
        level = float(z[ny // 2, 80]) + 2.5
        forcing = forcing._replace(series=Series.pack([*_parts(ser), ([0.0, 1800.0], [level, level + 0.5])]))
        grid = grid._replace(fix_row=np.array([ny // 2]), fix_col=np.array([80]), fix_ser=np.array([3]))
    h = np.where(chan & (blocked == 0), 3.0, 0.0)
    return grid, forcing, FloodState.from_depth(h, dtype)


def _parts(ser: Series) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(ser.t[a:b], ser.v[a:b]) for a, b in zip(ser.ptr[:-1], ser.ptr[1:])]


def _balance(dtype, params: FloodParams, t_end: float = 900.0, step: float = 60.0, ny: int = 96, nx: int = 160):
    grid, forcing, state = _river(dtype, ny=ny, nx=nx)
    v0 = stored_volume(state, grid)
    accum = FloodAccum.zeros(state.h.shape)
    net, share, vin = 0.0, np.zeros(params.max_levels + 2), 0.0
    t = 0.0
    while t < t_end:
        t = min(t + step, t_end)  # stops as a run does, for its outputs
        st = advance(state, grid, forcing, params, t, accum)
        assert st.status == 0
        net += st.net_inflow
        vin += st.vol_rain + st.vol_inflow + st.vol_bnd_in
        if st.level_share:
            share += np.array(st.level_share)
    err = abs(stored_volume(state, grid) - v0 - net) / max(v0, vin)
    return err, share / max(share.sum(), 1e-300), state, accum


@pytest.mark.parametrize("dtype, bound", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_local_steps_conserve_mass(dtype, bound):
    # Every face's volume leaves one cell and enters the other whatever the two tiles' levels, and the
    # forcing of a tile is taken over its own step: the balance closes to round-off as with the global
    # step (the same bounds as test_flood_kernel's mass-balance tests: 1e-12 float64, 1e-6 float32).
    err, share, state, _ = _balance(dtype, LOCAL)
    assert err < bound
    assert state.h.min() >= 0
    # Not vacuous: the tiles stepped at several levels (six rows of 16 x 32 tiles here: the channel's
    # at the finest, the others above it for a third of the cell-time or more).
    assert share[1:-1].sum() > 0.3, share


@pytest.mark.parametrize("dtype, bound", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_short_intervals_keep_the_coarse_levels_and_conserve_mass(dtype, bound):
    # Intervals of 5 s, as between two sewer exchanges, with the finest step about 0.44 s: a cycle of
    # 2^4 fine steps (7 s) does not fit in one, so the cycle is cut to the interval's 12 fine steps
    # and the coarsest tiles take one step of all 12 (a level's last step cut to the cycle's end).
    # Nine rows of tiles, the channel in the middle one: the graded levels reach 4 at the edges.
    params = LOCAL._replace(max_levels=4)
    err, share, state, _ = _balance(dtype, params, t_end=150.0, step=5.0, ny=9 * flood.LTS_TILE[0], nx=128)
    assert err < bound
    assert state.h.min() >= 0 and state.t == 150.0
    # Not capped by the interval: the coarsest level holds the outer tile rows (2 of 9) for most of the run.
    assert share[4] > 0.1, share


def test_one_level_is_the_global_step():
    # max_levels = 0: every tile steps with the global step, every fine step updates every face and
    # cell once, so the scheme is the global one; only the order of the float64 sums differs
    # (volumes per face instead of dt/dx times the flux divergence), ~1e-16 per step.
    grid, forcing, s_glob = _river(np.float64, forced=False)
    _, _, s_loc = _river(np.float64, forced=False)
    a_glob, a_loc = FloodAccum.zeros(s_glob.h.shape), FloodAccum.zeros(s_glob.h.shape)
    for t in (60.0, 120.0, 180.0):
        g = advance(s_glob, grid, forcing, GLOBAL, t, a_glob)
        lo = advance(s_loc, grid, forcing, LOCAL._replace(max_levels=0), t, a_loc)
        assert g.steps == lo.steps and lo.level_share[0] == 1.0
    np.testing.assert_allclose(s_loc.h, s_glob.h, rtol=0, atol=1e-10)
    np.testing.assert_allclose(s_loc.qx, s_glob.qx, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a_loc.h_max, a_glob.h_max, rtol=0, atol=1e-6)  # float32 maxima
    np.testing.assert_allclose(a_loc.v_max, a_glob.v_max, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(np.isnan(a_loc.t_arrival), np.isnan(a_glob.t_arrival))


def test_river_and_floodplain_max_depths_match_the_global_step():
    # The floodplain tiles step longer than the channel's. Tolerance: the global scheme's own
    # sensitivity to its step. Halving alpha (0.6 -> 0.3) moves the maximum depths of this case by
    # about as much as local stepping does (both measured below); local stepping must stay within
    # 1 cm on 99 % of the wet cells (the target) and its maxima may not differ from the
    # global ones by more than twice what the global step's own halving changes.
    _, _, _, a_glob = _balance(np.float64, GLOBAL)
    _, _, _, a_half = _balance(np.float64, GLOBAL._replace(alpha=0.3))
    _, share, _, a_loc = _balance(np.float64, LOCAL)
    wet = a_glob.h_max > 0.01
    d_loc = np.abs(a_loc.h_max - a_glob.h_max)[wet]
    d_half = np.abs(a_half.h_max - a_glob.h_max)[wet]
    assert share[1:-1].sum() > 0.3
    assert np.quantile(d_loc, 0.99) < 0.01
    assert np.quantile(d_loc, 0.99) <= 2 * np.quantile(d_half, 0.99) + 1e-3
    # the same cells flooded, and the arrival times within a minute where both flood
    assert (
        np.array_equal(a_loc.h_max > 0.1, a_glob.h_max > 0.1)
        or np.mean((a_loc.h_max > 0.1) != (a_glob.h_max > 0.1)) < 0.002
    )


def _wave(params: FloodParams, t_end: float = 120.0) -> FloodAccum:
    """A 5 cm hump of water spreading over a 10 cm sheet on flat ground (closed edges), with a 3 m deep pit in
    one corner that sets the finest step: the sheet's tiles step at 2x and 4x it. Maxima after ``t_end``."""
    ny, nx = 3 * flood.LTS_TILE[0], 4 * flood.LTS_TILE[1]
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = np.zeros((ny, nx))
    z[:8, :8] = -3.0
    grid = FloodGrid.simple(z, 4.0, 0.03)
    h = np.where(z < 0, 3.1, 0.1) + 0.05 * np.exp(-((xx - 80) ** 2 + (yy - 24) ** 2) / (2 * 6.0**2))
    state = FloodState.from_depth(h, np.float64)
    forcing = FloodForcing.none((ny, nx), Series.pack([([0.0, 1.0], [0.0, 0.0])]))
    accum = FloodAccum.zeros((ny, nx))
    for t in np.arange(10.0, t_end + 1.0, 10.0):
        assert advance(state, grid, forcing, params, float(t), accum).status == 0
    return accum


def test_coarse_steps_smooth_the_discharges_as_the_global_step_does():
    # The flux weighting takes (1 - theta) / 2 of the neighbouring discharges at every step: a smoothing
    # whose strength per second is (1 - theta) / dt, so the scheme's answers move with its step. Shown on
    # the global step: alpha 0.3 with theta 0.9 (half the step, half the weight) gives the maxima of
    # alpha 0.6 with theta 0.8 (0.016 mm apart here; alpha 0.3 with theta 0.8: 1.5 mm).
    ref = _wave(GLOBAL)
    same = _wave(GLOBAL._replace(alpha=0.3, theta=0.9))
    assert np.abs(same.h_max - ref.h_max).max() < 1e-4
    # A tile at 2x the finest step weights with 1 - 2 (1 - theta) (0.6): its maxima are the global step's
    # (0.033 mm apart, speeds 0.035 mm/s on average; with theta kept at 0.8, 0.99 mm and 2.4 mm/s).
    two = _wave(LOCAL._replace(max_levels=1))
    assert np.abs(two.h_max - ref.h_max).max() < 1e-4
    assert np.abs(two.v_max - ref.v_max).mean() < 2e-4
    # At 4x (three quarters of the cell-time here) the weighting stops at 0.5 (1.9 mm and 1.7 mm/s; with
    # theta 0.8, 2.6 mm and 4.0 mm/s; with 0.2, the exact match, a spurious 15 mm peak at a tile's edge).
    four = _wave(LOCAL._replace(max_levels=2))
    assert np.abs(four.h_max - ref.h_max).max() < 5e-3
    assert np.abs(four.v_max - ref.v_max).mean() < 2.5e-3


def test_resume_from_a_checkpoint_continues_the_same_run():
    # Local stepping keeps no state of its own between calls (levels are chosen afresh each cycle from
    # the depths), so a run resumed from a checkpoint (copies of the state and accumulators, new
    # objects as a load makes them) gives the same bits as the run that went on.
    grid, forcing, state = _river(np.float32)
    accum = FloodAccum.zeros(state.h.shape)
    advance(state, grid, forcing, LOCAL, 300.0, accum)
    ck = {k: getattr(state, k).copy() for k in ("h", "qx", "qy", "infil_cum", "h_lo")}
    ck_acc = accum.copy()
    for t in (360.0, 420.0, 600.0):
        advance(state, grid, forcing, LOCAL, t, accum)
    resumed = FloodState(ck["h"], ck["qx"], ck["qy"], ck["infil_cum"], 300.0, 0, ck["h_lo"])
    for t in (360.0, 420.0, 600.0):
        advance(resumed, grid, forcing, LOCAL, t, ck_acc)
    for name in ("h", "h_lo", "qx", "qy", "infil_cum"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(state, name), err_msg=name)
    for name in ("h_max", "v_max", "hazard_max", "t_arrival", "duration", "wet_since"):
        np.testing.assert_array_equal(getattr(ck_acc, name), getattr(accum, name), err_msg=name)


def test_one_thread_gives_the_bits_of_the_threads(monkeypatch):
    # Each call runs on the threads or on one, whichever the state's earlier calls measured faster (a
    # busy machine's descheduled thread stalls the short parallel loops of the fine steps): the choice
    # may follow the speed only because both give the same bits.
    threads = numba.get_num_threads()
    if threads < 2:
        pytest.skip("one Numba thread: there is nothing to choose")
    grid, forcing, one = _river(np.float32)
    _, _, par = _river(np.float32)
    a_one, a_par = FloodAccum.zeros(one.h.shape), FloodAccum.zeros(par.h.shape)
    one._lts_threads.choose = lambda can_parallel: False  # always one thread
    for t in (120.0, 240.0, 360.0):
        advance(one, grid, forcing, LOCAL, t, a_one)
        assert numba.get_num_threads() == threads  # given back after the call
        monkeypatch.setattr(flood, "ADAPTIVE_THREADS", False)  # always the threads
        advance(par, grid, forcing, LOCAL, t, a_par)
        monkeypatch.setattr(flood, "ADAPTIVE_THREADS", True)
    assert one._lts_threads.rate[False] is not None and one._lts_threads.rate[True] is None
    for name in ("h", "h_lo", "qx", "qy", "infil_cum"):
        np.testing.assert_array_equal(getattr(one, name), getattr(par, name), err_msg=name)
    for name in ("h_max", "v_max", "hazard_max", "t_arrival", "duration", "wet_since"):
        np.testing.assert_array_equal(getattr(a_one, name), getattr(a_par, name), err_msg=name)
    # left to itself, a state measures the threads first
    _, _, auto = _river(np.float32)
    for t in (120.0, 240.0):
        advance(auto, grid, forcing, LOCAL, t)
    assert auto._lts_threads.rate[True] is not None


def test_local_stepping_is_refused_where_it_cannot_run():
    grid, forcing, state = _river(np.float64, ny=40, nx=40, forced=False)
    with pytest.raises(ValueError, match="fixed_dt = 0"):
        advance(state, grid, forcing, LOCAL._replace(fixed_dt=0.5), 10.0)
    with pytest.raises(ValueError, match="max_levels"):
        advance(state, grid, forcing, LOCAL._replace(max_levels=9), 10.0)
    with pytest.raises(ValueError, match="time_stepping"):
        advance(state, grid, forcing, LOCAL._replace(time_stepping="tiles"), 10.0)
    with pytest.raises(DeviceError, match="CPU only"):
        advance(state, grid, forcing, LOCAL, 10.0, device="gpu")
    assert flood.TIME_STEPPING == ("global", "local")
