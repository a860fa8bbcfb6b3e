"""Observations read and checked: radar in mm/h and dBZ, any CRS; faults named, never fatal."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from live_town import bowl_twin, town_storm

from twin.live.observations import dbz_to_rain, parse_time, read_observations


def test_marshall_palmer_turns_reflectivity_into_rain():
    # Z = 200 R^1.6: 10 mm/h is 10 log10(200 x 10^1.6) = 39.0 dBZ; nothing below 0 dBZ
    dbz = 10 * np.log10(200 * 10**1.6)
    assert dbz_to_rain(np.array([dbz]))[0] == pytest.approx(10.0, rel=1e-9)
    assert dbz_to_rain(np.array([-5.0]))[0] == 0.0
    assert dbz_to_rain(np.array([dbz]), a=300, b=1.4)[0] == pytest.approx((10 ** (dbz / 10) / 300) ** (1 / 1.4))


def test_the_storm_reads_as_dbz_netcdf_and_mm_h_geotiff_on_the_radar_grid(tmp_path_factory):
    storm = town_storm(tmp_path_factory)
    obs = read_observations(storm.obs, math.inf)
    assert not obs.warnings
    assert len(obs.frames) == 21  # 2 h every 6 min
    first, fourth = obs.frames[0], obs.frames[3]
    assert first.source.endswith(".nc") and fourth.source.endswith(".tif")
    assert "UTM zone 49N" in first.crs  # the radar's own CRS, not the twin's (EPSG:4547)
    assert first.rain.shape == fourth.rain.shape == (64, 64)
    # the dBZ frames give back the rates they were made from (float32 rounding)
    from twin.sample.storm import rain_at

    tr = first.transform
    xs = tr.c + (np.arange(64) + 0.5) * tr.a
    ys = tr.f + (np.arange(64) + 0.5) * tr.e
    gx, gy = np.meshgrid(xs, ys)
    truth = rain_at(first.time, gx, gy, centre=_centre(tr), start=storm.start, seed=0, peak=110.0)
    wet = truth > 0.05
    np.testing.assert_allclose(first.rain[wet], truth[wet], rtol=1e-4)
    assert set(obs.rain_gauges["station"]) == {"gauge_w", "gauge_c", "gauge_e"}


def _centre(tr):
    return (tr.c + 32 * tr.a, tr.f + 32 * tr.e)


def test_corrupt_duplicate_and_unstamped_frames_are_named_and_left_out(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    obs_dir = tmp_path / "obs"
    shutil.copytree(storm.obs, obs_dir)
    radar = obs_dir / "radar"
    (radar / "radar_20260601T0830Z.tif").write_bytes(b"not a tiff at all")  # corrupt
    shutil.copy(radar / "radar_20260601T0836Z.tif", radar / "radar_20260601T0836Z_copy.tif")  # duplicate
    shutil.copy(radar / "radar_20260601T0842Z.tif", radar / "radar_latest.tif")  # no time in the name
    obs = read_observations(obs_dir, math.inf)
    codes = [w.code for w in obs.warnings]
    assert codes.count("RadarFrameCorrupt") == 2
    assert codes.count("RadarFrameDuplicate") == 1
    assert "same values" in next(w.message for w in obs.warnings if w.code == "RadarFrameDuplicate")
    times = [f.time for f in obs.frames]
    assert len(times) == len(set(times)) == 20  # 21 frames, the corrupt one left out
    # the corrupt frame of 08:30 is no one's concern at 08:24 (before: called corrupt in every cycle)
    early = read_observations(obs_dir, parse_time("2026-06-01T08:24Z"))
    assert [w.code for w in early.warnings].count("RadarFrameCorrupt") == 1  # the unstamped one only


def test_gauge_spikes_are_dropped_with_a_warning(tmp_path_factory, tmp_path):
    storm = town_storm(tmp_path_factory)
    obs_dir = tmp_path / "obs"
    shutil.copytree(storm.obs, obs_dir)
    rain = pd.read_csv(obs_dir / "rain_gauges.csv")
    rain.loc[5, "rain_mm_h"] = 9999.0
    rain.to_csv(obs_dir / "rain_gauges.csv", index=False)
    levels = pd.DataFrame(
        {
            "time": pd.date_range("2026-06-01T08:00Z", periods=9, freq="5min").astype(str),
            "station": "pond",
            "x": 423150.0,
            "y": 2559850.0,
            "level_m": [10.5, 10.5, 10.51, 10.5, 13.0, 10.52, 10.5, 10.5, 10.5],
        }
    )
    levels.to_csv(obs_dir / "levels_pond.csv", index=False)
    obs = read_observations(obs_dir, math.inf)
    codes = {w.code for w in obs.warnings}
    assert {"RainGaugeSpike", "LevelGaugeSpike"} <= codes
    assert obs.levels["level_m"].max() < 11
    assert obs.rain_gauges["rain_mm_h"].max() < 300


def test_levels_read_from_json(tmp_path):
    import json

    (tmp_path / "levels.json").write_text(
        json.dumps(
            [
                {
                    "station": "tide",
                    "x": 1.0,
                    "y": 2.0,
                    "readings": [["2026-06-01T08:00Z", 1.2], ["2026-06-01T08:10Z", 1.4]],
                }
            ]
        )
    )
    obs = read_observations(tmp_path, math.inf)
    assert obs.levels["level_m"].tolist() == [1.2, 1.4]


def test_the_radar_cut_to_the_twin_reprojects_to_the_same_rain_as_the_whole_radar(tmp_path_factory):
    from twin.live.nowcast import crop_to, onto_grid

    storm = town_storm(tmp_path_factory)
    frame = read_observations(storm.obs, math.inf).frames[10]
    tw = bowl_twin()
    window, transform = crop_to(frame.rain.shape, frame.crs, frame.transform, tw.crs.to_wkt(), tw.transform, tw.shape)
    cut = frame.rain[window]
    assert cut.size * 20 < frame.rain.size  # a 300 m town under a 16 km radar: a few pixels travel
    whole = onto_grid(frame.rain, frame.crs, frame.transform, tw.crs.to_wkt(), tw.transform, tw.shape)
    part = onto_grid(cut, frame.crs, transform, tw.crs.to_wkt(), tw.transform, tw.shape)
    assert np.isfinite(whole).all() and whole.max() > 0
    np.testing.assert_array_equal(part, whole)


def _cell_field(lon, lat, centre, peak_dbz=50.0, sigma_m=250.0):
    dx = (lon - centre[0]) * 111320 * np.cos(np.radians(centre[1]))
    dy = (lat - centre[1]) * 110540
    return peak_dbz * np.exp(-(dx**2 + dy**2) / (2 * sigma_m**2)) - 5.0


def test_reflectivity_on_a_lon_lat_netcdf_and_a_projected_geotiff_lands_where_its_coordinates_say(tmp_path):
    # as weather services deliver them: CF NetCDF on (time, lat, lon) without a grid_mapping, and a
    # GeoTIFF in a projected CRS that is not the twin's; a cell of rain centred on one twin cell
    import rasterio
    import xarray as xr
    from pyproj import Transformer
    from rasterio.transform import from_origin

    from twin.live.nowcast import onto_grid

    tw = bowl_twin()
    row, col = 7, 22
    x, y = tw.transform @ (col + 0.5, row + 0.5)
    centre = Transformer.from_crs(tw.crs, 4326, always_xy=True).transform(x, y)
    lon = np.arange(centre[0] - 0.01, centre[0] + 0.01, 0.0004)
    lat = np.arange(centre[1] - 0.01, centre[1] + 0.01, 0.0004)  # south to north, as CF files often are
    dbz = _cell_field(*np.meshgrid(lon, lat), centre)
    ds = xr.Dataset(
        {"DBZH": (("time", "lat", "lon"), dbz[None].astype(np.float32), {"units": "dBZ"})},
        coords={
            "time": [pd.Timestamp("2026-06-01T14:00")],
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )
    ds.to_netcdf(tmp_path / "radar_20260601T1400Z.nc")
    merc = Transformer.from_crs(4326, 3857, always_xy=True)
    mx, my = merc.transform(*centre)
    res, n = 40.0, 50
    x0, y0 = mx - n / 2 * res, my + n / 2 * res
    gx, gy = np.meshgrid(x0 + (np.arange(n) + 0.5) * res, y0 - (np.arange(n) + 0.5) * res)
    glon, glat = Transformer.from_crs(3857, 4326, always_xy=True).transform(gx, gy)
    profile = dict(driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:3857")
    with rasterio.open(
        tmp_path / "radar_20260601T1405Z.tif", "w", transform=from_origin(x0, y0, res, res), **profile
    ) as dst:
        dst.write(_cell_field(glon, glat, centre).astype(np.float32), 1)
        dst.update_tags(units="dBZ")

    obs = read_observations(tmp_path, math.inf)
    # before: the NetCDF was "RadarFrameCorrupt: no variable on (y, x)" and left out
    assert not obs.warnings, [w.message for w in obs.warnings]
    assert [f.source.rsplit(".", 1)[-1] for f in obs.frames] == ["nc", "tif"]
    assert obs.frames[0].time == pd.Timestamp("2026-06-01T14:00Z").value / 1e9
    peak = float(dbz_to_rain(np.array([45.0]))[0])  # 50 dBZ - 5 at the core: 48.6 mm/h by Marshall-Palmer
    for f in obs.frames:
        field = onto_grid(f.rain, f.crs, f.transform, tw.crs.to_wkt(), tw.transform, tw.shape)
        r, c = np.unravel_index(np.nanargmax(field), field.shape)
        assert (abs(r - row), abs(c - col)) <= (1, 1), (f.source, r, c)
        assert np.nanmax(field) == pytest.approx(peak, rel=0.1)
