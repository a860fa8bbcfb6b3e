"""The "river" scenario kind on the sample city: storm through rivers and lake, spills, outputs, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from twin.errors import InputDataError, ScenarioError
from twin.sims.river.network import (
    lake_hypsometry,
    link_catchments,
    network_from_rivers,
    network_from_streams,
)
from twin.sims.river.run import RiverResult, run
from twin.sims.river.scenario import RiverScenario


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from twin.model.build import from_files
    from twin.sample.district import city

    sc = city(tmp_path_factory.mktemp("city"), size_m=600, cell=4)
    return from_files(sc.dem, rivers=sc.layers, lakes=sc.layers)


def _river_xy(twin, x: float) -> list[float]:
    """A point on the main river's centre line at easting ``x``."""
    import shapely

    line = twin.rivers.geometry.iloc[0]
    pts = shapely.get_coordinates(line)
    return [x, float(np.interp(x, pts[:, 0], pts[:, 1]))]


def _scenario(twin, **over) -> dict:
    x0, _, x1, _ = twin.bounds
    base = {
        "name": "storm",
        "duration": "1d",
        "dt": "15min",
        "output_interval": "1h",
        "network": {"reference_discharge": 5.0},
        "runoff": {"hyetograph": [[0, 40.0], [3600, 40.0], [3601, 0.0]], "coefficient": 0.6},
        "inflow": [{"at": _river_xy(twin, x0 + 10), "hydrograph": [[0, 5.0], ["2h", 30.0], ["6h", 5.0]]}],
        "lake": [{"name": "Sample Lake", "crest": float(twin.lakes["level"].iloc[0]), "weir_width": 4.0}],
        "gauge": [{"name": "outlet", "at": _river_xy(twin, x1 - 10)}],
    }
    base.update(over)
    return base


def test_storm_routes_through_rivers_and_lake_with_closed_balance(city, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # slopes floored on the flat lake bed
        r = run(city, _scenario(city), out=tmp_path / "res", progress=False)
    s = r.summary
    # routing and lakes are volume-conservative by construction: only round-off remains
    assert abs(s["mass_balance_error"]) < 1e-9
    # runoff over the catchments plus the inflow hydrograph: 40 mm/h x 0.6 for 1 h (and half a
    # second of the ramp down to 0) over the catchment area, and the hydrograph's integral (5 m3/s
    # for a day plus the 25 m3/s triangle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        area = link_catchments(city, network_from_rivers(city)).catchment_area().sum()
    hydro = 5.0 * 86400 + 0.5 * 25.0 * 6 * 3600
    assert s["volume_in_m3"] == pytest.approx(hydro + 40e-3 * 0.6 * area * 3600.5 / 3600, rel=1e-12)
    # the lake rises above its crest during the storm and falls back towards it afterwards
    stage = r.lake_series["stage"][:, 0]
    crest = float(city.lakes["level"].iloc[0])
    assert stage.max() > crest + 0.05
    assert stage[-1] < crest + 0.2 * (stage.max() - crest)
    assert np.argmax(stage) < len(stage) // 2
    # the outlet's peak follows the inflow's (2 h) within a few hours
    outlet = str(int(r.links.loc[r.links["downstream_id"] == -1, "link_id"].iloc[0]))
    assert 2 * 3600 <= s["time_of_peak_s"][outlet] <= 6 * 3600
    assert s["peak_discharge_m3s"][outlet] > 25.0
    # the outputs open with the right dimensions and units
    with xr.open_dataset(tmp_path / "res" / "links.nc") as ds:
        assert ds["discharge"].dims == ("time", "link_id")
        assert ds["discharge"].shape == (24, len(r.links))
        assert ds.attrs["Conventions"] == "CF-1.8" and ds["discharge"].attrs["units"] == "m3 s-1"
        assert ds["x"].dims == ("link_id",) and "crs" in ds and ds["discharge"].attrs["grid_mapping"] == "crs"
    with xr.open_dataset(tmp_path / "res" / "lakes.nc") as ds:
        assert ds["stage"].dims == ("time", "lake") and ds["lake_name"].values[0] == "Sample Lake"
        np.testing.assert_allclose(ds["stage"].values[:, 0], stage)
    # the lake's ledger over the run: storage change = inflow - outflow (no evaporation given)
    hours = 3600.0
    ser = r.lake_series
    v0 = ser["storage"][0, 0] - (ser["inflow"][0, 0] - ser["outflow"][0, 0]) * hours
    change = ser["storage"][-1, 0] - v0
    assert change == pytest.approx(((ser["inflow"] - ser["outflow"])[:, 0] * hours).sum(), abs=1e-6 * v0)
    assert ser["inflow"][:, 0].max() > 0
    back = RiverResult.load(tmp_path / "res")
    np.testing.assert_allclose(back.discharge, r.discharge)
    assert back.summary == json.loads((tmp_path / "res" / "summary.json").read_text())
    assert "peak_discharge_m3s" in back.links.columns and len(back.gauges) == 24
    assert (tmp_path / "res" / "scenario.json").is_file()


def test_spill_reaches_the_outlet_with_its_mass_conserved(city, tmp_path):
    spill = {
        "name": "diesel",
        "at": _river_xy(city, city.bounds[0] + 100),
        "time": "1h",
        "mass": 500.0,
        "dispersion": 5.0,
        "decay_rate": 0.0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = run(
            city,
            _scenario(city, runoff=None, lake=[], spill=[spill], duration="12h"),
            out=tmp_path / "r",
            progress=False,
        )
    pol = r.summary["pollutants"][0]
    assert pol["name"] == "diesel"
    # the transport kernel is conservative in flux form: the ledger closes to round-off
    assert abs(pol["mass_balance_error"]) < 1e-9
    # at 5 m3/s the plume crosses the 600 m city in well under the 11 h left
    assert pol["outflow_kg"] > 0.999 * 500.0
    assert np.nanmax(r.links["peak_concentration_kgm3"]) > 0
    assert r.concentration.shape == (1, 12, len(r.links))
    # the plume passes the outlet gauge and is gone by the end
    outlet_col = r.gauges["outlet_concentration_kgm3"].to_numpy()
    assert outlet_col.max() > 0 and outlet_col[-1] < 1e-6 * outlet_col.max()
    back = RiverResult.load(tmp_path / "r")
    assert back.spills == ["diesel"]
    np.testing.assert_allclose(back.concentration, r.concentration)
    with xr.open_dataset(tmp_path / "r" / "links.nc") as ds:
        assert ds["concentration"].dims == ("spill", "time", "link_id")
        assert ds["concentration"].attrs["units"] == "kg m-3"


def test_scenario_from_toml_round_trips(city, tmp_path):
    path = tmp_path / "flood_wave.toml"
    path.write_text(
        """
kind = "river"
duration = "6h"
dt = "10min"
output_interval = "30min"

[network]
source = "rivers"
reference_discharge = 8.0

[runoff]
constant = 5.0
coefficient = 0.5

[[lateral]]
link = 1
series = [[0, 0.0], ["1h", 2.0], ["3h", 0.0]]

[[lake]]
lake = 0
rating = [[3.0, 0.0], [3.23, 0.0], [4.0, 6.0], [6.0, 40.0]]
target_level = 3.1
release_max = 0.5
evaporation = 5.0

[[gauge]]
name = "mouth"
link = 2
""",
        encoding="utf-8",
    )
    sc = RiverScenario.from_toml(path)
    assert sc.name == "flood_wave" and sc.steps == 36 and sc.lake[0].rating[1] == (3.23, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = run(city, sc, progress=False)
    assert abs(r.summary["mass_balance_error"]) < 1e-9
    assert list(r.gauges.columns) == ["time_s", "mouth_discharge_m3s"]
    # 5 mm/day for 6 h on at most the lake's cells (the table's top area)
    _, area, _ = lake_hypsometry(city, 0)
    assert 0 < r.summary["volume_evaporated_m3"] <= 5e-3 * area[-1] * 0.25
    # the operating rule releases water to bring the lake down towards 3.1 m: it ends below its
    # rest level (3.23 m), which the rating alone would only approach from above
    assert r.lake_series["stage"][-1, 0] < 3.23
    assert RiverScenario.from_dict(sc.to_dict()).hash == sc.hash


def test_stream_network_runoff_volume_is_runoff_times_catchment(city):
    sc = {
        "duration": "3h",
        "dt": "15min",
        "output_interval": "1h",
        "network": {"source": "streams", "threshold_cells": 200},
        "runoff": {"constant": 10.0, "coefficient": 1.0},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net = network_from_streams(city, threshold_cells=200)
        r = run(city, sc, progress=False)
    expected = 10.0 / 3.6e6 * np.count_nonzero(net.catchment) * city.cell_size**2 * 3 * 3600
    assert r.summary["volume_in_m3"] == pytest.approx(expected, rel=1e-12)
    assert abs(r.summary["mass_balance_error"]) < 1e-9
    assert len(r.summary["peak_discharge_m3s"]) > 1  # several edge outlets, each its own tree
    with pytest.raises(InputDataError, match="separate outlets"):
        run(city, dict(sc, network={**sc["network"], "allow_disconnected": False}), progress=False)


@pytest.mark.parametrize(
    "over, match",
    [
        ({"rainfall": {"constant": 1.0}}, r"rainfall: unknown key"),
        ({"output_interval": "25min"}, r"whole multiple of dt"),
        ({"lake": [{"name": "Nowhere Lake", "crest": 3.0, "weir_width": 1.0}]}, r"'Nowhere Lake' is not a lake"),
        ({"lake": [{"lake": 0}]}, r"has no outlet: give a weir"),
        ({"lake": [{"lake": 0, "weir_width": 2.0}]}, r"needs its crest level"),
        (
            {"lake": [{"lake": 0, "weir_width": 2.0, "crest": 3.0, "initial_level": 1e4}]},
            r"lake.0.initial_level = 10000 m lies outside the stages of lake 0 .*from the DEM",
        ),
        ({"spill": [{"at": [0.0, 0.0], "mass": 1.0}]}, r"spill.0: the point .* m from the nearest link"),
        ({"spill": [{"link": 99, "mass": 1.0}]}, r"spill.0: link id\(s\) \[99\] are not in the network"),
        ({"inflow": [{"at": [0.0, 0.0], "hydrograph": [[0, 1.0]]}]}, r"inflow.0.at: the point"),
    ],
)
def test_bad_input_names_the_key_and_the_fix(city, over, match):
    with pytest.raises(ScenarioError, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        run(city, _scenario(city, **over), progress=False)


def _side_valley():
    """A valley falling 1 % east with sides rising 2 %, a pond 20 m north of the river (no river through it),
    and a flood scenario: (twin, scenario, x0, y0)."""
    import geopandas as gpd
    import shapely
    from affine import Affine

    from conftest import CRS
    from twin.model.twin import Twin

    x0, y0, dx, ny, nx = 423000.0, 2560000.0, 10.0, 40, 60
    x = (np.arange(nx) + 0.5) * dx
    y = (np.arange(ny) + 0.5) * dx
    terrain = 20.0 - 0.01 * x[None, :] + 0.02 * np.abs(y[:, None] - 200.0)
    rivers = gpd.GeoDataFrame(
        {"width": [5.0]}, geometry=[shapely.LineString([(x0, y0 - 200), (x0 + 600, y0 - 200)])], crs=CRS
    )
    pond = shapely.box(x0 + 400, y0 - 180, x0 + 450, y0 - 150)
    lakes = gpd.GeoDataFrame({"name": ["pond"], "level": [0.0]}, geometry=[pond], crs=CRS)
    tw = Twin(CRS, Affine(dx, 0, x0, 0, -dx, y0), terrain, rivers=rivers, lakes=lakes)
    sc = {
        "duration": "2d",
        "dt": "10min",
        "output_interval": "1h",
        "network": {"reference_discharge": 5.0},
        "inflow": [{"at": [x0 + 5, y0 - 200], "hydrograph": [[0, 2.0], ["6h", 30.0], ["12h", 2.0]]}],
        "lake": [{"name": "pond", "side_distance": 30.0, "exchange_width": 5.0}],
    }
    return tw, sc, x0, y0


def test_side_lake_fills_from_a_flood_and_drains_back():
    from conftest import CRS
    from twin.model.twin import Twin

    tw, sc, _, _ = _side_valley()
    r = run(tw, sc, progress=False)
    assert r.lakes.loc[0, "kind"] == "side" and r.lakes.loc[0, "lake_link"] == -1
    assert abs(r.summary["mass_balance_error"]) < 1e-9
    ex = r.lake_series["exchange"][:, 0]
    stage = r.lake_series["stage"][:, 0]
    # the flood (its river stage ~1.6 m above the bed against ~0.4 m at 2 m3/s) spills into the pond,
    # which then drains back into the river as the flood passes
    assert ex.max() > 0 and ex.min() < 0
    assert np.argmax(ex) < np.argmin(ex)
    assert stage.max() > stage[-1]
    # without a side channel width the pond is not connected: a clear error
    bad = dict(sc, lake=[{"name": "pond", "side_distance": 30.0}])
    with pytest.raises(ScenarioError, match="exchange_width"):
        run(tw, bad, progress=False)
    far = dict(sc, lake=[{"name": "pond", "side_distance": 5.0, "exchange_width": 5.0}])
    with pytest.raises(ScenarioError, match="touches no river"):
        run(tw, far, progress=False)
    no_lakes = Twin(CRS, tw.transform, tw.terrain, rivers=tw.rivers)
    with pytest.raises(ScenarioError, match="the twin has no lakes layer"):
        run(no_lakes, sc, progress=False)


def test_spill_on_the_creek_mixes_into_the_lake_and_decays_with_mass_conserved(city):
    # link 3 is the creek above the lake (see test_network's sample-city topology), link 4 the lake
    spill = {"name": "tracer", "link": 3, "time": "30min", "mass": 50.0, "decay_rate": 0.5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = run(city, _scenario(city, spill=[spill]), progress=False)
    pol = r.summary["pollutants"][0]
    assert abs(pol["mass_balance_error"]) < 1e-9
    # a decay of 0.5 / day over the ~day the tracer spends in the lake removes a good share
    assert 0.05 * 50 < pol["decayed_kg"] < 0.6 * 50
    peak = r.links.set_index("link_id")["peak_concentration_kgm3"]
    # mixed into the lake's volume the tracer is diluted below its peak in the creek
    assert 0 < peak[4] < peak[3]
    assert peak[2] > 0  # and it reaches the river below the creek's mouth


def test_spill_reaches_a_side_lake_through_its_channel():
    """The flood of the side-lake valley with a spill upstream: the pond takes polluted water while the river
    spills into it and gives it back as it drains; the pollutant balance still closes."""
    tw, sc, x0, y0 = _side_valley()
    sc["spill"] = [{"at": [x0 + 50, y0 - 200], "time": "5h", "mass": 500.0, "decay_rate": 0.1}]
    r = run(tw, sc, progress=False)
    c = r.lake_series["concentration"][:, 0]
    ex = r.lake_series["exchange"][:, 0]
    assert c.max() > 0.0 and c[-1] < c.max()
    assert ex[: np.argmax(c) + 1].max() > 0  # it came in through the channel, while the river filled the pond
    pol = r.summary["pollutants"][0]
    assert pol["in_network_kg"] < pol["mass_kg"] and pol["decayed_kg"] > 0
    assert abs(pol["mass_balance_error"]) < 1e-12
