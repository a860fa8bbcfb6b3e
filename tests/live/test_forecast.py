"""Forecast cycles: published atomically with a latest pointer and history, balances that close, the
state kept across restarts, and faults in the data or in the middle of a cycle."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from live_town import bowl_twin, config, town_storm

from twin import _io
from twin.cli.app import main
from twin.live import publish
from twin.live.cycle import Forecaster
from twin.live.observations import ObservationWarning

MIN = 60.0


def _cfg(**over):
    return config(lead_times=["30min"], members=2, **over)


def _codes(res):
    return [w["code"] for w in res.record["warnings"]]


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_cycles_publish_maps_warnings_and_a_latest_pointer_and_their_books_close(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    tw = bowl_twin()
    out = tmp_path / "fc"
    with Forecaster(tw, _cfg(), storm.obs, out) as fc:
        first = fc.cycle(storm.start + 48 * MIN)
    assert first.status == "published"
    assert "NowcastPersistence" not in _codes(first)  # 9 frames before: STEPS ran
    assert first.record["nowcast"]["method"] == "steps"
    # a new Forecaster (a restart) goes on from the state on disk: the hot start runs
    with Forecaster(tw, _cfg(), storm.obs, out) as fc:
        second = fc.cycle(storm.start + 60 * MIN)
    rec = second.record
    assert rec["cycle_index"] == 2 and rec["balance"]["steps"] > 0
    assert rec["balance"]["volume_rain_m3"] > 0
    assert abs(rec["balance"]["mass_balance_error"]) < 1e-5
    assert all(abs(m["mass_balance_error"]) < 1e-5 for m in rec["members_balance"])
    folder = out / "cycles" / "20260601T0900Z"
    assert second.folder == folder
    names = {p.name for p in folder.iterdir()}
    assert {
        "depth_median_30min.tif",
        "p_depth_gt_0.15m_30min.tif",
        "p_depth_gt_0.5m_30min.tif",
        "first_flooded_min.tif",
        "buildings.gpkg",
        "hospitals.gpkg",
        "warnings.csv",
        "members.csv",
        "cycle.json",
        "cimtwin.json",
    } <= names
    assert _io.verify_dir(folder)["kind"] == "forecast-cycle"
    with rasterio.open(folder / "p_depth_gt_0.15m_30min.tif") as src:
        p = src.read(1)
    assert p.min() >= 0 and p.max() == 1.0  # the bowl floods in every member
    latest = publish.read_latest(out)
    assert latest["cycle"] == "20260601T0900Z" and latest["record"]["cycle_index"] == 2
    history = pd.read_csv(out / "history.csv")
    assert history["cycle"].tolist() == ["20260601T0848Z", "20260601T0900Z"]
    warn = pd.read_csv(folder / "warnings.csv")
    assert {"layer", "kind", "id", "lead_min", "probability", "expected_min"} <= set(warn.columns)
    assert "h1" in set(warn["id"])  # the hospital by the bowl
    assert "b3" not in set(warn["id"])  # the building up in the corner


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_a_missing_frame_is_held_with_a_warning_or_waited_for(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    obs = tmp_path / "obs"
    shutil.copytree(storm.obs, obs)
    (obs / "radar" / "radar_20260601T0854Z.tif").unlink()
    (obs / "radar" / "radar_20260601T0906Z.tif").unlink()
    tw = bowl_twin()
    with Forecaster(tw, _cfg(), obs, tmp_path / "fc") as fc:
        fc.cycle(storm.start + 48 * MIN)
        res = fc.cycle(storm.start + 60 * MIN)
    assert "RadarFrameMissing" in _codes(res)
    assert "20260601T0854Z" in next(w["message"] for w in res.record["warnings"] if w["code"] == "RadarFrameMissing")
    # waiting: the frame of now is missing -> nothing is written, the state stays
    with Forecaster(tw, _cfg(on_missing="wait"), obs, tmp_path / "fc") as fc:
        waiting = fc.cycle(storm.start + 66 * MIN)
        assert waiting.status == "waiting"
        assert not (tmp_path / "fc" / "cycles" / "20260601T0906Z").exists()
        assert publish.read_latest(tmp_path / "fc")["cycle"] == "20260601T0900Z"
        # a cycle later the frame is still missing: it goes on with the warning
        later = fc.cycle(storm.start + 72 * MIN)
    assert later.status == "published" and "RadarFrameMissing" in _codes(later)


def test_a_late_frame_and_a_corrupt_one_are_named_and_the_cycle_goes_on(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    obs = tmp_path / "obs"
    shutil.copytree(storm.obs, obs)
    late = obs / "radar" / "radar_20260601T0842Z.tif"
    kept = tmp_path / late.name
    shutil.move(late, kept)
    tw = bowl_twin()
    with (
        pytest.warns(ObservationWarning, match="RadarFrameLate"),
        Forecaster(tw, _cfg(), obs, tmp_path / "fc") as fc,
    ):
        fc.cycle(storm.start + 36 * MIN)
        fc.cycle(storm.start + 48 * MIN)  # 08:42 is missing here
        shutil.move(kept, late)  # ... and arrives now
        (obs / "radar" / "radar_20260601T0900Z.tif").write_bytes(b"\x00" * 100)  # and 09:00 is broken
        res = fc.cycle(storm.start + 60 * MIN)
    assert res.status == "published"
    assert {"RadarFrameLate", "RadarFrameCorrupt", "RadarFrameMissing"} <= set(_codes(res))


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_a_cycle_cut_short_loses_nothing_published_and_the_next_run_picks_up(tmp_path_factory, tmp_path, monkeypatch):
    storm = town_storm(tmp_path_factory)
    tw = bowl_twin()
    out = tmp_path / "fc"
    with Forecaster(tw, _cfg(), storm.obs, out) as fc:
        fc.cycle(storm.start + 48 * MIN)
    before = {p.name: _io.sha256(p) for p in (out / "cycles" / "20260601T0848Z").iterdir()}
    state_before = _io.sha256(out / "state.npz")
    real = _io.write_geotiff
    calls = []

    def dies_midway(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process stopped while it wrote the cycle's rasters
        return real(*args, **kwargs)

    monkeypatch.setattr(_io, "write_geotiff", dies_midway)
    with pytest.raises(KeyboardInterrupt), Forecaster(tw, _cfg(), storm.obs, out) as fc:
        fc.cycle(storm.start + 54 * MIN)
    monkeypatch.setattr(_io, "write_geotiff", real)
    assert sorted(p.name for p in (out / "cycles").iterdir()) == ["20260601T0848Z"]  # no half folder
    assert {p.name: _io.sha256(p) for p in (out / "cycles" / "20260601T0848Z").iterdir()} == before
    assert json.loads((out / "latest.json").read_text())["cycle"] == "20260601T0848Z"
    assert _io.sha256(out / "state.npz") == state_before
    with Forecaster(tw, _cfg(), storm.obs, out) as fc:
        again = fc.cycle(storm.start + 54 * MIN)
    assert again.status == "published" and again.record["cycle_index"] == 2
    assert json.loads((out / "latest.json").read_text())["cycle"] == "20260601T0854Z"


def test_a_state_from_another_twin_is_refused(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    from twin.errors import ScenarioError

    with Forecaster(bowl_twin(), _cfg(), storm.obs, tmp_path / "fc") as fc:
        fc.cycle(storm.start + 48 * MIN)
    other = bowl_twin(lake_level=10.4)
    with (
        pytest.raises(ScenarioError, match="lakes changed"),
        Forecaster(other, _cfg(), storm.obs, tmp_path / "fc") as fc,
    ):
        fc.cycle(storm.start + 54 * MIN)


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_members_on_the_ensembles_dask_cluster_equal_those_run_here(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    tw = bowl_twin()
    with Forecaster(tw, _cfg(workers=2), storm.obs, tmp_path / "dask") as fc:
        on_dask = fc.cycle(storm.start + 48 * MIN)
    with Forecaster(tw, _cfg(), storm.obs, tmp_path / "here") as fc:
        here = fc.cycle(storm.start + 48 * MIN)
    # the nowcast ran on a worker while the hot start ran here: the same rain
    assert on_dask.nowcast.method == here.nowcast.method == "steps", (on_dask.nowcast.reason, here.nowcast.reason)
    assert on_dask.record["cpu_seconds"]["nowcast_own"] > 0 and here.record["cpu_seconds"]["nowcast_own"] == 0
    np.testing.assert_array_equal(on_dask.nowcast.rain, here.nowcast.rain)
    for a, b in zip(on_dask.outputs, here.outputs, strict=True):
        np.testing.assert_array_equal(a.h_max, b.h_max)


def test_twin_forecast_replays_the_storm_from_the_command_line(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    tw = bowl_twin()
    tw.save(tmp_path / "twin")
    obs = tmp_path / "obs"
    shutil.copytree(storm.obs, obs)
    cfg = (obs / "forecast.toml").read_text().replace("members = 8", "members = 2\nworkers = 0")
    (obs / "forecast.toml").write_text(cfg.replace('lead_times = ["30min", "1h", "2h"]', 'lead_times = ["30min"]'))
    res = CliRunner().invoke(
        main,
        [
            "forecast",
            str(tmp_path / "twin"),
            "--obs",
            str(obs),
            "--out",
            str(tmp_path / "fc"),
            "--replay",
            "--cycles",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.output.count("cycle 2026") == 2
    assert "nowcast persistence" in res.output  # the first cycle has one frame
    bad = CliRunner().invoke(
        main, ["forecast", str(tmp_path / "twin"), "--obs", str(tmp_path), "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 2 and "forecast.toml" in bad.output


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_the_hot_start_and_the_members_run_the_base_scenarios_full_solver(tmp_path_factory, tmp_path):
    from kernels.swe import SweState

    storm = town_storm(tmp_path_factory)
    tw = bowl_twin()
    base = {"kind": "flood", "duration": "1h", "infiltration": {"model": "none"}}
    swe_cfg = _cfg(base={**base, "numerics": {"scheme": "swe", "dtype": "float64"}})
    out = tmp_path / "swe"
    with Forecaster(tw, swe_cfg, storm.obs, out) as fc:
        first = fc.cycle(storm.start + 48 * MIN)
    # the members take the scheme from the cycle's scenario (its numerics), their state is the full solver's
    assert first.inputs.scenario.numerics.scheme == "swe" and isinstance(first.inputs.state, SweState)
    # a restart hot-starts from the state on disk, discharges included
    with np.load(out / "state.npz") as ck:
        assert {"hu", "hv"} <= set(ck.files)
    with Forecaster(tw, swe_cfg, storm.obs, out) as fc:
        second = fc.cycle(storm.start + 60 * MIN)
    state = second.inputs.state
    assert isinstance(state, SweState) and np.abs(state.hu).max() > 0  # water moving at now
    rec = second.record
    assert rec["cycle_index"] == 2 and rec["balance"]["steps"] > 0 and rec["balance"]["volume_rain_m3"] > 0
    # float64 state: the books close to round-off, hot start and members alike
    assert abs(rec["balance"]["mass_balance_error"]) < 1e-9
    assert all(abs(m["mass_balance_error"]) < 1e-9 for m in rec["members_balance"])
    # the members are the full solver's: the same cycle under the inertial scheme floods differently
    with Forecaster(tw, _cfg(base={**base, "numerics": {"dtype": "float64"}}), storm.obs, tmp_path / "inertial") as fc:
        inertial = fc.cycle(storm.start + 48 * MIN)
    assert not isinstance(inertial.inputs.state, SweState)
    assert not np.array_equal(first.outputs[0].h_max, inertial.outputs[0].h_max)
