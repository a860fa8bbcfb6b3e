"""The forecast members' numerics: the base scenario's, the forecast file's [numerics] over them; local time
stepping (asked for there) and the forecast the global step gives."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from live_town import CRS, X0, Y0, bowl_twin, config, town_storm

from twin.errors import ScenarioError
from twin.live.cycle import Forecaster
from twin.live.members import run_members
from twin.live.verify import truth_inputs
from twin.model.twin import Twin

MIN = 60.0

pytestmark = pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")


def _cfg(base_numerics: dict | None = None, **over) -> dict:
    """The bowl town's forecast settings; ``base_numerics``: the base scenario's [numerics]."""
    cfg = config(lead_times=["12min"], members=2, **over)
    if base_numerics is not None:
        cfg["base"] = {**cfg["base"], "numerics": base_numerics}
    return cfg


def pond_town() -> Twin:
    """64 x 128 cells of 5 m rising 2 % away from a 2 m deep pond in the west: the pond holds the global
    step at its own (0.68 s) while the streets beyond could step 8 times longer (several tiles of local
    time stepping)."""
    dx, ny, nx = 5.0, 64, 128
    c = (np.arange(nx) + 0.5) * dx
    r = (np.arange(ny) + 0.5) * dx
    xx, yy = np.meshgrid(c, r)
    terrain = 10.0 + 0.02 * np.hypot(xx - 60.0, yy - 160.0)
    lakes = gpd.GeoDataFrame(
        {"name": ["pond"], "level": [12.0], "bed": [10.0]},
        geometry=[shapely.Point(X0 + 60.0, Y0 - 160.0).buffer(50.0)],
        crs=CRS,
    )
    buildings = gpd.GeoDataFrame(
        {"id": ["b1", "b2"], "base": [11.0, 12.0], "height": [9.0, 6.0], "source": "gis"},
        geometry=[
            shapely.box(X0 + 200, Y0 - 180, X0 + 220, Y0 - 160),
            shapely.box(X0 + 500, Y0 - 60, X0 + 520, Y0 - 40),
        ],
        crs=CRS,
    )
    return Twin(CRS, Affine(dx, 0, X0, 0, -dx, Y0), terrain, buildings=buildings, lakes=lakes)


def test_members_step_as_the_base_does_unless_the_forecast_names_the_time_stepping(tmp_path):
    tw = bowl_twin()
    cases = {
        "default": (_cfg(), "global"),
        "base names it": (_cfg({"time_stepping": "local"}), "local"),
        "forecast names it": (_cfg(numerics={"time_stepping": "local"}), "local"),
        "forecast over the base": (_cfg({"time_stepping": "local"}, numerics={"time_stepping": "global"}), "global"),
        "forecast's levels": (_cfg({"time_stepping": "local"}, numerics={"max_levels": 2}), "local"),
        "full solver": (_cfg({"scheme": "swe", "dtype": "float64"}), "global"),
    }
    for key, (cfg, expected) in cases.items():
        fc = Forecaster(tw, cfg, tmp_path / "obs", tmp_path / key)
        assert fc.member_numerics.time_stepping == expected, key
        assert fc.member_numerics.scheme == fc.base.numerics.scheme, key
    assert (
        Forecaster(tw, cases["forecast's levels"][0], tmp_path / "obs", tmp_path / "l").member_numerics.max_levels == 2
    )


def test_the_forecasts_numerics_cannot_change_the_states_scheme_or_dtype_or_break_the_base(tmp_path):
    tw = bowl_twin()
    with pytest.raises(ScenarioError, match=r"\[numerics\] sets dtype.*base scenario's \[numerics\]"):
        Forecaster(tw, _cfg(numerics={"dtype": "float64"}), tmp_path / "obs", tmp_path / "a")
    with pytest.raises(ScenarioError, match="scheme"):
        Forecaster(tw, _cfg(numerics={"scheme": "swe"}), tmp_path / "obs", tmp_path / "b")
    # local time stepping with a fixed step, asked for by the forecast: the numerics' own rule, named
    with pytest.raises(ScenarioError, match="fixed_dt"):
        Forecaster(
            tw,
            _cfg(numerics={"time_stepping": "local", "fixed_dt": 1.0}),
            tmp_path / "obs",
            tmp_path / "c",
        )
    with pytest.raises(ScenarioError, match="max_levels"):
        Forecaster(tw, _cfg(numerics={"max_levels": 9}), tmp_path / "obs", tmp_path / "d")
    with pytest.raises(ScenarioError, match="time_stepping"):  # the full solver steps globally only
        Forecaster(tw, _cfg({"scheme": "swe"}, numerics={"time_stepping": "local"}), tmp_path / "obs", tmp_path / "e")


def test_local_members_forecast_the_depths_and_first_flooded_times_of_global_ones(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    tw = pond_town()
    res, base = {}, {}
    for mode in ("global", "local"):
        cfg = _cfg(numerics={"time_stepping": mode})
        with Forecaster(tw, cfg, storm.obs, tmp_path / mode) as fc:
            res[mode] = fc.cycle(storm.start + 48 * MIN)
            base[mode] = fc.base
        assert res[mode].record["member_numerics"]["time_stepping"] == mode
        assert res[mode].record["numerics"].get("time_stepping", "global") == "global"  # the hot start's
        assert all(abs(m["mass_balance_error"]) < 1e-5 for m in res[mode].record["members_balance"])
    for g, loc in zip(res["global"].outputs, res["local"].outputs, strict=True):
        assert g.h_max.max() > 0.15  # water stands in the streets, not only in the pond
        assert not np.array_equal(g.h_max, loc.h_max)  # the members did step locally ...
        np.testing.assert_allclose(loc.h_max, g.h_max, atol=0.01)  # ... to the same depths
        both = np.isfinite(g.arrival) & np.isfinite(loc.arrival)
        assert np.array_equal(np.isfinite(g.arrival), np.isfinite(loc.arrival)) or (
            np.count_nonzero(np.isfinite(g.arrival) != np.isfinite(loc.arrival)) <= 0.01 * both.sum()
        )
        assert np.abs(g.arrival[both] - loc.arrival[both]).max() < 30.0

    # a replay's truth and baselines step as the base does, not as the local members: the global members' bits
    truth = truth_inputs(res["local"].inputs, base["local"])
    assert truth.scenario.numerics.time_stepping == truth.params.time_stepping == "global"
    g = res["global"]
    again = run_members(truth, [m * g.record["rain_gauge_bias"] for m in g.nowcast.rain])
    for a, b in zip(again, g.outputs, strict=True):
        assert np.array_equal(a.h_max, b.h_max) and np.array_equal(a.arrival, b.arrival, equal_nan=True)
