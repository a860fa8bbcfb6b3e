"""A flood result's files open well in GIS: Cloud Optimized GeoTIFFs with nodata where never wet, a
colour table on the hazard classes, QGIS styles beside the rasters, CF time units in depth.nc."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from conftest import flood_scenario, plane_twin
from twin.sims.flood.gis import HAZARD_COLOURS, NODATA, write_cog
from twin.sims.flood.run import FloodResult, run

RASTERS = ("max_depth", "max_speed", "arrival_time", "duration", "hazard", "hazard_class")


def _ifds_before_data(path) -> bool:
    """The COG layout as GDAL's validator checks it: every IFD (image and overviews) before any tile,
    and the smallest overview's tiles first, the full image's last."""
    levels = [{}] + [{"overview_level": k} for k in range(len(rasterio.open(path).overviews(1)))]
    ifds, firsts = [], []
    for kw in levels:
        with rasterio.open(path, **kw) as src:
            ifds.append(int(src.get_tag_item("IFD_OFFSET", "TIFF", bidx=1)))
            firsts.append(int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1)))
    return max(ifds) < min(firsts) and firsts == sorted(firsts, reverse=True)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("gis") / "res"
    sc = flood_scenario(start="2026-06-01T08:00:00")
    return run(plane_twin(), sc, out=out, progress=False, scene=False), out


def test_every_raster_is_a_cog_with_nodata_where_never_wet_and_a_style(result):
    r, out = result
    never = np.isnan(r.arrival_time)
    assert never.any() and (~never).any()  # the run leaves dry and wet cells: both are checked
    for name in RASTERS:
        with rasterio.open(out / f"{name}.tif") as src:
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG", name
            assert _ifds_before_data(out / f"{name}.tif"), name
            assert src.profile["tiled"] and src.block_shapes[0] == (256, 256), name
            want = NODATA[name]
            assert np.isnan(src.nodata) if np.isnan(want) else src.nodata == want, name
            masked = src.read(1, masked=True)
            np.testing.assert_array_equal(np.ma.getmaskarray(masked), never, err_msg=name)
        style = ET.parse(out / f"{name}.qml").getroot()
        renderer = style.find("./pipe/rasterrenderer")
        assert renderer is not None and renderer.get("type") == (
            "paletted" if name == "hazard_class" else "singlebandpseudocolor"
        )
    with rasterio.open(out / "hazard_class.tif") as src:
        assert src.colorinterp[0] == rasterio.enums.ColorInterp.palette
        cmap = src.colormap(1)
        for k, (rgb, _) in HAZARD_COLOURS.items():
            assert cmap[k][:3] == rgb
    # wet cells keep their values; loading reads 0 where never wet, as compare and the scenes expect
    back = FloodResult.load(out)
    np.testing.assert_array_equal(back.max_depth[~never], r.max_depth[~never])
    assert (back.max_depth[never] == 0).all() and (back.hazard_class[never] == 0).all()
    assert np.isnan(back.arrival_time[never]).all()


def test_depth_nc_counts_seconds_since_the_scenario_start(result):
    r, out = result
    assert json.loads((out / "summary.json").read_text())["start"] == "2026-06-01T08:00:00"
    with xr.open_dataset(out / "depth.nc", decode_times=False) as ds:
        assert ds["time"].attrs["units"] == "seconds since 2026-06-01 08:00:00"
        np.testing.assert_array_equal(ds["time"].values, [0, 300, 600, 900])
    with xr.open_dataset(out / "depth.nc") as ds:  # what QGIS and Panoply decode
        assert str(ds["time"].values[1])[:19] == "2026-06-01T08:05:00"


def test_start_defaults_to_when_the_run_starts(tmp_path):
    r = run(
        plane_twin(), flood_scenario(duration=60, output_interval=60), out=tmp_path / "r", progress=False, scene=False
    )
    start = r.summary["start"]
    assert len(start) == 19 and start[4] == "-" and start[10] == "T"
    with xr.open_dataset(tmp_path / "r" / "depth.nc", decode_times=False) as ds:
        assert ds["time"].attrs["units"] == f"seconds since {start.replace('T', ' ')}"


def test_large_rasters_get_overviews(tmp_path):
    from twin import _io

    # the layout check can fail: a tiled GeoTIFF with overviews added afterwards is no COG
    plain = _io.write_geotiff(
        tmp_path / "plain.tif", np.ones((700, 900), np.float32), Affine(2, 0, 0, 0, -2, 0), "EPSG:4547"
    )
    with rasterio.open(plain, "r+") as dst:
        dst.build_overviews([2, 4])
    assert not _ifds_before_data(plain)
    arr = np.random.default_rng(0).random((700, 900)).astype(np.float32)
    path = write_cog(tmp_path / "big.tif", arr, Affine(2, 0, 0, 0, -2, 0), "EPSG:4547", 0.0)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.overviews(1) == [2, 4]
    assert _ifds_before_data(path)
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(1), arr)
