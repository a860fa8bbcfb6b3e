"""CIM exchange: a twin (or a flood result on it) out to 3D Tiles 1.1, CityJSON 2.0 and glTF.

>>> from twin.exchange import export
>>> export("city-twin", "3dtiles", "tiles-out")           # doctest: +SKIP
>>> export("flood-result", "cityjson", "cj-out")          # doctest: +SKIP

The CityJSON reader (``twin ingest --buildings city.city.json``) is :mod:`ingest.cityjson`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from twin import _io
from twin.errors import InputDataError

__all__ = ["export", "FORMATS", "WATER_MIN_DEPTH"]

#: Formats and the main file each writes.
FORMATS = {
    "3dtiles": "tileset.json",
    "cityjson": "city.city.json",
    "cityjsonseq": "city.city.jsonl",
    "gltf": "buildings.glb",
}

#: Cells shallower than this [m] are left out of the exported water surface.
WATER_MIN_DEPTH = 0.05

# Terrain vertices at most (the grid is strided to stay under it).
_TERRAIN_VERTICES = 2_000_000


def export(
    source: str | os.PathLike | Any,
    fmt: str,
    out: str | os.PathLike,
    *,
    twin: Any = None,
    overwrite: bool = False,
    terrain: bool = True,
    quantize: bool = True,
    compress: bool = True,
) -> dict[str, Any]:
    """Export a twin, or a flood result with its twin, to ``out``.

    Parameters
    ----------
    source
        A twin folder or :class:`~twin.model.twin.Twin`, or a flood result folder or
        :class:`~twin.sims.flood.run.FloodResult` (its buildings carry their exposure: ``max_depth``,
        ``arrival_time``, ``flooded``; 3D Tiles add the water surface). GIS buildings are LoD1 blocks;
        IFC buildings with a mesh in the twin (``twin.meshes``) are LoD2 shells (see :mod:`._lod2`).
    fmt
        ``"3dtiles"``, ``"cityjson"``, ``"cityjsonseq"`` or ``"gltf"`` (see :data:`FORMATS`).
    out
        The output folder (new, empty, or one cimtwin wrote; see :func:`twin._io.check_out`).
    twin
        The twin of a result folder when its summary's path has moved (a folder or a Twin).
    terrain
        3D Tiles: also write the terrain layer.
    quantize
        GLB positions as 16-bit integers where that keeps 1 cm (``KHR_mesh_quantization``).
    compress
        Buildings' and terrain's GLBs as Draco meshes (``KHR_draco_mesh_compression``, 1 cm); else
        ``quantize`` applies (the water surface, with its vertex colours, is always 16-bit).

    Returns
    -------
    dict
        What was written: format, buildings, files and bytes per layer, seconds; also ``export.json``
        in ``out``.

    Raises
    ------
    InputDataError
        Unknown format, a source that is neither a twin nor a flood result, nothing to export, or an
        output folder that may not be replaced.
    """
    if fmt not in FORMATS:
        raise InputDataError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    t0 = time.perf_counter()
    tw, result = _source(source, twin)
    buildings = result.buildings if result is not None and result.buildings is not None else tw.buildings
    report: dict[str, Any] = {"format": fmt, "crs": tw.crs.to_string()}
    if isinstance(source, (str, os.PathLike)):
        report["source"] = str(source)
    with _io.atomic_dir(out, "export", overwrite=overwrite) as tmp:
        report.update(_write(fmt, tmp, tw, result, buildings, terrain=terrain, quantize=quantize, compress=compress))
        if "source" in buildings.columns:  # how many could be LoD2 (report["buildings"]["lod2"]: how many are)
            report["ifc_buildings"] = int((buildings["source"].astype(str) == "ifc").sum())
        report["seconds"] = round(time.perf_counter() - t0, 2)
        _io.write_json(tmp / "export.json", report)
    return report


def _write(
    fmt: str, tmp: Path, tw: Any, result: Any, buildings: Any, *, terrain: bool, quantize: bool, compress: bool
) -> dict:
    from twin.exchange import cityjson, gltf, tiles3d

    meshes = getattr(tw, "meshes", None)  # the IFC buildings' LoD2 shells are made of these
    if fmt == "cityjson":
        return {"buildings": cityjson.write_cityjson(buildings, tmp / FORMATS[fmt], meshes=meshes)}
    if fmt == "cityjsonseq":
        return {"buildings": cityjson.write_cityjsonseq(buildings, tmp / FORMATS[fmt], meshes=meshes)}
    if fmt == "gltf":
        return {
            "buildings": gltf.write_glb(
                buildings, tmp / FORMATS[fmt], quantize=quantize, compress=compress, meshes=meshes
            )
        }
    out: dict[str, Any] = {
        "buildings": tiles3d.write_buildings(
            buildings, tmp / "buildings", quantize=quantize, compress=compress, meshes=meshes
        )
    }
    layers = ["buildings"]
    if terrain:
        step = max(1, int(np.ceil(np.sqrt(tw.terrain.size / _TERRAIN_VERTICES))))
        out["terrain"] = tiles3d.write_grid(
            tw.terrain, tw.transform, tw.crs, tmp / "terrain", step=step, compress=compress
        )
        out["terrain"]["step"] = step
        layers.append("terrain")
    if result is not None and getattr(result, "max_depth", None) is not None:
        ground = np.asarray(result.twin.terrain if result.twin is not None else tw.terrain, dtype=np.float64)
        water = _water(result.max_depth, ground, tw, tmp / "water")
        if water is not None:
            out["water"] = water
            layers.append("water")
        frames = []
        if getattr(result, "depth_frames", None) is not None:
            for t, frame in zip(result.frame_times, result.depth_frames):
                name = f"water_frames/{int(round(float(t)))}s"
                stats = _water(frame, ground, tw, tmp / name)
                if stats is not None:
                    frames.append({"time_s": float(t), "tileset": f"{name}/tileset.json", "bytes": stats["bytes"]})
        if frames:
            # one tileset per snapshot, beside the root (a viewer shows one at a time)
            _io.write_json(tmp / "water_frames" / "frames.json", frames)
            out["water_frames"] = len(frames)
    tiles3d.write_root(tmp, layers)
    return out


def _water(depth: np.ndarray, ground: np.ndarray, tw: Any, folder: Path) -> dict[str, Any] | None:
    """The water surface tileset of one depth grid (None when fewer than four cells are wet)."""
    from twin.exchange import tiles3d

    depth = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=0.0)
    wet = depth >= WATER_MIN_DEPTH
    if wet.sum() < 4:
        return None
    stats = tiles3d.write_grid(
        ground + depth,
        tw.transform,
        tw.crs,
        folder,
        wet=wet,
        colors=lambda r, c: _depth_colours(depth[r, c]),
        name="water",
        color=(1.0, 1.0, 1.0, 0.8),
    )
    stats["min_depth_m"] = WATER_MIN_DEPTH
    return stats


def _depth_colours(depth: np.ndarray) -> np.ndarray:
    """RGBA uint8 from light blue (shallow) to dark blue (2 m and more), a little transparent."""
    t = np.clip(depth / 2.0, 0.0, 1.0)[:, None]
    light, dark = np.array([150, 210, 255]), np.array([10, 40, 140])
    rgb = (light + (dark - light) * t).astype(np.uint8)
    return np.column_stack([rgb, np.full(len(t), 200, dtype=np.uint8)])


def _source(source: Any, twin: Any) -> tuple[Any, Any]:
    """The twin and the flood result (or None) to export."""
    from twin.model.twin import Twin
    from twin.sims.runs import load_result

    if isinstance(source, Twin):
        return source, None
    if hasattr(source, "max_depth") and hasattr(source, "buildings"):
        tw = source.twin if source.twin is not None else _twin(twin)
        if tw is None:
            raise InputDataError("This flood result has no twin attached; pass twin= (a Twin or its folder).")
        return tw, source
    path = Path(source)
    kind = _io.folder_kind(path)
    if kind == "twin":
        return Twin.load(path), None
    if kind == "flood":
        summary = json.loads((path / "summary.json").read_text())
        tw = _twin(twin) or (
            Twin.load(summary["twin"]) if summary.get("twin") and Path(summary["twin"]).is_dir() else None
        )
        if tw is None:
            raise InputDataError(f"The twin of {path} is not known or has moved; pass --twin TWIN_DIR (twin=).")
        result = load_result(path, twin=tw)
        return result.twin or tw, result
    what = _io.KINDS.get(kind, "no folder cimtwin wrote") if kind else "no folder cimtwin wrote"
    raise InputDataError(
        f"{path} holds {what}; give a twin folder (twin ingest) or a flood result folder (twin run) to export."
    )


def _twin(twin: Any) -> Any:
    from twin.model.twin import Twin

    if twin is None or isinstance(twin, Twin):
        return twin
    return Twin.load(twin)
