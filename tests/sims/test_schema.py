"""Self-documenting scenarios: every key described, the JSON Schema, the generated reference, series checks."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from twin._schema_docs import KINDS, fields, reference, scenario_model
from twin.cli.app import main
from twin.errors import ScenarioError
from twin.sims.flood.scenario import Scenario
from twin.sims.river.scenario import RiverScenario

ROOT = Path(__file__).resolve().parents[2]

#: One scenario per kind as a user writes it (durations as text, series with text times).
EXAMPLES = {
    "flood": """
kind = "flood"
duration = "2h"
output_interval = "10min"
[rain]
hyetograph = [[0, 60.0], ["1h", 60.0], ["1h1s", 0.0]]
[[inflow]]
at = [10.0, 20.0]
hydrograph = [[0, 0.0], [3600, 150.0], [7200, 0.0]]
[[boundary]]
edge = "west"
type = "level"
level = [[0, -0.5], [7200, 3.4]]
[[edit]]
type = "pond"
polygon = [[0, 0], [10, 0], [10, 10], [0, 10]]
depth = 2.0
""",
    "river": """
kind = "river"
duration = "2d"
dt = "15min"
[runoff]
hyetograph = [[0, 30.0], ["2h", 30.0], ["2h1s", 0.0]]
coefficient = 0.5
[[lateral]]
link = 3
series = [[0, 1.0], ["1d", 2.0]]
[[lake]]
name = "Sample Lake"
crest = 3.55
weir_width = 6.0
""",
    "water": """
kind = "water"
start = 2021-01-01
end = 2022-01-01
step = "1d"
[[node]]
name = "lake"
type = "reservoir"
capacity = 4.0e7
inflow = 3.0
zones = { conservation = [[1, 0.85], [120, 1.0]], buffer = 0.3, inactive = 0.1 }
[[node]]
name = "city"
type = "demand"
demand = 1.5
[[link]]
from = "lake"
to = "city"
capacity = 3.0
""",
    "terrain": """
kind = "terrain"
depressions = "breach"
breach_max_depth = 2.0
[[pour_point]]
name = "intake"
at = [1.0, 2.0]
""",
    "ensemble": """
name = "storms"
base = { duration = "1h", rain = { constant = 10.0 } }
thresholds = [0.1, 0.3]
[sweep]
"drainage.capacity" = [0.0, 10.0]
""",
    "forecast": """
base = { duration = "1h", infiltration = { model = "none" } }
lead_times = ["30min", "1h"]
members = 4
interval = "6min"
road_depths = { footway = 0.2 }
""",
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_key_has_a_description(kind):
    missing = [path for path, field in fields(scenario_model(kind)) if not (field.description or "").strip()]
    assert not missing, f"{kind} scenario keys without a description: {missing}"


def test_the_reference_covers_every_kind_and_key():
    counts = {kind: sum(1 for _ in fields(scenario_model(kind))) for kind in KINDS}
    assert sum(counts.values()) >= 200, counts
    text = reference()
    for kind in KINDS:
        for path, _ in fields(scenario_model(kind)):
            assert f"| `{path}` |" in text


def test_keys_with_units_carry_them():
    by_path = dict(fields(Scenario))
    assert by_path["rain.constant"].json_schema_extra == {"units": "mm/h"}
    assert by_path["duration"].json_schema_extra == {"units": "s"}
    assert json.loads(_schema_cli("river"))["$defs"]["Spill"]["properties"]["mass"]["units"] == "kg"


def test_docs_scenarios_md_is_up_to_date():
    committed = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert committed == reference(), (
        "docs/scenarios.md is out of date with the scenario models; regenerate it: "
        "python -m twin._schema_docs docs/scenarios.md"
    )


def test_the_generator_writes_the_file(tmp_path):
    out = tmp_path / "scenarios.md"
    subprocess.run([sys.executable, "-m", "twin._schema_docs", str(out)], check=True, cwd=ROOT)
    assert out.read_text(encoding="utf-8") == (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")


def _schema_cli(kind: str) -> str:
    res = CliRunner().invoke(main, ["schema", kind])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("kind", list(KINDS))
def test_schema_cli_prints_a_valid_json_schema(kind, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(_schema_cli(kind))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    # what a user writes (text durations, text series times) is valid for the schema and the model
    data = json.loads(json.dumps(tomllib.loads(EXAMPLES[kind]), default=str))
    assert not list(validator.iter_errors(data))
    model = scenario_model(kind)
    model.model_validate(tomllib.loads(EXAMPLES[kind]), context={"base_dir": tmp_path})
    # and a misspelt key is refused by both
    data["duraton"] = 5
    assert list(validator.iter_errors(data))


def test_schema_cli_refuses_an_unknown_kind():
    res = CliRunner().invoke(main, ["schema", "tide"])
    assert res.exit_code == 2
    assert "flood" in res.output and "ensemble" in res.output


@pytest.mark.parametrize(
    ("cls", "data", "message"),
    [
        (
            Scenario,
            {"duration": 600, "rain": {"hyetograph": [[0, 10], [300, float("nan")]]}},
            "rain.hyetograph: rain.hyetograph entry 1's value must be a finite number",
        ),
        (
            Scenario,
            {"duration": 600, "rain": {"hyetograph": []}},
            "rain.hyetograph: rain.hyetograph must be a non-empty list of [time_seconds, value] pairs",
        ),
        (
            Scenario,
            {"duration": 600, "inflow": [{"at": [0, 0], "hydrograph": [[0, 1], [0, 2]]}]},
            "inflow.0.hydrograph: inflow.hydrograph times must increase; entry 1 at t=0 s follows t=0 s",
        ),
        (
            Scenario,
            {"duration": 600, "inflow": [{"at": [0, 0], "hydrograph": [[0, -1]]}]},
            "inflow.hydrograph entry 0 has the negative value -1.0",
        ),
        (
            Scenario,
            {"duration": 600, "boundary": [{"edge": "west", "type": "level", "level": [[0, 1, 2]]}]},
            "boundary.0.level: boundary.level entry 0 must be a [time_seconds, value] pair",
        ),
        (
            RiverScenario,
            {"duration": 3600, "runoff": {"hyetograph": [[0, float("inf")]]}},
            "runoff.hyetograph: runoff.hyetograph entry 0's value must be a finite number",
        ),
        (
            RiverScenario,
            {"duration": 3600, "lateral": [{"link": 1, "series": [["soon", 1.0]]}]},
            "lateral.0.series: cannot read duration 'soon'",
        ),
        (
            RiverScenario,
            {"duration": 3600, "inflow": [{"at": [0, 0], "hydrograph": [[0, True]]}]},
            "inflow.0: hydrograph = [[0, true]]: true/false is not a value this key takes",
        ),
    ],
)
def test_series_errors_name_the_key(cls, data, message):
    with pytest.raises(ScenarioError) as err:
        cls.from_dict(data)
    assert message in str(err.value)


def test_a_level_series_may_be_negative_and_times_may_be_text():
    s = Scenario.from_dict(
        {"duration": "1h", "boundary": [{"edge": "west", "type": "level", "level": [[0, -1.5], ["30min", -0.5]]}]}
    )
    assert s.boundary[0].level == [(0.0, -1.5), (1800.0, -0.5)]
