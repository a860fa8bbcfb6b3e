"""River reaches that run underground (culverts, tunnels) taken out of the surface rivers.

OpenStreetMap marks a waterway that runs under streets or buildings with ``tunnel=culvert`` (or
``yes``, ``building_passage``). The surface flood model sees rivers as open channels: it fills them at
the start (``initial.river_fill``), makes them water in the land-use grids and opens any building drawn
over them. A culverted reach treated so puts river water on the street above it at t = 0 and cuts
holes in the buildings over it, so such reaches are left out of the twin's rivers, and the report
says which and how long.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np

from ingest._notes import warn
from ingest.graph_json import merged_values

__all__ = ["TUNNEL_COLUMNS", "drop_culverts"]

#: Columns that flag an underground reach (OpenStreetMap's ``tunnel``; a ``culvert`` flag column).
TUNNEL_COLUMNS = ("tunnel", "culvert")
_OPEN = frozenset({"", "no", "false", "0", "none", "nan"})


def _flags(value: Any) -> list[bool]:
    """Per value of a reach's tunnel flag, whether it says underground."""
    return [
        not (v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip().lower() in _OPEN)
        for v in merged_values(value)
    ]


def drop_culverts(gdf: gpd.GeoDataFrame, report: dict[str, Any], where: str) -> gpd.GeoDataFrame:
    """``gdf`` without the reaches whose every part is underground.

    Reaches of which only some parts may be (an OSMnx edge merged from several ways: OSMnx keeps the
    tag values present, so where the culvert lies along it is not known) stay, counted under
    ``partly_culverted`` with a warning.

    Parameters
    ----------
    gdf
        The rivers, in the twin's CRS.
    report
        The rivers' ingest report: ``culverts_dropped`` (features, length_m, column) and
        ``partly_culverted`` go there, with a warning.
    where
        The file, for the warning.
    """
    lower = {str(c).lower(): c for c in gdf.columns if c != gdf.geometry.name}
    column = next((lower[c] for c in TUNNEL_COLUMNS if c in lower), None)
    if column is None or not len(gdf):
        return gdf
    flags = gdf[column].map(_flags)
    # OSMnx merges the ways of a reach and keeps only the tag values present, so a merged reach
    # flagged "culvert" may be open along most of its length: only a reach of one way is dropped
    merged = gdf[lower["osmid"]].map(lambda v: len(merged_values(v)) > 1).to_numpy(bool) if "osmid" in lower else False
    flagged = flags.map(any).to_numpy(bool)
    underground = flags.map(all).to_numpy(bool) & ~merged
    partly = flagged & ~underground
    if partly.any():
        names = sorted({str(merged_values(v)[0]) for v in gdf.loc[partly, lower["name"]]} if "name" in lower else set())
        report["partly_culverted"] = {"features": int(partly.sum()), "names": names}
        warn(
            report,
            "partly_culverted",
            f"{where}: {int(partly.sum())} river reach(es) ({', '.join(names) or 'unnamed'}) are flagged {column} = "
            "culvert/tunnel along only part of their length, or merged from several ways of which some are; "
            "they are kept as open channels. Where a culvert lies under a street, the initial river fill "
            "puts water on that street: split or drop those reaches in the file, or set initial.river_fill = 0.",
            stacklevel=4,
        )
    if not underground.any():
        return gdf
    length = float(gdf.geometry[underground].length.sum())
    report["culverts_dropped"] = {
        "features": int(underground.sum()),
        "length_m": round(length, 1),
        "column": str(column),
    }
    warn(
        report,
        "culverts",
        f"{where}: {int(underground.sum())} river reach(es) ({length:,.0f} m) run underground ({column} = culvert, "
        "tunnel); they are left out of the surface rivers (no channel, no initial fill, buildings over them "
        "stay solid). Give them as a sewer network ([drainage] inp) to route their water.",
        stacklevel=4,
    )
    return gpd.GeoDataFrame(gdf.loc[~underground].reset_index(drop=True), crs=gdf.crs)
