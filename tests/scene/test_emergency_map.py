"""The emergency map (issue #18): a click anywhere answers with the result's values at that point and
time, roads cut and open with the slider, buildings following the slider, legend swatches that are
the rendered colours, edits drawn, a phone-sized page and a print view that Chromium prints to PDF."""

from __future__ import annotations

import re
import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import xarray as xr
from affine import Affine
from pyproj import Transformer
from test_scene import CELL, CRS, NX, NY, X0, Y0, _city, _config, _flood

from _chromium import require_chromium, shoot
from tools.browser import PHONE, Click, pdf_to_png, print_pdf
from twin.errors import InputDataError
from twin.scene.edits import edit_shapes
from twin.scene.payload import unpack
from twin.scene.query import NO_U16, lonlat_fit, quantise
from twin.scene.raster import HAZARD_CLASSES, classify, stepped_classes
from twin.scene.roads import ROAD_COLUMNS, cut_at, read_roads
from twin.sims.flood.exposure import building_exposure

TO_WGS84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
EDITS = [
    {"type": "floodwall", "line": [[X0 + 10, Y0 - 180], [X0 + 150, Y0 - 180]], "height": 1.0, "name": "quay"},
    {"type": "pond", "polygon": [[X0 + 10, Y0 - 60], [X0 + 50, Y0 - 60], [X0 + 50, Y0 - 100]], "depth": 2.0},
]
SCENARIO = {"kind": "flood", "name": "test storm", "duration": 1800, "rain": {"constant": 10.0}, "edit": EDITS}
# the cell the tests click: in a street between buildings, 1.22 m deep at the maximum
COL, ROW = 114, 20
NORTH_ARROW = "(() => { const r = document.getElementById('north').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"  # noqa: E501


def _lonlat(col: float, row: float) -> tuple[float, float]:
    x, y = Affine(CELL, 0.0, X0, 0.0, -CELL, Y0) @ (col, row)
    lon, lat = TO_WGS84.transform(x, y)
    return float(lon), float(lat)


def _roads() -> gpd.GeoDataFrame:
    """Three east-west streets written to the roads.gpkg contract: A cut at 15 min and not open again,
    B cut at 10 min and open again at 25 min, C never cut."""
    nan = float("nan")
    return gpd.GeoDataFrame(
        {
            "road_id": ["A", "B", "C"],
            "name": ["North Street", "Mid Street", "Dry Lane"],
            "class": ["primary", "residential", "residential"],
            "threshold_m": [0.3, 0.3, 0.3],
            "max_depth_m": [1.8, 0.9, 0.1],
            "cut_at_s": [900.0, 600.0, nan],
            "reopen_at_s": [nan, 1500.0, nan],
            "cut_hours": [0.3, 0.25, 0.0],
        },
        geometry=[
            shapely.LineString([(X0 + 150, Y0 - 45), (X0 + NX * CELL - 4, Y0 - 45)]),
            shapely.LineString([(X0 + 150, Y0 - 105), (X0 + NX * CELL - 4, Y0 - 105)]),
            shapely.LineString([(X0 + 4, Y0 - 45), (X0 + 100, Y0 - 45)]),
        ],
        crs=CRS,
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A flood result folder written by FloodResult.save (max_depth.tif and scene.html), with
    edits in its scenario and a roads.gpkg beside it; the scene rebuilt with the roads."""
    city = _city()
    flood = _flood(city)
    flood.twin = city
    flood.scenario = SCENARIO
    flood.gauges = pd.DataFrame({"time": [600.0]})  # an empty gauges.csv would not read back
    # speed snapshots (as a run takes them) that grow frame by frame up to the maximum speed of 0.8 m/s
    flood.speed_frames = np.stack(
        [np.where(f > 0, 0.3 + 0.25 * k, 0.0) for k, f in enumerate(flood.depth_frames)]
    ).astype(np.float32)
    folder = tmp_path_factory.mktemp("emergency") / "result"
    flood.save(folder)
    _roads().to_file(folder / "roads.gpkg", layer="roads", driver="GPKG", engine="pyogrio")
    flood.scene(roads=folder / "roads.gpkg").to_html(folder / "scene.html", title="cimtwin: test storm")
    return folder, flood


# ---------------------------------------------------------------------------------------
# the page's data
# ---------------------------------------------------------------------------------------
def test_lonlat_fit_finds_the_twin_cell_to_a_millimetre():
    transform = Affine(CELL, 0.0, X0, 0.0, -CELL, Y0)
    fit = lonlat_fit(transform, (NY, NX), CRS)
    assert fit["error_m"] < 1e-3
    rng = np.random.default_rng(1)
    x = X0 + rng.uniform(0, NX * CELL, 50)
    y = Y0 - rng.uniform(0, NY * CELL, 50)
    lon, lat = TO_WGS84.transform(x, y)
    u, v = (np.asarray(lon) - fit["lon0"]) * fit["scale"], (np.asarray(lat) - fit["lat0"]) * fit["scale"]
    terms = np.column_stack([u**i * v**j for i, j in fit["terms"]])
    assert np.max(np.hypot(terms @ fit["cx"] - x, terms @ fit["cy"] - y)) < 1e-3


def test_quantise_keeps_millimetres_and_marks_no_value():
    out = quantise(np.array([0.0, 1.2344, 70.0, np.nan]), 1000)
    assert out.tolist() == [0, 1234, NO_U16 - 1, NO_U16]


def test_query_grids_over_1024_cells_are_answered_per_block():
    """A 1100 x 1030 grid travels at 2 x 2 cells per value: the block's largest depth, first arrival."""
    from types import SimpleNamespace

    from twin.scene.query import query_arrays

    depth = np.zeros((1100, 1030), np.float32)
    depth[501, 3] = 1.5  # one deep cell in block (250, 1)
    arrival = np.full(depth.shape, np.nan)
    arrival[500, 2], arrival[501, 3] = 900.0, 600.0
    result = SimpleNamespace(max_depth=depth, max_speed=depth, hazard=depth, arrival_time=arrival)
    arrays, meta = query_arrays(result, np.zeros(depth.shape), np.zeros(depth.shape, bool), [])
    assert meta == {"nx": 515, "ny": 550, "factor": 2}
    assert arrays["q_depth"].reshape(550, 515)[250, 1] == 1500 and arrays["q_depth"].sum() == 1500
    assert arrays["q_arrival"].reshape(550, 515)[250, 1] == 600
    assert "q_frames" not in arrays


def test_page_carries_the_query_grids_frames_roads_and_edits(saved):
    folder, flood = saved
    page = (folder / "scene.html").read_text()
    found = re.search(r'<script type="application/octet-stream" id="payload">([^<]*)</script>', page)
    import base64

    arrays, meta = unpack(base64.b64decode(found.group(1)))
    with rasterio.open(folder / "max_depth.tif") as src:
        tif = src.read(1)
    np.testing.assert_array_equal(arrays["q_depth"], np.rint(tif * 1000).ravel())
    assert arrays["q_frames"].size == 3 * NY * NX
    np.testing.assert_array_equal(arrays["q_frames"][: NY * NX], np.rint(flood.depth_frames[0] * 100).ravel())
    ground = np.cumsum(arrays["q_ground"].astype(np.int64))  # sent as differences
    np.testing.assert_array_equal(ground, np.rint(flood.twin.terrain * 100).ravel())
    wet = np.isfinite(flood.arrival_time)
    np.testing.assert_array_equal(arrays["q_arrival"][wet.ravel()], np.rint(flood.arrival_time[wet]))
    assert (arrays["q_arrival"][~wet.ravel()] == 0xFFFFFFFF).all()
    # roads as the file has them; the edits
    assert [(r["id"], r["cut"], r["reopen"]) for r in meta["roads"]] == [
        ("A", 900.0, None),
        ("B", 600.0, 1500.0),
        ("C", None, None),
    ]
    assert [e["label"] for e in meta["edits"]] == ["Floodwall 'quay': 1 m high", "Pond: ground lowered 2 m"]
    config = _config(page)
    assert config["scenario"] == "test storm" and config["crs_name"] == "EPSG:4547"
    assert [label for _, label in config["legends"]["arrival"]][0] == "< 15 min"
    # buildings follow the slider: their class at each frame by the same wall rule as the maximum
    nb = len(meta["buildings"]["ids"])
    frames = arrays["b_frame_class"].reshape(3, nb)
    classes = stepped_classes(0.05, (0.15, 0.3, 0.5, 1.0), ((0, 0, 0, 0),) * 5)
    for k in range(3):
        seen = building_exposure(
            flood.buildings, flood.twin.transform, (NY, NX), flood.depth_frames[k], np.full((NY, NX), np.nan),
            ground=flood.twin.terrain, flooded_depth=0.05,
        )  # fmt: skip
        np.testing.assert_array_equal(frames[k], classify(seen["max_depth"].to_numpy(), classes))
    assert (frames[0] <= frames[2]).all() and (frames[0] < frames[2]).any()


def test_roads_cut_by_time_and_their_contract(tmp_path):
    from twin.scene.roads import road_records

    records = road_records(_roads(), lambda g: (np.zeros(2), np.zeros(2)))
    assert cut_at(records, 600.0).tolist() == [False, True, False]
    assert cut_at(records, 1200.0).tolist() == [True, True, False]
    assert cut_at(records, 1800.0).tolist() == [True, False, False]
    assert cut_at(records, None).tolist() == [True, True, False]  # at any time of the event
    path = tmp_path / "roads.gpkg"
    _roads().drop(columns="reopen_at_s").to_file(path, layer="roads", driver="GPKG", engine="pyogrio")
    with pytest.raises(InputDataError, match=r"lack the column\(s\) \['reopen_at_s'\]"):
        read_roads(path)
    with pytest.raises(InputDataError, match="no readable layer 'roads'"):
        read_roads(tmp_path / "missing.gpkg")
    assert set(ROAD_COLUMNS) <= set(read_roads(_roads()).columns)


def test_edits_with_a_place_become_shapes():
    pipe = {"type": "pipe", "link": "C1", "diameter": 0.6}  # on the sewer network: no place of its own
    shapes = edit_shapes(EDITS + [pipe, {"type": "building", "action": "remove", "at": [X0, Y0]}])
    assert [s["kind"] for s in shapes] == ["line", "polygon", "point"]
    assert shapes[1]["xy"][0] == shapes[1]["xy"][-1]  # the ring closed


def test_comparison_scene_draws_b_edits(saved):
    from twin.sims.flood.compare import compare

    _, flood = saved
    other = _flood(flood.twin)
    other.twin, other.scenario = flood.twin, {"name": "base"}
    page = compare(other, flood).scene().html()
    import base64

    found = re.search(r'<script type="application/octet-stream" id="payload">([^<]*)</script>', page)
    _, meta = unpack(base64.b64decode(found.group(1)))
    assert [e["kind"] for e in meta["edits"]] == ["line", "polygon"]


# ---------------------------------------------------------------------------------------
# in headless Chromium
# ---------------------------------------------------------------------------------------
@pytest.mark.chromium
def test_a_real_click_reads_back_max_depth_tif_and_the_slider_time(saved, tmp_path):
    """Done when of #18: Chromium clicks a point of the scene (DevTools mouse events, the page's
    own click handler) and the panel shows the depth max_depth.tif holds there; at the first
    frame, the depth of depth.nc's first snapshot."""
    folder, flood = saved
    require_chromium()
    lon, lat = _lonlat(COL + 0.5, ROW + 0.5)
    lon_east, lat_east = _lonlat(COL + 0.5 + 100 / CELL, ROW + 0.5)  # 100 m east
    actions = [
        (Click(NORTH_ARROW), None),  # north up, seen from above: the street is not behind a building
        (Click(f"window.sceneProject({lon}, {lat})"), tmp_path / "clicked.png"),
        ("window.sceneLastQuery", None),
        ("document.getElementById('q-depth').textContent", None),
        (
            "const s = document.getElementById('slider'); s.value = '0'; s.dispatchEvent(new Event('input'));"
            "new Promise(r => setTimeout(() => r(window.sceneLastQuery), 300))",
            None,
        ),
        ("document.getElementById('query').textContent", None),
        (
            "[document.getElementById('scale-label').textContent, "
            "document.getElementById('scale-bar').getBoundingClientRect().width]",
            None,
        ),  # fmt: skip
        (f"[window.sceneProject({lon}, {lat}), window.sceneProject({lon_east}, {lat_east})]", None),
    ]
    report, _ = shoot(folder / "scene.html", tmp_path / "page.png", actions=actions)
    assert report.ready, report.error
    assert report.console_errors == () and report.requests == ()
    # the panel names the point in the twin's CRS and in lon/lat
    answer = report.action_values[5]
    assert "(EPSG:4547)" in answer and f"{lon:.4f}" in answer and f"{lat:.4f}" in answer, answer
    # the scale bar, seen from above: its label's metres at the map's pixels per metre (3 %)
    label, bar_px = report.action_values[6]
    metres = float(label.split()[0]) * (1000 if label.endswith("km") else 1)
    (ax, ay), (bx, by) = report.action_values[7]
    px_per_m = np.hypot(bx - ax, by - ay) / 100.0
    assert bar_px == pytest.approx(metres * px_per_m, rel=0.03)
    x, y = Affine(CELL, 0.0, X0, 0.0, -CELL, Y0) @ (COL + 0.5, ROW + 0.5)
    with rasterio.open(folder / "max_depth.tif") as src:
        tif = float(next(src.sample([(x, y)]))[0])
    assert tif > 1.0
    query, text, at_first = report.action_values[2:5]
    assert (query["col"], query["row"]) == (COL, ROW)
    assert query["depth_m"] == pytest.approx(tif, abs=0.0005) and query["time_s"] is None
    assert text == f"depth {tif:.2f} m"
    assert query["level_m"] == pytest.approx(flood.twin.terrain[ROW, COL] + tif, abs=0.01)
    assert query["speed_m_s"] == pytest.approx(0.8, abs=0.001) and query["hazard_class"].startswith("Significant")
    assert query["arrival_s"] == round(float(flood.arrival_time[ROW, COL]))
    assert at_first["time_s"] == 600.0
    assert at_first["depth_m"] == pytest.approx(float(flood.depth_frames[0][ROW, COL]), abs=0.005)  # cm
    # the speed at the first frame is depth.nc's, and the hazard is rated from that frame's depth and
    # speed (FD2320 with the debris factor above 0.25 m), no longer the event's maximum
    with xr.open_dataset(folder / "depth.nc", decode_times=False) as ds:
        d0, v0 = (float(ds[name][0].sel(x=x, y=y, method="nearest")) for name in ("depth", "speed"))
    assert d0 > 0.25 and 0 < v0 < 0.8
    assert not at_first["speed_is_max"] and at_first["speed_m_s"] == pytest.approx(v0, abs=0.005)  # cm/s
    assert not at_first["hazard_is_max"]
    assert at_first["hazard"] == pytest.approx(d0 * (v0 + 0.5) + 1.0, abs=0.01)
    assert at_first["hazard"] < query["hazard"]
    assert at_first["hazard_class"] == next(c.label for c in HAZARD_CLASSES if d0 * (v0 + 0.5) + 1.0 < c.upper)
    assert "from this time's depth and speed" in answer and f"speed {v0:.2f} m/s" in answer, answer


@pytest.mark.chromium
def test_hazard_swatches_are_the_rendered_colours_and_roads_follow_the_slider(saved, tmp_path):
    """With the hazard layer on, the map's colour at a point is its class's legend swatch, exactly;
    cut roads are vermilion at the slider's time: only B at 10 min, A and B at 20 min."""
    folder, flood = saved
    require_chromium()
    lon, lat = _lonlat(COL + 0.5, ROW + 0.5)
    swatches = "[...document.querySelectorAll('#legend-hazard .swatch')].map(e => getComputedStyle(e).backgroundColor)"
    slider = (
        "(() => {{ const s = document.getElementById('slider'); s.value = '{k}';"
        "s.dispatchEvent(new Event('input')); return new Promise(r => setTimeout(r, 300)); }})()"
    )
    actions = [
        (Click(NORTH_ARROW), None),
        (
            Click(
                "(() => { const r = document.getElementById('toggle-hazard').getBoundingClientRect(); "
                "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
            ),
            tmp_path / "hazard.png",
        ),  # fmt: skip
        (f"window.sceneProject({lon}, {lat})", None),
        (swatches, None),
        ("document.getElementById('toggle-none').click()", None),
        (slider.format(k=0), tmp_path / "t0.png"),
        (slider.format(k=1), tmp_path / "t1.png"),
    ]
    report, shots = shoot(folder / "scene.html", tmp_path / "page.png", actions=actions)
    assert report.ready, report.error
    _, hazard, t0, t1 = shots  # the page, then the actions that name a screenshot
    px, py = (round(v) for v in report.action_values[2])
    rendered = hazard[py - 2 : py + 3, px - 2 : px + 3].reshape(-1, 3)
    hr = float(flood.hazard[ROW, COL])
    k = int(classify(np.array([hr]), HAZARD_CLASSES)[0]) - 1
    swatch = [int(v) for v in re.findall(r"\d+", report.action_values[3][k])[:3]]
    assert swatch == list(HAZARD_CLASSES[k].rgba[:3])
    assert (np.abs(rendered.astype(int) - swatch).max(axis=1) <= 2).all(), (rendered, swatch)

    def vermilion(rgb):
        r, g, b = (rgb[..., i].astype(int) for i in range(3))
        return ((np.abs(r - 213) < 25) & (np.abs(g - 94) < 25) & (b < 40)).sum()

    assert vermilion(t0) > 200  # B alone
    assert vermilion(t1) > 1.6 * vermilion(t0)  # A and B (equal lengths)


@pytest.mark.chromium
def test_phone_panel_collapses_and_the_map_answers(saved, tmp_path):
    """At 390 x 844 the panel starts as a title bar (the map fills the screen and answers a tap);
    its button opens it, over less than half of the screen."""
    folder, _ = saved
    require_chromium()
    lon, lat = _lonlat(COL + 0.5, ROW + 0.5)
    height = "document.getElementById('panel').getBoundingClientRect().height"
    actions = [
        (height, None),
        (Click(f"window.sceneProject({lon}, {lat})"), None),
        ("window.sceneLastQuery && [window.sceneLastQuery.col, window.sceneLastQuery.row]", None),
        ("document.getElementById('query').getBoundingClientRect().height", None),  # shown, panel closed
        (
            Click(
                "(() => { const r = document.getElementById('collapse').getBoundingClientRect(); "
                "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
            ),
            tmp_path / "open.png",
        ),  # fmt: skip
        (height, None),
    ]
    w, h = PHONE
    report, _ = shoot(folder / "scene.html", tmp_path / "phone.png", actions=actions, width=w, height=h, mobile=True)
    assert report.ready, report.error
    closed, _, cell, answer, _, opened = report.action_values
    assert cell is not None and abs(cell[0] - COL) <= 1 and abs(cell[1] - ROW) <= 1
    assert closed < 0.08 * h and answer > 40  # the title bar, and the tap's answer under it
    assert 0.2 * h < opened <= 0.47 * h


@pytest.mark.chromium
def test_print_view_prints_to_an_a4_landscape_pdf(saved, tmp_path):
    """Chromium prints the print view (title, scenario, time, legend, map) on A4 landscape."""
    folder, _ = saved
    require_chromium()
    if shutil.which("pdftoppm") is None:
        import os

        if os.environ.get("CI"):
            pytest.fail("pdftoppm is missing (apt-get install poppler-utils); .ci/run installs it")
        pytest.skip("pdftoppm is not installed (apt-get install poppler-utils)")
    pdf = tmp_path / "map.pdf"
    report = print_pdf(folder / "scene.html", pdf, paper="A4", png_path=tmp_path / "map.png")
    assert report.ready
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    box = [float(v) for v in re.search(rb"/MediaBox\s*\[\s*([\d.\s]+)\]", data).group(1).split()]
    assert box[2] == pytest.approx(841.9, abs=1) and box[3] == pytest.approx(595.3, abs=1)  # A4 landscape
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    for words in ("cimtwin: test storm", "Scenario: test storm", "Maximum over the event", "FLOOD DEPTH", "EPSG:4547"):
        assert words.lower() in text.lower(), (words, text[:400])
    from PIL import Image

    page = np.asarray(Image.open(tmp_path / "map.png").convert("RGB")).astype(int)
    assert page.shape[1] > page.shape[0]  # landscape
    deep = (np.abs(page - [8, 81, 156]).max(axis=2) <= 3).sum()  # the 1 - 2 m class, map and swatch
    assert deep > 500
    pdf_to_png(pdf, tmp_path / "again.png")
    assert (tmp_path / "again.png").stat().st_size > 10_000


def test_cli_scene_draws_the_result_folders_roads(saved, tmp_path):
    """`twin scene` on a flood result folder that holds roads.gpkg draws its roads (and the edits its
    scenario.json names)."""
    import base64

    from click.testing import CliRunner

    from twin.cli.app import main

    folder, flood = saved
    plain = tmp_path / "result"
    shutil.copytree(folder, plain)
    flood.twin.save(tmp_path / "tw")
    res = CliRunner().invoke(
        main, ["scene", str(plain), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "s.html")]
    )
    assert res.exit_code == 0, res.output
    page = (tmp_path / "s.html").read_text()
    found = re.search(r'<script type="application/octet-stream" id="payload">([^<]*)</script>', page)
    _, meta = unpack(base64.b64decode(found.group(1)))
    assert [r["name"] for r in meta["roads"]] == ["North Street", "Mid Street", "Dry Lane"]
    assert len(meta["edits"]) == 2
