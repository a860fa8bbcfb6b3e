"""Flood ensembles on a real Dask LocalCluster: maps equal one-by-one runs, failures, a killed worker, the CLI."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import xarray as xr
from click.testing import CliRunner
from test_flood_run import X0, Y0, _plane_twin, _scenario, _variants

from twin._cli_ensemble import ensemble_cmd
from twin.ensemble import Ensemble, EnsembleResult, run_ensemble
from twin.errors import ScenarioError
from twin.flood import run

SCALES = [10.0, 20.0, 40.0, 60.0, 80.0, 120.0, 160.0, 240.0]  # mm/h, from dry streets to ponding


@pytest.fixture(scope="module")
def twin():
    return _plane_twin()


@pytest.fixture(scope="module")
def base() -> dict:
    return _scenario(numerics={"dtype": "float32"}).to_dict()


@pytest.fixture(scope="module")
def cluster():
    """One real 2-process cluster shared by the tests that pass ``scheduler=`` (starting one costs ~10 s)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=50, env={"NUMBA_NUM_THREADS": "1"}) as c:
        yield c


def test_sweep_on_local_cluster_equals_one_by_one(twin, base, tmp_path):
    ens = Ensemble.from_dict({"name": "sweep", "base": base, "sweep": {"rain.constant": SCALES},
                              "thresholds": [0.05, 0.1, 0.2]})
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
        # same float32 depths (deterministic kernel, lossless GeoTIFF), weights 1/8 are exact binary
        # fractions: the probabilities agree exactly
        np.testing.assert_array_equal(ds["p_exceed"].values[i], expected.astype(np.float32))
        with rasterio.open(tmp_path / "ens" / f"exceedance_{d:g}m.tif") as src:
            np.testing.assert_array_equal(src.read(1), expected.astype(np.float32))
            assert pyproj.CRS(src.crs.to_wkt()) == twin.crs
    assert 0 < ds["p_exceed"].values[0].max() == 1.0 and ds["p_exceed"].values[2].min() == 0.0
    # float32 mean of 8 float32 depths accumulated in float64: float32 rounding of the result only
    np.testing.assert_allclose(ds["max_depth_mean"].values, depth.astype(np.float64).mean(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ds["max_depth_max"].values, depth.max(axis=0))
    for i, r in enumerate(singles):
        assert members.loc[i, "mass_balance_error"] == pytest.approx(r.summary["mass_balance_error"], abs=1e-12)
        assert members.loc[i, "scenario_hash"] == r.summary["scenario_hash"]

    flags = np.stack([r.buildings["flooded"].to_numpy() for r in singles])
    np.testing.assert_array_equal(res.buildings["p_flooded"].to_numpy(), flags.mean(axis=0))
    assert 0 < res.buildings["p_flooded"].max()

    # the NetCDF opens with its CRS and CF metadata; the folder loads back
    with xr.open_dataset(tmp_path / "ens" / "exceedance.nc") as nc:
        assert nc.attrs["Conventions"] == "CF-1.8"
        assert nc["p_exceed"].attrs["grid_mapping"] == "spatial_ref"
        assert pyproj.CRS.from_cf(nc["spatial_ref"].attrs) == twin.crs
        np.testing.assert_array_equal(nc["threshold"].values, [0.05, 0.1, 0.2])
    # GDAL (what QGIS reads it with) finds the grid and the CRS: one band per threshold
    with rasterio.open(f"netcdf:{tmp_path / 'ens' / 'exceedance.nc'}:p_exceed") as src:
        assert src.count == 3 and src.transform == twin.transform
        assert pyproj.CRS(src.crs.to_wkt()) == twin.crs
    back = EnsembleResult.load(tmp_path / "ens")
    assert back.summary["members_ok"] == 8 and len(back.members) == 8
    np.testing.assert_array_equal(back.exceedance["p_exceed"].values, ds["p_exceed"].values)
    assert back.member(3).summary["scenario"] == "sweep-003"
    # each worker's Numba pool was limited to threads_per_worker
    assert {back.member(k).summary["threads"] for k in range(8)} == {1}


def test_failing_member_is_reported_others_complete_and_resume(twin, base, cluster, tmp_path):
    on_building = [X0 + 70.0, Y0 - 30.0]  # inside building b1: only the worker's setup finds it
    ens = Ensemble.from_dict({"name": "f", "base": base, "member": [{}, {"inflow.0.at": on_building}, {}],
                              "sweep": {"rain.constant": [30.0, 90.0]}})
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
    np.testing.assert_array_equal(again.exceedance["p_exceed"].values, res.exceedance["p_exceed"].values)
    # another twin: nothing is reused, the results would mix two cities
    other = run_ensemble(_plane_twin(slope=0.004), ens, out, scheduler=cluster.scheduler_address, retries=0,
                         progress=False)
    assert other.summary["members_reused"] == 0 and other.summary["members_run"] == 6


def test_twin_fingerprint_covers_what_a_run_reads():
    """Members are reused, and checkpoints resumed, only on a twin whose every read part is the same."""
    from twin._fingerprint import changed_parts, twin_fingerprint, twin_parts

    assert twin_fingerprint(_plane_twin()) == twin_fingerprint(_plane_twin())
    base = twin_parts(_plane_twin())
    for changed, other in _variants().items():  # same DEM and buildings: the old fingerprint matched
        found = changed_parts(base, twin_parts(other))
        assert changed in found and "terrain" not in found and "buildings" not in found, (changed, found)
    lake = _variants()["lakes"]
    higher = _variants()["lakes"]
    higher.lakes = higher.lakes.assign(level=5.5)  # same outline and mask, another initial level
    assert changed_parts(twin_parts(lake), twin_parts(higher)) == ["lakes"]
    table = _plane_twin()
    t = table.landuse_table
    t.loc[t.index == "park", "ks_mm_h"] *= 2  # same classes, Manning's n and imperviousness: other infiltration
    table.landuse_table = t
    assert changed_parts(base, twin_parts(table)) == ["land use"]


def test_killed_worker_is_rescheduled(twin, base, cluster, tmp_path):
    from distributed import Client

    # members of a few seconds each, so the kill lands while members run
    ens = Ensemble.from_dict({"name": "k", "base": {**base, "duration": "1h", "output_interval": "30min"},
                              "sweep": {"rain.constant": SCALES}})
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
        '[[boundary]]\nedge = "east"\ntype = "free"\n', encoding="utf-8")
    (tmp_path / "storms.toml").write_text(
        'base = "flood.toml"\nthresholds = [0.05, 0.1]\nweights = [0.4, 0.2, 0.2, 0.2]\n'
        '[[member]]\n"rain.constant" = 20.0\n'
        '[[member]]\nrain.hyetograph = [[0, 0.0], [300, 150.0], [600, 0.0]]\n'
        '[[member]]\nrain = { constant = 200.0 }\n'
        f'[[member]]\ninflow = [{{ at = [{X0 + 70.0}, {Y0 - 30.0}], hydrograph = [[0, 1.0], [900, 1.0]] }}]\n',
        encoding="utf-8")
    r = CliRunner().invoke(ensemble_cmd, [str(tmp_path / "storms.toml"), "--twin", str(tmp_path / "twin"),
                                          "--out", str(tmp_path / "out"), "--scheduler", cluster.scheduler_address,
                                          "--retries", "0", "--quiet"])
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


def test_validation_names_member_and_key(tmp_path, base):
    with pytest.raises(ScenarioError, match=r"(?s)member 1 \(\{\"rain.constant\": -5\}\).*- rain.constant: Input should be greater"):
        Ensemble.from_dict({"base": base, "member": [{}, {"rain.constant": -5}]})
    with pytest.raises(ScenarioError, match=r"(?s)member 0 .*numerics.dtyp: unknown key"):
        Ensemble.from_dict({"base": base, "member": [{"numerics.dtyp": "float32"}]})
    with pytest.raises(ScenarioError, match=r"member 0 .*inflow.4: that list has 1 entries"):
        Ensemble.from_dict({"base": base, "member": [{"inflow.4.at": [0, 0]}]})
    with pytest.raises(ScenarioError, match=r"weights has 2 values for 4 members"):
        Ensemble.from_dict({"base": base, "sweep": {"rain.constant": [1, 2], "duration": [60, 120]}, "weights": [1, 1]})
    with pytest.raises(ScenarioError, match=r"not a valid ensemble:\n  - thresholds: .*increasing"):
        Ensemble.from_dict({"base": base, "thresholds": [0.5, 0.1]})
    (tmp_path / "e.toml").write_text('base = "missing.toml"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"base scenario .*missing.toml does not exist"):
        Ensemble.from_toml(tmp_path / "e.toml")
    # a member that swaps the rain kind drops the base's other kind (rain holds exactly one)
    e = Ensemble.from_dict({"base": base, "sweep": {"rain.constant": [5.0]}})
    assert e.members[0].scenario.rain.constant == 5.0 and e.members[0].scenario.rain.hyetograph is None
    assert e.members[0].name == "ensemble-000" and e.members[0].weight == 1.0
