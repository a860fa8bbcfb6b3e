"""Roads in the twin and in a flood: the layer (vector files, OSMnx street graphs), roads.gpkg's cut
and reopen times on a known flooding, routes around cut roads, and the CLI."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from click.testing import CliRunner

from conftest import CRS, flood_scenario, plane_twin
from ingest.roads import read_roads
from twin._fingerprint import twin_parts
from twin.cli import main
from twin.errors import CRSError, InputDataError
from twin.model.twin import Twin
from twin.sims.flood.roads import THRESHOLDS_M, road_cuts, route, routes_over_time
from twin.sims.flood.run import FloodResult, run

# A 400 m x 200 m grid of 5 m cells; a north-south band of water, x in [200, 220), rises at 600 s
# to 0.5 m and falls to 0.1 m at 1800 s. A second band, x in [300, 320), rises to 0.28 m only.
X0, Y0, DX = 0.0, 200.0, 5.0
TRANSFORM = Affine(DX, 0, X0, 0, -DX, Y0)
SHAPE = (40, 80)
TIMES = np.array([0.0, 300.0, 600.0, 900.0, 1200.0, 1500.0, 1800.0, 2100.0])


def _frames() -> np.ndarray:
    frames = np.zeros((len(TIMES), *SHAPE), np.float32)
    band = slice(40, 44)  # x 200 .. 220
    frames[2:6, :, band] = 0.5
    frames[6:, :, band] = 0.1
    frames[:, :, 60:64] = np.where(TIMES >= 600, 0.28, 0.0)[:, None, None]  # x 300 .. 320, below 0.3 m
    return frames


def _roads(**extra) -> gpd.GeoDataFrame:
    """A main road straight across both bands (south), a long detour round the first band's north end
    (the band stops at y = 150: rows 0-9 stay dry), a footway across the second band and a bridge."""
    return gpd.GeoDataFrame(
        {
            "class": ["primary", "residential", "residential", "residential", "footway", "primary"],
            "name": ["Main Road", "Detour West", "Detour North", "Detour East", "Garden Path", "High Bridge"],
            "bridge": [False, False, False, False, False, True],
            **extra,
        },
        geometry=[
            shapely.LineString([(20, 40), (380, 40)]),
            shapely.LineString([(20, 40), (20, 180)]),
            shapely.LineString([(20, 180), (380, 180)]),
            shapely.LineString([(380, 180), (380, 40)]),
            shapely.LineString([(250, 100), (350, 100)]),
            shapely.LineString([(150, 20), (260, 20)]),
        ],
        crs=CRS,
    )


def _cuts(roads=None, **kw) -> gpd.GeoDataFrame:
    frames = _frames()
    frames[:, :10, :] = 0.0  # the north strip stays dry: the detour stays open
    return road_cuts(
        roads if roads is not None else _roads(), frames.max(axis=0), frames, TIMES, TRANSFORM, 2400.0, **kw
    )


def test_segments_are_local_and_cut_where_and_when_the_water_is():
    cuts = _cuts()
    assert {"road_id", "name", "class", "threshold_m", "max_depth_m", "cut_at_s", "reopen_at_s", "cut_hours"} <= set(
        cuts.columns
    )
    assert cuts.crs == CRS and (cuts["length_m"] <= 50.0 + 1e-9).all()
    main = cuts[cuts["name"] == "Main Road"]
    assert len(main) == math.ceil(360 / 50)  # 360 m in 8 segments of 45 m
    hit = main[main["cut_at_s"].notna()]
    # only the segments over the band x in [200, 220) are cut: 600 s, reopened at 1800 s (0.1 m)
    assert len(hit) >= 1 and all(shapely.intersects(g, shapely.box(200, 0, 220, 200)) for g in hit.geometry)
    assert (hit["cut_at_s"] == 600.0).all() and (hit["reopen_at_s"] == 1800.0).all()
    assert hit["cut_hours"].to_numpy() == pytest.approx(1200.0 / 3600.0)
    assert hit["max_depth_m"].to_numpy() == pytest.approx(0.5)
    dry = main.drop(hit.index)
    assert dry["cut_at_s"].isna().all() and dry["reopen_at_s"].isna().all() and (dry["cut_hours"] == 0).all()
    # 0.28 m on the footway is above its 0.25 m threshold and never goes down: cut to the end
    path = cuts[cuts["name"] == "Garden Path"]
    assert (path["threshold_m"] == THRESHOLDS_M["footway"]).all()
    wet = path[path["cut_at_s"].notna()]
    assert len(wet) and (wet["cut_at_s"] == 600.0).all() and wet["reopen_at_s"].isna().all()
    assert wet["cut_hours"].to_numpy() == pytest.approx((2400.0 - 600.0) / 3600.0)
    # the bridge crosses the band but the water passes under it
    bridge = cuts[cuts["name"] == "High Bridge"]
    assert bridge["cut_at_s"].isna().all() and bridge["max_depth_m"].isna().all()


def test_thresholds_per_class_can_be_overridden():
    cuts = _cuts(thresholds={"primary": 0.6, "footway": 0.3})
    assert cuts[cuts["name"] == "Main Road"]["cut_at_s"].isna().all()  # 0.5 m < 0.6 m
    assert cuts[cuts["name"] == "Garden Path"]["cut_at_s"].isna().all()  # 0.28 m < 0.3 m


def test_route_detours_then_finds_no_passable_route():
    cuts = _cuts()
    hospital = gpd.GeoDataFrame({"name": ["St Mary"]}, geometry=[shapely.box(378, 30, 390, 50)], crs=CRS)
    before = route(cuts, (18.0, 41.0), hospital, at=0.0)
    assert before.found and before.facility_name == "St Mary"
    assert before.length_m == pytest.approx(360.0) and before.travel_time_s == pytest.approx(360.0 / (50 / 3.6))
    during = route(cuts, (18.0, 41.0), hospital, at=900.0)
    assert during.found and during.length_m == pytest.approx(140 + 360 + 140)  # round the north end
    assert during.geometry.length == pytest.approx(during.length_m)
    after = route(cuts, (18.0, 41.0), hospital, at=1800.0)
    assert after.length_m == pytest.approx(360.0)
    # with the north strip flooded too, nothing gets through while the band is up
    frames = _frames()
    cut_all = road_cuts(_roads(), frames.max(axis=0), frames, TIMES, TRANSFORM, 2400.0)
    none = route(cut_all, (18.0, 41.0), hospital, at=900.0)
    assert not none.found and "no passable route" in none.message and "cut" in none.message
    table = routes_over_time(cut_all, (18.0, 41.0), hospital)
    assert table["at_s"].tolist() == [0.0, 600.0, 1800.0] and table["found"].tolist() == [True, False, True]


def test_route_tells_a_network_that_never_joined_from_a_cut_one():
    cuts = _cuts()
    island = gpd.GeoDataFrame({"name": ["Far"]}, geometry=[shapely.Point(350, 100)], crs=CRS)  # the footway only
    r = route(cuts, (18.0, 41.0), island, at=0.0, mode="walk")
    assert not r.found and "flood or not" in r.message
    walk = route(cuts, (250.0, 100.0), island, at=0.0, mode="walk")
    assert walk.found and walk.travel_time_s == pytest.approx(100.0 / (5 / 3.6))
    with pytest.raises(InputDataError, match="drive' or 'walk"):
        route(cuts, (0, 0), island, at=0.0, mode="fly")


def test_twin_roads_saved_loaded_and_fingerprinted(tmp_path):
    tw = plane_twin()
    before = twin_parts(tw)
    assert "roads" not in before  # twins without roads keep their fingerprint
    roads = gpd.GeoDataFrame(
        {"class": ["primary"], "name": ["Quay"]}, geometry=[shapely.LineString([(423010, 2559990), (423150, 2559900)])]
    ).set_crs(tw.crs)
    tw.roads = roads
    parts = twin_parts(tw)
    assert "roads" in parts and {k: v for k, v in parts.items() if k != "roads"} == before
    back = Twin.load(tw.save(tmp_path / "tw"))
    assert back.roads["name"].tolist() == ["Quay"] and back.roads.crs == tw.crs
    assert twin_parts(back)["roads"] == parts["roads"]
    with pytest.raises(InputDataError, match="lacks columns"):
        tw.roads = roads.drop(columns="class")


def _graph_json(path, crs="EPSG:32631"):
    """A tiny OSMnx graph: a two-way street written both ways, a one-way ramp without geometry, a
    footway of two merged classes."""
    nodes = [{"id": 1, "x": 379100.0, "y": 4707000.0}, {"id": 2, "x": 379200.0, "y": 4707000.0}]
    nodes.append({"id": 3, "x": 379200.0, "y": 4707100.0})
    line = "LINESTRING (379100 4707000, 379150 4707010, 379200 4707000)"
    back = "LINESTRING (379200 4707000, 379150 4707010, 379100 4707000)"
    links = [
        {
            "source": 1,
            "target": 2,
            "key": 0,
            "highway": "primary",
            "name": "Avinguda",
            "length": 102.0,
            "geometry": line,
        },
        {
            "source": 2,
            "target": 1,
            "key": 0,
            "highway": "primary",
            "name": "Avinguda",
            "length": 102.0,
            "geometry": back,
        },
        {"source": 2, "target": 3, "key": 0, "highway": "primary_link", "length": 100.0},
        {"source": 1, "target": 3, "key": 0, "highway": "['footway', 'steps']", "name": ["Carrer A", "Carrer B"]},
    ]
    graph = {"directed": True, "multigraph": True, "graph": {"crs": crs}, "nodes": nodes, "links": links}
    path.write_text(json.dumps(graph))
    return path


def test_osmnx_graph_json_read_without_osmnx(tmp_path):
    report: dict = {}
    roads = read_roads(_graph_json(tmp_path / "street.json"), "EPSG:25831", report=report)
    assert len(roads) == 3 and report["directions_merged"] == 1
    assert roads["class"].tolist() == ["primary", "primary_link", "footway"]
    assert roads["name"].tolist() == ["Avinguda", "", "Carrer A"]
    assert roads.crs.to_epsg() == 25831
    # ETRS89 and WGS 84 UTM 31N differ by centimetres at most
    assert roads.geometry.iloc[1].coords[0] == pytest.approx((379200.0, 4707000.0), abs=2.0)
    graph = json.loads((tmp_path / "street.json").read_text())
    del graph["graph"]["crs"]
    (tmp_path / "nocrs.json").write_text(json.dumps(graph))
    with pytest.raises(CRSError, match="declares no CRS"):
        read_roads(tmp_path / "nocrs.json", "EPSG:25831")


def test_real_osmnx_street_graph_into_a_twin(shared_data, tmp_path):
    city = shared_data / "city" / "andorra_la_vella"
    out = tmp_path / "tw"
    res = CliRunner().invoke(
        main, ["ingest", "--dem", str(city / "elevation.tif"), "--roads", str(city / "street.json"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    tw = Twin.load(out)
    assert tw.roads.crs == tw.crs and len(tw.roads) > 1000
    assert {"primary", "residential", "footway"} <= set(tw.roads["class"])
    assert "Avinguda Meritxell" in set(tw.roads["name"])
    assert shapely.box(*tw.bounds).buffer(1e-6).contains(shapely.box(*tw.roads.total_bounds))


def test_flood_run_writes_roads_gpkg_and_the_cli_routes(tmp_path):
    tw = plane_twin()
    from conftest import DX as PDX
    from conftest import X0 as PX0
    from conftest import Y0 as PY0

    # a road across the pit (rows 10-13, cols 8-11, where water ponds) and one along the dry south edge
    y_pit, y_south = PY0 - 12 * PDX, PY0 - 23 * PDX
    tw.roads = gpd.GeoDataFrame(
        {"class": ["residential", "residential"], "name": ["Pit Lane", "South Road"]},
        geometry=[
            shapely.LineString([(PX0 + 2 * PDX, y_pit), (PX0 + 20 * PDX, y_pit)]),
            shapely.LineString([(PX0 + 2 * PDX, y_south), (PX0 + 20 * PDX, y_south)]),
        ],
    ).set_crs(tw.crs)
    tw.save(tmp_path / "tw")
    sc = flood_scenario(roads={"thresholds": {"residential": 0.05}}, start="2026-06-01T08:00:00")
    r = run(Twin.load(tmp_path / "tw"), sc, out=tmp_path / "res", progress=False, scene=False)
    assert r.summary["start"] == "2026-06-01T08:00:00" and r.summary["roads"]["segments"] == len(r.roads)
    gpkg = gpd.read_file(tmp_path / "res" / "roads.gpkg", layer="roads")
    for col in ("road_id", "name", "class", "threshold_m", "max_depth_m", "cut_at_s", "reopen_at_s", "cut_hours"):
        assert col in gpkg.columns
    assert gpkg.crs == tw.crs and (gpkg["threshold_m"] == 0.05).all()
    pit = gpkg[gpkg["name"] == "Pit Lane"]
    assert pit["cut_at_s"].notna().any() and pit["max_depth_m"].max() > 0.05
    assert "Pit Lane" in r.summary["roads"]["streets_cut_first_s"]
    back = FloodResult.load(tmp_path / "res")
    assert len(back.roads) == len(r.roads)
    # the scenario's [roads] changes its hash; a scenario without it keeps the hash it had
    assert "roads" not in flood_scenario().to_dict() and "start" not in flood_scenario().to_dict()
    # the CLI: every time the roads change, then one time with the route written out
    hosp = tmp_path / "hospital.geojson"
    gpd.GeoDataFrame({"name": ["East Clinic"]}, geometry=[shapely.Point(PX0 + 20 * PDX, y_pit)], crs=tw.crs).to_file(
        hosp
    )
    start = f"{PX0 + 2 * PDX},{y_pit}"
    res = CliRunner().invoke(main, ["route", str(tmp_path / "res"), "--from", start, "--to", str(hosp)])
    assert res.exit_code == 0, res.output
    assert "at t = 0 min: East Clinic" in res.output and "no passable route" in res.output
    out = tmp_path / "route.geojson"
    res = CliRunner().invoke(
        main, ["route", str(tmp_path / "res"), "--from", start, "--to", str(hosp), "--at", "0", "--out", str(out)]
    )
    assert res.exit_code == 0 and out.is_file(), res.output
    res = CliRunner().invoke(main, ["route", str(tmp_path / "res"), "--from", start, "--to", "hospitals", "--at", "0"])
    assert res.exit_code == 2 and "neither a file nor a layer" in res.output


def test_sample_city_streets_are_named_where_its_storm_cuts_them(tmp_path):
    """The sample city's own scenario, shortened (and without its sewer network, to stay quick): its
    roads.gpkg names the streets that are cut and when."""
    import tomllib

    from twin import sample
    from twin.model.build import from_files
    from twin.sims.flood.scenario import Scenario

    city = sample.city(tmp_path / "city", seed=0, size_m=600, cell=4)
    layers = gpd.read_file(city.layers, layer="roads")
    assert {"primary", "residential"} <= set(layers["class"]) and layers["name"].str.len().gt(0).all()
    tw = from_files(
        city.dem,
        **{k: f"{city.layers}::{k}" for k in ("buildings", "rivers", "lakes", "landuse", "roads")},
        resolution=8,
    )
    assert len(tw.roads) == len(layers) and tw.meta["ingest_report"]["roads"]["kept"] == len(layers)
    spec = tomllib.loads(city.scenario.read_text())
    spec.update(duration="30min", output_interval="5min")
    spec.pop("drainage")
    r = run(tw, Scenario.from_dict(spec), out=tmp_path / "res", progress=False, scene=False)
    cuts = gpd.read_file(tmp_path / "res" / "roads.gpkg", layer="roads")
    cut = cuts[cuts["cut_at_s"].notna()]
    assert len(cut) and (cut["name"] != "").all() and cut["cut_at_s"].between(0, 1800).all()
    assert (cut["max_depth_m"] > cut["threshold_m"]).all()
    first = r.summary["roads"]["streets_cut_first_s"]
    assert first and set(first) <= set(cut["name"]) and min(first.values()) == cut["cut_at_s"].min()
    # a route along a street that gets cut: direct before, round it (or none) once it is cut
    seg = cut.sort_values("cut_at_s").iloc[0]
    a, b = seg.geometry.coords[0], seg.geometry.coords[-1]
    hospital = gpd.GeoDataFrame({"name": ["Clinic"]}, geometry=[shapely.Point(b)], crs=tw.crs)
    before = r.route(a, hospital, at=0.0)
    assert before.found and before.length_m == pytest.approx(seg.geometry.length, rel=1e-6)
    during = r.route(a, hospital, at=float(seg["cut_at_s"]))
    assert not during.found or during.length_m > before.length_m + 1.0


def test_roads_from_any_vector_file_are_reprojected_and_classed(tmp_path):
    lines = gpd.GeoDataFrame(
        {"highway": ["Secondary", None], "name": ["Rua A", None], "bridge": ["yes", None]},
        geometry=[
            shapely.LineString([(113.2, 23.1), (113.21, 23.1)]),
            shapely.LineString([(113.2, 23.1), (113.2, 23.11)]),
        ],
        crs="EPSG:4326",
    )
    lines.to_file(tmp_path / "osm.geojson")
    report: dict = {}
    roads = read_roads(tmp_path / "osm.geojson", CRS, report=report)
    assert roads.crs == CRS and report["class_column"] == "highway"
    assert roads["class"].tolist() == ["secondary", "road"] and roads["name"].tolist() == ["Rua A", ""]
    assert roads["bridge"].tolist() == [True, False]
    assert roads.geometry.iloc[0].length == pytest.approx(1024, rel=0.01)  # 0.01 degree of longitude at 23.1 N
    with pytest.raises(InputDataError, match="class column 'kind'"):
        read_roads(tmp_path / "osm.geojson", CRS, class_column="kind")


def test_real_osm_graph_joins_a_facility_to_the_main_streets_not_to_an_island(shared_data, tmp_path):
    # Andorra la Vella's OSM graph cut at the twin's edge holds 15 small drivable islands besides the
    # main network; the nearest road end to this point (11 m) is one of a 3-node car-park island
    city = shared_data / "city" / "andorra_la_vella"
    out = tmp_path / "tw"
    args = ["ingest", "--dem", str(city / "elevation.tif"), "--roads", str(city / "street.json"), "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    tw = Twin.load(out)
    cuts = road_cuts(tw.roads, np.zeros(tw.shape), None, np.zeros(0), tw.transform, 3600.0)
    hospital = gpd.GeoDataFrame({"name": ["H"]}, geometry=[shapely.Point(380180, 4707560)], crs=tw.crs)
    r = route(cuts, (379200.0, 4707250.0), hospital, at=0.0)
    # before: "no road of the network joins the start to any of the 1 facilities, flood or not"
    assert r.found, r.message
    assert 1000 < r.length_m < 2000 and r.to_snap_m < 30, r.to_snap_m
