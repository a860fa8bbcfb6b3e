"""A loaded flood result reads its depth.nc frame by frame when asked, never whole at load: a
browser-facing command (`twin scene`) on a long run does not load gigabytes; the API is unchanged."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import xarray as xr
from affine import Affine

from twin.model.twin import Twin
from twin.sims.flood.run import FloodResult, run

N = 120  # 120 x 120 cells, 61 frames of depth and of speed: 7 MB


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tw = Twin("EPSG:4547", Affine(5.0, 0, 423000.0, 0, -5.0, 2560000.0), np.tile(5.0 - 0.01 * np.arange(N), (N, 1)))
    out = tmp_path_factory.mktemp("lazy") / "r"
    sc = {"duration": 600, "output_interval": 10, "rain": {"constant": 40.0}, "infiltration": {"model": "none"}}
    run(tw, sc, out=out, progress=False, scene=False)
    return tw, out


def test_loading_reads_no_frame_and_each_frame_is_read_when_indexed(saved):
    tw, out = saved
    with xr.open_dataset(out / "depth.nc", decode_times=False) as ds:
        depth, speed = ds["depth"].values, ds["speed"].values
    tracemalloc.start()
    r = FloodResult.load(out, twin=tw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # before: both variables read whole (depth.nbytes + speed.nbytes, 7 MB); now the rasters and tables only
    assert peak < 0.25 * (depth.nbytes + speed.nbytes), peak
    assert type(r.depth_frames).__name__ == "LazyFrames" and r.depth_frames.shape == depth.shape
    assert len(r.depth_frames) == 61 and r.frame_times[-1] == 600.0
    np.testing.assert_array_equal(r.depth_frames[30], depth[30])
    np.testing.assert_array_equal(r.depth_frames[-1][5:9, 2], depth[-1][5:9, 2])
    np.testing.assert_array_equal(r.speed_frames[12], speed[12])
    np.testing.assert_array_equal(np.asarray(r.depth_frames), depth)  # whole, when asked for
    assert [f.shape for f in r.depth_frames][:2] == [(N, N), (N, N)]


def test_a_loaded_result_draws_its_scene_and_saves_again(saved, tmp_path):
    tw, out = saved
    r = FloodResult.load(out, twin=tw)
    scene = r.scene()
    assert len(scene.data.frames) > 1
    copy = r.save(tmp_path / "copy", scene=False)
    with (
        xr.open_dataset(out / "depth.nc", decode_times=False) as a,
        xr.open_dataset(copy / "depth.nc", decode_times=False) as b,
    ):
        np.testing.assert_array_equal(a["depth"].values, b["depth"].values)
        np.testing.assert_array_equal(a["speed"].values, b["speed"].values)
