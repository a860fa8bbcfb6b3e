"""BIM ingest: real IFC files (ArchiCAD, Revit, IfcOpenShell, buildingSMART samples) into the twin.

Reads of the shared files are cached per module (their own cache folder) so that each file is meshed
once; tests that need a fresh read say cache=False.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
import warnings

import numpy as np
import psutil
import pyproj
import pytest
import shapely
import shapely.affinity
from geopandas.testing import assert_geodataframe_equal

from ingest.ifc import IfcImportWarning, read_ifc, read_ifc_many
from twin.errors import GeoreferencingError, InputDataError

pytestmark = pytest.mark.filterwarnings("ignore::ingest.ifc.IfcImportWarning")

FZK = "AC20-FZK-Haus.ifc"
DUPLEX = "Duplex_A_20110907.ifc"
OPENHOUSE = "IfcOpenHouse_IFC4.ifc"
UTM = "geographic-referencing-utm.ifc"
RIGID = "geographic-referencing-rigid-operation.ifc"

# Footprints are simplified within 5 mm, so 1 cm is the distance they are held to.
CM = 0.01


@pytest.fixture(scope="module")
def ifc_dir(shared_data):
    return shared_data / "ifc"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ifc-cache")


@pytest.fixture(scope="module")
def fzk(ifc_dir, cache):
    t0 = time.perf_counter()
    res = read_ifc(ifc_dir / FZK, "EPSG:25832", cache_dir=cache)
    return res, time.perf_counter() - t0


@pytest.fixture(scope="module")
def duplex(ifc_dir, cache):
    # NAD83 / UTM zone 16N: the zone of Chicago, where Revit's default location puts the Duplex.
    return read_ifc(ifc_dir / DUPLEX, "EPSG:26916", cache_dir=cache)


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from twin.sample.district import city

    sc = city(tmp_path_factory.mktemp("city"), size_m=600, cell=4)
    return sc, json.loads(sc.placements.read_text())


def _areal_scale(crs: str, lon: float, lat: float) -> float:
    """How much a projected CRS enlarges areas at a point (UTM's grid scale factor squared, about 0.9993)."""
    return pyproj.Proj(crs).get_factors(lon, lat).areal_scale


# ------------------------------------------------------------------------------------ real files


def test_fzk_haus_footprint_roof_storeys_and_site_placement(fzk):
    res, _ = fzk
    b = res.buildings
    assert len(b) == 1
    row = b.iloc[0]
    lon, lat = res.georef.eastings, res.georef.northings
    k = _areal_scale("EPSG:25832", lon, lat)
    # The walls stand flush on the 12 m x 10 m base slab (120 m2); the roof overhangs it by 0.5 m all
    # round (13 m x 11 m = 143 m2). Tolerance: 5 mm simplification along a 44-46 m outline.
    assert row.geometry.area == pytest.approx(120.0 * k, abs=0.05)
    assert shapely.from_wkt(row["roof_outline"]).area == pytest.approx(143.0 * k, abs=0.05)
    assert (row["storeys"], json.loads(row["storey_elevations"])) == (2, [110.0, 112.7])
    # Ground floor at RefElevation 110 m; the ridge of the roof slabs lies 6.318 m above it in the model.
    assert row["base"] == pytest.approx(110.0, abs=1e-6)
    assert row["height"] == pytest.approx(6.318, abs=0.005)
    assert json.loads(row["element_counts"])["IfcWallStandardCase"] == 13
    assert "Pset_BuildingCommon" in json.loads(row["psets"])
    assert (row["id"], row["source"], row["file"]) == (f"IFC-{row['ifc_guid']}", "ifc", FZK)
    # Only IfcSite latitude/longitude: approximate, and said so.
    assert res.georef.method == "IfcSite" and res.georef.approximate and bool(row["georef_approximate"])
    assert any("approximate" in w for w in res.warnings)
    # 49°6'1.566" N, 8°26'11.5404" E is the model's origin, the corner of the base slab.
    assert (lat, lon) == pytest.approx((49 + 6 / 60 + 1.566 / 3600, 8 + 26 / 60 + 11.5404 / 3600), abs=1e-9)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(lon, lat)
    corners = shapely.get_coordinates(row.geometry)
    assert np.hypot(corners[:, 0] - x, corners[:, 1] - y).min() < CM


def test_fzk_haus_spaces_belong_to_building_and_storeys(fzk):
    res, _ = fzk
    sp = res.spaces
    row = res.buildings.iloc[0]
    assert len(sp) == 7  # SOURCES.md: 7 spaces
    assert set(sp["building_guid"]) == {row["ifc_guid"]}
    assert set(sp["storey"]) <= {"Erdgeschoss", "Dachgeschoss"}
    assert (sp["area"] > 1.0).all()
    # Rooms lie inside the building: their plans stay within the roof outline (1 cm slack).
    assert sp.geometry.within(shapely.from_wkt(row["roof_outline"]).buffer(CM)).all()


def test_duplex_revit_default_location_is_accepted_as_approximate(duplex):
    res = duplex
    row = res.buildings.iloc[0]
    k = _areal_scale("EPSG:26916", res.georef.eastings, res.georef.northings)
    # Walls and floor slabs cover 207.5 m2 (measured from the meshes, unions of projected triangles).
    # The ~218 m2 in SOURCES.md adds the strip footings (10.3 m2 beyond the walls, 1.25-1.55 m below
    # ground), which do not stand in the way of surface water. Tolerance: 5 mm simplification.
    assert row.geometry.area == pytest.approx(207.48 * k, abs=0.15)
    # Four levels, two storeys: "T/FDN" (-1.25 m) holds only foundation walls and footings, "Roof" (6 m)
    # the roof, its parapets and a roof space; Level 1 and Level 2 hold the floors.
    assert row["storeys"] == 2 and json.loads(row["storey_elevations"]) == pytest.approx([0.0, 3.1])
    # Height to the top of the flat roof; the parapet walls stand 0.15 m above it, reported apart.
    assert row["base"] == pytest.approx(0.0) and row["height"] == pytest.approx(6.459, abs=0.005)
    assert row["max_height"] == pytest.approx(6.609, abs=0.005) and "Exterior - Brick" in row["tallest_element"]
    assert len(res.spaces) == 21  # SOURCES.md: 21 spaces
    assert res.spaces.geometry.within(row.geometry.buffer(CM)).all()
    assert res.georef.approximate and any("Revit's default location" in w for w in res.warnings)


def test_utm_map_conversion_with_wrong_scale_is_corrected(ifc_dir, cache):
    res = read_ifc(ifc_dir / UTM, "EPSG:25832", cache_dir=cache)
    row = res.buildings.iloc[0]
    g = res.georef
    assert (g.method, g.source_crs, g.approximate) == ("IfcMapConversion", "EPSG:25832", False)
    assert g.scale == pytest.approx(1.0)
    assert any("Scale=1000" in w and "inconsistent" in w for w in res.warnings)
    # The 1 m x 1 m box around the model origin lands on the file's eastings and northings ...
    c = row.geometry.centroid
    assert (c.x, c.y) == pytest.approx((458657.30, 5438232.25), abs=CM)
    assert row.geometry.area == pytest.approx(1.0, abs=0.01)  # 5 mm on a 4 m outline
    # ... turned so that its x axis points along XAxisAbscissa/Ordinate (0.2706, 0.9627).
    ring = shapely.get_coordinates(shapely.oriented_envelope(row.geometry))
    edge = math.degrees(math.atan2(ring[1, 1] - ring[0, 1], ring[1, 0] - ring[0, 0])) % 90.0
    assert edge == pytest.approx(math.degrees(math.atan2(0.962691746426, 0.270600445976)) % 90.0, abs=0.05)
    assert (row["base"], row["height"]) == pytest.approx((113.7, 4.0), abs=1e-6)


def test_rigid_operation_to_geographic_crs(ifc_dir, cache):
    res = read_ifc(ifc_dir / RIGID, "EPSG:25833", cache_dir=cache)
    g = res.georef
    assert (g.method, g.eastings, g.northings, g.height) == ("IfcRigidOperation", 14.0902217, 46.3623297, 475.0)
    row = res.buildings.iloc[0]
    # The 3 m x 4 m cube is centred 1 m along the model's x axis (east) from the operation's point.
    local = pyproj.Transformer.from_crs(
        "EPSG:25833",
        f"+proj=tmerc +lat_0={g.northings} +lon_0={g.eastings} +k=1 +x_0=0 +y_0=0 +ellps=GRS80",
        always_xy=True,
    )
    c = row.geometry.centroid
    assert local.transform(c.x, c.y) == pytest.approx((1.0, 0.0), abs=CM)
    k = _areal_scale("EPSG:25833", g.eastings, g.northings)
    assert row.geometry.area == pytest.approx(12.0 * k, abs=0.02)
    assert (row["base"], row["height"]) == pytest.approx((475.0, 1.5), abs=1e-6)
    # No IfcBuilding in this file: the site's elements stand in for one, and the user is told.
    assert any("no IfcBuilding" in w for w in res.warnings)


def test_no_georeferencing_is_an_error_until_the_user_places_it(ifc_dir, cache):
    with pytest.raises(GeoreferencingError, match="no georeferencing") as err:
        read_ifc(ifc_dir / OPENHOUSE, "EPSG:4547", cache_dir=cache)
    assert OPENHOUSE in str(err.value) and "--ifc-origin" in str(err.value)
    e, n, h = 423500.0, 2558600.0, 5.0
    plain = read_ifc(ifc_dir / OPENHOUSE, "EPSG:4547", origin=(e, n, h), cache_dir=cache)
    turned = read_ifc(ifc_dir / OPENHOUSE, "EPSG:4547", origin=(e, n, h), rotation=30.0, cache_dir=cache)
    assert plain.georef.method == "user" and not plain.georef.approximate
    # A rotation turns the model about its origin, which sits at (E, N).
    expected = shapely.affinity.rotate(plain.buildings.geometry.iloc[0], 30.0, origin=(e, n))
    assert shapely.hausdorff_distance(turned.buildings.geometry.iloc[0], expected) < CM
    assert turned.buildings["base"].iloc[0] == pytest.approx(h)
    # Walls without a ground slab enclose the interior; the roof covers it, so it is no courtyard.
    assert shapely.get_num_interior_rings(plain.buildings.geometry.iloc[0]) == 0


# ------------------------------------------------------------------------------------- bad files


def _truncated(src, dst):
    dst.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.6)])


def _unsupported_schema(src, dst):
    dst.write_bytes(src.read_bytes().replace(b"FILE_SCHEMA(('IFC4'));", b"FILE_SCHEMA(('IFC4X3_RC2'));", 1))


def _corrupt(src, dst):
    data = src.read_bytes()
    cut = data.index(b"\n#", len(data) // 2)
    dst.write_bytes(data[:cut] + b"\n#999999= IFCWALL('x',#1,((garbage;;\n" + data[cut:])


def _not_ifc(src, dst):
    dst.write_bytes(np.random.default_rng(0).bytes(4096))


@pytest.mark.parametrize(
    "damage, message",
    [
        (_truncated, "truncated"),
        (_unsupported_schema, "IFC4X3_RC2"),
        (_corrupt, "corrupt STEP text"),
        (_not_ifc, "not a readable IFC file"),
    ],
)
def test_damaged_files_raise_input_data_error_naming_the_file(ifc_dir, tmp_path, damage, message):
    bad = tmp_path / f"damaged-{damage.__name__.strip('_')}.ifc"
    damage(ifc_dir / FZK, bad)
    with pytest.raises(InputDataError, match=message) as err:
        read_ifc(bad, "EPSG:25832", cache=False)
    assert bad.name in str(err.value)


def test_missing_file_and_file_without_body_geometry(ifc_dir, tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        read_ifc(tmp_path / "nowhere.ifc", "EPSG:25832", cache=False)
    # The rigid-operation sample less its cube keeps only a 2D 'Axis' footprint polyline.
    text = (ifc_dir / RIGID).read_text().replace("#80,#90,$);", "#80,$,$);")
    (tmp_path / "flat.ifc").write_text(text)
    with pytest.raises(InputDataError, match="no building elements with 3D geometry") as err:
        read_ifc(tmp_path / "flat.ifc", "EPSG:25833", cache=False)
    assert "flat.ifc" in str(err.value)


def test_failed_element_is_named_and_the_rest_imports(city, tmp_path):
    sc, placements = city
    src = sc.ifc[1]
    import ifcopenshell

    wall = next(w for w in ifcopenshell.open(str(src)).by_type("IfcWall") if w.Name == "Wall 0.1")
    solid = wall.Representation.Representations[0].Items[0]
    assert solid.is_a("IfcExtrudedAreaSolid")
    text = src.read_text()
    line = next(t for t in text.splitlines() if t.startswith(f"#{solid.id()}="))
    broken = line.rsplit(",", 1)[0] + ",0.);"  # zero depth: no solid at all
    (tmp_path / "broken.ifc").write_text(text.replace(line, broken))
    res = read_ifc(tmp_path / "broken.ifc", sc.crs, cache=False)
    assert any(f"IfcWall #{wall.id()} 'Wall 0.1'" in w and "left out" in w for w in res.warnings)
    # The slabs still cover the whole footprint.
    expected = shapely.Polygon(placements["buildings"][1]["footprint"])
    assert shapely.hausdorff_distance(res.buildings.geometry.iloc[0], expected) < CM


# ------------------------------------------------------------------------- kernels and isolation


def test_elements_a_kernel_loses_are_meshed_again(fzk, ifc_dir):
    res, _ = fzk
    # cgal-simple drops some of FZK-Haus's walls (4 of 13 with ifcopenshell 0.9); none may go missing.
    other = read_ifc(ifc_dir / FZK, "EPSG:25832", kernel="cgal-simple", spaces=False, cache=False)
    assert other.products == res.products - len(res.spaces)
    assert shapely.hausdorff_distance(other.buildings.geometry.iloc[0], res.buildings.geometry.iloc[0]) < CM


def _pool_workers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if "ingest._ifc_pool" in " ".join(p.cmdline())]


def test_a_worker_that_dies_mid_read_falls_back_to_the_default_kernel(city):
    sc, placements = city
    events = []

    def crash_the_worker(event, path):
        events.append(event)
        if event == "start" and events.count("start") == 1:
            # The file has just been handed to its worker: kill it the way a kernel bug would.
            for proc in _pool_workers():
                proc.send_signal(signal.SIGSEGV)
                # Wait for it to die without reaping it: its exit status is the pool's to read.
                while proc.status() != psutil.STATUS_ZOMBIE:
                    time.sleep(0.01)

    res = read_ifc_many([sc.ifc[0]], sc.crs, workers=1, cache=False, progress=crash_the_worker)[0]
    assert events == ["start", "retry", "start", "done"]
    assert res.kernel == "opencascade"
    assert "died" in res.warnings[0] and "SIGSEGV" in res.warnings[0]
    expected = shapely.Polygon(placements["buildings"][0]["footprint"])
    assert shapely.hausdorff_distance(res.buildings.geometry.iloc[0], expected) < CM
    # The caller's process is untouched and the pool serves the next read.
    again = read_ifc(sc.ifc[0], sc.crs, cache=False)
    assert again.kernel == "manifold" and not again.warnings


def test_worker_pool_survives_a_real_segfault():
    from ingest._ifc_pool import Pool, WorkerDied

    pool = Pool(workers=1)
    try:
        pool.submit("boom", "ctypes:string_at", 0)  # reads address 0: a genuine SIGSEGV in native code
        pool.submit("fine", "math:hypot", 3.0, 4.0)
        out = {key: (ok, value) for key, ok, value in pool.as_completed()}
    finally:
        pool.close()
    ok, err = out["boom"]
    assert not ok and isinstance(err, WorkerDied) and err.returncode == -signal.SIGSEGV
    assert out["fine"] == (True, 5.0)


# ----------------------------------------------------------------------------------------- cache


def test_cache_returns_the_same_result_much_faster(fzk, ifc_dir, cache):
    first, seconds = fzk
    t0 = time.perf_counter()
    second = read_ifc(ifc_dir / FZK, "EPSG:25832", cache_dir=cache)
    again = time.perf_counter() - t0
    assert second.cached and not first.cached
    # Hashing 2.5 MB and unpickling take milliseconds; meshing took over a second.
    assert again < seconds / 5
    assert_geodataframe_equal(second.buildings, first.buildings)
    assert_geodataframe_equal(second.spaces, first.spaces)
    assert second.warnings == first.warnings and second.georef == first.georef
    # the envelope meshes come back from the cache's JSON bit for bit
    assert second.meshes.keys() == first.meshes.keys() == set(first.buildings["id"])
    for bid, m in first.meshes.items():
        c = second.meshes[bid]
        assert np.array_equal(c.verts, m.verts) and np.array_equal(c.faces, m.faces) and c.triangles > 0
        assert list(c.guid) == list(m.guid) and list(c.ifc_class) == list(m.ifc_class)


def test_cache_entry_is_invalidated_when_the_file_changes(city, tmp_path):
    sc, _ = city
    copy = tmp_path / "office.ifc"
    copy.write_bytes(sc.ifc[0].read_bytes())
    first = read_ifc(copy, sc.crs, cache_dir=tmp_path / "cache")
    assert not first.cached and read_ifc(copy, sc.crs, cache_dir=tmp_path / "cache").cached
    name = first.buildings["name"].iloc[0]
    copy.write_bytes(copy.read_bytes().replace(f"'{name}'".encode(), b"'Renamed'", 1))
    changed = read_ifc(copy, sc.crs, cache_dir=tmp_path / "cache")
    assert not changed.cached and changed.buildings["name"].iloc[0] == "Renamed"


# -------------------------------------------------------------------------------- holes / options


def _slab_model(path, blocks, *, version="IFC4", millimetres=False, georef="map", roof=False) -> None:
    """A model of floor slabs: one IfcBuilding per entry of ``blocks`` (a list of rectangles
    ``((x0, y0), (x1, y1))`` in metres), optionally roofed over, georeferenced in EPSG:4547 at
    (423100, 2558100, 4 m) turned 90 degrees by an IfcMapConversion (``georef="map"``) or by the IFC2X3
    property sets (``georef`` = the pset name, e.g. "ePset_MapConversion")."""
    unit = 1000.0 if millimetres else 1.0
    with _new_file(version) as (api, f):
        _slab_model_body(api, f, path, blocks, unit, georef, roof)


@contextlib.contextmanager
def _new_file(version):
    """An empty IFC file of ``version`` and the ifcopenshell.api module to fill it with."""
    import ifcopenshell.api.aggregate
    import ifcopenshell.api.context
    import ifcopenshell.api.geometry
    import ifcopenshell.api.georeference
    import ifcopenshell.api.owner.settings as owner
    import ifcopenshell.api.project
    import ifcopenshell.api.pset
    import ifcopenshell.api.root
    import ifcopenshell.api.spatial
    import ifcopenshell.api.unit

    api = ifcopenshell.api
    f = api.project.create_file(version=version)
    if version != "IFC2X3":
        yield api, f
        return
    # IFC2X3 requires owner histories; the API asks these two (documented) hooks for them.
    user = f.createIfcPersonAndOrganization(f.createIfcPerson(), f.createIfcOrganization(Name="cimtwin"))
    app = f.createIfcApplication(user.TheOrganization, "0", "cimtwin tests", "cimtwin")
    hooks = owner.get_user, owner.get_application
    owner.get_user, owner.get_application = (lambda _: user), (lambda _: app)
    try:
        yield api, f
    finally:
        owner.get_user, owner.get_application = hooks


def _slab_model_body(api, f, path, blocks, unit, georef, roof) -> None:
    project = api.root.create_entity(f, ifc_class="IfcProject", name="slabs")
    api.unit.assign_unit(f, length={"is_metric": True, "raw": "MILLIMETERS" if unit != 1.0 else "METERS"})
    body = api.context.add_context(
        f,
        context_type="Model",
        context_identifier="Body",
        target_view="MODEL_VIEW",
        parent=api.context.add_context(f, context_type="Model"),
    )
    site = api.root.create_entity(f, ifc_class="IfcSite")
    api.aggregate.assign_object(f, products=[site], relating_object=project)
    for n, rects in enumerate(blocks):
        building = api.root.create_entity(f, ifc_class="IfcBuilding", name=f"Block {n}")
        storey = api.root.create_entity(f, ifc_class="IfcBuildingStorey", name="Ground")
        api.aggregate.assign_object(f, products=[building], relating_object=site)
        api.aggregate.assign_object(f, products=[storey], relating_object=building)
        outlines = [[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)] for (x0, y0), (x1, y1) in rects]
        if roof:
            xs = [x for r in rects for x, _ in r]
            ys = [y for r in rects for _, y in r]
            outlines.append(
                [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys)), (min(xs), min(ys))]
            )
        for k, outline in enumerate(outlines):
            slab = api.root.create_entity(
                f, ifc_class="IfcSlab", predefined_type="ROOF" if k == len(rects) else "FLOOR"
            )
            api.spatial.assign_container(f, products=[slab], relating_structure=storey)
            api.geometry.assign_representation(
                f,
                product=slab,
                representation=api.geometry.add_slab_representation(f, context=body, depth=0.3, polyline=outline),
            )  # the API takes metres and converts
            matrix = np.eye(4)
            matrix[2, 3] = 6.0 if k == len(rects) else 0.0
            api.geometry.edit_object_placement(f, product=slab, matrix=matrix)
    conversion = {
        "Eastings": 423100.0,
        "Northings": 2558100.0,
        "OrthogonalHeight": 4.0,
        "XAxisAbscissa": 0.0,
        "XAxisOrdinate": 1.0,
    }
    if georef == "map":
        api.georeference.add_georeferencing(f, ifc_class="IfcMapConversion", name="EPSG:4547")
        api.georeference.edit_georeferencing(
            f, projected_crs={"Name": "EPSG:4547"}, coordinate_operation={**conversion, "Scale": 1.0 / unit}
        )
    elif georef:
        # IFC2X3: the property sets of the buildingSMART georeferencing guide, on the project; this one
        # carries no Scale (read as 1, which is wrong for millimetres).
        pset = api.pset.add_pset(f, product=project, name=georef)
        api.pset.edit_pset(f, pset=pset, properties=conversion)
        crs = api.pset.add_pset(f, product=project, name=georef.replace("MapConversion", "ProjectedCRS"))
        api.pset.edit_pset(f, pset=crs, properties={"Name": "EPSG:4547"})
    f.write(str(path))


def test_courtyards_are_holes_unless_roofed_or_holes_false(tmp_path):
    ring = [((0, 0), (30, 10)), ((0, 20), (30, 30)), ((0, 10), (10, 20)), ((20, 10), (30, 20))]
    _slab_model(tmp_path / "open.ifc", [ring])
    _slab_model(tmp_path / "roofed.ifc", [ring], roof=True)
    open_, filled, roofed = (
        read_ifc(tmp_path / "open.ifc", "EPSG:4547", cache=False),
        read_ifc(tmp_path / "open.ifc", "EPSG:4547", holes=False, spaces=False, cache=False),
        read_ifc(tmp_path / "roofed.ifc", "EPSG:4547", cache=False),
    )
    # Exact rectangles: 900 m2 less the 100 m2 courtyard, to floating point.
    assert open_.buildings.geometry.iloc[0].area == pytest.approx(800.0, abs=1e-6)
    assert shapely.get_num_interior_rings(open_.buildings.geometry.iloc[0]) == 1
    assert filled.buildings.geometry.iloc[0].area == pytest.approx(900.0, abs=1e-6)
    assert roofed.buildings.geometry.iloc[0].area == pytest.approx(900.0, abs=1e-6)
    assert roofed.buildings["roof_outline"].iloc[0] == ""  # the roof does not reach beyond the slabs
    assert open_.buildings["base"].iloc[0] == pytest.approx(4.0)
    # Turned 90 degrees about (423100, 2558100): model x runs north, model y runs west.
    assert open_.buildings.total_bounds == pytest.approx([423070.0, 2558100.0, 423100.0, 2558130.0], abs=1e-6)


@pytest.mark.parametrize("spelling", ["ePset_MapConversion", "ePSet_MapConversion"])
def test_ifc2x3_property_set_georeferencing_in_millimetres(tmp_path, spelling):
    blocks = [[((0, 0), (20, 10))], [((30, 0), (40, 5))]]  # two buildings in one file
    _slab_model(tmp_path / "twox3.ifc", blocks, version="IFC2X3", millimetres=True, georef=spelling)
    res = read_ifc(tmp_path / "twox3.ifc", "EPSG:4547", cache=False)
    assert res.georef.method == "ePSet_MapConversion" and res.georef.source_crs == "EPSG:4547"
    # No Scale in a millimetre file means, read literally, a model a thousand times too large; the
    # units are converted instead, and the user told.
    assert res.georef.scale == pytest.approx(1.0) and any("has no Scale" in w for w in res.warnings)
    b = res.buildings.sort_values("name")
    assert list(b["name"]) == ["Block 0", "Block 1"] and b["id"].is_unique
    assert list(b.geometry.area) == pytest.approx([200.0, 50.0], abs=1e-6)
    assert b.geometry.iloc[1].bounds == pytest.approx((423095.0, 2558130.0, 423100.0, 2558140.0), abs=1e-6)


def test_options_are_checked(ifc_dir):
    with pytest.raises(ValueError, match="kernel"):
        read_ifc(ifc_dir / UTM, "EPSG:25832", kernel="fastest")
    with pytest.raises(GeoreferencingError, match="rotation was given without origin"):
        read_ifc(ifc_dir / UTM, "EPSG:25832", rotation=10.0, cache=False)
    from twin.errors import CRSError

    with pytest.raises(CRSError):
        read_ifc(ifc_dir / UTM, "EPSG:4326")


def test_on_error_skip_keeps_the_good_files(ifc_dir, cache, tmp_path):
    with pytest.warns(IfcImportWarning, match="nowhere.ifc was skipped"):
        out = read_ifc_many([ifc_dir / UTM, tmp_path / "nowhere.ifc"], "EPSG:25832", on_error="skip", cache_dir=cache)
    assert out[0] is not None and out[1] is None


def test_a_read_past_its_time_limit_is_stopped(ifc_dir):
    # 5 ms cannot even open a file and set up pyproj: both the fast and the default attempt are stopped.
    with pytest.raises(InputDataError, match="time limit"):
        read_ifc(ifc_dir / UTM, "EPSG:25832", timeout=0.005, cache=False)
    assert read_ifc(ifc_dir / UTM, "EPSG:25832", cache=False).buildings.shape[0] == 1


def test_warnings_are_emitted_for_notebook_users(ifc_dir, cache):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        read_ifc(ifc_dir / UTM, "EPSG:25832", cache_dir=cache)
    assert any(
        issubclass(w.category, IfcImportWarning) and UTM in str(w.message) and "Scale" in str(w.message) for w in seen
    )


# ------------------------------------------------------------------------------- merge into twin


@pytest.fixture(scope="module")
def city_base(city):
    from twin.model.build import from_files

    sc, _ = city
    return from_files(sc.dem, buildings=sc.layers)


@pytest.fixture
def city_twin(city_base):
    """A fresh twin of the sample city (tests change its buildings)."""
    from twin.model.twin import Twin

    return Twin(city_base.crs, city_base.transform, city_base.terrain, buildings=city_base.buildings)


def test_sample_city_ifc_lands_where_placed_and_replaces_gis(city, city_twin, cache, tmp_path):
    from twin.model.bim import add_ifc
    from twin.model.twin import Twin

    sc, placements = city
    tw = city_twin
    n_before = len(tw.buildings)
    report = add_ifc(tw, sc.ifc, cache_dir=cache)
    b = tw.buildings
    assert len(b) == n_before  # two GIS footprints out, two IFC buildings in
    for rec in placements["buildings"]:
        row = b[b["file"] == rec["file"]].iloc[0]
        expected = shapely.Polygon(rec["footprint"])
        assert shapely.hausdorff_distance(row.geometry, expected) < CM
        assert row["base"] == pytest.approx(rec["height"], abs=1e-6)
        assert row["height"] == pytest.approx(rec["total_height"], abs=1e-6)
        assert row["storeys"] == rec["storeys"] and row["replaces"] == rec["building_id"]
        assert rec["building_id"] not in set(b["id"])
        assert report.replaced[row["id"]] == [rec["building_id"]]
        # Burned into the derived terrain like any building: the roof at base + height.
        r, c = tw.index(expected.centroid.x, expected.centroid.y)
        assert tw.burned_terrain[r, c] == pytest.approx(rec["height"] + rec["total_height"])
    assert report.replaced_ids == sorted(r["building_id"] for r in placements["buildings"])
    assert [f["georef_method"] for f in report.files] == ["IfcMapConversion"] * 2
    assert tw.meta["ifc_imports"][-1]["added"] == report.added
    # Saved in the GeoPackage with its provenance, and loaded back as it was.
    back = Twin.load(tw.save(tmp_path / "twin")).buildings
    ifc_rows = back[back["source"] == "ifc"].set_index("id")
    assert set(ifc_rows.index) == set(report.added)
    assert set(ifc_rows["replaces"]) == set(report.replaced_ids)
    # Importing the same files again replaces the earlier import rather than duplicating it, keeps the
    # ids of the GIS footprints that import replaced (they are gone from the twin), and says so.
    again = add_ifc(tw, sc.ifc, cache_dir=cache)
    assert len(tw.buildings) == n_before and tw.buildings["id"].is_unique
    assert again.replaced == report.replaced and sorted(again.reimported) == sorted(report.added)
    after = tw.buildings.set_index("id")
    assert all(after.loc[k, "replaces"] == ",".join(v) for k, v in report.replaced.items())
    assert sum("was re-imported" in w for w in again.warnings) == len(report.added)
    assert Twin.load(tw.save(tmp_path / "twin")).meta["ifc_imports"][-1]["replaced"] == report.replaced


def test_building_outside_the_twin_is_refused_and_the_twin_unchanged(city_twin, ifc_dir, cache):
    from twin.model.bim import add_ifc

    before = city_twin.buildings.copy()
    # The Bled sample, placed on a Slovenian island, put into a twin near Guangzhou.
    with pytest.raises(GeoreferencingError, match="outside the twin's grid|cannot be expressed"):
        add_ifc(city_twin, [ifc_dir / RIGID], cache_dir=cache)
    assert_geodataframe_equal(city_twin.buildings, before)


def test_overlap_threshold_decides_what_is_replaced(city, city_twin, cache):
    from twin.model.bim import merge_buildings

    sc, placements = city
    res = read_ifc_many(sc.ifc, sc.crs, cache_dir=cache)
    for r in res:
        # Shrunk to 60 % each way about its centre, an IFC footprint covers 36 % of the GIS one.
        shrunk = shapely.affinity.scale(r.buildings.geometry.iloc[0], 0.6, 0.6, origin="centroid")
        r.buildings = r.buildings.set_geometry([shrunk], crs=r.buildings.crs)
    _, low = merge_buildings(city_twin, res, overlap=0.3)
    _, high = merge_buildings(city_twin, res, overlap=0.5)
    ids = sorted(p["building_id"] for p in placements["buildings"])
    assert set(ids) <= set(low.replaced_ids) and not set(ids) & set(high.replaced_ids)


def test_add_ifc_to_a_twin_without_buildings(city, city_base, cache):
    from twin.model.bim import add_ifc
    from twin.model.twin import Twin

    sc, placements = city
    tw = Twin(city_base.crs, city_base.transform, city_base.terrain)
    report = add_ifc(tw, [sc.ifc[0]], cache_dir=cache)
    b = tw.buildings
    assert list(b["id"]) == report.added and report.replaced == {report.added[0]: []}
    assert b["storeys"].dtype.kind == "i" and b["replaces"].iloc[0] == ""
    assert shapely.hausdorff_distance(b.geometry.iloc[0], shapely.Polygon(placements["buildings"][0]["footprint"])) < CM


# --------------------------------------------------------------- footprints of odd real-world exports


def _rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


def _prism_model(path, items, *, version="IFC2X3", levels=(("Level 1", 0.0),), site=None) -> dict:
    """A model of prisms: ``items`` are ``(ifc_class, predefined_type, level, outline, z, depth)`` (plan
    outline in metres, extruded ``depth`` up from ``z``); ``levels`` are ``(name, elevation)``; ``site`` is
    ``(name, (d, m, s, millionths) latitude, longitude)`` or None (no georeferencing). Returns the
    GlobalIds of the items, in order."""
    with _new_file(version) as (api, f):
        project = api.root.create_entity(f, ifc_class="IfcProject", name="prisms")
        api.unit.assign_unit(f, length={"is_metric": True, "raw": "METERS"})
        body = api.context.add_context(
            f,
            context_type="Model",
            context_identifier="Body",
            target_view="MODEL_VIEW",
            parent=api.context.add_context(f, context_type="Model"),
        )
        s = api.root.create_entity(f, ifc_class="IfcSite", name=site[0] if site else "Site")
        if site:
            s.RefLatitude, s.RefLongitude, s.RefElevation = site[1], site[2], 0.0
        building = api.root.create_entity(f, ifc_class="IfcBuilding", name="Office")
        api.aggregate.assign_object(f, products=[s], relating_object=project)
        api.aggregate.assign_object(f, products=[building], relating_object=s)
        storeys = {}
        for name, z in levels:
            storeys[name] = api.root.create_entity(f, ifc_class="IfcBuildingStorey", name=name)
            storeys[name].Elevation = z
            api.aggregate.assign_object(f, products=[storeys[name]], relating_object=building)
        guids = []
        for cls, kind, level, outline, z, depth in items:
            e = api.root.create_entity(f, ifc_class=cls, predefined_type=kind, name=f"{cls} {len(guids)}")
            if cls == "IfcSpace":
                api.aggregate.assign_object(f, products=[e], relating_object=storeys[level])
            else:
                api.spatial.assign_container(f, products=[e], relating_structure=storeys[level])
            api.geometry.assign_representation(
                f,
                product=e,
                representation=api.geometry.add_slab_representation(f, context=body, depth=depth, polyline=outline),
            )
            matrix = np.eye(4)
            matrix[2, 3] = z
            api.geometry.edit_object_placement(f, product=e, matrix=matrix)
            guids.append(e.GlobalId)
        f.write(str(path))
    return guids


# Revit's Boston template location, as an IfcCompoundPlaneAngleMeasure: 42°21'30.24" N, 71°03'35.28" W.
BOSTON = ("Default", (42, 21, 30, 240000), (-71, -3, -35, -280000))
W, D = 50.5, 36.8  # the office's plan [m]


def _revit_office(path) -> list:
    """A Revit-like IFC2X3 office: floors exported as IfcCovering FLOORING, the only IfcSlabs two stair
    landings, solid walls on the east and west facades and round the core only, the north and south
    facades curtain panels (IfcPlate) and mullions (IfcMember), an open-plan 14 x 20 m corner hall with no
    walls at all, rooms as IfcSpaces, a roof on a "Roof" level and a chimney above it."""
    items = []
    for level, z in (("Level 1", 0.0), ("Level 2", 4.0)):
        items.append(("IfcCovering", "FLOORING", level, _rect(0, 0, W, D), z, 0.05))
        items += [
            ("IfcWall", None, level, _rect(0, 0, 0.3, D), z, 4.0),
            ("IfcWall", None, level, _rect(W - 0.3, 0, W, D), z, 4.0),
            ("IfcWall", None, level, _rect(20, 12, 30, 12.2), z, 4.0),  # the core
            ("IfcWall", None, level, _rect(20, 24, 30, 24.2), z, 4.0),
        ]
        for x in np.arange(0.3, W - 1.0, 1.5):  # curtain panels
            items += [
                ("IfcPlate", None, level, _rect(x, 0, x + 1.45, 0.05), z, 4.0),
                ("IfcPlate", None, level, _rect(x, D - 0.05, x + 1.45, D), z, 4.0),
            ]
        rooms = [
            _rect(0.3, 0.05, 20, 12),
            _rect(0.3, 12, 20, 24),
            _rect(0.3, 24, 20, D - 0.05),
            _rect(20, 0.05, 36.5, 12),
            _rect(30, 12, 36.5, 24),
            _rect(20, 24.2, 36.5, D - 0.05),
            _rect(36.5, 0.05, W - 0.3, 16.8),
            _rect(36.5, 16.8, W - 0.3, D - 0.05),
        ]  # the last: the hall
        items += [("IfcSpace", None, level, r, z + 0.05, 3.0) for r in rooms]
    items += [
        ("IfcSlab", "LANDING", "Level 1", _rect(21, 13, 23, 15), 2.0, 0.2),
        ("IfcSlab", "LANDING", "Level 2", _rect(21, 13, 23, 15), 6.0, 0.2),
        ("IfcRoof", None, "Roof", _rect(0, 0, W, D), 8.0, 0.3),
        ("IfcBuildingElementProxy", None, "Roof", _rect(25, 18, 26, 19), 8.3, 2.2),
    ]  # the chimney
    return _prism_model(path, items, levels=(("Level 1", 0.0), ("Level 2", 4.0), ("Roof", 8.0)), site=BOSTON)


def test_revit_office_footprint_is_its_outline_and_holds_its_spaces(tmp_path):
    _revit_office(tmp_path / "office.ifc")
    # UTM zone 19N: Boston.
    res = read_ifc(tmp_path / "office.ifc", "EPSG:26919", cache=False)
    row = res.buildings.iloc[0]
    k = _areal_scale("EPSG:26919", res.georef.eastings, res.georef.northings)
    fp = row.geometry
    # The outline of the building (50.5 x 36.8 m), one part, no holes: the rule walls-and-slabs-only gave
    # the two facade walls, the core and two landings, smaller than the rooms inside.
    assert fp.area == pytest.approx(W * D * k, abs=0.5)
    assert fp.geom_type == "Polygon" and len(fp.interiors) == 0
    assert res.spaces.geometry.within(fp.buffer(CM)).all() and len(res.spaces) == 16
    assert "spaces" in row["footprint_from"] and not any("small footprint" in w for w in res.warnings)
    # Two storeys (the "Roof" level holds only the roof and the chimney); height to the roof, not the chimney.
    assert row["storeys"] == 2 and json.loads(row["storey_elevations"]) == pytest.approx([0.0, 4.0])
    assert row["height"] == pytest.approx(8.3, abs=1e-6) and row["max_height"] == pytest.approx(10.5, abs=1e-6)
    assert "IfcBuildingElementProxy" in row["tallest_element"]
    # A site named 'Default' at Revit's Boston template location is recognised like the Chicago default.
    assert any("Revit's default location (Boston)" in w for w in res.warnings)
    assert set(res.spaces["building_id"]) == {row["id"]}


def test_bare_steel_frame_gets_its_hull_and_says_so(tmp_path):
    # A Tekla-like frame: 0.3 m columns on a 7.4 x 7.5 m grid over 37 x 30 m, beams along the grid lines
    # at 6 m, base plates under the columns; nothing encloses anything.
    items = []
    xs, ys = np.arange(0, 37.1, 7.4), np.arange(0, 30.1, 7.5)
    for x in xs:
        for y in ys:
            items += [
                ("IfcColumn", None, "Level 1", _rect(x, y, x + 0.3, y + 0.3), 0.0, 6.0),
                ("IfcPlate", None, "Level 1", _rect(x - 0.1, y - 0.1, x + 0.4, y + 0.4), -0.02, 0.02),
            ]
    items += [("IfcBeam", None, "Level 1", _rect(0, y, 37.3, y + 0.3), 6.0, 0.4) for y in ys]
    items += [("IfcBeam", None, "Level 1", _rect(x, 0, x + 0.3, 30.3), 6.0, 0.4) for x in xs]
    _prism_model(tmp_path / "frame.ifc", items, version="IFC4")
    res = read_ifc(tmp_path / "frame.ifc", "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache=False)
    row = res.buildings.iloc[0]
    # The columns alone cover 30 x 0.09 m2 = 2.7 m2; the frame's hull is what stands in the water's way.
    assert row.geometry.area == pytest.approx(37.5 * 30.5 - 4 * 0.5 * 0.1 * 0.1, abs=0.05)
    assert row["footprint_from"] == "convex hull of the frame"
    assert any(w.startswith("bare frame:") and "convex hull" in w for w in res.warnings)


def test_a_courtyard_with_a_space_in_it_is_filled_and_narrow_gaps_closed(tmp_path):
    # A ring of walls with a 0.8 m gap in the north facade round a 10 x 10 m inner court; the court is a
    # courtyard in one model and a room (an IfcSpace) in the other.
    walls = [
        _rect(0, 0, 30, 0.3),
        _rect(0, 0, 0.3, 30),
        _rect(29.7, 0, 30, 30),
        _rect(0, 29.7, 14.6, 30),
        _rect(15.4, 29.7, 30, 30),
        _rect(10, 10, 20, 10.3),
        _rect(10, 19.7, 20, 20),
        _rect(10, 10, 10.3, 20),
        _rect(19.7, 10, 20, 20),
    ]
    floor = [_rect(0.3, 0.3, 29.7, 10), _rect(0.3, 20, 29.7, 29.7), _rect(0.3, 10, 10, 20), _rect(20, 10, 29.7, 20)]
    items = [("IfcWall", None, "Level 1", w, 0.0, 3.0) for w in walls]
    items += [("IfcCovering", "FLOORING", "Level 1", r, 0.0, 0.05) for r in floor]
    _prism_model(tmp_path / "court.ifc", items, version="IFC4")
    hall = ("IfcSpace", None, "Level 1", _rect(10.3, 10.3, 19.7, 19.7), 0.0, 3.0)
    _prism_model(tmp_path / "hall.ifc", [*items, hall], version="IFC4")
    court, hall = (
        read_ifc(tmp_path / n, "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache=False).buildings.geometry.iloc[0]
        for n in ("court.ifc", "hall.ifc")
    )
    # The 0.8 m gap in the facade is closed (the outline is whole); the court stays a hole...
    assert court.area == pytest.approx(900.0 - 9.4 * 9.4, abs=1e-3) and len(court.interiors) == 1
    # ... unless a space stands in it.
    assert hall.area == pytest.approx(900.0, abs=1e-3) and len(hall.interiors) == 0


def _house_items():
    return [
        ("IfcSlab", "FLOOR", "Level 1", _rect(0, 0, 12, 10), 0.0, 0.2),
        *[
            ("IfcWall", None, "Level 1", r, 0.2, 3.0)
            for r in (_rect(0, 0, 12, 0.3), _rect(0, 9.7, 12, 10), _rect(0, 0, 0.3, 10), _rect(11.7, 0, 12, 10))
        ],
        ("IfcSpace", None, "Level 1", _rect(0.3, 0.3, 11.7, 9.7), 0.2, 3.0),
    ]


def test_a_stray_wall_far_away_is_dropped_by_name(tmp_path, city_twin):
    from twin.model.bim import add_ifc

    stray = ("IfcWall", None, "Level 1", _rect(1e12, 0, 1e12 + 5, 0.3), 0.0, 3.0)
    guids = _prism_model(tmp_path / "stray.ifc", [*_house_items(), stray], version="IFC4")
    res = read_ifc(tmp_path / "stray.ifc", "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache=False)
    fp = res.buildings.geometry.iloc[0]
    # The footprint is the house's 12 x 10 m, not 1e12 m wide; the wall is named by its GlobalId.
    assert fp.area == pytest.approx(120.0, abs=1e-3) and max(np.ptp(np.reshape(fp.bounds, (2, 2)), axis=0)) < 13
    stray = [w for w in res.warnings if w.startswith("stray elements:")]
    assert len(stray) == 1 and guids[-1] in stray[0] and guids[0] not in stray[0]
    # In a twin it lands, and burns in, as the house alone.
    x0, y0, x1, y1 = city_twin.bounds
    report = add_ifc(city_twin, [tmp_path / "stray.ifc"], origin=((x0 + x1) / 2, (y0 + y1) / 2, 4.0), cache=False)
    assert city_twin.buildings.set_index("id").geometry[report.added[0]].area == pytest.approx(120.0, abs=1e-3)


def test_a_model_with_no_main_cluster_is_refused(tmp_path):
    # Two houses 5 km apart in one IfcBuilding: no building is that large, and neither half is "the" building.
    far = [
        (cls, kind, level, [(x + 5000.0, y) for x, y in outline], z, depth)
        for cls, kind, level, outline, z, depth in _house_items()
    ]
    _prism_model(tmp_path / "split.ifc", [*_house_items(), *far], version="IFC4")
    with pytest.raises(InputDataError, match="no main cluster"):
        read_ifc(tmp_path / "split.ifc", "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache=False)


def test_cache_entries_are_json_in_a_private_folder(tmp_path):
    _prism_model(tmp_path / "house.ifc", _house_items(), version="IFC4")
    folder = tmp_path / "cache"
    first = read_ifc(tmp_path / "house.ifc", "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache_dir=folder)
    entries = list(folder.iterdir())
    assert [e.suffix for e in entries] == [".json"] and (folder.stat().st_mode & 0o777) == 0o700
    json.loads(entries[0].read_text())  # data, not a pickle that could run code when loaded
    again = read_ifc(tmp_path / "house.ifc", "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache_dir=folder)
    assert again.cached
    assert_geodataframe_equal(again.buildings, first.buildings)
    assert_geodataframe_equal(again.spaces, first.spaces)
    assert again.georef == first.georef and again.warnings == first.warnings
    # A planted pickle under an entry's name is never unpickled: the read is simply done again.
    import pickle

    entries[0].write_bytes(pickle.dumps(first))
    assert not read_ifc(tmp_path / "house.ifc", "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache_dir=folder).cached
    # A folder others may write is not used (a planted entry would give false footprints), and you are told.
    folder.chmod(0o777)
    with pytest.warns(IfcImportWarning, match="cache folder .* was not used: others may write it"):
        res = read_ifc(tmp_path / "house.ifc", "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache_dir=folder)
    assert not res.cached


def test_a_footprint_much_smaller_than_its_hull_is_reported_with_both_areas(tmp_path):
    # Two 10 x 10 m rooms at opposite corners of a 40 x 40 m plot, joined by one thin wall: an outline
    # this sparse usually means parts of the building did not come out of the export.
    items = [
        ("IfcSlab", "FLOOR", "Level 1", _rect(0, 0, 10, 10), 0.0, 0.2),
        ("IfcSlab", "FLOOR", "Level 1", _rect(30, 30, 40, 40), 0.0, 0.2),
        ("IfcWall", None, "Level 1", [(10, 9.8), (30, 29.8), (30, 30), (10, 10), (10, 9.8)], 0.0, 3.0),
        ("IfcSpace", None, "Level 1", _rect(0, 0, 10, 10), 0.2, 3.0),
    ]
    _prism_model(tmp_path / "sparse.ifc", items, version="IFC4")
    res = read_ifc(tmp_path / "sparse.ifc", "EPSG:4547", origin=(423100.0, 2558100.0, 4.0), cache=False)
    small = [w for w in res.warnings if w.startswith("small footprint:")]
    area = res.buildings.geometry.iloc[0].area
    assert len(small) == 1 and 200 < area < 210
    # The hull: the 40 x 40 m plot less two 30 x 30 m half-squares = 700 m2.
    assert f"covers {area:.0f} m2" in small[0] and "the 700 m2 convex hull" in small[0] and "spaces: 100 m2" in small[0]


def test_spaces_are_kept_in_the_twin_saved_and_replaced_on_reimport(city_twin, tmp_path):
    from twin.model.twin import Twin

    _revit_office(tmp_path / "office.ifc")
    x0, y0, x1, y1 = city_twin.bounds
    where = {"origin": ((x0 + x1) / 2, (y0 + y1) / 2, 4.0), "cache": False}
    report = city_twin.add_ifc([tmp_path / "office.ifc"], **where)
    sp = city_twin.spaces
    assert len(sp) == 16 and set(sp["building_id"]) == set(report.added)
    # Every cell whose centre lies in the office's outline is building, none open ground for water to fill.
    outline = shapely.box(where["origin"][0], where["origin"][1], where["origin"][0] + W, where["origin"][1] + D)
    ny, nx = city_twin.shape
    cols, rows = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    xs, ys = city_twin.transform @ (cols, rows)
    inside = shapely.contains_xy(outline, xs, ys)
    assert inside.sum() > 100 and city_twin.building_mask[inside].all()
    assert set(sp["storey"]) == {"Level 1", "Level 2"} and (sp["area"] > 10).all()
    back = Twin.load(city_twin.save(tmp_path / "twin"))
    assert_geodataframe_equal(back.spaces, sp)
    # A re-import replaces the building's spaces; it does not add them twice.
    back.add_ifc([tmp_path / "office.ifc"], **where)
    assert len(back.spaces) == 16


def test_cli_prints_each_ifc_warning_once(city, city_twin, tmp_path):
    import os
    import subprocess
    import sys

    sc, _ = city
    _prism_model(
        tmp_path / "stray.ifc",
        [*_house_items(), ("IfcWall", None, "Level 1", _rect(1e12, 0, 1e12 + 5, 0.3), 0.0, 3.0)],
        version="IFC4",
    )
    x0, y0, x1, y1 = city_twin.bounds
    env = {**os.environ, "CIMTWIN_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "twin",
            "ingest",
            "--dem",
            str(sc.dem),
            "--ifc",
            str(tmp_path / "stray.ifc"),
            "--ifc-origin",
            f"{(x0 + x1) / 2},{(y0 + y1) / 2},4",
            "--out",
            str(tmp_path / "tw"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert text.count("stray elements:") == 1 and "IfcImportWarning" not in text


def test_a_building_wider_than_any_building_is_refused_at_merge(city, city_twin, cache):
    from twin.model.bim import merge_buildings

    sc, _ = city
    res = read_ifc_many(sc.ifc, sc.crs, cache_dir=cache)
    # A footprint with a part 1e12 m away (as a stray wall gave before strays were dropped at read).
    fp = res[0].buildings.geometry.iloc[0]
    far = shapely.MultiPolygon([fp, shapely.affinity.translate(fp, 1e12, 0.0)])
    res[0].buildings = res[0].buildings.set_geometry([far], crs=res[0].buildings.crs)
    with pytest.raises(InputDataError, match=r"is 1e\+09 km across; no building is wider than 2 km"):
        merge_buildings(city_twin, res)
