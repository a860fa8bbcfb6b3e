"""BIM ingest: IFC building models read into footprints, heights and spaces in the twin's CRS.

Each file is read in a worker process (a geometry kernel that crashes takes only its worker down),
meshed with the fast kernel and checked against the default one, placed in the world by its own
georeferencing (or the user's), and cached by content so that a second read is instant.

>>> res = read_ifc("house.ifc", "EPSG:25832")             # doctest: +SKIP
>>> res.buildings[["id", "base", "height", "storeys"]]     # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings as _warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyproj

from ingest import _ifc_cache
from ingest._ifc_geom import DEFAULT_KERNEL, FAST_KERNEL, KERNELS
from ingest._ifc_georef import METHODS, Georef
from ingest._ifc_mesh import BuildingMesh
from ingest._ifc_outline import MAX_SPAN_M
from ingest._ifc_pool import WorkerDied, shared_pool
from ingest.crs import as_crs, require_projected
from ingest.errors import InputDataError, TwinError

__all__ = [
    "read_ifc",
    "read_ifc_many",
    "IfcBuildings",
    "BuildingMesh",
    "Georef",
    "IfcImportWarning",
    "KERNELS",
    "METHODS",
    "BUILDING_COLUMNS",
    "SPACE_COLUMNS",
    "MAX_SPAN_M",
]

#: Columns of :attr:`IfcBuildings.buildings` (plus ``geometry``).
BUILDING_COLUMNS = (
    "id",
    "ifc_guid",
    "name",
    "file",
    "source",
    "base",
    "height",
    "max_height",
    "tallest_element",
    "storeys",
    "storey_elevations",
    "roof_outline",
    "element_counts",
    "psets",
    "georef_method",
    "georef_approximate",
    "footprint_from",
)
#: Columns of :attr:`IfcBuildings.spaces` (plus ``geometry``); ``building_id`` is the building's ``id``.
SPACE_COLUMNS = (
    "ifc_guid",
    "name",
    "long_name",
    "area",
    "building_id",
    "building_guid",
    "storey",
    "base",
    "height",
    "file",
)


class IfcImportWarning(UserWarning):
    """Something about an IFC file was assumed, corrected or left out; the message says what."""


@dataclass
class IfcBuildings:
    """What :func:`read_ifc` found in one file.

    Attributes
    ----------
    buildings
        One row per IfcBuilding (columns :data:`BUILDING_COLUMNS`), footprints in the target CRS.
    spaces
        One row per IfcSpace with geometry (columns :data:`SPACE_COLUMNS`).
    warnings
        What was assumed, corrected or left out, in plain words.
    georef
        How the file was placed.
    file
        The file read.
    kernel
        The geometry kernel(s) that meshed it, e.g. ``"manifold"`` or ``"manifold+opencascade"``.
    products
        Number of elements meshed (spaces included).
    seconds
        Wall time of the read itself (0 when served from the cache: see ``cached``).
    cached
        True when the result came from the cache.
    meshes
        Building id to the mesh of its envelope (walls, slabs, roofs) in the target CRS, for LoD2 export.
    """

    buildings: gpd.GeoDataFrame
    spaces: gpd.GeoDataFrame
    warnings: list[str]
    georef: Georef
    file: Path
    kernel: str
    products: int
    seconds: float
    cached: bool = False
    meshes: dict[str, BuildingMesh] = field(default_factory=dict, repr=False)


def read_ifc(
    path: str | os.PathLike,
    crs: Any,
    *,
    origin: Sequence[float] | None = None,
    rotation: float | None = None,
    source_crs: Any = None,
    kernel: str = "auto",
    holes: bool = True,
    spaces: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> IfcBuildings:
    """Read the buildings of an IFC file into footprints, heights and spaces in ``crs``.

    Parameters
    ----------
    path
        An IFC2X3, IFC4 or IFC4X3 file (STEP text).
    crs
        The target CRS (projected, metres), usually ``twin.crs``.
    origin
        ``(E, N)`` or ``(E, N, H)``: where the model's origin goes, in ``source_crs`` (default ``crs``);
        overrides the file's own georeferencing. H [m] is the elevation of the model's z = 0.
    rotation
        With ``origin``: degrees counter-clockwise from the map's east axis to the model's x axis.
    source_crs
        With ``origin``: the CRS of ``origin``. Without: the CRS of the file's map coordinates, for
        files that do not name one pyproj recognises.
    kernel
        ``"auto"`` (the fast manifold kernel, with OpenCASCADE for elements it loses and for the whole
        file when it crashes), or one of ``"manifold"``, ``"opencascade"``, ``"cgal"``, ``"cgal-simple"``.
    holes
        Keep courtyards as holes in footprints (holes under 1 m2 are always filled).
    spaces
        Also mesh the IfcSpaces for the ``spaces`` table (a little slower).
    cache, cache_dir
        Reuse an earlier read of the same bytes with the same options; the cache lives in
        ``cache_dir`` (default ``~/.cache/cimtwin/ifc``, or ``$CIMTWIN_CACHE_DIR/ifc``).
    timeout
        Seconds one attempt at meshing may take before its worker is stopped (default: no limit).

    Returns
    -------
    IfcBuildings

    Raises
    ------
    GeoreferencingError
        The file has no georeferencing and no ``origin`` was given, or its CRS cannot be identified.
    InputDataError
        The file is missing, truncated, corrupt, of an unsupported schema, or has no geometry.
    CRSError
        ``crs`` is not a projected CRS in metres.

    Examples
    --------
    >>> res = read_ifc("AC20-FZK-Haus.ifc", "EPSG:25832")          # doctest: +SKIP
    >>> res.georef.method, res.georef.approximate                   # doctest: +SKIP
    ('IfcSite', True)
    >>> read_ifc("IfcOpenHouse.ifc", "EPSG:4547", origin=(423500, 2558600, 5.0), rotation=30)  # doctest: +SKIP
    """
    return read_ifc_many(
        [path],
        crs,
        workers=1,
        origin=origin,
        rotation=rotation,
        source_crs=source_crs,
        kernel=kernel,
        holes=holes,
        spaces=spaces,
        cache=cache,
        cache_dir=cache_dir,
        timeout=timeout,
    )[0]


def read_ifc_many(
    paths: Iterable[str | os.PathLike],
    crs: Any,
    *,
    workers: int = 2,
    on_error: str = "raise",
    progress: Callable[[str, Path], None] | None = None,
    origin: Sequence[float] | None = None,
    rotation: float | None = None,
    source_crs: Any = None,
    kernel: str = "auto",
    holes: bool = True,
    spaces: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> list[IfcBuildings | None]:
    """Read several IFC files, ``workers`` at a time in parallel processes.

    Parameters
    ----------
    paths
        The IFC files.
    crs
        The target CRS (projected, metres).
    workers
        Files read at once (each in its own process); 2 suits a two-core machine.
    on_error
        ``"raise"``: raise the first file's error (after every file has been tried); ``"skip"``: put
        None in its place and emit an :class:`IfcImportWarning`.
    progress
        Called as ``progress(event, path)`` with event ``"cached"``, ``"start"`` (the file was handed to
        a worker), ``"retry"`` (its worker died; it is read again with the default kernel), ``"done"``
        or ``"failed"``.
    origin, rotation, source_crs, kernel, holes, spaces, cache, cache_dir, timeout
        As for :func:`read_ifc` (the same for every file).

    Returns
    -------
    list
        One :class:`IfcBuildings` per path, in order (None for a skipped failure).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error={on_error!r} must be 'raise' or 'skip'.")
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r} is not one of {KERNELS}.")
    target = require_projected(crs)
    files = [Path(p) for p in paths]
    options = {
        "origin": None if origin is None else [float(v) for v in origin],
        "rotation": None if rotation is None else float(rotation),
        "source_crs": None if source_crs is None else as_crs(source_crs, what="source_crs").to_wkt(),
        "kernel": kernel,
        "holes": bool(holes),
        "spaces": bool(spaces),
        "crs": target.to_wkt(),
    }
    folder = Path(cache_dir) if cache_dir is not None else _ifc_cache.default_dir()
    why = _ifc_cache.unsafe(folder) if cache else ""
    if why:
        _warnings.warn(f"the IFC cache folder {folder} was not used: {why}.", IfcImportWarning, stacklevel=3)
        cache = False
    notify = progress or (lambda event, path: None)
    results: list[IfcBuildings | None] = [None] * len(files)
    raw: dict[int, dict[str, Any]] = {}
    errors: dict[int, Exception] = {}
    keys: dict[int, str] = {}
    todo = []
    for i, file in enumerate(files):
        if not file.is_file():
            errors[i] = InputDataError(f"IFC file {file} does not exist or is not a file; check the path.")
            continue
        if cache:
            keys[i] = _ifc_cache.key_for(file, options)
            hit = _ifc_cache.load(folder, keys[i])
            if hit is not None:
                try:
                    results[i] = replace(_to_result(file, hit, options["crs"]), cached=True, seconds=0.0)
                except (KeyError, TypeError, ValueError):
                    pass  # an entry this code cannot use is read again
                else:
                    notify("cached", file)
                    continue
        todo.append(i)
    if todo:
        _read_in_workers(files, todo, options, workers, timeout, raw, errors, notify)
    for i in todo:
        if i in raw:
            results[i] = _to_result(files[i], raw[i], options["crs"])
            if cache:
                _ifc_cache.store(folder, keys[i], {**raw[i], "georef": asdict(raw[i]["georef"])})
    for i, res in enumerate(results):
        if res is not None:
            for text in res.warnings:
                _warnings.warn(f"{files[i].name}: {text}", IfcImportWarning, stacklevel=3)
    if errors:
        if on_error == "raise":
            raise errors[min(errors)]
        for i in sorted(errors):
            _warnings.warn(f"{files[i].name} was skipped: {errors[i]}", IfcImportWarning, stacklevel=3)
    return results


def _read_in_workers(
    files: list[Path],
    todo: list[int],
    options: dict[str, Any],
    workers: int,
    timeout: float | None,
    raw: dict,
    errors: dict,
    notify: Callable,
) -> None:
    """Read files in isolated workers; a file whose worker dies is read again with the default kernel."""
    n_workers = max(1, min(int(workers), len(todo)))
    # One iterator thread per worker: on a shared two-core machine more threads only contend.
    threads = 1
    pool, lock = shared_pool(n_workers, preload=("ingest._ifc_read", "ifcopenshell.geom"))
    with lock:
        try:
            _run(pool, files, todo, options, threads, timeout, raw, errors, notify)
        finally:
            pool.reset()  # a no-op after a complete run; after an interrupt no stale job stays queued


def _run(
    pool: Any,
    files: list[Path],
    todo: list[int],
    options: dict[str, Any],
    threads: int,
    timeout: float | None,
    raw: dict,
    errors: dict,
    notify: Callable,
) -> None:
    """Submit every file, then collect; a fast kernel's crash queues the file again with the default one."""
    notes: dict[int, str] = {}
    for i in todo:
        pool.submit(
            (i, options["kernel"]), "ingest._ifc_read:read_file", str(files[i]), options, threads, timeout=timeout
        )
    for (i, kernel), ok, value in pool.as_completed(lambda key: notify("start", files[key[0]])):
        if ok:
            raw[i] = {**value, "warnings": [*([notes[i]] if i in notes else []), *value["warnings"]]}
            notify("done", files[i])
        elif isinstance(value, WorkerDied) and kernel != DEFAULT_KERNEL:
            used = FAST_KERNEL if kernel == "auto" else kernel
            notes[i] = (
                f"the {used!r} geometry kernel's worker process died on this file ({value}); it was "
                f"read again with the {DEFAULT_KERNEL!r} kernel"
            )
            notify("retry", files[i])
            pool.submit(
                (i, DEFAULT_KERNEL),
                "ingest._ifc_read:read_file",
                str(files[i]),
                {**options, "kernel": DEFAULT_KERNEL},
                threads,
                timeout=timeout,
            )
        else:
            if isinstance(value, WorkerDied):
                also = " as the fast kernel's had before it" if i in notes else ""
                value = InputDataError(
                    f"{files[i].name}: the {kernel!r} geometry kernel's worker process died on this file "
                    f"({value}){also}. Check the file in an IFC viewer, or split it."
                )
            elif not isinstance(value, TwinError):
                value = InputDataError(f"{files[i].name} could not be read: {value}")
            errors[i] = value
            notify("failed", files[i])


def _to_result(file: Path, data: dict[str, Any], crs_wkt: str) -> IfcBuildings:
    """The tables of one read (fresh from a worker, or from the cache with ``georef`` as a dict)."""
    crs = pyproj.CRS.from_wkt(crs_wkt)
    buildings = gpd.GeoDataFrame(data["rows"], columns=[*BUILDING_COLUMNS, "geometry"], geometry="geometry", crs=crs)
    spaces = gpd.GeoDataFrame(data["spaces"], columns=[*SPACE_COLUMNS, "geometry"], geometry="geometry", crs=crs)
    buildings = buildings.astype(
        {"base": float, "height": float, "max_height": float, "storeys": int, "georef_approximate": bool}
    )
    spaces = spaces.astype({"area": float, "base": float, "height": float})
    georef = data["georef"] if isinstance(data["georef"], Georef) else Georef(**data["georef"])
    meshes = {str(row["id"]): BuildingMesh.from_dict(m) for row, m in zip(data["rows"], data["meshes"], strict=True)}
    return IfcBuildings(
        buildings,
        spaces,
        list(data["warnings"]),
        georef,
        file,
        data["kernel"],
        int(data["products"]),
        float(data["seconds"]),
        meshes=meshes,
    )
