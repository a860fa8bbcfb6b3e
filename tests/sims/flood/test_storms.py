"""Design storms: the Chicago storm's defining property, alternating blocks, IDF tables, scenario keys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.errors import ScenarioError
from twin.sims.flood.scenario import Scenario
from twin.sims.flood.storms import (
    JUMP_S,
    MM_H_PER_L_S_HA,
    IdfTable,
    alternating_block,
    chicago,
    storm_formula_intensity,
)

# Guangzhou-like storm formula (the brief's example): q = 3618.427 (1 + 0.438 lg P) / (t + 11.259)^0.750
A, B, C, N = 3618.427, 11.259, 0.438, 0.750


def _idf_depth_mm(t_min: float, P: float) -> float:
    """i(t) t straight from the formula, written out independently of twin.sims.flood.storms."""
    q = A * (1 + C * math.log10(P)) / (t_min + B) ** N  # L/(s.ha)
    return q * 0.36 * t_min / 60.0  # mm/h times hours


@pytest.mark.parametrize("peak, step_min, total_min", [(0.5, 5, 120), (0.4, 1, 100), (0.0, 5, 60), (1.0, 5, 60)])
def test_chicago_windows_around_the_peak_hold_the_idf_depth(peak, step_min, total_min):
    h = chicago(A, B, C, N, 50, total_min * 60, peak_ratio=peak, dt_s=step_min * 60)
    tp = peak * total_min
    checked = 0
    for t in np.arange(1, total_min + 1):
        t0, t1 = tp - peak * t, tp + (1 - peak) * t
        # windows whose ends fall on block edges: there the blocks integrate the curve exactly
        if abs(t0 / step_min - round(t0 / step_min)) > 1e-9 or abs(t1 / step_min - round(t1 / step_min)) > 1e-9:
            continue
        # float64 sums of a few hundred terms: 1e-6 relative is the brief's bound, far above round-off
        assert h.depth_between(t0 * 60, t1 * 60) == pytest.approx(_idf_depth_mm(t, 50), rel=1e-6), t
        checked += 1
    assert checked >= 5
    assert h.depth_mm == pytest.approx(_idf_depth_mm(total_min, 50), rel=1e-9)
    assert (h.intensity_mm_h > 0).all()
    # the peak block sits where the peak ratio puts it
    assert abs(np.argmax(h.intensity_mm_h) - min(int(peak * total_min / step_min), len(h.intensity_mm_h) - 1)) <= 1


def test_units_of_the_storm_formula():
    # 1 L/(s.ha) = 1e-3 m3/s over 1e4 m2 = 1e-7 m/s = 0.36 mm/h
    assert pytest.approx(1e-7 * 1000 * 3600) == MM_H_PER_L_S_HA
    q10 = A * (1 + C * math.log10(10)) / (10 + B) ** N
    assert storm_formula_intensity(A, B, C, N, 10, 10.0) == pytest.approx(q10 * 0.36)
    # the expanded A equals 167 A1 in the scenario
    sc = Scenario.from_dict(
        {
            "duration": 3600,
            "rain": {
                "design": {
                    "method": "chicago",
                    "A1": A / 167,
                    "b": B,
                    "C": C,
                    "n": N,
                    "return_period": 10,
                    "duration": "1h",
                }
            },
        }
    )
    assert sc.rain.design.coefficient == pytest.approx(A)


def test_series_for_the_kernel_integrates_to_the_storm_depth():
    h = chicago(A, B, C, N, 20, 7200, dt_s=600)
    pts = np.asarray(h.series())
    assert (np.diff(pts[:, 0]) > 0).all()
    depth = np.trapezoid(pts[:, 1], pts[:, 0]) / 3600.0
    assert depth == pytest.approx(h.depth_mm, rel=1e-12)  # the ramps are centred on the jumps
    assert pts[-1, 1] == 0.0 and pts[-1, 0] == pytest.approx(7200 + JUMP_S / 2)


def _table(quantity="intensity"):
    durations = np.array([5, 10, 15, 30, 60, 120, 180]) * 60.0
    periods = [2, 10, 50]
    mm_h = np.column_stack([storm_formula_intensity(A, B, C, N, p, durations / 60) for p in periods])
    values = mm_h if quantity == "intensity" else mm_h * durations[:, None] / 3600
    return durations, periods, values


def test_alternating_block_reproduces_the_idf_depth_of_every_duration():
    d, p, v = _table()
    idf = IdfTable.from_values(d, p, v)
    h = alternating_block(idf, 10, 3 * 3600, dt_s=300, peak_ratio=0.4)
    m = len(h.intensity_mm_h)
    peak = int(np.argmax(h.intensity_mm_h))
    assert peak == int(0.4 * m)
    blocks = h.intensity_mm_h * 300 / 3600
    for k in range(1, m + 1):
        # the k largest blocks form one window around the peak; its depth is D(k dt)
        window = np.sort(blocks)[::-1][:k].sum()
        assert window == pytest.approx(idf.intensity(k * 300, 10)[0] * k * 300 / 3600, rel=1e-9)
        idx = np.flatnonzero(blocks >= np.sort(blocks)[::-1][k - 1])
        assert idx.max() - idx.min() == k - 1, "the k largest blocks are contiguous"
    # at the table's own rows, interpolation returns the table
    np.testing.assert_allclose(idf.intensity(d, 10), v[:, 1], rtol=1e-12)


def test_idf_interpolation_is_log_log_in_duration_and_log_linear_in_p():
    idf = IdfTable.from_values([600, 2400], [2, 20], [[100.0, 200.0], [50.0, 100.0]])
    # geometric mean duration -> geometric mean intensity; lg P halfway -> arithmetic mean
    assert idf.intensity(1200, 2)[0] == pytest.approx(math.sqrt(100 * 50))
    assert idf.intensity(600, math.sqrt(40))[0] == pytest.approx(150.0)


def test_idf_table_from_csv_with_depths_in_a_scenario(tmp_path):
    d, p, v = _table("depth")
    rows = ["duration_min," + ",".join(f"P{x}" for x in p)]
    rows += [f"{di / 60:g}," + ",".join(f"{x:.9f}" for x in row) for di, row in zip(d, v)]
    (tmp_path / "idf.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "s.toml").write_text(
        'duration = "3h"\n[rain.design]\nmethod = "idf"\ntable = "idf.csv"\n'
        'quantity = "depth"\nreturn_period = 50\nduration = "2h"\nstep = "10min"\n'
    )
    sc = Scenario.from_toml(tmp_path / "s.toml")
    h = sc.rain.design.hyetograph()
    # depths in the CSV were rounded to 1e-9 mm
    assert h.depth_mm == pytest.approx(storm_formula_intensity(A, B, C, N, 50, 120.0) * 2, rel=1e-8)
    # the table is read into the scenario, so the result records the numbers it used
    assert sc.to_dict()["rain"]["design"]["table"]["intensity"][0][2] == pytest.approx(v[0, 2] * 12, rel=1e-8)
    assert Scenario.from_dict(sc.to_dict()).hash == sc.hash


def test_a_storm_longer_than_the_run_is_refused():
    design = {"method": "chicago", "A": A, "b": B, "C": C, "n": N, "return_period": 5, "duration": "2h"}
    with pytest.raises(ScenarioError, match="longer than the run"):
        Scenario.from_dict({"duration": "1h", "rain": {"design": design}})


def test_scenarios_without_new_keys_keep_their_hash():
    sc = Scenario.from_dict({"duration": 600, "rain": {"constant": 10.0}})
    assert "design" not in sc.to_dict()["rain"] and "edit" not in sc.to_dict()


@pytest.mark.parametrize(
    "design, match",
    [
        ({"A": -1.0}, "A"),
        ({"A": 0.0}, "A"),
        ({"return_period": 0}, "return_period"),
        ({"return_period": -2}, "return_period"),
        ({"n": 1.2}, "rain.design.n"),
        ({"b": -3}, "rain.design.b"),
        ({"peak": 1.5}, "rain.design.peak"),
        ({"step": "7min"}, "whole number of steps"),
        ({"step": 0.001}, r"step = 0\.001 s is below the shortest block of 1 s"),
        ({"duration": "100000d"}, r"has 28800000 blocks, more than 100000"),
        ({"A": 21.667}, "A1"),
        ({"A": None, "A1": 3618.0}, "write it as A"),
        ({"A1": 21.0}, "exactly one of A"),
        ({"C": -2.0}, "1 \\+ C lg P"),
        ({"n": None}, "needs \\['n'\\]"),
        (
            {"table": {"durations": ["5min", "10min"], "return_periods": [2], "intensity": [[100], [80]]}},
            "only applies to method = 'idf'",
        ),
        ({"method": "idf"}, "only apply to method = 'chicago'"),
        ({"colour": "red"}, "rain.design.colour: unknown key"),
    ],
)
def test_bad_design_storms_name_the_key(design, match):
    base = {"method": "chicago", "A": A, "b": B, "C": C, "n": N, "return_period": 50, "duration": "2h", "step": "5min"}
    base.update(design)
    base = {k: v for k, v in base.items() if v is not None}
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict({"duration": 7200, "rain": {"design": base}})


@pytest.mark.parametrize(
    "table, match",
    [
        ({"durations": ["5min", "10min"], "return_periods": [2], "intensity": [[100], [120]]}, "intensity rises"),
        ({"durations": ["5min", "10min"], "return_periods": [2], "depth": [[10], [8]]}, "depth does not grow"),
        ({"durations": ["10min", "5min"], "return_periods": [2], "intensity": [[100], [120]]}, "increasing"),
        (
            {"durations": ["5min", "10min"], "return_periods": [2, 5], "intensity": [[100, 90], [80, 70]]},
            "return period",
        ),
        (
            {"durations": ["5min", "10min"], "return_periods": [2], "intensity": [[100], [80]], "depth": [[1], [2]]},
            "exactly one of",
        ),
    ],
)
def test_bad_idf_tables_are_refused(table, match):
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict(
            {
                "duration": 600,
                "rain": {"design": {"method": "idf", "table": table, "return_period": 2, "duration": "10min"}},
            }
        )


def test_idf_storm_outside_the_table_is_refused(tmp_path):
    tbl = {"durations": ["10min", "1h"], "return_periods": [2, 10], "intensity": [[100, 150], [40, 60]]}
    for over, match in (
        ({"step": "5min", "duration": "1h"}, "outside the IDF table"),
        ({"return_period": 50}, "outside the IDF table's 2-10 years"),
        ({"table": "missing.csv"}, "does not exist"),
    ):
        design = {"method": "idf", "table": tbl, "return_period": 5, "duration": "1h", "step": "10min", **over}
        with pytest.raises(ScenarioError, match=match):
            Scenario.from_dict({"duration": 3600, "rain": {"design": design}}, base_dir=tmp_path)
