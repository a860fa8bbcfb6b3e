"""Foundation ingest: DEMs and vector layers into the twin's CRS, with clear errors on bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
import shapely.affinity
from affine import Affine
from click.testing import CliRunner

from conftest import CRS
from ingest.raster import read_dem, read_raster
from ingest.vector import read_vector, zonal_stat
from twin import _io
from twin.cli.app import main
from twin.errors import CRSError, InputDataError
from twin.model.build import from_files
from twin.model.twin import Twin


def _tiny_city(root, *, crs=CRS):
    """A 40 x 50 DEM at 5 m rising 0.1 m per column, and one GeoPackage with all four layers."""
    x0, y0 = 423000.0, 2560000.0
    transform = Affine(5.0, 0, x0, 0, -5.0, y0)
    dem = np.tile(np.arange(50) * 0.1, (40, 1)) + 2.0
    _io.write_geotiff(root / "dem.tif", dem.astype(np.float32), transform, pyproj.CRS(crs), nodata=-9999.0)
    gpkg = root / "city.gpkg"
    b = gpd.GeoDataFrame(
        {"id": ["a", "b", "c"], "height": [12.0, None, None], "storeys": [4, 5, None]},
        geometry=[
            shapely.box(x0 + 20, y0 - 40, x0 + 40, y0 - 20),
            shapely.box(x0 + 100, y0 - 60, x0 + 120, y0 - 40),
            shapely.box(x0 + 5000, y0 - 60, x0 + 5020, y0 - 40),
        ],  # outside: dropped
        crs=crs,
    )
    b.to_file(gpkg, layer="buildings")
    gpd.GeoDataFrame(
        {"width": [8.0]}, geometry=[shapely.LineString([(x0, y0 - 150), (x0 + 250, y0 - 150)])], crs=crs
    ).to_file(gpkg, layer="rivers")
    gpd.GeoDataFrame(
        {"name": ["pond"]}, geometry=[shapely.box(x0 + 150, y0 - 100, x0 + 200, y0 - 60)], crs=crs
    ).to_file(gpkg, layer="lakes")
    gpd.GeoDataFrame(
        {"class": ["Residential", "park"]},
        geometry=[shapely.box(x0, y0 - 200, x0 + 125, y0), shapely.box(x0 + 125, y0 - 200, x0 + 250, y0)],
        crs=crs,
    ).to_file(gpkg, layer="landuse")
    return root / "dem.tif", gpkg


def test_from_files_fills_what_is_missing_and_reports_it(tmp_path):
    dem, gpkg = _tiny_city(tmp_path)
    tw = from_files(dem, buildings=gpkg, rivers=gpkg, lakes=gpkg, landuse=f"{gpkg}::landuse")
    assert tw.crs == pyproj.CRS(CRS) and tw.shape == (40, 50) and tw.cell_size == 5.0
    b = tw.buildings
    assert list(b["id"]) == ["a", "b"]  # c lies outside the DEM
    np.testing.assert_allclose(b["height"], [12.0, 15.0])  # 5 storeys x 3 m
    assert list(b["height_source"]) == ["height", "storeys"]
    # base = minimum DEM under the footprint: cell centres x0+22.5.. -> columns 4..7 -> 2.4 m
    assert b["base"].iloc[0] == pytest.approx(2.4, abs=1e-6)
    assert set(b["source"]) == {"gis"}
    assert tw.rivers["depth"].iloc[0] == 2.0  # default bank-full depth, reported
    lvl = tw.lakes["level"].iloc[0]
    assert 2.0 + 0.1 * 29 <= lvl <= 2.0 + 0.1 * 31  # lowest shore at x0+150 (column 30), within one cell
    rep = tw.meta["ingest_report"]
    assert rep["buildings"]["outside_extent_dropped"] == 1
    assert rep["buildings"]["heights_from_storeys"] == 1
    assert rep["rivers"]["depth_defaulted"] == {"features": 1, "value_m": 2.0}
    assert rep["lakes"]["level_from_shore"] == 1
    assert tw.landuse["class"].tolist() == ["residential", "park"]


def test_cli_ingest_and_info(tmp_path):
    dem, gpkg = _tiny_city(tmp_path)
    runner = CliRunner()
    res = runner.invoke(
        main,
        ["ingest", "--dem", str(dem), "--buildings", str(gpkg), "--rivers", str(gpkg), "--out", str(tmp_path / "tw")],
    )
    assert res.exit_code == 0, res.output
    assert "EPSG:4547" in res.output and "buildings      2 features" in res.output
    res = runner.invoke(main, ["info", str(tmp_path / "tw"), "--json"])
    assert res.exit_code == 0
    import json

    info = json.loads(res.output)
    assert info["grid"]["rows"] == 40 and info["layers"]["rivers"]["features"] == 1
    # a geographic target CRS is a clear error with exit code 2, not a traceback
    res = runner.invoke(main, ["ingest", "--dem", str(dem), "--crs", "EPSG:4326", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "projected CRS in metres" in res.output


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 50)
    with pytest.raises(InputDataError, match="broken.tif"):
        read_raster(bad)
    with pytest.raises(InputDataError, match="does not exist"):
        read_dem(tmp_path / "nope.tif")
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a geopackage")
    with pytest.raises(InputDataError, match="junk.gpkg"):
        read_vector(junk, CRS)


def test_all_nodata_dem_and_dem_with_holes(tmp_path):
    t = Affine(5.0, 0, 423000, 0, -5.0, 2560000)
    _io.write_geotiff(tmp_path / "void.tif", np.full((5, 5), -9999, np.float32), t, pyproj.CRS(CRS), nodata=-9999)
    with pytest.raises(InputDataError, match="no valid elevations"):
        read_dem(tmp_path / "void.tif")
    holes = np.ones((5, 5), np.float32)
    holes[2, 2] = -9999
    _io.write_geotiff(tmp_path / "holes.tif", holes, t, pyproj.CRS(CRS), nodata=-9999)
    # a small hole is interpolated and reported; a hole larger than max_hole_cells is an error
    tw = from_files(tmp_path / "holes.tif")
    assert tw.terrain[2, 2] == 1.0 and tw.meta["ingest_report"]["dem"]["holes_filled"]["cells"] == 1
    with pytest.raises(InputDataError, match="larger than 0 cells"):
        from_files(tmp_path / "holes.tif", max_hole_cells=0)


def test_zonal_stat_small_polygons_take_their_cell():
    grid = np.arange(16.0).reshape(4, 4)
    t = Affine(1, 0, 0, 0, -1, 4)
    polys = [shapely.box(0, 0, 4, 4), shapely.box(2.1, 2.1, 2.3, 2.3)]  # the second holds no cell centre
    np.testing.assert_array_equal(zonal_stat(polys, grid, t), [0.0, grid[1, 2]])
    np.testing.assert_array_equal(zonal_stat(polys, grid, t, stat="mean"), [7.5, grid[1, 2]])


def test_kiosk_footprint_alone_gets_a_base(tmp_path):
    # a 0.6 x 1 m kiosk crossing the row of cell centres at y0-22.5 between two centres (x0+22.5, x0+27.5):
    # it holds no cell centre, yet its crossing pair made reduce_cells index an empty array (issue #17)
    dem, _ = _tiny_city(tmp_path)
    x0, y0 = 423000.0, 2560000.0
    kiosk = gpd.GeoDataFrame(
        {"id": ["k1"], "height": [2.5]}, geometry=[shapely.box(x0 + 24.0, y0 - 23.0, x0 + 24.6, y0 - 22.0)], crs=CRS
    )
    kiosk.to_file(tmp_path / "kiosk.gpkg", layer="buildings")
    tw = from_files(dem, buildings=tmp_path / "kiosk.gpkg")
    assert tw.buildings["base"].iloc[0] == pytest.approx(tw.terrain[4, 4])  # the cell under it


def test_ifc_house_between_cell_centres_is_placed(shared_data):
    """The IFC path (add_ifc -> bim._base_warnings -> zonal_stat) with a house whose footprint crosses a
    row of cell centres on a 40 m grid but holds none: placed, not an IndexError (issue #17)."""
    ifc = shared_data / "ifc" / "IfcOpenHouse_IFC4.ifc"
    e, n = 423000.0, 2560000.0
    # the house spans x 422995..423005, y 2559999.8..2560005.2 placed at (e, n): put a row of cell
    # centres through it at y = 2560002.5 and the nearest column centres 20 m either side of x = 423000
    t = Affine(40.0, 0, e - 40.0, 0, -40.0, 2560002.5 + 20.0 + 3 * 40.0)
    tw = Twin(CRS, t, np.full((6, 6), 3.0))
    rows, cols = np.mgrid[0:6, 0:6]
    centres = t @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    assert not shapely.contains_xy(shapely.box(422995, 2559999.8, 423005, 2560005.2), *centres).any()
    report = tw.add_ifc([ifc], origin=(e, n, 0.0))
    assert len(tw.buildings) == 1 and np.isfinite(tw.buildings["base"]).all()
    assert isinstance(report.warnings, list)


def test_zonal_stat_random_small_polygons_never_fail():
    """Small polygons of any shape at random offsets on random grids: each gets a value of a cell it
    touches (the minimum over the cells whose centres it holds, when it holds any), never a traceback."""
    rng = np.random.default_rng(17)
    for trial in range(40):
        cell = float(rng.choice([0.5, 1.0, 2.0, 5.0, 30.0]))
        ny, nx = (int(v) for v in rng.integers(3, 12, size=2))
        t = Affine(cell, 0, float(rng.uniform(-1e3, 1e3)), 0, -cell, float(rng.uniform(-1e3, 1e3)))
        grid = rng.normal(size=(ny, nx))
        polys = []
        for _ in range(200):
            # a rectangle (a kiosk is 0.1 to 2 cells across) rotated by any angle, or a triangle
            cx, cy = t @ (rng.uniform(1, nx - 1), rng.uniform(1, ny - 1))
            w, h = rng.uniform(0.02, 2.0, size=2) * cell
            if rng.random() < 0.7:
                shape = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                polys.append(shapely.affinity.rotate(shape, float(rng.uniform(0, 180))))
            else:
                pts = np.c_[cx + rng.uniform(-w, w, 3), cy + rng.uniform(-h, h, 3)]
                polys.append(shapely.Polygon(pts).buffer(0) or shapely.box(cx, cy, cx + w, cy + h))
        polys = [p if not p.is_empty else shapely.box(0, 0, 1e-3, 1e-3) for p in polys]
        for stat in ("min", "mean"):
            values = zonal_stat(polys, grid, t, stat=stat)
            assert np.isfinite(values).all(), (trial, stat)
        # the cells each polygon touches, and those whose centres it holds
        rows, cols = np.mgrid[0:ny, 0:nx]
        x0s, y0s = t @ (cols.ravel(), rows.ravel())
        boxes = shapely.box(x0s, y0s - cell, x0s + cell, y0s)
        centres = shapely.points(x0s + cell / 2, y0s - cell / 2)
        values = zonal_stat(polys, grid, t, stat="min")
        for p, v in zip(polys, values):
            assert zonal_stat([p], grid, t)[0] == v  # alone (one IFC building) as in a batch
            touched = grid.ravel()[shapely.intersects(boxes, p)]
            inside = grid.ravel()[shapely.contains(p, centres)]
            if inside.size:
                assert v == inside.min()
            elif touched.size:
                assert v in touched


# ------------------------------------------------------------------ real data (../shared/data)


def test_dem_without_crs_asks_for_one(shared_data):
    path = shared_data / "dem" / "taudem_MED_01_01_10m.tif"
    with pytest.raises(CRSError, match="never guessed"):
        read_dem(path)
    r = read_dem(path, src_crs="EPSG:26912")  # the caller says what it is
    assert r.shape == (456, 656) and r.crs == pyproj.CRS("EPSG:26912")


def test_geographic_dem_reprojected_to_utm(shared_data):
    path = shared_data / "dem" / "pysheds_dem_hydrosheds_3s.tif"
    with pytest.raises(CRSError, match="geographic"):
        read_dem(path)  # its own CRS is EPSG:4326: not usable as the twin's
    r = read_dem(path, crs="EPSG:32614", resolution=90.0)
    assert r.cell_size == 90.0 and r.crs == pyproj.CRS("EPSG:32614")
    valid = np.isfinite(r.array)
    assert valid.mean() > 0.6  # the rotated footprint of a lon/lat box inside its UTM bounding box
    with rasterio.open(path) as src:
        raw = src.read(1, masked=True)
    assert np.nanmin(r.array) >= raw.min() - 1 and np.nanmax(r.array) <= raw.max() + 1  # bilinear stays in range
    # the value at the grid centre matches the source sampled at the same point (within the source's
    # local relief over one 90 m cell, a few metres on this terrain)
    row, col = np.array(r.shape) // 2
    x, y = r.transform @ (col + 0.5, row + 0.5)
    lon, lat = pyproj.Transformer.from_crs("EPSG:32614", "EPSG:4326", always_xy=True).transform(x, y)
    with rasterio.open(path) as src:
        expected = next(src.sample([(lon, lat)]))[0]
    assert r.array[row, col] == pytest.approx(float(expected), abs=5.0)


def test_shapefile_without_prj_asks_for_crs(shared_data):
    shp = shared_data / "dem" / "vectors" / "landlab_methow" / "Methow_Network.shp"
    with pytest.raises(CRSError, match="never guessed"):
        read_vector(shp, "EPSG:32610")
    gdf = read_vector(shp, "EPSG:32610", src_crs="EPSG:26910")
    assert len(gdf) == 720 and gdf.crs == pyproj.CRS("EPSG:32610")
    # NAD83 and WGS84 UTM 10N differ by about a metre in this realisation-free pyproj transform
    src = gpd.read_file(shp)
    d = np.hypot(*(np.array(gdf.geometry.iloc[0].coords[0]) - np.array(src.geometry.iloc[0].coords[0])))
    assert d < 2.0


def test_cli_ingest_with_ifc_models(tmp_path, shared_data):
    from twin import sample

    city = sample.city(tmp_path / "city", size_m=600, cell=4)
    runner = CliRunner()
    args = ["ingest", "--dem", str(city.dem), "--buildings", f"{city.layers}::buildings"]
    res = runner.invoke(main, [*args, *sum((["--ifc", str(p)] for p in city.ifc), []), "--out", str(tmp_path / "tw")])
    assert res.exit_code == 0, res.output
    assert "replaces GIS footprint" in res.output and "ifc: 2" in res.output
    tw = Twin.load(tmp_path / "tw")
    placed = {b["file"]: b for b in json.loads(city.placements.read_text())["buildings"]}
    ifc = tw.buildings[tw.buildings["source"] == "ifc"]
    assert len(ifc) == 2 and set(ifc["file"]) == set(placed)
    # a model without georeferencing is refused with the options that fix it, then placed where told
    house = shared_data / "ifc" / "IfcOpenHouse_IFC4.ifc"
    res = runner.invoke(main, [*args, "--ifc", str(house), "--out", str(tmp_path / "tw2")])
    assert res.exit_code == 2 and "--ifc-origin" in res.output
    x, y = 423300.0, 2558450.0
    res = runner.invoke(
        main, [*args, "--ifc", str(house), "--ifc-origin", f"{x},{y},5", "--out", str(tmp_path / "tw2")]
    )
    assert res.exit_code == 0, res.output
    house_row = Twin.load(tmp_path / "tw2").buildings.query("source == 'ifc'").iloc[0]
    assert house_row.geometry.distance(shapely.Point(x, y)) < 15.0  # the house stands at the origin given
