"""The built-in sample city: files, determinism, geography and the IFC placements."""

from __future__ import annotations

import json
import math
import tomllib

import geopandas as gpd
import ifcopenshell
import ifcopenshell.util.geolocation as geolocation
import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.features
import rasterio.transform
import shapely
from scipy import ndimage

from twin import sample
from twin.errors import InputDataError

SIZE, CELL = 600.0, 4.0
LAYERS = ("buildings", "rivers", "lakes", "landuse")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return sample.city(tmp_path_factory.mktemp("city") / "a", seed=0, size_m=SIZE, cell=CELL)


@pytest.fixture(scope="module")
def dem(small):
    with rasterio.open(small.dem) as src:
        return src.read(1), src.transform


@pytest.fixture(scope="module")
def layers(small):
    return {name: gpd.read_file(small.layers, layer=name) for name in LAYERS}


def _sample_dem(dem, points: np.ndarray) -> np.ndarray:
    z, transform = dem
    row, col = rasterio.transform.rowcol(transform, points[:, 0], points[:, 1])
    return z[np.clip(row, 0, z.shape[0] - 1), np.clip(col, 0, z.shape[1] - 1)]


def _along(line: shapely.LineString, step: float) -> np.ndarray:
    return shapely.get_coordinates(line.interpolate(np.arange(0.0, line.length, step)))


# --- files, CRS, determinism -------------------------------------------------------------------------


def test_files_exist_with_the_twin_crs(small, layers):
    assert small.crs == "EPSG:4547"
    assert small.bounds == (423000.0, 2558000.0, 423000.0 + SIZE, 2558000.0 + SIZE)
    for path in (small.dem, small.layers, small.scenario, small.placements, *small.ifc):
        assert path.is_file(), path
    assert len(small.ifc) >= 2
    target = pyproj.CRS("EPSG:4547")
    with rasterio.open(small.dem) as src:
        assert pyproj.CRS(src.crs.to_wkt()).equals(target)
        assert tuple(src.bounds) == small.bounds
        assert src.res == (CELL, CELL)
        assert src.dtypes[0] == "float32" and src.nodata == -9999.0
        assert src.compression is not None and src.compression.value.lower() == "deflate"
    for name, frame in layers.items():
        assert frame.crs.equals(target), name
    for path in small.ifc:
        model = ifcopenshell.open(str(path))
        assert model.schema == "IFC4"
        assert model.by_type("IfcProjectedCRS")[0].Name == "EPSG:4547"


def test_same_seed_same_bytes_other_seed_other_city(small, tmp_path):
    again = sample.city(tmp_path / "again", seed=0, size_m=SIZE, cell=CELL)
    assert again.dem.read_bytes() == small.dem.read_bytes()
    assert again.layers.read_bytes() == small.layers.read_bytes()
    assert again.scenario.read_text() == small.scenario.read_text()
    assert again.placements.read_text() == small.placements.read_text()
    assert again.water_scenario.read_text() == small.water_scenario.read_text()
    assert (again.root / "sewer.inp").read_bytes() == (small.root / "sewer.inp").read_bytes()
    assert (again.root / "water_flows.csv").read_bytes() == (small.root / "water_flows.csv").read_bytes()
    assert [p.name for p in again.ifc] == [p.name for p in small.ifc]
    for a, b in zip(again.ifc, small.ifc):
        assert a.read_bytes() == b.read_bytes(), a.name
    other = sample.city(tmp_path / "other", seed=1, size_m=SIZE, cell=CELL)
    assert other.dem.read_bytes() != small.dem.read_bytes()
    assert other.layers.read_bytes() != small.layers.read_bytes()
    assert (other.root / "water_flows.csv").read_bytes() != (small.root / "water_flows.csv").read_bytes()


def test_bad_parameters_are_refused_with_a_fix(tmp_path):
    with pytest.raises(InputDataError, match="at least 400"):
        sample.city(tmp_path, size_m=100.0)
    with pytest.raises(InputDataError, match="whole number"):
        sample.city(tmp_path, size_m=600.0, cell=7.0)
    with pytest.raises(InputDataError, match="non-negative integer"):
        sample.city(tmp_path, seed=-1, size_m=SIZE, cell=CELL)
    with pytest.raises(InputDataError, match="ask for fewer"):
        sample.city(tmp_path, size_m=SIZE, cell=CELL, n_buildings=100_000)


def test_default_building_count_on_the_2km_city(tmp_path):
    # A coarse DEM keeps this quick; the street blocks and buildings do not depend on the cell size.
    big = sample.city(tmp_path, seed=0, size_m=2000.0, cell=8.0)
    buildings = gpd.read_file(big.layers, layer="buildings")
    assert len(buildings) >= 2000
    assert buildings["id"].is_unique
    assert (buildings["height"] >= 60).sum() >= 10  # a few towers
    assert 6.0 <= buildings["height"].median() <= 30.0  # mostly 6-30 m
    with rasterio.open(big.dem) as src:
        z = src.read(1)
    assert 40.0 <= z.max() <= 65.0  # hills of 40-60 m in the north
    assert 2.0 <= np.median(z) <= 8.0  # low delta ground


# --- terrain -----------------------------------------------------------------------------------------


def test_dem_is_smooth_delta_ground(dem):
    z, _ = dem
    assert z.shape == (int(SIZE / CELL),) * 2
    assert np.isfinite(z).all() and (z != -9999.0).all()
    assert 2.0 <= np.median(z) <= 8.0
    assert z.min() > -3.0  # the river bed, a few metres below the banks
    gy, gx = np.gradient(z.astype(float), CELL)
    # Steepest ground is a creek bank (2 m over about 4 m); 1.0 (45 degrees) would be a cliff.
    assert np.hypot(gx, gy).max() < 1.0


def test_river_enters_west_leaves_east_and_flows_downhill(small, dem, layers):
    rivers = layers["rivers"]
    assert set(rivers.columns) >= {"name", "width", "depth", "geometry"}
    main = rivers.loc[rivers["width"].idxmax()]
    assert 40.0 <= main.width <= 80.0 and 3.0 <= main.depth <= 5.0
    creek = rivers.loc[rivers["width"].idxmin()]
    assert 10.0 <= creek.width <= 15.0
    xmin, _, xmax, _ = small.bounds
    coords = shapely.get_coordinates(main.geometry)
    assert coords[0, 0] == pytest.approx(xmin) and coords[-1, 0] == pytest.approx(xmax)
    profile = _sample_dem(dem, _along(main.geometry, 2 * CELL))
    # The bed is carved to fall steadily; sampling the nearest cell can step back by at most a cell's
    # worth of that fall (4 m x 0.001), so 1 cm is a safe tolerance.
    assert np.all(np.diff(profile) <= 0.01)
    assert profile[0] - profile[-1] > 0.3


def test_creek_runs_down_from_the_hills_into_the_lake(dem, layers):
    rivers, lake = layers["rivers"], layers["lakes"].geometry.iloc[0]
    creek = rivers.loc[rivers["width"].idxmin()]
    pts = _along(creek.geometry, 2 * CELL)
    first_in = int(np.argmax(shapely.contains_xy(lake, pts[:, 0], pts[:, 1])))
    profile = _sample_dem(dem, pts[:first_in])
    # A 10-14 m creek on 4 m cells: the cell nearest the line can sit 2.8 m off it, on the foot of a
    # bank, up to depth * 0.15 (about 0.3 m) above the bed; a real reverse slope would exceed that.
    assert np.all(np.diff(profile) <= 0.15 * creek.depth)
    assert profile[0] - profile[-1] > 2.0


def test_channel_is_carved_to_the_layer_width_and_depth(dem, layers):
    rivers = layers["rivers"]
    main = rivers.loc[rivers["width"].idxmax()]
    line = main.geometry
    pts = _along(line, 20.0)[2:-2]
    centre = _sample_dem(dem, pts)
    banks = []
    for offset in (main.width / 2 + 2 * CELL, -(main.width / 2 + 2 * CELL)):
        side = shapely.get_coordinates(line.offset_curve(offset))
        side_line = shapely.LineString(side)
        near = shapely.get_coordinates(side_line.interpolate(side_line.project(shapely.points(pts))))
        banks.append(_sample_dem(dem, near))
    depth = np.minimum(*banks) - centre
    # Bank-full depth: the bank is at bed + depth; two cells out the floodplain has risen a little more.
    assert np.median(depth) == pytest.approx(main.depth, abs=0.5)


def test_closed_depressions_hold_rain_in_the_streets(dem, layers):
    z, transform = dem
    roads = layers["landuse"].loc[layers["landuse"]["class"] == "road"]
    street = rasterio.features.rasterize(roads.geometry, out_shape=z.shape, transform=transform).astype(bool)
    radius = int(round(30.0 / CELL))
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = yy**2 + xx**2 <= radius**2
    ring = disk & (yy**2 + xx**2 > (radius - 1) ** 2)
    pit = z == ndimage.minimum_filter(z, footprint=disk)
    rim = ndimage.minimum_filter(z, footprint=ring)
    # A pit whose every path out crosses a ring 0.2 m above it is a closed depression of that depth.
    closed = pit & (rim - z > 0.2) & street
    assert ndimage.label(closed)[1] >= 3


def test_lake_sits_in_its_basin_and_joins_the_creek(dem, layers):
    lakes, rivers = layers["lakes"], layers["rivers"]
    assert len(lakes) == 1 and set(lakes.columns) >= {"name", "bed", "level", "geometry"}
    lake = lakes.iloc[0]
    z, transform = dem
    inside = rasterio.features.rasterize([lake.geometry], out_shape=z.shape, transform=transform).astype(bool)
    assert lake.bed == pytest.approx(float(z[inside].min()), abs=0.01)
    assert lake.level - lake.bed > 1.5
    assert np.median(z[inside]) < lake.level
    creek = rivers.loc[rivers["width"].idxmin()].geometry
    assert creek.intersects(lake.geometry)


# --- vector layers -----------------------------------------------------------------------------------


def test_buildings_schema_and_values(layers):
    b = layers["buildings"]
    assert list(b.columns) == ["id", "height", "storeys", "use", "geometry"]
    assert len(b) == round(550 * (SIZE / 1000) ** 2)
    assert b["id"].is_unique and b["id"].str.fullmatch(r"B\d{6}").all()
    assert b["height"].between(3.0, 100.0).all()
    assert np.issubdtype(b["storeys"].dtype, np.integer) and (b["storeys"] >= 1).all()
    per_storey = b["height"] / b["storeys"]
    assert per_storey.between(2.8, 4.6).all()  # about 3 m a storey, taller for sheds
    assert set(b["use"]) <= {"residential", "commercial", "industrial", "public"}
    assert set(b["use"]) >= {"residential", "commercial"}
    assert (b.geom_type == "Polygon").all() and b.is_valid.all()
    assert (shapely.get_num_coordinates(b.geometry.values) > 5).any()  # some L shapes
    # Footprints never overlap one another.
    assert shapely.union_all(b.geometry.values).area == pytest.approx(b.area.sum(), rel=1e-9)


def test_buildings_stay_off_the_water_and_the_hills(layers):
    b, rivers, lakes, landuse = layers["buildings"], layers["rivers"], layers["lakes"], layers["landuse"]
    water = shapely.union_all([*rivers.geometry.buffer(rivers["width"] / 2).values, *lakes.geometry.values])
    assert not b.intersects(water).any()
    forest = shapely.union_all(landuse.loc[landuse["class"] == "forest"].geometry.values)
    assert b.intersection(forest).area.sum() < 1e-6


def test_landuse_tiles_the_domain_without_overlaps(small, layers, dem):
    lu = layers["landuse"]
    assert set(lu["class"]) <= set(sample.LANDUSE_CLASSES)
    assert set(lu["class"]) >= {"water", "forest", "park", "road", "residential"}
    assert (lu.geom_type == "Polygon").all() and lu.is_valid.all()
    domain = shapely.box(*small.bounds).area
    assert lu.area.sum() == pytest.approx(domain, rel=1e-3)
    assert shapely.union_all(lu.geometry.values).area == pytest.approx(domain, rel=1e-3)
    # Water covers the lake, and forest is the high ground.
    lake = layers["lakes"].geometry.iloc[0]
    water = shapely.union_all(lu.loc[lu["class"] == "water"].geometry.values)
    assert lake.difference(water).area < 1e-3 * lake.area
    z, transform = dem
    forest = rasterio.features.rasterize(
        lu.loc[lu["class"] == "forest"].geometry, out_shape=z.shape, transform=transform
    ).astype(bool)
    assert z[forest].mean() > z[~forest].mean() + 3.0


# --- IFC buildings -----------------------------------------------------------------------------------


def test_ifc_buildings_are_where_placements_json_says(small, dem, layers):
    record = json.loads(small.placements.read_text())
    assert record["crs"] == "EPSG:4547"
    assert [r["file"] for r in record["buildings"]] == [p.name for p in small.ifc]
    gis = layers["buildings"].set_index("id")
    z, transform = dem
    for entry, path in zip(record["buildings"], small.ifc):
        model = ifcopenshell.open(str(path))
        conv = model.by_type("IfcMapConversion")[0]
        assert conv.TargetCRS.Name == "EPSG:4547"
        angle = math.radians(entry["rotation_deg"])
        assert (conv.Eastings, conv.Northings, conv.OrthogonalHeight) == (
            entry["eastings"],
            entry["northings"],
            entry["height"],
        )
        # Written from the same angle; only float formatting in the STEP file can differ.
        assert conv.XAxisAbscissa == pytest.approx(math.cos(angle), abs=1e-12)
        assert conv.XAxisOrdinate == pytest.approx(math.sin(angle), abs=1e-12)
        assert conv.Scale == 1.0 and abs(entry["rotation_deg"]) >= 5.0
        helmert = geolocation.get_helmert_transformation_parameters(model)
        assert (helmert.e, helmert.n, helmert.h) == (entry["eastings"], entry["northings"], entry["height"])

        # The local box [0, width] x [0, depth] maps onto the cadastre footprint of the same building.
        w, d = entry["width"], entry["depth"]
        corners = np.array(
            [geolocation.auto_xyz2enh(model, x, y, 0.0)[:2] for x, y in [(0, 0), (w, 0), (w, d), (0, d)]]
        )
        np.testing.assert_allclose(corners, np.array(entry["footprint"]), atol=1e-3)  # mm rounding
        footprint = gis.loc[entry["building_id"]]
        assert shapely.hausdorff_distance(shapely.Polygon(corners), footprint.geometry) < 1e-3
        assert footprint.storeys == entry["storeys"]
        assert footprint.height == pytest.approx(entry["total_height"], abs=0.05)
        under = rasterio.features.rasterize([footprint.geometry], out_shape=z.shape, transform=transform)
        assert entry["height"] == pytest.approx(float(z[under.astype(bool)].min()), abs=0.005)  # cm rounding

        storeys = model.by_type("IfcBuildingStorey")
        assert len(storeys) == entry["storeys"] >= 2
        elevations = sorted(s.Elevation for s in storeys)
        np.testing.assert_allclose(np.diff(elevations), entry["storey_height"], atol=1e-6)
        assert len(model.by_type("IfcWall")) == 4 * len(storeys)
        assert {s.PredefinedType for s in model.by_type("IfcSlab")} == {"FLOOR", "ROOF"}
        assert all(
            w.Representation.Representations[0].Items[0].is_a("IfcExtrudedAreaSolid") for w in model.by_type("IfcWall")
        )
        assert len({e.GlobalId for e in model.by_type("IfcRoot")}) == len(model.by_type("IfcRoot"))


def test_ifc_geometry_fills_its_footprint(small):
    import ifcopenshell.geom

    entry = json.loads(small.placements.read_text())["buildings"][0]
    model = ifcopenshell.open(str(small.ifc[0]))
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    points = []
    for product in model.by_type("IfcElement"):
        shape = ifcopenshell.geom.create_shape(settings, product)
        points.append(np.asarray(shape.geometry.verts).reshape(-1, 3))
    xyz = np.vstack(points)
    # In the model's own engineering frame the building is the box [0, w] x [0, d] x [0, storeys * h].
    np.testing.assert_allclose(xyz.min(axis=0), [0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(xyz.max(axis=0), [entry["width"], entry["depth"], entry["total_height"]], atol=1e-3)


# --- scenario ----------------------------------------------------------------------------------------


def test_flood_scenario_points_at_the_river_inlet(small, layers):
    text = small.scenario.read_text()
    scenario = tomllib.loads(text)
    assert scenario["kind"] == "flood" and scenario["duration"] == "2h"
    assert scenario["rain"]["hyetograph"] == [[0, 60.0], [3600, 60.0], [3601, 0.0]]
    assert scenario["boundary"] == [{"edge": "east", "type": "free", "slope": 0.001}]
    (inflow,) = scenario["inflow"]
    assert inflow["hydrograph"] == [[0, 20.0], [2400, 180.0], [7200, 40.0]]
    x, y = inflow["at"]
    assert f"at = [{x:.1f}, {y:.1f}]" in text
    rivers = layers["rivers"]
    main = rivers.loc[rivers["width"].idxmax()].geometry
    assert x - small.bounds[0] == pytest.approx(50.0, abs=1.0)
    assert main.distance(shapely.Point(x, y)) < 0.1


def test_sewer_network_drains_the_land_into_the_water_through_flap_gates(small, layers, dem):
    from ingest.swmm import read_inp

    scenario = tomllib.loads(small.scenario.read_text())
    assert scenario["drainage"] == {"inp": "sewer.inp", "outfalls": "surface"}
    marker = json.loads((small.root / "cimtwin.json").read_text())
    assert "sewer.inp" in json.dumps(marker)  # the marker lists it: a rerun may replace it
    net = read_inp(small.root / "sewer.inp", "EPSG:4547")
    kinds = net.nodes["kind"]
    assert (kinds == "junction").sum() >= 10 and (kinds == "outfall").sum() >= 2 and len(net.conduits) >= 10
    water = shapely.union_all(
        [*layers["lakes"].geometry, *(r.geometry.buffer(r.width / 2) for r in layers["rivers"].itertuples())]
    )
    # manholes on land; outfalls on the banks of the river, creek or lake, or where a street leaves the map
    on_land = net.nodes.loc[kinds == "junction"].geometry
    assert not on_land.intersects(water).any()
    assert (on_land.distance(shapely.union_all(layers["buildings"].geometry)) > 0.5).all()  # in the streets
    outfalls = net.nodes.loc[kinds == "outfall"].geometry
    x0, y0, x1, y1 = small.bounds
    edge = np.minimum.reduce([outfalls.x - x0, x1 - outfalls.x, outfalls.y - y0, y1 - outfalls.y])
    banks = outfalls.distance(water) < 3 * CELL
    assert ((edge < CELL) | banks).all() and banks.sum() > len(outfalls) / 2
    # every outfall has a flap gate: a river above the pipe closes it rather than running up the network
    text = (small.root / "sewer.inp").read_text()
    rows = text[text.index("[OUTFALLS]") :].split("\n\n")[0].splitlines()[1:]
    assert rows and all(row.split()[2:] == ["FREE", "YES"] for row in rows)
    # pipes laid under the ground: inverts below the DEM, falling towards the outfalls
    ground = _sample_dem(dem, np.array([[p.x, p.y] for p in on_land]))
    assert (net.nodes.loc[kinds == "junction", "invert"].to_numpy() < ground - 1.0).all()


def test_river_scenario_routes_the_storm_through_the_lake_and_the_spill_reaches_the_outlet(small, layers, tmp_path):
    from twin.model.build import from_files
    from twin.sims.runs import load_scenario, run

    scenario = load_scenario(small.river_scenario)
    assert scenario.kind == "river" and scenario.lake[0].name == layers["lakes"]["name"].iloc[0]
    creek = layers["rivers"].loc[layers["rivers"]["width"].idxmin()].geometry
    assert creek.distance(shapely.Point(scenario.spill[0].at)) < 0.1  # the spill is on the creek
    tw = from_files(small.dem, rivers=f"{small.layers}::rivers", lakes=f"{small.layers}::lakes")
    result = run(tw, scenario, out=tmp_path / "river", progress=False)
    s = result.summary
    # water: in = out + stored + evaporated to round-off; the pollutant: in = left + out + decayed to
    # round-off, some of it through the lake and out by the river within the day
    assert abs(s["mass_balance_error"]) < 1e-9
    (spill,) = s["pollutants"]
    assert abs(spill["mass_balance_error"]) < 1e-9 and spill["outflow_kg"] > 0 and spill["decayed_kg"] > 0
    assert {"network.gpkg", "links.nc", "lakes.nc", "summary.json"} <= {p.name for p in (tmp_path / "river").iterdir()}


def test_water_scenario_runs_30_years_short_only_after_droughts_and_its_balance_closes(small, tmp_path):
    """The sample's water supply through `twin water`: the city is always served, the farms (and
    industry) go short in the dry seasons of the drought years, never after two ordinary years, and
    the balance closes every day."""
    import pandas as pd
    from click.testing import CliRunner
    from PIL import Image

    from twin.cli.app import main
    from twin.model.build import from_files
    from twin.sims.water.run import WaterResult

    from_files(small.dem).save(tmp_path / "tw")
    out = tmp_path / "water"
    res = CliRunner().invoke(
        main,
        [
            "water",
            str(small.water_scenario),
            "--out",
            str(out),
            "--twin",
            str(tmp_path / "tw"),
            "--plot",
            str(tmp_path / "water.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    r = WaterResult.load(out)
    assert r.summary["steps"] == 10958 and r.time[0] == pd.Timestamp("1991-01-01")  # 30 years of days
    assert r.summary["mass_balance_max_rel_error"] <= 1e-9 and np.abs(r.balance_error).max() <= 1e-9
    assert len(gpd.read_file(out / "network.gpkg", layer="nodes")) == len(r.nodes)  # all nodes on the map
    flows = pd.read_csv(small.root / "water_flows.csv", index_col="date", parse_dates=True)
    # the reservoir's own balance, from the series and the result alone: each day's storage change is
    # the day's inflow less its links' flows and evaporation (to a few litres on 8 million m3)
    leaving = [k for k, link in enumerate(r.links) if link.startswith("hill_reservoir->")]
    net = flows["reservoir_in"].to_numpy() - r.flow[0][:, leaving].sum(axis=1) - r.evaporation[0, :, 0]
    change = np.diff(r.storage[0, :, 0], prepend=6.0e6)  # the TOML's initial storage
    assert np.abs(change - net * 86400.0).max() < 1e-3
    rain = flows["rain_mm"]
    annual = rain.groupby(rain.index.year).sum()
    assert 1500 < annual.mean() < 1900  # Guangzhou's ~1,700 mm a year
    short = pd.DataFrame((r.demand - r.delivered)[0] * 86400.0, index=r.time, columns=r.demands).clip(lower=0)
    by_year = short.groupby(short.index.year).sum()
    assert by_year["city"].max() < 1.0  # m3: priority 1 is always served
    assert by_year["farms"].max() > 1e5 and by_year["industry"].max() > 0  # cut first, then industry
    # the short years are drought years or the dry season after one; two ordinary years never go short
    short_years = by_year.index[by_year.sum(axis=1) > 1.0]
    droughts = annual.nsmallest(4).index
    assert len(short_years) >= 1 and all(y in droughts or y - 1 in droughts for y in short_years), (
        short_years.tolist(),
        droughts.tolist(),
    )
    with Image.open(tmp_path / "water.png") as png:
        assert png.format == "PNG" and png.width > 800
