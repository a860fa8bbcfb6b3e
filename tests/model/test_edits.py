"""Planners' edits: floodwalls hold and overtop, ponds store, buildings block or let water in; the caller's twin stays."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine

from conftest import CRS, DX, X0, Y0, flood_scenario, plane_twin
from twin.errors import ScenarioError
from twin.model.edits import apply_edits, wall_cells
from twin.model.twin import Twin
from twin.sims.flood.run import FloodResult, run
from twin.sims.flood.scenario import Scenario

NY, NX = 12, 40


def _flat_twin(level: float = 10.0) -> Twin:
    return Twin(CRS, Affine(DX, 0, X0, 0, -DX, Y0), np.full((NY, NX), level))


def _channel_run(tw: Twin, edits: list, volume_m3: float, at=(X0 + 22.0, Y0 - 32.0)):
    rate = volume_m3 / 300.0
    sc = Scenario.from_dict(
        {
            "duration": 900,
            "output_interval": 300,
            "infiltration": {"model": "none"},
            "inflow": [{"at": list(at), "hydrograph": [[0, rate], [300, rate], [300.001, 0.0]]}],
            "numerics": {"dtype": "float64"},
            "edit": edits,
        }
    )
    return run(tw, sc, progress=False)


def _east_of_wall(tw: Twin, line) -> np.ndarray:
    rows, cols = wall_cells(tw, line)
    east = np.zeros(tw.shape, bool)
    for r in range(NY):
        east[r, cols[rows == r].max() + 1 :] = True
    return east


def test_floodwall_holds_below_its_crest_and_overtops_above_it():
    tw = _flat_twin()
    # a diagonal wall across the whole closed channel: the diagonal steps must not leak
    line = [[X0 + 90.0, Y0], [X0 + 115.0, Y0 - 60.0]]
    east = _east_of_wall(tw, line)
    wall = {"type": "floodwall", "line": line, "crest": 11.5}
    # ~5900 m2 west of the wall: 5000 m3 stand ~0.85 m deep, below the 1.5 m wall
    held = _channel_run(tw, [wall], 5000.0)
    assert held.max_depth[east].max() == 0.0
    rows, cols = wall_cells(tw, line)
    west = ~east
    west[rows, cols] = False
    # all the water stays west of the wall (float32 snapshots: ~1e-7 relative per cell), still sloshing
    # (0.25-0.9 m at 900 s around the 0.85 m mean) but everywhere wet and below the crest
    final = held.depth_frames[-1]
    assert final[west].sum() * DX * DX == pytest.approx(5000.0, rel=1e-5)
    assert final[west].min() > 0.1 and final[west].max() < 1.5
    assert abs(held.summary["mass_balance_error"]) < 1e-9
    (entry,) = held.summary["edits"]
    assert entry["type"] == "floodwall" and entry["cells"] == len(rows)
    assert entry["ground_change_m3"] == pytest.approx(len(rows) * 1.5 * DX * DX)
    # the same water against a 0.5 m wall spills over it
    low = _channel_run(tw, [{**wall, "crest": None, "height": 0.5}], 5000.0)
    assert low.max_depth[east].max() > 0.1
    # no wall: the water spreads over the whole channel, so the wall is what kept the east dry
    free = _channel_run(tw, [], 5000.0)
    assert free.max_depth[east].min() > 0.1


def test_wall_cells_form_an_eight_connected_chain():
    tw = _flat_twin()
    rows, cols = wall_cells(tw, [[X0 + 3.0, Y0 - 3.0], [X0 + 150.0, Y0 - 57.0]])
    cells = set(zip(rows.tolist(), cols.tolist()))
    # flood fill over 8-neighbours from one end reaches every cell of the chain
    todo, seen = [next(iter(cells))], set()
    while todo:
        r, c = todo.pop()
        if (r, c) in seen:
            continue
        seen.add((r, c))
        todo += [(r + i, c + j) for i in (-1, 0, 1) for j in (-1, 0, 1) if (r + i, c + j) in cells]
    assert seen == cells


def test_pond_stores_its_hand_computed_volume(tmp_path):
    tw = _flat_twin()
    pond = {
        "type": "pond",
        "polygon": [[X0 + 40, Y0 - 20], [X0 + 60, Y0 - 20], [X0 + 60, Y0 - 40], [X0 + 40, Y0 - 40]],
        "depth": 1.0,
        "volume_check": 400.0,
    }
    r = _channel_run(tw, [pond], 300.0, at=(X0 + 52.0, Y0 - 32.0))
    # a saved result reloaded with the plain twin gets the edited one back (what scenes and compare show)
    r.save(tmp_path / "r", scene=False)
    reloaded = FloodResult.load(tmp_path / "r", twin=tw)
    np.testing.assert_array_equal(reloaded.twin.terrain, r.twin.terrain)
    assert (reloaded.twin.terrain < tw.terrain).sum() == 16
    (entry,) = r.summary["edits"]
    assert entry["volume_m3"] == 4 * 4 * DX * DX * 1.0 == 400.0  # 4 x 4 cells of 5 m, 1 m deep
    assert entry["cells"] == 16 and entry["volume_design_m3"] == 400.0
    inside = np.zeros(tw.shape, bool)
    inside[4:8, 8:12] = True
    assert r.max_depth[~inside].max() == 0.0  # 300 m3 stay below the rim (level 0.75 m in a 1 m pond)
    # float32 snapshot depths: ~1e-7 relative per cell
    assert r.depth_frames[-1][inside].sum() * DX * DX == pytest.approx(300.0, rel=1e-5)
    # without the pond the same water spreads over the street
    assert _channel_run(tw, [], 300.0, at=(X0 + 52.0, Y0 - 32.0)).max_depth[~inside].max() > 0.01
    with pytest.warns(UserWarning, match="volume_check"):
        apply_edits(tw, Scenario.from_dict({"duration": 60, "edit": [{**pond, "volume_check": 600.0}]}).edit)


def test_added_building_blocks_and_removed_building_lets_water_in():
    tw = plane_twin()
    terrain, n_buildings, mask = np.array(tw.terrain), len(tw.buildings), tw.building_mask
    new = [[X0 + 20, Y0 - 70], [X0 + 40, Y0 - 70], [X0 + 40, Y0 - 50], [X0 + 20, Y0 - 50]]
    base = run(tw, flood_scenario(), progress=False)
    added = run(
        tw,
        flood_scenario(edit=[{"type": "building", "action": "add", "polygon": new, "height": 6.0, "id": "new-school"}]),
        progress=False,
    )
    cells = np.zeros(tw.shape, bool)
    cells[10:14, 4:8] = True  # centres of the 20 m x 20 m footprint on the 5 m grid
    assert base.max_depth[cells].min() > 0 and added.max_depth[cells].max() == 0.0
    assert (added.twin.building_mask[cells] == 1).all() and "new-school" in set(added.buildings["id"])
    assert added.summary["edits"][0] == {
        "type": "building",
        "action": "add",
        "id": "new-school",
        "cells": 16,
        "base_m": pytest.approx(float(tw.terrain[cells].min())),
    }
    removed = run(
        tw,
        flood_scenario(edit=[{"type": "building", "action": "remove", "at": [X0 + 70.0, Y0 - 30.0]}]),
        progress=False,
    )
    b1 = mask > 0
    b1[:, 15:] = False  # b1 is the western building
    assert base.max_depth[b1].max() == 0.0 and removed.max_depth[b1].min() > 0.0
    assert list(removed.buildings["id"]) == ["b2"] and removed.summary["edits"][0]["id"] == "b1"
    # the caller's twin saw none of it
    np.testing.assert_array_equal(tw.terrain, terrain)
    assert len(tw.buildings) == n_buildings and tw.building_mask is mask


def test_edited_copy_recomputes_only_what_depends_on_the_edit():
    tw = plane_twin()
    manning, burned = tw.manning, tw.burned_terrain
    poly = [[X0 + 5, Y0 - 5], [X0 + 25, Y0 - 5], [X0 + 25, Y0 - 25], [X0 + 5, Y0 - 25]]
    edited, report = apply_edits(
        tw, Scenario.from_dict({"duration": 60, "edit": [{"type": "ground", "polygon": poly, "delta": 0.5}]}).edit
    )
    assert edited.manning is manning  # land use untouched: the cached grid is shared
    assert edited.burned_terrain is not burned
    np.testing.assert_allclose(edited.burned_terrain[1:5, 1:5], burned[1:5, 1:5] + 0.5)
    assert tw.burned_terrain is burned
    assert report == [{"type": "ground", "area_m2": 400.0, "cells": 16, "ground_change_m3": pytest.approx(200.0)}]
    level, _ = apply_edits(
        tw, Scenario.from_dict({"duration": 60, "edit": [{"type": "ground", "polygon": poly, "level": 3.0}]}).edit
    )
    assert (level.terrain[1:5, 1:5] == 3.0).all()


@pytest.mark.parametrize(
    "edit, match",
    [
        ({"type": "floodwall", "line": [[X0 + 5, Y0 - 5], [X0 + 50, Y0 - 5]], "crest": 4.0}, r"edit\[0\].crest"),
        (
            {"type": "floodwall", "line": [[X0 + 5, Y0 - 5], [X0 - 50, Y0 - 5]], "crest": 9.0},
            r"edit\[0\].line.*outside",
        ),
        (
            {"type": "pond", "polygon": [[X0 + 1, Y0 - 1], [X0 + 2, Y0 - 1], [X0 + 2, Y0 - 2]], "depth": 1.0},
            r"edit\[0\].polygon covers no cell",
        ),
        ({"type": "building", "action": "remove", "id": "b9"}, r"edit\[0\].id = 'b9'"),
        ({"type": "building", "action": "remove", "at": [X0 + 2.0, Y0 - 2.0]}, r"edit\[0\].at .* no building"),
        (
            {
                "type": "building",
                "action": "add",
                "id": "b1",
                "height": 3.0,
                "polygon": [[X0 + 5, Y0 - 5], [X0 + 25, Y0 - 5], [X0 + 25, Y0 - 25]],
            },
            "already a building",
        ),
    ],
)
def test_edits_that_do_not_fit_the_twin_name_the_key(edit, match):
    with pytest.raises(ScenarioError, match=match):
        apply_edits(plane_twin(), Scenario.from_dict({"duration": 60, "edit": [edit]}).edit)


@pytest.mark.parametrize(
    "edit, match",
    [
        ({"type": "wall"}, r"edit\[0\]: type 'wall' is not an edit type"),
        ({"line": [[0, 0], [1, 1]]}, "type is missing"),
        ({"type": "floodwall", "line": [[0, 0], [1, 1]]}, "exactly one of crest"),
        ({"type": "floodwall", "line": [[0, 0]], "crest": 3}, r"edit\[0\].line"),
        (
            {"type": "pond", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]], "depth": 1},
            r"edit\[0\].polygon: the polygon is not valid",
        ),
        ({"type": "pond", "polygon": [[0, 0], [1, 0], [1, 1]], "depth": -1}, r"edit\[0\].depth"),
        ({"type": "ground", "polygon": [[0, 0], [1, 0], [1, 1]], "delta": 0}, "changes nothing"),
        ({"type": "building", "action": "add", "polygon": [[0, 0], [1, 0], [1, 1]]}, "needs polygon"),
        ({"type": "building", "action": "remove"}, "exactly one of id"),
        (
            {"type": "pond", "polygon": [[0, 0], [1, 0], [1, 1]], "depth": 1, "volume": 3},
            r"edit\[0\].volume: unknown key",
        ),
    ],
)
def test_bad_edit_entries_name_the_key(edit, match):
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict({"duration": 60, "edit": [edit]})


def test_a_polygon_closes_itself_and_the_scenario_keeps_it():
    sc = Scenario.from_dict(
        {"duration": 60, "edit": [{"type": "pond", "depth": 1.0, "polygon": [[0, 0], [10, 0], [10, 10]]}]}
    )
    ring = sc.to_dict()["edit"][0]["polygon"]
    assert ring[0] == ring[-1] and len(ring) == 4
    assert shapely.Polygon(ring).area == 50.0
    assert Scenario.from_dict(sc.to_dict()).hash == sc.hash
