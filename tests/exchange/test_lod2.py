"""IFC buildings out as LoD2 shells (CityJSON, glTF, 3D Tiles) from the meshes the BIM ingest keeps in the
twin, on the public IFC models in ../shared/data/ifc; GIS buildings stay LoD1 blocks."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from _glb_read import mesh, read_glb
from _validators import validate_cityjson, validate_glb, validate_tileset
from affine import Affine
from click.testing import CliRunner

from ingest.cityjson import read_cityjson
from twin.cli.app import main
from twin.exchange._lod2 import shells
from twin.model.twin import Twin

pytestmark = pytest.mark.filterwarnings("ignore::ingest.ifc.IfcImportWarning")

CRS = "EPSG:25832"
FZK = "AC20-FZK-Haus.ifc"  # placed by its own IfcSite (Karlsruhe, EPSG:25832), base 110 m
# Files without usable georeferencing, placed by hand beside it: (file, E, N, H)
PLACED = [("Duplex_A_20110907.ifc", 458900.0, 5438760.0, 110.5), ("IfcOpenHouse_IFC4.ifc", 458830.0, 5438760.0, 109.5)]
# CityJSON vertices sit on a 1 mm grid and footprints are simplified within 5 mm (ingest): 1 cm holds both.
CM = 0.01


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def twin_dir(shared_data, tmp_path_factory):
    """A flat 180 m x 140 m twin with one GIS building and the three IFC houses, saved."""
    root = tmp_path_factory.mktemp("lod2")
    transform = Affine(2.0, 0.0, 458800.0, 0.0, -2.0, 5438860.0)
    gis = gpd.GeoDataFrame(
        {"id": ["gis-1"], "base": [110.0], "height": [9.0], "source": ["gis"]},
        geometry=[shapely.box(458940.0, 5438820.0, 458955.0, 5438835.0)],
        crs=CRS,
    )
    tw = Twin(CRS, transform, np.full((70, 90), 110.0), buildings=gis)
    ifc = shared_data / "ifc"
    tw.add_ifc(ifc / FZK, cache=False, warn=False)
    for name, e, n, h in PLACED:
        tw.add_ifc(ifc / name, origin=(e, n, h), cache=False, warn=False)
    tw.save(root / "twin")
    return root / "twin"


@pytest.fixture(scope="module")
def twin(twin_dir):
    return Twin.load(twin_dir)


def _ifc(tw):
    b = tw.buildings
    return b[b["source"] == "ifc"].reset_index(drop=True)


# --- the meshes in the twin -----------------------------------------------------------------------------


def test_the_twin_keeps_each_ifc_buildings_envelope_mesh(twin, twin_dir):
    ifc = _ifc(twin)
    assert len(ifc) == 3 and set(twin.meshes) == set(ifc["id"])
    manifest = json.loads((twin_dir / "twin.json").read_text())
    assert "meshes.npz" in manifest["files"]  # checksummed like every file of the twin
    for row in ifc.itertuples():
        m = twin.meshes[row.id]
        # in the twin's CRS: the mesh covers the footprint, and spans the building's base to its top
        x0, y0, x1, y1 = row.geometry.bounds
        lo, hi = m.verts.min(axis=0), m.verts.max(axis=0)
        assert lo[0] <= x0 + CM and lo[1] <= y0 + CM and hi[0] >= x1 - CM and hi[1] >= y1 - CM
        assert hi[0] - lo[0] < (x1 - x0) + 3.0  # no more than the eaves beyond the walls
        assert lo[2] <= row.base + CM and hi[2] >= row.base + row.height - CM
        # one group per element: its IFC class, a 22-character GlobalId, its role; triangles cover the groups
        assert m.group_start[-1] == len(m.faces) and len(m.ifc_class) == len(m.guid) == len(m.role)
        assert all(len(g) == 22 for g in m.guid)
        assert {c for c in m.ifc_class if c.startswith("IfcWall")} and "IfcSlab" in set(m.ifc_class)
        assert set(m.role) <= {"envelope", "roof"} and "roof" in set(m.role)
        assert m.faces.min() >= 0 and m.faces.max() < len(m.verts)
        if row.file == FZK:  # its roof is two IfcSlabs of PredefinedType ROOF: they count as roof
            assert set(m.ifc_class[m.role == "roof"]) == {"IfcSlab"}


def test_twin_info_mentions_the_meshes(twin_dir):
    res = _cli("info", twin_dir)
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.startswith("Meshes"))
    assert "3 IFC buildings" in line and "meshes.npz" in line
    summary = json.loads(_cli("info", twin_dir, "--json").output)
    assert summary["meshes"]["buildings"] == 3 and summary["meshes"]["triangles"] > 500


def test_meshes_of_removed_buildings_are_not_saved(twin, tmp_path):
    tw = twin.copy()
    gone = _ifc(tw)["id"][0]
    tw.buildings = tw.buildings[tw.buildings["id"] != gone]
    tw.save(tmp_path / "t")
    back = Twin.load(tmp_path / "t")
    assert set(back.meshes) == set(twin.meshes) - {gone}
    assert set(twin.meshes) == set(_ifc(twin)["id"])  # the original keeps its own


# --- the shells -------------------------------------------------------------------------------------------


def test_shells_match_the_footprint_and_height_and_name_their_surfaces(twin):
    b = twin.buildings
    sh = shells(b, twin.meshes)
    assert list(sh.has) == list(b["source"] == "ifc")
    for i in np.flatnonzero(sh.has):
        row = b.iloc[i]
        corners = sh.corners[sh.building == i]
        surface = sh.surface[sh.building == i]
        counts = np.bincount(surface, minlength=3)
        assert counts[0] >= 8 and counts[1] >= 2, (row["id"], counts)  # walls all round, a roof
        # the walls' outer faces are the footprint's outline: same bounding box within 1 cm (the Duplex's
        # footprint also holds its two entrance porches, ground-level slabs beyond its end walls)
        walls = corners[surface == 0].reshape(-1, 3)
        fb = np.asarray(row.geometry.bounds)
        wb = np.r_[walls[:, :2].min(axis=0), walls[:, :2].max(axis=0)]
        assert (wb[:2] >= fb[:2] - CM).all() and (wb[2:] <= fb[2:] + CM).all()
        if row["file"] != PLACED[0][0]:
            assert np.abs(wb - fb).max() <= CM
        # walls all round: each of the four sides of the building has at least a tenth of the wall area
        n = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        area = np.linalg.norm(n, axis=1) / 2
        side = surface == 0
        angle = np.degrees(np.arctan2(n[side, 1], n[side, 0]))
        main = _main_direction(angle, area[side])
        quadrant = np.floor(((angle - main + 45.0) % 360.0) / 90.0).astype(int)
        share = np.bincount(quadrant, area[side], minlength=4) / area[side].sum()
        assert share.min() > 0.1, (row["file"], share)
        # the whole shell: the footprint, or the roof's outline where the eaves overhang it
        outline = shapely.from_wkt(row["roof_outline"]) if row["roof_outline"] else row.geometry
        ob = np.asarray(shapely.union(outline, row.geometry).bounds)
        pts = corners.reshape(-1, 3)
        assert np.abs(np.r_[pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)] - ob).max() <= CM
        # and the LoD1 block's heights: base to base + height (the twin holds them to 0.1 mm)
        assert abs(pts[:, 2].min() - row["base"]) <= 1e-4
        assert abs(pts[:, 2].max() - row["base"] - row["height"]) <= 1e-4
        # no inner face: the walls' area is about the building's perimeter times its wall height, not twice it
        perimeter = shapely.length(
            shapely.intersection(
                row.geometry.exterior, shapely.buffer(shapely.MultiPoint(walls[:, :2]).convex_hull, CM)
            )
        )
        assert area[side].sum() < 1.5 * perimeter * row["height"], (row["file"], area[side].sum(), perimeter)
        # no wall rises through the roof (the fast geometry kernel cut FZK-Haus's upper walls and
        # IfcOpenHouse's gables wrongly: they are meshed with OpenCASCADE)
        assert _above_roof(corners[surface == 0].reshape(-1, 3), corners[surface == 1]) <= CM, row["file"]
    # the eaves of FZK-Haus: its LoD1 block strays from its shell by the roof's drop (ridge to eaves)
    fzk = int(np.flatnonzero(b["file"].astype(str) == FZK)[0])
    assert 2.0 < sh.error[fzk] < b["height"].iloc[fzk]


def _above_roof(points: np.ndarray, roof: np.ndarray) -> float:
    """How far the points rise above the roof triangles over them [m] (points under no roof count 0)."""
    a, b, c = roof[:, 0], roof[:, 1], roof[:, 2]
    px, py = points[:, None, 0], points[:, None, 1]
    den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    den = np.where(np.abs(den) < 1e-12, np.nan, den)
    l1 = ((b[:, 1] - c[:, 1]) * (px - c[:, 0]) + (c[:, 0] - b[:, 0]) * (py - c[:, 1])) / den
    l2 = ((c[:, 1] - a[:, 1]) * (px - c[:, 0]) + (a[:, 0] - c[:, 0]) * (py - c[:, 1])) / den
    l3 = 1 - l1 - l2
    inside = (l1 >= -1e-9) & (l2 >= -1e-9) & (l3 >= -1e-9)
    z = l1 * a[:, 2] + l2 * b[:, 2] + l3 * c[:, 2]
    over = np.where(inside, points[:, None, 2] - z, -np.inf).max(axis=1)
    return float(max(over.max(), 0.0))


def _main_direction(angle: np.ndarray, weight: np.ndarray) -> float:
    """The building's main wall direction [degrees], modulo 90 (walls meet mostly at right angles)."""
    a = np.radians(angle) * 4
    return float(np.degrees(np.arctan2((weight * np.sin(a)).sum(), (weight * np.cos(a)).sum())) / 4)


def test_a_footprint_edited_after_the_import_stays_lod1(twin):
    b = twin.buildings.copy()
    i = int(np.flatnonzero(b["source"] == "ifc")[0])
    b.loc[i, "geometry"] = shapely.affinity.translate(b.geometry.iloc[i], 5.0, 0.0)
    sh = shells(b, twin.meshes)
    assert not sh.has[i] and sh.has.sum() == 2


# --- the exports ------------------------------------------------------------------------------------------


def test_cityjson_lod2_validates_and_round_trips(twin, twin_dir, tmp_path):
    out = tmp_path / "cj"
    res = _cli("export", twin_dir, "--format", "cityjson", "--out", out)
    assert res.exit_code == 0, res.output
    path = out / "city.city.json"
    validate_cityjson(path)
    doc = json.loads(path.read_text())
    objs = doc["CityObjects"]
    b = twin.buildings.set_index("id")
    for bid, row in b.iterrows():
        geoms = objs[bid]["geometry"]
        assert geoms[0]["type"] == "Solid" and geoms[0]["lod"] == "1"
        if row["source"] != "ifc":
            assert len(geoms) == 1  # GIS buildings stay LoD1
            continue
        lod2 = geoms[1]
        assert (lod2["type"], lod2["lod"]) == ("MultiSurface", "2")
        sem = lod2["semantics"]
        kinds = [sem["surfaces"][v]["type"] for v in sem["values"]]
        assert len(kinds) == len(lod2["boundaries"])
        assert kinds.count("GroundSurface") == 1 and kinds.count("WallSurface") >= 8 and kinds.count("RoofSurface") >= 2
        # every wall and roof surface names the IFC element it comes from (GlobalId and class, as in the twin)
        mesh = twin.meshes[bid]
        element = dict(zip(mesh.guid, mesh.ifc_class))
        named = [x for x in sem["surfaces"] if x["type"] != "GroundSurface"]
        assert named and all(element[x["ifc_guid"]] == x["ifc_class"] for x in named)
        roofs = {x["ifc_guid"] for x in named if x["type"] == "RoofSurface"}
        assert roofs and roofs <= set(mesh.guid[mesh.role == "roof"])
        # the LoD2 vertices: within 1 cm of the footprint's (or eaves') box and of base .. base + height
        idx = np.unique([i for face in lod2["boundaries"] for ring in face for i in ring])
        v = np.asarray(doc["vertices"])[idx] * doc["transform"]["scale"] + doc["transform"]["translate"]
        outline = shapely.from_wkt(row["roof_outline"]) if row["roof_outline"] else row.geometry
        ob = np.asarray(shapely.union(outline, row.geometry).bounds)
        assert np.abs(np.r_[v[:, :2].min(axis=0), v[:, :2].max(axis=0)] - ob).max() <= CM
        assert abs(v[:, 2].min() - row["base"]) <= 0.001 and abs(v[:, 2].max() - row["base"] - row["height"]) <= 0.001
    # read back (the reader takes the highest LoD: here the shells) the footprints, heights and ids are the twin's
    back = read_cityjson(path).set_index("id")
    assert sorted(back.index) == sorted(b.index)
    back = back.loc[b.index]
    hd = [x.hausdorff_distance(y) for x, y in zip(back.geometry.values, b.geometry.values)]
    assert max(hd) <= CM
    assert np.abs(back["height"].to_numpy() - b["height"].to_numpy()).max() <= 0.002
    assert np.abs(back["base"].to_numpy() - b["base"].to_numpy()).max() <= 0.001
    assert (back["ifc_guid"].fillna("") == b["ifc_guid"].fillna("")).all()


def test_cityjsonseq_carries_the_lod2_shells(twin_dir, tmp_path):
    out = tmp_path / "seq"
    assert _cli("export", twin_dir, "--format", "cityjsonseq", "--out", out).exit_code == 0
    path = out / "city.city.jsonl"
    validate_cityjson(path)
    lod2 = [
        g
        for line in path.read_text().splitlines()[1:]
        for o in json.loads(line)["CityObjects"].values()
        for g in o.get("geometry", [])
        if g["lod"] == "2"
    ]
    assert len(lod2) == 3
    assert json.loads((out / "export.json").read_text())["buildings"]["lod2"] == 3


def test_glb_with_lod2_shells_passes_the_khronos_validator(twin, twin_dir, tmp_path):
    out = tmp_path / "gl"
    assert _cli("export", twin_dir, "--format", "gltf", "--out", out).exit_code == 0
    report = json.loads((out / "export.json").read_text())
    assert report["buildings"]["lod2"] == 3 and report["buildings"]["buildings"] == 4
    validate_glb([out / "buildings.glb"])
    # every building is one feature: an IFC building's triangles are its shell's (the ground is left out as
    # for LoD1), a GIS building's its block's walls (2 a footprint edge) and roof
    _, tri, ids = mesh(*read_glb(out / "buildings.glb"))
    per_feature = np.bincount(ids[tri[:, 0]].astype(np.int64), minlength=len(twin.buildings))
    sh = shells(twin.buildings, twin.meshes)
    for i, row in enumerate(twin.buildings.itertuples()):
        edges = len(row.geometry.exterior.coords) - 1
        if row.source == "ifc":
            assert per_feature[i] == (sh.building == i).sum()
        else:
            assert per_feature[i] == 2 * edges + edges - 2


def test_3d_tiles_draw_lod1_from_afar_and_lod2_close_up(twin, twin_dir, tmp_path):
    out = tmp_path / "tiles"
    res = _cli("export", twin_dir, "--format", "3dtiles", "--out", out)
    assert res.exit_code == 0, res.output
    tiles = validate_tileset(out / "buildings" / "tileset.json")
    validate_glb(sorted((out / "buildings" / "tiles").glob("*.glb")))
    nodes, stack = [], [tiles["root"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack += node.get("children", [])
    with_lod2 = [n for n in nodes if n.get("refine") == "REPLACE"]
    assert with_lod2
    heights = twin.buildings["height"]
    for node in with_lod2:
        (child,) = node["children"]
        # the blocks' error: more than 0 (they are not the building) and no more than the tallest building
        assert 0.0 < node["geometricError"] <= heights.max() + 1e-9
        assert child["geometricError"] == 0.0 and child["content"]["uri"].endswith("_lod2.glb")
        r, c = node["boundingVolume"]["region"], child["boundingVolume"]["region"]
        assert r[0] <= c[0] and r[1] <= c[1] and r[2] >= c[2] and r[3] >= c[3] and r[4] <= c[4] and r[5] >= c[5]
    # placement: the LoD2 content's vertices, through every transform above them (a child's applies on top
    # of its parent's), land within 1 cm of the shells' corners and the GIS block's
    sh = shells(twin.buildings, twin.meshes)
    gis = twin.buildings[twin.buildings["source"] != "ifc"]
    xy = shapely.get_coordinates(gis.geometry.boundary)
    expected = np.vstack(
        [sh.corners.reshape(-1, 3), *(np.column_stack([xy, np.full(len(xy), z)]) for z in (110.0, 119.0))]
    )
    to_geo = pyproj.Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    to_crs = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    placed = []
    for node, m in _with_transforms(tiles["root"], np.eye(4)):
        if not node.get("content", {}).get("uri", "").endswith("_lod2.glb"):
            continue
        yup = mesh(*read_glb(out / "buildings" / node["content"]["uri"]))[0]
        enu = np.column_stack([yup[:, 0], -yup[:, 2], yup[:, 1]])
        ecef = enu @ m[:3, :3].T + m[:3, 3]
        lon, lat, h = to_geo.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
        x, y = to_crs.transform(lon, lat)
        got = np.column_stack([x, y, h])
        d = np.min(np.linalg.norm(got[:, None, :] - expected[None, :, :], axis=2), axis=1)
        assert d.max() <= CM, d.max()
        placed.append(got)
    # and every corner of every shell is there (compression shares a corner between its triangles)
    got = np.vstack(placed)
    corners = sh.corners.reshape(-1, 3)
    assert np.min(np.linalg.norm(corners[:, None, :] - got[None, :, :], axis=2), axis=1).max() <= CM


def _with_transforms(node, parent):
    """Each tile with the transform from its content's frame to ECEF (its own after its parents')."""
    m = parent @ np.asarray(node["transform"]).reshape(4, 4).T if "transform" in node else parent
    yield node, m
    for child in node.get("children", []):
        yield from _with_transforms(child, m)


def test_ifc_buildings_without_meshes_are_lod1_and_the_cli_says_so(twin, tmp_path):
    old = twin.copy()
    old.meshes = {}  # as a twin saved before cimtwin kept meshes
    old.save(tmp_path / "old")
    res = _cli("export", tmp_path / "old", "--format", "cityjson", "--out", tmp_path / "cj")
    assert res.exit_code == 0, res.output
    assert "3 IFC buildings have no mesh" in res.output and "LoD2 shells" not in res.output
    doc = json.loads((tmp_path / "cj" / "city.city.json").read_text())
    assert all(g["lod"] == "1" for o in doc["CityObjects"].values() for g in o.get("geometry", []))
    res = _cli("export", tmp_path / "old", "--format", "gltf", "--out", tmp_path / "gl")
    assert res.exit_code == 0 and "no mesh" in res.output


def test_a_reimport_moves_the_mesh_with_the_building(twin, shared_data):
    tw = twin.copy()
    name, e, n, h = PLACED[1]
    tw.add_ifc(shared_data / "ifc" / name, origin=(e + 20.0, n, h), cache=False, warn=False)
    row = tw.buildings[tw.buildings["file"] == name].iloc[0]
    moved = tw.meshes[row["id"]]
    assert moved is not twin.meshes[row["id"]] and set(tw.meshes) == set(twin.meshes)
    assert np.allclose(moved.verts[:, 0], twin.meshes[row["id"]].verts[:, 0] + 20.0)
    assert shells(tw.buildings, tw.meshes).has.sum() == 3


def test_an_ifc_building_in_two_parts_keeps_its_shell_on_the_building(twin, tmp_path):
    """A footprint in two parts: LoD1 in two BuildingParts, the LoD2 shell on the Building; valid, read back."""
    from twin.exchange.cityjson import write_cityjson

    b = twin.buildings.copy()
    i = int(np.flatnonzero(b["file"].astype(str) == FZK)[0])
    whole = b.geometry.iloc[i]
    x0, y0, x1, y1 = whole.bounds
    cut = shapely.box(x0 - 1, (y0 + y1) / 2 - 0.5, x1 + 1, (y0 + y1) / 2 + 0.5)
    b.loc[i, "geometry"] = shapely.difference(whole, cut)
    assert b.geometry.iloc[i].geom_type == "MultiPolygon"
    path = tmp_path / "two.city.json"
    assert write_cityjson(b, path, meshes=twin.meshes)["lod2"] == 3
    validate_cityjson(path)
    obj = json.loads(path.read_text())["CityObjects"][b["id"].iloc[i]]
    assert len(obj["children"]) == 2 and [g["lod"] for g in obj["geometry"]] == ["2"]
    back = read_cityjson(path).set_index("id").loc[b["id"].iloc[i]]
    assert back.geometry.hausdorff_distance(b.geometry.iloc[i]) <= CM
    assert abs(back["height"] - b["height"].iloc[i]) <= 0.002
