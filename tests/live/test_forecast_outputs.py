"""What a forecast folder offers beyond its data: the scene of each cycle (written with the cycle, drawn
offline in headless Chromium with its slider over the lead times, the exceedance classes and the warned
buildings, roads and facilities) and `twin info` of the folder."""

from __future__ import annotations

import base64
import json
import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from live_town import CRS, X0, Y0, bowl_twin, config, town_storm

from _chromium import require_chromium, shoot
from twin.cli.app import main
from twin.live.cycle import Forecaster
from twin.model.twin import Twin
from twin.scene.payload import unpack


def _roads():
    line = shapely.LineString([(X0 + 60, Y0 - 155), (X0 + 240, Y0 - 155)])
    return gpd.GeoDataFrame({"id": ["r1"], "class": ["residential"], "name": ["Bowl Street"]}, geometry=[line], crs=CRS)


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    storm = town_storm(tmp_path_factory)
    out = tmp_path_factory.mktemp("fc")
    tw = tmp_path_factory.mktemp("twin") / "tw"
    bowl_twin().save(tw)
    # a scene that fails is only a warning in a cycle: here it fails the test
    with (
        warnings.catch_warnings(),
        Forecaster(Twin.load(tw), config(), storm.obs, out, layers={"street": _roads()}) as fc,
    ):
        warnings.simplefilter("error")
        return fc.cycle(storm.start + 72 * 60.0)


def _page_data(page: str) -> tuple[dict, dict]:
    config = json.loads(re.search(r'<script type="application/json" id="scene-config">([^<]*)</script>', page)[1])
    blob = re.search(r'<script type="application/octet-stream" id="payload">([^<]*)</script>', page)[1]
    return config, unpack(base64.b64decode(blob))[1]


def test_each_cycle_writes_its_scene_with_a_frame_per_lead_and_the_warnings(cycle):
    page = (cycle.folder / "scene.html").read_text()
    conf, meta = _page_data(page)
    assert conf["frames"] == [1800.0, 3600.0]  # the slider: one picture per lead time
    labels = [label for _, label in conf["depth_legend"]]
    assert "> 0.15 m: P ≥ 90%" in labels and "> 0.5 m: P 50% – 90% (median)" in labels
    # the buildings by their probability of flooding within the longest lead (buildings.gpkg)
    p = gpd.read_file(cycle.folder / "buildings.gpkg")["p_flooded_60min"].to_numpy()
    assert p.max() >= 0.5 and p.min() < 0.1  # the rim house floods, the corner one does not
    names = meta["buildings"]["names"]
    assert names[int(np.argmax(p))] == f"P flooded {p.max():.0%} within 60 min"
    # warned roads and facilities as lines, with their probability in the tooltip
    drawn = {n["name"]: n for n in meta["network"]}
    assert "street r1 residential" in drawn and drawn["street r1 residential"]["value"] >= 10
    assert conf["network_title"] == "Roads and facilities warned within 60 min: probability"


def test_the_exceedance_picture_is_the_deepest_threshold_reached_and_its_band():
    from twin.scene.forecast import exceedance_codes

    # five cells: dry; > 0.15 m likely; > 0.15 m certain and > 0.3 m possible; all three certain; NaN
    p15 = np.array([0.0, 0.6, 1.0, 1.0, np.nan])
    p30 = np.array([0.0, 0.05, 0.2, 1.0, np.nan])
    p50 = np.array([0.0, 0.0, 0.0, 0.95, np.nan])
    # codes: 1 + 3 * threshold index + band (0: >= 10 %, 1: >= 50 %, 2: >= 90 %)
    assert exceedance_codes([p15, p30, p50], 0.1).tolist() == [0, 2, 4, 9, 0]
    # a warning probability above 50 %: two bands per threshold
    assert exceedance_codes([p15, p30, p50], 0.6).tolist() == [0, 1, 2, 6, 0]


@pytest.mark.chromium
def test_the_forecast_scene_draws_offline_in_chromium_and_its_slider_steps_the_leads(cycle, tmp_path):
    require_chromium()
    page = cycle.folder / "scene.html"
    actions = [
        (
            "(() => document.getElementById('legends').innerText + '|' +"
            " document.getElementById('time-label').textContent)()",
            tmp_path / "max.png",
        ),
        (
            "(() => { const s = document.getElementById('slider'); s.value = '0';"
            " s.dispatchEvent(new Event('input')); return document.getElementById('time-label').textContent; })()",
            tmp_path / "first.png",
        ),
    ]
    report, (shot, _, first) = shoot(page, tmp_path / "scene.png", actions=actions)
    assert report.ready, report.error
    assert report.console_errors == () and report.requests == ()
    # the page names what it shows: chances of exceeding depths at the longest lead, not a flood's maximum
    legends, at_max = report.action_values[0].split("|")
    assert "DEPTH EXCEEDED: CHANCE" in legends.upper() and "FLOOD DEPTH" not in legends.upper()
    assert at_max == "Lead 60min (the longest)"
    assert report.action_values[1] == "t = 30 min"
    r, g, b = (shot[..., k].astype(int) for k in range(3))
    orange = (r > 150) & (g > 50) & (g < 130) & (b < 70)  # > 0.3 m with P >= 90 %: the bowl's middle
    assert orange.sum() > 200
    assert not np.array_equal(shot, first)  # the first lead's water is another picture


def test_twin_info_of_a_forecast_folder_summarises_its_cycles_and_warnings(cycle, tmp_path):
    out = cycle.folder.parent.parent
    res = CliRunner().invoke(main, ["info", str(out)])
    assert res.exit_code == 0, res.output
    assert "Forecast   1 cycles" in res.output and "2026-06-01T09:12:00+00:00" in res.output
    assert "Members    3 (" in res.output and "lead times 30, 60 min" in res.output
    warned = json.loads((cycle.folder / "cycle.json").read_text())["features"]["buildings"]["warned"]
    assert warned >= 1 and f"buildings   {warned:>6} of      3 (building)" in res.output
    res = CliRunner().invoke(main, ["info", str(out), "--json"])
    summary = json.loads(res.output)
    assert summary["kind"] == "forecast" and summary["features"]["street"]["kind"] == "road"
    # a forecast folder before its first cycle: said, not a traceback
    (tmp_path / "fc" / "cycles").mkdir(parents=True)
    res = CliRunner().invoke(main, ["info", str(tmp_path / "fc")])
    assert res.exit_code == 2 and "without a published cycle yet" in res.output


def test_twin_scene_of_a_forecast_folder_writes_its_latest_cycles_scene(cycle, tmp_path):
    import shutil

    out = tmp_path / "fc"
    shutil.copytree(cycle.folder.parent.parent, out)
    latest = out / "cycles" / cycle.folder.name / "scene.html"
    latest.unlink()
    # the forecast folder is enough: its cycle recorded its twin (before: "pass ... --twin TWIN_DIR")
    res = CliRunner().invoke(main, ["scene", str(out)])
    assert res.exit_code == 0, res.output
    conf, _ = _page_data(latest.read_text())
    assert conf["frames"] == [1800.0, 3600.0]
    # the twin moved away: said, and --twin still works
    recorded = json.loads((out / "cycles" / cycle.folder.name / "cycle.json").read_text())["twin"]
    moved = tmp_path / "moved"
    shutil.copytree(recorded, moved)
    cycle_json = out / "cycles" / cycle.folder.name / "cycle.json"
    record = json.loads(cycle_json.read_text())
    cycle_json.write_text(json.dumps({**record, "twin": str(tmp_path / "gone")}))
    latest.unlink()
    res = CliRunner().invoke(main, ["scene", str(out)])
    assert res.exit_code == 2 and "is gone or moved" in res.output and "--twin TWIN_DIR" in res.output
    assert not latest.exists()
    res = CliRunner().invoke(main, ["scene", str(out), "--twin", str(moved)])
    assert res.exit_code == 0, res.output


def test_each_warning_says_the_clock_time_it_expects_the_water(cycle):
    # an officer forwarding a row of warnings.csv: "expected_min 12" said nothing without the cycle's time
    now = pd.Timestamp(cycle.record["now"])
    table = pd.read_csv(cycle.folder / "warnings.csv")
    assert len(table) and list(table.columns).index("expected_at_utc") == list(table.columns).index("expected_min") + 1
    for minutes, at in zip(table["expected_min"], table["expected_at_utc"]):
        assert pd.Timestamp(at) == (now + pd.Timedelta(minutes=minutes)).floor("min")
        assert at.endswith("Z")
    geo = gpd.read_file(cycle.folder / "warnings.geojson")
    # (GDAL reads the ISO text back as a date)
    assert [pd.Timestamp(v).strftime("%Y-%m-%dT%H:%MZ") for v in geo["expected_at_utc"]] == list(
        table["expected_at_utc"]
    )
