"""Flood runs with the full shallow-water solver (``[numerics] scheme = "swe"``): the same forcings,
outputs, checkpoints and summary as the local-inertial scheme."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from conftest import flood_scenario, plane_twin, surcharged_inp
from kernels import swe
from kernels.flood import FloodParams
from twin.errors import NumericalError, ScenarioError
from twin.model import Twin
from twin.sims.flood.run import run
from twin.sims.flood.scenario import Scenario
from twin.sims.flood.schemes import stepper


def _swe(**numerics):
    return {"dtype": "float64", "scheme": "swe", **numerics}


@pytest.mark.parametrize("order", [2, 1])
def test_every_forcing_balances_with_the_full_solver(order):
    tw = plane_twin()
    r = run(tw, flood_scenario(numerics=_swe(order=order)), progress=False)
    s = r.summary
    assert s["scheme"] == "swe"
    for key in (
        "volume_rain_m3",
        "volume_inflow_m3",
        "volume_boundary_in_m3",
        "volume_out_m3",
        "volume_infiltrated_m3",
        "volume_drained_m3",
    ):
        assert s[key] > 0, key
    # float64 state and float64 accounting: round-off only (measured ~1e-15)
    assert abs(s["mass_balance_error"]) < 1e-9
    # the same hydrograph volume as the inertial scheme takes in (trapezoids of the series)
    assert s["volume_inflow_m3"] == pytest.approx(0.5 * 300 * 2.0 + 0.5 * 600 * 2.5, rel=1e-9)
    assert np.isfinite(r.max_depth).all() and (r.max_depth >= 0).all()
    assert np.isfinite(r.max_speed).all() and r.max_speed.max() > 0
    assert (r.hazard >= 0).all() and np.isfinite(r.arrival_time).any()


def test_both_schemes_flood_the_same_cells_from_the_same_inputs():
    tw = plane_twin()
    a = run(tw, flood_scenario(numerics={"dtype": "float64"}), progress=False)
    b = run(tw, flood_scenario(numerics=_swe()), progress=False)
    assert a.summary["scheme"] == "inertial"
    # the same water enters: rain and inflow come from the same series on the same grid
    for key in ("volume_rain_m3", "volume_inflow_m3"):
        assert b.summary[key] == pytest.approx(a.summary[key], rel=1e-9), key
    # a slow plane flood: both schemes agree on the flooded area within a few per cent
    wa, wb = a.max_depth > 0.05, b.max_depth > 0.05
    assert (wa ^ wb).sum() <= 0.1 * max(wa.sum(), 1)


def test_checkpoint_and_resume_equal_an_uninterrupted_run(tmp_path):
    tw = plane_twin()
    sc = flood_scenario(checkpoint_interval=300, numerics=_swe())
    full = run(tw, sc, out=tmp_path / "full", progress=False, scene=False)
    assert run(tw, sc, out=tmp_path / "part", progress=False, stop_at=450, scene=False) is None
    with np.load(tmp_path / "part.checkpoint.npz") as ck:
        assert {"hu", "hv"} <= set(ck.files)  # the discharges travel with the depths
    resumed = run(tw, sc, out=tmp_path / "part", progress=False, resume=True, scene=False)
    for name in ("max_depth", "max_speed", "arrival_time", "duration", "hazard"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name), err_msg=name)
    for key in ("volume_in_m3", "volume_out_m3", "volume_stored_m3", "steps"):
        assert resumed.summary[key] == full.summary[key], key


def test_scheme_keys_are_checked():
    with pytest.raises(ScenarioError, match="scheme"):
        Scenario.coerce(flood_scenario(numerics={"scheme": "diffusive"}))
    with pytest.raises(ScenarioError, match="order"):
        Scenario.coerce(flood_scenario(numerics={"scheme": "swe", "order": 3}))
    with pytest.raises(ScenarioError, match="integrator"):
        Scenario.coerce(flood_scenario(numerics={"scheme": "swe", "integrator": "heun"}))


@pytest.mark.parametrize(("numerics", "want"), [({}, "hancock"), ({"integrator": "rk2"}, "rk2")])
def test_the_integrator_key_reaches_the_solver(numerics, want):
    # MUSCL-Hancock is the second-order default; [numerics] integrator = "rk2" picks SSP-RK2
    sc = Scenario.coerce(flood_scenario(numerics=_swe(**numerics)))
    advance, params = stepper(sc, FloodParams())
    assert advance is swe.advance and params.integrator == want and params.order == 2


@pytest.mark.parametrize(
    "numerics, words",
    [
        ({"scheme": "swe", "alpha": 0.3}, r"numerics\.alpha is the inertial kernel's .*scheme = 'swe'.*numerics\.cfl"),
        ({"scheme": "swe", "theta": 1.0}, r"numerics\.theta is the inertial kernel's"),
        ({"cfl": 0.3}, r"numerics\.cfl is the full solver's .*scheme = 'inertial'.*numerics\.alpha"),
        ({"order": 1}, r"numerics\.order is the full solver's .*set scheme = 'swe'"),
    ],
)
def test_a_key_of_the_other_scheme_is_refused_not_ignored(numerics, words):
    # before: alpha = 0.3 under scheme = "swe" (a user calming an unstable run) ran at the full solver's
    # cfl = 0.45 without a word, and order = 1 under the inertial scheme did nothing
    with pytest.raises(ScenarioError, match=words):
        Scenario.coerce(flood_scenario(numerics=numerics))
    # the defaults of the other scheme's keys, as a result's scenario.json records them, are accepted
    sc = Scenario.coerce(flood_scenario(numerics={"scheme": "swe", "order": 1}))
    assert Scenario.from_record(sc.to_dict()).numerics.order == 1


def test_sewer_coupling_runs_with_the_full_solver(tmp_path):
    # the surcharged two-pipe network of the drainage tests under a flat street: the manholes push
    # water onto the street and take it back, every few seconds, between the full solver's calls
    (tmp_path / "surcharged.inp").write_text(surcharged_inp())
    tw = Twin("EPSG:25832", Affine(2.0, 0, 80.0, 0, -2.0, 140.0), np.full((40, 80), 12.0))
    sc = Scenario.from_dict(
        {
            "name": "surcharge",
            "duration": 1200,
            "output_interval": 600,
            "drainage": {"inp": "surcharged.inp", "crs": "EPSG:25832"},
            "numerics": _swe(),
        },
        base_dir=tmp_path,
    )
    r = run(tw, sc, progress=False, scene=False)
    d = r.summary["drainage"]
    assert d["volume_network_to_surface_m3"] > 10 and r.summary["volume_stored_m3"] > 10
    # the same bounds as the inertial scheme's coupled run (test_drainage.py)
    assert abs(r.summary["mass_balance_error"]) < 1e-9
    assert abs(d["coupled_mass_balance_error_without_network_continuity"]) < 1e-6
    assert np.isfinite(r.max_speed).all()


def test_unstable_fixed_step_names_the_full_solvers_courant_key():
    sc = flood_scenario(numerics=_swe(fixed_dt=30.0))
    with pytest.raises(NumericalError, match=r"fixed_dt = 30 s .*numerics\.cfl x cell size"):
        run(plane_twin(), sc, progress=False)


def test_inertial_scenarios_keep_their_hash_and_swe_ones_record_the_scheme():
    base = {"duration": 600, "rain": {"constant": 10}, "drainage": {"capacity": 5}}
    # the hash this scenario had before the full solver's keys existed (as in test_drainage.py)
    assert Scenario.from_dict(base).hash == "ba582da0f52b371e589f1276b851114b6f2418202c6d47fdfaa4e97ccc21d24d"
    sc = Scenario.from_dict({**base, "numerics": {"scheme": "swe", "order": 1}})
    assert sc.to_dict()["numerics"]["scheme"] == "swe" and sc.to_dict()["numerics"]["order"] == 1
    assert Scenario.from_dict(sc.to_dict()).hash == sc.hash != Scenario.from_dict(base).hash
