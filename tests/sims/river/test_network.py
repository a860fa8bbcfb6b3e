"""River networks of a twin: lines to a checked link tree, streams, catchments, lakes, Methow."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

from conftest import CRS
from kernels.river import Router
from twin.errors import InputDataError
from twin.model.twin import Twin
from twin.sims.river.network import (
    lake_connections,
    lake_hypsometry,
    lake_table,
    link_catchments,
    network_from_lines,
    network_from_rivers,
    network_from_streams,
)

X0, Y0, DX = 423000.0, 2560000.0, 10.0


def _valley_twin(rivers: list, lakes: list | None = None, ny: int = 40, nx: int = 60) -> Twin:
    """A valley falling east (1 %) with sides rising north and south (2 %), rivers given as lines."""
    transform = Affine(DX, 0, X0, 0, -DX, Y0)
    x = (np.arange(nx) + 0.5) * DX
    y = (np.arange(ny) + 0.5) * DX
    terrain = 20.0 - 0.01 * x[None, :] + 0.02 * np.abs(y[:, None] - 200.0)
    gdf = gpd.GeoDataFrame({"width": [5.0] * len(rivers)}, geometry=[shapely.LineString(r) for r in rivers], crs=CRS)
    lk = None
    if lakes:
        lk = gpd.GeoDataFrame({"level": [10.0] * len(lakes)}, geometry=lakes, crs=CRS)
    return Twin(CRS, transform, terrain, rivers=gdf, lakes=lk)


# main river along the valley floor (y = Y0 - 200) from the west to the east edge; a tributary from
# the north joins it at x = X0 + 300, i.e. inside the main line (which must be split there)
MAIN = [(X0, Y0 - 200), (X0 + 600, Y0 - 200)]
TRIB = [(X0 + 300, Y0 - 20), (X0 + 300, Y0 - 200)]


def test_tributary_splits_the_main_line_and_links_drain_downstream():
    net = network_from_rivers(_valley_twin([MAIN, TRIB]))
    links = net.links
    assert links["link_id"].tolist() == [1, 2, 3]  # main upper, main lower, tributary
    assert links["downstream_id"].tolist() == [2, -1, 2]
    assert links["source"].tolist() == [0, 0, 1]
    np.testing.assert_allclose(links["length_m"], [300.0, 300.0, 180.0], atol=1e-9)
    # slope from the DEM along the valley floor is 1 %; the nearest-cell sampling of a 10 m grid
    # (a cell's 0.1 m step along 300 m of line) leaves well under 1 % relative error in the fit
    np.testing.assert_allclose(links["slope"].iloc[:2], 0.01, rtol=0.01)
    np.testing.assert_allclose(links["slope"].iloc[2], 0.02, rtol=0.02)  # the side slope
    assert links["order"].tolist() == [1, 2, 1]
    assert net.downstream.tolist() == [1, -1, 1]
    rn = net.river_network(q_ref=2.0)
    assert rn.downstream.tolist() == [1, -1, 1] and np.all(rn.q_ref == 2.0)
    assert net.index([3, 1]).tolist() == [2, 0]
    with pytest.raises(InputDataError, match="link id"):
        net.index([7])


def test_terrain_orientation_reverses_lines_drawn_upstream():
    twin = _valley_twin([MAIN[::-1], TRIB])
    # drawn east to west, the digitised direction is a valid tree draining west, with a rising bed
    with pytest.warns(UserWarning, match="2 of 3 links had a slope below"):
        wrong = network_from_rivers(twin)
    assert wrong.links["downstream_id"].tolist() == [2, -1, 2]
    assert shapely.get_coordinates(shapely.get_point(wrong.links.geometry.values, 0))[0, 0] == pytest.approx(X0 + 600)
    net = network_from_rivers(twin, orient="terrain")
    assert net.links["downstream_id"].tolist() == [2, -1, 2]
    start = shapely.get_coordinates(shapely.get_point(net.links.geometry.values, 0))
    assert start[0, 0] == pytest.approx(X0)


def test_cycle_is_an_error_naming_its_links():
    a, b, c = (X0 + 100, Y0 - 100), (X0 + 300, Y0 - 100), (X0 + 200, Y0 - 300)
    with pytest.raises(InputDataError, match=r"cycle through links 1 -> 2 -> 3 -> 1"):
        network_from_rivers(_valley_twin([[a, b], [b, c], [c, a]]))


def test_dangling_end_is_an_error_unless_accepted():
    short = [(X0 + 100, Y0 - 60), (X0 + 100, Y0 - 150)]  # ends 50 m short of the main river
    twin = _valley_twin([MAIN, short])
    with pytest.raises(InputDataError, match=r"link\(s\) 2 end without touching"):
        network_from_rivers(twin)
    with pytest.raises(InputDataError, match="unconnected parts"):
        network_from_rivers(twin, dangling="outlet")
    net = network_from_rivers(twin, outlets=[2], allow_disconnected=True)
    assert net.outlets.tolist() == [0, 1]
    # a larger snapping tolerance does not join an end 50 m away from a line's interior at 20 m
    with pytest.raises(InputDataError, match="dangling"):
        network_from_rivers(twin, snap_tolerance=20.0)


def test_bifurcation_is_an_error():
    branch = [(X0 + 300, Y0 - 200), (X0 + 600, Y0 - 300)]  # leaves the main river at x = 300
    with pytest.raises(InputDataError, match="splits below link"):
        network_from_rivers(_valley_twin([MAIN, branch]), allow_disconnected=True)


def test_flat_links_get_the_minimum_slope_with_a_warning():
    # a line across the valley's south side has no fall from its start to its end
    across = [(X0 + 50, Y0 - 300), (X0 + 50, Y0 - 390)]
    twin = _valley_twin([across])
    with pytest.warns(UserWarning, match="1 of 1 links had a slope below 0.001"):
        net = network_from_rivers(twin, min_slope=1e-3, dangling="outlet")
    assert net.slope_floored == 1 and net.links["slope"].iloc[0] == 1e-3


def test_catchments_turn_uniform_runoff_into_lateral_inflow():
    twin = _valley_twin([MAIN, TRIB])
    net = link_catchments(twin, network_from_rivers(twin))
    lab = net.catchment
    assert set(np.unique(lab)) <= {0, 1, 2, 3}
    area = net.catchment_area()
    # the whole valley drains to the river: every cell reaches a link except those draining out of
    # the west, north or south edges before they meet one
    assert area.sum() == np.count_nonzero(lab) * DX * DX
    q = net.lateral_inflow(36.0, units="mm/h")  # 36 mm/h = 1e-5 m/s
    assert q.sum() == pytest.approx(1e-5 * area.sum(), rel=1e-12)
    grid = np.full(twin.shape, 36.0)
    np.testing.assert_allclose(net.lateral_inflow(grid, units="mm/h"), q, rtol=1e-12)
    series = net.lateral_inflow(np.stack([grid, 2 * grid]) * 1e-3 / 3600)
    np.testing.assert_allclose(series[1], 2 * q, rtol=1e-12)


def test_stream_network_from_the_terrain_has_catchments_covering_the_grid():
    twin = _valley_twin([MAIN])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net = network_from_streams(twin, threshold_cells=30)
    links = net.links
    assert links["link_id"].tolist() == list(range(1, len(links) + 1))
    ds = links["downstream_id"].to_numpy()
    assert np.all((ds == -1) | np.isin(ds, links["link_id"]))
    assert np.all(links["width_m"] >= 1.0) and np.all(links["slope"] >= 1e-4)
    # every cell drains, through the streams, to a link: the catchments tile the grid except the
    # cells that leave the grid before reaching a stream cell
    q = net.lateral_inflow(1e-6)
    assert q.sum() == pytest.approx(1e-6 * np.count_nonzero(net.catchment) * DX * DX, rel=1e-12)
    assert np.count_nonzero(net.catchment) > 0.9 * net.catchment.size


def test_cone_hypsometry_matches_the_analytic_volume():
    # an inverted cone z = s r in a circular lake of radius R: at stage h the shore radius is
    # r = h / s, the area pi r^2 and the volume pi r^2 h / 3
    dx, s, R = 2.0, 0.05, 200.0
    n = int(2 * R / dx) + 20
    transform = Affine(dx, 0, X0, 0, -dx, Y0)
    c = (np.arange(n) + 0.5) * dx
    cx = cy = n * dx / 2
    r = np.hypot(c[None, :] - cx, c[:, None] - cy)
    twin = Twin(CRS, transform, s * r)
    lake = shapely.Point(X0 + cx, Y0 - cy).buffer(R, 256)
    stage, area, storage = lake_hypsometry(twin, lake, n_levels=21, max_stage=s * R)
    assert np.all(np.diff(storage) > 0) and np.all(np.diff(area) >= 0)
    h = stage[1:] - stage[0]  # the lowest cell centre sits within a cell of the apex
    rh = stage[1:] / s
    exact_a = np.pi * rh**2
    exact_v = np.pi * rh**2 * stage[1:] / 3.0
    # counting cells inside a circle misses at most a band one cell wide along the shore
    np.testing.assert_array_less(np.abs(area[1:] - exact_a), 2 * np.pi * rh * dx)
    # the volume error: that band times the depth, plus the cell's own relief (s dx) over the area
    np.testing.assert_array_less(np.abs(storage[1:] - exact_v), 2 * np.pi * rh * dx * h + s * dx * exact_a)
    # at full stage the volume is within 0.5 % of the cone's (pi R^2 sR / 3 = 2.09e5 m3)
    assert storage[-1] == pytest.approx(np.pi * R**2 * s * R / 3, rel=5e-3)


def test_lake_table_fills_storage_and_rejects_bad_rows():
    _h, _a, v = lake_table([1.0, 2.0, 3.0], area=[100.0, 300.0, 500.0])
    np.testing.assert_allclose(v, [0.0, 200.0, 600.0])
    _h2, a2, _v2 = lake_table([1.0, 2.0, 3.0], storage=v)
    np.testing.assert_allclose(a2[1:], [200.0, 400.0])
    with pytest.raises(InputDataError, match="strictly increasing"):
        lake_table([1.0, 1.0], area=[1.0, 2.0])
    with pytest.raises(InputDataError, match="area or a storage"):
        lake_table([1.0, 2.0])


def test_lake_on_a_river_becomes_one_lake_link():
    pond = shapely.box(X0 + 100, Y0 - 240, X0 + 200, Y0 - 160)
    side = shapely.box(X0 + 400, Y0 - 180, X0 + 450, Y0 - 150)  # 20 m north of the river
    twin = _valley_twin([MAIN, TRIB], lakes=[pond, side])
    net = network_from_rivers(twin)
    links = net.links
    # main: upstream of the pond, the pond, pond to junction, below the junction; tributary
    assert links["lake"].tolist() == [-1, 0, -1, -1, -1]
    assert links["downstream_id"].tolist() == [2, 3, 4, -1, 4]
    con = lake_connections(net, twin.lakes, side_distance=30.0)
    assert con.loc[0, "kind"] == "inline" and con.loc[0, "lake_link"] == 2
    assert con.loc[0, "inflow_links"] == [1] and con.loc[0, "outflow_link"] == 3
    assert con.loc[1, "kind"] == "side" and con.loc[1, "side_link"] == 4
    assert con.loc[1, "distance_m"] == pytest.approx(20.0)
    # without the lake split, the river passing through the pond is a side connection at 0 m
    plain = network_from_rivers(twin, lakes=False)
    con2 = lake_connections(plain, twin.lakes)
    assert con2.loc[0, "kind"] == "side" and con2.loc[0, "side_link"] == 1 and con2.loc[0, "distance_m"] == 0
    assert con2.loc[1, "kind"] == "none"
    # a creek ending in a lake makes it in-line
    creek = [(X0 + 420, Y0 - 20), (X0 + 420, Y0 - 160)]
    ending = network_from_rivers(
        _valley_twin([MAIN, creek], lakes=[side]), lakes=False, dangling="outlet", allow_disconnected=True
    )
    con3 = lake_connections(ending, gpd.GeoDataFrame(geometry=[side], crs=CRS))
    assert con3.loc[0, "kind"] == "inline" and con3.loc[0, "inflow_links"] == [2]


@pytest.fixture(scope="module")
def sample_twin(tmp_path_factory):
    from twin.model.build import from_files
    from twin.sample.district import city

    sc = city(tmp_path_factory.mktemp("city"), size_m=600, cell=4)
    return from_files(sc.dem, rivers=sc.layers, lakes=sc.layers)


def test_sample_city_network_creek_through_lake_into_river(sample_twin):
    net = link_catchments(sample_twin, network_from_rivers(sample_twin))
    links = net.links
    # main river split at the creek's mouth; the creek cut at the lake shore
    assert links["downstream_id"].tolist() == [2, -1, 4, 5, 2]
    assert links["lake"].tolist() == [-1, -1, -1, 0, -1]
    assert np.all(links["slope"] > 1e-4)
    stage, _area, storage = lake_hypsometry(sample_twin, 0)
    level = float(sample_twin.lakes["level"].iloc[0])
    v_level = np.interp(level, stage, storage)
    # the lake's polygon is ~7,000 m2 and the bed lies a few metres below the level
    assert 1e4 < v_level < 7e4
    assert net.catchment_area().sum() > 0.5 * 600 * 600


def test_methow_network_topology_agrees_with_tolink_and_routes_conservatively(shared_data):
    path = shared_data / "dem" / "vectors" / "landlab_methow" / "Methow_Network.shp"
    # the shapefile has no .prj; its coordinates are North America Albers (ESRI:102008)
    lines = gpd.read_file(path).set_crs("ESRI:102008")
    net = network_from_lines(lines, snap_tolerance=1.0, slope_column="Slope", width=20.0, id_column="GridID")
    assert len(net) == 720
    # ids follow GridID order; "source" is the row each link came from
    src = net.links["source"].to_numpy()
    gid = lines["GridID"].to_numpy()[src]
    assert np.all(np.diff(gid) > 0)
    ds = net.links["downstream_id"].to_numpy()
    mine = np.where(ds >= 0, gid[np.maximum(ds - 1, 0)], -1)
    theirs = np.nan_to_num(lines["ToLink"].to_numpy()[src], nan=-1).astype(int)
    agree = np.count_nonzero(mine == theirs)
    assert agree == 720, f"{agree} of 720 downstream links agree with ToLink"
    np.testing.assert_allclose(net.links["length_m"], lines["Length_m"].to_numpy()[src], rtol=1e-6)
    # a hydrograph into every head link, routed: what the outlet released plus what the channels
    # still hold equals what went in (the Muskingum storage closes the ledger to round-off)
    rn = net.river_network(q_ref=5.0)
    dt, steps = 3600.0, 24 * 30
    t = np.arange(steps) * dt
    heads = net.upstream_count() == 0
    inflow = np.zeros((steps, len(net)))
    inflow[:, heads] = (1.0 + 4.0 * np.exp(-(((t - 2 * 86400) / 43200) ** 2)))[:, None]
    router = Router(rn, dt)
    out = router.run(inflow=inflow)
    released = out[:, net.outlets].sum() * dt
    vin = inflow.sum() * dt
    stored = router.storage().sum()
    assert 0 < stored < 0.2 * vin
    assert abs(released + stored - vin) / vin < 1e-9
