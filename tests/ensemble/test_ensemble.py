"""Flood ensembles on a real Dask LocalCluster: maps equal one-by-one runs, failures, a killed worker, the CLI."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import xarray as xr
from click.testing import CliRunner

from conftest import X0, Y0, flood_scenario, plane_twin, plane_variants
from ingest.vector import zonal_stat
from twin.cli.ensemble import ensemble_cmd
from twin.ensemble.run import Ensemble, EnsembleResult, run_ensemble
from twin.errors import ScenarioError
from twin.model.twin import Twin
from twin.sims.flood.return_period import aep, first_crossing
from twin.sims.flood.run import run

SCALES = [10.0, 20.0, 40.0, 60.0, 80.0, 120.0, 160.0, 240.0]  # mm/h, from dry streets to ponding


@pytest.fixture(scope="module")
def twin():
    return plane_twin()


@pytest.fixture(scope="module")
def base() -> dict:
    return flood_scenario(numerics={"dtype": "float32"}).to_dict()


@pytest.fixture(scope="module")
def cluster():
    """One real 2-process cluster shared by the tests that pass ``scheduler=`` (starting one costs ~10 s)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=50,
        env={"NUMBA_NUM_THREADS": "1"},
    ) as c:
        yield c


def test_sweep_on_local_cluster_equals_one_by_one(twin, base, tmp_path):
    ens = Ensemble.from_dict(
        {"name": "sweep", "base": base, "sweep": {"rain.constant": SCALES}, "thresholds": [0.05, 0.1, 0.2]}
    )
    # the default path: run_ensemble starts (and stops) its own LocalCluster of 2 worker processes
    res = run_ensemble(twin, ens, tmp_path / "ens", n_workers=2, threads_per_worker=1, progress=False)
    assert res.summary["workers"] == 2 and res.summary["members_ok"] == 8 and res.failed == []
    members = res.members
    assert list(members["status"]) == ["ok"] * 8
    assert len(set(members["worker"])) == 2  # both workers took members
    assert list(members["rain.constant"]) == SCALES

    singles = [run(twin, m.scenario, progress=False) for m in ens.members]
    depth = np.stack([r.max_depth for r in singles])
    ds = res.exceedance
    for i, d in enumerate([0.05, 0.1, 0.2]):
        expected = (depth > d).mean(axis=0)
        # same float32 depths (deterministic kernel, lossless GeoTIFF): the shares agree exactly
        np.testing.assert_array_equal(ds["member_share"].values[i], expected.astype(np.float32))
        with rasterio.open(tmp_path / "ens" / f"exceedance_{d:g}m.tif") as src:
            np.testing.assert_array_equal(src.read(1), expected.astype(np.float32))
            assert pyproj.CRS(src.crs.to_wkt()) == twin.crs
    assert 0 < ds["member_share"].values[0].max() == 1.0 and ds["member_share"].values[2].min() == 0.0
    # no weights given: a share of members is not a probability, so none is written under that name
    assert "p_exceed" not in ds and "p_flooded" not in res.buildings
    assert ds.attrs["weighted"] == 0 and "not a probability" in ds.attrs["comment"]
    assert res.summary["weighted"] is False and res.summary["return_period"]["written"] is False
    # float32 mean of 8 float32 depths accumulated in float64: float32 rounding of the result only
    np.testing.assert_allclose(ds["max_depth_mean"].values, depth.astype(np.float64).mean(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ds["max_depth_max"].values, depth.max(axis=0))
    for i, r in enumerate(singles):
        assert members.loc[i, "mass_balance_error"] == pytest.approx(r.summary["mass_balance_error"], abs=1e-12)
        assert members.loc[i, "scenario_hash"] == r.summary["scenario_hash"]

    flags = np.stack([r.buildings["flooded"].to_numpy() for r in singles])
    np.testing.assert_array_equal(res.buildings["member_share"].to_numpy(), flags.mean(axis=0))
    assert res.buildings["member_share"].max() > 0

    # the NetCDF opens with its CRS and CF metadata; the folder loads back
    with xr.open_dataset(tmp_path / "ens" / "exceedance.nc") as nc:
        assert nc.attrs["Conventions"] == "CF-1.8"
        assert nc["member_share"].attrs["grid_mapping"] == "spatial_ref"
        assert pyproj.CRS.from_cf(nc["spatial_ref"].attrs) == twin.crs
        np.testing.assert_array_equal(nc["threshold"].values, [0.05, 0.1, 0.2])
    # GDAL (what QGIS reads it with) finds the grid and the CRS: one band per threshold
    with rasterio.open(f"netcdf:{tmp_path / 'ens' / 'exceedance.nc'}:member_share") as src:
        assert src.count == 3 and src.transform == twin.transform
        assert pyproj.CRS(src.crs.to_wkt()) == twin.crs
    back = EnsembleResult.load(tmp_path / "ens")
    assert back.summary["members_ok"] == 8 and len(back.members) == 8
    np.testing.assert_array_equal(back.exceedance["member_share"].values, ds["member_share"].values)
    assert back.member(3).summary["scenario"] == "sweep-003"
    # each worker's Numba pool was limited to threads_per_worker
    assert {back.member(k).summary["threads"] for k in range(8)} == {1}


def test_failing_member_is_reported_others_complete_and_resume(twin, base, cluster, tmp_path):
    on_building = [X0 + 70.0, Y0 - 30.0]  # inside building b1: only the worker's setup finds it
    ens = Ensemble.from_dict(
        {
            "name": "f",
            "base": base,
            "member": [{}, {"inflow.0.at": on_building}, {}],
            "sweep": {"rain.constant": [30.0, 90.0]},
        }
    )
    out = tmp_path / "ens"
    res = run_ensemble(twin, ens, out, scheduler=cluster.scheduler_address, retries=1, progress=False)
    assert [f["member"] for f in res.failed] == [2, 3]
    assert res.failed[0]["error"] == "ScenarioError" and "building" in res.failed[0]["message"]
    assert res.failed[0]["attempts"] == 2
    assert json.loads((out / "failed.json").read_text()) == res.failed
    assert list(res.members["status"]) == ["ok", "ok", "failed", "failed", "ok", "ok"]
    assert res.summary["members_ok"] == 4 and res.exceedance.attrs["members"] == 4
    assert sorted(p.name for p in (out / "members").iterdir()) == ["000", "001", "004", "005"]

    # running again into the folder reuses the complete members and retries only the failed ones
    again = run_ensemble(twin, ens, out, scheduler=cluster.scheduler_address, retries=0, progress=False)
    assert again.summary["members_reused"] == 4 and again.summary["members_run"] == 2
    np.testing.assert_array_equal(again.exceedance["member_share"].values, res.exceedance["member_share"].values)
    # another twin: nothing is reused, the results would mix two cities
    other = run_ensemble(
        plane_twin(slope=0.004), ens, out, scheduler=cluster.scheduler_address, retries=0, progress=False
    )
    assert other.summary["members_reused"] == 0 and other.summary["members_run"] == 6


def test_twin_fingerprint_covers_what_a_run_reads():
    """Members are reused, and checkpoints resumed, only on a twin whose every read part is the same."""
    from twin._fingerprint import changed_parts, twin_fingerprint, twin_parts

    assert twin_fingerprint(plane_twin()) == twin_fingerprint(plane_twin())
    base = twin_parts(plane_twin())
    for changed, other in plane_variants().items():  # same DEM and buildings: the old fingerprint matched
        found = changed_parts(base, twin_parts(other))
        assert changed in found and "terrain" not in found and "buildings" not in found, (changed, found)
    lake = plane_variants()["lakes"]
    higher = plane_variants()["lakes"]
    higher.lakes = higher.lakes.assign(level=5.5)  # same outline and mask, another initial level
    assert changed_parts(twin_parts(lake), twin_parts(higher)) == ["lakes"]
    table = plane_twin()
    t = table.landuse_table
    t.loc[t.index == "park", "ks_mm_h"] *= 2  # same classes, Manning's n and imperviousness: other infiltration
    table.landuse_table = t
    assert changed_parts(base, twin_parts(table)) == ["land use"]


def test_killed_worker_is_rescheduled(twin, base, cluster, tmp_path):
    from distributed import Client

    # members of a few seconds each, so the kill lands while members run
    ens = Ensemble.from_dict(
        {
            "name": "k",
            "base": {**base, "duration": "1h", "output_interval": "30min"},
            "sweep": {"rain.constant": SCALES},
        }
    )
    out = tmp_path / "ens"
    killed: list[str] = []

    def kill_one():
        with Client(cluster.scheduler_address, timeout="20s", set_as_default=False) as c:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                busy = {w: keys for w, keys in c.processing().items() if keys}
                if busy and any((out / "members").glob("0*/summary.json")):
                    addr = next(iter(busy))
                    pid = c.run(os.getpid, workers=[addr])[addr]
                    os.kill(pid, signal.SIGKILL)  # a worker process this test's cluster started
                    killed.append(addr)
                time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    res = run_ensemble(twin, ens, out, scheduler=cluster.scheduler_address, retries=0, progress=False)
    killer.join()
    assert killed, "no worker was killed while the ensemble ran"
    assert res.failed == [] and list(res.members["status"]) == ["ok"] * 8  # retries=0: Dask rescheduled
    names = sorted(p.name for p in (out / "members").iterdir())
    assert names == [f"{k:03d}" for k in range(8)]  # every member once, no half-written folders left
    for k in range(8):
        assert json.loads((out / "members" / names[k] / "summary.json").read_text())["scenario"] == f"k-{k:03d}"


def test_cli_ensemble(twin, base, cluster, tmp_path):
    twin.save(tmp_path / "twin")
    (tmp_path / "flood.toml").write_text(
        'duration = "15min"\noutput_interval = "5min"\n[rain]\nconstant = 50.0\n'
        '[[boundary]]\nedge = "east"\ntype = "free"\n',
        encoding="utf-8",
    )
    (tmp_path / "storms.toml").write_text(
        'base = "flood.toml"\nthresholds = [0.05, 0.1]\nweights = [0.4, 0.2, 0.2, 0.2]\n'
        '[[member]]\n"rain.constant" = 20.0\n'
        "[[member]]\nrain.hyetograph = [[0, 0.0], [300, 150.0], [600, 0.0]]\n"
        "[[member]]\nrain = { constant = 200.0 }\n"
        f"[[member]]\ninflow = [{{ at = [{X0 + 70.0}, {Y0 - 30.0}], hydrograph = [[0, 1.0], [900, 1.0]] }}]\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(
        ensemble_cmd,
        [
            str(tmp_path / "storms.toml"),
            "--twin",
            str(tmp_path / "twin"),
            "--out",
            str(tmp_path / "out"),
            "--scheduler",
            cluster.scheduler_address,
            "--retries",
            "0",
            "--quiet",
        ],
    )
    assert r.exit_code == 1, r.output  # a member failed: the exit code says so, the others are complete
    assert "3 ok, 1 failed" in r.output and "exceedance.nc" in r.output
    assert "member 3 (storms-003): ScenarioError" in r.output
    members = pd.read_csv(tmp_path / "out" / "members.csv")
    assert list(members["name"]) == ["storms-000", "storms-001", "storms-002", "storms-003"]
    assert list(members["status"]) == ["ok", "ok", "ok", "failed"]
    with xr.open_dataset(tmp_path / "out" / "exceedance.nc") as nc:
        p = nc["p_exceed"].sel(threshold=0.05).values
    expected = np.zeros(p.shape)
    for k, w in enumerate([0.5, 0.25, 0.25]):  # the weights, renormalised over the members that ran
        with rasterio.open(tmp_path / "out" / "members" / f"{k:03d}" / "max_depth.tif") as src:
            expected += w * (src.read(1) > 0.05)
    # 0.4/0.8 and 0.2/0.8 round in float64 (~1e-16) before the float32 output rounds them (~6e-8)
    np.testing.assert_allclose(p, expected, atol=1e-7)
    assert p.max() > 0
    # weights given: p_exceed is the probability; the plain share of the 3 members is there too
    assert "p_exceed, the probability" in r.output
    with xr.open_dataset(tmp_path / "out" / "exceedance.nc") as nc:
        share = nc["member_share"].sel(threshold=0.05).values
    assert set(np.unique(share)) <= {0.0, np.float32(1 / 3), np.float32(2 / 3), 1.0}
    assert not np.array_equal(share, p)  # the weights matter here
    with rasterio.open(tmp_path / "out" / "exceedance_0.05m.tif") as src:
        np.testing.assert_array_equal(src.read(1), p)  # the GeoTIFF holds the probability


def test_validation_names_member_and_key(tmp_path, base):
    with pytest.raises(
        ScenarioError, match=r"(?s)member 1 \(\{\"rain.constant\": -5\}\).* rain.constant: Input should be greater"
    ):
        Ensemble.from_dict({"base": base, "member": [{}, {"rain.constant": -5}]})
    with pytest.raises(ScenarioError, match=r"(?s)member 0 .*numerics.dtyp: unknown key"):
        Ensemble.from_dict({"base": base, "member": [{"numerics.dtyp": "float32"}]})
    with pytest.raises(ScenarioError, match=r"member 0 .*inflow.4: that list has 1 entries"):
        Ensemble.from_dict({"base": base, "member": [{"inflow.4.at": [0, 0]}]})
    with pytest.raises(ScenarioError, match=r"weights has 2 values for 4 members"):
        Ensemble.from_dict({"base": base, "sweep": {"rain.constant": [1, 2], "duration": [60, 120]}, "weights": [1, 1]})
    with pytest.raises(ScenarioError, match=r"not a valid ensemble: thresholds: .*increasing"):
        Ensemble.from_dict({"base": base, "thresholds": [0.5, 0.1]})
    (tmp_path / "e.toml").write_text('base = "missing.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"base scenario .*missing.toml does not exist"):
        Ensemble.from_toml(tmp_path / "e.toml")
    # a member that swaps the rain kind drops the base's other kind (rain holds exactly one)
    e = Ensemble.from_dict({"base": base, "sweep": {"rain.constant": [5.0]}})
    assert e.members[0].scenario.rain.constant == 5.0 and e.members[0].scenario.rain.hyetograph is None
    assert e.members[0].name == "ensemble-000" and e.members[0].weight == 1.0


def test_weights_validation_names_the_key(base):
    # TOML has nan and inf: a weight that is not a finite number >= 0 is not a probability
    for bad in (float("nan"), float("inf"), -0.1):
        # the weights' own check runs before pydantic's finite-number one, so NaN is named as a probability too
        with pytest.raises(ScenarioError, match=r"weights\[1\] = .* is not a probability; give a finite number >= 0"):
            Ensemble.from_dict({"base": base, "sweep": {"rain.constant": [1, 2]}, "weights": [1, bad]})
        with pytest.raises(ScenarioError, match=r"\[\[member\]\] 1: weight = .* is not a probability"):
            Ensemble.from_dict({"base": base, "member": [{"weight": 1}, {"weight": bad}]})
    with pytest.raises(ScenarioError, match=r"\[\[member\]\] \[1\] have no weight while others do"):
        Ensemble.from_dict({"base": base, "member": [{"weight": 1}, {"rain.constant": 5.0}]})
    with pytest.raises(ScenarioError, match=r"weights are given twice"):
        Ensemble.from_dict({"base": base, "member": [{"weight": 1}, {"weight": 1}], "weights": [1, 1]})
    with pytest.raises(ScenarioError, match=r"every \[\[member\]\] weight is 0"):
        Ensemble.from_dict({"base": base, "member": [{"weight": 0}, {"weight": 0.0}]})
    with pytest.raises(ScenarioError, match=r"\[\[member\]\] 0: return_period = -5 is not a return period"):
        Ensemble.from_dict({"base": base, "member": [{"return_period": -5}]})
    # a [[member]] weight covers each of its sweep combinations; weights are normalised over all
    e = Ensemble.from_dict(
        {
            "base": base,
            "member": [{"weight": 3, "rain.constant": 5.0}, {"weight": 1}],
            "sweep": {"drainage.capacity": [0.0, 10.0]},
        }
    )
    assert e.weighted and [m.weight for m in e.members] == [0.375, 0.375, 0.125, 0.125]
    assert "weight" not in e.members[0].parameters and e.members[0].scenario.rain.constant == 5.0
    assert not Ensemble.from_dict({"base": base, "sweep": {"rain.constant": [1, 2]}}).weighted
    # a return period labels a member; a design storm's is taken from the storm and must agree
    design = {
        "method": "chicago",
        "A": 3618.427,
        "b": 11.259,
        "C": 0.438,
        "n": 0.75,
        "return_period": 10,
        "duration": "10min",
        "step": "1min",
    }
    storm = {**base, "rain": {"design": design}}
    e = Ensemble.from_dict({"base": storm, "sweep": {"rain.design.return_period": [2, 100]}})
    assert [m.return_period for m in e.members] == [2.0, 100.0]
    labelled = Ensemble.from_dict({"base": base, "member": [{"return_period": 5}]})
    assert [m.return_period for m in labelled.members] == [5.0]
    with pytest.raises(ScenarioError, match=r"return_period = 5 but its design storm has return_period = 10"):
        Ensemble.from_dict({"base": storm, "member": [{"return_period": 5}]})


def test_first_crossing_interpolates_in_log_return_period():
    periods = [2.0, 10.0, 100.0]
    # cells: crosses 0.1 between 10 and 100 a third of the way; floods at 2 already; between 2 and 10
    # half way; never; reaches exactly the threshold at 10 and exceeds it at 100; drops with T
    depths = np.array(
        [
            [0.00, 0.20, 0.05, 0.00, 0.00, 0.30],
            [0.05, 0.30, 0.15, 0.00, 0.10, 0.20],
            [0.20, 0.40, 0.10, 0.10, 0.40, 0.25],
        ]
    )
    c = first_crossing(iter(depths), periods, [0.1, 0.25])
    np.testing.assert_allclose(
        c.period[0], [10 * 10 ** (1 / 3), 2.0, 2 * 5**0.5, np.nan, 10.0, 2.0], rtol=1e-12, equal_nan=True
    )
    np.testing.assert_array_equal(c.flag[0], [0, 1, 0, 2, 0, 1])
    # 0.25 m: cell 1 crosses between 2 (0.2) and 10 (0.3) half way; cell 4 between 10 and 100 at 0.5
    np.testing.assert_allclose(
        c.period[1], [np.nan, 2 * 5**0.5, np.nan, np.nan, 10 * 10**0.5, 2.0], rtol=1e-12, equal_nan=True
    )
    np.testing.assert_array_equal(c.decreasing, [False, False, True, False, False, True])
    # AEP = 1 - exp(-1/T): a probability for every T, within 5 % of 1/T from 10 years on
    np.testing.assert_allclose(aep(np.array([0.5, 2.0, 10.0, 100.0])), 1 - np.exp(-1 / np.array([0.5, 2, 10, 100])))
    t = np.geomspace(10, 1e4, 50)
    assert np.all(np.abs(aep(t) * t - 1) < 0.05) and aep(np.array([0.5]))[0] < 1
    assert np.isnan(aep(np.array([np.nan]))[0])
    with pytest.raises(ValueError, match="strictly increasing"):
        first_crossing(iter(depths), [10.0, 2.0, 100.0], [0.1])


def test_return_period_sweep_writes_flood_return_period(twin, cluster, tmp_path):
    # rain alone on the tilted plane: the pit ponds at every return period, the slope's sheet of
    # water crosses 2-3 cm between them, the upper cells stay shallower. The buildings stand on the
    # plane as ingest puts them, their base the lowest ground under them (the fixture's 5 m is above it,
    # where no water against the walls would count)
    buildings = twin.buildings.copy()
    buildings["base"] = zonal_stat(buildings.geometry, twin.terrain, twin.transform)
    twin = Twin(twin.crs, twin.transform, twin.terrain, buildings=buildings, landuse=twin.landuse)
    twin.save(tmp_path / "twin")
    (tmp_path / "flood.toml").write_text(
        'duration = "1h"\noutput_interval = "30min"\n'
        '[rain.design]\nmethod = "chicago"\nA = 3618.427\nb = 11.259\nC = 0.438\nn = 0.75\n'
        'return_period = 10\nduration = "1h"\nstep = "5min"\n'
        '[[boundary]]\nedge = "east"\ntype = "free"\nslope = 0.002\n'
        '[infiltration]\nmodel = "none"\n[output]\nbuilding_depth = 0.035\n[numerics]\ndtype = "float32"\n',
        encoding="utf-8",
    )
    periods = [100.0, 2.0, 10.0]  # any order; the maps sort them
    thresholds = [0.02, 0.03, 0.05]
    (tmp_path / "rp.toml").write_text(
        f'base = "flood.toml"\nthresholds = {thresholds}\n[sweep]\n"rain.design.return_period" = {periods}\n',
        encoding="utf-8",
    )
    out = tmp_path / "ens"
    r = CliRunner().invoke(
        ensemble_cmd,
        [
            str(tmp_path / "rp.toml"),
            "--twin",
            str(tmp_path / "twin"),
            "--out",
            str(out),
            "--scheduler",
            cluster.scheduler_address,
            "--quiet",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "member_share, the share of members (no weights given" in r.output
    assert "Return periods 2, 10, 100 y: flood_return_period and flood_aep" in r.output
    assert "return_period.nc" in r.output and "flood_aep_0.03m.tif" in r.output
    res = EnsembleResult.load(out)
    assert res.failed == [] and list(res.members["return_period"]) == periods
    rp = res.summary["return_period"]
    assert rp["written"] and rp["periods_years"] == [2.0, 10.0, 100.0] and rp["aep_formula"] == "1 - exp(-1/T)"

    order = np.argsort(periods)
    depth = []
    for k in order:
        with rasterio.open(out / "members" / f"{k:03d}" / "max_depth.tif") as src:
            depth.append(src.read(1).astype(np.float64))
    depth = np.stack(depth)
    lt = np.log(np.sort(periods))
    ds = res.return_period
    for i, d in enumerate(thresholds):
        expected = np.full(depth.shape[1:], np.nan)
        flag = np.full(depth.shape[1:], 2)
        for (r, c), _ in np.ndenumerate(expected):
            h = depth[:, r, c]
            wet = np.flatnonzero(h > d)
            if wet.size and wet[0] == 0:
                expected[r, c], flag[r, c] = 2.0, 1
            elif wet.size:
                k = wet[0]
                expected[r, c] = np.exp(lt[k - 1] + (d - h[k - 1]) / (h[k] - h[k - 1]) * (lt[k] - lt[k - 1]))
                flag[r, c] = 0
        np.testing.assert_allclose(ds["flood_return_period"].values[i], expected, rtol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(ds["flood_return_period_flag"].values[i], flag)
        np.testing.assert_allclose(ds["flood_aep"].values[i], 1 - np.exp(-1 / expected), rtol=1e-6, equal_nan=True)
        with rasterio.open(out / f"flood_return_period_{d:g}m.tif") as src:
            np.testing.assert_array_equal(src.read(1), ds["flood_return_period"].values[i])
            assert np.isnan(src.nodata) and src.transform == twin.transform
        with rasterio.open(out / f"flood_aep_{d:g}m.tif") as src:
            np.testing.assert_array_equal(src.read(1), ds["flood_aep"].values[i])
    # the sweep has cells of every kind: interpolated, flooded already at 2 years, dry up to 100 years
    assert {0, 1, 2} <= set(np.unique(ds["flood_return_period_flag"].values))
    assert (ds["non_monotonic"].values == (np.diff(depth, axis=0) < -1e-3).any(axis=0)).all()
    assert rp["non_monotonic_cells"] == int(ds["non_monotonic"].sum()) == ds.attrs["non_monotonic_cells"]

    # per building, on its exposure depth against output.building_depth
    b = res.buildings
    bd = []
    for k in order:
        bd.append(gpd.read_file(out / "members" / f"{k:03d}" / "buildings.gpkg")["max_depth"].to_numpy())
    c = first_crossing(iter(bd), np.sort(periods), [0.035])
    np.testing.assert_allclose(b["flood_return_period"], c.period[0], equal_nan=True)
    np.testing.assert_allclose(b["flood_aep"], 1 - np.exp(-1 / c.period[0]), equal_nan=True)
    # b1 sees 2.8, 3.3 and 3.9 cm: it floods between 10 and 100 years; b2 already at 2 years
    assert list(b["flood_return_period_flag"]) == ["interpolated", "at_or_below"]
    assert 10 < b["flood_return_period"][0] < 100 and b["flood_return_period"][1] == 2.0
    assert b["member_share"].max() > 0 and "p_flooded" not in b

    # CF: QGIS reads the grid and its CRS; the folder loads back with the maps
    with xr.open_dataset(out / "return_period.nc") as nc:
        assert nc.attrs["Conventions"] == "CF-1.8"
        assert nc["flood_return_period"].attrs["units"] == "year"
        assert nc["flood_return_period_flag"].attrs["flag_meanings"] == "interpolated at_or_below above"
        assert pyproj.CRS.from_cf(nc["spatial_ref"].attrs) == twin.crs
    with rasterio.open(f"netcdf:{out / 'return_period.nc'}:flood_return_period") as src:
        assert src.count == 3 and src.transform == twin.transform
    back = EnsembleResult.load(out)
    np.testing.assert_array_equal(back.return_period["flood_return_period"].values, ds["flood_return_period"].values)


def test_old_folder_gets_member_share(twin, base, cluster, tmp_path):
    ens = Ensemble.from_dict(
        {"name": "old", "base": base, "sweep": {"rain.constant": [30.0, 120.0]}, "thresholds": [0.05]}
    )
    out = tmp_path / "ens"
    res = run_ensemble(twin, ens, out, scheduler=cluster.scheduler_address, retries=0, progress=False)
    # rewrite the folder as an earlier version wrote it: the share of equal members under p_exceed
    old = res.exceedance.rename(member_share="p_exceed")
    (out / "exceedance.nc").unlink()
    old.to_netcdf(out / "exceedance.nc")
    back = EnsembleResult.load(out)
    np.testing.assert_array_equal(back.exceedance["member_share"].values, res.exceedance["member_share"].values)
    np.testing.assert_array_equal(back.exceedance["p_exceed"].values, res.exceedance["member_share"].values)


def test_labelled_return_periods_and_non_monotonic_warning(twin, base, cluster, tmp_path, caplog):
    # members labelled with return periods whose rain does not grow with them: depth drops from 2 to
    # 10 years, which the maps count and the run warns about
    ens = Ensemble.from_dict(
        {
            "name": "odd",
            "base": base,
            "thresholds": [0.05],
            "member": [
                {"return_period": 2, "rain.constant": 120.0},
                {"return_period": 10, "rain.constant": 30.0},
                {"return_period": 100, "rain.constant": 240.0},
            ],
        }
    )
    assert [m.return_period for m in ens.members] == [2.0, 10.0, 100.0] and not ens.weighted
    with caplog.at_level("WARNING", logger="twin.ensemble.run"):
        res = run_ensemble(twin, ens, tmp_path / "ens", scheduler=cluster.scheduler_address, retries=0, progress=False)
    rp = res.summary["return_period"]
    assert rp["written"] and rp["non_monotonic_cells"] > 0
    assert rp["non_monotonic_cells"] == int(res.return_period["non_monotonic"].sum())
    assert any("max depth drops as the return period grows" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "ens" / "flood_aep_0.05m.tif").is_file()
    # a sweep that crosses return periods with another key makes no return-period maps, and says why;
    # run into the same folder, the earlier maps go (they would read as this ensemble's)
    storm = {
        **base,
        "rain": {
            "design": {
                "method": "chicago",
                "A": 3618.427,
                "b": 11.259,
                "C": 0.438,
                "n": 0.75,
                "return_period": 10,
                "duration": "10min",
                "step": "1min",
            }
        },
    }
    both = Ensemble.from_dict(
        {
            "name": "both",
            "base": storm,
            "thresholds": [0.05],
            "sweep": {"rain.design.return_period": [2, 10], "drainage.capacity": [0.0, 20.0]},
        }
    )
    res = run_ensemble(twin, both, tmp_path / "ens", scheduler=cluster.scheduler_address, retries=0, progress=False)
    assert res.return_period is None and not (tmp_path / "ens" / "return_period.nc").exists()
    assert not list((tmp_path / "ens").glob("flood_*.tif"))
    assert EnsembleResult.load(tmp_path / "ens").return_period is None
    assert "share a return period" in res.summary["return_period"]["reason"]
