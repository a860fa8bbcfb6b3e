"""The registry of simulation kinds: a kind added at run time, in this file only, runs, saves, loads and
shows like the built-in ones; every built-in result saves and loads the same way."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import Field

import twin
from conftest import plane_twin
from twin.cli.app import main
from twin.errors import InputDataError
from twin.sims.base import Result, common_summary
from twin.sims.kinds import SimulationKind, get_kind, kinds, register_kind, unregister_kind
from twin.sims.scenario_base import ScenarioModel

# ------------------------------------------------------------------------------- a toy kind, all of it


class PondScenario(ScenarioModel):
    """Fill every cell of the twin to ``level`` metres above its lowest ground."""

    kind: Literal["pond"] = "pond"
    name: str = "pond"
    level: float = Field(1.0, gt=0, description="m above the lowest cell")


class PondResult(Result):
    kind: ClassVar[str] = "pond"
    signature: ClassVar[tuple[str, ...]] = ("depth.npy",)

    def __init__(self, depth: np.ndarray, summary: dict[str, Any], scenario: dict[str, Any]) -> None:
        self.depth, self.summary, self.scenario = depth, summary, scenario

    def _write_files(self, folder: Path) -> None:
        np.save(folder / "depth.npy", self.depth)

    @classmethod
    def _read_files(cls, path, summary, scenario, twin_) -> PondResult:
        return cls(np.load(path / "depth.npy"), summary, scenario)


def run_pond(twin_, scenario, *, out=None, progress=True, overwrite=False) -> PondResult:
    t0 = time.perf_counter()
    depth = np.maximum(float(twin_.terrain.min()) + scenario.level - twin_.terrain, 0.0)
    summary = {
        **common_summary("pond", scenario, twin_, time.perf_counter() - t0),
        "pond_volume_m3": float(depth.sum() * twin_.cell_size**2),
    }
    result = PondResult(depth, summary, scenario.to_dict())
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result


@pytest.fixture
def pond():
    kind = register_kind(
        SimulationKind(
            "pond", PondScenario, PondResult, run_pond, "a pond result", summary_first=("pond_volume_m3", "name")
        )
    )
    yield kind
    unregister_kind("pond")


def test_a_registered_kind_runs_saves_loads_and_shows(pond, tmp_path):
    tw = plane_twin()
    tw.save(tmp_path / "tw")
    tw = twin.Twin.load(tmp_path / "tw")
    (tmp_path / "pond.toml").write_text('kind = "pond"\nlevel = 0.5\n')
    # Python: twin.run dispatches on the kind
    result = twin.run(tw, tmp_path / "pond.toml", out=tmp_path / "p1")
    assert isinstance(result, PondResult) and result.summary["pond_volume_m3"] > 0
    assert json.loads((tmp_path / "p1" / "cimtwin.json").read_text())["kind"] == "pond"
    back = twin.load_result(tmp_path / "p1")
    assert isinstance(back, PondResult) and np.array_equal(back.depth, result.depth)
    assert back.summary == json.loads(json.dumps(result.summary))
    for key in ("kind", "name", "scenario_hash", "cimtwin", "wall_seconds", "twin"):
        assert key in back.summary, key
    # the CLI: twin run and twin info
    res = CliRunner().invoke(
        main, ["run", str(tmp_path / "pond.toml"), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "p2")]
    )
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[2].startswith("pond_volume_m3")  # the kind's first figure first
    res = CliRunner().invoke(main, ["info", str(tmp_path / "p2")])
    assert res.exit_code == 0 and res.output.startswith("pond_volume_m3"), res.output
    # flood options are refused for it, and a twin is needed
    res = CliRunner().invoke(
        main,
        [
            "run",
            str(tmp_path / "pond.toml"),
            "--twin",
            str(tmp_path / "tw"),
            "--out",
            str(tmp_path / "p3"),
            "--stop-at",
            "10",
        ],
    )
    assert res.exit_code == 2 and "apply to flood runs" in res.output
    res = CliRunner().invoke(main, ["run", str(tmp_path / "pond.toml"), "--out", str(tmp_path / "p3")])
    assert res.exit_code == 2 and "give --twin" in res.output
    # its scene is a clear error, not a traceback
    res = CliRunner().invoke(main, ["scene", str(tmp_path / "p2")])
    assert res.exit_code == 2 and "has no map" in res.output and "Traceback" not in res.output


def test_the_kind_is_gone_when_unregistered(tmp_path):
    assert "pond" not in kinds()
    with pytest.raises(twin.errors.ScenarioError, match="kind = 'pond' is not a scenario kind"):
        twin.load_scenario({"kind": "pond"})


def test_a_kind_cannot_be_registered_twice_or_over_a_folder_kind(pond):
    with pytest.raises(ValueError, match="registered already"):
        register_kind(SimulationKind("pond", PondScenario, PondResult, run_pond))
    with pytest.raises(ValueError, match="folder kind"):
        register_kind(SimulationKind("ensemble", PondScenario, PondResult, run_pond))


# -------------------------------------------------------------------------- the built-in kinds' results


def test_every_builtin_kind_is_registered_with_its_classes():
    import twin.sims.flood.run
    import twin.sims.river.run
    import twin.sims.terrain.run
    import twin.sims.water.run

    assert {"flood", "river", "water", "terrain"} <= set(kinds())
    assert get_kind("flood").result_class is twin.sims.flood.run.FloodResult
    assert get_kind("terrain").result_class is twin.sims.terrain.run.TerrainResult
    for name in kinds():
        k = get_kind(name)
        assert issubclass(k.result_class, Result) and k.scenario_class.model_fields["kind"].default == name


def test_terrain_result_saves_and_loads(tmp_path):
    from conftest import valley_twin
    from twin.sims.terrain.run import TerrainResult

    tw = valley_twin()
    tw.save(tmp_path / "tw")
    tw = twin.Twin.load(tmp_path / "tw")
    result = twin.run(tw, {"kind": "terrain", "threshold_cells": 5}, out=tmp_path / "t")
    back = twin.load_result(tmp_path / "t", twin=tw)
    assert isinstance(back, TerrainResult) and back.summary["kind"] == "terrain"
    for key in ("filled", "flow_direction", "accumulation", "watersheds", "hand"):
        assert np.array_equal(back.arrays[key], np.asarray(result.arrays[key]).astype(back.arrays[key].dtype)), key
    assert len(back.streams) == result.summary["stream_links"] == len(result.streams)
    again = back.save(tmp_path / "t2")  # a loaded result saves again, the same files
    assert {p.name for p in again.iterdir()} == {p.name for p in (tmp_path / "t").iterdir()}
    assert back.summary["twin"] == str(tmp_path / "tw")
    # the wrong class for a folder is a clear error
    from twin.sims.flood.run import FloodResult

    with pytest.raises(InputDataError, match="not a flood result folder"):
        FloodResult.load(tmp_path / "t")


def test_load_result_refuses_a_folder_that_is_no_result(tmp_path):
    tw = plane_twin()
    tw.save(tmp_path / "tw")
    with pytest.raises(InputDataError, match="holds a twin"):
        twin.load_result(tmp_path / "tw")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no result folder cimtwin wrote"):
        twin.load_result(tmp_path / "empty")


def test_summaries_share_their_first_keys(tmp_path):
    from conftest import HAND_TOML, write_hand

    water = twin.run(None, write_hand(tmp_path, toml='kind = "water"\n' + HAND_TOML), out=tmp_path / "w")
    flood = twin.run(
        plane_twin(), {"duration": 60, "rain": {"constant": 20}}, out=tmp_path / "f", progress=False, scene=False
    )
    for result, kind in ((water, "water"), (flood, "flood")):
        assert {"kind", "name", "scenario_hash", "cimtwin", "wall_seconds"} <= set(result.summary)
        assert result.summary["kind"] == kind
    assert water.summary["wall_s"] == water.summary["wall_seconds"]  # the older key stays
    assert flood.summary["scenario"] == flood.summary["name"]


def test_cf_attributes_come_from_one_place(tmp_path):
    import xarray as xr

    from conftest import HAND_TOML, write_hand

    twin.run(None, write_hand(tmp_path, toml='kind = "water"\n' + HAND_TOML), out=tmp_path / "w")
    with xr.open_dataset(tmp_path / "w" / "allocation.nc") as ds:
        assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["source"] == f"cimtwin {twin.__version__}"
        assert ds.attrs["scenario_hash"] == json.loads((tmp_path / "w" / "summary.json").read_text())["scenario_hash"]


def test_twin_terrain_is_twin_run_with_the_scenarios_words(tmp_path):
    """`twin terrain`'s options are the terrain scenario's keys; the older spellings still work."""
    from conftest import valley_twin

    valley_twin().save(tmp_path / "tw")
    res = CliRunner().invoke(
        main, ["terrain", str(tmp_path / "tw"), "--out", str(tmp_path / "a"), "--threshold", "5", "--buildings", "none"]
    )
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "a" / "scenario.json").read_text())
    assert record["kind"] == "terrain" and record["threshold_cells"] == 5 and record["buildings"] == "ignore"
    (tmp_path / "t.toml").write_text('kind = "terrain"\nname = "terrain"\nthreshold_cells = 5\nbuildings = "ignore"\n')
    res = CliRunner().invoke(
        main, ["run", str(tmp_path / "t.toml"), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "b")]
    )
    assert res.exit_code == 0, res.output
    a, b = twin.load_result(tmp_path / "a"), twin.load_result(tmp_path / "b")
    assert a.summary["scenario_hash"] == b.summary["scenario_hash"]
    assert a.summary["stream_links"] == b.summary["stream_links"]
    help_text = CliRunner().invoke(main, ["terrain", "--help"]).output
    assert "--threshold-cells" in help_text and "deprecated" in help_text
