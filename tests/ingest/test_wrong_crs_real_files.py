"""Real files given the wrong CRS: a DEM in longitude/latitude declared in metres (a real export whose
tag was lost), footprints without .prj given another CRS."""

from __future__ import annotations

import geopandas as gpd
import rasterio
from click.testing import CliRunner
from rasterio.warp import Resampling, calculate_default_transform, reproject

from twin.cli.app import main


def test_degrees_given_a_metric_crs_are_named_as_degrees(shared_data, tmp_path):
    dem = shared_data / "city" / "andorra_la_vella" / "elevation.tif"
    out = tmp_path / "dem_deg_nocrs.tif"
    with rasterio.open(dem) as src:
        transform, w, h = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height, *src.bounds)
        profile = {k: v for k, v in src.profile.items() if k != "crs"}
        profile.update(transform=transform, width=w, height=h)
        with rasterio.open(out, "w", **profile) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), dst_crs="EPSG:4326", resampling=Resampling.bilinear)
    args = ["ingest", "--dem", str(out), "--dem-crs", "EPSG:32631", "--resolution", "5", "--out", str(tmp_path / "t")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    # before: "holds no valid elevations within the grid (every cell is nodata)"
    assert "most likely in degrees" in res.output and "EPSG:4326" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_footprints_given_the_wrong_crs_show_where_they_landed(shared_data, tmp_path):
    city = shared_data / "city" / "andorra_la_vella"
    gdf = gpd.read_parquet(city / "building.geoparquet")[["height", "geometry"]]
    gdf.to_file(tmp_path / "b.shp")
    (tmp_path / "b.prj").unlink()
    base = ["ingest", "--dem", str(city / "elevation.tif"), "--buildings", str(tmp_path / "b.shp")]
    res = CliRunner().invoke(main, [*base, "--layer-crs", "buildings=EPSG:2062", "--out", str(tmp_path / "t")])
    assert res.exit_code == 2
    # before: the file's own numbers (378952.0, 4706889.9, ...) labelled "in the twin's CRS"
    assert "they cover (126" in res.output and "378952" not in res.output
    res = CliRunner().invoke(main, [*base, "--layer-crs", "buildings=EPSG:4326", "--out", str(tmp_path / "t")])
    assert res.exit_code == 2 and "read as WGS 84 (EPSG:4326)." in res.output and "378952" not in res.output
