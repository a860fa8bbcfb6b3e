"""Rivers from real OpenStreetMap exports: an OSMnx waterway graph (node-link JSON) is read like a
street graph, and reaches that run underground (``tunnel = culvert``) are not made open channels."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner

import twin
from ingest._notes import IngestWarning
from twin.cli.app import main
from twin.model.twin import Twin

CRS = "EPSG:32631"
X0, Y0, DX = 379000.0, 4707200.0, 5.0


def _dem(path, ny=20, nx=30):
    z = np.full((1, ny, nx), 1040.0, np.float32)
    z[0, 9:11] = 1038.5  # a channel 10 m wide under y = Y0 - 50
    with rasterio.open(
        path, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32", crs=CRS,
        transform=Affine(DX, 0, X0, 0, -DX, Y0),
    ) as dst:  # fmt: skip
        dst.write(z)
    return path


def test_real_osmnx_river_graph_is_read_and_its_culvert_left_out(shared_data, tmp_path):
    city = shared_data / "city" / "andorra_la_vella"
    out = tmp_path / "tw"
    args = ["ingest", "--dem", str(city / "elevation.tif"), "--rivers", str(city / "river.json"), "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--resolution", "10"])
    assert res.exit_code == 0, res.output  # was: "river.json cannot be read ... not a supported file format"
    tw = Twin.load(out)
    report = tw.meta["ingest_report"]["rivers"]
    assert tw.rivers.crs == tw.crs and report["directions_merged"] == 13
    # the one-way reach of the Valira del Nord under the town (OSM way 208585097, tunnel=yes, 78 m) is gone;
    # the merged reaches that include culverts stay, named in a warning
    assert report["culverts_dropped"] == {"features": 1, "length_m": pytest.approx(77.9, abs=0.2), "column": "tunnel"}
    assert 208585097 not in set(tw.rivers["osmid"].map(lambda v: v if isinstance(v, int) else -1))
    assert "Valira d'Orient" in report["partly_culverted"]["names"]
    assert "run underground" in res.output and "initial.river_fill = 0" in res.output


def test_culverted_reach_is_no_channel_and_the_building_over_it_stays_solid(tmp_path):
    dem = _dem(tmp_path / "dem.tif")
    y = Y0 - 50.0
    rivers = gpd.GeoDataFrame(
        {"name": ["open", "under the square", "merged"], "tunnel": [None, "culvert", "culvert"],
         "osmid": [1, 2, "[3, 4]"]},
        geometry=[shapely.LineString([(X0, y), (X0 + 50, y)]), shapely.LineString([(X0 + 50, y), (X0 + 100, y)]),
                  shapely.LineString([(X0 + 100, y), (X0 + 150, y)])],
        crs=CRS,
    )  # fmt: skip
    rivers.to_file(tmp_path / "rivers.geojson")
    house = gpd.GeoDataFrame({"height": [10.0]}, geometry=[shapely.box(X0 + 60, y - 15, X0 + 90, y + 15)], crs=CRS)
    house.to_file(tmp_path / "house.geojson")
    with pytest.warns(IngestWarning, match="run underground"):
        tw = twin.from_files(dem, rivers=tmp_path / "rivers.geojson", buildings=tmp_path / "house.geojson")
    assert tw.rivers["name"].tolist() == ["open", "merged"]
    row = int((Y0 - y) // DX)
    assert tw.river_mask[row, 2] == 1 and tw.river_mask[row, 15] == 0  # the culvert's cells are not river
    assert tw.building_mask[row, 15] == 1
    from twin.sims.flood.forcing import setup
    from twin.sims.flood.scenario import Scenario

    fs = setup(tw, Scenario.from_dict({"duration": 60, "initial": {"river_fill": 0.5}}))
    assert fs.grid.blocked[row, 15] == 1  # before: the river mask opened the house over the culvert
    assert fs.h0[row, 2] > 0.5 and fs.h0[row, 15] == 0 and fs.h0[row, 12] == 0  # no river water on the square
    assert json.loads(json.dumps(tw.meta["ingest_report"]["rivers"]["culverts_dropped"]))["features"] == 1


def test_a_river_whose_dem_rises_against_its_flow_is_named():
    from twin.model.river_profile import adverse_rise

    assert adverse_rise(np.array([10.0, 9.0, 8.0, 9.5, 7.0])) == pytest.approx(1.5)
    assert adverse_rise(np.array([7.0, 9.5, 8.0, 9.0, 10.0])) == pytest.approx(1.5)  # either vertex order
    assert adverse_rise(np.array([10.0, 9.0, 8.0])) == 0.0


def test_real_gran_valira_rises_8_m_against_its_flow_on_the_coarse_dem(shared_data, tmp_path):
    city = shared_data / "city" / "andorra_la_vella"
    with pytest.warns(IngestWarning, match="rise against their flow"):
        tw = twin.from_files(city / "elevation.tif", rivers=city / "river.json", resolution=5)
    rises = tw.meta["ingest_report"]["rivers"]["bed_rises_m"]
    # a 30 min, 10 -> 80 m3/s wave down the Valira d'Orient stayed in these pits: 7 m3 of 112,500 left the west edge
    assert rises["riu Valira (row 2)"] > 5.0 and len(rises) == 3
