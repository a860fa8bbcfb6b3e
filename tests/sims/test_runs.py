"""One entry point for every scenario kind: ``twin.sims.runs`` and ``twin run`` dispatch on the TOML's ``kind``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import HAND_TOML, plane_twin, write_hand
from twin.cli.app import main
from twin.errors import ScenarioError
from twin.sims.flood.scenario import Scenario
from twin.sims.river.scenario import RiverScenario
from twin.sims.runs import load_scenario, run
from twin.sims.water.run import WaterResult, WaterScenario


def _water(tmp_path):
    return write_hand(tmp_path, toml='kind = "water"\n' + HAND_TOML)


def test_kind_picks_the_scenario_model(tmp_path):
    (tmp_path / "f.toml").write_text('duration = "10min"\n[rain]\nconstant = 20\n')
    (tmp_path / "r.toml").write_text('kind = "river"\nduration = "6h"\n')
    assert isinstance(load_scenario(tmp_path / "f.toml"), Scenario)
    assert isinstance(load_scenario(tmp_path / "r.toml"), RiverScenario)
    assert isinstance(load_scenario(_water(tmp_path)), WaterScenario)
    assert isinstance(load_scenario({"kind": "river", "duration": 3600}), RiverScenario)


def test_unknown_kind_and_bad_keys_are_clear_errors(tmp_path):
    with pytest.raises(ScenarioError, match="kind = 'drought'.*flood.*river.*water"):
        load_scenario({"kind": "drought"})
    (tmp_path / "r.toml").write_text('kind = "river"\nduration = "6h"\nlakes = []\n')
    with pytest.raises(ScenarioError, match="lakes: unknown key"):
        load_scenario(tmp_path / "r.toml")


def test_run_dispatches_to_the_kind(tmp_path):
    result = run(None, _water(tmp_path), out=tmp_path / "w")
    assert isinstance(result, WaterResult) and (tmp_path / "w" / "allocation.nc").is_file()
    # every kind records the validated scenario and its hash, and the record reads back the same
    summary = json.loads((tmp_path / "w" / "summary.json").read_text())
    again = WaterScenario.from_record(json.loads((tmp_path / "w" / "scenario.json").read_text()))
    assert summary["scenario_hash"] == load_scenario(_water(tmp_path)).hash == again.hash


def test_cli_refuses_flood_options_for_other_kinds(tmp_path):
    plane_twin().save(tmp_path / "tw")
    (tmp_path / "r.toml").write_text('kind = "river"\nduration = "6h"\n')
    res = CliRunner().invoke(
        main,
        ["run", str(tmp_path / "r.toml"), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "out"), "--resume"],
    )
    assert res.exit_code == 2 and "apply to flood runs" in res.output
