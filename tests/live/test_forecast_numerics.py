"""The forecast members run the base scenario's [numerics] (scheme, dtype, any further key) as a flood run
of it would (the forecast's own [numerics] apart: tests/live/test_member_numerics.py), and the live state
keeps what that scheme and dtype need across a restart."""

from __future__ import annotations

import numpy as np
import pytest
from live_town import bowl_twin, config, town_storm

from kernels.swe import SweState
from twin.live.cycle import Forecaster
from twin.live.members import run_members

MIN = 60.0

pytestmark = pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")


def _cfg(numerics: dict, **over) -> dict:
    cfg = config(lead_times=["12min"], members=2, **over)
    cfg["base"] = {**cfg["base"], "numerics": numerics}
    return cfg


def test_the_members_run_the_base_scenarios_scheme_and_dtype_across_a_restart(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    tw = bowl_twin()
    runs = {}
    for key, numerics in {
        "swe": {"scheme": "swe", "dtype": "float64", "order": 1},
        "f32": {"dtype": "float32"},
        "f64": {"dtype": "float64"},
    }.items():
        with Forecaster(tw, _cfg(numerics), storm.obs, tmp_path / key) as fc:
            fc.cycle(storm.start + 48 * MIN)
        # a restart: the state on disk (with the full solver's cell discharges, float32's remainder) goes on
        with Forecaster(tw, _cfg(numerics), storm.obs, tmp_path / key) as fc:
            res = fc.cycle(storm.start + 54 * MIN)
            # every key of the base's [numerics] reaches the members as the base gives it
            assert res.inputs.scenario.numerics == fc.base.numerics
            assert res.record["numerics"] == fc.base.numerics.model_dump(mode="json")
            assert res.record["member_numerics"] == res.record["numerics"]
        assert res.record["cycle_index"] == 2 and res.record["balance"]["steps"] > 0
        assert abs(res.record["balance"]["mass_balance_error"]) < 1e-5
        assert all(abs(m["mass_balance_error"]) < 1e-5 for m in res.record["members_balance"])
        runs[key] = res
    assert isinstance(runs["swe"].inputs.state, SweState)
    assert np.abs(runs["swe"].inputs.state.hu).max() > 0  # the restart kept the cell discharges
    assert not isinstance(runs["f32"].inputs.state, SweState)
    assert runs["f32"].inputs.state.h.dtype == np.float32 and runs["f64"].inputs.state.h.dtype == np.float64
    # the scheme is what ran: the full solver's maps are not the inertial kernel's
    swe, inertial = runs["swe"].outputs[0].h_max, runs["f64"].outputs[0].h_max
    assert swe.max() > 0.05 and not np.allclose(swe, inertial, atol=1e-4)


def test_members_on_dask_run_the_scheme_and_equal_those_run_here(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    cfg = _cfg({"scheme": "swe", "dtype": "float64", "order": 1}, workers=1)
    with Forecaster(bowl_twin(), cfg, storm.obs, tmp_path / "fc") as fc:
        res = fc.cycle(storm.start + 48 * MIN)
        rains = [res.nowcast.rain[0]]
        here = run_members(res.inputs, rains)
        there = run_members(res.inputs, rains, fc.client)
    np.testing.assert_array_equal(here[0].h_max, there[0].h_max)
    assert there[0].cpu_s > 0
