"""The initial river fill stays inside the channel the DEM shows: never above the lowest bank, so a
river the DEM does not resolve (a coarse DEM, a walled channel) puts no water on the streets beside it."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from click.testing import CliRunner
from rasterio.transform import rowcol

from twin.cli.app import main
from twin.model.twin import Twin
from twin.sims.flood.forcing import setup
from twin.sims.flood.roads import THRESHOLDS_M
from twin.sims.flood.scenario import Scenario

CRS = "EPSG:32631"
X0, Y0, DX = 379000.0, 4707200.0, 5.0
FILL = Scenario.from_dict({"duration": 60, "initial": {"river_fill": 0.5}})


def test_a_river_the_dem_does_not_show_starts_empty():
    # a plane sloping across the river line: no channel in the ground
    ny, nx = 20, 30
    y = Y0 - (np.arange(ny) + 0.5) * DX
    terrain = np.tile((1040.0 + 0.05 * (y - y.min()))[:, None], (1, nx))
    line = shapely.LineString([(X0, Y0 - 50), (X0 + nx * DX, Y0 - 50)])
    tw = Twin(
        CRS,
        Affine(DX, 0, X0, 0, -DX, Y0),
        terrain,
        rivers=gpd.GeoDataFrame({"width": [10.0], "depth": [2.0]}, geometry=[line], crs=CRS),
    )
    h0 = setup(tw, FILL).h0
    # before: 1 m (half the default 2 m depth) over the river's lowest cell and up to 0.75 m on the slope
    assert h0.max() == 0.0


def test_a_channel_the_dem_shows_fills_to_below_its_banks():
    ny, nx = 20, 30
    terrain = np.full((ny, nx), 1040.0)
    terrain[9:11, :] = 1038.5  # a 10 m wide channel 1.5 m deep
    line = shapely.LineString([(X0, Y0 - 50), (X0 + nx * DX, Y0 - 50)])
    tw = Twin(
        CRS,
        Affine(DX, 0, X0, 0, -DX, Y0),
        terrain,
        rivers=gpd.GeoDataFrame({"width": [10.0], "depth": [2.0]}, geometry=[line], crs=CRS),
    )
    h0 = setup(tw, FILL).h0
    np.testing.assert_allclose(h0[9:11], 1.0)  # bed + 0.5 x 2 m, 0.5 m below the banks
    assert h0[:9].max() == 0.0 and h0[11:].max() == 0.0


def test_andorra_streets_are_dry_at_the_start(shared_data, tmp_path):
    city = shared_data / "city" / "andorra_la_vella"
    out = tmp_path / "tw"
    args = ["ingest", "--dem", str(city / "elevation.tif"), "--rivers", str(city / "river.json")]
    res = CliRunner().invoke(
        main, [*args, "--roads", str(city / "street.json"), "--resolution", "10", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    tw = Twin.load(out)
    h0 = setup(tw, FILL).h0
    roads = tw.roads[~tw.roads["bridge"]]
    pts = shapely.line_interpolate_point(np.asarray(roads.geometry.values), 0.5, normalized=True)
    r, c = rowcol(tw.transform, shapely.get_x(pts), shapely.get_y(pts))
    r, c = np.asarray(r), np.asarray(c)
    inside = (r >= 0) & (c >= 0) & (r < tw.shape[0]) & (c < tw.shape[1])
    depth = h0[r[inside], c[inside]]
    # before: 1.0 m on the river's cells, riverside paths and the Passeig del Valira among them
    assert (depth > min(THRESHOLDS_M.values())).sum() == 0
