"""GIS ingest: rasters and vectors in any CRS and format onto the twin, with what was assumed reported.

Reference values come from pyproj and rasterio computed here independently of cimtwin's code path
(a hand-written bilinear interpolation of the source array, pyproj transformers, geodesic areas).
"""

from __future__ import annotations

import json
import re
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import rasterio.crs
import rasterio.features
import shapely
from affine import Affine
from click.testing import CliRunner
from rasterio.windows import Window

from conftest import CRS
from ingest._notes import IngestWarning
from ingest.crs import auto_crs
from ingest.raster import read_dem, read_onto
from ingest.vector import read_vector
from twin import _io
from twin.cli.app import main
from twin.errors import CRSError, InputDataError
from twin.model.build import from_files

PYSHEDS = "dem/pysheds_dem_hydrosheds_3s.tif"  # EPSG:4326, 3 arc-seconds, near Fort Worth, Texas
METHOW = "dem/vectors/landlab_methow"
SOQUE = "dem/vectors/landlab_soque/Soque_Links.shp"  # NHD flowlines in EPSG:4269
X0, Y0 = 423000.0, 2560000.0  # a corner in Guangzhou, EPSG:4547


def _plane(
    path,
    *,
    crs=CRS,
    x0=X0,
    y0=Y0,
    cell=5.0,
    shape=(40, 50),
    slope=(0.1, 0.05),
    base=2.0,
    nodata=-9999.0,
    holes=(),
    unit=None,
    dtype=np.float32,
):
    """A tilted-plane DEM z = base + sx*col + sy*row, with ``holes`` (row slice, col slice) as nodata."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    z = (base + slope[0] * cols + slope[1] * rows).astype(dtype)
    for hole in holes:
        z[hole] = nodata
    _io.write_geotiff(path, z, Affine(cell, 0, x0, 0, -cell, y0), pyproj.CRS(crs), nodata=nodata)
    if unit:
        with rasterio.open(path, "r+") as dst:
            dst.set_band_unit(1, unit)
    return path


def _bilinear(src: np.ndarray, transform: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear interpolation of ``src`` at points (its CRS), and the steepest step between neighbouring
    cells in the 4 x 4 cells around each point (what a shift of under a cell can reach)."""
    fc, fr = ~transform @ (x, y)
    fc, fr = fc - 0.5, fr - 0.5  # from cell edges to cell centres
    c0, r0 = np.floor(fc).astype(int), np.floor(fr).astype(int)
    dc, dr = fc - c0, fr - r0
    a, b, c, d = src[r0, c0], src[r0, c0 + 1], src[r0 + 1, c0], src[r0 + 1, c0 + 1]
    z = a * (1 - dc) * (1 - dr) + b * dc * (1 - dr) + c * (1 - dc) * dr + d * dc * dr
    pad = np.pad(src, 2, mode="edge")
    block = np.stack([pad[r0 + 2 + i, c0 + 2 + j] for i in range(-1, 3) for j in range(-1, 3)]).reshape(4, 4, -1)
    slope = np.abs(np.diff(block, axis=0)).max(axis=(0, 1)) + np.abs(np.diff(block, axis=1)).max(axis=(0, 1))
    return z, slope


@pytest.fixture(scope="module")
def texas(shared_data):
    """The Texas DEM warped to its auto-chosen UTM zone at 60 m (finer than its ~85 m cells)."""
    return read_dem(shared_data / PYSHEDS, crs="auto", resolution=60.0)


# ------------------------------------------------------------------------------------------- rasters


def _off_bilinear(r, path, stride=(29, 31)):
    """|DEM on the grid - hand-made bilinear of the source| and 1/8 of the source's local step, at many cells."""
    with rasterio.open(path) as src:
        raw, src_t, src_crs = src.read(1).astype(float), src.transform, src.crs
    rows, cols = np.meshgrid(
        np.arange(1, r.shape[0] - 1, stride[0]), np.arange(1, r.shape[1] - 1, stride[1]), indexing="ij"
    )
    rows, cols = rows.ravel(), cols.ravel()
    x, y = r.transform @ (cols + 0.5, rows + 0.5)
    lon, lat = pyproj.Transformer.from_crs(r.crs, src_crs, always_xy=True).transform(x, y)
    expected, slope = _bilinear(raw, src_t, np.asarray(lon), np.asarray(lat))
    # GDAL's warper maps pixels through an approximate transformer accurate to 1/8 source cell (gdalwarp's
    # default -et 0.125, the sum of both axes' errors), so a value may be off by 1/8 cell times the
    # steepest step between neighbouring source cells around the point
    return np.abs(r.array[rows, cols] - expected), 0.125 * slope + 1e-6


def test_reprojected_dem_matches_independent_bilinear(texas, shared_data):
    assert texas.crs == pyproj.CRS("EPSG:32614")  # Fort Worth lies in UTM zone 14N (102W-96W)
    off, tol = _off_bilinear(texas, shared_data / PYSHEDS)
    assert len(off) > 150 and np.all(off <= tol)


def test_lon_lat_corners_are_trimmed_not_filled(texas, shared_data):
    trim = texas.report["edges_trimmed"]
    assert np.isfinite(texas.array).all()
    # the rotation between the lon/lat box and UTM at 97.3W (0.9 degrees of grid convergence) costs a
    # few cells along each edge, a few percent of the data
    assert 0 < trim["valid_share_dropped"] < 0.05
    assert all(1 <= trim[k] <= 15 for k in ("rows_top", "rows_bottom", "cols_left", "cols_right"))
    # every corner of the trimmed grid lies inside the source's lon/lat box
    with rasterio.open(shared_data / PYSHEDS) as src:
        b = src.bounds
    ny, nx = texas.shape
    xs, ys = texas.transform @ (np.array([0, nx, 0, nx]), np.array([0, 0, ny, ny]))
    lon, lat = pyproj.Transformer.from_crs(texas.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    assert np.all((lon > b.left) & (lon < b.right) & (lat > b.bottom) & (lat < b.top))


def test_tiles_mosaic_equals_the_whole(shared_data, tmp_path):
    whole = shared_data / PYSHEDS
    tiles = []
    with rasterio.open(whole) as src:
        profile = src.profile
        h, w = src.height // 2, src.width // 2
        for i, win in enumerate(
            [
                Window(0, 0, w, h),
                Window(w, 0, src.width - w, h),
                Window(0, h, w, src.height - h),
                Window(w, h, src.width - w, src.height - h),
            ]
        ):
            profile.update(
                width=win.width,
                height=win.height,
                transform=src.window_transform(win),
                tiled=False,
                blockxsize=None,
                blockysize=None,
            )
            profile.pop("blockxsize"), profile.pop("blockysize")
            tiles.append(tmp_path / f"tile{i}.tif")
            with rasterio.open(tiles[-1], "w", **profile) as dst:
                dst.write(src.read(1, window=win), 1)
    ref = read_dem(whole, crs="EPSG:32614", resolution=90.0)
    mosaic = read_dem(tiles[::-1], crs="EPSG:32614", resolution=90.0)
    assert mosaic.transform == ref.transform and mosaic.shape == ref.shape
    # the VRT mosaic hands GDAL's warper the same pixels as the whole file: equal to float32 rounding
    np.testing.assert_allclose(mosaic.array, ref.array, rtol=0, atol=1e-4)
    assert mosaic.report["files"] == 4
    # and from the command line, --dem repeated
    res = CliRunner().invoke(
        main,
        ["ingest", *sum((["--dem", str(t)] for t in tiles), []), "--resolution", "300", "--out", str(tmp_path / "tw")],
    )
    assert res.exit_code == 0, res.output
    assert "EPSG:32614" in res.output and "files = 4" in res.output


def test_bounds_read_a_window_of_the_same_grid(texas, shared_data):
    t = texas.transform
    box = (t.c + 60 * 40, t.f - 60 * 90, t.c + 60 * 140, t.f - 60 * 30)  # cell edges of the full grid
    part = read_dem(shared_data / PYSHEDS, crs="EPSG:32614", resolution=60.0, bounds=box)
    assert part.shape == (60, 100) and part.transform == Affine(60.0, 0, box[0], 0, -60.0, box[3])
    off, tol = _off_bilinear(part, shared_data / PYSHEDS, stride=(3, 3))
    assert np.all(off <= tol)
    # the same cells as the full grid's, up to the approximate transformer's error in each (2 x 1/8 step)
    assert np.abs(part.array - texas.array[30:90, 40:140]).max() < 1.0
    with pytest.raises(InputDataError, match="do not overlap the DEM"):
        read_dem(shared_data / PYSHEDS, crs="EPSG:32614", bounds=(0, 0, 1000, 1000))


def test_small_holes_filled_large_holes_refused(tmp_path):
    dem = _plane(
        tmp_path / "dem.tif", shape=(120, 120), holes=[(slice(10, 13), slice(20, 23)), (slice(50, 110), slice(40, 100))]
    )
    with pytest.raises(InputDataError, match=r"larger than 2500 cells.*3600 cells.*max_hole_cells"):
        read_dem(dem)
    r = read_dem(dem, max_hole_cells=4000)
    rows, cols = np.mgrid[0:120, 0:120]
    # the harmonic fill reproduces a plane (to the solver's round-off; the DEM is float32, 1e-6 m)
    np.testing.assert_allclose(r.array, 2.0 + 0.1 * cols + 0.05 * rows, atol=1e-4)
    assert r.report["holes_filled"]["holes"] == 2 and r.report["holes_filled"]["cells"] == 9 + 3600
    small = read_dem(_plane(tmp_path / "small.tif", holes=[(slice(10, 13), slice(20, 23))]))
    assert small.report["holes_filled"] == {
        "holes": 1,
        "cells": 9,
        "largest_cells": 9,
        "method": "harmonic interpolation of the hole's rim",
    }


def _undeclared(path, z, dtype, transform=Affine(5.0, 0, X0, 0, -5.0, Y0)):
    """``z`` written by rasterio as ``dtype`` with no nodata tag (its gaps marked by a value only)."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=z.shape[1],
        height=z.shape[0],
        count=1,
        dtype=dtype,
        crs=CRS,
        transform=transform,
    ) as dst:
        dst.write(z.astype(dtype), 1)
        assert dst.nodata is None
    return path


@pytest.mark.parametrize(
    "marker,dtype,z_unit",
    [(-9999.0, "float32", None), (-32768.0, "int16", "dm"), (float(np.finfo(np.float32).min), "float32", None)],
)
def test_undeclared_nodata_markers_taken_as_nodata(tmp_path, marker, dtype, z_unit):
    """Cells of -9999 / -32768 / float32-min in a DEM declaring no nodata are no data, as if declared: the
    grid equals the same file's with the value declared (edges trimmed, holes filled), and it is reported."""
    rows, cols = np.mgrid[0:40, 0:50]
    z = np.round((2.0 + 0.1 * cols + 0.05 * rows) * 10) / (10 if z_unit is None else 1)  # dm: whole numbers
    z[10:13, 20:23] = marker  # a hole inside
    z[:, :3] = marker  # a no-data edge
    _undeclared(tmp_path / "bare.tif", z, dtype)
    _io.write_geotiff(
        tmp_path / "tagged.tif", z.astype(dtype), Affine(5.0, 0, X0, 0, -5.0, Y0), pyproj.CRS(CRS), nodata=marker
    )
    for resolution in (None, 3.0):  # read as is, and resampled
        with pytest.warns(IngestWarning, match=re.escape(f"declares no nodata value, but 129 cells hold {marker:.9g}")):
            got = read_dem(tmp_path / "bare.tif", resolution=resolution, z_unit=z_unit)
        want = read_dem(tmp_path / "tagged.tif", resolution=resolution, z_unit=z_unit)
        np.testing.assert_array_equal(got.array, want.array)
        assert got.transform == want.transform and np.nanmin(got.array) > 1.9
        assert got.report["undeclared_nodata"] == {"bare.tif": f"{marker:.9g} in 129 cells"}
        assert got.report["holes_filled"]["cells"] == want.report["holes_filled"]["cells"] > 0
    # the twin and its report, through the CLI
    res = CliRunner().invoke(
        main,
        ["ingest", "--dem", str(tmp_path / "bare.tif"), "--out", str(tmp_path / "tw")]
        + (["--z-unit", z_unit] if z_unit else []),
    )
    assert res.exit_code == 0, res.output
    assert f"undeclared_nodata = bare.tif {marker:.9g} in 129 cells" in res.output
    assert f"gdal_edit.py -a_nodata {marker:.9g} bare.tif" in res.output
    assert "Terrain  2.30 .." in res.output or "Terrain  2.00 .." in res.output


def test_undeclared_marker_in_one_tile_and_outside_bounds(shared_data, tmp_path):
    """A real DEM (HydroSHEDS, int16) in two tiles, the eastern one with -32768 voids and its nodata tag
    removed: the mosaic equals the one with the tag kept. Markers outside bounds= are not scanned."""
    with rasterio.open(shared_data / PYSHEDS) as src:
        profile, z = src.profile, src.read(1)
    assert src.nodata == -32768 and (z != -32768).all()
    w = z.shape[1] // 2
    z[50:53, w + 40 : w + 44] = -32768  # a void inside the eastern tile
    z[:, -5:] = -32768  # and along its eastern edge
    paths = {}
    for name, tag in (("bare", None), ("tagged", -32768)):
        for i, cols in enumerate((slice(0, w), slice(w, None))):
            part = z[:, cols]
            p = tmp_path / f"{name}{i}.tif"
            profile.update(
                width=part.shape[1],
                transform=src.transform @ Affine.translation(cols.start, 0),
                nodata=-32768 if i == 0 else tag,
            )
            with rasterio.open(p, "w", **profile) as dst:
                dst.write(part, 1)
            paths.setdefault(name, []).append(p)
    with pytest.warns(IngestWarning, match="bare1.tif declares no nodata value, but 1,807 cells hold -32768"):
        got = read_dem(paths["bare"], crs="EPSG:32614")
    want = read_dem(paths["tagged"], crs="EPSG:32614")
    np.testing.assert_array_equal(got.array, want.array)
    assert got.report["undeclared_nodata"] == {"bare1.tif": "-32768 in 1807 cells"}
    assert np.nanmin(got.array) > 100
    # bounds= over the western tile only: the eastern file is scanned only where the grid lies (nothing)
    left, top = want.transform.c, want.transform.f
    box = (
        left + 500,
        top - 0.8 * want.shape[0] * want.cell_size,
        left + 0.3 * want.shape[1] * want.cell_size,
        top - 500,
    )
    west = read_dem(paths["bare"], crs="EPSG:32614", bounds=box)
    assert "undeclared_nodata" not in west.report and np.nanmin(west.array) > 100


def test_undeclared_marker_only_where_it_cannot_be_terrain(tmp_path):
    """-9999 is a marker only as an outlier: in a DEM in centimetres of a coast from -150 m to +50 m,
    -9999 cm (-99.99 m) is ground among its neighbours; around 10 to 50 m it is a marker."""
    rows, cols = np.mgrid[0:40, 0:50]
    coast = -15000.0 + 400.0 * cols + 0.0 * rows  # -150 .. +46 m in cm
    coast[20, 20] = -9999.0
    r = read_dem(_undeclared(tmp_path / "coast.tif", coast, "float32"), z_unit="cm")
    assert "undeclared_nodata" not in r.report and r.array[20, 20] == pytest.approx(-99.99)
    city = 1000.0 + 80.0 * cols  # 10 .. 49 m in cm
    city[20, 20] = -9999.0
    with pytest.warns(IngestWarning, match="-99.99 m; the rest of it spans 10.00 .. 49.20 m"):
        r = read_dem(_undeclared(tmp_path / "city.tif", city, "float32"), z_unit="cm")
    assert r.report["undeclared_nodata"] == {"city.tif": "-9999 in 1 cells"}
    assert r.array[20, 20] == pytest.approx(26.0)  # filled from its rim


def test_impossible_elevations_and_too_many_markers_refused(tmp_path):
    rows, cols = np.mgrid[0:40, 0:50]
    z = 2.0 + 0.1 * cols + 0.05 * rows
    # a marker cimtwin does not know: refused, naming the value, where, and the fix
    odd = z.copy()
    odd[5:7, 5:7] = -8888.0
    with pytest.raises(
        InputDataError, match=r"4 cells with elevations no terrain has.*-8888 m.*gdal_edit.py -a_nodata"
    ):
        read_dem(_undeclared(tmp_path / "odd.tif", odd, "float32"))
    # a file declaring -32768 but also holding -9999: the undeclared value is refused, not a 10 km pit
    mixed = z.copy()
    mixed[5, 5], mixed[30, 30] = -32768.0, -9999.0
    _io.write_geotiff(
        tmp_path / "mixed.tif",
        mixed.astype(np.float32),
        Affine(5.0, 0, X0, 0, -5.0, Y0),
        pyproj.CRS(CRS),
        nodata=-32768.0,
    )
    with pytest.raises(InputDataError, match=r"1 cells with elevations no terrain has.*-9999 m"):
        read_dem(tmp_path / "mixed.tif")
    # a DEM in feet up to 35,000 ft (10.7 km): the unit must be wrong
    with pytest.raises(InputDataError, match="z_unit"):
        read_dem(_undeclared(tmp_path / "high.tif", z * 3500, "float32"))
    # a marker hole too large to fill: the error says the cells were the undeclared marker
    big = z.copy()
    big[5:35, 5:45] = -9999.0
    with pytest.raises(
        InputDataError,
        match=r"larger than 1000 cells.*1,200 cells of -9999, which big.tif does "
        r"not declare as nodata, were taken as no data",
    ):
        read_dem(_undeclared(tmp_path / "big.tif", big, "float32"), max_hole_cells=1000)
    # all marker: no valid elevations, saying why
    with pytest.raises(InputDataError, match=r"no valid elevations.*2,000 cells of -32768"):
        read_dem(_undeclared(tmp_path / "void.tif", np.full((40, 50), -32768.0), "int16"))


def test_feet_dem_converted_to_metres(tmp_path):
    ft = read_dem(_plane(tmp_path / "ft.tif", unit="ft", base=100.0))
    m = read_dem(_plane(tmp_path / "m.tif", base=100.0))
    np.testing.assert_allclose(ft.array, m.array * 0.3048, rtol=1e-12)
    assert "ft (band unit tag)" in ft.report["z_unit"] and "0.3048" in ft.report["z_unit"]
    assert "metres assumed" in m.report["z_unit"]
    us = read_dem(tmp_path / "m.tif", z_unit="US survey foot")  # an explicit unit overrides
    np.testing.assert_allclose(us.array, m.array * 1200 / 3937, rtol=1e-12)
    with pytest.raises(CRSError, match="z_unit"):
        read_dem(tmp_path / "m.tif", z_unit="furlong")
    # a compound CRS whose vertical part is in feet (UTM 18N + NAVD88 height (ft)): the twin takes the
    # horizontal part, the elevations become metres (GDAL also tags the band "foot" from the vertical CRS)
    navd = read_dem(_plane(tmp_path / "navd.tif", crs="EPSG:32618+8228", x0=500000.0, y0=4500000.0, base=100.0))
    assert navd.crs == pyproj.CRS("EPSG:32618") and "foot" in navd.report["z_unit"]
    np.testing.assert_allclose(navd.array, m.array * 0.3048, rtol=1e-12)
    # a VRT declares only the compound CRS, no band unit: the vertical CRS says feet
    vrt = tmp_path / "navd.vrt"
    vrt.write_text(
        f'<VRTDataset rasterXSize="50" rasterYSize="40"><SRS>{escape(pyproj.CRS("EPSG:32618+8228").to_wkt())}'
        "</SRS><GeoTransform>500000, 5, 0, 4500000, 0, -5</GeoTransform>"
        '<VRTRasterBand dataType="Float32" band="1"><SimpleSource>'
        '<SourceFilename relativeToVRT="1">m.tif</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    from_vrt = read_dem(vrt)
    assert "vertical CRS NAVD88 height (ft)" in from_vrt.report["z_unit"]
    np.testing.assert_allclose(from_vrt.array, m.array * 0.3048, rtol=1e-12)


def test_coarse_dem_warns(tmp_path):
    dem = _plane(tmp_path / "coarse.tif", cell=100.0, shape=(10, 10))
    with pytest.warns(IngestWarning, match="100x the twin's 1 m"):
        r = read_dem(dem, resolution=1.0, bounds=(X0, Y0 - 200, X0 + 200, Y0))
    assert "coarse" in r.report["warnings"]


def test_all_nodata_within_bounds_and_missing_crs(tmp_path):
    dem = _plane(tmp_path / "dem.tif", holes=[(slice(0, 20), slice(None))])  # north half empty
    with pytest.raises(InputDataError, match="no valid elevations"):
        read_dem(dem, bounds=(X0, Y0 - 90, X0 + 100, Y0))
    bare = tmp_path / "bare.tif"
    with rasterio.open(
        bare, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", transform=Affine(5, 0, X0, 0, -5, Y0)
    ) as dst:
        dst.write(np.ones((1, 4, 4), np.float32))
    with pytest.raises(CRSError, match="--dem-crs"):
        from_files(bare)
    assert from_files(bare, layer_crs={"dem": CRS}).crs == pyproj.CRS(CRS)


def test_report_names_source_crs_not_wkt(tmp_path):
    """The ingest report names a CRS with its EPSG code, also when a file spells it as a WKT1 without
    axes (identification alone rejects that) or pairs it with a vertical CRS; WKT only for a custom one."""
    wkt1 = pyproj.CRS(CRS).to_wkt("WKT1_GDAL")
    assert pyproj.CRS.from_wkt(wkt1).to_string().startswith("PROJCS")  # what the report used to print
    compound = pyproj.CRS("EPSG:4547+5737").to_wkt("WKT1_GDAL")
    custom = "+proj=tmerc +lon_0=113.5 +k=1 +x_0=500000 +ellps=GRS80 +units=m +no_defs"
    runner = CliRunner()
    for name, crs, expected in (
        ("wkt1", wkt1, "source_crs = CGCS2000 / 3-degree Gauss-Kruger CM 114E (EPSG:4547)"),
        (
            "compound",
            compound,
            "source_crs = CGCS2000 / 3-degree Gauss-Kruger CM 114E (EPSG:4547) + Yellow Sea 1985 height (EPSG:5737)",
        ),
        ("custom", custom, "source_crs = PROJCRS["),
    ):
        dem = _plane(tmp_path / f"{name}.tif")
        with rasterio.open(dem, "r+") as dst:
            dst.crs = rasterio.crs.CRS.from_wkt(pyproj.CRS(crs).to_wkt("WKT1_GDAL"))
        res = runner.invoke(main, ["ingest", "--dem", str(dem), "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        assert expected in res.output, res.output
        assert (name == "custom") == ("PROJCRS[" in res.output or "PROJCS[" in res.output)
        info = runner.invoke(main, ["info", str(tmp_path / name)]).output
        assert expected in info


def test_auto_crs_choices(shared_data, tmp_path):
    # a lon/lat DEM around Guangzhou: China's national grid, CGCS2000 3-degree Gauss-Kruger CM 114E
    ll = tmp_path / "gz.tif"
    _io.write_geotiff(
        ll,
        np.linspace(0, 10, 60 * 60, dtype=np.float32).reshape(60, 60),
        Affine(1 / 1200, 0, 113.25, 0, -1 / 1200, 23.15),
        pyproj.CRS("EPSG:4326"),
    )
    tw = from_files(ll)
    assert tw.crs == pyproj.CRS("EPSG:4547") and "China" in tw.meta["ingest_report"]["crs"]["how"]
    # 3 arc-seconds are 85.3 m of longitude and 92.2 m of latitude here; GDAL's default keeps the cell
    # count along the diagonal, and ingest rounds that to 3 significant digits
    assert 85.3 < tw.cell_size < 92.2 and tw.cell_size == round(tw.cell_size, 1)
    # the Texas DEM: UTM 14N
    assert from_files(shared_data / PYSHEDS, resolution=300).crs == pyproj.CRS("EPSG:32614")
    # outside China, even nearby, UTM; a NAD83 source keeps its datum
    assert auto_crs(127.0, 37.5)[0] == pyproj.CRS("EPSG:32652")  # Seoul
    assert auto_crs(105.85, 21.03)[0] == pyproj.CRS("EPSG:32648")  # Hanoi
    assert auto_crs(-97.3, 32.7, datum="EPSG:4269")[0] == pyproj.CRS("EPSG:26914")
    assert auto_crs(116.4, 39.9)[0] == pyproj.CRS("EPSG:4548")  # Beijing, CM 117E


def test_extra_rasters_onto_the_grid(tmp_path):
    dem = _plane(tmp_path / "dem.tif")
    rain = tmp_path / "rain.tif"  # a 25 m float field: bilinear
    _io.write_geotiff(
        rain, np.full((10, 12), 30.0, np.float32), Affine(25, 0, X0 - 25, 0, -25, Y0 + 25), pyproj.CRS(CRS)
    )
    cover = tmp_path / "cover.tif"  # integer classes in lon/lat: nearest, never a blend of codes
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(X0 - 50, Y0 + 50)
    codes = np.tile(np.array([10, 20, 30], np.uint8).repeat(20), (60, 1))
    _io.write_geotiff(cover, codes, Affine(1e-4, 0, lon, 0, -1e-4, lat), pyproj.CRS("EPSG:4326"))
    tw = from_files(dem, rasters={"rain": rain, "cover": cover})
    assert np.allclose(tw.rasters["rain"], 30.0)
    assert set(np.unique(tw.rasters["cover"][np.isfinite(tw.rasters["cover"])])) <= {10.0, 20.0, 30.0}
    rep = tw.meta["ingest_report"]
    assert rep["raster:rain"]["resampling"] == "bilinear" and rep["raster:cover"]["resampling"] == "nearest"
    mode = read_onto(cover, CRS, tw.transform, tw.shape, resampling="mode")
    assert set(np.unique(mode[np.isfinite(mode)])) <= {10.0, 20.0, 30.0}


# ------------------------------------------------------------------------------------------- vectors


def _squares(lons, lats, half_deg=5e-4):
    return [shapely.box(x - half_deg, y - half_deg, x + half_deg, y + half_deg) for x, y in zip(lons, lats)]


def test_lon_lat_footprints_round_trip_and_keep_true_areas(tmp_path):
    lons = np.array([112.6, 113.3, 114.0, 115.2])  # up to 1.2 degrees from CM 114E
    lats = np.array([22.6, 23.1, 23.4, 24.0])
    src = gpd.GeoDataFrame({"id": list("abcd")}, geometry=_squares(lons, lats), crs="EPSG:4326")
    src.to_file(tmp_path / "b.geojson", driver="GeoJSON")
    got = read_vector(tmp_path / "b.geojson", CRS)
    # vertices equal pyproj's own transform (always_xy: lon/lat in, easting/northing out) to a millimetre
    tr = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    for g_src, g in zip(src.geometry, got.geometry):
        x, y = tr.transform(*np.asarray(g_src.exterior.coords).T)
        np.testing.assert_allclose(np.asarray(g.exterior.coords), np.c_[x, y], atol=1e-3)
    # back to lon/lat within a centimetre (1 cm is 9e-8 degrees of latitude)
    back = got.to_crs("EPSG:4326")
    for g_src, g in zip(src.geometry, back.geometry):
        d = np.asarray(g.exterior.coords) - np.asarray(g_src.exterior.coords)
        metres = np.hypot(d[:, 0] * 111_320 * np.cos(np.radians(g_src.centroid.y)), d[:, 1] * 110_574)
        assert metres.max() < 0.01
    # projected area = geodesic area x the projection's areal scale factor at the footprint (Gauss-
    # Kruger is conformal: k^2, growing away from the central meridian); over a 100 m square the factor
    # varies by < 1e-8, so they agree to 1e-6
    geod = pyproj.Geod(ellps="GRS80")
    factors = pyproj.Proj(CRS).get_factors(lons, lats)
    for g_src, g, k2 in zip(src.geometry, got.geometry, factors.areal_scale):
        true_area = abs(geod.geometry_area_perimeter(g_src)[0])
        assert g.area == pytest.approx(true_area * k2, rel=1e-6)
    assert factors.areal_scale.max() - factors.areal_scale.min() > 1e-4  # the check can tell them apart


def test_nhd_lines_in_nad83_onto_utm(shared_data):
    rep = {}
    got = read_vector(shared_data / SOQUE, "EPSG:26917", kind="line", name="rivers", report=rep)
    src = gpd.read_file(shared_data / SOQUE)
    assert (
        len(got) == len(src) == 317 and rep["reprojected"] == "NAD83 (EPSG:4269) -> NAD83 / UTM zone 17N (EPSG:26917)"
    )
    tr = pyproj.Transformer.from_crs("EPSG:4269", "EPSG:26917", always_xy=True)
    x, y = tr.transform(*np.asarray(src.geometry.iloc[100].coords).T)
    np.testing.assert_allclose(np.asarray(got.geometry.iloc[100].coords), np.c_[x, y], atol=1e-3)
    # NHD's LengthKM is geodesic; the UTM length differs by the scale factor (about 0.9996-0.9997 here)
    ratio = got.geometry.length.sum() / (src["LengthKM"].sum() * 1000)
    assert ratio == pytest.approx(0.9997, abs=5e-4)


def test_methow_network_without_prj_matches_its_sub_basin(shared_data):
    """Methow_Network.shp has no .prj; its coordinates are North America Albers (ESRI:102008), not the
    UTM 10N of MethowSubBasin.shp (which has a .prj): the 29 sub-basin links lie on network links."""
    shp = shared_data / METHOW / "Methow_Network.shp"
    with pytest.raises(CRSError, match=r"layer_crs=\{'rivers'"):
        read_vector(shp, "EPSG:26910", name="rivers")
    net = read_vector(shp, "EPSG:26910", src_crs="ESRI:102008", kind="line")
    sub = read_vector(shared_data / METHOW / "MethowSubBasin.shp", "EPSG:26910", kind="line")
    tree = shapely.STRtree(net.geometry.values)
    gap = [float(tree.query_nearest(g, return_distance=True)[1][0]) for g in sub.geometry]
    assert max(gap) < 0.01  # metres


def test_layer_crs_on_the_command_line(shared_data, tmp_path):
    """Rivers without a CRS on a twin in UTM 10N around the Methow valley, given with --layer-crs."""
    shp = shared_data / METHOW / "Methow_Network.shp"
    dem = _plane(
        tmp_path / "methow.tif",
        crs="EPSG:26910",
        x0=660000.0,
        y0=5435000.0,
        cell=1000.0,
        shape=(115, 75),
        base=500.0,
        slope=(2.0, 5.0),
    )
    runner = CliRunner()
    args = ["ingest", "--dem", str(dem), "--rivers", str(shp), "--out", str(tmp_path / "tw")]
    res = runner.invoke(main, args)
    assert res.exit_code == 2 and "--layer-crs rivers=" in res.output
    res = runner.invoke(main, [*args, "--layer-crs", "river=ESRI:102008"])  # a typo is caught
    assert res.exit_code == 2 and "river" in res.output and "spelling" in res.output
    res = runner.invoke(main, [*args, "--layer-crs", "rivers=ESRI:102008"])
    assert res.exit_code == 0, res.output
    assert (
        "rivers       720 features" in res.output
        and "reprojected = North_America_Albers_Equal_Area_Conic (ESRI:102008) -> NAD83 / UTM zone 10N (EPSG:26910)"
        in res.output
    )
    info = json.loads(runner.invoke(main, ["info", str(tmp_path / "tw"), "--json"]).output)
    assert info["ingest_report"]["rivers"]["width_defaulted"] == {"features": 720, "value_m": 10.0}


def test_bow_tie_repaired_and_counted(tmp_path):
    dem = _plane(tmp_path / "dem.tif")
    bow = shapely.Polygon([(X0 + 20, Y0 - 60), (X0 + 60, Y0 - 20), (X0 + 60, Y0 - 60), (X0 + 20, Y0 - 20)])
    ok = shapely.box(X0 + 100, Y0 - 60, X0 + 120, Y0 - 40)
    gpd.GeoDataFrame({"id": [None, "k"], "height": [10.0, 12.0]}, geometry=[bow, ok], crs=CRS).to_file(
        tmp_path / "b.gpkg"
    )
    tw = from_files(dem, buildings=tmp_path / "b.gpkg")
    rep = tw.meta["ingest_report"]["buildings"]
    assert rep["invalid_repaired"] == 1 and rep["kept"] == 2
    assert list(tw.buildings["id"]) == ["B000000", "k"] and rep["ids_generated"] == 1
    fixed = tw.buildings.geometry.iloc[0]
    # the bow-tie becomes its two triangles, 400 m2 each; the self-crossing ring had a signed area of 0
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon" and fixed.area == pytest.approx(800.0)
    assert bow.area == pytest.approx(0.0)


def test_formats_read_alike(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"id": ["a", "b"], "height": [10.0, 20.0]}, geometry=_squares([113.30, 113.31], [23.10, 23.11]), crs="EPSG:4326"
    )
    paths = [
        tmp_path / "b.gpkg",
        tmp_path / "b.geojson",
        tmp_path / "b.shp",
        tmp_path / "b.fgb",
        tmp_path / "b.parquet",
    ]
    for p in paths[:-1]:
        gdf.to_file(p)
    gdf.to_parquet(paths[-1])
    ref = read_vector(paths[0], CRS)
    for p in paths[1:]:
        got = read_vector(p, CRS).sort_values("id")  # FlatGeobuf's spatial index reorders features
        assert list(got["id"]) == ["a", "b"] and got.crs == pyproj.CRS(CRS)
        # (a Shapefile stores rings clockwise: compare normalised vertex orders)
        assert all(a.normalize().equals_exact(b.normalize(), 1e-6) for a, b in zip(got.geometry, ref.geometry)), (
            p.suffix
        )


def test_geometry_types_checked_per_layer(tmp_path):
    dem = _plane(tmp_path / "dem.tif")
    pts = gpd.GeoDataFrame({"id": ["p"]}, geometry=[shapely.Point(X0 + 10, Y0 - 10)], crs=CRS)
    pts.to_file(tmp_path / "pts.gpkg")
    with pytest.raises(InputDataError, match=r"\['Point'\] geometries; buildings needs polygons"):
        from_files(dem, buildings=tmp_path / "pts.gpkg")
    poly = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - 50, X0 + 50, Y0)], crs=CRS)
    poly.to_file(tmp_path / "poly.gpkg")
    with pytest.raises(InputDataError, match="rivers needs lines"):
        from_files(dem, rivers=tmp_path / "poly.gpkg")


def test_multipart_lines_merged_or_split_and_edges_clipped(tmp_path):
    dem = _plane(tmp_path / "dem.tif")  # 250 m x 200 m
    joined = shapely.MultiLineString(
        [[(X0 + 10, Y0 - 100), (X0 + 100, Y0 - 100)], [(X0 + 100, Y0 - 100), (X0 + 200, Y0 - 120)]]
    )
    # two parts that do not meet, the second running 50 m past the east edge
    apart = shapely.MultiLineString(
        [[(X0 + 10, Y0 - 30), (X0 + 50, Y0 - 30)], [(X0 + 80, Y0 - 30), (X0 + 300, Y0 - 30)]]
    )
    crossing = shapely.LineString([(X0 + 100, Y0 - 150), (X0 + 400, Y0 - 150)])  # runs 150 m past the east edge
    gpd.GeoDataFrame(
        {"name": ["j", "a", "c"], "width": [5.0, 0.0, 3.0]}, geometry=[joined, apart, crossing], crs=CRS
    ).to_file(tmp_path / "r.gpkg")
    tw = from_files(dem, rivers=tmp_path / "r.gpkg")
    r = tw.rivers
    rep = tw.meta["ingest_report"]["rivers"]
    assert rep["multipart_merged"] == 1 and rep["multipart_split"] == 1 and rep["clipped_at_edge"] == 2
    assert list(r["name"]) == ["j", "a", "a", "c"] and set(r.geom_type) == {"LineString"}
    # each part is cut on its own (the parts of a split line share their source's row)
    np.testing.assert_allclose(r.geometry.length, [joined.length, 40.0, 170.0, 150.0])
    assert list(r["width"]) == [5.0, 10.0, 10.0, 3.0]  # a width of 0 is no width: the default, reported
    assert rep["width_defaulted"] == {"features": 2, "value_m": 10.0}


def test_outside_and_empty_layers(tmp_path, shared_data):
    dem = _plane(tmp_path / "dem.tif")
    far = gpd.GeoDataFrame({"height": [5.0]}, geometry=[shapely.box(X0 + 9000, Y0, X0 + 9010, Y0 + 10)], crs=CRS)
    far.to_file(tmp_path / "far.gpkg")
    with pytest.raises(InputDataError, match=r"None of the 1 features .* within the twin's extent.*CRS right"):
        from_files(dem, buildings=tmp_path / "far.gpkg")
    # real data: NHD lines of Georgia are nowhere near a twin in Guangzhou
    with pytest.raises(InputDataError, match="None of the 317 features"):
        from_files(dem, rivers=shared_data / SOQUE)
    empty = gpd.GeoDataFrame({"height": pd.Series([], dtype=float)}, geometry=[], crs=CRS)
    empty.to_file(tmp_path / "empty.gpkg", layer="buildings")
    with pytest.raises(InputDataError, match="holds no features"):
        from_files(dem, buildings=tmp_path / "empty.gpkg")


def test_building_heights_from_column_storeys_landuse_and_default(tmp_path):
    dem = _plane(tmp_path / "dem.tif")
    boxes = [shapely.box(X0 + 10 + 30 * i, Y0 - 40, X0 + 30 + 30 * i, Y0 - 20) for i in range(7)]
    gpd.GeoDataFrame(
        {"HGT": [33.0, "40 ft", "12 m", None, None, None, -1.0], "FLOORS": [None, None, None, 5, None, None, None]},
        geometry=boxes,
        crs=CRS,
    ).to_file(tmp_path / "b.gpkg", layer="buildings")
    # land use: residential under the first five footprints (x < X0 + 160), an unknown class east of it
    gpd.GeoDataFrame(
        {"LU": ["Residential", "orchard"]},
        geometry=[shapely.box(X0, Y0 - 200, X0 + 160, Y0), shapely.box(X0 + 160, Y0 - 200, X0 + 250, Y0)],
        crs=CRS,
    ).to_file(tmp_path / "b.gpkg", layer="landuse")
    tw = from_files(
        dem,
        buildings=tmp_path / "b.gpkg",
        landuse=tmp_path / "b.gpkg",
        height_column="HGT",
        storeys_column="FLOORS",
        storey_height=3.5,
        landuse_column="LU",
        base_stat="mean",
    )
    b = tw.buildings
    np.testing.assert_allclose(b["height"], [33.0, 40 * 0.3048, 12.0, 17.5, 18.0, 9.0, 9.0])
    assert list(b["height_source"]) == ["height", "height", "height", "storeys", "landuse", "default", "default"]
    rep = tw.meta["ingest_report"]
    assert rep["buildings"]["heights_in_feet_converted"] == 1 and rep["buildings"]["heights_unusable"] == 1
    assert rep["buildings"]["heights_from_landuse"] == {"residential": 1}
    assert rep["buildings"]["heights_defaulted"] == 2 and rep["buildings"]["default_height_m"] == 9.0
    assert rep["landuse"]["unknown_classes"] == {"orchard": 1}
    # mean base: the footprint's cell centres, columns 2.5..5.5 -> 2 + 0.1 * 4 (+ rows 4..7 at 0.05)
    assert b["base"].iloc[0] == pytest.approx(2.0 + 0.1 * 3.5 + 0.05 * 5.5, abs=1e-6)
    # feet as plain numbers when declared
    tw_ft = from_files(dem, buildings=tmp_path / "b.gpkg", height_column="HGT", height_unit="ft")
    assert tw_ft.buildings["height"].iloc[0] == pytest.approx(33 * 0.3048)


def test_absurd_building_values_fall_back_and_are_reported(tmp_path):
    """Heights of inf, 1e9 and the text "1e9", storeys of 1e9 and a base of inf are no building's: each is
    dropped for the next source (storeys, then the default; the DEM for the base), warned about naming
    the layer, column and feature ids, and reported; the twin holds no infinite value."""
    dem = _plane(tmp_path / "dem.tif")
    boxes = [shapely.box(X0 + 10 + 30 * i, Y0 - 60, X0 + 30 + 30 * i, Y0 - 40) for i in range(5)]
    gpd.GeoDataFrame(
        {
            "id": ["ok", "inf", "big", "st", "base"],
            "height": [12.0, np.inf, 1e9, None, 10.0],
            "storeys": [None, 4, None, 1e9, None],
            "base": [None, None, None, None, np.inf],
        },
        geometry=boxes,
        crs=CRS,
    ).to_file(tmp_path / "num.gpkg")
    runner = CliRunner()
    res = runner.invoke(
        main, ["ingest", "--dem", str(dem), "--buildings", str(tmp_path / "num.gpkg"), "--out", str(tmp_path / "tw")]
    )
    assert res.exit_code == 0, res.output
    assert "heights_implausible = 2 in column 'height': inf = inf, big = 1e+09" in res.output
    assert "storeys_implausible = 1 in column 'storeys': st = 1e+09" in res.output
    assert f"Building layer {tmp_path / 'num.gpkg'}: 2 height(s) in column 'height' are no building's" in res.output
    with pytest.warns(IngestWarning, match="base elevation.*base = inf.*the DEM under the footprint"):
        tw = from_files(dem, buildings=tmp_path / "num.gpkg")
    b = tw.buildings.set_index("id")
    assert b["height"].to_dict() == {"ok": 12.0, "inf": 12.0, "big": 9.0, "st": 9.0, "base": 10.0}
    assert b["height_source"].to_dict() == {
        "ok": "height",
        "inf": "storeys",
        "big": "default",
        "st": "default",
        "base": "height",
    }
    assert np.isfinite(b["base"]).all() and np.isfinite(tw.terrain).all()
    # heights as texts: "1e9" is read as a number and dropped like the others
    gpd.GeoDataFrame({"id": ["a", "b", "c"], "height": ["12 m", "1e9", "40 ft"]}, geometry=boxes[:3], crs=CRS).to_file(
        tmp_path / "text.gpkg"
    )
    with pytest.warns(IngestWarning, match=r"1 height\(s\) in column 'height'.*b = 1e\+09"):
        tw = from_files(dem, buildings=tmp_path / "text.gpkg")
    assert tw.buildings["height"].tolist() == pytest.approx([12.0, 9.0, 40 * 0.3048])
    # most heights too large: the unit is wrong, and ingest says so rather than defaulting them all
    gpd.GeoDataFrame({"id": ["a", "b", "c"], "height": [12000.0, 15000.0, 9.0]}, geometry=boxes[:3], crs=CRS).to_file(
        tmp_path / "mm.gpkg"
    )
    with pytest.raises(InputDataError, match=r"2 of 3 heights in column 'height' are more than 1000 m.*height_unit="):
        from_files(dem, buildings=tmp_path / "mm.gpkg")
    assert from_files(dem, buildings=tmp_path / "mm.gpkg", height_unit="mm").buildings[
        "height"
    ].tolist() == pytest.approx([12.0, 15.0, 0.009])
    # but one building alone at inf or 1e9 is a typo, not a unit: it takes the default
    for value in (np.inf, 1e9):
        gpd.GeoDataFrame({"id": ["solo"], "height": [value]}, geometry=boxes[:1], crs=CRS).to_file(
            tmp_path / "solo.gpkg"
        )
        with pytest.warns(IngestWarning, match="solo = "):
            assert from_files(dem, buildings=tmp_path / "solo.gpkg").buildings["height"].tolist() == [9.0]


def test_absurd_river_and_lake_values_refused(tmp_path):
    """A river's width and depth and a lake's level decide where water goes: infinite or absurd ones are
    refused naming the layer, column and feature (blank ones still take the reported defaults)."""
    dem = _plane(tmp_path / "dem.tif")
    line = shapely.LineString([(X0, Y0 - 100), (X0 + 250, Y0 - 100)])
    for width, depth, bad in (
        ([8.0, np.inf], [1.0, 2.0], r"'width'.*r2 = inf.*0 < width <= 50,000 m"),
        ([8.0, 1e9], [1.0, 2.0], r"'width'.*r2 = 1e\+09"),
        ([8.0, 9.0], ["1", "1e9"], r"'depth'.*r2 = 1e\+09.*default 2 m"),
    ):
        gpd.GeoDataFrame({"id": ["r1", "r2"], "width": width, "depth": depth}, geometry=[line, line], crs=CRS).to_file(
            tmp_path / "r.gpkg"
        )
        with pytest.raises(InputDataError, match=f"River layer .*r.gpkg: column {bad}"):
            from_files(dem, rivers=tmp_path / "r.gpkg")
    pond = shapely.box(X0 + 50, Y0 - 150, X0 + 100, Y0 - 100)
    for level in (np.inf, 1e9, -9999.0):
        gpd.GeoDataFrame({"name": ["pond"], "level": [level]}, geometry=[pond], crs=CRS).to_file(tmp_path / "l.gpkg")
        with pytest.raises(InputDataError, match=r"Lake layer .*l.gpkg: column 'level'.*pond = .*-500 .. 9000 m"):
            from_files(dem, lakes=tmp_path / "l.gpkg")


def test_user_landuse_table_overrides(tmp_path):
    dem = _plane(tmp_path / "dem.tif")
    gpd.GeoDataFrame(
        {"fclass": ["park", "orchard"]},
        geometry=[shapely.box(X0, Y0 - 200, X0 + 125, Y0), shapely.box(X0 + 125, Y0 - 200, X0 + 250, Y0)],
        crs=CRS,
    ).to_file(tmp_path / "lu.gpkg")
    (tmp_path / "table.csv").write_text("class,manning\npark,0.05\norchard,0.06\n")
    tw = from_files(dem, landuse=tmp_path / "lu.gpkg", landuse_table=tmp_path / "table.csv")
    assert "unknown_classes" not in tw.meta["ingest_report"]["landuse"]
    assert tw.meta["ingest_report"]["landuse"]["class_column"] == "fclass"
    np.testing.assert_allclose(np.unique(tw.manning), [0.05, 0.06])


def test_ascii_grid_vrt_and_truncated_files(tmp_path):
    plane = _plane(tmp_path / "plane.tif")
    with rasterio.open(plane) as src:
        profile = dict(
            driver="AAIGrid",
            width=src.width,
            height=src.height,
            count=1,
            dtype="float32",
            transform=src.transform,
            nodata=-9999.0,
        )
        with rasterio.open(tmp_path / "dem.asc", "w", **profile) as dst:  # an ASCII grid has no CRS of its own
            dst.write(src.read(1), 1)
    with pytest.raises(CRSError, match="--dem-crs"):
        read_dem(tmp_path / "dem.asc")
    asc = read_dem(tmp_path / "dem.asc", src_crs=CRS)
    ref = read_dem(plane)
    assert asc.transform == ref.transform
    np.testing.assert_allclose(asc.array, ref.array, atol=1e-4)  # the ASCII grid writes 6-7 digits
    vrt = tmp_path / "dem.vrt"
    vrt.write_text(
        f'<VRTDataset rasterXSize="50" rasterYSize="40"><SRS>{CRS}</SRS>'
        f"<GeoTransform>{X0}, 5, 0, {Y0}, 0, -5</GeoTransform>"
        '<VRTRasterBand dataType="Float32" band="1"><SimpleSource>'
        f'<SourceFilename relativeToVRT="1">plane.tif</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    np.testing.assert_array_equal(read_dem(vrt).array, ref.array)
    big = _plane(tmp_path / "big.tif", shape=(600, 600))
    data = big.read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputDataError, match="cut.tif"):
        read_dem(tmp_path / "cut.tif", resolution=7.0)


def test_notch_from_the_top_is_trimmed_holes_inside_are_not(tmp_path):
    # no-data running down from the top edge between data on both sides (as the curved top parallel of
    # a wide lon/lat box leaves at the central meridian) is trimmed; a hole inside is filled
    dem = _plane(
        tmp_path / "notch.tif", shape=(60, 80), holes=[(slice(0, 9), slice(35, 45)), (slice(30, 33), slice(20, 24))]
    )
    r = read_dem(dem)
    trim = r.report["edges_trimmed"]
    assert (trim["rows_top"], trim["rows_bottom"], trim["cols_left"], trim["cols_right"]) == (9, 0, 0, 0)
    assert r.report["holes_filled"]["cells"] == 12 and np.isfinite(r.array).all()
    assert r.transform.f == Y0 - 9 * 5.0


def test_zonal_cells_match_gdal_rasterize():
    """The vectorised scanline picks the same cells as GDAL's rasterizer (cell centre inside)."""
    from ingest._zonal import cell_runs
    from ingest.vector import zonal_stat

    rng = np.random.default_rng(1)
    t = Affine(1.0, 0, 0, 0, -1.0, 60)
    shape = (60, 70)
    polys = []
    for i in range(120):
        cx, cy, n = rng.uniform(-5, 75), rng.uniform(-5, 65), rng.integers(3, 12)
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        p = shapely.Polygon(
            np.c_[cx + rng.uniform(0.3, 9, n) * np.cos(ang), cy + rng.uniform(0.3, 9, n) * np.sin(ang)]
        ).buffer(0)
        if i % 5 == 0:
            p = p.difference(shapely.Point(cx, cy).buffer(2))  # holes
        if i % 7 == 0:
            p = shapely.union(p, shapely.box(cx + 12, cy, cx + 15, cy + 4))  # multi-part
        polys.append(p)
    geoms = np.array(polys, dtype=object)
    for i, g in enumerate(geoms):
        ref = (
            rasterio.features.rasterize([(g, 1)], out_shape=shape, transform=t, fill=0, dtype="uint8")
            if not g.is_empty
            else np.zeros(shape, np.uint8)
        )
        mine = np.zeros(shape, np.uint8)
        for _, rows, c0, c1 in cell_runs(geoms[i : i + 1], t, shape):
            for r, a, b in zip(rows, c0, c1):
                mine[r, a : b + 1] = 1
        assert (ref == mine).all(), i
    grid = rng.random(shape)
    got = zonal_stat(geoms, grid, t, stat="mean")
    checked = 0
    for k in (i for i, g in enumerate(geoms) if g.geom_type == "MultiPolygon" or len(g.interiors)):
        cells = rasterio.features.rasterize([(geoms[k], 1)], out_shape=shape, transform=t, fill=0, dtype="uint8") == 1
        if cells.any():
            assert got[k] == pytest.approx(grid[cells].mean(), rel=1e-12)
            checked += 1
    assert checked >= 10


def test_cli_options_reach_from_files(tmp_path):
    dem = _plane(tmp_path / "dem.tif")
    cover = tmp_path / "cover.tif"
    _io.write_geotiff(
        cover, np.tile(np.array([1, 2], np.uint8).repeat(25), (40, 1)), Affine(5, 0, X0, 0, -5, Y0), pyproj.CRS(CRS)
    )
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "ingest",
            "--dem",
            str(dem),
            "--bounds",
            f"{X0 + 50},{Y0 - 100},{X0 + 150},{Y0}",
            "--z-unit",
            "ft",
            "--raster",
            f"lc={cover}:mode",
            "--raster",
            f"rain={cover}",
            "--out",
            str(tmp_path / "tw"),
        ],
    )
    assert res.exit_code == 0, res.output
    info = json.loads(runner.invoke(main, ["info", str(tmp_path / "tw"), "--json"]).output)
    assert info["grid"]["rows"] == 20 and info["grid"]["cols"] == 20 and info["grid"]["bounds"][0] == X0 + 50
    rep = info["ingest_report"]
    assert "ft (given)" in rep["dem"]["z_unit"] and info["terrain"]["min"] == pytest.approx(
        (2.0 + 1.0) * 0.3048, rel=1e-6
    )
    assert rep["raster:lc"]["resampling"] == "mode" and rep["raster:rain"]["resampling"] == "nearest"
    res = runner.invoke(main, ["ingest", "--dem", str(dem), "--bounds", "1,2,3", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "XMIN,YMIN,XMAX,YMAX" in res.output
