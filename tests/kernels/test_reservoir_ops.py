"""Reservoir zones, guide curves and evaporation against hand-computed values (kernels.reservoir)."""

import numpy as np
import pytest

from kernels.reservoir import guide_curve, storage_bounds, table_lookup

# capacity 100, conservation top 80, buffer top 40 (25 % of it per step), inactive 10; dt = 1 s
CAP, CONS, BUF, INACT, COEF = 100.0, 80.0, 40.0, 10.0, 0.25
TABLE_S = np.array([[0.0, 100.0]])
TABLE_A = np.array([[0.0, 50.0]])  # area grows linearly to 50 m2 at full


def _bounds(storage, inflow=0.0, evap=0.0, max_release=np.inf):
    out = storage_bounds(
        np.array([[storage]]),
        np.array([[inflow]]),
        np.array([[evap]]),
        np.array([CAP]),
        np.array([CONS]),
        np.array([BUF]),
        np.array([INACT]),
        np.array([COEF]),
        np.array([max_release]),
        TABLE_S,
        TABLE_A,
        1.0,
    )
    return [float(v[0, 0]) for v in out]


@pytest.mark.parametrize(
    "storage, inflow, lower, upper",
    [
        # conservation zone: all water above the buffer is free, plus 25 % of the buffer's 30
        (60.0, 0.0, 40.0 - 0.25 * 30.0, 60.0),
        # buffer zone: only 25 % of the water above the inactive top
        (30.0, 0.0, 30.0 - 0.25 * 20.0, 30.0),
        # inactive zone: nothing may go
        (8.0, 0.0, 8.0, 8.0),
        # flood-control zone: must come down to the conservation top
        (70.0, 20.0, 40.0 - 0.25 * 30.0, 80.0),
        # above capacity: the spill goes as well (upper is the conservation top)
        (95.0, 30.0, 40.0 - 0.25 * 30.0, 80.0),
    ],
)
def test_zones(storage, inflow, lower, upper):
    avail, lo, up, ev = _bounds(storage, inflow)
    assert avail == storage + inflow and ev == 0.0
    assert lo == pytest.approx(lower, abs=1e-12) and up == pytest.approx(upper, abs=1e-12)


def test_flood_release_limited_by_outlet_but_spill_always_goes():
    # 110 there: spill 10 always; the flood-control zone (100 -> 80) drains at most 5 per step
    _avail, _lo, up, _ = _bounds(100.0, 10.0, max_release=5.0)
    assert up == pytest.approx(95.0, abs=1e-12)


def test_evaporation_from_area_at_start_storage():
    # storage 60 -> area 30 m2; 0.1 m depth -> 3 m3; limited to the water there is
    avail, _, _, ev = _bounds(60.0, 1.0, evap=0.1)
    assert ev == pytest.approx(3.0, abs=1e-12) and avail == pytest.approx(58.0, abs=1e-12)
    avail, _, _, ev = _bounds(1.0, 0.0, evap=10.0)  # area 0.5 m2 x 10 m = 5 m3 > 1 m3 there
    assert ev == pytest.approx(1.0) and avail == 0.0


def test_guide_curve_periodic_interpolation():
    days = np.array([[91.0, 274.0], [1.0, 1.0]])  # second curve: constant (padded)
    vals = np.array([[0.6, 0.9], [0.5, 0.5]])
    assert guide_curve(182.5, days, vals)[0] == pytest.approx(0.75, abs=1e-12)
    # across the new year: from (274, 0.9) to (91 + 365.25, 0.6), halfway is day 274 + 91.125
    half = 274.0 + (91.0 + 365.25 - 274.0) / 2
    assert guide_curve(half - 365.25 if half > 366 else half, days, vals)[0] == pytest.approx(0.75, abs=1e-12)
    assert guide_curve(10.0, days, vals)[1] == 0.5


def test_batched_over_scenarios_equals_one_by_one():
    rng = np.random.default_rng(3)
    s = rng.uniform(0, 120, (6, 1))
    q = rng.uniform(0, 30, (6, 1))
    e = rng.uniform(0, 0.2, (6, 1))
    args = (
        np.array([CAP]),
        np.array([CONS]),
        np.array([BUF]),
        np.array([INACT]),
        np.array([COEF]),
        np.array([np.inf]),
        TABLE_S,
        TABLE_A,
        1.0,
    )
    batched = storage_bounds(s, q, e, *args)
    for i in range(6):
        one = storage_bounds(s[i : i + 1], q[i : i + 1], e[i : i + 1], *args)
        for b, o in zip(batched, one):
            assert b[i, 0] == o[0, 0]


def test_table_lookup_clamps():
    out = table_lookup(np.array([[-5.0, 50.0, 500.0]]).T, np.array([[0.0, 100.0]] * 1), np.array([[200.0, 210.0]]))
    np.testing.assert_allclose(out[:, 0], [200.0, 205.0, 210.0])
