"""A DEM in longitude/latitude that the user declares in metres (a real export whose tag was lost)."""

from __future__ import annotations

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
