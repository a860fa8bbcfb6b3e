"""A sewer network from GIS layers (manholes, pipes, outfalls) into the twin's drainage.inp (issue #24)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from test_drainage import BELLINGE_CRS, _surface_twin, bellinge  # noqa: F401

from ingest.drainage_gis import read_drainage_layers
from ingest.swmm import read_inp
from twin.cli import main
from twin.errors import InputDataError, ScenarioError
from twin.model import Twin
from twin.sims.flood.run import run
from twin.sims.flood.scenario import Scenario

pytestmark = pytest.mark.filterwarnings("ignore:.*subcatchments:twin.sims.flood.drainage.DrainageWarning")

NO_RIM = ("G72F833", "G72F814")  # manholes whose layer gives no rim: the twin takes the terrain's


def _layers(inp: Path, gpkg: Path, *, ends: bool = True) -> None:
    """The .inp's network as a GeoPackage in EPSG:4326: manholes, outfalls, pipes (diameters in mm)."""
    net = read_inp(inp, BELLINGE_CRS)
    nodes = net.nodes.to_crs("EPSG:4326")
    rim = nodes["rim"].where(~nodes["name"].isin(NO_RIM))
    holes = nodes.assign(invert_elev=nodes["invert"], cover_level=rim)[
        ["name", "invert_elev", "cover_level", "geometry"]
    ]
    holes[nodes["kind"] != "outfall"].to_file(gpkg, layer="manholes")
    nodes[nodes["kind"] == "outfall"][["name", "invert", "geometry"]].to_file(gpkg, layer="outfalls")
    c = net.conduits
    inv = dict(zip(net.nodes["name"], net.nodes["invert"]))
    pipes = gpd.GeoDataFrame(
        {
            "pipe_id": c["name"],
            "diam": c["geom1"] * 1000.0,
            "manning": c["roughness"],
            "us_invert": [inv[a] + o for a, o in zip(c["from_node"], c["in_offset"])],
            "ds_invert": [inv[b] + o for b, o in zip(c["to_node"], c["out_offset"])],
            **({"us_node": c["from_node"], "ds_node": c["to_node"]} if ends else {}),
        },
        geometry=c.geometry.values,
        crs=BELLINGE_CRS,
    ).to_crs("EPSG:4326")
    pipes.to_file(gpkg, layer="pipes")


def _ingest(inp: Path, tmp_path: Path, *, ends: bool = True):
    _surface_twin(inp).save(tmp_path / "dem")
    _layers(inp, tmp_path / "net.gpkg", ends=ends)
    g = tmp_path / "net.gpkg"
    res = CliRunner().invoke(
        main,
        [
            "ingest",
            "--dem",
            str(tmp_path / "dem" / "terrain.tif"),
            "--drainage-manholes",
            f"{g}::manholes",
            "--drainage-pipes",
            f"{g}::pipes",
            "--drainage-outfalls",
            f"{g}::outfalls",
            "--out",
            str(tmp_path / "tw"),
        ],
    )
    assert res.exit_code == 0, res.output
    return res


@pytest.mark.parametrize("ends", [True, False], ids=["from-to columns", "snapped ends"])
def test_gis_layers_give_back_the_original_network(bellinge, tmp_path, ends):  # noqa: F811
    res = _ingest(bellinge, tmp_path, ends=ends)
    tw = Twin.load(tmp_path / "tw")
    orig = read_inp(bellinge, BELLINGE_CRS)
    back = read_inp(tmp_path / "tw" / "drainage.inp", tw.crs)
    assert back.flow_units == "CMS" and back.options["FLOW_ROUTING"] == "DYNWAVE"
    o = orig.nodes.set_index("name")
    b = back.nodes.set_index("name")
    assert sorted(b.index) == sorted(o.index)
    assert b.loc[o.index, "invert"].to_numpy() == pytest.approx(o["invert"].to_numpy(), abs=1e-3)
    holes = [n for n in o.index if o.loc[n, "kind"] != "outfall"]
    given = [n for n in holes if n not in NO_RIM]
    assert b.loc[given, "rim"].to_numpy() == pytest.approx(o.loc[given, "rim"].to_numpy(), abs=1e-3)
    # the rims the layer left out come from the twin's terrain under the manhole
    rows, cols = tw.index(b.loc[list(NO_RIM)].geometry.x, b.loc[list(NO_RIM)].geometry.y)
    assert b.loc[list(NO_RIM), "rim"].to_numpy() == pytest.approx(tw.terrain[rows, cols], abs=1e-3)
    # coordinates reprojected from EPSG:4326 back into the twin's CRS (mm)
    d = shapely.distance(b.loc[o.index].geometry.values, o.geometry.values)
    assert d.max() < 0.01
    oc = orig.conduits.set_index("name")
    bc = back.conduits.set_index("name")
    assert sorted(bc.index) == sorted(oc.index)
    bc = bc.loc[oc.index]
    assert (bc["from_node"] == oc["from_node"]).all() and (bc["to_node"] == oc["to_node"]).all()
    assert bc["geom1"].to_numpy() == pytest.approx(oc["geom1"].to_numpy(), rel=1e-9)
    assert bc["length"].to_numpy() == pytest.approx(oc["length"].to_numpy(), rel=0.01)
    assert bc["roughness"].to_numpy() == pytest.approx(oc["roughness"].to_numpy())
    rep = tw.meta["ingest_report"]["drainage"]
    assert rep["manholes"] == 15 and rep["outfalls"] == 1 and rep["pipes"] == 15
    assert rep["rim missing"] == 3 and rep["rim from terrain"] == 3  # two manholes and the outfall
    assert rep["diameters in mm converted"] == 15 and rep["roughness defaulted"] == 0
    assert rep["inlet size from the scenario"] == 15
    assert ("pipe ends snapped" in rep) is (not ends)
    assert "drainage:" in res.output and "rim from terrain = 3" in res.output


def _scenario(folder: Path) -> Scenario:
    return Scenario.from_dict(
        {
            "name": "sewer",
            "duration": 900,
            "output_interval": 300,
            "rain": {"hyetograph": [[0, 60.0], [600, 60.0], [601, 0.0]]},
            "drainage": {"inp": "twin"},
            "numerics": {"dtype": "float64"},
        },
        base_dir=folder,
    )


# SWMM's own routing continuity on this short run is ~10 % for the original .inp as well (storage nodes)
@pytest.mark.filterwarnings("ignore:the sewer network of .* does not close its balance")
def test_scenario_runs_the_twins_network_and_closes_its_balance(bellinge, tmp_path):  # noqa: F811
    _ingest(bellinge, tmp_path)
    r = run(Twin.load(tmp_path / "tw"), _scenario(tmp_path), progress=False, scene=False)
    d = r.summary["drainage"]
    assert d["inp"].endswith("drainage.inp") and d["nodes_coupled"] == 15
    assert d["volume_surface_to_network_m3"] > 1 and d["volume_outfalls_m3"] > 0
    assert abs(d["coupled_mass_balance_error_without_network_continuity"]) < 1e-6


def test_a_twin_without_a_network_is_a_scenario_error(tmp_path):
    tw = Twin("EPSG:25832", (1.0, 0, 0, 0, -1.0, 10.0), np.zeros((10, 10)))
    tw.save(tmp_path / "tw")
    with pytest.raises(ScenarioError, match=r'inp = "twin".*holds no drainage.inp.*--drainage-manholes'):
        run(Twin.load(tmp_path / "tw"), _scenario(tmp_path), progress=False, scene=False)


# --- bad layers: errors naming the file, column and feature --------------------------------------------


def _small(tmp_path: Path, holes: dict, pipes: dict, pipe_lines=None) -> tuple[str, str]:
    pts = [shapely.Point(10, 10), shapely.Point(30, 10)]
    gpd.GeoDataFrame(holes, geometry=pts, crs="EPSG:25832").to_file(tmp_path / "holes.gpkg")
    lines = pipe_lines or [shapely.LineString([(10, 10), (30, 10)])]
    gpd.GeoDataFrame(pipes, geometry=lines, crs="EPSG:25832").to_file(tmp_path / "pipes.gpkg")
    return str(tmp_path / "holes.gpkg"), str(tmp_path / "pipes.gpkg")


GOOD_HOLES = {"name": ["A", "B"], "invert": [8.0, 7.5], "rim": [10.0, 9.5]}
GOOD_PIPE = {"name": ["P"], "from": ["A"], "to": ["B"], "diameter": [300.0]}


@pytest.mark.parametrize(
    "holes, pipes, lines, words",
    [
        ({"name": ["A", "B"], "rim": [10.0, 9.5]}, GOOD_PIPE, None, r"holes.gpkg: no invert column"),
        ({**GOOD_HOLES, "invert": [8.0, None]}, GOOD_PIPE, None, r"holes.gpkg: feature B has no invert"),
        (
            {**GOOD_HOLES, "invert": [8.0, 9.9], "rim": [10.0, 9.5]},
            GOOD_PIPE,
            None,
            r"feature B has its invert .*above",
        ),
        (GOOD_HOLES, {**GOOD_PIPE, "to": ["C"]}, None, r"pipes.gpkg: pipe P joins node 'C' \(column 'to'\)"),
        (GOOD_HOLES, {**GOOD_PIPE, "shape": ["TRIANGLE"]}, None, r"pipe P has shape 'TRIANGLE'"),
        (
            GOOD_HOLES,
            {"name": ["P"], "diameter": [0.3]},
            [shapely.LineString([(10, 10), (25, 10)])],
            r"the end of pipe P lies 5.00 m from the nearest node \(B\)",
        ),
    ],
    ids=["no invert column", "no invert", "invert above rim", "unknown node", "unknown shape", "end off node"],
)
def test_bad_layers_are_input_errors(tmp_path, holes, pipes, lines, words):
    h, p = _small(tmp_path, holes, pipes, lines)
    with pytest.raises(InputDataError, match=words):
        read_drainage_layers(h, p, target_crs="EPSG:25832")


def test_small_layers_defaults_are_reported(tmp_path):
    h, p = _small(tmp_path, {"name": ["A", "B"], "invert": [8.0, 7.5]}, {"name": ["P"], "diameter": [0.3]})
    net = read_drainage_layers(h, p, target_crs="EPSG:25832")
    assert net.conduits["from_node"].tolist() == ["A"] and net.conduits["to_node"].tolist() == ["B"]
    assert net.conduits["roughness"].tolist() == [0.013] and net.conduits["geom1"].tolist() == [0.3]
    assert net.conduits["length"].tolist() == [20.0]
    r = net.report
    assert r["rim missing"] == 2 and r["roughness defaulted"] == 1 and r["diameters in mm converted"] == 0
    assert r["pipe ends snapped"] == 2


def test_manholes_without_pipes_is_a_usage_error(tmp_path):
    tw = Twin("EPSG:25832", (1.0, 0, 0, 0, -1.0, 40.0), np.zeros((40, 40)))
    tw.save(tmp_path / "dem")
    h, _ = _small(tmp_path, GOOD_HOLES, GOOD_PIPE)
    res = CliRunner().invoke(
        main,
        [
            "ingest",
            "--dem",
            str(tmp_path / "dem" / "terrain.tif"),
            "--drainage-manholes",
            h,
            "--out",
            str(tmp_path / "tw"),
        ],
    )
    assert res.exit_code == 2 and "needs both --drainage-manholes and --drainage-pipes" in res.output
    assert not (tmp_path / "tw").exists()
