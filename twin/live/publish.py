"""A cycle's forecast written where emergency staff read it: ``cycles/<time>/``, ``latest.json``, ``history.csv``.

Each cycle's folder is written beside its name and renamed into place when complete (see
:func:`twin._io.atomic_dir`), so a reader sees the whole folder or none; then ``latest.json`` (one
atomic rename) points at it, and ``history.csv`` gets its row. A cycle cut short at any point leaves
every folder published before intact and ``latest.json`` on the last complete one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from twin import _io

__all__ = ["publish_cycle", "read_latest", "forecast_summary"]


def publish_cycle(
    out: Path,
    name: str,
    rasters: dict[str, np.ndarray],
    transform: Any,
    crs: Any,
    tables: dict[str, pd.DataFrame],
    layers: dict[str, gpd.GeoDataFrame],
    record: dict[str, Any],
) -> Path:
    """Write ``cycles/<name>/`` atomically (GeoTIFFs, CSV, GeoJSON/GeoPackage, ``cycle.json``), then
    point ``latest.json`` at it and add its row to ``history.csv``."""
    folder = out / "cycles" / name
    tables = {k: _with_clock(v, record["now"]) if k == "warnings.csv" else v for k, v in tables.items()}
    layers = {k: _with_clock(v, record["now"]) if k == "warnings.geojson" else v for k, v in layers.items()}
    with _io.atomic_dir(folder, "forecast-cycle") as tmp:
        for fname, arr in rasters.items():
            _io.write_geotiff(tmp / fname, arr.astype(np.float32), transform, crs, nodata=np.nan)
        for fname, df in tables.items():
            df.to_csv(tmp / fname, index=False)
        for fname, gdf in layers.items():
            if fname.endswith(".geojson"):
                gdf.to_crs(4326).to_file(tmp / fname, driver="GeoJSON", engine="pyogrio")
            else:
                gdf.to_file(tmp / fname, driver="GPKG", engine="pyogrio")
        _io.write_json(tmp / "cycle.json", record)
    _io.write_json(out / "latest.json", {"cycle": name, "path": f"cycles/{name}", "now": record["now"]})
    _append_history(out / "history.csv", record)
    return folder


def _with_clock(table: pd.DataFrame, now: str) -> pd.DataFrame:
    """The warnings with ``expected_at_utc`` beside ``expected_min``: the clock time (UTC, ISO 8601) the
    water is expected, so that a row forwarded without its cycle still says when."""
    if "expected_min" not in table.columns:
        return table
    at = pd.Timestamp(now) + pd.to_timedelta(pd.to_numeric(table["expected_min"], errors="coerce"), unit="min")
    table = table.copy()
    table.insert(
        table.columns.get_loc("expected_min") + 1,
        "expected_at_utc",
        [t.strftime("%Y-%m-%dT%H:%MZ") if pd.notna(t) else "" for t in at],
    )
    return table


def _append_history(path: Path, record: dict[str, Any]) -> None:
    row = {
        "cycle": record["cycle"],
        "now": record["now"],
        "nowcast": record["nowcast"]["method"],
        "members": record["members"],
        "warnings": len(record["warnings"]),
        "buildings_warned": record["buildings_warned"],
        "mass_balance_error": record["balance"]["mass_balance_error"],
        "nudging_volume_m3": record["balance"]["volume_nudging_m3"],
        "wall_seconds": record["timings"]["total"],
    }
    old = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=list(row))
    old = old[old["cycle"].astype(str) != str(row["cycle"])]  # a cycle run again replaces its row
    table = pd.concat([old, pd.DataFrame([row])], ignore_index=True)
    with _io.atomic_file(path) as tmp:
        table.to_csv(tmp, index=False)


def read_latest(out: str | Path) -> dict[str, Any] | None:
    """``latest.json`` of a forecast folder with the latest cycle's ``cycle.json`` under ``record`` (None: none yet)."""
    out = Path(out)
    try:
        latest = json.loads((out / "latest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    latest["record"] = json.loads((out / latest["path"] / "cycle.json").read_text())
    return latest


def forecast_summary(out: str | Path) -> dict[str, Any] | None:
    """What ``twin info`` says of a forecast folder: cycles published, the latest's time, members, nowcast,
    and per feature layer its kind, features and those warned within the longest lead (None: not a
    forecast folder, or no cycle yet)."""
    out = Path(out)
    latest = read_latest(out)
    if latest is None:
        return None
    record = latest["record"]
    history = pd.read_csv(out / "history.csv") if (out / "history.csv").is_file() else pd.DataFrame()
    return {
        "kind": "forecast",
        "cycles": len(history) if len(history) else len(list((out / "cycles").glob("*/cycle.json"))),
        "first": str(history["now"].iloc[0]) if len(history) else record["now"],
        "latest": record["now"],
        "latest_path": str(out / latest["path"]),
        "members": record["members"],
        "lead_times_min": record["lead_times_min"],
        "nowcast": record["nowcast"]["method"],
        "warn_probability": record.get("warn_probability"),
        "features": record.get("features", {}),
        "data_warnings": len(record.get("warnings", [])),
    }
