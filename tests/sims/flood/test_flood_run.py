"""Flood runs on a twin: forcings onto the grid, mass balance, outputs, checkpoints, bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
import xarray as xr
from affine import Affine
from click.testing import CliRunner

from conftest import CRS, DX, X0, Y0, flood_scenario, plane_twin, plane_variants
from twin import _io
from twin.errors import InputDataError, NumericalError, ScenarioError
from twin.model.twin import Twin
from twin.sims.flood.forcing import MM_PER_H, _roof_share, setup
from twin.sims.flood.run import FloodResult, run
from twin.sims.flood.scenario import Scenario


def test_mass_balance_with_every_forcing_float64():
    tw = plane_twin()
    r = run(tw, flood_scenario(), progress=False)
    s = r.summary
    # every term is present, so the balance tests all of them together
    for key in (
        "volume_rain_m3",
        "volume_inflow_m3",
        "volume_boundary_in_m3",
        "volume_out_m3",
        "volume_infiltrated_m3",
        "volume_drained_m3",
    ):
        assert s[key] > 0, key
    # float64 state, float64 accounting: round-off only (the issue's bound is 1e-6)
    assert abs(s["mass_balance_error"]) < 1e-9
    # the inflow volume equals the hydrograph's integral (trapezoids), 0-300 s rising, 300-900 s falling
    assert s["volume_inflow_m3"] == pytest.approx(0.5 * 300 * 2.0 + 0.5 * 600 * 2.5, rel=1e-9)
    # rain falls on every cell including roofs (moved beside the buildings): 80 mm/h for 600 s + the last second's ramp
    area = tw.shape[0] * tw.shape[1] * DX * DX
    assert s["volume_rain_m3"] == pytest.approx(area * 80 * MM_PER_H * (600 + 0.5), rel=1e-9)
    assert np.isfinite(r.max_depth).all() and (r.max_depth >= 0).all()


def test_mass_balance_float32_state():
    r = run(plane_twin(), flood_scenario(numerics={"dtype": "float32"}), progress=False)
    # float32 depths carry ~7 significant digits; the accounting is float64, so the residual is the
    # rounding of the stored depths themselves (measured ~1e-7 here; bound with margin)
    assert abs(r.summary["mass_balance_error"]) < 1e-5
    assert r.summary["dtype"] == "float32"


def test_roof_rain_is_moved_not_lost():
    blocked = np.zeros((20, 20), np.uint8)
    blocked[5:9, 5:9] = 1
    blocked[5:9, 9:12] = 1  # a second building touching the first
    blocked[15:18, 2:4] = 1
    mult = _roof_share(blocked)
    assert mult.sum() == pytest.approx(blocked.size)  # every cell's rain lands somewhere
    assert (mult[blocked > 0] == 0).all()
    assert mult[0, 0] == 1.0 and mult[4, 6] > 1.0


def test_buildings_block_or_raise():
    tw = plane_twin()
    blocked = run(tw, flood_scenario(buildings="block"), progress=False)
    # a result keeps depths above output.wet_depth (0 elsewhere): a few mm stand on the roofs
    raised = run(
        tw, flood_scenario(buildings="raise", output={"gauge_interval": 60, "wet_depth": 1e-4}), progress=False
    )
    inside = tw.building_mask > 0
    assert (blocked.max_depth[inside] == 0).all()  # no water inside blocked footprints
    assert raised.max_depth[inside].max() > 0  # rain on raised roofs stands there
    assert abs(raised.summary["mass_balance_error"]) < 1e-9
    # exposure: the building beside the inflow gets wet on its outline
    assert (blocked.buildings["max_depth"] >= 0).all()
    assert set(blocked.buildings.columns) >= {"max_depth", "arrival_time", "flooded"}


def test_result_folder_and_reload(tmp_path):
    tw = plane_twin()
    r = run(tw, flood_scenario(), out=tmp_path / "res", progress=False, scene=False)
    out = tmp_path / "res"
    for name in ("max_depth", "max_speed", "arrival_time", "duration", "hazard", "hazard_class"):
        with rasterio.open(out / f"{name}.tif") as src:
            assert pyproj.CRS(src.crs.to_wkt()) == tw.crs and src.shape == tw.shape
    with xr.open_dataset(out / "depth.nc", decode_times=False) as ds:
        assert ds["depth"].shape == (4, *tw.shape)  # t = 0, 300, 600, 900
        np.testing.assert_array_equal(ds["time"].values, [0, 300, 600, 900])
        assert pyproj.CRS.from_cf(ds["spatial_ref"].attrs) == tw.crs
        np.testing.assert_allclose(ds["depth"].max("time").values, r.max_depth, atol=0.5)
        # the cell speed at the same times: 0 where dry, not above the run's maximum speed
        speed, depth = ds["speed"].values, ds["depth"].values
        assert speed.shape == depth.shape and ds["speed"].attrs["units"] == "m s-1"
        assert ds["speed"].attrs["grid_mapping"] == "spatial_ref"
        assert not speed[depth <= flood_scenario().output.wet_depth].any() and float(speed.max()) > 0
        # (the run's last state is never folded into max_speed by a step after it: a rounding above)
        assert (speed <= r.max_speed * (1 + 1e-3)).all()
        assert float(speed.max()) > 0.5 * float(r.max_speed.max())
        np.testing.assert_array_equal(speed, r.speed_frames)
    s = json.loads((out / "summary.json").read_text())
    for key in (
        "volume_in_m3",
        "volume_out_m3",
        "volume_lost_m3",
        "volume_stored_m3",
        "mass_balance_error",
        "steps",
        "wall_seconds",
        "cpu_seconds",
        "cell_updates_per_second",
        "buildings_flooded",
        "scenario_hash",
    ):
        assert key in s
    assert s["scenario_hash"] == flood_scenario().hash
    assert s["cpu_seconds"] > 0 and 0 < s["kernel_seconds"] <= s["wall_seconds"]  # the time loop's
    g = (out / "gauges.csv").read_text().splitlines()
    assert g[0] == "time_s,pit_depth_m,pit_level_m" and len(g) == 1 + 16  # t = 0..900 every 60 s
    back = FloodResult.load(out)
    np.testing.assert_array_equal(back.max_depth, r.max_depth)
    np.testing.assert_array_equal(back.hazard_class, r.hazard_class)
    np.testing.assert_array_equal(back.speed_frames, r.speed_frames)
    assert back.summary == s and len(back.buildings) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("stepping", ["global", "local"])
def test_checkpoint_and_resume_equal_an_uninterrupted_run(tmp_path, stepping):
    tw = plane_twin()
    sc = flood_scenario(checkpoint_interval=300, numerics={"dtype": "float64", "time_stepping": stepping})
    full = run(tw, sc, out=tmp_path / "full", progress=False, scene=False)
    assert not (tmp_path / "full.checkpoint.npz").exists()  # removed once the result is written
    assert run(tw, sc, out=tmp_path / "part", progress=False, stop_at=450, scene=False) is None
    assert (tmp_path / "part.checkpoint.npz").exists() and not (tmp_path / "part").exists()
    # a run killed after its checkpoint has written snapshots past it: they are cut off and taken again
    frames = tmp_path / "part.frames.f32"
    assert frames.stat().st_size == 2 * tw.shape[0] * tw.shape[1] * 4  # t = 0 and 300 s
    speeds = tmp_path / "part.speed.f32"  # the speed snapshots: as many as the checkpoint covers
    assert speeds.stat().st_size == frames.stat().st_size
    for path in (frames, speeds):
        with open(path, "ab") as fh:
            fh.write(np.full(tw.shape, 7.0, np.float32).tobytes())
    with np.load(tmp_path / "part.checkpoint.npz") as ck:
        before = json.loads(str(ck["run_stats"]))
    resumed = run(tw, sc, out=tmp_path / "part", progress=False, resume=True, scene=False)
    # the loop's times go on from the checkpoint's
    assert 0 < before["cpu_seconds"] <= resumed.summary["cpu_seconds"]
    assert before["wall_seconds"] <= resumed.summary["wall_seconds"]
    assert not frames.exists()
    with xr.open_dataset(tmp_path / "part" / "depth.nc") as a, xr.open_dataset(tmp_path / "full" / "depth.nc") as b:
        np.testing.assert_array_equal(a["depth"].values, b["depth"].values)
        np.testing.assert_array_equal(a["speed"].values, b["speed"].values)
    assert not speeds.exists()
    for name in ("max_depth", "max_speed", "arrival_time", "duration", "hazard", "depth_frames", "speed_frames"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name), err_msg=name)
    for key in ("volume_in_m3", "volume_out_m3", "volume_lost_m3", "volume_stored_m3", "steps"):
        assert resumed.summary[key] == full.summary[key], key
    # local time stepping says how the cell-time was shared among its levels
    assert ("time_step_levels" in full.summary) == (stepping == "local")
    # a checkpoint from another scenario is refused rather than mixed in
    run(tw, sc, out=tmp_path / "x", progress=False, stop_at=300, scene=False)
    with pytest.raises(ScenarioError, match="another scenario"):
        run(tw, flood_scenario(checkpoint_interval=300, duration=1200), out=tmp_path / "x", resume=True, progress=False)


def test_rain_frames_from_rasters(tmp_path):
    tw = plane_twin()
    # two frames in another CRS-free form: same grid, 20 and 50 mm/h, on a coarser 10 m grid
    t = Affine(10.0, 0, X0, 0, -10.0, Y0)
    for name, rate in (("a.tif", 20.0), ("b.tif", 50.0)):
        _io.write_geotiff(tmp_path / name, np.full((12, 16), rate, np.float32), t, pyproj.CRS(CRS))
    (tmp_path / "s.toml").write_text(
        'duration = 600\noutput_interval = 300\nbuildings = "raise"\n[infiltration]\nmodel = "none"\n'
        '[numerics]\ndtype = "float64"\n'
        '[rain]\nframes = [{time = 0, file = "a.tif"}, {time = 200, file = "b.tif"}]\n'
    )
    r = run(tw, Scenario.from_toml(tmp_path / "s.toml"), progress=False)
    area = tw.shape[0] * tw.shape[1] * DX * DX
    assert r.summary["volume_rain_m3"] == pytest.approx(area * MM_PER_H * (20 * 200 + 50 * 400), rel=1e-9)
    (tmp_path / "bad.toml").write_text('duration = 600\n[rain]\nframes = [{time = 0, file = "missing.tif"}]\n')
    with pytest.raises(InputDataError, match="missing.tif"):
        run(tw, Scenario.from_toml(tmp_path / "bad.toml"), progress=False)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"rain": {"constant": -5}}, "rain.constant"),
        ({"rain": {"hyetograph": [[0, 10], [600, 5], [300, 0]]}}, "times must increase"),
        ({"inflow": [{"at": [X0, Y0], "hydrograph": [[600, 1.0], [0, 1.0]]}]}, "times must increase"),
        ({"duration": "two hours"}, "duration"),
        ({"boundary": [{"edge": "east", "type": "level"}]}, "needs level"),
        ({"rains": {"constant": 5}}, "rains: unknown key"),
    ],
)
def test_bad_scenarios_name_the_key(bad, match):
    base = {"duration": 600}
    base.update(bad)
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict(base)


def test_points_outside_or_on_buildings_are_refused():
    tw = plane_twin()
    with pytest.raises(ScenarioError, match="outside the twin"):
        setup(tw, flood_scenario(inflow=[{"at": [X0 - 100.0, Y0], "hydrograph": [[0, 1.0]]}]))
    with pytest.raises(ScenarioError, match="building"):
        setup(tw, flood_scenario(inflow=[{"at": [X0 + 70.0, Y0 - 30.0], "hydrograph": [[0, 1.0]]}]))
    with pytest.raises(ScenarioError, match="gauge.0.at"):
        setup(tw, flood_scenario(gauge=[{"name": "far", "at": [0.0, 0.0]}]))


def test_unstable_fixed_time_step_is_a_clear_error_not_nan():
    tw = plane_twin()
    sc = flood_scenario(numerics={"dtype": "float64", "fixed_dt": 30.0})
    with pytest.raises(NumericalError, match="fixed_dt"):
        run(tw, sc, progress=False)


def test_nan_dem_never_reaches_the_kernel():
    tw = plane_twin()
    bad = np.array(tw.terrain)
    bad[3, 3] = np.nan
    with pytest.raises(InputDataError, match="NaN"):
        tw.set_terrain(bad)


def test_symmetric_city_gives_a_symmetric_flood():
    n = 31
    transform = Affine(DX, 0, X0, 0, -DX, Y0)
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    terrain = 0.001 * (xx**2 + yy**2) ** 0.5
    c = X0 + n * DX / 2
    b = gpd.GeoDataFrame(
        {"id": ["w", "e"], "base": [0.0, 0.0], "height": [5.0, 5.0], "source": ["gis"] * 2},
        # edges between cell centres, so rasterising is unambiguous and mirror-symmetric
        geometry=[
            shapely.box(c - 41, Y0 - n * DX / 2 - 11, c - 24, Y0 - n * DX / 2 + 11),
            shapely.box(c + 24, Y0 - n * DX / 2 - 11, c + 41, Y0 - n * DX / 2 + 11),
        ],
        crs=CRS,
    )
    tw = Twin(CRS, transform, terrain, buildings=b)
    sc = Scenario.from_dict(
        {
            "duration": 600,
            "rain": {"constant": 50.0},
            "inflow": [{"at": [c, Y0 - n * DX / 2], "hydrograph": [[0, 1.0]]}],
            "infiltration": {"model": "none"},
            "numerics": {"dtype": "float64"},
        }
    )
    r = run(tw, sc, progress=False)
    h = r.max_depth.astype(float)
    assert (tw.building_mask == tw.building_mask[:, ::-1]).all() and tw.building_mask.sum() == 2 * 4 * 5
    np.testing.assert_allclose(h, h[:, ::-1], atol=1e-9)
    np.testing.assert_allclose(h, h[::-1, :], atol=1e-9)


def test_cli_run_info_and_resume(tmp_path):
    tw = plane_twin()
    tw.save(tmp_path / "tw")
    (tmp_path / "s.toml").write_text("duration = 600\ncheckpoint_interval = 200\n[rain]\nconstant = 40\n")
    runner = CliRunner()
    res = runner.invoke(
        main_cli(),
        [
            "run",
            str(tmp_path / "s.toml"),
            "--twin",
            str(tmp_path / "tw"),
            "--out",
            str(tmp_path / "r"),
            "--stop-at",
            "200",
            "--quiet",
            "--no-scene",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "resume" in res.output.lower()
    res = runner.invoke(
        main_cli(),
        [
            "run",
            str(tmp_path / "s.toml"),
            "--twin",
            str(tmp_path / "tw"),
            "--out",
            str(tmp_path / "r"),
            "--resume",
            "--quiet",
            "--no-scene",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "mass_balance_error" in res.output
    res = runner.invoke(main_cli(), ["info", str(tmp_path / "r")])
    assert res.exit_code == 0 and "volume_in_m3" in res.output
    (tmp_path / "bad.toml").write_text("duration = 600\n[rain]\nconstant = -1\n")
    res = runner.invoke(
        main_cli(),
        ["run", str(tmp_path / "bad.toml"), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "r2"), "--quiet"],
    )
    assert res.exit_code == 2 and "rain.constant" in res.output


def main_cli():
    from twin.cli.app import main

    return main


def test_hazard_classes_follow_fd2320_bounds():
    from twin.sims.flood.exposure import hazard_class

    hr = np.array([0.0, 0.74, 0.75, 1.25, 1.26, 2.0, 2.01, 5.0])
    depth = np.array([0.0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    # low < 0.75 <= moderate < 1.25 <= significant < 2.0 <= extreme; dry cells have no class
    np.testing.assert_array_equal(hazard_class(hr, depth, 0.01), [0, 1, 2, 3, 3, 4, 4, 4])


def test_design_storm_rain_volume_equals_the_storm_depth():
    from twin.sims.flood.storms import chicago

    tw = plane_twin()
    design = {
        "method": "chicago",
        "A": 3618.427,
        "b": 11.259,
        "C": 0.438,
        "n": 0.75,
        "return_period": 10,
        "duration": "10min",
        "step": "1min",
        "peak": 0.4,
    }
    r = run(
        tw,
        flood_scenario(
            rain={"design": design}, inflow=[], boundary=[], infiltration={"model": "none"}, drainage={"capacity": 0.0}
        ),
        progress=False,
    )
    depth_mm = chicago(3618.427, 11.259, 0.438, 0.75, 10, 600, peak_ratio=0.4, dt_s=60).depth_mm
    area = tw.shape[0] * tw.shape[1] * DX * DX
    # the kernel integrates the piecewise-linear series exactly, and the series keeps the storm depth
    assert r.summary["volume_rain_m3"] == pytest.approx(area * depth_mm / 1000.0, rel=1e-9)
    assert r.scenario["rain"]["design"]["method"] == "chicago"
    assert r.summary["design_storm"]["depth_mm"] == pytest.approx(depth_mm)
    assert len(r.summary["design_storm"]["intensity_mm_h"]) == 10


def test_river_fill_is_a_level_so_the_banks_do_not_spill():
    # a V-shaped valley: a 20 m wide, 2 m deep river whose buffered cells include the sloping banks
    ny, nx = 20, 30
    transform = Affine(DX, 0, X0, 0, -DX, Y0)
    y = Y0 - (np.arange(ny) + 0.5) * DX
    yc = Y0 - 50.0
    terrain = np.tile((3.0 + 0.25 * np.abs(y - yc))[:, None], (1, nx))
    line = shapely.LineString([(X0, yc), (X0 + nx * DX, yc)])
    rivers = gpd.GeoDataFrame({"width": [20.0], "depth": [2.0]}, geometry=[line], crs=CRS)
    tw = Twin(CRS, transform, terrain, rivers=rivers)
    h0 = setup(tw, Scenario.from_dict({"duration": 60, "initial": {"river_fill": 0.5}})).h0
    wet = h0 > 0
    level = (terrain + h0)[wet]
    bed = terrain[tw.river_mask > 0].min()
    # one flat water surface at bed + 0.5 x 2 m, never a uniform depth laid over the banks
    np.testing.assert_allclose(level, bed + 1.0, atol=1e-12)
    assert h0.max() == pytest.approx(1.0) and wet.sum() < (tw.river_mask > 0).sum()


def test_scenarios_default_to_the_courant_factor_deep_lakes_need():
    # kernels.flood's literature default 0.7 lets deep still water oscillate (see
    # test_deep_lake_under_rain_needs_alpha_0_6); a city holds lakes, so scenarios take 0.6
    assert Scenario.from_dict({"duration": 60}).numerics.alpha == 0.6


@pytest.mark.parametrize("changed", ["land use", "rivers", "lakes"])
def test_resume_on_a_twin_with_other_land_use_rivers_or_lakes_is_refused(tmp_path, changed):
    tw = plane_twin()
    other = plane_variants()[changed]
    np.testing.assert_array_equal(other.terrain, tw.terrain)  # what the old fingerprint hashed is the same
    np.testing.assert_array_equal(other.building_mask, tw.building_mask)
    sc = flood_scenario(checkpoint_interval=300)
    assert run(tw, sc, out=tmp_path / "r", progress=False, stop_at=300, scene=False) is None
    with pytest.raises(ScenarioError, match=f"the twin's {changed} changed") as err:
        run(other, sc, out=tmp_path / "r", progress=False, resume=True, scene=False)
    assert "terrain" not in str(err.value) and "scenario" in str(err.value)
    # the twin that wrote it still resumes, but not without the snapshots the checkpoint counts
    (tmp_path / "r.frames.f32").write_bytes(b"")
    with pytest.raises(InputDataError, match="holds 0 frames but the checkpoint needs 2"):
        run(tw, sc, out=tmp_path / "r", progress=False, resume=True, scene=False)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        (
            {"duration": 10, "output_interval": 0.001},
            r"output_interval = 0\.001 s \(10001 depth snapshots.*at least 1 s",
        ),
        ({"duration": "1d", "output_interval": 1}, r"output_interval = 1 s writes 86401 depth snapshots.*at least 9 s"),
        (
            {"duration": "1d", "output": {"gauge_interval": 0.01}},
            r"output\.gauge_interval = 0\.01 s is below the floor",
        ),
        (
            {"duration": "300d", "output_interval": "1d", "output": {"gauge_interval": 10}},
            r"2592001 gauge rows.*at least 24 s",
        ),
        ({"duration": 900, "checkpoint_interval": 0.5}, r"checkpoint_interval = 0\.5 s is below the floor"),
        ({"duration": "100000d"}, r"duration = 8\.64e\+09 s \(100000 days\) is longer than the 366 days"),
    ],
)
def test_scenario_limits_name_the_key_the_count_and_the_fix(over, match):
    with pytest.raises(ScenarioError, match=match):
        flood_scenario(**over)


def test_snapshot_count_is_bounded_only_with_snapshots():
    sc = flood_scenario(duration="1d", output_interval=1, output={"snapshots": False})
    assert sc.snapshot_count == 86401  # allowed: nothing is kept per output time


def test_snapshot_budget_against_the_free_disk():
    from twin.sims.flood.frames import check_budget

    check_budget(1000, 1_000_000, 10**12, 60.0)  # 4 GB of 1 TB free
    with pytest.raises(ScenarioError, match=r"output_interval = 60 s writes 1000 depth snapshots.*4\.0 GB.*1\.0 GB"):
        check_budget(1000, 1_000_000, 10**9, 60.0)
    # depth and speed snapshots: twice the bytes
    check_budget(1000, 1_000_000, 85 * 10**8, 60.0)
    with pytest.raises(ScenarioError, match=r"1000 depth and speed snapshots.*8\.0 GB.*8\.5 GB"):
        check_budget(1000, 1_000_000, 85 * 10**8, 60.0, stores=2)


_MEMORY_SCRIPT = r"""
import json, sys, time
import numpy as np, psutil
from affine import Affine
from twin.sims.flood.run import run
from twin.model.twin import Twin

tw = Twin("EPSG:4547", Affine(5.0, 0, 423000.0, 0, -5.0, 2560000.0),
          np.tile(5.0 - 0.002 * np.arange(400) * 5.0, (400, 1)))
out = sys.argv[1]
base = {"infiltration": {"model": "none"}, "rain": {"constant": 20.0}}
run(tw, {**base, "duration": 10, "output_interval": 5}, out=out + "-warm", progress=False, scene=False)  # imports
rss0 = psutil.Process().memory_info().rss
# the peak so far is the warm-up's (imports, compiling): reset it so that the peak read below is this run's
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
t0 = time.perf_counter()
r = run(tw, {**base, **json.loads(sys.argv[2])}, out=out, progress=False, scene=False,
        stop_at=float(sys.argv[3]) if len(sys.argv) > 3 else None)
seconds = time.perf_counter() - t0
peak = max(psutil.Process().memory_info().rss,
           next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:")))
frames = None if r is None else [type(r.depth_frames).__name__, len(r.depth_frames)]
print(json.dumps({"growth_mb": (peak - rss0) / 1e6, "seconds": seconds, "frames": frames}))
"""


def _measure(tmp_path, scenario: dict, *stop_at: float) -> dict:
    """Peak memory growth and wall time of one run in a fresh process (so the peak is that run's)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(tmp_path / "r"), json.dumps(scenario), *map(str, stop_at)],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_snapshots_go_to_disk_as_they_come(tmp_path):
    # 601 frames of 160,000 cells: 385 MB that a list in RAM (and its stack at the end) would hold twice
    m = _measure(tmp_path, {"duration": 600, "output_interval": 1})
    assert m["frames"] == ["memmap", 601]
    assert m["growth_mb"] < 200, m
    with xr.open_dataset(tmp_path / "r" / "depth.nc", decode_times=False) as ds:
        assert ds["depth"].shape == (601, 400, 400) and ds["depth"].encoding["chunksizes"] == (1, 400, 400)
        assert float(ds["depth"][-1].max()) > 0 and ds["time"].values[-1] == 600.0
    assert not (tmp_path / "r.frames.f32").exists() and not (tmp_path / "r.checkpoint.npz").exists()


def test_a_year_long_run_with_stop_at_starts_at_once(tmp_path):
    # 31.6 million loop stops (a stop every second for 365 days): built up front they took minutes and GBs
    m = _measure(
        tmp_path,
        {"duration": "365d", "output_interval": 1, "output": {"snapshots": False}, "checkpoint_interval": "1h"},
        120,
    )
    assert m["frames"] is None and (tmp_path / "r.checkpoint.npz").exists()
    assert m["growth_mb"] < 200, m
    assert m["seconds"] < 60, m  # generous: the first 120 simulated seconds of a 400 x 400 plane


@pytest.mark.parametrize("scheme", ["inertial", "swe"])
def test_speed_snapshots_reach_the_maximum_speed_on_a_steady_flow(scheme):
    # steady rain on the tilted plane: after the first minutes the flow no longer changes, so the
    # snapshots' speed is the running maximum's (they are taken as it takes them, from the same state)
    sc = flood_scenario(
        duration=1800,
        output_interval=60,
        rain={"constant": 40.0},
        inflow=[],
        infiltration={"model": "none"},
        drainage={"capacity": 0.0},
        boundary=[{"edge": "east", "type": "free", "slope": 0.002}],
        numerics={"dtype": "float64", "scheme": scheme},
    )
    r = run(plane_twin(), sc, progress=False, scene=False)
    speed, depth = r.speed_frames, r.depth_frames
    assert speed.shape == depth.shape == (31, *r.max_speed.shape)
    assert not speed[depth <= sc.output.wet_depth].any()
    assert (speed <= r.max_speed * (1 + 1e-3)).all()
    moving = r.max_speed > 0.05
    ratio = speed.max(axis=0)[moving] / r.max_speed[moving]
    assert moving.sum() > 100 and np.percentile(ratio, 5) > 0.99
