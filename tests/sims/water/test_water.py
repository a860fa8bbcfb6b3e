"""Water scenarios end to end: a hand-computable network from a TOML file, outputs, members, bad files.

Daily steps; flows in m3/s, so a day's volume is 86400 times the rate and storages are written as
multiples of a day of 1 m3/s (``DAY``). Hand values match to 1e-9 m3/s (LP vertices, feasibility
tolerance 1e-9 on O(1-10) numbers) and to 1e-9 * DAY on storages.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

from conftest import CRS, HAND_TOML, write_hand
from twin.errors import ScenarioError
from twin.model.twin import Twin
from twin.sims.water.run import WaterScenario, run

DAY = 86400.0
TOL = 1e-9


def _hand_expected():
    """Deliveries (eflow, town, farm, mill) and end storages [days of 1 m3/s], by hand."""
    f1 = (11 - 2 - 5 / 0.9) / 6  # 13 there, 11 above the inactive 2: env 2, town 5/0.9, rest shared 4:2
    f4 = (10 - 2 - 5 / 0.9) / 6  # 12 there, 10 releasable
    full = [2, 5, 3, 2]  # farm capped at 3 by its link
    release_full = 2 + 5 / 0.9 + 3 + 2
    deliv = [[2, 5, 4 * f1, 2 * f1], [0] * 4, [0] * 4, [2, 5, 4 * f4, 2 * f4], full, full]
    store = [2, 2, 2, 2, 32 - release_full, 20]
    # day 6: 19.44 + 40 = 59.44 there; capacity 20 stays, withdrawals take 10.56 and 28.89 spills
    spill = [0, 0, 0, 0, 32 - 20 - (release_full - 2), 59.444444444444444 - 20 - (release_full - 2)]
    return np.array(deliv, float), np.array(store, float), np.array(spill, float)


def test_hand_network_exact_and_outputs(tmp_path):
    path = write_hand(tmp_path)
    r = run(None, path, out=tmp_path / "out")
    deliv, store, spill = _hand_expected()
    np.testing.assert_allclose(r.delivered[0], deliv, rtol=0, atol=TOL)
    np.testing.assert_allclose(r.storage[0, :, 0] / DAY, store, rtol=0, atol=TOL)
    np.testing.assert_allclose(r.spill[0, :, 0], spill, rtol=0, atol=TOL)
    assert r.balance_error.max() <= 1e-9
    # outputs
    out = tmp_path / "out"
    ds = xr.open_dataset(out / "allocation.nc")
    np.testing.assert_allclose(ds["delivered"].values, r.delivered)
    assert ds["storage"].attrs["units"] == "m3" and ds.attrs["Conventions"] == "CF-1.8"
    assert list(ds["link_from"].values) == ["lake"] * 4
    ds.close()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mass_balance_max_rel_error"] <= 1e-9 and summary["steps"] == 6
    assert json.loads((out / "scenario.json").read_text())["link"][0]["from"] == "lake"
    assert not (out / "network.gpkg").exists()  # no twin, no CRS to put the network in
    sh = pd.read_csv(out / "shortages.csv").set_index("demand")
    # town fails on days 2 and 3 only: reliability 4/6, one recovery out of two failed days
    assert sh.loc["town", "reliability"] == pytest.approx(4 / 6)
    assert sh.loc["town", "resilience"] == pytest.approx(0.5)
    assert sh.loc["town", "shortage_m3"] == pytest.approx(10 * DAY, rel=1e-12)
    mill_short = (2 - 2 * (11 - 2 - 5 / 0.9) / 6) + 4 + (2 - 2 * (10 - 2 - 5 / 0.9) / 6)
    assert sh.loc["mill", "shortage_pct"] == pytest.approx(100 * mill_short / 12, rel=1e-9)


def test_members_batched_equal_one_by_one(tmp_path):
    toml = (
        HAND_TOML
        + """
[[member]]
name = "growth"
demand = 1.2

[[member]]
name = "dry"
inflow = 0.9
series = { lake_in = "lake_dry" }
"""
    )
    path = write_hand(tmp_path, toml)
    both = run(None, path)
    assert both.members == ["growth", "dry"]
    base = WaterScenario.from_toml(path)
    for m, member in enumerate(base.member):
        alone = run(None, base.model_copy(update={"member": [member]}))
        for name in ("flow", "delivered", "storage", "spill", "release"):
            np.testing.assert_array_equal(getattr(both, name)[m], getattr(alone, name)[0])
    # the dry trace (half the inflow, times 0.9) leaves less in the lake than the growth member
    assert both.storage[1, -1, 0] < both.storage[0, -1, 0]
    # env flows do not grow with demand
    assert np.all(both.demand[0, :, 0] == 2.0) and np.all(both.demand[0, :, 1] == 6.0)


def test_annual_licence_binds_and_resets(tmp_path):
    sc = {
        "start": "2020-12-29",
        "end": "2021-01-03",
        "node": [
            {
                "name": "river",
                "type": "abstraction",
                "inflow": 10.0,
                "licence": 5.0,
                "licence_annual": 2 * 2.0 * DAY + 1.0 * DAY,
            },
            {"name": "city", "type": "demand", "demand": 2.0},
        ],
        "link": [{"from": "river", "to": "city"}],
    }
    r = run(None, sc)
    # 5 days of 2020's licence: 2, 2, 1 (the rest of it), then the new year's licence
    np.testing.assert_allclose(r.delivered[0, :, 0], [2, 2, 1, 2, 2], atol=TOL)


def test_reservoir_evaporation_level_and_guide_curve():
    sc = {
        "start": "2021-01-01",
        "end": "2021-01-03",
        "node": [
            {
                "name": "lake",
                "type": "reservoir",
                "capacity": 10 * DAY,
                "initial": 10 * DAY,
                "evaporation": 5.0,  # mm/day
                "table": [[0.0, 0.0, 100.0], [10 * DAY, 2.0e6, 110.0]],
                "zones": {"conservation": 0.5},
            },
            {"name": "out", "type": "env_flow", "demand": 0.0},
        ],
        "link": [{"from": "lake", "to": "out", "river": True}],
    }
    r = run(None, sc)
    # day 1: area 2e6 m2 at full -> 10,000 m3 evaporated; the flood zone drains to the conservation top
    assert r.evaporation[0, 0, 0] * DAY == pytest.approx(1.0e4, rel=1e-12)
    assert r.storage[0, 0, 0] == pytest.approx(5 * DAY, rel=1e-12)
    assert r.release[0, 0, 0] * DAY == pytest.approx(5 * DAY - 1.0e4, rel=1e-12)
    assert r.level[0, 0, 0] == pytest.approx(105.0, rel=1e-12)
    # day 2: area 1e6 m2 -> 5,000 m3; what evaporates is no longer there to release
    assert r.evaporation[0, 1, 0] * DAY == pytest.approx(5.0e3, rel=1e-12)
    assert r.storage[0, 1, 0] == pytest.approx(5 * DAY - 5.0e3, rel=1e-12)


def test_network_written_in_the_twin_crs(tmp_path):
    path = write_hand(tmp_path)
    tw = Twin(CRS, Affine(10.0, 0, 500000.0, 0, -10.0, 3000500.0), np.zeros((50, 50)))
    run(tw, path, out=tmp_path / "out")
    nodes = gpd.read_file(tmp_path / "out" / "network.gpkg", layer="nodes")
    links = gpd.read_file(tmp_path / "out" / "network.gpkg", layer="links")
    assert nodes.crs == tw.crs and sorted(nodes["name"]) == ["eflow", "lake", "town"]
    assert sorted(links["to"]) == ["eflow", "town"]  # only links with both ends located
    far = HAND_TOML.replace("at = [500300.0, 3000100.0]", "at = [900000.0, 3000100.0]")
    with pytest.raises(ScenarioError, match=r"node\[1\].*outside the twin"):
        run(tw, write_hand(tmp_path, far))


@pytest.mark.parametrize(
    "change, key",
    [
        (('to = "mill"', 'to = "mil"'), r"link\[3\]\.to.*unknown node 'mil'"),
        (("capacity = 3.0", "capacity = -3.0"), r"link\.2\.capacity.*greater than or equal to 0"),
        (('use = "industrial"', 'usage = "industrial"'), r"node\.4\.usage.*unknown key"),
        (('inflow = "lake_in"', 'inflow = "lake_wet"'), r"node\[0\]\.inflow.*'lake_wet' is not in"),
        (
            ("zones = { inactive = 0.1 }", "zones = { inactive = 0.1, conservation = 0.05 }"),
            r"node\.0.*inactive <= buffer <= conservation",
        ),
    ],
)
def test_bad_files_name_the_key(tmp_path, change, key):
    with pytest.raises(ScenarioError, match=key):
        run(None, write_hand(tmp_path, HAND_TOML.replace(*change)))


def test_cycle_without_storage_is_refused():
    sc = {
        "start": "2021-01-01",
        "end": "2021-01-02",
        "node": [
            {"name": "a", "type": "works"},
            {"name": "b", "type": "works"},
            {"name": "s", "type": "abstraction", "inflow": 1.0},
        ],
        "link": [{"from": "s", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"}],
    }
    with pytest.raises(ScenarioError, match="cycle without storage: a -> b -> a"):
        WaterScenario.from_dict(sc)


def test_cli_runs_a_file_and_reports_bad_ones(tmp_path):
    from click.testing import CliRunner

    from twin.cli.water import water_cmd

    path = write_hand(tmp_path)
    res = CliRunner().invoke(water_cmd, [str(path), "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert "6 steps x 1 member(s)" in res.output and "base/mill (priority 2)" in res.output
    assert (tmp_path / "cli" / "allocation.nc").is_file()
    bad = write_hand(tmp_path, HAND_TOML.replace('to = "mill"', 'to = "mil"'))
    res = CliRunner().invoke(water_cmd, [str(bad), "--out", str(tmp_path / "cli2")])
    assert isinstance(res.exception, ScenarioError) and not (tmp_path / "cli2").exists()


def test_inflow_from_catchment_runoff(small_twin):
    """A river abstraction fed by the twin's HBV runoff: two runoff scenarios become two members."""
    from twin.sims.river.runoff import runoff

    rng = np.random.default_rng(0)
    rain = rng.exponential(20.0, (2, 10)) * (rng.random((2, 10)) < 0.5)
    rain[1] *= 3.0
    ds = runoff(
        small_twin,
        rain,
        np.full(10, 3.0),
        zones=np.ones(small_twin.shape, np.int64),
        scenarios=["dry", "wet"],
        start="2021-01-01",
    )
    sc = {
        "start": "2021-01-01",
        "end": "2021-01-11",
        "node": [
            {"name": "brook", "type": "abstraction", "inflow": "runoff:1"},
            {"name": "garden", "type": "demand", "demand": 2e-4},
        ],
        "link": [{"from": "brook", "to": "garden"}],
        "member": [{"name": "dry"}, {"name": "wet"}],
    }
    r = run(small_twin, sc, runoff=ds)
    q = ds["runoff"].sel(zone=1).values  # (scenario, time) [m3/s]; a 480 m2 twin gives little
    assert (q > 2e-4).any() and (q < 2e-4).any()  # the demand binds on some days, the brook on others
    # LP vertices: exact to round-off of these 1e-4 values
    np.testing.assert_allclose(r.delivered[:, :, 0], np.minimum(q, 2e-4), rtol=1e-12, atol=1e-15)
    with pytest.raises(ScenarioError, match="runoff zone '7' is not in"):
        run(small_twin, dict(sc, node=[dict(sc["node"][0], inflow="runoff:7"), sc["node"][1]]), runoff=ds)


def test_river_reaches_have_no_capacity():
    sc = {
        "start": "2021-01-01",
        "end": "2021-01-02",
        "node": [{"name": "s", "type": "abstraction", "inflow": 5.0}, {"name": "e", "type": "env_flow", "demand": 1.0}],
        "link": [{"from": "s", "to": "e", "river": True, "capacity": 2.0}],
    }
    with pytest.raises(ScenarioError, match=r"link\[0\] is a river reach"):
        WaterScenario.from_dict(sc)


def test_sub_daily_steps():
    """6-hour steps: daily values hold through the day, evaporation keeps its daily rate."""
    sc = {
        "start": "2021-01-01",
        "end": "2021-01-03",
        "step": "6h",
        "node": [
            {
                "name": "lake",
                "type": "reservoir",
                "capacity": 10 * DAY,
                "initial": 10 * DAY,
                "evaporation": 5.0,
                "table": [[0.0, 0.0, 100.0], [10 * DAY, 2.0e6, 110.0]],
            },
            {"name": "city", "type": "demand", "demand": 2.0, "monthly": [0.5] + [1.0] * 11},
        ],
        "link": [{"from": "lake", "to": "city"}],
    }
    r = run(None, sc)
    assert r.time.size == 8 and r.summary["mass_balance_max_rel_error"] <= 1e-9
    np.testing.assert_allclose(r.delivered[0, :, 0], 1.0, atol=TOL)  # January's factor 0.5
    # 5 mm/day on 2e6 m2 is 1e4 m3/day whatever the step: 1e4 / 86400 m3/s
    assert r.evaporation[0, 0, 0] == pytest.approx(1.0e4 / DAY, rel=1e-12)


def _return_case(fraction: float, to: str | None = "below") -> dict:
    """A river of 10 m3/s: the city (priority 1, 6 m3/s) abstracts at 'above', returns ``fraction`` of its
    delivery at 'below', where the farm (priority 2, 6 m3/s) abstracts; the river then leaves."""
    city = {"name": "city", "type": "demand", "demand": 6.0, "priority": 1}
    if fraction:
        city.update(return_fraction=fraction, return_to=to)
    return {
        "start": "2021-01-01",
        "end": "2021-01-03",
        "node": [
            {"name": "above", "type": "abstraction", "inflow": 10.0},
            city,
            {"name": "below", "type": "abstraction"},
            {"name": "farm", "type": "demand", "demand": 6.0, "priority": 2},
        ],
        "link": [
            {"from": "above", "to": "city"},
            {"from": "above", "to": "below", "river": True},
            {"from": "below", "to": "farm"},
        ],
    }


def test_return_flows_are_taken_again_downstream(tmp_path):
    """By hand: without returns the farm gets the 4 m3/s the city leaves; with half the city's 6
    returned at 'below' it gets 4 + 3 = 6 and 1 m3/s leaves; the balance counts only what is consumed."""
    dry = run(None, _return_case(0.0))
    np.testing.assert_allclose(dry.delivered[0, :, :], [[6, 4]] * 2, atol=TOL)
    wet = run(None, _return_case(0.5), out=tmp_path / "out")
    np.testing.assert_allclose(wet.delivered[0, :, :], [[6, 6]] * 2, atol=TOL)
    np.testing.assert_allclose(wet.returned[0, :, :], [[3, 0]] * 2, atol=TOL)
    assert wet.balance_error.max() <= 1e-9
    with xr.open_dataset(tmp_path / "out" / "allocation.nc") as ds:
        np.testing.assert_allclose(ds["returned"].sel(demand_node="city").values, [[3.0, 3.0]], atol=TOL)
    # a return upstream of its own intake is a loop that loses half each time round: the city's 6 need
    # 6 - 3 = 3 of new water, so the farm below gets 10 - 3 = 7, capped at its 6
    loop = run(None, _return_case(0.5, to="above"))
    np.testing.assert_allclose(loop.delivered[0, :, :], [[6, 6]] * 2, atol=TOL)
    assert loop.balance_error.max() <= 1e-9


@pytest.mark.parametrize(
    "change, message",
    [
        ({"return_fraction": 0.5}, "needs both return_fraction"),
        ({"return_fraction": 0.5, "return_to": "farm"}, "return_to = 'farm' is a demand"),
        ({"return_fraction": 0.5, "return_to": "sea"}, "return_to = 'sea' is not a node"),
        ({"return_fraction": 1.0, "return_to": "below"}, "less than 1"),
    ],
)
def test_bad_return_flows_say_what_to_fix(change, message):
    sc = _return_case(0.0)
    sc["node"][1].update(change)
    with pytest.raises(ScenarioError, match=message):
        WaterScenario.from_dict(sc)


def test_result_folder_loads_back(tmp_path):
    r = run(None, write_hand(tmp_path), out=tmp_path / "out")
    back = type(r).load(tmp_path / "out")
    for name in ("flow", "demand", "delivered", "storage", "release", "spill", "balance_error"):
        np.testing.assert_array_equal(getattr(back, name), getattr(r, name))
    assert back.demands == r.demands and back.links == r.links and back.scenario.hash == r.scenario.hash
    pd.testing.assert_frame_equal(back.shortages(), r.shortages())
    from twin.errors import InputDataError

    with pytest.raises(InputDataError, match="not a water result folder"):
        type(r).load(tmp_path)


def _write_supply_gpkg(tmp_path, crs="EPSG:4326"):
    """The hand network as GIS layers: nodes as points (in ``crs``) with their attributes, links as lines."""
    import shapely
    from pyproj import Transformer

    to = Transformer.from_crs(CRS, crs, always_xy=True)
    xy = {
        "lake": (500100.0, 3000100.0),
        "eflow": (500300.0, 3000100.0),
        "town": (500100.0, 3000300.0),
        "farm": (500200.0, 3000400.0),
        "mill": (500400.0, 3000400.0),
    }
    pts = {k: shapely.Point(*to.transform(*v)) for k, v in xy.items()}
    nodes = gpd.GeoDataFrame(
        {
            "name": list(xy),
            "type": ["reservoir", "env_flow", "demand", "demand", "demand"],
            "capacity": [1728000.0, None, None, None, None],
            "initial": [864000.0, None, None, None, None],
            "inflow": ["lake_in", None, None, None, None],
            "zones": ['{"inactive": 0.1}', None, None, None, None],
            "demand": [None, 2.0, 9.0, 4.0, 2.0],
            "priority": [None, None, 1, 2, 2],
            "use": [None, None, "domestic", "agricultural", "industrial"],
        },
        geometry=list(pts.values()),
        crs=crs,
    )
    ends = [("lake", "eflow"), ("lake", "town"), ("lake", "farm"), ("lake", "mill")]
    links = gpd.GeoDataFrame(
        {
            "from": [a for a, _ in ends],
            "to": [b for _, b in ends],
            "river": [True, False, False, False],
            "capacity": [None, 10.0, 3.0, None],
            "loss": [0.0, 0.1, 0.0, 0.0],
        },
        geometry=[shapely.LineString([pts[a], pts[b]]) for a, b in ends],
        crs=crs,
    )
    path = tmp_path / "supply.gpkg"
    nodes.to_file(path, layer="nodes", driver="GPKG")
    links.to_file(path, layer="links", driver="GPKG")
    return path


# the hand scenario's header, its network from the GeoPackage, and one key laid over the file's town
SUPPLY_TOML = (
    HAND_TOML[: HAND_TOML.index("[[node]]")]
    + """network = "supply.gpkg"

[[node]]            # the GeoPackage's town has demand 9
name = "town"
demand = 5.0
"""
)


def test_supply_network_from_a_geopackage_in_another_crs(tmp_path):
    """The hand network read from a GeoPackage in WGS 84 (the TOML overriding one attribute) runs to the
    same allocation as the TOML network, and its nodes land in the twin's CRS where the TOML put them."""
    import shapely

    _write_supply_gpkg(tmp_path)
    toml = write_hand(tmp_path, SUPPLY_TOML)
    tw = Twin(CRS, Affine(10.0, 0, 500000.0, 0, -10.0, 3000500.0), np.zeros((50, 50)))
    r = run(tw, toml, out=tmp_path / "out")
    deliv, store, _ = _hand_expected()
    np.testing.assert_allclose(r.delivered[0], deliv, rtol=0, atol=TOL)
    np.testing.assert_allclose(r.storage[0, :, 0] / DAY, store, rtol=0, atol=TOL)
    nodes = gpd.read_file(tmp_path / "out" / "network.gpkg", layer="nodes").set_index("name")
    assert nodes.crs == tw.crs and len(nodes) == 5
    # EPSG:4547 -> 4326 -> 4547 with PROJ: far below a millimetre
    assert nodes.geometry["town"].distance(shapely.Point(500100.0, 3000300.0)) < 1e-3
    saved = json.loads((tmp_path / "out" / "scenario.json").read_text())
    assert saved["network"] is None and len(saved["node"]) == 5  # the result stands without the file
    # without a twin the nodes keep the GeoPackage's CRS
    alone = run(None, toml, out=tmp_path / "alone")
    assert gpd.read_file(tmp_path / "alone" / "network.gpkg", layer="nodes").crs == "EPSG:4326"
    np.testing.assert_array_equal(alone.delivered, r.delivered)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", r"supply.gpkg does not exist"),
        ("no_nodes", r"has no 'nodes' layer"),
        ("no_name", r"no 'name' column"),
        ("bad_json", r"row 0 column 'zones' is not JSON"),
    ],
)
def test_bad_supply_geopackage_says_what_to_fix(tmp_path, damage, message):
    path = _write_supply_gpkg(tmp_path)
    if damage == "missing":
        path.unlink()
    elif damage == "no_nodes":
        nodes = gpd.read_file(path, layer="nodes")
        path.unlink()
        nodes.to_file(path, layer="points", driver="GPKG")
    else:
        nodes = gpd.read_file(path, layer="nodes")
        links = gpd.read_file(path, layer="links")
        if damage == "no_name":
            nodes = nodes.drop(columns="name")
        else:
            nodes.loc[0, "zones"] = "{inactive: 0.1"
        path.unlink()
        nodes.to_file(path, layer="nodes", driver="GPKG")
        links.to_file(path, layer="links", driver="GPKG")
    with pytest.raises(ScenarioError, match=message):
        run(None, write_hand(tmp_path, SUPPLY_TOML))
