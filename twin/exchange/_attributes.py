"""The attributes every exported building carries, read from the twin's (or a result's) buildings.

Columns missing from a layer are left out of the export rather than filled: a GIS building has no
IFC GlobalId, a twin without a flood result has no exposure.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["ATTRIBUTES", "STEPS", "columns", "row_attributes"]

#: Exported name -> (the buildings' column, kind, description). Kinds as in :class:`twin.exchange._glb.Property`.
ATTRIBUTES: dict[str, tuple[str, str, str]] = {
    "id": ("id", "STRING", "cimtwin building id"),
    "ifc_guid": ("ifc_guid", "STRING", "IFC GlobalId of the IfcBuilding"),
    "ifc_file": ("file", "STRING", "the IFC file the building was read from"),
    "name": ("name", "STRING", "name"),
    "storeys": ("storeys", "INT32", "number of storeys"),
    "height": ("height", "FLOAT32", "height above the base [m]"),
    "base": ("base", "FLOAT64", "base elevation [m] in the twin's vertical datum"),
    "source": ("source", "STRING", "gis or ifc"),
    "max_depth": ("max_depth", "FLOAT32", "deepest flood water against the walls above the base [m]"),
    "arrival_time": ("arrival_time", "FLOAT64", "first arrival of flood water [s] (-1: never)"),
    "flooded": ("flooded", "BOOLEAN", "flood water reached the building"),
}

#: Steps the GLB property tables store numbers to (fixed-point, see :mod:`twin.exchange._metadata`):
#: heights and elevations to the centimetre like the vertices, depths to the millimetre, times to the second.
STEPS: dict[str, float] = {"height": 0.01, "base": 0.01, "max_depth": 0.001, "arrival_time": 1.0}

# Numbers that stand for "none" in the tiles' property tables (CityJSON leaves such attributes out).
_NO_DATA = {"storeys": -1, "max_depth": -1.0, "arrival_time": -1.0}


def columns(buildings: gpd.GeoDataFrame) -> dict[str, tuple[str, np.ndarray, str, float | None]]:
    """Exported name -> (kind, values, description, no-data) for the attributes ``buildings`` has."""
    out: dict[str, tuple[str, np.ndarray, str, float | None]] = {}
    for name, (col, kind, desc) in ATTRIBUTES.items():
        if col not in buildings.columns:
            continue
        s = buildings[col]
        if kind == "STRING":
            values = s.fillna("").astype(str).to_numpy()
            if name != "id" and not any(values):
                continue
        elif kind == "BOOLEAN":
            values = s.fillna(False).astype(bool).to_numpy()
        else:
            values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
            if name == "storeys":
                values = np.where(values > 0, values, np.nan)
            if not np.isfinite(values).any():
                continue
        out[name] = (kind, values, desc, _NO_DATA.get(name))
    return out


def row_attributes(cols: dict[str, tuple[str, np.ndarray, str, float | None]], i: int) -> dict[str, Any]:
    """The attributes of building ``i`` as JSON values (absent where unknown)."""
    out: dict[str, Any] = {}
    for name, (kind, values, _desc, _nd) in cols.items():
        v = values[i]
        if kind == "STRING":
            if v:
                out[name] = str(v)
        elif kind == "BOOLEAN":
            out[name] = bool(v)
        elif np.isfinite(v):
            out[name] = int(v) if kind == "INT32" else round(float(v), 3)
    return out
