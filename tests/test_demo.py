"""The one command a newcomer runs: `twin demo`, end to end on a small sample city."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
from click.testing import CliRunner

from _chromium import shoot
from twin.cli.app import main
from twin.model.twin import Twin
from twin.sims.flood.run import FloodResult


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out", str(out), "--size", "500", "--cell", "4", "--resolution", "5"])
    assert res.exit_code == 0, res.output
    assert "EPSG:4547" in res.output and "mass_balance_error" in res.output
    tw = Twin.load(out / "twin")
    assert tw.shape == (100, 100) and tw.cell_size == 5.0
    assert len(tw.buildings) > 100 and tw.rivers is not None and tw.lakes is not None
    assert (tw.buildings["source"] == "ifc").sum() == 2  # the sample's IFC models replaced their footprints
    summary = json.loads((out / "result" / "summary.json").read_text())
    assert summary["scenario"] == "flood"  # the scenario file's stem
    assert abs(summary["mass_balance_error"]) < 1e-4  # float32 state over thousands of steps
    assert summary["volume_rain_m3"] > 0 and summary["volume_inflow_m3"] > 0 and summary["volume_out_m3"] > 0
    # the sample's sewer network runs coupled with the streets, and the two domains' books close together
    drainage = summary["drainage"]
    assert drainage["nodes_coupled"] >= 10 and drainage["volume_surface_to_network_m3"] > 0
    assert abs(drainage["coupled_mass_balance_error"]) < 1e-4
    assert "Sewer network (" in res.output and "network continuity error" in res.output
    # the same storm routed through the river, creek and lake: water and pollutant balances close
    river = json.loads((out / "river" / "summary.json").read_text())
    assert river["kind"] == "river" and abs(river["mass_balance_error"]) < 1e-9
    assert abs(river["pollutants"][0]["mass_balance_error"]) < 1e-9 and "River-lake result saved" in res.output
    # 30 years of the sample's water supply: the balance closes, the farms go short in a drought, and the plot
    water = json.loads((out / "water" / "summary.json").read_text())
    assert water["kind"] == "water" and water["steps"] == 10958 and water["mass_balance_max_rel_error"] <= 1e-9
    assert "base/farms (priority 3)" in res.output and (out / "water" / "water.png").stat().st_size > 10_000
    # the streets the storm cuts, by name, and from when
    roads = gpd.read_file(out / "result" / "roads.gpkg", layer="roads")
    cut = roads[roads["cut_at_s"].notna()]
    assert len(tw.roads) > 20 and len(cut) and (cut["name"] != "").all()
    assert "Roads: " in res.output and "impassable from t = " in res.output
    result = FloodResult.load(out / "result", twin=tw)
    assert np.isfinite(result.max_depth).all() and result.max_depth.max() > 0.1
    html = (out / "result" / "scene.html").read_text()
    assert "<html" in html.lower() and len(html) > 10_000
    # the demo's own scene draws in a browser with no network, and asks for nothing
    report, (shot,) = shoot(out / "result" / "scene.html", tmp_path / "demo.png")
    assert report.ready, report.error
    assert report.requests == () and report.console_errors == ()
    assert shot.std() > 20  # not a blank page
    # `twin scene` finds the twin recorded in the summary and rewrites the page
    res = CliRunner().invoke(main, ["scene", str(out / "result"), "--out", str(tmp_path / "s.html")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s.html").stat().st_size > 10_000
