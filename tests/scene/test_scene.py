"""Scenes: the offline page (payload, no external URLs, drawn in headless Chromium without
network), the pydeck deck for notebooks (and its data-URI image trap), and the rasters."""

from __future__ import annotations

import base64
import html as html_lib
import io
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck
import pytest
import shapely
from affine import Affine
from PIL import Image
from pyproj import Transformer

from _chromium import require_chromium, shoot
from tools.browser import screenshot
from twin.errors import InputDataError
from twin.model.twin import Twin
from twin.scene.city import QUANTUM_DEG, Scene, city_scene
from twin.scene.page import instrument_pydeck_html
from twin.scene.payload import pack, unpack
from twin.scene.query import water_mask
from twin.scene.raster import block_reduce, classify, depth_classes, hillshade, png_classes
from twin.sims.flood.exposure import building_exposure, hazard_class
from twin.sims.flood.run import FloodResult

CRS = "EPSG:4547"
X0, Y0, CELL, NY, NX = 424000.0, 2559600.0, 2.0, 120, 160
MAP_X = 262  # screenshots: the map left of this is covered by the legend panel


# ---------------------------------------------------------------------------------------
# a small city: 12 boxes, a courtyard block, a two-part building, an IFC house, a river,
# a lake, and a flood that deepens eastwards from 0 to 2.5 m
# ---------------------------------------------------------------------------------------
def _city() -> Twin:
    transform = Affine(CELL, 0.0, X0, 0.0, -CELL, Y0)
    rows, cols = np.mgrid[0:NY, 0:NX]
    terrain = 8.0 + 0.01 * rows + 1.5 * np.sin(cols / 13.0) * np.cos(rows / 17.0)
    geoms, ids, heights, source, files = [], [], [], [], []
    for i in range(3):
        for j in range(4):
            x, y = X0 + 20 + j * 75, Y0 - 20 - i * 60
            geoms.append(shapely.box(x, y - 30, x + 40, y))
            ids.append(f"B{i}{j}")
            heights.append(8.0 + 6 * i + 2 * j)
            source.append("gis")
            files.append(None)
    geoms[5] = shapely.box(X0 + 95, Y0 - 110, X0 + 135, Y0 - 80).difference(
        shapely.box(X0 + 105, Y0 - 102, X0 + 125, Y0 - 88)
    )  # courtyard
    geoms[10] = shapely.MultiPolygon(
        [shapely.box(X0 + 170, Y0 - 170, X0 + 185, Y0 - 140), shapely.box(X0 + 195, Y0 - 170, X0 + 210, Y0 - 140)]
    )
    source[7], files[7] = "ifc", "house.ifc"
    buildings = gpd.GeoDataFrame(
        {
            "id": ids,
            "base": 8.0,
            "height": heights,
            "source": source,
            "file": files,
            "name": [f"block {k}" for k in range(12)],
        },
        geometry=geoms,
        crs=CRS,
    )
    rivers = gpd.GeoDataFrame(
        {"name": ["Canal"], "width": [6.0]},
        geometry=[shapely.LineString([(X0, Y0 - 225), (X0 + 320, Y0 - 215)])],
        crs=CRS,
    )
    lakes = gpd.GeoDataFrame(
        {"name": ["Pond"], "level": [7.5]}, geometry=[shapely.Point(X0 + 40, Y0 - 200).buffer(12)], crs=CRS
    )
    return Twin(CRS, transform, terrain, buildings=buildings, rivers=rivers, lakes=lakes)


def _flood(twin: Twin, n_frames: int = 3) -> FloodResult:
    cols = np.broadcast_to(np.arange(NX), (NY, NX))
    depth = np.clip((cols - 70) / 36.0, 0.0, 2.5).astype(np.float32)
    speed = np.where(depth > 0, 0.8, 0.0).astype(np.float32)
    hr = (depth * (speed + 0.5)).astype(np.float32)
    arrival = np.where(depth > 0.05, 3600.0 - 1000.0 * depth, np.nan)
    frames = np.stack([depth * (k + 1) / n_frames for k in range(n_frames)]).astype(np.float32)
    times = 600.0 * (np.arange(n_frames) + 1)
    exposed = building_exposure(
        twin.buildings, twin.transform, twin.shape, depth, arrival, ground=twin.terrain, flooded_depth=0.1
    )
    return FloodResult(
        crs=twin.crs,
        transform=twin.transform,
        max_depth=depth,
        max_speed=speed,
        arrival_time=arrival,
        duration=np.where(depth > 0, 600.0, 0.0),
        hazard=hr,
        hazard_class=hazard_class(hr, depth, 0.05),
        depth_frames=frames,
        frame_times=times,
        gauges=pd.DataFrame(),
        buildings=exposed,
        summary={},
        scenario={"name": "test"},
        twin=twin,
    )


@pytest.fixture(scope="module")
def city() -> Twin:
    return _city()


@pytest.fixture(scope="module")
def flood(city) -> FloodResult:
    return _flood(city)


@pytest.fixture(scope="module")
def scene(flood) -> Scene:
    return flood.scene()


@pytest.fixture(scope="module")
def page(scene) -> str:
    return scene.html(title="Test <city>")


def _blob(page: str, element_id: str) -> bytes:
    found = re.search(rf'<script type="application/octet-stream" id="{element_id}">([^<]*)</script>', page)
    assert found, f"no {element_id} element in the page"
    return base64.b64decode(found.group(1))


def _config(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="scene-config">([^<]*)</script>', page)
    return json.loads(found.group(1))


# Patterns a browser would fetch: script/img/iframe src, link href, CSS url() and @import.
_FETCHED = [
    re.compile(r"<(script|img|iframe|source|video|audio|embed)\b[^>]*\ssrc\s*=\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"<link\b[^>]*\shref\s*=\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"url\(\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"@import\s+[\"']?(url\()?\s*[\"']?(https?:)?//", re.I),
]


def _external_refs(text: str) -> list[str]:
    return [m.group(0) for pattern in _FETCHED for m in pattern.finditer(text)]


# ---------------------------------------------------------------------------------------
# offline page: structure and payload
# ---------------------------------------------------------------------------------------
def test_page_has_no_external_urls(page, scene, city):
    assert _external_refs(page) == []
    # The patterns do catch what pydeck's own template links (so the check can fail).
    pydeck_page = scene.deck.to_html(as_string=True, offline=True, notebook_display=False)
    assert len(_external_refs(pydeck_page)) >= 3
    # The deck.gl bundle travels inside the page; nothing is left for a CDN.
    assert len(_blob(page, "deck-gl")) > 500_000
    assert "cdn." not in page and "unpkg.com/@deck" not in page
    # A basemap is opt-in: its template then appears in the scene config, nowhere else.
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    with_basemap = city_scene(city, basemap_url=url).html()
    assert _config(with_basemap)["basemap"] == url
    assert _config(page)["basemap"] is None


def test_page_title_is_escaped(page):
    assert "<title>Test &lt;city&gt;</title>" in page
    assert "Test <city>" not in page


def test_payload_round_trips_buildings_to_one_centimetre(page, city, flood):
    config = _config(page)
    arrays, meta = unpack(_blob(page, "payload"))
    b = meta["buildings"]
    assert b["n"] == 12 and b["ids"] == list(city.buildings["id"])
    assert b["files"][7] == "house.ifc" and b["names"][0] == "block 0"
    # parts per building: the two-part building has 2; rings per part: the courtyard has 2
    assert arrays["b_parts"].tolist() == [1] * 10 + [2, 1]
    assert arrays["b_rings"][5] == 2 and arrays["b_rings"].sum() == 14
    # vertices: delta-decoded, quantised offsets from the origin, against pyproj directly
    lon = config["origin"][0] + np.cumsum(arrays["b_dx"].astype(np.int64)) * QUANTUM_DEG
    lat = config["origin"][1] + np.cumsum(arrays["b_dy"].astype(np.int64)) * QUANTUM_DEG
    oriented = shapely.orient_polygons(np.asarray(city.buildings.geometry.values), exterior_cw=True)
    xy = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(oriented)))
    ref_lon, ref_lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    # rounding to the 1e-7 degree quantum errs by at most half of it (plus float noise)
    assert np.max(np.abs(lon - ref_lon)) <= 0.5e-7 + 1e-12
    assert np.max(np.abs(lat - ref_lat)) <= 0.5e-7 + 1e-12
    assert len(lon) == arrays["b_verts"].sum()
    # heights in decimetres, bases in centimetres, depths in centimetres, arrival in seconds
    np.testing.assert_array_equal(arrays["b_height"], np.rint(city.buildings["height"] * 10))
    np.testing.assert_array_equal(arrays["b_base"], 800)
    depth = flood.buildings["max_depth"].to_numpy()
    np.testing.assert_array_equal(arrays["b_depth"], np.rint(depth * 100))
    wet = np.isfinite(flood.buildings["arrival_time"].to_numpy())
    assert wet.any() and (~wet).any()
    np.testing.assert_array_equal(arrays["b_arrival"][wet], np.rint(flood.buildings["arrival_time"][wet]))
    assert (arrays["b_arrival"][~wet] == 0xFFFFFFFF).all()
    assert arrays["b_source"].tolist() == [0] * 7 + [1] + [0] * 4
    # exposure classes: 0 dry below depth_min, rising with depth
    assert (arrays["b_class"][depth < 0.05] == 0).all()
    assert (np.diff(arrays["b_class"][np.argsort(depth)].astype(int)) >= 0).all()


def test_pack_unpack_round_trip():
    arrays = {
        "i": np.array([1, -2, 2**31 - 1], np.int32),
        "f": np.array([1.5, np.nan], np.float32),
        "u": np.arange(5, dtype=np.uint8),
        "empty": np.zeros(0, np.uint16),
    }
    out, meta = unpack(pack(arrays, {"k": ["é", 1]}))
    assert meta == {"k": ["é", 1]}
    for name, a in arrays.items():
        np.testing.assert_array_equal(out[name], a)
        assert out[name].dtype == a.dtype
    with pytest.raises(TypeError):
        pack({"bad": np.zeros(2, np.int64)})


def test_rasters_and_frames_in_page(page, flood, city):
    config = _config(page)
    assert config["images"] == ["terrain", "depth", "hazard", "arrival", "speed"]
    depth_png = Image.open(io.BytesIO(_blob(page, "img-depth")))
    assert depth_png.size == (NX, NY) and depth_png.mode == "P"
    index = np.asarray(depth_png)
    # column 70 + 36 * d has depth d: dry west of 0.05 m is transparent index 0; the canal and the
    # pond are permanent water, left to the river and lake layers (not drawn as flood)
    water = water_mask(city)
    assert water[:, -1].any() and (index[water] == 0).all()
    assert (index[:, :72] == 0).all() and (index[~water[:, -1], -1] == len(depth_classes(0.05))).all()
    assert config["frames"] == [600.0, 1200.0, 1800.0]
    for k in range(3):
        Image.open(io.BytesIO(_blob(page, f"frame-{k}"))).verify()
    # the bitmap quad: bottom-left, top-left, top-right, bottom-right, in lon/lat
    (bl, tl, tr, br) = config["bounds"]
    assert tl[1] > bl[1] and tr[0] > tl[0] and br[1] < tr[1]


def test_frames_are_capped_and_keep_the_last(city):
    result = _flood(city, n_frames=20)
    scene = city_scene(city, result, max_frames=5)
    times = _config(scene.html())["frames"]
    assert len(times) == 5 and times[0] == 600.0 and times[-1] == 12000.0


def test_scene_without_result_or_layers(city):
    bare = Twin(CRS, city.transform, city.terrain)
    page = city_scene(bare).html()
    assert _config(page)["images"] == ["terrain"]
    arrays, meta = unpack(_blob(page, "payload"))
    assert "buildings" not in meta and arrays == {}
    plain = city_scene(city)
    arrays, meta = unpack(_blob(plain.html(), "payload"))
    assert meta["buildings"]["exposure"] is False
    assert arrays["b_class"].tolist() == arrays["b_source"].tolist()  # grey GIS, lavender IFC


def test_buildings_without_area_are_left_out(city):
    extra = gpd.GeoDataFrame(
        {"id": ["P1", "E1"], "base": 8.0, "height": 5.0, "source": "gis"},
        geometry=[shapely.Point(X0 + 5, Y0 - 5), shapely.Polygon()],
        crs=CRS,
    )
    twin = Twin(CRS, city.transform, city.terrain, buildings=pd.concat([city.buildings, extra], ignore_index=True))
    arrays, meta = unpack(_blob(city_scene(twin).html(), "payload"))
    assert meta["buildings"]["ids"] == list(city.buildings["id"])
    assert len(arrays["b_height"]) == len(city.buildings)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depth_min": 0.0}, "depth_min"),
        ({"depth_min": float("nan")}, "depth_min"),
        ({"max_frames": 0}, "max_frames"),
        ({"basemap_url": "https://tiles.example.org/tile.png"}, r"\{z\}"),
    ],
)
def test_bad_arguments_say_how_to_fix(city, kwargs, match):
    with pytest.raises(InputDataError, match=match):
        city_scene(city, **kwargs)


def test_result_on_another_grid_is_refused(city, flood):
    other = _flood(city)
    other.max_depth = other.max_depth[:-1]
    with pytest.raises(InputDataError, match="pass the result computed on this twin"):
        city_scene(city, other)


def test_to_html_is_atomic_and_returns_path(scene, tmp_path):
    out = scene.to_html(tmp_path / "sub" / "scene.html")
    assert out == tmp_path / "sub" / "scene.html"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["scene.html"]  # no temporary left


# ---------------------------------------------------------------------------------------
# notebook deck
# ---------------------------------------------------------------------------------------
def test_notebook_deck_and_repr_html(scene, flood):
    deck = scene.deck
    assert isinstance(deck, pydeck.Deck)
    assert deck is scene.deck  # built once
    spec = json.loads(deck.to_json())
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert set(layers) == {"terrain", "lakes", "rivers", "depth", "hazard", "buildings", "ifc-outline"}
    assert layers["hazard"]["visible"] is False and layers["depth"]["visible"] is True
    records = layers["buildings"]["data"]
    assert len(records) == 13  # 12 buildings, one of them in two parts
    by_id = {r["id"]: r for r in records}
    deepest = flood.buildings.loc[flood.buildings["max_depth"].idxmax()]
    assert by_id[deepest["id"]]["max_depth"] == f"{deepest['max_depth']:.2f}"
    assert by_id["B13"]["source"] == "ifc" and by_id["B13"]["file"] == "house.ifc"
    assert len(by_id["B11"]["polygon"]) == 2  # courtyard: exterior and hole
    assert deck._tooltip["html"] == "{tooltip}"  # each record its own text (buildings, rivers, lakes, sewers)
    assert by_id[deepest["id"]]["tooltip"].startswith(f"<b>{deepest['id']}</b>")
    assert f"max depth {deepest['max_depth']:.2f} m<br/>water arrives after " in by_id[deepest["id"]]["tooltip"]
    assert "source ifc house.ifc" in by_id["B13"]["tooltip"]
    assert layers["rivers"]["data"][0]["tooltip"] == f"<b>{layers['rivers']['data'][0]['name']}</b>"
    # plain strings for units, not "@@=" expressions (the same pydeck string trap as images)
    assert layers["rivers"]["widthUnits"] == "meters"
    assert layers["ifc-outline"]["widthUnits"] == "pixels"

    inline = scene._repr_html_()
    assert inline.startswith("<iframe srcdoc=")
    inner = html_lib.unescape(re.search(r'srcdoc="([^"]*)"', inline).group(1))
    assert inner.startswith("<!DOCTYPE html>") and _external_refs(inner) == []


def test_bitmap_data_uri_survives_pydeck(scene):
    """pydeck 0.9 reads 'data:image/...' strings as expressions ('@@=data:...'): the page
    would go blank. The deck's bitmaps must carry the data URI verbatim."""
    spec = json.loads(scene.deck.to_json())
    bitmaps = [layer for layer in spec["layers"] if layer["@@type"] == "BitmapLayer"]
    assert [b["id"] for b in bitmaps] == ["terrain", "depth", "hazard"]
    for layer in bitmaps:
        assert layer["image"].startswith("data:image/png;base64,"), layer["image"][:30]
        png = base64.b64decode(layer["image"].split(",", 1)[1])
        assert Image.open(io.BytesIO(png)).size == (NX, NY)


# ---------------------------------------------------------------------------------------
# rasters
# ---------------------------------------------------------------------------------------
def test_hillshade_lights_slopes_facing_the_sun():
    x = np.tile(np.arange(50.0), (40, 1))
    flat = hillshade(np.zeros((40, 50)), 2.0, 2.0)
    rising_east = hillshade(x, 2.0, 2.0)  # slope 0.5, faces west: towards the north-west sun
    rising_west = hillshade(-x, 2.0, 2.0)  # faces east, away from it
    sun = np.array([-np.sqrt(0.5) * np.sqrt(0.5), np.sqrt(0.5) * np.sqrt(0.5), np.sqrt(0.5)])

    def lambert(normal):  # the documented brightness: 60 + 153 * cos(incidence) / sin(altitude)
        n = np.asarray(normal) / np.linalg.norm(normal)
        return 60 + 180 * 0.85 * max(n @ sun, 0) / sun[2]

    # np.gradient is exact on planes, so the images are uniform; 0.5 is the rounding.
    assert np.ptp(flat) == 0 and np.ptp(rising_east) == 0 and np.ptp(rising_west) == 0
    assert abs(int(flat[0, 0]) - lambert([0, 0, 1])) <= 0.5
    assert abs(int(rising_east[0, 0]) - lambert([-0.5, 0, 1])) <= 0.5
    assert abs(int(rising_west[0, 0]) - lambert([0.5, 0, 1])) <= 0.5
    assert rising_east[0, 0] > flat[0, 0] > rising_west[0, 0]
    north_up = hillshade(np.tile(np.arange(40.0)[:, None], (1, 50)), 2.0, 2.0)  # rows: rising south
    assert abs(int(north_up[0, 0]) - lambert([0, 0.5, 1])) <= 0.5  # faces north: lit


def test_depth_classes_and_classify():
    classes = depth_classes(0.05)
    assert [c.lower for c in classes] == [0.05, 0.15, 0.3, 0.5, 1.0, 2.0]
    assert classes[-1].label == "> 2 m"
    values = np.array([0.0, 0.049, 0.05, 0.15, 0.7, 2.0, 9.0, np.nan])
    assert classify(values, classes).tolist() == [0, 0, 1, 2, 4, 6, 6, 0]
    high = depth_classes(0.4)
    assert [c.lower for c in high] == [0.4, 0.5, 1.0, 2.0]
    assert high[-1].rgba == classes[-1].rgba  # the deepest colour is kept


def test_block_reduce_keeps_thin_flow_paths():
    grid = np.zeros((100, 90), np.float32)
    grid[:, 41] = 1.0  # a one-cell-wide channel
    small, factor = block_reduce(grid, 30, "max")
    assert factor == 4 and small.shape == (25, 23)  # 90 columns: the last block is padded
    assert (small.max(axis=1) == 1.0).all()
    mean, _ = block_reduce(grid, 30, "mean")
    assert mean[0, 10] == pytest.approx(0.25)  # the channel is one of four columns
    # padded cells do not count: the last column of blocks holds 2 real columns of 1.0
    ones, _ = block_reduce(np.ones((8, 10)), 3, "mean")
    assert ones.shape == (2, 3) and (ones == 1.0).all()
    png = png_classes(classify(small, depth_classes(0.05)), depth_classes(0.05))
    assert Image.open(io.BytesIO(png)).size == (23, 25)


def test_reduced_images_get_their_own_bounds(city):
    """A frame image of padded blocks covers more than the grid; its corners say so."""
    big = Twin(CRS, city.transform, np.zeros((1100, 1030)))
    cols = np.broadcast_to(np.arange(1030), (1100, 1030))
    depth = (cols / 1030.0).astype(np.float32)
    result = FloodResult(
        crs=CRS,
        transform=city.transform,
        max_depth=depth,
        max_speed=depth,
        arrival_time=np.full(depth.shape, np.nan),
        duration=depth,
        hazard=depth,
        hazard_class=np.zeros(depth.shape, np.uint8),
        depth_frames=depth[None],
        frame_times=np.array([60.0]),
        gauges=pd.DataFrame(),
        buildings=None,
        summary={},
        scenario={},
    )
    config = _config(city_scene(big, result).html())
    # factor 2: 550 x 515 pixels cover 1100 x 1030 cells exactly, for relief and frames
    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    top_right = t.transform(*(city.transform @ (1030, 0)))
    for key in ("bounds", "terrain_bounds", "frame_bounds"):
        assert config[key][2] == pytest.approx(list(top_right), abs=1e-9)
    odd = Twin(CRS, city.transform, np.zeros((1100, 1031)))  # 1031 = 2 * 516 - 1: one padded column
    config = _config(city_scene(odd).html())
    padded_right = t.transform(*(city.transform @ (1032, 0)))
    assert config["terrain_bounds"][2] == pytest.approx(list(padded_right), abs=1e-9)
    assert config["bounds"][2] != config["terrain_bounds"][2]


# ---------------------------------------------------------------------------------------
# headless Chromium, no network
# ---------------------------------------------------------------------------------------
def _flood_blue(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return (b - r > 60) & (b - g > 15) & (b > 90)


def _deep_blue(rgb: np.ndarray) -> np.ndarray:
    """The two darkest depth classes (over 1 m): green stays low even blended over relief."""
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return (g < 85) & (b > 100) & (r < 70)


def _warm(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return (r > 70) & (r - b > 50) & (r >= g)


def _magenta(rgb: np.ndarray) -> np.ndarray:
    """The wet buildings' roof outline (204, 51, 153)."""
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return (r > 150) & (g < 110) & (b > 110) & (r - g > 90)


def _ifc_green(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return (g - r > 100) & (g - b > 40)


@pytest.mark.chromium
def test_scene_draws_offline_in_chromium(scene, tmp_path, record_property):
    """The page draws buildings and the flood in headless Chromium inside an empty network
    namespace, asks for nothing on the network, and its hazard toggle and time slider work."""
    require_chromium()
    page = scene.to_html(tmp_path / "scene.html")
    # The tooltip deck.gl would show over a building (one picking pass over the map).
    tooltip = f"""(() => {{
      const d = window.sceneDeck;
      const hits = d.pickObjects({{x: {MAP_X}, y: 0, width: innerWidth - {MAP_X}, height: innerHeight,
                                  layerIds: ["buildings"]}});
      return hits.length ? d.props.getTooltip(hits[0]).html : null;
    }})()"""
    actions = [
        (tooltip, tmp_path / "tooltip.png"),
        ("document.getElementById('toggle-hazard').click()", tmp_path / "hazard.png"),
        (
            "document.getElementById('toggle-depth').click();"
            "const s = document.getElementById('slider'); s.value = '0';"
            "s.dispatchEvent(new Event('input')); new Promise(r => setTimeout(r, 300))",
            tmp_path / "frame0.png",
        ),
    ]
    report, (shot, _, hazard, frame0) = shoot(page, tmp_path / "scene.png", actions=actions)
    assert report.ready, report.error
    assert report.requests == ()
    assert report.console_errors == ()
    assert report.isolation in ("netns", "blocked")
    record_property("network_isolation", report.isolation)  # which one ran: see the JUnit XML
    tip = report.action_values[0]
    assert re.match(r"<b>B\d\d</b><br>block \d+<br>height [\d.]+ m, base 8\.00 m<br>source (GIS|IFC)", tip), tip
    assert "max depth " in tip and "water arrives " in tip
    view = shot[:, MAP_X:]
    assert view.std() > 20  # not a blank page
    # The flooded east half of the grid fills well over 100,000 pixels of this view; a
    # tenth of that leaves room for buildings standing in the water.
    assert _flood_blue(view).sum() > 10_000
    # Nine flooded buildings in neutral greys, each with a roof outline (2.5 px) in reddish purple at
    # least 20 x 20 px: over a thousand such pixels; nothing else on the map has that colour.
    assert _magenta(view).sum() > 1_000
    assert _ifc_green(view).sum() > 40  # the IFC house's roof outline, 3 px wide
    # Hazard on: the classes (yellow to purple) cover the flooded ground.
    changed = np.abs(hazard[:, MAP_X:].astype(int) - view.astype(int)).sum(axis=2) > 40
    assert changed.sum() > 10_000 and _warm(hazard[:, MAP_X:]).sum() > _warm(view).sum() + 10_000
    # First frame (a third of the maximum depths, at most 0.83 m): no water over 1 m deep,
    # where the maximum shows tens of thousands of such pixels (1 % allows anti-aliasing).
    assert _deep_blue(view).sum() > 10_000
    assert _deep_blue(frame0[:, MAP_X:]).sum() < 0.01 * _deep_blue(view).sum()
    assert _flood_blue(frame0[:, MAP_X:]).sum() > 5_000  # still shallow water drawn


@pytest.mark.chromium
def test_city_without_flood_screenshot(city, tmp_path):
    """The README's screenshot function on a result folder; no flood colours without a flood."""
    require_chromium()
    folder = tmp_path / "result"
    city_scene(city).to_html(folder / "scene.html")
    report = screenshot(folder, tmp_path / "img" / "shot.png")
    assert report.ready and report.requests == ()
    view = np.asarray(Image.open(tmp_path / "img" / "shot.png").convert("RGB"))[:, MAP_X:]
    assert _flood_blue(view).sum() < 200  # only anti-aliased edges of the canal, if any
    r, g, b = (view[..., k].astype(int) for k in range(3))
    lavender = (b - r > 20) & (b - g > 35) & (r > 90)  # the IFC house without a flood
    grey_roof = (np.abs(r - g) < 8) & (np.abs(g - b) < 8) & (r > 120) & (r < 215)
    assert lavender.sum() > 100 and grey_roof.sum() > 5_000
    assert _ifc_green(view).sum() > 40


@pytest.mark.chromium
def test_pydeck_page_draws_the_flood_bitmap(scene, tmp_path):
    """The notebook deck through pydeck's own HTML: with the data-URI fix the flood bitmap
    is drawn (with the raw URI pydeck would make it an expression and draw nothing)."""
    require_chromium()
    page = tmp_path / "pydeck.html"
    page.write_text(
        instrument_pydeck_html(scene.deck.to_html(as_string=True, offline=True, notebook_display=False)),
        encoding="utf-8",
    )
    report, (shot,) = shoot(page, tmp_path / "pydeck.png")
    assert report.ready, report.error
    # pydeck's template asks CDNs for stylesheets and scripts; none could be reached.
    assert report.requests and all(u.startswith("https://") for u in report.requests)
    assert _flood_blue(shot).sum() > 10_000


@pytest.mark.chromium
@pytest.mark.parametrize("isolation", ["netns", "blocked"])
def test_browser_reaches_no_network(isolation, tmp_path, monkeypatch):
    """Both isolation modes of the helper: a page's fetch of an outside URL fails, and the
    attempt is reported. (Where unshare is not permitted only 'blocked' can run.)"""
    import tools.browser as browser

    require_chromium()
    if isolation == "netns" and not browser.netns_allowed():
        pytest.skip("unshare --net is not permitted here")
    if isolation == "blocked":
        monkeypatch.setattr(browser, "netns_allowed", lambda: False)
    page = tmp_path / "fetch.html"
    page.write_text(
        "<!DOCTYPE html><html><body><script>"
        "fetch('https://example.org/tile.png', {cache: 'no-store'})"
        ".then(() => { window.sceneStatus = {ready: false, error: 'reached the network'}; })"
        ".catch(() => { window.sceneStatus = {ready: true, ms: performance.now()}; });"
        "</script></body></html>",
        encoding="utf-8",
    )
    report, _ = shoot(page, tmp_path / "fetch.png", timeout_s=60)
    assert report.isolation == isolation
    assert report.ready, report.error
    assert report.requests == ("https://example.org/tile.png",)


# ---------------------------------------------------------------------------------------
# the CLI around scenes: one grid wording, and results the scene does not draw
# ---------------------------------------------------------------------------------------
def test_cli_and_scene_name_the_grid_the_same_way(city, tmp_path):
    """`twin info` said "Grid 120 x 160" (rows x columns) while the scene said "160 x 120";
    both now name columns and rows."""
    from click.testing import CliRunner

    from twin.cli.app import main

    city.save(tmp_path / "tw")
    res = CliRunner().invoke(main, ["info", str(tmp_path / "tw")])
    assert res.exit_code == 0, res.output
    wording = f"{NX} columns x {NY} rows, {CELL:g} m cells"
    assert wording in res.output
    assert wording in _config(city_scene(city).html())["subtitle"]


def test_cli_scene_of_river_and_terrain_results_colours_their_lines(tmp_path):
    """A river or terrain result used to die on a missing max_depth.tif (a rasterio traceback); now the
    river's links are drawn by peak discharge and the streams by Strahler order, and a water result
    (no map) is a one-line error."""
    import warnings

    from click.testing import CliRunner

    from twin import sample
    from twin.cli.app import main
    from twin.model.build import from_files
    from twin.sims.river.run import RiverResult

    sc = sample.city(tmp_path / "city", size_m=600, cell=4)
    from_files(sc.dem, rivers=sc.layers, lakes=sc.layers).save(tmp_path / "tw")
    (tmp_path / "terrain.toml").write_text('kind = "terrain"\nthreshold_cells = 200\n')
    (tmp_path / "river.toml").write_text(
        'kind = "river"\nname = "storm"\nduration = "6h"\ndt = "15min"\noutput_interval = "1h"\n'
        "[runoff]\nhyetograph = [[0, 40.0], [3600, 40.0], [3601, 0.0]]\ncoefficient = 0.6\n"
    )
    pages = {}
    for kind in ("terrain", "river"):
        out = tmp_path / kind
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # slopes floored on the flat lake bed
            res = CliRunner().invoke(
                main,
                ["run", str(tmp_path / f"{kind}.toml"), "--twin", str(tmp_path / "tw"), "--out", str(out), "--quiet"],
            )
        assert res.exit_code == 0, res.output
        # a terrain summary records no twin: the scene asks for it
        args = ["scene", str(out)] + (["--twin", str(tmp_path / "tw")] if kind == "terrain" else [])
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        pages[kind] = (out / "scene.html").read_text()
    # river: one path per link, coloured by its class of peak discharge; the largest peak is darkest
    links = RiverResult.load(tmp_path / "river").links
    _, meta = unpack(_blob(pages["river"], "payload"))
    config = _config(pages["river"])
    assert len(meta["network"]) == len(links) and config["network_title"] == "Peak discharge (m3/s)"
    peaks = links["peak_discharge_m3s"].to_numpy()
    colours = [tuple(n["color"]) for n in meta["network"]]
    assert len(set(colours)) >= 2
    assert colours[int(np.argmax(peaks))] == tuple(config["network_legend"][-1][0])
    assert all(n["text"].startswith("peak discharge ") and n["text"].endswith(" m3/s") for n in meta["network"])
    # terrain: one path per stream link, one class per order
    streams = gpd.read_file(tmp_path / "terrain" / "streams.gpkg", layer="streams")
    _, meta = unpack(_blob(pages["terrain"], "payload"))
    legend = [label for _, label in _config(pages["terrain"])["network_legend"]]
    assert len(meta["network"]) == len(streams) and legend[0] == "order 1"
    assert len(legend) == min(int(streams["order"].max()), 6)
    # water: no map, a clear error
    (tmp_path / "water.toml").write_text(
        'kind = "water"\nstart = 2021-01-01\nend = 2021-01-05\n'
        '[[node]]\nname = "lake"\ntype = "reservoir"\ncapacity = 1e6\ninitial = 5e5\ninflow = 1.0\n'
        '[[node]]\nname = "city"\ntype = "demand"\ndemand = 0.5\n[[link]]\nfrom = "lake"\nto = "city"\n'
    )
    res = CliRunner().invoke(main, ["water", str(tmp_path / "water.toml"), "--out", str(tmp_path / "water")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["scene", str(tmp_path / "water")])
    assert res.exit_code == 2 and "water result" in res.output and "shortages.csv" in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "water" / "scene.html").exists()


def test_network_classes_round_breaks_orders_and_no_value():
    from twin.scene.network import NO_VALUE_RGBA, colours_of, network_classes

    classes = network_classes(np.array([0.07, 3.0, 168.0, np.nan]), "m3/s")
    assert [c.label for c in classes] == [
        "0 – 5 m3/s",
        "5 – 10 m3/s",
        "10 – 20 m3/s",
        "20 – 50 m3/s",
        "50 – 100 m3/s",
        "> 100 m3/s",
    ]
    colours = colours_of(np.array([0.07, 168.0, np.nan]), classes)
    assert colours == [list(classes[0].rgba), list(classes[-1].rgba), list(NO_VALUE_RGBA)]
    small = network_classes(np.array([0.3, 1.5]), "m3/s")  # breaks below the largest value only
    assert [c.label for c in small] == [
        "0 – 0.05 m3/s",
        "0.05 – 0.1 m3/s",
        "0.1 – 0.2 m3/s",
        "0.2 – 0.5 m3/s",
        "0.5 – 1 m3/s",
        "> 1 m3/s",
    ]
    orders = network_classes(np.array([1, 2, 9]), "order", whole=True)
    assert [c.label for c in orders] == [f"order {k}" for k in range(1, 6)] + ["order 6 and above"]
    assert colours_of(np.array([3, 9]), orders)[1] == list(orders[-1].rgba)


def test_network_scene_needs_its_column(city):
    from twin.scene.city import network_scene

    lines = gpd.GeoDataFrame({"q": [1.0]}, geometry=[shapely.LineString([(X0, Y0 - 50), (X0 + 300, Y0 - 50)])], crs=CRS)
    with pytest.raises(InputDataError, match="no column 'peak'"):
        network_scene(city, lines, "peak", title="Peak discharge", unit="m3/s")


@pytest.mark.chromium
def test_network_scene_draws_offline_in_chromium(city, tmp_path):
    """A line network coloured by value draws with the page's own script: the largest value's dark
    blue across the map, no console errors, no request."""
    from twin.scene.city import network_scene

    require_chromium()
    lines = gpd.GeoDataFrame(
        {"link_id": [1, 2], "peak_discharge_m3s": [150.0, 2.0]},
        geometry=[
            shapely.LineString([(X0 + 5, Y0 - 60), (X0 + NX * CELL - 5, Y0 - 60)]),
            shapely.LineString([(X0 + 5, Y0 - 150), (X0 + NX * CELL - 5, Y0 - 150)]),
        ],
        crs=CRS,
    )
    page = network_scene(city, lines, "peak_discharge_m3s", title="Peak discharge", unit="m3/s").to_html(
        tmp_path / "network.html"
    )
    report, (shot,) = shoot(page, tmp_path / "network.png")
    assert report.ready, report.error
    assert report.requests == () and report.console_errors == ()
    r, g, b = (shot[:, MAP_X:, k].astype(int) for k in range(3))
    dark_blue = (np.abs(r - 12) < 25) & (np.abs(g - 44) < 25) & (np.abs(b - 132) < 30)
    assert dark_blue.sum() > 100
