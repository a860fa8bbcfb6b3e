"""The unified model: validation, derived grids on a hand-made case, save/load round trip, atomic save."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import geopandas.testing
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import CRS, small_layers
from twin import _io
from twin.errors import CRSError, InputDataError, TwinError
from twin.model.twin import LAYERS, Twin


def test_geographic_crs_is_rejected_with_a_fix():
    transform, terrain, *_ = small_layers()
    with pytest.raises(CRSError, match="projected CRS in metres") as err:
        Twin("EPSG:4326", transform, terrain)
    assert "EPSG:4547" in str(err.value)  # the message suggests a usable CRS


def test_feet_crs_is_rejected():
    transform, terrain, *_ = small_layers()
    with pytest.raises(CRSError, match="metres"):
        Twin("EPSG:2227", transform, terrain)  # California zone 3, US survey feet


def test_unknown_crs_and_layer_in_other_crs():
    transform, terrain, b, *_ = small_layers()
    with pytest.raises(CRSError, match="not a coordinate reference system"):
        Twin("EPSG:999999", transform, terrain)
    with pytest.raises(CRSError, match="reproject"):
        Twin(CRS, transform, terrain, buildings=b.to_crs("EPSG:32649"))
    assert issubclass(CRSError, TwinError)


def test_nan_terrain_and_bad_grid_are_rejected():
    transform, terrain, *_ = small_layers()
    t = terrain.copy()
    t[3, 4] = np.nan
    with pytest.raises(InputDataError, match="row 3, col 4"):
        Twin(CRS, transform, t)
    from affine import Affine

    with pytest.raises(InputDataError, match="square"):
        Twin(CRS, Affine(2, 0, 0, 0, -3, 0), terrain)


def test_copy_is_independent_and_keeps_derived_grids_right(small_twin):
    tw = small_twin
    tw.set_raster("rain", np.ones(tw.shape))
    tw.meta["note"] = {"by": "ingest"}
    mask, manning = tw.building_mask, tw.manning
    cp = tw.copy()
    assert cp is not tw and cp.building_mask is mask  # computed grids are shared, not recomputed
    # changing the copy's layers, rasters, terrain and meta leaves the original as it was
    cp.set_layer("buildings", tw.buildings.iloc[:1])
    cp.set_raster("rain", None)
    cp.set_vector("extra", tw.buildings)
    cp.set_terrain(tw.terrain + 1.0)
    cp.meta["note"]["by"] = "edit"
    assert len(tw.buildings) == 2 and "rain" in tw.rasters and "extra" not in tw.vectors
    assert tw.meta["note"] == {"by": "ingest"} and tw.building_mask is mask
    np.testing.assert_array_equal(
        tw.burned_terrain, Twin(CRS, tw.transform, tw.terrain, buildings=tw.buildings).burned_terrain
    )
    # the copy's derived grids follow its own layers; those that do not depend on them stay shared
    assert cp.building_mask[5:7, 7:9].sum() == 0 and cp.building_mask[1:3, 1:4].all()
    np.testing.assert_array_equal(cp.burned_terrain[5:7, 7:9], tw.terrain[5:7, 7:9] + 1.0)
    assert cp.manning is manning
    # and the original's changes do not reach the copy
    tw.set_layer("buildings", None)
    assert len(cp.buildings) == 1 and cp.building_mask[1:3, 1:4].all()


def test_buildings_need_their_columns():
    transform, terrain, b, *_ = small_layers()
    with pytest.raises(InputDataError, match="base"):
        Twin(CRS, transform, terrain, buildings=b.drop(columns="base"))
    dup = b.copy()
    dup["id"] = ["x", "x"]
    with pytest.raises(InputDataError, match="unique"):
        Twin(CRS, transform, terrain, buildings=dup)


def test_derived_grids_on_a_hand_made_case(small_twin):
    tw = small_twin
    # building b1 covers x0+2..x0+8, y0-6..y0-2 -> rows 1-2, cols 1-3; b2 rows 5-6, cols 7-8
    expected = np.zeros(tw.shape, np.uint8)
    expected[1:3, 1:4] = 1
    expected[5:7, 7:9] = 1
    np.testing.assert_array_equal(tw.building_mask, expected)
    burned = tw.burned_terrain
    assert burned[1, 1] == 10.5 and burned[2, 3] == 10.5  # base 0.5 + height 10 above terrain 1.1..2.7
    assert burned[5, 7] == max(tw.terrain[5, 7], 7.5)  # terrain 6.7 < 7.5 roof
    assert burned[0, 0] == tw.terrain[0, 0]
    # river along y0-17 (row 8, between row 8 centre y0-17), width 2 m -> row 8 (all_touched adds neighbours touched)
    assert tw.river_mask[8].all() and not tw.river_mask[:7].any()
    lake = np.zeros(tw.shape, np.uint8)
    lake[1:4, 9:12] = 1
    np.testing.assert_array_equal(tw.lake_mask, lake)
    table = tw.landuse_table
    # road on the west half, park on the east, water on river and lake cells
    assert tw.manning[0, 0] == table.loc["road", "manning"]
    assert tw.manning[0, 7] == table.loc["park", "manning"]
    assert tw.manning[8, 0] == table.loc["water", "manning"]
    assert tw.manning[2, 10] == table.loc["water", "manning"]
    assert tw.impervious[0, 0] == table.loc["road", "impervious"]
    assert tw.impervious[1, 1] == 1.0  # building
    assert tw.impervious[0, 7] == table.loc["park", "impervious"]
    np.testing.assert_array_equal(tw.landuse_param("ks_mm_h")[0, :6], table.loc["road", "ks_mm_h"])


def test_derived_grids_are_cached_and_invalidated(small_twin):
    tw = small_twin
    first = tw.burned_terrain
    assert tw.burned_terrain is first  # cached
    manning = tw.manning
    tw.buildings = tw.buildings.iloc[:1]
    assert tw.burned_terrain is not first and tw.burned_terrain[5, 7] == tw.terrain[5, 7]
    assert tw.manning is manning  # land use untouched: still cached
    tw.set_terrain(tw.terrain + 1.0)
    assert tw.burned_terrain[0, 0] == 1.0
    lu = tw.landuse.copy()
    lu["class"] = "forest"
    tw.landuse = lu
    assert tw.manning[0, 0] == tw.landuse_table.loc["forest", "manning"]
    with pytest.raises(ValueError):
        tw.burned_terrain[0, 0] = 5.0  # derived grids are read-only


def test_unknown_landuse_class_warns_and_takes_default(small_twin):
    lu = small_twin.landuse.copy()
    lu.loc[0, "class"] = "swamp"
    small_twin.landuse = lu
    with pytest.warns(UserWarning, match="swamp"):
        n = small_twin.manning
    assert n[0, 0] == small_twin.landuse_table.loc["default", "manning"]


def _assert_twins_equal(a: Twin, b: Twin):
    assert a.crs == b.crs and a.transform == b.transform and a.shape == b.shape
    np.testing.assert_array_equal(a.terrain, b.terrain)
    for name in ("buildings", "rivers", "lakes", "landuse"):
        geopandas.testing.assert_geodataframe_equal(getattr(a, name), getattr(b, name), check_crs=False)
        assert getattr(a, name).crs == getattr(b, name).crs
    assert a.vectors.keys() == b.vectors.keys()
    for k in a.vectors:
        geopandas.testing.assert_geodataframe_equal(a.vectors[k], b.vectors[k])
    assert a.rasters.keys() == b.rasters.keys()
    for k in a.rasters:
        assert a.rasters[k].dtype == b.rasters[k].dtype
        np.testing.assert_array_equal(a.rasters[k], b.rasters[k])
    pd.testing.assert_frame_equal(a.landuse_table, b.landuse_table)
    assert a.meta == b.meta


def test_round_trip_of_every_layer_kind(tmp_path, small_twin):
    tw = small_twin
    rng = np.random.default_rng(1)
    tw.set_terrain(tw.terrain + rng.random(tw.shape))  # non-representable decimals survive exactly
    pts = gpd.GeoDataFrame(
        {"name": ["gauge a", "gauge b"], "weight": [0.1, 1 / 3], "n": [1, 2], "ok": [True, False]},
        geometry=shapely.points([[423001.5, 2559990.25], [423010.0, 2559985.0]]),
        crs=CRS,
    )
    tw.set_vector("gauges", pts)
    tw.set_raster("soil", rng.random(tw.shape).astype(np.float32))
    tw.set_raster("zone", rng.integers(0, 5, tw.shape).astype(np.int16))
    table = tw.landuse_table
    table.loc["park", "manning"] = 0.0417
    tw.landuse_table = table
    tw.meta["note"] = "round trip"
    out = tw.save(tmp_path / "t")
    _assert_twins_equal(tw, Twin.load(out))
    # saving again over an existing twin replaces it whole
    tw.set_vector("gauges", None)
    tw.save(out)
    again = Twin.load(out)
    assert "gauges" not in again.vectors
    _assert_twins_equal(tw, again)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_spaces_layer_is_saved_and_loaded_and_needs_its_columns(tmp_path, small_twin):
    tw = small_twin
    assert tw.spaces is None and "spaces" in LAYERS
    bid = str(tw.buildings["id"].iloc[0])
    room = tw.buildings.geometry.iloc[0]
    rooms = gpd.GeoDataFrame(
        {
            "building_id": [bid, bid],
            "storey": ["Level 1", "Level 2"],
            "name": ["101", "201"],
            "area": [room.area, room.area],
            "base": [4.0, 1 / 3],
        },
        geometry=[room, room],
        crs=CRS,
    )
    tw.spaces = rooms
    back = Twin.load(tw.save(tmp_path / "t"))
    geopandas.testing.assert_geodataframe_equal(back.spaces, rooms)
    assert back.summary()["layers"]["spaces"]["features"] == 2
    with pytest.raises(InputDataError, match="spaces"):
        tw.spaces = rooms.drop(columns="storey")


def test_crash_mid_save_leaves_previous_twin_loadable(tmp_path, small_twin, monkeypatch):
    out = small_twin.save(tmp_path / "t")
    before = Twin.load(out)
    small_twin.set_terrain(small_twin.terrain + 5.0)

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("twin._io.write_json", boom)  # fails after the rasters and layers are written
    with pytest.raises(OSError, match="simulated"):
        small_twin.save(out)
    monkeypatch.undo()
    after = Twin.load(out)
    _assert_twins_equal(before, after)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_crash_between_renames_is_recovered(tmp_path, small_twin, monkeypatch):
    out = small_twin.save(tmp_path / "t")
    real_replace = _io.os.replace
    calls = []

    def second_rename_fails(src, dst):
        if out in (Path(src), Path(dst)):  # only the two renames of the twin folder itself
            calls.append((src, dst))
        if len(calls) == 2:
            raise OSError("power cut (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(_io.os, "replace", second_rename_fails)
    with pytest.raises(OSError):
        small_twin.save(out)
    monkeypatch.undo()
    assert not out.exists()
    with pytest.warns(UserWarning, match="restored"):
        restored = Twin.load(out)
    np.testing.assert_array_equal(restored.terrain, small_twin.terrain)


def test_damaged_twin_is_detected(tmp_path, small_twin):
    out = small_twin.save(tmp_path / "t")
    with open(out / "terrain.tif", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(InputDataError, match="damaged"):
        Twin.load(out)
    with pytest.raises(InputDataError, match="not a twin folder"):
        Twin.load(tmp_path)


def test_summary_counts(small_twin):
    s = small_twin.summary()
    assert s["crs"] == CRS
    assert s["grid"]["rows"] == 10 and s["grid"]["cols"] == 12
    assert s["layers"]["buildings"]["features"] == 2
    assert s["layers"]["buildings"]["by_source"] == {"gis": 1, "ifc": 1}
    assert s["layers"]["rivers"]["length_km"] == pytest.approx(0.024)
