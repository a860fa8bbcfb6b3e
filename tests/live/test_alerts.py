"""Warnings for any layer: buildings and facilities against the flooded depth, roads by their class."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from live_town import CRS, X0, Y0, N, bowl_twin, config, town_storm

from twin.live.alerts import FeatureSampler, feature_forecast, feature_layers, warning_table
from twin.live.cycle import Forecaster
from twin.sims.flood.roads import THRESHOLDS_M


def _roads():
    # two roads along the same row through the bowl's middle: a motorway and a footway
    y = Y0 - 155
    line = shapely.LineString([(X0 + 60, y), (X0 + 240, y)])
    return gpd.GeoDataFrame(
        {"id": ["m1", "f1"], "class": ["motorway", "footway"], "name": ["M1", "F1"]}, geometry=[line, line], crs=CRS
    )


def test_a_road_is_cut_above_the_depth_of_its_class():
    tw = bowl_twin()
    roads = _roads()
    sampler = FeatureSampler.of(roads, tw)
    depth = np.zeros((N, N), np.float32)
    depth[15, 10:20] = 0.27  # across the road: above a footway's 0.25 m, below a motorway's 0.3 m
    arrival = np.full((N, N), np.nan, np.float32)
    arrival[15, 12] = 600.0
    h_max = [depth[None], depth[None], np.zeros((1, N, N), np.float32)]  # 3 members, one lead time
    thr = np.array([THRESHOLDS_M[c] for c in roads["class"]])
    fc = feature_forecast(sampler, h_max, [arrival] * 3, tw.terrain, thr, [1800.0])
    assert fc["p_flooded_30min"].tolist() == pytest.approx([0.0, 2 / 3])
    assert fc["time_median_30min"].iloc[1] == 600.0
    warn = warning_table("roads", "road", roads, fc, thr, [1800.0], 0.1)
    assert warn["id"].tolist() == ["f1"] and warn["threshold_m"].tolist() == [0.25]
    assert warn["expected_min"].tolist() == [10.0]


def test_layers_are_found_by_geometry_and_a_class_column():
    tw = bowl_twin()
    tw.set_layer("roads", _roads())  # the twin's named roads layer
    tw.set_vector("rivers_lines", _roads().drop(columns="class"))  # lines without a class: not roads
    kinds = {name: kind for name, (kind, _) in feature_layers(tw).items()}
    assert kinds == {"buildings": "building", "hospitals": "facility", "schools": "facility", "roads": "road"}


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_a_forecast_warns_for_a_road_layer_given_to_it(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    cfg = config(lead_times=["30min"], members=2, road_depths={"footway": 0.05})
    with Forecaster(bowl_twin(), cfg, storm.obs, tmp_path / "fc", layers={"roads": _roads()}) as fc:
        res = fc.cycle(storm.start + 3600.0)
    folder = res.folder
    roads = gpd.read_file(folder / "roads.gpkg")
    assert {"p_flooded_30min", "time_median_30min", "depth_median_30min"} <= set(roads.columns)
    warn = pd.read_csv(folder / "warnings.csv")
    road_rows = warn[warn["kind"] == "road"]
    assert set(road_rows["id"]) >= {"f1"}
    assert road_rows.loc[road_rows["id"] == "f1", "threshold_m"].iloc[0] == 0.05
    geo = gpd.read_file(folder / "warnings.geojson")
    assert len(geo) == len(warn) and geo.crs.to_epsg() == 4326


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_the_sample_city_roads_are_warned_with_the_flood_runs_thresholds(tmp_path_factory, tmp_path):
    """The sample city's own roads layer (its streets and bridges): the forecast warns on it with the
    depths of the flood run's road table, the same roads that road_cuts says each member cuts."""
    from twin import sample
    from twin.model.build import from_files
    from twin.sample.storm import recorded_storm
    from twin.sims.flood.roads import road_cuts

    city = sample.city(tmp_path_factory.mktemp("city") / "c", seed=0, size_m=600, cell=4)
    tw = from_files(
        city.dem,
        **{k: f"{city.layers}::{k}" for k in ("buildings", "rivers", "lakes", "landuse", "roads")},
        resolution=8,
    )
    storm = recorded_storm(tmp_path / "storm", tw, duration=7200.0, radar_size=16000.0, radar_cell=250.0)
    cfg = config(lead_times=["30min"], members=2, warn_probability=0.5)
    with Forecaster(tw, cfg, storm.obs, tmp_path / "fc") as fc:
        res = fc.cycle(storm.start + 72 * 60.0)
    assert fc.layers["roads"][0] == "road"
    warn = pd.read_csv(res.folder / "warnings.csv")
    roads = warn[warn["layer"] == "roads"]
    assert len(roads), "the sample storm cuts some of the sample city's streets"
    assert (roads["threshold_m"] == roads["class"].map(THRESHOLDS_M)).all()
    # the same roads as the flood run's roads.gpkg would cut under each member's water
    ids = tw.roads["id"].astype(str) if "id" in tw.roads else pd.Series(range(len(tw.roads))).astype(str)
    cut = np.zeros(len(tw.roads))
    for out in res.outputs:
        seg = road_cuts(tw.roads, out.h_max[0], out.h_max[:1], np.array([0.0]), tw.transform, 1800.0)
        cut[seg.loc[seg["cut_at_s"].notna(), "road_id"].unique()] += 1
    expected = set(ids[cut / len(res.outputs) >= 0.5])
    assert set(roads["id"].astype(str)) == expected


def test_a_road_depth_that_is_not_a_positive_depth_is_refused_naming_the_key():
    from twin.errors import ScenarioError
    from twin.live.config import ForecastConfig

    with pytest.raises(ScenarioError, match="road_depths.*footway"):
        ForecastConfig.coerce(config(road_depths={"footway": 0.0}))
    assert ForecastConfig.coerce(config(road_depths={"footway": 0.2})).road_depths == {"footway": 0.2}


def test_a_building_beside_the_rivers_own_water_is_not_warned(tmp_path):
    # Andorra la Vella: the DEM shows no channel, the river's initial fill sits in its pits at street
    # level, and the buildings whose walls touch it were "flooded now" with no rain at all
    from affine import Affine

    from twin.model.twin import Twin

    terrain = np.full((N, N), 10.0)
    terrain[15, :] = 9.4  # a pit along the river line, 0.6 m below the street
    y = Y0 - 15.5 * 10.0
    rivers = gpd.GeoDataFrame(
        {"width": [10.0], "depth": [2.0]}, geometry=[shapely.LineString([(X0, y), (X0 + N * 10.0, y)])], crs=CRS
    )
    b = gpd.GeoDataFrame(
        {"id": ["riverside"], "base": [9.7], "height": [9.0], "source": "gis"},
        geometry=[shapely.box(X0 + 100, Y0 - 150, X0 + 130, Y0 - 125)],  # its wall on the river's cells
        crs=CRS,
    )
    tw = Twin(CRS, Affine(10.0, 0, X0, 0, -10.0, Y0), terrain, buildings=b, rivers=rivers)
    cfg = config(lead_times=["6min"], members=1)
    cfg["base"] = {**cfg["base"], "initial": {"river_fill": 0.5}}
    (tmp_path / "obs").mkdir()
    with pytest.warns(UserWarning), Forecaster(tw, cfg, tmp_path / "obs", tmp_path / "fc") as fc:
        res = fc.cycle(1780300800.0)
    assert "NoRadar" in [w["code"] for w in res.record["warnings"]]
    # before: warned at once (expected 0 min), 0.3 m of the river's fill above its base
    assert res.record["features"]["buildings"]["warned"] == 0
    assert not len(pd.read_csv(res.folder / "warnings.csv"))
