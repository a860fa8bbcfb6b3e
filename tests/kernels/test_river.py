"""Verification of the river routing kernels (kernels.river).

Each case is checked against something independent of the code: the kinematic celerity and the
Hayami (1951) diffusion-wave solution for Muskingum-Cunge, a fine-step ODE integration for the
level pool, and exact volume identities. See /work/shared/VERIFICATION.md ("River-lake").
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from kernels.river import (
    RiverNetwork,
    Router,
    channel_parameters,
    level_pool,
    route,
    topological_order,
)

# --- topology -------------------------------------------------------------------------------------


def _random_tree(n: int, seed: int) -> np.ndarray:
    """A random forest: each link drains into a link of higher index (or is an outlet), then shuffled."""
    rng = np.random.default_rng(seed)
    ds = np.full(n, -1, np.int64)
    for i in range(n - 1):
        if rng.random() > 0.02:
            ds[i] = rng.integers(i + 1, n)
    perm = rng.permutation(n)  # relabel so that index order is not already topological
    relabelled = np.full(n, -1, np.int64)
    relabelled[perm] = np.where(ds >= 0, perm[ds], -1)
    return relabelled


def test_topological_order_puts_every_link_before_its_downstream():
    ds = _random_tree(2000, seed=1)
    order = topological_order(ds)
    assert np.array_equal(np.sort(order), np.arange(ds.size))
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    has_ds = ds >= 0
    assert np.all(position[has_ds] < position[ds[has_ds]])


def test_cycle_raises_and_names_a_link_on_it():
    # 0 -> 1 -> 2 -> 3 -> 1 (cycle 1, 2, 3); 4 -> 0 hangs above it, 5 is a separate outlet.
    ds = np.array([1, 2, 3, 1, 0, -1])
    with pytest.raises(ValueError, match=r"cycle through link [123] ") as info:
        topological_order(ds)
    assert "0 ->" not in str(info.value) and "4 ->" not in str(info.value)


def test_self_loop_and_out_of_range_ids_raise():
    with pytest.raises(ValueError, match="cycle through link 2"):
        topological_order(np.array([1, -1, 2]))
    with pytest.raises(ValueError, match=r"downstream\[1\] = 7 is not a link index"):
        topological_order(np.array([1, 7, -1]))
    with pytest.raises(ValueError, match=r"downstream\[0\] = -2"):
        topological_order(np.array([-2, -1]))


# --- Muskingum-Cunge ------------------------------------------------------------------------------

B, S0, N_MANNING, Q_REF = 50.0, 1e-3, 0.035, 100.0


def _gaussian_run(length: float, dt: float, sigma: float, amplitude: float, hours: float):
    """Step-mean Gaussian inflow hydrograph through one long prismatic link."""
    net = RiverNetwork(
        np.array([-1]), np.array([length]), np.array([S0]), np.array([N_MANNING]), np.array([B]), np.array([Q_REF])
    )
    t_mid = (np.arange(int(hours * 3600 / dt)) + 0.5) * dt
    t0 = 6.0 * sigma
    inflow = amplitude * np.exp(-0.5 * ((t_mid - t0) / sigma) ** 2)
    out = route(net, inflow[:, None], dt=dt)[:, 0]
    return t_mid, t0, inflow, out


def _peak(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Peak time and value by a parabola through the largest sample and its neighbours."""
    k = int(np.argmax(y))
    y0, y1, y2 = y[k - 1 : k + 2]
    d = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return t[k] + d * (t[1] - t[0]), y1 - 0.25 * (y0 - y2) * d


def test_muskingum_cunge_translates_and_attenuates_like_the_diffusion_wave():
    length, dt, sigma, amplitude = 100e3, 600.0, 7200.0, 80.0
    t, t0, inflow, out = _gaussian_run(length, dt, sigma, amplitude, hours=60.0)
    _, _, c, diff = channel_parameters(Q_REF, B, S0, N_MANNING)
    assert c == pytest.approx(5.0 / 3.0 * Q_REF / (B * (Q_REF * N_MANNING / (B * np.sqrt(S0))) ** 0.6))
    assert diff == pytest.approx(Q_REF / (2 * B * S0))
    travel = length / c

    t_peak, q_peak = _peak(t, out)
    # Kinematic translation: the diffusion wave's peak arrives a little before L / c (skewed
    # Hayami kernel, about 0.4 % here), so 2 % is a few times that and catches any celerity error.
    assert t_peak - t0 == pytest.approx(travel, rel=0.02)

    # Frozen-shape diffusion of a Gaussian pulse: its spatial variance grows by 2 D t, i.e. its
    # temporal variance by 2 D t / c^2 over the travel time t = L / c, and the peak falls as the
    # width grows. The approximation neglects the kernel's skewness (< 0.2 % here); 3 % tolerance.
    ratio = sigma / np.sqrt(sigma**2 + 2.0 * diff * travel / c**2)
    assert ratio < 0.9  # the case does attenuate measurably
    assert q_peak / amplitude == pytest.approx(ratio, rel=0.03)

    # Hayami (1951): the exact linear diffusion-wave response of a semi-infinite channel to a
    # boundary hydrograph is its convolution with x / sqrt(4 pi D s^3) exp(-(x - c s)^2 / (4 D s)).
    # Muskingum-Cunge matches D to second order, so its peak should be within 1 % (observed 0.1 %).
    h = 10.0
    s = np.arange(h, t[-1], h)
    kernel = length / np.sqrt(4 * np.pi * diff * s**3) * np.exp(-((length - c * s) ** 2) / (4 * diff * s))
    tf = np.arange(0.0, t[-1], h)
    hayami = np.convolve(amplitude * np.exp(-0.5 * ((tf - t0) / sigma) ** 2), kernel)[: tf.size] * h
    assert q_peak == pytest.approx(hayami.max(), rel=0.01)
    assert t_peak == pytest.approx(tf[np.argmax(hayami)], abs=dt)

    # Volume: the wave has left (last outflow ~1e-30 of the peak); the scheme conserves exactly,
    # so only round-off of ~300 sums remains.
    assert out[-1] < 1e-9 * q_peak
    assert abs(out.sum() - inflow.sum()) / inflow.sum() < 1e-9


def test_confluence_network_conserves_volume_and_step_equals_run():
    # Links 0 and 1 join into 2, which drains into outlet link 3; mixed lengths force sub-reaches
    # in long links and sub-steps in the short one.
    net = RiverNetwork(
        downstream=np.array([2, 2, 3, -1]),
        length=np.array([30e3, 12e3, 800.0, 20e3]),
        slope=np.array([2e-3, 1e-3, 5e-4, 5e-4]),
        manning=np.array([0.04, 0.035, 0.03, 0.03]),
        width=np.array([20.0, 30.0, 60.0, 60.0]),
        q_ref=np.array([40.0, 60.0, 100.0, 100.0]),
    )
    dt = 900.0
    n_steps = 400
    t = (np.arange(n_steps) + 0.5) * dt
    inflow = np.zeros((n_steps, 4))
    inflow[:, 0] = 50.0 * np.exp(-0.5 * ((t - 8 * 3600) / 5000.0) ** 2)
    inflow[:, 1] = 30.0 * np.exp(-0.5 * ((t - 12 * 3600) / 3000.0) ** 2)
    lateral = np.zeros((n_steps, 4))
    lateral[:, 3] = 5.0 * np.exp(-0.5 * ((t - 10 * 3600) / 4000.0) ** 2)
    router = Router(net, dt)
    assert router.n_sub[0] > 1 and router.m_sub[2] > 1
    out = route(net, inflow, lateral, dt)
    total_in = inflow.sum() + lateral.sum()
    assert out[-1, 3] < 1e-9 * out[:, 3].max()
    assert abs(out[:, 3].sum() - total_in) / total_in < 1e-9

    stepped = np.array([router.step(lateral[k], inflow[k]) for k in range(n_steps)])
    np.testing.assert_allclose(stepped, out, rtol=0, atol=1e-12 * out.max())


def test_router_flows_hot_start_is_steady():
    net = RiverNetwork(
        np.array([1, -1]),
        np.array([10e3, 5e3]),
        np.array([1e-3, 1e-3]),
        np.array([0.035, 0.035]),
        np.array([50.0, 50.0]),
        np.array([100.0, 100.0]),
    )
    router = Router(net, 600.0)
    router.flows = [70.0, 70.0]
    for _ in range(10):
        out = router.step(inflow=[70.0, 0.0])
    # A uniform steady state is a fixed point of the scheme (C0 + C1 + C2 = 1): exact to round-off.
    np.testing.assert_allclose(out, 70.0, rtol=1e-12)
    np.testing.assert_allclose(router.flows, 70.0, rtol=1e-12)
    with pytest.raises(ValueError, match="inflow must have shape"):
        router.step(inflow=[1.0, 2.0, 3.0])
    bad = net._replace(slope=np.array([1e-3, 0.0]))
    with pytest.raises(ValueError, match=r"network.slope\[1\]"):
        Router(bad, 600.0)


# --- level pool -----------------------------------------------------------------------------------


def test_level_pool_matches_a_fine_ode_integration():
    area, crest_c, crest_l = 2.0e5, 1.7, 10.0  # pool area [m2]; weir Q = C L H^1.5, H above the crest
    stage_tab = np.linspace(0.0, 6.0, 121)
    storage_table = np.column_stack([stage_tab, area * stage_tab])
    outflow_table = np.column_stack([stage_tab, crest_c * crest_l * stage_tab**1.5])

    def inflow_at(time):  # triangle 0 -> 60 -> 0 m3/s over 6 h
        return np.interp(time, [0.0, 3 * 3600.0, 6 * 3600.0], [0.0, 60.0, 0.0])

    dt = 600.0
    times = np.arange(0.0, 24 * 3600.0 + dt / 2, dt)
    inflow = inflow_at(times)
    outflow, stage = level_pool(inflow, dt, storage_table, outflow_table, initial_stage=0.0)

    # Reference: dH/dt = (I(t) - O(H)) / A with the same tabulated rating, integrated with tight
    # tolerances and steps far below dt (the rating's kinks at the table rows are resolved).
    sol = solve_ivp(
        lambda tt, y: [(inflow_at(tt) - np.interp(y[0], stage_tab, outflow_table[:, 1])) / area],
        (0.0, times[-1]),
        [0.0],
        method="DOP853",
        rtol=1e-11,
        atol=1e-12,
        max_step=30.0,
        dense_output=True,
    )
    fine_t = np.arange(0.0, times[-1], 5.0)
    fine_q = np.interp(sol.sol(fine_t)[0], stage_tab, outflow_table[:, 1])
    # Modified Puls is the trapezoidal rule (second order): with dt = 10 min against a ~6 h outflow
    # peak its error is far below 1 %; sampling the peak at dt costs < 0.1 % more.
    assert outflow.max() == pytest.approx(fine_q.max(), rel=0.01)
    assert abs(times[np.argmax(outflow)] - fine_t[np.argmax(fine_q)]) <= dt
    assert 0.2 * 60.0 < outflow.max() < 0.9 * 60.0  # the pool does attenuate

    # Mass balance: trapezoidal volumes in and out equal the storage change.
    v_in = np.sum(0.5 * (inflow[1:] + inflow[:-1])) * dt
    v_out = np.sum(0.5 * (outflow[1:] + outflow[:-1])) * dt
    storage = np.interp(stage, stage_tab, storage_table[:, 1])
    assert abs(v_in - v_out - (storage[-1] - storage[0])) / v_in < 1e-9


def test_level_pool_rejects_a_pool_above_its_tables():
    stage_tab = np.array([0.0, 1.0])
    with pytest.raises(ValueError, match="extend"):
        level_pool(
            np.full(50, 100.0),
            600.0,
            np.column_stack([stage_tab, [0.0, 1e4]]),
            np.column_stack([stage_tab, [0.0, 1.0]]),
            0.0,
        )
    with pytest.raises(ValueError, match="strictly increasing"):
        level_pool(np.zeros(3), 600.0, [[0.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]], 0.0)


def test_router_storage_changes_by_inflow_minus_outflow_every_step():
    # The ledger identity the lake system builds on: per step, the change of Router.storage()
    # equals (inflow - outflow) * dt to round-off, including sub-reaches and sub-steps.
    net = RiverNetwork(
        np.array([2, 2, -1]),
        np.array([30e3, 800.0, 20e3]),
        np.array([2e-3, 5e-4, 5e-4]),
        np.array([0.04, 0.03, 0.03]),
        np.array([20.0, 60.0, 60.0]),
        np.array([40.0, 100.0, 100.0]),
    )
    dt = 900.0
    router = Router(net, dt, initial_flow=[10.0, 5.0, 15.0])
    assert router.n_sub[0] > 1 and router.m_sub[1] > 1
    rng = np.random.default_rng(3)
    before = router.storage().sum()
    for _ in range(50):
        inflow = np.array([rng.uniform(0, 80), rng.uniform(0, 30), 0.0])
        out = router.step(inflow=inflow)
        after = router.storage().sum()
        assert after - before == pytest.approx((inflow.sum() - out[2]) * dt, rel=1e-10, abs=1e-6)
        before = after
