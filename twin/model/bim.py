"""IFC buildings merged into a twin: each replaces the GIS footprints it stands on, with provenance."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ingest.ifc import MAX_SPAN_M, IfcBuildings, IfcImportWarning, read_ifc_many
from ingest.vector import zonal_stat
from twin.errors import GeoreferencingError, InputDataError
from twin.model.twin import LAYERS, Twin

__all__ = ["add_ifc", "merge_buildings", "merge_spaces", "MergeReport"]

# An IFC building whose base is further than this [m] from the terrain under it is reported: its
# height reference (OrthogonalHeight, RefElevation, origin H) is probably off.
_BASE_MISMATCH_M = 5.0


@dataclass
class MergeReport:
    """What :func:`add_ifc` did.

    Attributes
    ----------
    added
        Ids of the IFC buildings now in the twin.
    replaced
        IFC id to the ids of the buildings it replaced (GIS footprints; for a re-import, those its earlier
        import had replaced).
    reimported
        Ids of IFC buildings that replaced an earlier import of themselves.
    warnings
        Everything the reads and the merge assumed or corrected, each prefixed with its file.
    files
        Per file: ``file``, ``buildings``, ``seconds``, ``cached``, ``kernel``, ``georef_method``,
        ``georef_approximate``.
    """

    added: list[str] = field(default_factory=list)
    replaced: dict[str, list[str]] = field(default_factory=dict)
    reimported: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def replaced_ids(self) -> list[str]:
        """Every replaced id, once, sorted."""
        return sorted({r for ids in self.replaced.values() for r in ids})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what goes into ``twin.meta['ifc_imports']``)."""
        return {
            "added": list(self.added),
            "replaced": {k: list(v) for k, v in self.replaced.items()},
            "reimported": list(self.reimported),
            "warnings": list(self.warnings),
            "files": [dict(f) for f in self.files],
        }


def add_ifc(
    twin: Twin,
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    overlap: float = 0.5,
    workers: int = 2,
    warn: bool = True,
    **read_kwargs: Any,
) -> MergeReport:
    """Read IFC files and merge their buildings into ``twin.buildings``.

    Each IFC building replaces every other building whose footprint it covers by at least ``overlap``
    (intersection area over that footprint's area) and records their ids in ``replaces``. Setting
    ``twin.buildings`` drops the derived grids, so the IFC buildings are burned into the terrain like
    any other and saved with the twin, with the meshes of their walls, slabs and roofs (``twin.meshes``,
    for LoD2 export). Re-importing a file replaces its earlier import and keeps the ids
    that import had replaced. The buildings' rooms (IfcSpaces) go to ``twin.spaces``.

    Parameters
    ----------
    twin
        The twin to change.
    paths
        One IFC file or several (read in parallel, ``workers`` at a time).
    overlap
        Fraction of a GIS footprint an IFC building must cover to replace it, in (0, 1].
    workers
        Files read at once.
    warn
        Emit each read's warnings as an :class:`ingest.ifc.IfcImportWarning` (they are in the report
        either way; the CLI prints the report's and says False).
    **read_kwargs
        Passed to :func:`ingest.ifc.read_ifc_many`: ``origin``, ``rotation``, ``source_crs``, ``kernel``,
        ``holes``, ``spaces``, ``cache``, ``cache_dir``, ``timeout``, ``on_error``, ``progress``.

    Returns
    -------
    MergeReport
        Also appended to ``twin.meta["ifc_imports"]``.

    Raises
    ------
    GeoreferencingError
        A building lands wholly outside the twin's grid (the twin is left unchanged).
    InputDataError
        A file cannot be read (see :func:`ingest.ifc.read_ifc`), or a building is wider than
        :data:`ingest.ifc.MAX_SPAN_M` (the twin is left unchanged).
    """
    if not 0.0 < float(overlap) <= 1.0:
        raise ValueError(f"overlap={overlap!r} must be a fraction in (0, 1], e.g. 0.5.")
    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore", IfcImportWarning)
        results = [r for r in read_ifc_many(files, twin.crs, workers=workers, **read_kwargs) if r is not None]
    merged, report = merge_buildings(twin, results, overlap=overlap)
    spaces = merge_spaces(twin, results, merged)
    twin.buildings = merged
    twin.spaces = spaces
    # a re-import's mesh replaces the earlier one; meshes of buildings no longer there are not saved
    twin.meshes = {**twin.meshes, **{bid: m for r in results for bid, m in r.meshes.items()}}
    twin.meta.setdefault("ifc_imports", []).append(report.to_dict())
    return report


def merge_buildings(
    twin: Twin, results: list[IfcBuildings], *, overlap: float = 0.5
) -> tuple[gpd.GeoDataFrame, MergeReport]:
    """The twin's buildings with the IFC buildings of ``results`` merged in (the twin is not changed).

    See :func:`add_ifc` for the rules; this is its pure part.
    """
    report = MergeReport()
    new = [r.buildings for r in results if len(r.buildings)]
    for r in results:
        report.warnings += [f"{r.file.name}: {w}" for w in r.warnings]
        report.files.append(
            {
                "file": str(r.file),
                "buildings": int(len(r.buildings)),
                "seconds": round(r.seconds, 3),
                "cached": bool(r.cached),
                "kernel": r.kernel,
                "georef_method": r.georef.method,
                "georef_approximate": bool(r.georef.approximate),
            }
        )
    existing = twin.buildings
    if existing is None:
        existing = gpd.GeoDataFrame(
            {c: pd.Series(dtype=object) for c in LAYERS["buildings"]},
            geometry=gpd.GeoSeries([], crs=twin.crs),
            crs=twin.crs,
        )
    if not new:
        return existing, report
    ifc = pd.concat(new, ignore_index=True)
    ifc = gpd.GeoDataFrame(ifc, geometry="geometry", crs=twin.crs)
    _check_inside(twin, ifc)
    ifc = ifc.drop_duplicates("id", keep="last").reset_index(drop=True)

    drop = np.zeros(len(existing), dtype=bool)
    replaces = []
    areas = existing.geometry.area.to_numpy()
    same_id = existing["id"].astype(str).to_numpy()
    earlier = (
        existing["replaces"].fillna("").astype(str).to_numpy()
        if "replaces" in existing.columns
        else np.full(len(existing), "", dtype=object)
    )
    for geom, bid, file in zip(ifc.geometry, ifc["id"], ifc["file"]):
        hits = existing.sindex.query(geom, predicate="intersects") if len(existing) else np.array([], int)
        covered = [
            j
            for j in hits
            if areas[j] > 0
            and shapely.area(shapely.intersection(existing.geometry.iloc[j], geom)) / areas[j] >= overlap
        ]
        again = [int(j) for j in np.nonzero(same_id == bid)[0]]
        covered += [j for j in again if j not in covered]
        drop[covered] = True
        # A re-import inherits what the earlier import had replaced: those footprints are gone from
        # the twin, and their ids are the only record of them.
        kept = [r for j in again for r in earlier[j].split(",") if r]
        others = list(dict.fromkeys([*kept, *(str(same_id[j]) for j in covered if same_id[j] != bid)]))
        replaces.append(",".join(others))
        report.replaced[bid] = others
        report.added.append(bid)
        if again:
            report.reimported.append(bid)
            also = f" and keeps what that replaced ({', '.join(kept)})" if kept else ""
            report.warnings.append(
                f"{Path(file).name}: building {bid} was re-imported; it replaces its earlier import{also}."
            )
    ifc["replaces"] = replaces
    report.warnings += _base_warnings(twin, ifc)
    kept = existing.loc[~drop]
    if "replaces" not in kept.columns:
        kept = kept.assign(replaces="")
    # Concatenating an empty frame would turn the IFC columns' dtypes into object.
    merged = pd.concat([kept, ifc], ignore_index=True) if len(kept) else ifc
    merged = gpd.GeoDataFrame(merged, geometry="geometry", crs=twin.crs)
    return _fill_plain(merged), report


def merge_spaces(twin: Twin, results: list[IfcBuildings], buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """The twin's spaces with those of ``results`` in; spaces of buildings no longer in ``buildings`` go."""
    frames = [r.spaces for r in results if len(r.spaces)]
    old = twin.spaces
    if old is not None and len(old):
        new_ids = set().union(*(set(r.buildings["id"]) for r in results))
        old = old[old["building_id"].isin(set(buildings["id"])) & ~old["building_id"].isin(new_ids)]
        frames.insert(0, old)
    if not frames:
        return old
    merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=twin.crs)


def _check_inside(twin: Twin, ifc: gpd.GeoDataFrame) -> None:
    """Every IFC building is of a building's size and lands on the twin's grid; else nothing is added."""
    b = ifc.geometry.bounds
    span = np.maximum(b["maxx"] - b["minx"], b["maxy"] - b["miny"]).to_numpy()
    if (~(span <= MAX_SPAN_M)).any():
        row = ifc.iloc[int(np.argmax(np.nan_to_num(span, nan=np.inf)))]
        raise InputDataError(
            f"IFC building {row['id']} from {row['file']} is {np.nanmax(span) / 1000:.3g} km across; no building "
            f"is wider than {MAX_SPAN_M / 1000:g} km. Its elements or its length unit are wrong: check it in an IFC "
            "viewer. Nothing was added."
        )
    grid = shapely.box(*twin.bounds)
    outside = ~ifc.geometry.intersects(grid)
    if outside.any():
        row = ifc.loc[outside].iloc[0]
        c = row.geometry.centroid
        dist = grid.distance(c)
        raise GeoreferencingError(
            f"IFC building {row['id']} from {row['file']} lands at ({c.x:.1f}, {c.y:.1f}) in {twin.crs.to_string()}, "
            f"{dist / 1000:.1f} km outside the twin's grid, placed by {row['georef_method']}"
            f"{' (approximate)' if row['georef_approximate'] else ''}. Its georeferencing is wrong or for "
            "another place: give origin=(E, N[, H]) and rotation (CLI: --ifc-origin E,N[,H] --ifc-rotation "
            "DEG --ifc-crs EPSG). Nothing was added."
        )


def _base_warnings(twin: Twin, ifc: gpd.GeoDataFrame) -> list[str]:
    ground = zonal_stat(ifc.geometry, twin.terrain, twin.transform, stat="mean")
    out = []
    for (bid, base, file), g in zip(ifc[["id", "base", "file"]].itertuples(index=False), ground):
        if np.isfinite(g) and abs(base - g) > _BASE_MISMATCH_M:
            out.append(
                f"{Path(file).name}: building {bid} has its base at {base:.2f} m but the terrain under it "
                f"averages {g:.2f} m; its height reference (OrthogonalHeight, RefElevation or the H of "
                "origin) may be off, or its lowest storey is a basement."
            )
    return out


def _fill_plain(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """GeoPackage columns hold one type: fill the gaps that concatenation left in text and flag columns."""
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        values = gdf[col]
        if values.dtype == object and values.isna().any():
            present = values.dropna()
            if len(present) and present.map(lambda v: isinstance(v, (bool, np.bool_))).all():
                continue  # a flag: leave missing as missing (GIS rows have no IFC georeferencing)
            if len(present) == 0 or present.map(lambda v: isinstance(v, str)).all():
                gdf[col] = values.fillna("")
    return gdf
