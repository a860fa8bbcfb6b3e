"""HBV-96 water balance kernel: published equations, analytic recession, conservation, batching."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernels.water_balance import (
    PARAMS,
    STATES,
    ZONE_VARS,
    hbv,
    route_triangular,
    triangular_weights,
)

# FC, LP, BETA, PERC, UZL, K0, K1, K2, DEP: values inside the ranges of Seibert & Vis (2012), table 1
PAR = {"fc": 150.0, "lp": 0.7, "beta": 2.5, "perc": 1.5, "uzl": 10.0, "k0": 0.4, "k1": 0.1, "k2": 0.05, "dep": 2.0}
ROW = np.array([PAR[k] for k in PARAMS])
V = {name: i for i, name in enumerate(ZONE_VARS)}


def _reference_step(s: dict, p: float, pet: float, imp: float, dt: float) -> dict:
    """One step of the HBV-light soil and response routines as Seibert & Vis (2012) write them, with
    the stores' outflow fractions 1 - exp(-K dt) (the exact linear-reservoir step the kernel documents)."""
    sm, suz, slz, sd = s["sm"], s["suz"], s["slz"], s["sd"]
    # impervious part: fill the depression store, spill the excess, evaporate
    sd = sd + p
    q_imp = sd - PAR["dep"] if sd > PAR["dep"] else 0.0
    sd = sd - q_imp
    e_imp = min(sd, pet)
    sd = sd - e_imp
    # soil routine: recharge / P = (SM / FC) ** BETA
    recharge = p * (sm / PAR["fc"]) ** PAR["beta"]
    sm = sm + p - recharge
    spilled = sm > PAR["fc"]
    if spilled:
        recharge += sm - PAR["fc"]
        sm = PAR["fc"]
    # actual evapotranspiration: Ea = PET min(SM / (FC LP), 1)
    ea = pet * min(sm / (PAR["fc"] * PAR["lp"]), 1.0)
    ea = min(ea, sm)
    sm = sm - ea
    # response routine: upper zone percolates (PERC), drains above UZL (K0) and as a whole (K1); lower zone (K2)
    suz = suz + recharge
    perc = min(PAR["perc"] * dt, suz)
    suz, slz = suz - perc, slz + perc
    q0 = (1 - math.exp(-PAR["k0"] * dt)) * max(suz - PAR["uzl"], 0.0)
    suz = suz - q0
    q1 = (1 - math.exp(-PAR["k1"] * dt)) * suz
    suz = suz - q1
    q2 = (1 - math.exp(-PAR["k2"] * dt)) * slz
    slz = slz - q2
    fp = 1 - imp
    return {
        "sm": sm,
        "suz": suz,
        "slz": slz,
        "sd": sd,
        "q_fast": imp * q_imp + fp * (q0 + q1),
        "q_slow": fp * q2,
        "et": imp * e_imp + fp * ea,
        "spilled": spilled,
        "quick": q0 > 0,
    }


def test_five_steps_match_the_published_equations():
    p = [0.0, 35.0, 120.0, 4.0, 0.0]
    pet = [3.0, 1.0, 0.5, 2.5, 4.0]
    imp, dt = 0.3, 1.0
    s0 = {"sm": 90.0, "suz": 12.0, "slz": 20.0, "sd": 0.5}
    res = hbv(
        np.array(p),
        np.array(pet),
        ROW[None],
        imp,
        dt_days=dt,
        state=np.array([[s0["sm"], s0["suz"], s0["slz"], s0["sd"]]]),
    )
    s = s0
    branches = set()
    for t in range(5):
        s = _reference_step(s, p[t], pet[t], imp, dt)
        branches |= {k for k in ("spilled", "quick") if s[k]}
        got = res.zone[0, t, 0]
        want = {
            "q_fast": s["q_fast"],
            "q_slow": s["q_slow"],
            "et": s["et"],
            "precip": p[t],
            "soil": (1 - imp) * s["sm"],
            "upper": (1 - imp) * s["suz"],
            "lower": (1 - imp) * s["slz"],
            "depression": imp * s["sd"],
        }
        for name, value in want.items():
            # the same operations in the same order: only the last bits may differ
            assert got[V[name]] == pytest.approx(value, rel=1e-12, abs=1e-12), (t, name)
    np.testing.assert_allclose(res.state_end[0, 0], [s["sm"], s["suz"], s["slz"], s["sd"]], rtol=1e-12)
    # the 120 mm day fills the soil beyond FC and lifts the upper zone above UZL: every branch ran
    assert branches == {"spilled", "quick"}


@pytest.mark.parametrize("dt", [1.0, 1.0 / 24.0])
def test_lower_zone_recession_is_exponential(dt):
    n = round(60 / dt)
    state = np.array([[0.0, 0.0, 100.0, 0.0]])
    res = hbv(np.zeros(n), np.zeros(n), ROW[None], 0.0, dt_days=dt, state=state)
    t = dt * np.arange(1, n + 1)
    # round-off of n multiplications by the same factor: far below 1e-12 relative for n <= 1440
    np.testing.assert_allclose(res.zone[0, :, 0, V["lower"]], 100.0 * np.exp(-PAR["k2"] * t), rtol=1e-12)
    np.testing.assert_allclose(
        res.zone[0, :, 0, V["q_slow"]].sum(), 100.0 * (1 - np.exp(-PAR["k2"] * t[-1])), rtol=1e-12
    )


def test_balance_closes_for_a_year_of_random_cells():
    rng = np.random.default_rng(3)
    n_cells, n_steps, n_scen = 300, 365, 3
    lo = np.array([50, 0.3, 1.0, 0.0, 0.0, 0.05, 0.01, 0.001, 0.0])
    hi = np.array([500, 1.0, 6.0, 4.0, 70.0, 0.9, 0.5, 0.2, 5.0])
    params = lo + (hi - lo) * rng.random((n_cells, len(PARAMS)))
    imp = rng.random(n_cells)
    # rain on 40 % of days, exponential depths (mean 12 mm), in three scenarios; PET 1-6 mm/d
    rain = rng.exponential(12.0, (n_scen, n_steps, 2)) * (rng.random((n_scen, n_steps, 2)) < 0.4)
    pet = 3.5 + 2.5 * np.sin(2 * np.pi * np.arange(n_steps) / 365)[:, None]
    zones, area = rng.integers(0, 7, n_cells), rng.uniform(1.0, 100.0, n_cells)
    res = hbv(
        rain,
        pet,
        params,
        imp,
        zones=zones,
        forcing_index=rng.integers(0, 2, n_cells),
        weights=area,
        state=rng.random((n_cells, 4)) * [100, 20, 50, 1],
    )
    err = np.abs(res.balance_error)
    assert (err <= 1e-9 * res.precip).all(), err.max()
    # the zone sums carry the same water as the cells, weighted by their areas
    q_zone = res.zone[..., V["q_fast"]] + res.zone[..., V["q_slow"]]
    for z in (0, 6):
        np.testing.assert_allclose(
            q_zone[..., z].sum(axis=1), (res.runoff * area)[:, zones == z].sum(axis=1), rtol=1e-12
        )
    np.testing.assert_allclose(res.zone[..., V["et"]].sum(axis=(1, 2)), (res.et * area).sum(axis=1), rtol=1e-12)
    assert (res.state_end >= 0).all()


def test_fully_impervious_cell_returns_rain_less_depression_storage():
    rain = np.array([0.5, 0.8, 10.0, 0.0, 25.0])
    res = hbv(rain, np.zeros(5), ROW[None], 1.0)
    q = res.zone[0, :, 0, V["q_fast"]] + res.zone[0, :, 0, V["q_slow"]]
    assert q.sum() == pytest.approx(rain.sum() - PAR["dep"], rel=1e-14)
    np.testing.assert_allclose(q, [0.0, 0.0, 9.3, 0.0, 25.0], rtol=1e-14)
    assert res.zone[0, :, 0, V["et"]].sum() == 0.0


def test_batched_scenarios_equal_one_by_one_runs():
    rng = np.random.default_rng(7)
    n_cells, n_steps = 50, 120
    params = np.tile(ROW, (n_cells, 1)) * rng.uniform(0.5, 1.5, (n_cells, len(PARAMS)))
    params[:, 1] = np.minimum(params[:, 1], 1.0)
    imp = rng.random(n_cells)
    zones = rng.integers(0, 4, n_cells)
    rain = rng.exponential(8.0, (4, n_steps, 1))
    pet = np.full((n_steps, 1), 3.0)
    batch = hbv(rain, pet, params, imp, zones=zones, n_chunks=2)
    for s in range(4):
        one = hbv(rain[s], pet, params, imp, zones=zones, n_chunks=2)
        np.testing.assert_array_equal(batch.zone[s], one.zone[0])
        np.testing.assert_array_equal(batch.state_end[s], one.state_end[0])


def test_continued_run_equals_one_run():
    rng = np.random.default_rng(11)
    rain = rng.exponential(6.0, 200)
    pet = np.full(200, 2.0)
    whole = hbv(rain, pet, ROW[None], 0.4)
    first = hbv(rain[:90], pet[:90], ROW[None], 0.4)
    second = hbv(rain[90:], pet[90:], ROW[None], 0.4, state=first.state_end)
    np.testing.assert_array_equal(np.concatenate([first.zone, second.zone], axis=1), whole.zone)
    np.testing.assert_array_equal(second.state_end, whole.state_end)


def test_triangular_weights_and_routing_conserve_volume():
    np.testing.assert_allclose(triangular_weights(1.0), [1.0])
    np.testing.assert_allclose(triangular_weights(2.0), [0.5, 0.5], rtol=1e-15)
    # base 3: the triangle's area over [0,1], [1,2], [2,3] is 2/9, 5/9, 2/9
    np.testing.assert_allclose(triangular_weights(3.0), [2 / 9, 5 / 9, 2 / 9], rtol=1e-14)
    w = triangular_weights(4.5)
    assert w.sum() == pytest.approx(1.0, abs=1e-15) and w.size == 5
    q = np.random.default_rng(1).random((2, 30, 3))
    a, carry = route_triangular(q[:, :20], w)
    b, carry2 = route_triangular(q[:, 20:], w, carry)
    whole, tail = route_triangular(q, w)
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), whole, rtol=1e-13)
    np.testing.assert_allclose(whole.sum(1) + tail.sum(1), q.sum(1), rtol=1e-13)
    np.testing.assert_allclose(carry2, tail, rtol=1e-13)


def test_invalid_inputs_say_what_to_fix():
    with pytest.raises(ValueError, match="FC must be > 0"):
        hbv(np.ones(3), np.ones(3), np.where(np.array(PARAMS) == "fc", 0.0, ROW)[None])
    with pytest.raises(ValueError, match="non-negative depths"):
        hbv(np.array([1.0, np.nan]), np.ones(2), ROW[None])
    with pytest.raises(ValueError, match="impervious"):
        hbv(np.ones(3), np.ones(3), ROW[None], 1.5)
    with pytest.raises(ValueError, match="do not broadcast"):
        hbv(np.ones((2, 3, 1)), np.ones((3, 3, 1)), ROW[None])
    assert len(STATES) == 4
