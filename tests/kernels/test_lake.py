"""Verification of lakes and reservoirs on the river network (kernels.lake).

Each case is checked against something independent of the kernel: a fine-step ODE integration
(scipy's DOP853) of dS/dt = I - O(h(S)) with the same tables, hand-computed operating-rule and
evaporation sequences, and exact volume identities. See /work/shared/VERIFICATION.md ("River-lake").
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from kernels.lake import Lake, RiverLakeSystem, weir_discharge
from kernels.river import RiverNetwork, channel_parameters

B, S0, N_MANNING = 40.0, 1e-3, 0.035


def _network(downstream, length=5e3, q_ref=50.0) -> RiverNetwork:
    ds = np.asarray(downstream, dtype=np.int64)
    n = ds.size
    return RiverNetwork(
        ds,
        np.broadcast_to(np.asarray(length, float), (n,)).copy(),
        np.full(n, S0),
        np.full(n, N_MANNING),
        np.full(n, B),
        np.full(n, q_ref),
    )


def _prism(area: float, bottom: float = 100.0, top: float = 112.0, rows: int = 25):
    """Vertical-walled lake: storage = area * depth (the table is exact)."""
    h = np.linspace(bottom, top, rows)
    return h, area * (h - bottom), np.full(rows, area)


def _cone(top_area: float, bottom: float = 100.0, top: float = 112.0, rows: int = 49):
    """Conical lake: area grows with depth^2, storage with depth^3 (tabulated, piecewise linear)."""
    h = np.linspace(bottom, top, rows)
    d = (h - bottom) / (top - bottom)
    return h, top_area * (top - bottom) * d**3 / 3.0, top_area * d**2


def _hydrograph(n_steps: int, dt: float, base: float, peak: float, t_peak: float, sigma: float) -> np.ndarray:
    t = (np.arange(n_steps) + 0.5) * dt
    return base + peak * np.exp(-0.5 * ((t - t_peak) / sigma) ** 2)


def _ode_step_means(inflow, dt, h, s, spill, h_init):
    """Reference: dS/dt = I - O(h(S)) with I held at its step mean, integrated step by step with
    DOP853 at tight tolerances; returns the step-mean outflow (from the integrated outflow volume)."""
    out = np.empty(inflow.size)
    state = [np.interp(h_init, h, s), 0.0]
    for j, q_in in enumerate(inflow):

        def rhs(_t, y, q_in=q_in):
            o = spill(np.interp(y[0], s, h))
            return [q_in - o, o]

        sol = solve_ivp(rhs, (0.0, dt), [state[0], 0.0], method="DOP853", rtol=1e-10, atol=1e-6)
        state = [sol.y[0, -1], 0.0]
        out[j] = sol.y[1, -1] / dt
    return out


@pytest.mark.parametrize("shape", ["prism", "cone"])
def test_inline_reservoir_matches_a_fine_ode_integration(shape):
    # link 0 -> reservoir -> link 1; the reservoir's inflow is link 0's routed outflow.
    dt, n_steps = 900.0, 320
    table = _prism(1.0e6) if shape == "prism" else _cone(2.5e6)
    crest, width = 104.0, 20.0
    lake = Lake(*table, inflow_links=[0], outlet_link=1, initial_stage=crest, crest=crest, weir_width=width)
    system = RiverLakeSystem(_network([1, -1]), [lake], dt)
    inflow = np.zeros((n_steps, 2))
    inflow[:, 0] = _hydrograph(n_steps, dt, 0.0, 200.0, 12 * 3600.0, 3 * 3600.0)
    result = system.run(inflow)
    lake_in = result["outflow"][:, 0]
    lake_out = result["lake_outflow"][:, 0]

    ref = _ode_step_means(lake_in, dt, table[0], table[1], lambda hh: weir_discharge(hh - crest, width), crest)
    assert 0.2 * lake_in.max() < ref.max() < 0.9 * lake_in.max()  # the reservoir does attenuate
    # The trapezoidal rule is second order: with dt = 15 min against a reservoir time constant of
    # hours (A / dO/dh ~ 5 h at the peak) its error is ~1e-3 of the peak, so 1 % is ample.
    assert lake_out.max() == pytest.approx(ref.max(), rel=0.01)
    assert abs(int(np.argmax(lake_out)) - int(np.argmax(ref))) <= 1
    # the whole hydrograph, not only the peak
    assert np.max(np.abs(lake_out - ref)) < 0.01 * ref.max()
    # the outflow enters link 1: its routed outflow carries the same volume (minus what it stores)
    led = system.ledger()
    assert abs(led["error"]) < 1e-9 * led["inflow"]
    np.testing.assert_allclose(led["lake_outflow"][0], lake_out.sum() * dt, rtol=1e-12)


def test_small_lake_with_a_long_step_and_big_lake_with_a_short_step_stay_stable():
    # Small lake: 2000 m2, weir 50 m wide, hourly steps: dt dO/dS ~ 50 at the peak, far beyond
    # where the trapezoidal rule alone would oscillate (> 2).
    dt, n_steps = 3600.0, 48
    crest = 100.5
    small = Lake(*_prism(2000.0), initial_stage=crest, crest=crest, weir_width=50.0)
    big = Lake(*_prism(5.0e7), initial_stage=crest, crest=crest, weir_width=50.0)
    system = RiverLakeSystem(_network([-1]), [small, big], dt)
    lake_in = np.column_stack([_hydrograph(n_steps, dt, 1.0, 100.0, 12 * 3600.0, 3 * 3600.0)] * 2)
    result = system.run(n_steps=n_steps, lake_inflow=lake_in)
    out = result["lake_outflow"]
    stage = result["lake_stage"]
    # no step-to-step oscillation: the small lake's stage rises to its peak, then only falls
    # (to within round-off once it is steady: 1e-9 m)
    peak = int(np.argmax(stage[:, 0]))
    assert np.all(np.diff(stage[: peak + 1, 0]) > 0) and np.all(np.diff(stage[peak:, 0]) < 1e-9)
    # a lake this small passes its inflow almost unchanged; the ODE reference agrees within 2 %
    # of the peak (the L-stable step is first order only where it is stiff, as here)
    ref = _ode_step_means(lake_in[:, 0], dt, *_prism(2000.0)[:2], lambda hh: weir_discharge(hh - crest, 50.0), crest)
    assert np.max(np.abs(out[:, 0] - ref)) < 0.02 * ref.max()
    assert np.all(out >= 0.0)
    # the big lake (50 km2) rises by centimetres and hardly spills; there the step is far from
    # stiff and second order, so it follows the ODE within 1 % of its peak
    assert out[:, 1].max() < 0.1 * lake_in.max()
    ref = _ode_step_means(lake_in[:, 1], dt, *_prism(5.0e7)[:2], lambda hh: weir_discharge(hh - crest, 50.0), crest)
    assert np.max(np.abs(out[:, 1] - ref)) < 0.01 * ref.max()
    led = system.ledger()
    assert abs(led["error"]) < 1e-9 * led["inflow"]


def test_target_level_rule_follows_the_hand_computed_sequence():
    # Prismatic lake 1 km2 at 105 m, target 104 m (1e6 m3 lower), constant inflow 10 m3/s,
    # release capped at 30 m3/s, hourly steps, response time below one step (so one step is used).
    dt, area, inflow, r_max = 3600.0, 1.0e6, 10.0, 30.0
    lake = Lake(
        *_prism(area),
        initial_stage=105.0,
        crest=110.0,
        weir_width=30.0,
        target_stage=104.0,
        release_max=r_max,
        response_time=60.0,
    )
    system = RiverLakeSystem(_network([-1]), [lake], dt)
    n_steps = 20
    result = system.run(n_steps=n_steps, lake_inflow=np.full((n_steps, 1), inflow))
    # By hand: the rule asks 10 + gap / 3600 m3/s; capped at 30 while the gap exceeds 72,000 m3,
    # i.e. for steps 0..12 the storage falls by (30 - 10) * 3600 = 72,000 m3 per step; at step 13
    # the gap is 64,000 m3, the release 10 + 64000 / 3600 and the target is reached exactly;
    # from then on release = inflow.
    expected_release = np.full(n_steps, inflow)
    expected_release[:13] = r_max
    expected_release[13] = inflow + 64000.0 / dt
    expected_storage = 5.0e6 - np.minimum(np.arange(1, n_steps + 1) * 72000.0, 1.0e6)
    np.testing.assert_allclose(result["lake_release"][:, 0], expected_release, rtol=1e-9)
    np.testing.assert_allclose(result["lake_storage"][:, 0], expected_storage, rtol=1e-9)
    np.testing.assert_allclose(result["lake_stage"][-1, 0], 104.0, rtol=0, atol=1e-9)
    assert np.all(result["lake_spill"] == 0.0)

    # A control overrides the rule (pyswmm-like): 4 m3/s out, 10 in -> +21,600 m3 per step.
    system.release = [4.0]
    assert system.release == [4.0]
    system.step(lake_inflow=[inflow])
    assert system.lake_release[0] == pytest.approx(4.0, rel=1e-12)
    assert system.lake_storage[0] == pytest.approx(4.0e6 + 21600.0, rel=1e-12)
    system.release = [None]
    system.step(lake_inflow=[inflow])
    assert system.lake_release[0] == pytest.approx(inflow + 21600.0 / dt, rel=1e-12)
    assert system.lake_storage[0] == pytest.approx(4.0e6, rel=1e-12)


def test_evaporation_removes_the_hand_computed_volume_and_stops_when_empty():
    # 5 mm/day on 1 km2 of vertical walls: 5,000 m3 per day, exactly. A second lake holds 12,000 m3
    # on the same area: it empties in the third day, evaporating only what it holds.
    dt = 86400.0
    deep = Lake(*_prism(1.0e6), initial_stage=103.0, evaporation=5.0)
    shallow = Lake(*_prism(1.0e6), initial_stage=100.012, evaporation=5.0)
    system = RiverLakeSystem(_network([-1]), [deep, shallow], dt)
    result = system.run(n_steps=5)
    np.testing.assert_allclose(result["lake_storage"][:, 0], 3.0e6 - 5000.0 * np.arange(1, 6), rtol=1e-12)
    np.testing.assert_allclose(result["lake_evaporation"][:, 0] * dt, 5000.0, rtol=1e-12)
    np.testing.assert_allclose(
        result["lake_evaporation"][:, 1] * dt, [5000.0, 5000.0, 2000.0, 0.0, 0.0], rtol=1e-9, atol=1e-6
    )
    assert result["lake_storage"][-1, 1] == pytest.approx(0.0, abs=1e-6)
    assert result["lake_stage"][-1, 1] == pytest.approx(100.0, abs=1e-9)
    led = system.ledger()
    assert led["evaporated"] == pytest.approx(25000.0 + 12000.0, rel=1e-12)
    assert abs(led["error"]) < 1e-9 * led["evaporated"]


def test_two_way_exchange_fills_then_drains_back_and_closes_the_balance():
    # A floodplain lake beside river link 1 (link 0 -> 1 -> outlet); a river flood raises the river
    # above the lake, water enters the lake, then the lake drains back as the river falls.
    dt, n_steps = 600.0, 720  # 5 days
    base, bed = 20.0, 100.0
    depth0 = channel_parameters(base, B, S0, N_MANNING)[0]
    h_eq = bed + float(depth0)  # river stage at the base flow
    lake = Lake(
        *_prism(2.0e5, bottom=99.0),
        initial_stage=h_eq,
        exchange_link=1,
        exchange_bed=bed,
        exchange_sill=bed + 0.2,
        exchange_width=30.0,
    )
    system = RiverLakeSystem(_network([1, -1], length=[8e3, 6e3]), [lake], dt, initial_flow=base)
    inflow = np.zeros((n_steps, 2))
    inflow[:, 0] = _hydrograph(n_steps, dt, base, 300.0, 10 * 3600.0, 2 * 3600.0)
    result = system.run(inflow)
    x = result["lake_exchange"][:, 0]
    stage = result["lake_stage"][:, 0]
    assert abs(x[0]) < 1e-6  # lake and river start level
    first_in = int(np.argmax(x > 1.0))
    assert x[first_in] > 1.0 and np.any(x[first_in:] < -1.0)  # into the lake, then back out
    last_in = first_in + int(np.argmax(x[first_in:] < 0.0))
    assert np.all(x[last_in:] <= 1e-12)  # the sign changes once
    assert stage.max() > h_eq + 1.0  # the flood raised the lake by metres
    # levels equalise: the lake ends within 1 cm of the river at base flow (exchange ~ C L dh^1.5
    # makes the tail slow; 1 cm is reached after about a day here)
    assert abs(stage[-1] - h_eq) < 0.01
    # volume: network inflow = outlet outflow + change in channel and lake storage
    led = system.ledger()
    stored = (
        led["channel_storage"]
        - led["channel_storage_initial"]
        + led["lake_storage"][0]
        - led["lake_storage_initial"][0]
    )
    assert abs(inflow.sum() * dt - result["outflow"][:, 1].sum() * dt - stored) < 1e-9 * inflow.sum() * dt
    assert led["lake_exchange"][0] == pytest.approx(led["lake_storage"][0] - led["lake_storage_initial"][0], rel=1e-12)
    # the river never gives more than it carries: link 1 outflow stays >= 0
    assert result["outflow"].min() >= 0.0


def test_two_lakes_in_series_close_the_volume_balance_and_step_equals_run():
    # 0 -> lake A (weir) -> 1 -> lake B (rating + target rule, evaporation) -> 2 -> outlet;
    # tributary 3 -> 1 with lateral inflow along 1 and 2.
    dt, n_steps = 1800.0, 200
    a = Lake(*_cone(3.0e6), inflow_links=[0], outlet_link=1, initial_stage=104.0, crest=104.0, weir_width=15.0)
    rating = np.array([[100.0, 0.0], [103.0, 0.0], [106.0, 60.0], [112.0, 400.0]])
    b = Lake(
        *_prism(2.0e6),
        inflow_links=[1],
        outlet_link=2,
        initial_stage=105.0,
        rating=rating,
        target_stage=np.linspace(105.0, 103.5, n_steps),
        release_max=40.0,
        evaporation=6.0,
        response_time=6 * 3600.0,
    )
    net = _network([-1, -1, -1, 1], length=[6e3, 9e3, 4e3, 3e3])
    inflow = np.zeros((n_steps, 4))
    inflow[:, 0] = _hydrograph(n_steps, dt, 5.0, 150.0, 20 * 3600.0, 4 * 3600.0)
    inflow[:, 3] = _hydrograph(n_steps, dt, 2.0, 40.0, 30 * 3600.0, 3 * 3600.0)
    lateral = np.zeros((n_steps, 4))
    lateral[:, 1:3] = 1.5
    system = RiverLakeSystem(net, [a, b], dt, initial_flow=[5.0, 8.0, 20.0, 2.0])
    result = system.run(inflow, lateral)
    led = system.ledger()
    total_in = (inflow.sum() + lateral.sum()) * dt
    assert led["inflow"] == pytest.approx(total_in, rel=1e-12)
    assert led["outflow"] == pytest.approx(result["outflow"][:, 2].sum() * dt, rel=1e-12)
    assert abs(led["error"]) < 1e-9 * total_in
    for k in range(2):  # per-lake ledgers close too
        change = led["lake_storage"][k] - led["lake_storage_initial"][k]
        assert (
            abs(led["lake_inflow"][k] - led["lake_outflow"][k] - led["lake_evaporated"][k] - change)
            < 1e-9 * led["lake_inflow"][k]
        )
    # lake A's outflow is what link 1 receives from upstream
    np.testing.assert_allclose(led["lake_inflow"][1], result["outflow"][:, 1].sum() * dt, rtol=1e-12)
    assert result["lake_release"][:, 1].max() > 0 and result["lake_spill"][:, 1].max() > 0

    # The same lakes given as lake links (a link standing for each lake, as twin.sims.river.network makes
    # them): 0 -> 4 (lake A) -> 1 -> 5 (lake B) -> 2. Same answers; the lake links read the
    # lakes' outflows, and lateral inflow given on a lake link enters its lake.
    net_links = _network([4, 5, -1, 1, 1, 2], length=[6e3, 9e3, 4e3, 3e3, 1e3, 1e3])
    lakes = [a._replace(inflow_links=(), outlet_link=-1, link=4), b._replace(inflow_links=(), outlet_link=-1, link=5)]
    linked = RiverLakeSystem(net_links, lakes, dt, initial_flow=[5.0, 8.0, 20.0, 2.0, 0.0, 0.0])
    lake_in = np.zeros((n_steps, 2))
    lake_in[:, 1] = 0.5
    lat6 = np.column_stack([lateral, np.zeros(n_steps), np.full(n_steps, 0.5)])
    res6 = linked.run(np.column_stack([inflow, np.zeros((n_steps, 2))]), lat6)
    res4 = RiverLakeSystem(net, [a, b], dt, initial_flow=[5.0, 8.0, 20.0, 2.0]).run(
        inflow, lateral, lake_inflow=lake_in
    )
    np.testing.assert_allclose(res6["outflow"][:, :4], res4["outflow"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res6["outflow"][:, 4:], res4["lake_outflow"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(linked.flows[4:], res4["lake_outflow"][-1], rtol=1e-12)
    assert abs(linked.ledger()["error"]) < 1e-9 * linked.ledger()["inflow"]

    stepped = RiverLakeSystem(net, [a, b], dt, initial_flow=[5.0, 8.0, 20.0, 2.0])
    out = np.array([stepped.step(lateral[t], inflow[t]) for t in range(n_steps)])
    np.testing.assert_allclose(out, result["outflow"], rtol=0, atol=1e-12 * result["outflow"].max())
    np.testing.assert_allclose(stepped.lake_storage, result["lake_storage"][-1], rtol=1e-12)


def test_bad_lakes_are_refused_with_a_fix():
    h, s, a = _prism(1e6)
    net = _network([1, -1])
    with pytest.raises(ValueError, match="strictly increasing"):
        RiverLakeSystem(net, [Lake(h, s[::-1], a)], 600.0)
    with pytest.raises(ValueError, match="cycle"):
        # the lake's outlet drains back into its own inflow link
        RiverLakeSystem(net, [Lake(h, s, a, inflow_links=[1], outlet_link=0)], 600.0)
    with pytest.raises(ValueError, match="exchange_bed"):
        RiverLakeSystem(net, [Lake(h, s, a, exchange_link=1, exchange_width=5.0)], 600.0)
    with pytest.raises(ValueError, match="outside its table"):
        RiverLakeSystem(net, [Lake(h, s, a, initial_stage=50.0)], 600.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        RiverLakeSystem(net, [Lake(h, s, a)], 600.0).run(n_steps=1, lake_inflow=[[-1.0]])
    with pytest.raises(ValueError, match="must be >= 0"):
        RiverLakeSystem(net, [Lake(h, s, a, link=1)], 600.0).run(lateral=[[0.0, -1.0]])
    with pytest.raises(ValueError, match="one entry per lake"):
        RiverLakeSystem(net, [Lake(h, s, a)], 600.0).release = [1.0, 2.0]


def test_side_channel_takes_no_more_than_the_river_brings_and_a_full_lake_rises_above_its_table():
    # An empty lake 3 m below a small river (2 m3/s) with a 50 m wide channel: the weir law asks
    # far more than 2 m3/s, so the exchange takes the whole river flow and the link runs dry.
    dt, n_steps = 600.0, 30
    h, s, a = _prism(1.0e6, bottom=97.0, top=101.0, rows=9)
    lake = Lake(h, s, a, initial_stage=97.0, exchange_link=0, exchange_bed=100.0, exchange_width=50.0)
    system = RiverLakeSystem(_network([-1]), [lake], dt, initial_flow=2.0)
    result = system.run(np.full((n_steps, 1), 2.0))
    np.testing.assert_allclose(result["lake_exchange"][:, 0], 2.0, rtol=1e-12)
    assert result["outflow"].min() >= 0.0 and result["outflow"][-1, 0] < 1e-3
    led = system.ledger()
    assert abs(led["error"]) < 1e-9 * led["inflow"]
    assert not system.overtopped[0]

    # A closed lake filled past its table's top keeps rising with vertical walls (area[-1]) and
    # is flagged so the caller can extend the table.
    full = Lake(*_prism(1.0e4, top=101.0, rows=3), initial_stage=100.5)
    system = RiverLakeSystem(_network([-1]), [full], 3600.0)
    system.run(n_steps=2, lake_inflow=np.full((2, 1), 5.0))  # 5,000 m3 + 36,000 m3 in; the table holds 10,000
    assert system.overtopped[0]
    assert system.lake_stage[0] == pytest.approx(101.0 + (5000.0 + 36000.0 - 10000.0) / 1.0e4, rel=1e-12)
