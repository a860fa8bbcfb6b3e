"""Comparing two flood results: difference rasters, buildings newly safe or flooded, refusal of other grids."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner

from conftest import CRS
from twin.cli.compare import compare_cmd
from twin.errors import InputDataError
from twin.model.twin import Twin
from twin.sims.flood.compare import compare
from twin.sims.flood.run import run

X0, Y0, DX = 423000.0, 2560000.0, 5.0
NY, NX = 24, 40
RIDGE = 12  # a high row that splits the city into a north and a south basin


def _twin() -> Twin:
    terrain = np.full((NY, NX), 10.0)
    terrain[RIDGE] = 20.0
    b = gpd.GeoDataFrame(
        {"id": ["north", "south"], "base": [10.0, 10.0], "height": [6.0, 6.0], "source": ["gis", "gis"]},
        geometry=[
            shapely.box(X0 + 150, Y0 - 40, X0 + 170, Y0 - 20),
            shapely.box(X0 + 150, Y0 - 100, X0 + 170, Y0 - 80),
        ],
        crs=CRS,
    )
    return Twin(CRS, Affine(DX, 0, X0, 0, -DX, Y0), terrain, buildings=b)


def _scenario(name: str, edits: list) -> dict:
    pulse = [[0, 10.0], [300, 10.0], [300.001, 0.0]]  # 3000 m3 into each basin
    # a fixed time step: both runs take the same steps, so the basin the wall does not touch is
    # computed bit for bit alike and its difference is exactly zero
    return {
        "name": name,
        "duration": 600,
        "output_interval": 300,
        "infiltration": {"model": "none"},
        "inflow": [
            {"at": [X0 + 22.0, Y0 - 30.0], "hydrograph": pulse},
            {"at": [X0 + 22.0, Y0 - 92.0], "hydrograph": pulse},
        ],
        "numerics": {"dtype": "float64", "fixed_dt": 0.5},
        "edit": edits,
    }


WALL = {"type": "floodwall", "line": [[X0 + 102.5, Y0 - 65.5], [X0 + 102.5, Y0 - 119.9]], "crest": 11.5}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    _twin().save(root / "twin")
    tw = Twin.load(root / "twin")
    a = run(tw, _scenario("no wall", []), out=root / "a", progress=False, scene=False)
    b = run(tw, _scenario("wall", [WALL]), out=root / "b", progress=False, scene=False)
    return root, a, b


def test_a_floodwall_shows_where_it_acts_and_which_buildings_it_saves(runs):
    _, a, b = runs
    c = compare(a, b)
    d = c.max_depth_diff
    assert (d[: RIDGE + 1] == 0).all()  # the north basin and the ridge: untouched by the wall
    wall_col = 20
    south = slice(RIDGE + 1, NY)
    east = d[south, wall_col + 1 :]
    footprint = a.twin.building_mask[south, wall_col + 1 :] > 0
    assert (east[~footprint] < 0).all() and (east[footprint] == 0).all()  # east of the wall now dry
    assert (d[south, :wall_col] > 0).all()  # the water held back stands deeper in the west
    st = dict(zip(c.buildings["id"], c.buildings["status"]))
    assert st == {"north": "flooded in both", "south": "newly safe"}
    s = c.summary
    assert s["buildings"]["newly_safe"] == 1 and s["buildings"]["newly_safe_ids"] == ["south"]
    assert s["figures"]["buildings_flooded"] == {"a": 2, "b": 1, "b_minus_a": -1}
    assert s["b"]["edits"][0]["type"] == "floodwall" and s["b"]["scenario"] == "wall"
    # the same water in both runs: the stored volumes agree to the float64 mass balance
    assert abs(s["figures"]["volume_stored_m3"]["b_minus_a"]) < 1e-6 * s["figures"]["volume_in_m3"]["a"]
    assert s["difference"]["cells_newly_dry"] > 0 and s["difference"]["cells_newly_wet"] == 0
    # the front spreads west as before and the wall's reflection wets a few cells one step (0.5 s)
    # sooner: counted without a time tolerance, not with the default 60 s
    exact = compare(a, b, time_tolerance=0.0).summary["difference"]
    assert exact["cells_earlier"] > 0 and exact["cells_later"] == 0
    assert s["difference"]["cells_earlier"] == s["difference"]["cells_later"] == 0
    # arrival: NaN where either stays dry (east of the wall in b), 0 in the untouched north
    assert np.isnan(c.arrival_time_diff[south, wall_col + 1 :]).all()
    assert (c.arrival_time_diff[:RIDGE][np.isfinite(c.arrival_time_diff[:RIDGE])] == 0).all()


def test_figures_leave_rivers_and_lakes_out(runs):
    import dataclasses

    _, a, b = runs
    full = compare(a, b).summary["difference"]
    assert full["cells_counted"].startswith("land")
    tw = _twin()
    # a lake over the west half of the southern basin, where the wall holds the water deeper
    tw.lakes = gpd.GeoDataFrame({"level": [10.0]}, geometry=[shapely.box(X0, Y0 - 120, X0 + 50, Y0 - 65)], crs=CRS)
    lake = int(tw.lake_mask.sum())
    assert lake == 10 * 11
    part = compare(a, dataclasses.replace(b, twin=tw)).summary["difference"]
    assert part["cells_deeper"] == full["cells_deeper"] - lake
    assert part["cells_shallower"] == full["cells_shallower"]


def test_a_result_against_itself_is_all_zeros(runs):
    _, a, _ = runs
    c = compare(a, a)
    assert (c.max_depth_diff == 0).all() and (c.hazard_class_change == 0).all()
    assert (c.arrival_time_diff[np.isfinite(c.arrival_time_diff)] == 0).all()
    assert set(c.buildings["status"]) == {"flooded in both"}
    assert c.summary["difference"]["cells_deeper"] == c.summary["difference"]["cells_shallower"] == 0


def test_save_writes_georeferenced_rasters_buildings_and_scene(runs, tmp_path):
    root, a, b = runs
    c = compare(root / "a", root / "b")  # folders: the twin comes from the path in summary.json
    assert (
        c.twin is not None and c.twin.terrain[RIDGE + 1, 20] == 11.5 and c.twin.terrain[RIDGE, 20] == 20.0
    )  # b's wall is in the twin
    out = c.save(tmp_path / "cmp")
    with rasterio.open(out / "max_depth_diff.tif") as src:
        assert pyproj.CRS(src.crs.to_wkt()) == pyproj.CRS(CRS) and src.shape == (NY, NX)
        np.testing.assert_allclose(src.read(1), compare(a, b).max_depth_diff)
    for name in ("arrival_time_diff.tif", "hazard_class_change.tif", "scene.html"):
        assert (out / name).is_file()
    back = gpd.read_file(out / "buildings.gpkg")
    assert set(back["status"]) == {"flooded in both", "newly safe"}
    assert json.loads((out / "comparison.json").read_text())["buildings"]["newly_safe_ids"] == ["south"]
    data = c.scene()._data
    assert "depth" in data.images
    labels = [label for _, label in data.building_meta["legend"]]
    assert labels == ["Flooded in both", "Newly safe"]
    assert any("Shallower" in label for _, label in data.depth_legend)
    assert data.depth_title == "Change in maximum depth"  # the page's legend and toggle say so, not "Flood depth"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_results_on_other_grids_are_refused(runs, tmp_path):
    _, a, _ = runs
    other = Twin(CRS, Affine(DX, 0, X0, 0, -DX, Y0), np.full((NY, NX + 2), 10.0))
    r = run(other, {"duration": 60, "rain": {"constant": 10.0}}, progress=False)
    with pytest.raises(InputDataError, match="different grids"):
        compare(a, r)
    moved = Twin(CRS, Affine(DX, 0, X0 + 1.0, 0, -DX, Y0), np.full((NY, NX), 10.0))
    with pytest.raises(InputDataError, match="different grids"):
        compare(a, run(moved, {"duration": 60, "rain": {"constant": 10.0}}, progress=False))
    with pytest.raises(InputDataError, match="not a flood result"):
        compare(tmp_path, a)


def test_cli_compare(runs, tmp_path):
    root, _, _ = runs
    res = CliRunner().invoke(compare_cmd, [str(root / "a"), str(root / "b"), "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert "newly safe 1" in res.output and "buildings_flooded" in res.output
    assert json.loads((tmp_path / "c" / "comparison.json").read_text())["difference"]["time_tolerance_s"] == 60.0
    assert (tmp_path / "c" / "scene.html").is_file()
    res = CliRunner().invoke(
        compare_cmd,
        [
            str(root / "a"),
            str(root / "b"),
            "--out",
            str(tmp_path / "d"),
            "--no-scene",
            "--time-tolerance",
            "0",
            "--tolerance",
            "0.5",
        ],
    )
    assert res.exit_code == 0 and not (tmp_path / "d" / "scene.html").exists()
    d = json.loads((tmp_path / "d" / "comparison.json").read_text())["difference"]
    assert d["time_tolerance_s"] == 0.0 and d["tolerance_m"] == 0.5 and d["cells_earlier"] > 0
    res = CliRunner().invoke(compare_cmd, [str(root / "a"), str(tmp_path / "c"), "--out", str(tmp_path / "e")])
    assert isinstance(res.exception, InputDataError) and "not a flood result" in str(res.exception)


@pytest.mark.chromium
def test_comparison_scene_draws_offline_in_chromium(runs, tmp_path):
    """The comparison page draws without network: red where b is deeper, blue where shallower,
    the newly safe building green."""
    from _chromium import shoot

    _, a, b = runs
    page = compare(a, b).scene().to_html(tmp_path / "scene.html")
    report, (shot,) = shoot(page, tmp_path / "scene.png")
    assert report.ready, report.error
    assert report.requests == () and report.console_errors == ()
    r, g, bl = (shot[..., k].astype(int) for k in range(3))
    # each half of the southern basin covers tens of thousands of pixels at this zoom
    assert ((r - bl > 60) & (r > 150)).sum() > 10_000  # deeper: the water held west of the wall
    assert ((bl - r > 40) & (bl > 120)).sum() > 10_000  # shallower: east of the wall
    assert ((g - r > 80) & (g - bl > 40)).sum() > 1_000  # the newly safe building's roof and walls


# --- Building exposure: the water against the building's base ------------------------------------

POND_TWIN_SHAPE = (20, 30)
HOUSE = shapely.box(X0 + 50, Y0 - 60, X0 + 80, Y0 - 40)  # cols 10-15, rows 8-11
# 2 m deep, 6 x 4 cells (600 m2, 1200 m3) right beside the house's east wall
POND = {
    "type": "pond",
    "depth": 2.0,
    "polygon": [[X0 + 80, Y0 - 62], [X0 + 110, Y0 - 62], [X0 + 110, Y0 - 38], [X0 + 80, Y0 - 38]],
}


def _pond_twin() -> Twin:
    b = gpd.GeoDataFrame(
        {"id": ["house"], "base": [10.0], "height": [6.0], "source": ["gis"]}, geometry=[HOUSE], crs=CRS
    )
    return Twin(CRS, Affine(DX, 0, X0, 0, -DX, Y0), np.full(POND_TWIN_SHAPE, 10.0), buildings=b)


def _pond_scenario(name: str, volume: float, edits: list) -> dict:
    rate = volume / 1800.0  # m3/s for 30 minutes, into the pond's middle
    return {
        "name": name,
        "duration": 3600,
        "output_interval": 1800,
        "infiltration": {"model": "none"},
        "inflow": [{"at": [X0 + 97.5, Y0 - 47.5], "hydrograph": [[0, rate], [1800, rate], [1800.001, 0.0]]}],
        "numerics": {"dtype": "float64"},
        "edit": edits,
    }


def test_a_pond_dug_beside_a_building_does_not_flood_it(tmp_path):
    # 900 m3 into the pond fill it 1.5 m deep: its surface (9.5 m) stays below the house's base
    # (10 m), so the house is dry although 1.5 m of water stand in the cells next to its wall.
    # Without the pond the same water spreads 6 cm deep over the flat city: dry too. Counting the
    # depth in the ring cells instead of the level against the base made it "newly flooded".
    tw = _pond_twin()
    plain = run(tw, _pond_scenario("no pond", 900.0, []), progress=False, scene=False)
    pond = run(tw, _pond_scenario("pond", 900.0, [POND]), progress=False, scene=False)
    ring_depth = pond.max_depth[8:12, 16].max()
    assert ring_depth == pytest.approx(1.5, abs=0.05)
    assert pond.buildings["max_depth"].iloc[0] == 0.0 and not pond.buildings["flooded"].iloc[0]
    assert pond.summary["buildings_flooded"] == 0
    c = compare(plain, pond)
    assert c.summary["buildings"]["newly_flooded"] == 0
    assert c.buildings.set_index("id").loc["house", "status"] == "dry in both"
    # 5400 m3 fill the pond (1200 m3) and stand 0.3 m over the rest of the city (13,800 m2 open):
    # now the water truly rises above the base and the house is newly flooded, by 0.3 m.
    deep = run(tw, _pond_scenario("pond overtopped", 5400.0, [POND]), progress=False, scene=False)
    assert deep.buildings["max_depth"].iloc[0] == pytest.approx(0.3, abs=0.03)
    assert deep.buildings["flooded"].iloc[0]
    c = compare(plain, deep)
    assert c.summary["buildings"]["newly_flooded_ids"] == ["house"]
    assert c.buildings.set_index("id").loc["house", "depth_b"] == pytest.approx(0.3, abs=0.03)


def test_exposure_counts_water_above_the_base_and_at_most_its_depth():
    # One building, base 10 m, on a slope: ring cells west of it lie 0.5 m lower, east 0.5 m higher.
    from twin.sims.flood.exposure import building_exposure

    tw = _pond_twin()
    ground = np.full(POND_TWIN_SHAPE, 10.0)
    ground[:, :10] = 9.5
    ground[:, 16:] = 10.5
    arrival = np.full(POND_TWIN_SHAPE, np.nan)

    def wall_depth(depth: np.ndarray) -> float:
        return float(
            building_exposure(tw.buildings, tw.transform, tw.shape, depth, arrival, ground=ground, flooded_depth=0.1)[
                "max_depth"
            ].iloc[0]
        )

    low = np.zeros(POND_TWIN_SHAPE)
    low[:, 9] = 0.4  # surface 9.9 m: below the base
    assert wall_depth(low) == 0.0
    low[:, 9] = 0.7  # surface 10.2 m: 0.2 m above the base
    assert wall_depth(low) == pytest.approx(0.2)
    high = np.zeros(POND_TWIN_SHAPE)
    high[:, 16] = 0.05  # 5 cm on ground above the base: 5 cm against the wall, not 55
    assert wall_depth(high) == pytest.approx(0.05)


def test_results_measuring_buildings_by_another_rule_are_refused(runs, tmp_path):
    # A result folder from before the exposure rule (no "building_exposure" in summary.json) counted
    # the depth beside the walls; its building statuses cannot be set against a newer result's.
    root, a, b = runs
    old = tmp_path / "old"
    shutil.copytree(root / "a", old)
    summary = json.loads((old / "summary.json").read_text())
    del summary["building_exposure"]
    (old / "summary.json").write_text(json.dumps(summary))
    (old / "cimtwin.json").unlink()  # folders of that time carried no marker and no checksums
    with pytest.raises(InputDataError, match="older cimtwin"):
        compare(old, root / "b")
