"""The flood scene of a sewer-coupled run: pipes by capacity ratio, manholes by overflow (issue #24)."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from affine import Affine

from _chromium import require_chromium, shoot
from conftest import surcharged_inp
from twin.model.twin import Twin
from twin.scene.network import (
    DRY_MANHOLE_RGBA,
    NEWLY_OVERFLOWING_RGBA,
    NO_LONGER_OVERFLOWING_RGBA,
    OVERFLOW_RGBA,
    PIPE_CLASSES,
)
from twin.scene.payload import unpack
from twin.scene.raster import classify
from twin.sims.flood.run import FloodResult, run
from twin.sims.flood.scenario import Scenario

CRS = "EPSG:25832"

# 100 L/s of dry weather flow at J1: a 0.5 m pipe to J2 with room to spare, then a 0.1 m pipe that
# surcharges, so J2 (and J1 behind it) overflow onto the flat street at 12 m
_INP = surcharged_inp(c1=0.5)


def _street() -> Twin:
    return Twin(CRS, Affine(2.0, 0, 80.0, 0, -2.0, 140.0), np.full((40, 80), 12.0))


def _run_net(folder, inp: str, name: str = "sewer") -> FloodResult:
    (folder / "net.inp").write_text(inp)
    sc = Scenario.from_dict(
        {
            "name": name,
            "duration": 1200,
            "output_interval": 600,
            "drainage": {"inp": "net.inp", "crs": CRS},
            "numerics": {"dtype": "float64"},
        },
        base_dir=folder,
    )
    return run(_street(), sc, progress=False, scene=False)


@pytest.fixture(scope="module")
def coupled(tmp_path_factory) -> FloodResult:
    return _run_net(tmp_path_factory.mktemp("sewer"), _INP)


def _page_data(page: str) -> tuple[dict, dict]:
    config = json.loads(re.search(r'<script type="application/json" id="scene-config">([^<]*)</script>', page)[1])
    blob = re.search(r'<script type="application/octet-stream" id="payload">([^<]*)</script>', page)[1]
    return config, unpack(base64.b64decode(blob))[1]


def test_scene_draws_pipes_by_capacity_ratio_and_overflowing_manholes(coupled):
    config, meta = _page_data(coupled.scene().html())
    pipes = coupled.drainage.conduits
    ratio = pipes["capacity_ratio"].to_numpy()
    assert ratio.min() < 0.8 and ratio.max() > 1  # the designed case: one pipe with room, one surcharged
    assert [n["name"] for n in meta["network"]] == ["pipe C1", "pipe C2"]
    expected = [list(PIPE_CLASSES[k - 1].rgba) for k in classify(ratio, PIPE_CLASSES)]
    assert [n["color"] for n in meta["network"]] == expected
    assert "(surcharged)" in meta["network"][1]["text"] and "(surcharged)" not in meta["network"][0]["text"]
    assert config["network_title"] == "Sewer pipes: peak flow / capacity"
    assert [label for _, label in config["network_legend"]][-1] == "> 1 (surcharged)"
    # manholes: every node (outfall included), the overflowing ones in the highlight, larger for more
    nodes = coupled.drainage.nodes
    volume = dict(zip(nodes["name"], nodes["overflow_volume_m3"]))
    drawn = {m["name"].removeprefix("manhole "): m for m in meta["manholes"]}
    assert set(drawn) == set(volume) and volume["J2"] > 0 and volume["O1"] == 0
    for name, v in volume.items():
        assert drawn[name]["color"] == list(OVERFLOW_RGBA if v > 0 else DRY_MANHOLE_RGBA)
        assert ("overflowed" in drawn[name]["text"]) == (v > 0)
    over = sorted((v, drawn[n]["radius"]) for n, v in volume.items() if v > 0)
    assert all(r1 <= r2 for (_, r1), (_, r2) in zip(over, over[1:]))
    assert drawn["O1"]["radius"] < over[0][1]
    assert config["manholes_legend"][0][0] == list(OVERFLOW_RGBA)


def test_scenes_without_a_network_have_no_pipes_or_manholes():
    tw = Twin(CRS, Affine(2.0, 0, 80.0, 0, -2.0, 140.0), np.full((10, 10), 12.0))
    sc = Scenario.from_dict({"name": "plain", "duration": 60, "output_interval": 60, "rain": {"constant": 10}})
    config, meta = _page_data(run(tw, sc, progress=False, scene=False).scene().html())
    assert meta["network"] == [] and meta["manholes"] == [] and config["manholes_legend"] == []


@pytest.mark.chromium
def test_pipes_and_manholes_draw_in_chromium_with_toggles(coupled, tmp_path):
    require_chromium()
    page = coupled.scene().to_html(tmp_path / "scene.html")
    tooltip = """(() => {
      const d = window.sceneDeck;
      const hits = d.pickObjects({x: 0, y: 0, width: innerWidth, height: innerHeight, layerIds: ["manholes"]});
      return hits.map((h) => d.props.getTooltip(h).html).join("|");
    })()"""
    actions = [
        (tooltip, tmp_path / "tip.png"),
        ("document.getElementById('toggle-manholes').click()", tmp_path / "off.png"),
        ("document.getElementById('toggle-network').click()", tmp_path / "pipes.png"),
    ]
    report, (shot, _, off, pipes) = shoot(page, tmp_path / "scene.png", actions=actions)
    assert report.ready, report.error
    assert report.console_errors == () and report.requests == ()
    assert "<b>manhole J2</b><br>overflowed " in report.action_values[0]

    def red(img):  # the surcharged pipe
        r, g, b = (img[..., k].astype(int) for k in range(3))
        return ((r > 160) & (g < 50) & (b < 60)).sum()

    r, g, b = (shot[..., k].astype(int) for k in range(3))
    magenta = (r > 180) & (b > 110) & (g < 90)  # OVERFLOW_RGBA discs
    # the pipes are off at first (emergency staff look at the water and the overflows), one click away
    assert magenta.sum() > 50 and red(shot) < 5 and red(pipes) > 20
    r, g, b = (off[..., k].astype(int) for k in range(3))
    assert ((r > 180) & (b > 110) & (g < 90)).sum() < 0.1 * magenta.sum()


def test_the_sewer_pipes_are_drawn_but_off_until_toggled(coupled):
    scene = coupled.scene()
    config, meta = _page_data(scene.html())
    assert config["hidden"] == ["network"] and len(meta["network"]) == 2  # before: on, as the depth is
    layers = {layer["id"]: layer for layer in json.loads(scene.deck.to_json())["layers"]}
    assert layers["network"]["visible"] is False and layers["manholes"].get("visible", True) is True


def test_notebook_deck_draws_the_same_pipes_and_manholes(coupled):
    scene = coupled.scene()
    _, meta = _page_data(scene.html())
    deck = json.loads(scene.deck.to_json())
    layers = {layer["id"]: layer for layer in deck["layers"]}
    assert layers["manholes"]["@@type"] == "ScatterplotLayer" and layers["network"]["@@type"] == "PathLayer"
    # the deck's records are the page's: same names, colours, sizes and tooltips
    page_manholes = [(m["name"], m["color"], m["radius"], m["text"]) for m in meta["manholes"]]
    assert [(m["name"], m["color"], m["radius"], m["text"]) for m in layers["manholes"]["data"]] == page_manholes
    assert [(n["name"], n["color"]) for n in layers["network"]["data"]] == [
        (n["name"], n["color"]) for n in meta["network"]
    ]
    overflowing = [m for m in layers["manholes"]["data"] if m["color"] == list(OVERFLOW_RGBA)]
    assert {m["name"] for m in overflowing} >= {"manhole J2"}
    lon, lat = overflowing[0]["position"]
    (west, south), (east, north) = scene.data.extent
    assert west < lon < east and south < lat < north


def _pydeck_tooltip(template: str, record: dict) -> str:
    """What pydeck's widget shows over ``record``: its ``substituteIn``, each ``{key}`` replaced by the field."""
    for key, value in record.items():
        template = template.replace("{" + key + "}", str(value), 1)
    return template


def test_notebook_deck_tooltips_over_manholes_and_pipes_show_their_own_fields(coupled):
    """One tooltip template serves every layer of a pydeck deck: over a manhole it showed the buildings'
    fields unfilled ("{id}", "height {height} m"); each record now carries its own text."""
    deck = coupled.scene().deck
    layers = {layer["id"]: layer for layer in json.loads(deck.to_json())["layers"]}
    template = deck._tooltip["html"]
    j2 = next(m for m in layers["manholes"]["data"] if m["name"] == "manhole J2")
    tip = _pydeck_tooltip(template, j2)
    assert tip.startswith("<b>manhole J2</b><br/>overflowed ") and tip.endswith(" m3 onto the street"), tip
    pipe = layers["network"]["data"][0]
    tip = _pydeck_tooltip(template, pipe)
    assert tip == f"<b>{pipe['name']}</b><br/>{pipe['text']}" and "of full-bore capacity" in tip
    for layer in layers.values():
        if layer.get("pickable"):
            for record in layer["data"]:
                assert not re.search(r"\{\w+\}", _pydeck_tooltip(template, record)), (layer["id"], record)


def test_scenes_without_a_network_have_no_manholes_in_the_deck():
    tw = Twin(CRS, Affine(2.0, 0, 80.0, 0, -2.0, 140.0), np.full((10, 10), 12.0))
    sc = Scenario.from_dict({"name": "plain", "duration": 60, "output_interval": 60, "rain": {"constant": 10}})
    deck = json.loads(run(tw, sc, progress=False, scene=False).scene().deck.to_json())
    assert not {"manholes", "network"} & {layer["id"] for layer in deck["layers"]}


def test_comparison_scene_highlights_manholes_newly_overflowing(coupled, tmp_path):
    from twin.sims.flood.compare import compare

    large = _run_net(tmp_path, surcharged_inp(c1=0.5, c2=0.5), "large pipes")  # no manhole overflows
    over = set(coupled.drainage.nodes.loc[coupled.drainage.nodes["overflow_volume_m3"] > 0, "name"])
    assert over and not (large.drainage.nodes["overflow_volume_m3"] > 0).any()
    # the small pipes against the large ones: the overflowing manholes are new
    scene = compare(large, coupled, twin=_street()).scene()
    config, meta = _page_data(scene.html())
    colours = {m["name"].removeprefix("manhole "): m["color"] for m in meta["manholes"]}
    assert {n for n, c in colours.items() if c == list(NEWLY_OVERFLOWING_RGBA)} == over
    assert {n for n, c in colours.items() if c == list(DRY_MANHOLE_RGBA)} == set(colours) - over
    assert config["manholes_legend"][0] == [list(NEWLY_OVERFLOWING_RGBA), "Newly overflowing (disc area ~ volume)"]
    assert len(meta["network"]) == 2  # b's pipes
    deck = {layer["id"]: layer for layer in json.loads(scene.deck.to_json())["layers"]}
    assert sorted(m["name"] for m in deck["manholes"]["data"] if m["color"] == list(NEWLY_OVERFLOWING_RGBA)) == sorted(
        f"manhole {n}" for n in over
    )
    # and back: they no longer overflow
    _, meta = _page_data(compare(coupled, large, twin=_street()).scene().html())
    colours = {m["name"].removeprefix("manhole "): m["color"] for m in meta["manholes"]}
    assert {n for n, c in colours.items() if c == list(NO_LONGER_OVERFLOWING_RGBA)} == over
