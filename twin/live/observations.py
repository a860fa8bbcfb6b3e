"""Observations a data office writes, read and checked: radar frames, rain gauges, water-level gauges.

Times are UTC seconds since 1970 (``float``) throughout the live twin; files give ISO 8601 text
(``2026-06-01T08:06:00Z``) or, for a radar GeoTIFF, a stamp in the file name (``radar_20260601T0806Z.tif``).

A fault in the data never stops a cycle: it becomes an :class:`ObservationWarning` naming the file or
station (code, message), the bad frame or reading is left out, and the cycle goes on.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine

from twin.errors import InputDataError

__all__ = [
    "ObservationWarning",
    "RadarFrame",
    "Observations",
    "read_observations",
    "dbz_to_rain",
    "parse_time",
    "stamp",
]

_STAMP = re.compile(r"(\d{8})T?(\d{4})(\d{2})?Z?")


class ObservationWarning(UserWarning):
    """A fault in the observations that a cycle went on with (or waited for); ``code`` names its kind."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class RadarFrame:
    """One radar rain-rate field [mm/h] on the radar's own grid."""

    time: float
    rain: np.ndarray
    crs: str
    transform: Affine
    source: str
    digest: str


@dataclass
class Observations:
    """What the observation folder held up to a cycle's ``now``, checked.

    Attributes
    ----------
    frames : list of RadarFrame
        In time order, one per time (duplicates, corrupt frames and clutter left out).
    rain_gauges : DataFrame
        ``time, station, x, y, rain_mm_h`` (spikes left out).
    levels : DataFrame
        ``time, station, x, y, level_m`` (spikes left out).
    warnings : list of ObservationWarning
    """

    frames: list[RadarFrame] = field(default_factory=list)
    rain_gauges: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["time", "station", "x", "y"]))
    levels: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["time", "station", "x", "y"]))
    warnings: list[ObservationWarning] = field(default_factory=list)

    def warn(self, code: str, message: str) -> None:
        self.warnings.append(ObservationWarning(code, message))


def parse_time(value: object) -> float:
    """UTC seconds from ISO 8601 text (no zone: UTC), a ``Timestamp`` or seconds."""
    if isinstance(value, (int, float, np.floating, np.integer)):
        return float(value)
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.value / 1e9


def stamp(t: float, *, seconds: bool = False) -> str:
    """A time as a folder-safe UTC stamp, ``20260601T0806Z`` (``...T080600Z`` with ``seconds``)."""
    return pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y%m%dT%H%M%SZ" if seconds else "%Y%m%dT%H%MZ")


def dbz_to_rain(dbz: np.ndarray, a: float = 200.0, b: float = 1.6) -> np.ndarray:
    """Rain rate [mm/h] from reflectivity [dBZ] by Z = a R^b (Marshall-Palmer: a = 200, b = 1.6);
    reflectivity below 0 dBZ (Z < 1 mm^6/m^3) is no rain."""
    z = np.power(10.0, np.asarray(dbz, dtype=np.float64) / 10.0)
    rain = np.power(z / a, 1.0 / b)
    return np.where(np.asarray(dbz) > 0, rain, 0.0)


def read_observations(
    folder: str | Path,
    now: float,
    *,
    units: str = "mm/h",
    zr: tuple[float, float] = (200.0, 1.6),
    max_rain: float = 300.0,
    level_spike: float = 0.5,
) -> Observations:
    """Read everything in ``folder`` observed up to ``now``.

    ``folder`` holds radar frames (``*.tif``/``*.tiff`` with a time stamp in the name, ``*.nc`` with a
    ``time`` dimension), rain gauges (``*rain*.csv``: ``time, station, x, y, rain_mm_h``) and water
    levels (``*level*.csv`` with ``time, station, x, y, level_m``, or ``*level*.json``: a list of
    ``{"station", "x", "y", "readings": [[time, level], ...]}``), in any sub-folders. Gauge
    coordinates are in the twin's CRS.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputDataError(
            f"Observation folder {folder} does not exist; give the folder the radar and gauges arrive in."
        )
    obs = Observations()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    frames: dict[float, RadarFrame] = {}
    for p in files:
        suffix = p.suffix.lower()
        if suffix in (".tif", ".tiff", ".nc"):
            named = _time_from_name(p.name)
            if named is not None and named > now + 1e-6 and suffix != ".nc":
                continue  # a frame named for a later time is not read (nor called corrupt) before its cycle
            for frame in _read_radar(p, obs, units, zr, max_rain):
                if frame.time > now + 1e-6:
                    continue
                if frame.time in frames:
                    same = frames[frame.time].digest == frame.digest
                    obs.warn(
                        "RadarFrameDuplicate",
                        f"{p.name} repeats the frame of {stamp(frame.time)} already read from "
                        f"{Path(frames[frame.time].source).name} ({'same' if same else 'different'} values); "
                        "the first one is used",
                    )
                    continue
                frames[frame.time] = frame
        elif suffix == ".csv" and "rain" in p.name.lower():
            obs.rain_gauges = pd.concat([obs.rain_gauges, _read_gauge_csv(p, "rain_mm_h", obs)], ignore_index=True)
        elif suffix in (".csv", ".json") and "level" in p.name.lower():
            table = _read_gauge_csv(p, "level_m", obs) if suffix == ".csv" else _read_level_json(p, obs)
            obs.levels = pd.concat([obs.levels, table], ignore_index=True)
    obs.frames = [frames[t] for t in sorted(frames)]
    obs.rain_gauges = _rain_checked(obs.rain_gauges, now, max_rain, obs)
    obs.levels = _levels_checked(obs.levels, now, level_spike, obs)
    return obs


# ----------------------------------------------------------------------------------------------- radar
def _read_radar(
    path: Path, obs: Observations, units: str, zr: tuple[float, float], max_rain: float
) -> list[RadarFrame]:
    try:
        raw = _read_netcdf(path) if path.suffix.lower() == ".nc" else [_read_geotiff(path)]
    except Exception as exc:  # noqa: BLE001 -- whatever GDAL or netCDF make of a broken file
        obs.warn("RadarFrameCorrupt", f"{path.name} cannot be read ({type(exc).__name__}: {exc}); it is left out")
        return []
    out = []
    for t, values, crs, transform, unit in raw:
        if t is None:
            obs.warn("RadarFrameCorrupt", f"{path.name} has no time (name it e.g. radar_20260601T0806Z.tif); left out")
            continue
        unit = (unit or units).strip()
        values = np.asarray(values, dtype=np.float64)
        if unit.lower() in ("dbz", "dbz "):
            rain = dbz_to_rain(np.nan_to_num(values, nan=-99.0), *zr)
            rain[np.isnan(values)] = np.nan
        elif unit.lower().replace(" ", "") in ("mm/h", "mmh-1", "mmh**-1", "mm/hr", "kgm-2h-1"):
            rain = values
        else:
            obs.warn("RadarFrameCorrupt", f"{path.name}: unknown units {unit!r} (use mm/h or dBZ); left out")
            continue
        bad = ~np.isfinite(rain)
        if bad.mean() > 0.5 or (rain[~bad] < 0).any():
            obs.warn(
                "RadarFrameCorrupt",
                f"{path.name} ({stamp(t)}): {int(bad.sum())} of {rain.size} cells without data or negative rain; left out",
            )
            continue
        clutter = rain > max_rain
        if clutter.any():
            obs.warn(
                "RadarClutter",
                f"{path.name} ({stamp(t)}): {int(clutter.sum())} cells above {max_rain:g} mm/h set to no data "
                "(ground clutter or hail)",
            )
            rain = np.where(clutter, np.nan, rain)
        digest = hashlib.sha256(np.ascontiguousarray(rain, dtype=np.float32).tobytes()).hexdigest()[:16]
        out.append(RadarFrame(t, rain, crs, transform, str(path), digest))
    return out


def _time_from_name(name: str) -> float | None:
    m = _STAMP.search(name)
    if m is None:
        return None
    date, hm, s = m.groups()
    return parse_time(f"{date[:4]}-{date[4:6]}-{date[6:]}T{hm[:2]}:{hm[2:]}:{s or '00'}Z")


def _read_geotiff(path: Path):
    import rasterio

    with rasterio.open(path) as src:
        values = src.read(1, masked=True).filled(np.nan).astype(np.float64)
        tags = src.tags()
        t = tags.get("time")
        unit = tags.get("units")
        if src.crs is None:
            raise ValueError("no CRS")
        return (
            parse_time(t) if t else _time_from_name(path.name),
            values,
            src.crs.to_wkt(),
            src.transform,
            unit,
        )


def _read_netcdf(path: Path):
    import xarray as xr

    with xr.open_dataset(path) as ds:
        xname, yname, geographic = _netcdf_axes(ds)
        names = [n for n, v in ds.data_vars.items() if v.ndim in (2, 3) and {xname, yname} <= set(v.dims)]
        if not names:
            raise ValueError(f"no variable on ({yname}, {xname})")
        var = ds[names[0]]
        crs_wkt = None
        gm = var.attrs.get("grid_mapping") or ("spatial_ref" if "spatial_ref" in ds else None)
        if gm and gm in ds:
            crs_wkt = ds[gm].attrs.get("crs_wkt") or ds[gm].attrs.get("spatial_ref")
        if crs_wkt is None and geographic:
            # CF: a grid on latitude and longitude without a grid_mapping is WGS 84 lon/lat
            from pyproj import CRS

            crs_wkt = CRS.from_epsg(4326).to_wkt()
        if crs_wkt is None:
            raise ValueError("no CRS (a grid_mapping variable with crs_wkt, or lat/lon axes)")
        x, y = ds[xname].values.astype(float), ds[yname].values.astype(float)
        dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
        transform = Affine(dx, 0, x[0] - dx / 2, 0, dy, y[0] - dy / 2)
        values = var.transpose(..., yname, xname).values.astype(np.float64)
        if dy > 0:  # north-up as rasters are
            values, transform = values[..., ::-1, :], Affine(dx, 0, x[0] - dx / 2, 0, -dy, y[-1] + dy / 2)
        unit = var.attrs.get("units")
        if values.ndim == 2:
            t = var.attrs.get("time") or ds.attrs.get("time")
            if t is None and "time" in ds.coords and ds["time"].size == 1:
                t = pd.Timestamp(ds["time"].values.reshape(-1)[0])
            return [(parse_time(t) if t is not None else _time_from_name(path.name), values, crs_wkt, transform, unit)]
        times = [parse_time(pd.Timestamp(v)) for v in ds["time"].values]
        return [(t, values[i], crs_wkt, transform, unit) for i, t in enumerate(times)]


def _netcdf_axes(ds) -> tuple[str, str, bool]:
    """The names of a NetCDF grid's x and y dimensions, and whether they are longitude and latitude
    (a projected ``x, y`` first; else ``lon, lat`` or ``longitude, latitude`` by name or CF units)."""
    dims = set(ds.dims)
    if {"x", "y"} <= dims:
        return "x", "y", False
    lon = next((d for d in dims if d.lower() in ("lon", "longitude") or _units(ds, d) == "degrees_east"), None)
    lat = next((d for d in dims if d.lower() in ("lat", "latitude") or _units(ds, d) == "degrees_north"), None)
    if lon is None or lat is None:
        raise ValueError(f"no grid dimensions (x, y) or (lon, lat) among {sorted(dims)}")
    return lon, lat, True


def _units(ds, name: str) -> str:
    return str(ds[name].attrs.get("units", "")).lower() if name in ds.variables else ""


# ---------------------------------------------------------------------------------------------- gauges
def _read_gauge_csv(path: Path, column: str, obs: Observations) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 -- a broken CSV is a warning, not the end of the cycle
        obs.warn("GaugeFileCorrupt", f"{path.name} cannot be read ({type(exc).__name__}); left out")
        return pd.DataFrame(columns=["time", "station", "x", "y", column])
    missing = [c for c in ("time", "station", "x", "y", column) if c not in df.columns]
    if missing:
        obs.warn("GaugeFileCorrupt", f"{path.name} lacks columns {missing}; left out")
        return pd.DataFrame(columns=["time", "station", "x", "y", column])
    return _typed(df[["time", "station", "x", "y", column]], column, path, obs)


def _read_level_json(path: Path, obs: Observations) -> pd.DataFrame:
    try:
        data = json.loads(path.read_text())
        rows = [
            {"time": t, "station": g["station"], "x": g["x"], "y": g["y"], "level_m": v}
            for g in data
            for t, v in g["readings"]
        ]
    except Exception as exc:  # noqa: BLE001
        obs.warn(
            "GaugeFileCorrupt", f"{path.name} is not a list of stations with readings ({type(exc).__name__}); left out"
        )
        return pd.DataFrame(columns=["time", "station", "x", "y", "level_m"])
    return _typed(pd.DataFrame(rows), "level_m", path, obs)


def _typed(df: pd.DataFrame, column: str, path: Path, obs: Observations) -> pd.DataFrame:
    df = df.copy()
    times = []
    for v in df["time"]:
        try:
            times.append(parse_time(v))
        except (ValueError, TypeError):
            times.append(np.nan)
    df["time"] = times
    for c in ("x", "y", column):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    bad = df[["time", "x", "y", column]].isna().any(axis=1)
    if bad.any():
        obs.warn(
            "GaugeReadingCorrupt",
            f"{path.name}: {int(bad.sum())} rows without a readable time, place or value; left out",
        )
    df["station"] = df["station"].astype(str)
    return df[~bad]


def _rain_checked(df: pd.DataFrame, now: float, max_rain: float, obs: Observations) -> pd.DataFrame:
    if "rain_mm_h" not in df:
        return df
    df = df[df["time"] <= now + 1e-6]
    spike = (df["rain_mm_h"] < 0) | (df["rain_mm_h"] > max_rain)
    for station, n in df[spike].groupby("station").size().items():
        obs.warn("RainGaugeSpike", f"rain gauge {station}: {n} readings below 0 or above {max_rain:g} mm/h left out")
    return df[~spike].drop_duplicates(["station", "time"]).sort_values(["station", "time"]).reset_index(drop=True)


def _levels_checked(df: pd.DataFrame, now: float, spike_m: float, obs: Observations) -> pd.DataFrame:
    """Readings up to ``now``; a reading further than ``spike_m`` from both its neighbours' median is a spike."""
    if "level_m" not in df:
        return df
    df = df[df["time"] <= now + 1e-6].drop_duplicates(["station", "time"]).sort_values(["station", "time"])
    keep = []
    for station, g in df.groupby("station", sort=True):
        v = g["level_m"].to_numpy(float)
        ref = pd.Series(v).rolling(5, center=True, min_periods=1).median().to_numpy()
        spike = np.abs(v - ref) > spike_m
        if spike.any():
            obs.warn(
                "LevelGaugeSpike",
                f"level gauge {station}: {int(spike.sum())} readings more than {spike_m:g} m off their neighbours "
                f"(first at {stamp(float(g['time'].to_numpy()[np.argmax(spike)]))}) left out",
            )
        keep.append(g[~spike])
    return pd.concat(keep, ignore_index=True) if keep else df
