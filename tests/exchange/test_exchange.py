"""CIM exchange: the sample city and a flood on it out to CityJSON, 3D Tiles and glTF, checked by the
real validators; CityJSON read back in through `twin ingest`."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import threading
import tomllib
import urllib.parse
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from _glb_read import features, mesh, read_glb
from _validators import NODE_TOOLS, require_node_tools, validate_cityjson, validate_glb, validate_tileset
from click.testing import CliRunner
from PIL import Image

from _chromium import require_chromium
from ingest.cityjson import read_cityjson
from tools.browser import open_page
from twin import sample
from twin.cli.app import main
from twin.errors import CRSError, InputDataError
from twin.model.build import from_files
from twin.model.twin import Twin
from twin.sims.runs import load_result, run


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """The 600 m sample city with its two IFC buildings, saved, and a 20-minute flood on it."""
    root = tmp_path_factory.mktemp("exchange")
    sc = sample.city(root / "city", seed=0, size_m=600.0, cell=4.0)
    tw = from_files(sc.dem, buildings=f"{sc.layers}::buildings")
    tw.add_ifc(list(sc.ifc), warn=False)
    tw.save(root / "twin")
    tw = Twin.load(root / "twin")
    scenario = tomllib.loads(sc.scenario.read_text())
    scenario.update(duration="20min", output_interval="10min", drainage={"capacity": 20.0}, name="exchange")
    run(tw, scenario, out=root / "flood", progress=False, scene=False)
    return {"root": root, "sample": sc, "twin": tw, "twin_dir": root / "twin", "flood": root / "flood"}


# --- CityJSON out and back in ---------------------------------------------------------------------------


def test_sample_city_round_trips_through_cityjson(city, tmp_path):
    out = tmp_path / "cj"
    res = _cli("export", city["twin_dir"], "--format", "cityjson", "--out", out)
    assert res.exit_code == 0, res.output
    path = out / "city.city.json"
    validate_cityjson(path)
    doc = json.loads(path.read_text())
    assert doc["metadata"]["referenceSystem"].endswith("/EPSG/0/4547")
    back = read_cityjson(path).set_index("id")
    orig = city["twin"].buildings.set_index("id")
    assert sorted(back.index) == sorted(orig.index)
    back = back.loc[orig.index]
    # footprints within 1 cm (vertices sit on a 1 mm grid), heights and bases within 1 mm
    hd = [a.hausdorff_distance(b) for a, b in zip(back.geometry.values, orig.geometry.values)]
    assert max(hd) <= 0.01
    assert np.abs(back["height"].to_numpy() - orig["height"].to_numpy()).max() <= 0.002
    assert np.abs(back["base"].to_numpy() - orig["base"].to_numpy()).max() <= 0.001
    # IFC buildings keep their GlobalId, file and storeys; semantic surfaces are named
    ifc = orig.index[orig["source"] == "ifc"]
    assert len(ifc) == 2
    obj = doc["CityObjects"][ifc[0]]
    assert obj["attributes"]["ifc_guid"] == orig.loc[ifc[0], "ifc_guid"]
    assert obj["attributes"]["ifc_file"].endswith(".ifc")
    assert back.loc[ifc[0], "storeys"] == orig.loc[ifc[0], "storeys"]
    sem = obj["geometry"][0]["semantics"]
    assert [s["type"] for s in sem["surfaces"]] == ["GroundSurface", "RoofSurface", "WallSurface"]
    # and their LoD2 shells beside the LoD1 solids (tests/exchange/test_lod2.py checks them on real models)
    assert [(g["type"], g["lod"]) for g in obj["geometry"]] == [("Solid", "1"), ("MultiSurface", "2")]
    assert json.loads((out / "export.json").read_text())["buildings"]["lod2"] == 2


def test_cityjsonseq_of_a_flood_carries_the_exposure(city, tmp_path):
    out = tmp_path / "seq"
    res = _cli("export", city["flood"], "--format", "cityjsonseq", "--out", out)
    assert res.exit_code == 0, res.output
    path = out / "city.city.jsonl"
    validate_cityjson(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    attrs = [next(iter(f["CityObjects"].values()))["attributes"] for f in lines[1:]]
    assert all("flooded" in a for a in attrs)
    assert any(a["flooded"] for a in attrs) and any("max_depth" in a for a in attrs)
    back = read_cityjson(path)
    assert len(back) == len(city["twin"].buildings)


def test_ingest_reads_cityjson_buildings_in_another_crs(city, tmp_path):
    """A CityJSON city in EPSG:4547 ingested into a UTM twin: reprojected like any building layer."""
    cj = tmp_path / "cj"
    assert _cli("export", city["twin_dir"], "--format", "cityjson", "--out", cj).exit_code == 0
    out = tmp_path / "t"
    res = _cli(
        "ingest", "--dem", city["sample"].dem, "--buildings", cj / "city.city.json", "--crs", "EPSG:32649", "--out", out
    )
    assert res.exit_code == 0, res.output
    tw = Twin.load(out)
    assert tw.crs.to_epsg() == 32649
    got = tw.buildings.set_index("id")
    orig = city["twin"].buildings.set_index("id")
    assert set(got.index) == set(orig.index)
    area = got.loc[orig.index].geometry.area.to_numpy() / orig.geometry.area.to_numpy()
    assert np.allclose(area, 1.0, atol=2e-3)  # the two projections' scale factors differ by < 0.1 %
    assert np.allclose(got.loc[orig.index, "height"], orig["height"], atol=0.002)
    assert (tw.meta["ingest_report"]["buildings"]["reprojected"]).endswith("EPSG:32649)")


def test_cityjson_reader_names_what_is_wrong(tmp_path):
    p = tmp_path / "x.city.json"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputDataError, match="not CityJSON"):
        read_cityjson(p)
    p.write_text(json.dumps({"type": "CityJSON", "version": "2.0", "CityObjects": {}, "vertices": []}))
    with pytest.raises(InputDataError, match="no Building"):
        read_cityjson(p)
    doc = {
        "type": "CityJSON",
        "version": "2.0",
        "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/999999"},
        "CityObjects": {},
        "vertices": [],
    }
    p.write_text(json.dumps(doc))
    with pytest.raises(CRSError, match="referenceSystem"):
        read_cityjson(p)


# --- 3D Tiles and glTF --------------------------------------------------------------------------------


def test_flood_to_3d_tiles_validates_and_sits_on_the_globe(city, tmp_path):
    out = tmp_path / "tiles"
    res = _cli("export", city["flood"], "--format", "3dtiles", "--out", out)
    assert res.exit_code == 0, res.output
    root = validate_tileset(out / "tileset.json")
    assert root["asset"]["version"] == "1.1"
    assert [c["content"]["uri"] for c in root["root"]["children"]] == [
        "buildings/tileset.json",
        "terrain/tileset.json",
        "water/tileset.json",
    ]
    # the water surface at each snapshot: its own tileset, listed in water_frames/frames.json
    frames = json.loads((out / "water_frames" / "frames.json").read_text())
    assert frames and all(f["time_s"] % 600 == 0 for f in frames)
    glbs = []
    for layer in ("buildings", "terrain", "water", *(str(Path(f["tileset"]).parent) for f in frames)):
        validate_tileset(out / layer / "tileset.json")
        glbs += sorted((out / layer / "tiles").glob("*.glb"))
    validate_glb(glbs)
    # the terrain is Draco-compressed too (a heightfield of the twin's grid), the coloured water 16-bit
    report = json.loads((out / "export.json").read_text())
    terrain, t_blob = read_glb(out / "terrain" / "tiles" / "0_0.glb")
    assert terrain["extensionsRequired"] == ["KHR_draco_mesh_compression"]
    assert len(mesh(terrain, t_blob)[0]) >= report["terrain"]["vertices"]
    assert read_glb(out / "water" / "tiles" / "0_0.glb")[0]["extensionsRequired"] == ["KHR_mesh_quantization"]

    # every building is one feature with its attributes, flood exposure included
    tiles = json.loads((out / "buildings" / "tileset.json").read_text())
    leaves = _leaves(tiles["root"])
    total = 0
    for leaf, _ in leaves:
        gltf, _ = read_glb(out / "buildings" / leaf["content"]["uri"])
        meta = gltf["extensions"]["EXT_structural_metadata"]
        props = meta["schema"]["classes"]["building"]["properties"]
        assert {"id", "height", "base", "max_depth", "arrival_time", "flooded", "source"} <= set(props)
        total += meta["propertyTables"][0]["count"]
        assert "KHR_draco_mesh_compression" in gltf["extensionsRequired"]
    assert total == len(city["twin"].buildings)
    assert json.loads((out / "export.json").read_text())["buildings"]["lod2"] == 2  # the IFC buildings' shells

    # placement: the LoD1 blocks' vertices through their transforms land within 1 cm of the footprint corners
    leaf, m = next(n for n in _leaves(tiles["root"], contents=True) if not n[0]["content"]["uri"].endswith("_lod2.glb"))
    gltf, blob = read_glb(out / "buildings" / leaf["content"]["uri"])
    yup, _, _ = mesh(gltf, blob)
    enu = np.column_stack([yup[:, 0], -yup[:, 2], yup[:, 1]])
    ecef = enu @ m[:3, :3].T + m[:3, 3]
    to_proj = pyproj.Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    lon, lat, h = to_proj.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True).transform(lon, lat)
    buildings = load_result(city["flood"]).buildings  # what the export read
    corners = shapely.get_coordinates(buildings.boundary)
    d = np.min(np.hypot(x[:, None] - corners[None, :, 0], y[:, None] - corners[None, :, 1]), axis=1)
    assert d.max() <= 0.01, (
        leaf["content"],
        gltf["nodes"][0],
        len(d),
        int(np.argmax(d)),
        x[np.argmax(d)],
        y[np.argmax(d)],
    )
    # and the heights are the buildings' bases and roofs
    levels = np.concatenate([buildings["base"], buildings["base"] + buildings["height"]])
    assert np.min(np.abs(h[:, None] - levels[None, :]), axis=1).max() <= 0.01


def test_gltf_export_validates(city, tmp_path):
    out = tmp_path / "gl"
    res = _cli("export", city["twin_dir"], "--format", "gltf", "--out", out)
    assert res.exit_code == 0, res.output
    validate_glb([out / "buildings.glb"])
    gltf, _ = read_glb(out / "buildings.glb")
    assert gltf["asset"]["extras"]["crs"] == "EPSG:4547"
    assert gltf["extensions"]["EXT_structural_metadata"]["propertyTables"][0]["count"] == len(city["twin"].buildings)


def test_export_no_compress_writes_the_same_buildings_plain(city, tmp_path):
    """--no-compress: a plain 16-bit GLB (no Draco) with the same buildings, attributes and corners."""
    packed, plain = tmp_path / "packed", tmp_path / "plain"
    assert _cli("export", city["twin_dir"], "--format", "gltf", "--out", packed).exit_code == 0
    res = _cli("export", city["twin_dir"], "--format", "gltf", "--out", plain, "--no-compress")
    assert res.exit_code == 0, res.output
    validate_glb([plain / "buildings.glb"])
    a, a_blob = read_glb(packed / "buildings.glb")
    b, b_blob = read_glb(plain / "buildings.glb")
    assert "KHR_draco_mesh_compression" in a["extensionsRequired"]
    assert b["extensionsRequired"] == ["KHR_mesh_quantization"]
    assert features(a, a_blob) == features(b, b_blob)
    pa, _, fa = mesh(a, a_blob)
    pb, _, fb = mesh(b, b_blob)
    for f in np.unique(fb)[:50]:  # each compressed vertex within 1 cm of a plain one of the same building
        d = np.abs(pa[fa == f][:, None, :] - pb[fb == f][None, :, :]).max(axis=2)
        assert d.min(axis=1).max() <= 0.01
    assert (plain / "buildings.glb").stat().st_size > 2 * (packed / "buildings.glb").stat().st_size


def test_export_keeps_the_out_folder_rules(city, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    res = _cli("export", city["twin_dir"], "--format", "cityjson", "--out", out)
    assert res.exit_code == 2
    assert "holds files cimtwin did" in res.output
    assert (out / "notes.txt").read_text() == "mine"
    # a folder an export wrote is replaced by the next export
    again = tmp_path / "again"
    assert _cli("export", city["twin_dir"], "--format", "gltf", "--out", again).exit_code == 0
    assert _cli("export", city["twin_dir"], "--format", "cityjson", "--out", again).exit_code == 0
    assert (again / "city.city.json").is_file() and not (again / "buildings.glb").exists()


def _leaves(node, above=None, *, contents=False):
    """The tileset's leaves (``contents``: every node with content), each with its transform to ECEF (a
    child's applies on top of its parent's)."""
    m = np.eye(4) if above is None else above
    if "transform" in node:
        m = m @ np.asarray(node["transform"]).reshape(4, 4).T
    here = [(node, m)] if "children" not in node or (contents and "content" in node) else []
    return here + [leaf for child in node.get("children", []) for leaf in _leaves(child, m, contents=contents)]


# --- CesiumJS loads the export in headless Chromium -----------------------------------------------------


@pytest.mark.chromium
def test_cesium_draws_the_flood_tileset(city, tmp_path):
    """CesiumJS (npm ``cesium``, served from tools/node by a server on 127.0.0.1, nothing else reachable)
    loads the 3D Tiles export of the flood and draws the buildings coloured by the depth at their walls."""
    require_node_tools()
    require_chromium()
    cesium = NODE_TOOLS / "node_modules" / "cesium" / "Build" / "Cesium"
    out = tmp_path / "tiles"
    assert _cli("export", city["flood"], "--format", "3dtiles", "--out", out).exit_code == 0
    routes = {"/cesium/": cesium, "/tiles/": out, "/": NODE_TOOLS}
    with _serve(routes) as port:
        png = tmp_path / "cesium.png"
        report = open_page(f"http://127.0.0.1:{port}/cesium_view.html", png, width=1000, height=700, timeout_s=240)
    assert report.ready, report.error
    assert all(r.startswith(f"http://127.0.0.1:{port}/") for r in report.requests), report.requests[:5]
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    # buildings in the page's depth colours (cream to dark red, unlit), the water in blue, the terrain grey-green
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    wet_walls = (r > g) & (g > b) & (r - b > 60)
    deeper = wet_walls & (r - g > 60)  # 15 cm or more: orange and red
    assert wet_walls.sum() > 5000, wet_walls.sum()
    assert deeper.sum() > 50, deeper.sum()
    assert ((b > r + 40) & (b > 90)).sum() > 2000
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    if os.environ.get("CIMTWIN_UPDATE_DOCS"):
        SHOT.write_bytes(png.read_bytes())


SHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "cesium_flood.png"


@contextlib.contextmanager
def _serve(routes):
    """A threaded HTTP server on 127.0.0.1 serving folders under URL prefixes; yields its port."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path):
            path = urllib.parse.unquote(path.split("?", 1)[0])
            for prefix, folder in routes.items():
                if path.startswith(prefix):
                    return str(Path(folder) / path[len(prefix) :])
            return str(Path(routes["/"]) / "missing")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_courtyards_and_multi_part_footprints_survive_both_formats(tmp_path):
    """A footprint with a courtyard and one in two parts: a Solid with a courtyard ring and a Building of two
    BuildingParts in CityJSON (valid, read back with the same area), and outward walls in a valid GLB."""
    import geopandas as gpd

    from twin.exchange.cityjson import write_cityjson, write_cityjsonseq
    from twin.exchange.gltf import write_glb

    x0, y0 = 423100.0, 2558100.0
    court = shapely.Polygon(
        [(x0, y0), (x0 + 30, y0), (x0 + 30, y0 + 30), (x0, y0 + 30)],
        [[(x0 + 10, y0 + 10), (x0 + 10, y0 + 20), (x0 + 20, y0 + 20), (x0 + 20, y0 + 10)]],
    )
    parts = shapely.MultiPolygon(
        [shapely.box(x0 + 50, y0, x0 + 60, y0 + 10), shapely.box(x0 + 70, y0, x0 + 80, y0 + 12)]
    )
    gdf = gpd.GeoDataFrame(
        {"id": ["court", "pair"], "base": [4.0, 5.5], "height": [12.0, 6.0], "source": ["gis", "gis"]},
        geometry=[court, parts],
        crs="EPSG:4547",
    )
    path = tmp_path / "c.city.json"
    write_cityjson(gdf, path)
    validate_cityjson(path)
    seq = tmp_path / "c.city.jsonl"
    write_cityjsonseq(gdf, seq)
    validate_cityjson(seq)
    assert len(read_cityjson(seq)) == 2
    doc = json.loads(path.read_text())
    assert doc["CityObjects"]["court"]["geometry"][0]["type"] == "Solid"
    assert len(doc["CityObjects"]["court"]["geometry"][0]["boundaries"][0][0]) == 2  # ground: exterior + courtyard
    assert doc["CityObjects"]["pair"]["children"] == ["pair-part1", "pair-part2"]
    assert doc["CityObjects"]["pair-part2"]["geometry"][0]["type"] == "Solid"
    back = read_cityjson(path).set_index("id")
    assert back.loc["court"].geometry.area == pytest.approx(800.0, abs=0.05)
    assert back.loc["pair"].geometry.area == pytest.approx(220.0, abs=0.05)
    assert back.loc["pair", "base"] == pytest.approx(5.5) and back.loc["pair", "height"] == pytest.approx(6.0)
    glb = tmp_path / "c.glb"
    write_glb(gdf, glb)
    validate_glb([glb])


def test_tiles_keep_full_precision_after_cjio_patched_json(monkeypatch):
    """cjio replaces json.encoder.float for the whole process (six decimals: a region's radians to 6 m, a
    GLB's dequantization scale to 2.7 cm at the tile's edge); the exchange writers are immune."""
    import json.encoder

    from cjio.floatEncoder import FloatEncoder

    from twin.exchange import _json

    monkeypatch.setattr(json.encoder, "float", FloatEncoder, raising=False)
    assert json.dumps(0.004549959963664317) == "0.004550"  # what cjio does to everyone
    assert _json.dumps(0.004549959963664317) == "0.004549959963664317"
    assert json.encoder.float is FloatEncoder  # left as found
