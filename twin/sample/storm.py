"""The sample city's recorded storm: a moving convective cell as radar frames every 6 minutes, rain
gauges under it and the lake's level gauge, for replaying ``twin forecast`` (see README, "Live twin").

Everything is generated, deterministically from the seed: the cell is a Gaussian rain core (sigma
2.5 km) with a fixed texture of smaller cells, growing to ``peak`` mm/h and decaying over its life,
moving at 7 m/s from the west-south-west so that its core crosses the city about 70 minutes after the
storm starts. The radar grid is its own (250 m cells in UTM 49N, 40 km square around the city: another
CRS and grid than the twin's), as a radar's is; the first frames carry reflectivity (dBZ,
Marshall-Palmer) in NetCDF, the rest rain rates (mm/h) in GeoTIFF, so a replay reads both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine
from pyproj import Transformer

from twin._io import atomic_file, write_geotiff
from twin.model.twin import Twin
from twin.sample.grid import rng_for

__all__ = ["RecordedStorm", "recorded_storm", "FORECAST_TOML"]

RADAR_CRS = "EPSG:32649"

FORECAST_TOML = """\
# Forecast settings for the sample city's recorded storm (twin forecast TWIN --obs radar-and-gauges --config this)
members = 8
lead_times = ["30min", "1h", "2h"]
thresholds = [0.15, 0.3, 0.5]
interval = "6min"

[base]
kind = "flood"
duration = "1h"
[base.infiltration]
model = "green-ampt"
[base.drainage]
capacity = 30.0                # mm/h: the sewer network's design capacity, taken off impervious cells
[[base.boundary]]
edge = "east"
type = "free"
slope = 0.001
[[base.inflow]]
at = [{x:.1f}, {y:.1f}]
hydrograph = [[0, 20.0]]       # m3/s: the river's base flow
[base.initial]
lakes = true
river_fill = 0.5
"""


@dataclass
class RecordedStorm:
    """Where the storm's files are: ``obs`` (radar frames, gauges and ``forecast.toml``), ``config`` (that TOML)."""

    obs: Path
    config: Path
    start: float
    end: float
    interval: float


def rain_at(
    t: float, x: np.ndarray, y: np.ndarray, *, centre: tuple[float, float], start: float, seed: int, peak: float
) -> np.ndarray:
    """The storm's rain rate [mm/h] at UTC second ``t`` and radar-CRS points ``x, y``."""
    age = (t - start) / 60.0  # minutes
    life = 150.0
    amp = peak * np.clip(np.sin(np.pi * np.clip(age + 15.0, 0, life) / life), 0, None) ** 1.5
    speed = 7.0
    heading = np.deg2rad(20.0)  # towards the east-north-east
    cross = 70.0 * 60.0  # s after the start when the core is over the city
    cx = centre[0] + np.cos(heading) * speed * ((t - start) - cross)
    cy = centre[1] + np.sin(heading) * speed * ((t - start) - cross)
    dx, dy = x - cx, y - cy
    core = np.exp(-(dx**2 / (2 * 3000.0**2) + dy**2 / (2 * 2000.0**2)))
    rng = rng_for(seed, "storm")
    k = rng.uniform(0.0008, 0.002, size=(4, 2))
    phase = rng.uniform(0, 2 * np.pi, size=4)
    texture = 1.0 + 0.25 * sum(np.sin(k[i, 0] * dx + k[i, 1] * dy + phase[i]) for i in range(4)) / 2
    return np.clip(amp * core * texture + 1.0 * core, 0.0, None)


def recorded_storm(
    path: str | os.PathLike,
    twin: Twin,
    *,
    seed: int = 0,
    start: str = "2026-06-01T08:00:00Z",
    duration: float = 3 * 3600.0,
    interval: float = 360.0,
    peak: float = 110.0,
    radar_cell: float = 250.0,
    radar_size: float = 40000.0,
) -> RecordedStorm:
    """Write the recorded storm over ``twin`` into ``path/obs`` (radar, gauges, ``forecast.toml``).

    Returns
    -------
    RecordedStorm
    """
    root = Path(path)
    obs = root / "obs"
    (obs / "radar").mkdir(parents=True, exist_ok=True)
    t0 = (
        pd.Timestamp(start).tz_convert("UTC").value / 1e9
        if pd.Timestamp(start).tzinfo
        else pd.Timestamp(start, tz="UTC").value / 1e9
    )
    b = twin.bounds
    to_radar = Transformer.from_crs(twin.crs, RADAR_CRS, always_xy=True)
    cx, cy = to_radar.transform((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    n = int(round(radar_size / radar_cell))
    x0 = round((cx - radar_size / 2) / radar_cell) * radar_cell
    y1 = round((cy + radar_size / 2) / radar_cell) * radar_cell
    transform = Affine(radar_cell, 0, x0, 0, -radar_cell, y1)
    xs = x0 + (np.arange(n) + 0.5) * radar_cell
    ys = y1 - (np.arange(n) + 0.5) * radar_cell
    gx, gy = np.meshgrid(xs, ys)
    # rain gauges at three places in the city, read as the radar sees them there
    w, h = b[2] - b[0], b[3] - b[1]
    gauges = {
        "gauge_w": (b[0] + 0.25 * w, b[1] + 0.5 * h),
        "gauge_c": (b[0] + 0.5 * w, b[1] + 0.45 * h),
        "gauge_e": (b[0] + 0.75 * w, b[1] + 0.55 * h),
    }
    rows = []
    times = t0 + np.arange(int(duration // interval) + 1) * interval
    for i, t in enumerate(times):
        rain = rain_at(t, gx, gy, centre=(cx, cy), start=t0, seed=seed, peak=peak).astype(np.float32)
        name = pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y%m%dT%H%MZ")
        if i < 3:  # the first frames as reflectivity in NetCDF (Z = 200 R^1.6)
            _write_dbz_netcdf(obs / "radar" / f"radar_{name}.nc", rain, transform, t)
        else:
            write_geotiff(obs / "radar" / f"radar_{name}.tif", rain, transform, RADAR_CRS)
        for station, (x, y) in gauges.items():
            rx, ry = to_radar.transform(x, y)
            value = float(
                rain_at(t, np.array([rx]), np.array([ry]), centre=(cx, cy), start=t0, seed=seed, peak=peak)[0]
            )
            rows.append(
                {
                    "time": pd.Timestamp(t, unit="s", tz="UTC").isoformat(),
                    "station": station,
                    "x": x,
                    "y": y,
                    "rain_mm_h": round(value, 2),
                }
            )
    with atomic_file(obs / "rain_gauges.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    levels = []
    if twin.lakes is not None and len(twin.lakes):
        lake = twin.lakes.iloc[0]
        p = lake.geometry.representative_point()
        for t in t0 + np.arange(int(duration // 300) + 1) * 300.0:
            levels.append(
                {
                    "time": pd.Timestamp(t, unit="s", tz="UTC").isoformat(),
                    "station": "lake",
                    "x": p.x,
                    "y": p.y,
                    "level_m": round(float(lake["level"]), 3),
                }
            )
    with atomic_file(obs / "levels.csv") as tmp:
        pd.DataFrame(levels, columns=["time", "station", "x", "y", "level_m"]).to_csv(tmp, index=False)
    ix, iy = b[0] + 50.0, (b[1] + b[3]) / 2
    if twin.rivers is not None and len(twin.rivers):  # the river's base flow enters 50 m in from the west
        import shapely

        xy = shapely.get_coordinates(twin.rivers.geometry.iloc[0])
        xy = xy[np.argsort(xy[:, 0])]
        iy = float(np.interp(ix, xy[:, 0], xy[:, 1]))
    config = obs / "forecast.toml"
    with atomic_file(config) as tmp:
        tmp.write_text(FORECAST_TOML.format(x=ix, y=iy))
    return RecordedStorm(obs, config, float(times[0]), float(times[-1]), interval)


def _write_dbz_netcdf(path: Path, rain: np.ndarray, transform: Affine, t: float) -> None:
    import xarray as xr
    from pyproj import CRS

    with np.errstate(divide="ignore"):
        dbz = np.where(rain > 0.01, 10 * np.log10(200.0 * np.power(rain.astype(np.float64), 1.6)), -10.0)
    ny, nx = rain.shape
    x = transform.c + (np.arange(nx) + 0.5) * transform.a
    y = transform.f + (np.arange(ny) + 0.5) * transform.e
    ds = xr.Dataset(
        {
            "reflectivity": (
                ("time", "y", "x"),
                dbz[None].astype(np.float32),
                {"units": "dBZ", "grid_mapping": "spatial_ref"},
            ),
            "spatial_ref": ((), 0, {"crs_wkt": CRS.from_user_input(RADAR_CRS).to_wkt()}),
        },
        coords={"time": [pd.Timestamp(t, unit="s")], "x": x, "y": y},
    )
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp)
