"""What a run reads from a twin, hashed part by part: whether an earlier result or checkpoint still
holds for this twin, and if not, what changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.model.twin import Twin

__all__ = ["twin_parts", "twin_fingerprint", "changed_parts", "file_parts", "FILE_PART"]

#: Prefix of the parts that hash a file a scenario reads (a rain raster, a sewer network's .inp).
FILE_PART = "file "


def twin_parts(twin: Twin) -> dict[str, str]:
    """SHA-256 of each part of ``twin`` that a flood run reads, by the part's name in a user's terms.

    Parts: the grid (CRS, transform), the terrain, the buildings (layer, mask, burned roofs), the
    land use (layer, table, the class, Manning's n and imperviousness grids: infiltration and
    drainage come from them), the rivers (layer with widths and depths, mask), the lakes (layer
    with levels, mask) and, where the twin has them, the roads (whose cuts the result reports; a twin
    without roads keeps the fingerprint it had before roads existed).
    """
    grid = repr((twin.crs.to_wkt(), tuple(twin.transform)[:6], twin.shape)).encode()
    parts: dict[str, list[Any]] = {
        "grid": [grid],
        "terrain": [twin.terrain],
        "buildings": [twin.buildings, twin.building_mask, twin.burned_terrain],
        "land use": [twin.landuse, twin.landuse_table, twin.derived("landuse_index"), twin.manning, twin.impervious],
        "rivers": [twin.rivers, twin.river_mask],
        "lakes": [twin.lakes, twin.lake_mask],
    }
    if twin.roads is not None:
        parts["roads"] = [twin.roads]
    out = {}
    for name, items in parts.items():
        h = hashlib.sha256()
        for item in items:
            _update(h, item)
        out[name] = h.hexdigest()
    return out


def twin_fingerprint(twin: Twin) -> str:
    """One SHA-256 over :func:`twin_parts`: equal for twins that give a run the same inputs."""
    return hashlib.sha256(json.dumps(twin_parts(twin), sort_keys=True).encode()).hexdigest()


def file_parts(paths: Iterable[Path]) -> dict[str, str]:
    """SHA-256 of the bytes of each file in ``paths``, as parts named ``"file <path>"``.

    A scenario names its input files by path, so its own hash stays the same when a file is edited in
    place; a checkpoint must still refuse to resume on a changed rain raster or sewer network. A file
    that is gone hashes as a marker, so that resuming says which one is missing rather than failing later.
    """
    out = {}
    for path in paths:
        h = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            h.update(b"<missing>")
        out[f"{FILE_PART}{path}"] = h.hexdigest()
    return out


def changed_parts(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """Names of the parts whose hashes differ (or that only one side has), in ``now``'s order."""
    names = list(now) + [k for k in before if k not in now]
    return [k for k in names if before.get(k) != now.get(k)]


def _update(h: Any, item: Any) -> None:
    """Feed one array, table, layer or byte string into ``h``; ``None`` (no layer) hashes as a marker."""
    if item is None:
        h.update(b"<none>")
    elif isinstance(item, bytes):
        h.update(item)
    elif isinstance(item, np.ndarray):
        h.update(repr((item.dtype.str, item.shape)).encode())
        h.update(np.ascontiguousarray(item).tobytes())
    else:  # a (Geo)DataFrame: its columns, values and geometries as WKB
        h.update(repr(list(item.columns)).encode())
        geom = item.geometry.name if isinstance(item, gpd.GeoDataFrame) else None
        attrs = item.drop(columns=[geom]) if geom is not None else item
        h.update(pd.util.hash_pandas_object(attrs.astype(str), index=True).to_numpy().tobytes())
        if geom is not None:
            for wkb in shapely.to_wkb(np.asarray(item.geometry.values)):
                h.update(wkb if wkb is not None else b"<empty>")
