"""What a scenario may read and which values it may hold.

Files a scenario names resolve inside its own folder (or a folder allowed with ``--allow-path`` /
``allowed_paths=``); anything else is refused naming the key, without reading the file or printing
its contents. NaN, infinity and ``true`` where a number goes are refused naming the key; lookup
tables must be monotone and cover the range they are used over. Every case goes through the real
TOML reader, models and CLI.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner

from conftest import CRS, HAND_TOML, flood_scenario, plane_twin, write_hand
from twin.cli.app import main
from twin.errors import NumericalError, ScenarioError
from twin.sims.flood.run import run as flood_run
from twin.sims.flood.scenario import Scenario
from twin.sims.river.scenario import RiverScenario
from twin.sims.runs import load_scenario
from twin.sims.water.run import WaterScenario

SECRET = "root:$6$SECRET-HASH:19000:0:99999:7:::"
IDF_CSV = "duration_min,2,10\n5,123.25,181.5\n10,90,140\n60,30,50\n"
DESIGN = 'duration = "1h"\n[rain.design]\nmethod = "idf"\nreturn_period = 5\nduration = "1h"\nstep = "10min"\n'


def _folders(tmp_path):
    """A scenario folder beside a folder of secrets and a folder of shared tables."""
    scen, secret, tables = tmp_path / "scen", tmp_path / "secret", tmp_path / "tables"
    for d in (scen, secret, tables):
        d.mkdir()
    (secret / "shadow").write_text(SECRET + "\n")
    (secret / "idf.csv").write_text(IDF_CSV)
    (tables / "idf.csv").write_text(IDF_CSV)
    return scen, secret, tables


# ------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize("table", ["../secret/shadow", "{secret}/shadow", "../secret/idf.csv", "../../../etc/passwd"])
def test_idf_table_outside_the_folder_is_refused_naming_the_key(tmp_path, table):
    scen, secret, _ = _folders(tmp_path)
    (scen / "flood.toml").write_text(DESIGN + f'table = "{table.format(secret=secret)}"\n')
    with pytest.raises(ScenarioError) as err:
        Scenario.from_toml(scen / "flood.toml")
    text = str(err.value)
    assert "rain.design.table" in text and "outside the scenario's folder" in text and "--allow-path" in text
    assert "SECRET-HASH" not in text and "$6$" not in text and "123.25" not in text  # nothing of the file


def test_table_outside_read_with_allow_path_and_recorded(tmp_path):
    scen, _, tables = _folders(tmp_path)
    (scen / "flood.toml").write_text(DESIGN + 'table = "../tables/idf.csv"\n')
    with pytest.raises(ScenarioError, match="rain.design.table"):
        load_scenario(scen / "flood.toml")
    sc = load_scenario(scen / "flood.toml", allowed_paths=[tables])
    assert sc.to_dict()["rain"]["design"]["table"]["intensity"][0] == [123.25, 181.5]
    # a table inside the scenario's folder needs nothing
    (scen / "idf.csv").write_text(IDF_CSV)
    (scen / "inside.toml").write_text(DESIGN + 'table = "idf.csv"\n')
    assert Scenario.from_toml(scen / "inside.toml").hash == sc.model_copy(update={"name": "inside"}).hash


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    scen, secret, _ = _folders(tmp_path)
    (scen / "idf.csv").symlink_to(secret / "idf.csv")
    (scen / "flood.toml").write_text(DESIGN + 'table = "idf.csv"\n')
    with pytest.raises(ScenarioError, match="rain.design.table: 'idf.csv' lies outside"):
        Scenario.from_toml(scen / "flood.toml")


def test_rain_frames_outside_refused_and_allowed(tmp_path):
    scen, secret, _ = _folders(tmp_path)
    toml = 'duration = 600\n[rain]\nframes = [{time = 0, file = "a.tif"}, {time = 300, file = "%s"}]\n'
    (scen / "f.toml").write_text(toml % "../../../secret/shadow")
    with pytest.raises(ScenarioError, match=r"rain\.frames\.1\.file: '\.\./\.\./\.\./secret/shadow' lies outside"):
        Scenario.from_toml(scen / "f.toml")
    (scen / "g.toml").write_text(toml % "../secret/b.tif")
    sc = Scenario.from_toml(scen / "g.toml", allowed_paths=[secret])
    assert [f.file for f in sc.rain.frames] == [scen.resolve() / "a.tif", secret.resolve() / "b.tif"]
    # a dict's files resolve in the current folder, or its base_dir
    with pytest.raises(ScenarioError, match="rain.frames.0.file"):
        Scenario.from_dict({"duration": 600, "rain": {"frames": [{"file": str(secret / "b.tif")}]}})
    assert (
        Scenario.from_dict({"duration": 600, "rain": {"frames": [{"file": "b.tif"}]}}, base_dir=secret)
        .rain.frames[0]
        .file
        == secret.resolve() / "b.tif"
    )


def test_water_series_and_network_outside_refused_by_the_cli_and_allowed(tmp_path):
    scen, secret, tables = _folders(tmp_path)
    write_hand(tables)  # hand.toml and flows.csv
    (scen / "hand.toml").write_text(HAND_TOML.replace('timeseries = "flows.csv"', 'timeseries = "../tables/flows.csv"'))
    res = CliRunner().invoke(main, ["water", str(scen / "hand.toml"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert "timeseries: '../tables/flows.csv' lies outside" in res.output
    res = CliRunner().invoke(
        main, ["water", str(scen / "hand.toml"), "--out", str(tmp_path / "out"), "--allow-path", str(tables)]
    )
    assert res.exit_code == 0, res.output
    # the result's scenario.json records the resolved path and reads back as a record
    record = json.loads((tmp_path / "out" / "scenario.json").read_text())
    assert WaterScenario.from_record(record).timeseries == tables.resolve() / "flows.csv"
    (scen / "net.toml").write_text(HAND_TOML.replace('timeseries = "flows.csv"', 'network = "../secret/shadow"'))
    with pytest.raises(ScenarioError, match="network = '../secret/shadow' lies outside") as err:
        WaterScenario.from_toml(scen / "net.toml")
    assert "SECRET" not in str(err.value)


def test_ensemble_base_outside_refused_and_allowed(tmp_path):
    from twin.ensemble.run import Ensemble

    scen, _, tables = _folders(tmp_path)
    (tables / "flood.toml").write_text("duration = 600\n[rain]\nconstant = 10\n")
    (scen / "ens.toml").write_text('base = "../tables/flood.toml"\n[sweep]\n"rain.constant" = [5, 10]\n')
    with pytest.raises(ScenarioError, match="base = '../tables/flood.toml' lies outside"):
        Ensemble.from_toml(scen / "ens.toml")
    assert len(Ensemble.from_toml(scen / "ens.toml", allowed_paths=[tables]).members) == 2


def test_cli_run_allow_path(tmp_path):
    scen, _, tables = _folders(tmp_path)
    (scen / "flood.toml").write_text(DESIGN + 'table = "../tables/idf.csv"\n')
    (tmp_path / "tw").mkdir()  # refused before the twin is read
    res = CliRunner().invoke(
        main, ["run", str(scen / "flood.toml"), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 2 and "rain.design.table" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------ values


@pytest.mark.parametrize(
    "toml, key",
    [
        ("duration = 600\n[rain]\nconstant = nan\n", "rain.constant: nan is not a finite number"),
        ("duration = 600\n[rain]\nconstant = inf\n", "rain.constant: inf is not a finite number"),
        ("duration = 600\n[rain]\nconstant = 1e6\n", "rain.constant"),
        ("duration = inf\n", "duration: a duration must be a finite number"),
        ("duration = 600\n[rain]\nhyetograph = [[0, 10], [300, nan]]\n", "rain.hyetograph entry 1's value"),
        ("duration = 600\n[rain]\nhyetograph = [[0, 10], [nan, 5]]\n", "rain.hyetograph entry 1's time"),
        ("duration = 600\n[drainage]\ncapacity = true\n", "capacity = true: true/false"),
        ("duration = 600\n[numerics]\nalpha = nan\n", "numerics.alpha: nan"),
        ("duration = 600\n[[gauge]]\nname = 'g'\nat = [inf, 0]\n", "gauge.0.at.0: inf"),
        ('kind = "river"\nduration = "6h"\n[[lake]]\nlake = 0\nweir_width = inf\n', "lake.0.weir_width: inf"),
        ('kind = "river"\nduration = "6h"\n[runoff]\nconstant = 5\ncoefficient = true\n', "coefficient = true"),
    ],
)
def test_nan_inf_and_bool_refused_naming_the_key(tmp_path, toml, key):
    (tmp_path / "s.toml").write_text(toml)
    with pytest.raises(ScenarioError, match="not a valid scenario") as err:
        load_scenario(tmp_path / "s.toml")
    assert key in str(err.value)


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("demand = 5.0", "demand = nan", "node.2.demand: nan is not a finite number"),
        ("capacity = 1728000.0", "capacity = true", "capacity = true: true/false"),
        ("zones = { inactive = 0.1 }", "zones = { inactive = inf }", "node.0.zones.inactive: inf"),
    ],
)
def test_water_nan_and_bool_refused_naming_the_key(tmp_path, old, new, key):
    assert old in HAND_TOML
    path = write_hand(tmp_path, HAND_TOML.replace(old, new, 1))
    with pytest.raises(ScenarioError) as err:
        WaterScenario.from_toml(path)
    assert key in str(err.value) and "demand.str" not in str(err.value)


@pytest.mark.parametrize(
    "args",
    [
        ["duration = inf\n"],
        ["duration = 600\n[rain]\nconstant = inf\n"],
        ["duration = 600\n[rain]\nhyetograph = [[0, nan], [300, 5]]\n"],
        ["duration = 600\n[rain]\nhyetograph = [[0, 1], [nan, 5]]\n"],
    ],
)
def test_cli_bad_values_exit_2_with_one_line(tmp_path, args):
    (tmp_path / "s.toml").write_text(args[0])
    (tmp_path / "tw").mkdir()
    res = CliRunner().invoke(
        main, ["run", str(tmp_path / "s.toml"), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "rain_field" not in lines[0]


def test_ingest_raster_name_that_leaves_the_folder_exits_2(tmp_path):
    dem = tmp_path / "dem.tif"
    with rasterio.open(
        dem,
        "w",
        driver="GTiff",
        width=8,
        height=6,
        count=1,
        dtype="float32",
        crs=CRS,
        transform=Affine(2.0, 0, 423000.0, 0, -2.0, 2560000.0),
    ) as ds:
        ds.write(np.ones((1, 6, 8), np.float32))
    res = CliRunner().invoke(
        main, ["ingest", "--dem", str(dem), "--raster", f"../../../X={dem}", "--out", str(tmp_path / "tw")]
    )
    assert res.exit_code == 2 and "'../../../X'" in res.output and "Traceback" not in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "tw").exists()


def test_fixed_dt_message_gives_the_courant_limit_and_the_fix():
    sc = flood_scenario(numerics={"dtype": "float64", "fixed_dt": 60.0})
    with pytest.raises(NumericalError) as err:
        flood_run(plane_twin(), sc, progress=False)
    text = str(err.value)
    assert "numerics.fixed_dt = 60 s" in text and "Courant limit of" in text and "or to 0" in text
    limit = float(text.split("Courant limit of ")[1].split(" s")[0])
    assert 0 < limit < 60 / 1.5  # the kernel stops where fixed_dt exceeds 1.5x the limit
    assert "by t =" not in text


# ------------------------------------------------------------------------------------ tables


def _reservoir(table, capacity=1000.0):
    return {
        "start": "2021-01-01",
        "end": "2021-01-05",
        "node": [
            {"name": "lake", "type": "reservoir", "capacity": capacity, "initial": 500.0, "table": table},
            {"name": "town", "type": "demand", "demand": 0.001},
        ],
        "link": [{"from": "lake", "to": "town"}],
    }


@pytest.mark.parametrize(
    "table, message",
    [
        (
            [[0, 0, 110], [500, 1e4, 105], [1000, 2e4, 100]],
            "level must increase from row to row, but row 1 has level = 105",
        ),
        ([[0, 0, 100], [1000, 1e4, 110], [500, 2e4, 120]], "storage must increase"),
        ([[0, 0, 100], [500, -1, 105], [1000, 2e4, 110]], "row 1 has area = -1"),
        ([[0, 0, 100], [800, 1e4, 110]], "table covers storage 0 to 800 m3, not the reservoir's range 0 to capacity"),
        ([[100, 0, 100], [1000, 1e4, 110]], "start it at storage 0"),
    ],
)
def test_reservoir_tables_monotone_and_covering_capacity(table, message):
    with pytest.raises(ScenarioError, match="node.0") as err:
        WaterScenario.from_dict(_reservoir(table))
    assert message in str(err.value)
    WaterScenario.from_dict(_reservoir([[0, 0, 100], [500, 1e4, 105], [1200, 2e4, 110]]))


@pytest.mark.parametrize(
    "lake, message",
    [
        ({"table": [[10, 0], [9, 100], [11, 200]]}, "lake.0.table: stage must increase"),
        ({"table": [[10, 0], [11, 200], [12, 100]]}, "lake.0.table: area must never fall"),
        ({"rating": [[10, 0], [11, 5], [12, 2]]}, "lake.0.rating: discharge must never fall"),
        ({"table": [[10, 0], [11, 200]], "initial_level": 12}, "initial_level = 12 m lies outside the table's stages"),
        ({"table": [[10, 0], [11, 200]], "target_level": 9}, "target_level = 9 m lies outside"),
    ],
)
def test_lake_tables_use_the_same_checks(lake, message):
    with pytest.raises(ScenarioError) as err:
        RiverScenario.from_dict({"duration": "6h", "lake": [{"lake": 0, **lake}]})
    assert message in str(err.value)


# ------------------------------------------------------------------------ rain frames at run time


def _frames(folder, rates):
    import pyproj

    from conftest import X0, Y0
    from twin import _io

    t = Affine(10.0, 0, X0, 0, -10.0, Y0)
    for name, rate in rates.items():
        _io.write_geotiff(folder / name, np.full((12, 16), rate, np.float32), t, pyproj.CRS(CRS))


def test_ensemble_member_with_frames_runs_outside_its_folder(tmp_path):
    """A member's scenario goes to the worker as its record: the frames it names (checked when the
    ensemble was read) are not checked again against the worker's folder (here the repository)."""
    from twin.ensemble.run import Ensemble, _run_member

    _frames(tmp_path, {"a.tif": 20.0})
    (tmp_path / "base.toml").write_text('duration = 300\n[rain]\nframes = [{time = 0, file = "a.tif"}]\n')
    (tmp_path / "ens.toml").write_text('base = "base.toml"\n[sweep]\n"numerics.dtype" = ["float64"]\n')
    member = Ensemble.from_toml(tmp_path / "ens.toml").members[0]
    summary = _run_member(plane_twin(), member.scenario.to_dict(), str(tmp_path / "m"), 1)
    assert summary["scenario_hash"] == member.scenario.hash and summary["volume_rain_m3"] > 0


def test_ensemble_sweeps_the_flood_scheme(tmp_path):
    """``numerics.scheme`` is a key like any other: a sweep runs the local-inertial and the full
    shallow-water solver on the same storm, each member as a worker runs it."""
    from twin.ensemble.run import Ensemble, _run_member

    (tmp_path / "base.toml").write_text('duration = 300\n[rain]\nconstant = 50.0\n[numerics]\ndtype = "float64"\n')
    (tmp_path / "ens.toml").write_text('base = "base.toml"\n[sweep]\n"numerics.scheme" = ["inertial", "swe"]\n')
    members = Ensemble.from_toml(tmp_path / "ens.toml").members
    assert [m.scenario.numerics.scheme for m in members] == ["inertial", "swe"]
    summaries = [
        _run_member(plane_twin(), m.scenario.to_dict(), str(tmp_path / f"m{i}"), 1) for i, m in enumerate(members)
    ]
    assert [s["scheme"] for s in summaries] == ["inertial", "swe"]
    assert summaries[1]["volume_rain_m3"] == pytest.approx(summaries[0]["volume_rain_m3"], rel=1e-9)
    assert all(abs(s["mass_balance_error"]) < 1e-9 for s in summaries)
