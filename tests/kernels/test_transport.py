"""Verification of the pollutant transport kernel (kernels.transport).

Checked against things independent of the code: the analytic Gaussian plume of an instantaneous
spill (/work/shared/VERIFICATION.md), exact mass identities, the flux-weighted mixing of a
confluence at steady state, and a fine-step ODE integration of a completely mixed lake.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from kernels.river import RiverNetwork, channel_parameters
from kernels.transport import Transport, gaussian_plume, lake_step, reach_spill

# A uniform reach: A = 10 m2, u = 0.5 m/s, D = 5 m2/s; with dx = 10 m the cell Peclet number
# u dx / D is 1, and after 4000 s the plume's standard deviation sqrt(2 D t) = 200 m spans 20 cells.
A, U, D, M = 10.0, 0.5, 5.0, 1000.0
LENGTH, SPILL_X, T = 5000.0, 500.0, 4000.0


def _plume_errors(dx: float, decay: float) -> tuple[float, float, float, float]:
    """(relative peak error, peak shift [m], relative L1 error, L-inf error / peak) of the kernel's plume."""
    x, c = reach_spill(LENGTH, A, U, D, decay, dx, SPILL_X, M, T)
    # the spill is resolved to the cell holding SPILL_X, so the analytic plume starts at its centre
    x0 = (math.floor(SPILL_X / dx) + 0.5) * dx
    exact = gaussian_plume(x - x0, T, M, A, U, D, decay)
    peak = exact.max()
    return (
        c.max() / peak - 1.0,
        x[c.argmax()] - x[exact.argmax()],
        np.abs(c - exact).sum() / exact.sum(),
        np.abs(c - exact).max() / peak,
    )


@pytest.mark.parametrize("decay", [0.0, 1e-4])
def test_spill_matches_the_gaussian_plume(decay):
    peak_err, shift, l1, linf = _plume_errors(10.0, decay)
    # At cell Peclet 1 the limited second-order scheme adds little numerical diffusion; what it
    # adds flattens the peak (measured -0.26 %) and the spill's spread over one cell adds
    # dx^2/12 = 8 m2 to the plume's 40000 m2 variance (0.01 %). 1 % / 2 % leave room for round-off
    # and platform differences but fail a first-order scheme (its numerical diffusion
    # u dx (1 - Cr) / 2 ~ 2 m2/s would flatten the peak by ~ 15 %).
    assert abs(peak_err) < 0.01
    assert shift == 0.0  # the peak sits in the cell holding x0 + u t
    assert l1 < 0.02
    assert linf < 0.02


def test_plume_error_falls_faster_than_first_order():
    _, _, l1_coarse, _ = _plume_errors(20.0, 0.0)
    _, _, l1_fine, _ = _plume_errors(10.0, 0.0)
    # halving dx cuts the L1 error by 3.0 (measured): better than the factor 2 of a first-order scheme
    assert l1_coarse / l1_fine > 2.5


def _network(decay: float) -> Transport:
    """Two head links joining into a third, which drains (with a fourth link) into an outlet link."""
    #   0 \
    #      2 -> 4 (outlet)
    #   1 /   3 /
    downstream = np.array([2, 2, 4, 4, -1])
    length = np.array([800.0, 1200.0, 1000.0, 500.0, 1500.0])
    area = np.array([5.0, 8.0, 13.0, 4.0, 20.0])
    velocity = np.array([0.4, 0.5, 0.6, 0.3, 0.7])
    return Transport(length, area, velocity, [2.0, 3.0, 4.0, 1.0, 6.0], decay, 25.0, downstream)


@pytest.mark.parametrize("decay", [0.0, 2e-4])
def test_network_conserves_mass(decay):
    tr = _network(decay)
    tr.spill(0, 100.0, 500.0)
    tr.spill(1, 1199.0, 300.0)
    tr.spill(3, 0.0, 200.0)
    initial = 1000.0
    assert tr.mass() == pytest.approx(initial, rel=1e-14)
    inflow = np.array([1e-3, 0.0, 0.0, 2e-3, 0.0])
    for _ in range(40):
        tr.step(300.0, inflow_conc=inflow)
    assert tr.outflow_mass > 100.0 and tr.inflow_mass > 10.0  # mass crossed both boundaries
    if decay == 0.0:
        assert tr.decayed_mass == 0.0
    else:
        assert tr.decayed_mass > 100.0
    balance = tr.mass() + tr.outflow_mass + tr.decayed_mass
    assert balance == pytest.approx(initial + tr.inflow_mass, rel=1e-12)
    assert tr.concentration.min() > -1e-15  # the limited scheme keeps concentrations non-negative


def test_decay_removes_exactly_exp_minus_k_t_while_mass_stays_in_the_reach():
    k = 3e-4
    tr = Transport([3000.0], 6.0, 0.2, 2.0, k, 20.0, [-1])
    tr.spill(0, 500.0, 80.0)
    for _ in range(10):
        tr.step(100.0)
    # the plume is ~1 km from either end: nothing leaves, so decay alone changes the mass
    assert tr.outflow_mass < 1e-12 * 80.0
    assert tr.mass() == pytest.approx(80.0 * math.exp(-k * 1000.0), rel=1e-12)
    assert tr.mass() + tr.decayed_mass == pytest.approx(80.0, rel=1e-12)


def test_confluence_mixes_flux_weighted():
    # two tributaries (Q = 2 and 6 m3/s) carrying 3 and 1 g/m3 join into a link of Q = 8 m3/s
    tr = Transport(
        [400.0, 600.0, 900.0],
        [4.0, 10.0, 16.0],
        [0.5, 0.6, 0.5],
        3.0,
        0.0,
        20.0,
        [2, 2, -1],
    )
    c_in = np.array([3e-3, 1e-3, 0.0])
    for _ in range(30):  # 9000 s: about five residence times of the longest path (~2.8 h)
        tr.step(300.0, inflow_conc=c_in)
    mixed = (2.0 * 3e-3 + 6.0 * 1e-3) / 8.0
    below = tr.link_concentration(2)
    # at steady state every cell of the receiving link holds the mixed concentration; the
    # remaining transient decays like exp(-t / residence time), far below 1e-9 after 9000 s
    np.testing.assert_allclose(below, mixed, rtol=1e-9)
    np.testing.assert_allclose(tr.link_concentration(0), 3e-3, rtol=1e-9)


def test_extra_water_dilutes_with_its_own_concentration():
    # link 1 carries 10 m3/s but receives only 4 m3/s: 6 m3/s of clean water join at its head
    tr = Transport([300.0, 500.0], [8.0, 20.0], [0.5, 0.5], 1.0, 0.0, 10.0, [1, -1])
    for _ in range(20):
        tr.step(300.0, inflow_conc=[5e-3, 0.0])
    np.testing.assert_allclose(tr.link_concentration(1), 5e-3 * 4.0 / 10.0, rtol=1e-9)


def test_lake_step_matches_an_ode_integration():
    volume, q, k = 2.0e6, 15.0, 1e-6
    c_in = [2e-3, 0.0, 5e-4, 1e-3]  # the inflow concentration changes every 6 h
    dt = 6 * 3600.0

    def rhs(t, y):
        return [(q * c_in[min(int(t // dt), 3)] - q * y[0]) / volume - k * y[0]]

    c = 1e-3
    for i, ci in enumerate(c_in):
        c = lake_step(c, dt, volume, q, ci, q, k)
        ref = solve_ivp(rhs, (0.0, (i + 1) * dt), [1e-3], rtol=1e-11, atol=1e-15, max_step=600.0).y[0, -1]
        # the ODE solver's own error is ~ 1e-10 relative at these tolerances
        assert c == pytest.approx(ref, rel=1e-8)


def test_lake_step_is_exact_for_constant_inputs():
    # exact steps compose: one step of 10 h equals 100 steps of 6 min to round-off
    args = (3.0e5, 2.0, 4e-3, 2.0, 5e-5)
    one = lake_step(0.0, 36000.0, *args)
    many = 0.0
    for _ in range(100):
        many = lake_step(many, 360.0, *args)
    assert many == pytest.approx(one, rel=1e-12)
    steady = 2.0 * 4e-3 / (3.0e5 * (2.0 / 3.0e5 + 5e-5))
    assert lake_step(0.0, 1e7, *args) == pytest.approx(steady, rel=1e-12)


def test_bad_inputs_are_refused_with_a_fix():
    with pytest.raises(ValueError, match="velocities"):
        Transport([100.0], 1.0, -0.5, 1.0, 0.0, 10.0, [-1])
    with pytest.raises(ValueError, match="cycle"):
        Transport([100.0, 100.0], 1.0, 0.5, 1.0, 0.0, 10.0, [1, 0])
    tr = Transport([100.0], 1.0, 0.5, 1.0, 0.0, 10.0, [-1])
    with pytest.raises(ValueError, match="outside link 0"):
        tr.spill(0, 150.0, 1.0)
    with pytest.raises(ValueError, match="volume"):
        lake_step(0.0, 10.0, 0.0, 1.0, 1.0, 1.0)


def test_lake_link_follows_the_closed_form():
    # a head lake (V = 5e5 m3, Q = 3 m3/s) fed with 2 g/m3, draining into a river link
    volume, q, k, c_in = 5.0e5, 3.0, 2e-5, 2e-3
    tr = Transport(
        [1.0, 800.0],
        [1.0, 6.0],
        [q, 0.5],
        [0.0, 2.0],
        [k, 0.0],
        20.0,
        [1, -1],
        lake_volume=[volume, 0.0],
    )
    tr.spill(0, 0.0, 400.0)  # 400 kg spread through the lake: C0 = 8e-4 kg/m3
    for _ in range(12):
        tr.step(1800.0, inflow_conc=[c_in, 0.0])
    expected = lake_step(400.0 / volume, 12 * 1800.0, volume, q, c_in, q, k)
    # exact steps compose, so the sub-stepped lake agrees with one closed-form step to round-off
    assert tr.link_concentration(0)[0] == pytest.approx(expected, rel=1e-12)
    # only the lake decays: k V times the closed-form integral of C over the 6 h (summed over
    # ~1500 sub-steps, hence round-off well above 1e-12 but far below 1e-10)
    rate, c0, duration = q / volume + k, 400.0 / volume, 12 * 1800.0
    c_star = q * c_in / (volume * rate)
    integral = c_star * duration + (c0 - c_star) * (1.0 - math.exp(-rate * duration)) / rate
    assert tr.decayed_mass == pytest.approx(k * volume * integral, rel=1e-10)
    balance = tr.mass() + tr.outflow_mass + tr.decayed_mass
    assert balance == pytest.approx(400.0 + tr.inflow_mass, rel=1e-12)


def test_spill_through_a_lake_conserves_mass():
    # river -> lake -> river: the plume is held back and released by the lake
    tr = Transport(
        [1000.0, 1.0, 1500.0],
        [5.0, 1.0, 5.0],
        [0.4, 2.0, 0.4],
        3.0,
        1e-5,
        20.0,
        [1, 2, -1],
        lake_volume=[0, 2e5, 0],
    )
    tr.spill(0, 200.0, 50.0)
    for _ in range(24):
        tr.step(600.0)
    assert tr.link_concentration(1)[0] > 0.0 and tr.outflow_mass > 1.0
    assert tr.mass() + tr.outflow_mass + tr.decayed_mass == pytest.approx(50.0, rel=1e-12)


# --- transport on routed flows ----------------------------------------------------------------------


def test_spill_on_routed_time_varying_flows_through_a_lake_conserves_mass():
    from kernels.lake import Lake, RiverLakeSystem

    # 0 and 1 join into 2, which enters lake link 3 (a weir-controlled lake), draining into 4.
    dt, n_steps = 600.0, 150
    net = RiverNetwork(
        np.array([2, 2, 3, 4, -1]),
        np.array([4e3, 3e3, 5e3, 1e3, 6e3]),
        np.array([2e-3, 1.5e-3, 1e-3, 1e-3, 6e-4]),
        np.full(5, 0.035),
        np.array([15.0, 10.0, 30.0, 30.0, 35.0]),
        np.full(5, 30.0),
    )
    h = np.linspace(100.0, 110.0, 21)
    lake = Lake(h, 4.0e5 * (h - 100.0), np.full(21, 4.0e5), initial_stage=102.0, crest=102.0, weir_width=25.0, link=3)
    base = np.array([10.0, 5.0, 15.0, 0.0, 15.0])
    system = RiverLakeSystem(net, [lake], dt, initial_flow=base)
    t = (np.arange(n_steps) + 0.5) * dt
    inflow = np.zeros((n_steps, 5))
    inflow[:, 0] = 10.0 + 90.0 * np.exp(-0.5 * ((t - 6 * 3600.0) / 7200.0) ** 2)
    inflow[:, 1] = 5.0
    tr = Transport.from_network(net, 2.0, 2e-5, 50.0, flows=base, lake_volume=system.link_lake_volume())
    tr.spill(0, 300.0, 500.0)
    inflow_conc = np.array([0.0, 1e-4, 0.0, 0.0, 0.0])  # a steady load on tributary 1
    volumes = []
    for k in range(n_steps):
        q = system.step(inflow=inflow[k])
        tr.set_flows(q, lake_volume=system.link_lake_volume())
        volumes.append(tr.lake_volume[3])
        tr.step(dt, inflow_conc)
    # the flows really varied (the lake rose and fell) and the pollutant went through the lake
    assert max(volumes) > 1.2 * min(volumes)
    assert tr.link_concentration(3)[0] > 0.0 and tr.outflow_mass > 50.0 and tr.decayed_mass > 1.0
    balance = tr.mass() + tr.outflow_mass + tr.decayed_mass
    assert balance == pytest.approx(500.0 + tr.inflow_mass, rel=1e-9)
    with pytest.raises(ValueError, match="from_network"):
        Transport([100.0], 1.0, 1.0, 0.0, 0.0, 10.0, [-1]).set_flows([1.0])


def test_spill_reaches_an_intake_after_the_routed_travel_time():
    from kernels.lake import RiverLakeSystem

    # Four links of different widths and slopes (20 km), a flow rising from 30 to 60 m3/s while
    # the plume travels; the intake is the outlet of link 3.
    dt, n_steps = 300.0, 200
    length, width = np.array([4e3, 6e3, 5e3, 5e3]), np.array([20.0, 30.0, 40.0, 50.0])
    slope, manning = np.array([2e-3, 1e-3, 8e-4, 5e-4]), np.full(4, 0.035)
    net = RiverNetwork(np.array([1, 2, 3, -1]), length, slope, manning, width, np.full(4, 40.0))
    system = RiverLakeSystem(net, [], dt, initial_flow=30.0)
    t = (np.arange(n_steps) + 0.5) * dt
    q_in = 30.0 + 30.0 * np.clip((t - 3600.0) / (6 * 3600.0), 0.0, 1.0)
    tr = Transport.from_network(net, 1.0, 0.0, 50.0, flows=np.full(4, 30.0))
    tr.spill(0, 0.0, 100.0)
    # reference: a particle from the spill cell's centre moving at Manning's u = Q / A of each
    # link's routed step-mean flow (channel_parameters, independent of the transport)
    link, pos, arrival = 0, 0.5 * tr.cell_length[0], None
    arrived = np.zeros(n_steps)
    for k in range(n_steps):
        q = system.step(inflow=[q_in[k], 0.0, 0.0, 0.0])
        tr.set_flows(q)
        velocity = channel_parameters(q, width, slope, manning)[1]
        before = tr.outflow_mass
        tr.step(dt)
        arrived[k] = tr.outflow_mass - before
        left = dt
        while arrival is None and left > 0.0:
            to_end = (length[link] - pos) / velocity[link]
            if to_end > left:
                pos += velocity[link] * left
                break
            left -= to_end
            link, pos = link + 1, 0.0
            if link == length.size:
                arrival = (k + 1) * dt - left
    assert arrival is not None and velocity[0] > 1.1 * channel_parameters(30.0, 20.0, 2e-3, 0.035)[1]
    # The mass-weighted arrival time of the plume at the intake equals the advective travel time
    # (the mean of the inverse-Gaussian first-passage time is L / u; dispersion spreads but does
    # not shift it). What remains is the half-cell resolution of the spill and the first-order
    # faces at the link ends, O(dx / L) = 0.25 %; 0.5 % tolerance (observed 0.002 %).
    centroid = np.sum(arrived * t) / np.sum(arrived)
    assert np.sum(arrived) == pytest.approx(100.0, rel=1e-9)
    assert centroid == pytest.approx(arrival, rel=0.005)
    # the plume's peak passes the intake within a few steps of that time (dispersion skews it)
    assert abs(t[np.argmax(arrived)] - arrival) < 0.03 * arrival


def _side_reach(**kw) -> Transport:
    """Two 2 km links of the Manning network below, a side lake on the first."""
    length, width = np.array([2e3, 2e3]), np.array([20.0, 20.0])
    net = RiverNetwork(np.array([1, -1]), length, np.full(2, 1e-3), np.full(2, 0.035), width, np.full(2, 10.0))
    return Transport.from_network(
        net, kw.pop("dispersion", 1.0), kw.pop("decay", 0.0), 50.0, flows=np.full(2, 10.0), side_link=[0], **kw
    )


def test_side_lake_drains_exactly_and_keeps_the_mass():
    """A side lake of 1e5 m3 holding 1 kg/m3 gives 2 m3/s back to a clean river: its concentration falls as
    exp(-q t / V) (each sub-step takes the exact exponential), and what it loses leaves through the river."""
    tr = _side_reach(side_volume=1e5)
    tr.side_mass[:] = 1e5
    tr.set_flows(np.full(2, 10.0), side_volume=[1e5], side_exchange=[-2.0])
    for _ in range(24):
        tr.step(3600.0)
    assert tr.side_concentration[0] == pytest.approx(math.exp(-2.0 * 86400.0 / 1e5), rel=1e-12)
    assert tr.mass() + tr.outflow_mass == pytest.approx(1e5, rel=1e-12)
    # a lake that only drains (2 m3/s out, its volume falling by as much) keeps its concentration, however
    # far it drains in one step: from 1e5 m3 to 1e4 in 12.5 h
    tr = _side_reach(side_volume=1e5)
    tr.side_mass[:] = 1e5
    tr.set_flows(np.full(2, 10.0), side_volume=[1e4], side_exchange=[-2.0])
    tr.step(45000.0)
    assert tr.side_concentration[0] == pytest.approx(1.0, rel=1e-12)
    assert tr.mass() + tr.outflow_mass == pytest.approx(1e5, rel=1e-12)


def test_side_lake_takes_a_spill_and_gives_it_back_with_mass_conserved():
    """A spill on link 0 passes the side channel while the river spills into the lake, then the lake drains
    back (and through its own outlet); with decay, mass in + out + decayed + left closes to round-off."""
    tr = _side_reach(decay=2e-6, side_volume=5e4)
    tr.spill(0, 200.0, 1000.0)
    rng = np.random.default_rng(3)
    volume, peak = 5e4, 0.0
    for k in range(96):
        into = 3.0 if k < 12 else -1.5  # the flood fills the lake, then it drains
        volume = max(volume + (into - 0.5) * 900.0, 1e3)
        tr.set_flows(rng.uniform(8.0, 12.0, 2), side_volume=[volume], side_exchange=[into], side_outflow=[0.5])
        tr.step(900.0)
        peak = max(peak, tr.side_concentration[0])
    assert peak > 0.0 and tr.side_concentration[0] < peak  # it received part of the plume, then lost it
    left = tr.mass()
    assert left + tr.outflow_mass + tr.decayed_mass == pytest.approx(1000.0, rel=1e-12)
    assert tr.decayed_mass > 0.0
    with pytest.raises(ValueError, match="side_link"):
        Transport([1e3], 1.0, 1.0, 1.0, 0.0, 50.0, [-1], side_link=[3])


def test_side_channel_sees_only_what_passes_it():
    """Without dispersion (upwind-biased advection only), a side channel 100 m down link 0 takes nothing of a
    spill made 200 m down, and one 1900 m down takes part of it."""
    below = _side_reach(side_volume=5e4, side_x=[100.0], dispersion=0.0)
    above = _side_reach(side_volume=5e4, side_x=[1900.0], dispersion=0.0)
    for tr in (below, above):
        tr.spill(0, 200.0, 1000.0)
        for _ in range(4):  # the plume moves at ~0.7 m/s: it passes 1900 m after ~40 min
            tr.set_flows(np.full(2, 10.0), side_volume=[5e4], side_exchange=[3.0])
            tr.step(900.0)
    assert below.side_mass[0] == 0.0
    assert above.side_mass[0] > 1.0
    assert above.mass() + above.outflow_mass == pytest.approx(1000.0, rel=1e-12)
    with pytest.raises(ValueError, match="side_x"):
        _side_reach(side_x=[2500.0])
