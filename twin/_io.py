"""Atomic writing of files and folders: a crash never leaves a half-written output that loads.

:func:`atomic_file` is :func:`ingest._atomic.atomic_file`, re-exported (one implementation for both layers).

Every folder cimtwin writes carries a marker, ``cimtwin.json`` (its kind and the SHA-256 of every
file), so that an output folder is replaced only when cimtwin wrote it (:func:`check_out`), a
result is checked when read (:func:`verify_dir`) and a save cut short is undone (:func:`recover_dir`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ingest._atomic import atomic_file
from twin.errors import InputDataError


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, kind: str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on success it takes ``path``'s place.

    ``path`` is checked with :func:`check_out` first (and again just before it is replaced, since a
    long run may have passed in between). On success the folder gets its marker, ``cimtwin.json``,
    with ``kind`` and the SHA-256 of every file. An existing folder at ``path`` is then renamed aside
    and removed only after the new one is in place, so at every instant either the old or the new
    complete folder carries the name (``recover_dir`` puts the old one back after a crash between
    the two renames).
    """
    path = Path(path)
    check_out(path, kind, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_debris(path)
    # the pid in the name tells a later run whether the writer is still alive (see _stale_tmp)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        write_marker(tmp, kind)
        _fsync_tree(tmp)
        old = None
        if path.exists():
            _recheck(path, kind, overwrite, tmp)
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _recheck(path: Path, kind: str, overwrite: bool, tmp: Path) -> None:
    """:func:`check_out` again once the work is done; if someone put files into ``path`` meanwhile, the
    new folder is kept under a visible name rather than lost."""
    try:
        check_out(path, kind, overwrite=overwrite)
    except InputDataError as exc:
        kept = path.parent / f"{path.name}.new-{uuid.uuid4().hex[:8]}"
        os.replace(tmp, kept)
        raise InputDataError(f"{exc} What was just written is kept in {kept}.") from None


# ------------------------------------------------------------------------------- markers and checks

#: The marker file of every folder cimtwin writes: who wrote it, what kind of folder it is, and the
#: SHA-256 of every file in it.
MARKER = "cimtwin.json"

#: Folder kinds and how messages name them.
KINDS = {
    "twin": "a twin",
    "flood": "a flood result",
    "river": "a river-lake result",
    "water": "a water result",
    "terrain": "a terrain analysis",
    "compare": "a comparison",
    "ensemble": "an ensemble",
    "sample-city": "a sample city",
    "sample-ifc": "the IFC models of a sample city",
    "forecast": "a live twin's forecasts",
    "forecast-cycle": "a forecast cycle",
    "export": "a CIM export (3D Tiles, CityJSON, glTF)",
}

# Kinds written file by file into an existing folder: nothing in them is ever deleted.
_IN_PLACE = {"ensemble", "sample-city", "forecast"}
# Written after the folder itself (an extra whose failure does not cost the result).
_EXTRAS = {"scene.html", "water.png"}
# Files operating systems drop into folders by themselves.
_OS_JUNK = {".DS_Store", "Thumbs.db", "desktop.ini"}

# Folders written before the marker existed: their kind, the files that tell it apart (in order of
# precedence), and the names such a folder can hold (what those versions wrote; ``None``: a twin, whose
# twin.json lists its files, or a kind written in place). A file of any other name is someone else's.
_TERRAIN_NAMES = (
    "filled_dem.tif",
    "flow_direction.tif",
    "accumulation.tif",
    "watersheds.tif",
    "hand.tif",
    "weighted_accumulation.tif",
    "dinf_angle.tif",
    "dinf_accumulation.tif",
    "pour_watersheds.tif",
    "streams.gpkg",
    "pour_points.gpkg",
    "summary.json",
    "scenario.json",
)
_LEGACY: tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None], ...] = (
    ("twin", ("twin.json",), None),
    (
        "flood",
        ("summary.json", "scenario.json", "max_depth.tif"),
        (
            "max_depth.tif",
            "max_speed.tif",
            "arrival_time.tif",
            "duration.tif",
            "hazard.tif",
            "hazard_class.tif",
            "depth.nc",
            "gauges.csv",
            "buildings.gpkg",
            "summary.json",
            "scenario.json",
            "scene.html",
            # written since the roads (#18): a folder of this version with its marker lost is still ours
            "roads.gpkg",
            *(
                f"{name}.qml"
                for name in ("max_depth", "max_speed", "arrival_time", "duration", "hazard", "hazard_class")
            ),
        ),
    ),
    (
        "river",
        ("summary.json", "scenario.json", "links.nc"),
        ("network.gpkg", "links.nc", "lakes.nc", "gauges.csv", "summary.json", "scenario.json"),
    ),
    (
        "water",
        ("summary.json", "scenario.json", "allocation.nc"),
        ("allocation.nc", "shortages.csv", "network.gpkg", "summary.json", "scenario.json"),
    ),
    ("terrain", ("filled_dem.tif", "flow_direction.tif"), _TERRAIN_NAMES),
    (
        "compare",
        ("comparison.json", "max_depth_diff.tif"),
        (
            "max_depth_diff.tif",
            "arrival_time_diff.tif",
            "hazard_class_change.tif",
            "buildings.gpkg",
            "comparison.json",
            "scene.html",
        ),
    ),
    ("ensemble", ("ensemble.json",), None),
    ("sample-city", ("dem.tif", "city.gpkg", "flood.toml", "ifc/placements.json"), None),
    ("sample-ifc", ("placements.json",), ("*.ifc", "placements.json")),
)


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_marker(folder: str | os.PathLike, kind: str, files: Iterable[str | os.PathLike] | None = None) -> Path:
    """Write ``folder/cimtwin.json``: ``kind``, the cimtwin version and the SHA-256 of every file in
    ``folder`` (or of ``files`` only, for a folder written file by file that may hold others)."""
    import twin as _pkg

    folder = Path(folder)
    chosen = sorted(folder.rglob("*")) if files is None else sorted(Path(f) for f in files)
    files = {p.relative_to(folder).as_posix(): sha256(p) for p in chosen if p.is_file() and p != folder / MARKER}
    return write_json(
        folder / MARKER, {"written_by": "cimtwin", "version": _pkg.__version__, "kind": kind, "files": files}
    )


def _read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def folder_kind(path: str | os.PathLike) -> str | None:
    """The kind of folder cimtwin wrote at ``path`` (see :data:`KINDS`), or ``None`` if it wrote none there.

    Folders written before the marker existed are recognised by their manifest and main files:
    ``twin.json``; ``summary.json`` and ``scenario.json`` with ``max_depth.tif``, ``links.nc`` or
    ``allocation.nc``; ``comparison.json``; ``ensemble.json``; a terrain analysis' rasters; a sample
    city's files.
    """
    path = Path(path)
    marker = _read_json_file(path / MARKER)
    if isinstance(marker, dict) and marker.get("written_by") == "cimtwin" and marker.get("kind") in KINDS:
        return marker["kind"]
    for kind, signature, _ in _LEGACY:
        if all((path / n).is_file() for n in signature):
            return kind
    return None


def _foreign_files(path: Path) -> list[str]:
    """Files in a cimtwin folder that it did not write (someone else put them there).

    What cimtwin wrote is what ``cimtwin.json`` (or a twin's ``twin.json``) lists; in a folder written
    before the marker existed, the names that version of cimtwin wrote.
    """
    listed, names = None, None
    for manifest_name in (MARKER, "twin.json"):
        manifest = _read_json_file(path / manifest_name)
        if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict):
            listed = set(manifest["files"]) | {manifest_name, MARKER}
            break
    if listed is None:
        kind = folder_kind(path)
        names = next((n for k, _, n in _LEGACY if k == kind), None)
        if names is None:
            return []
    found = (p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and p.name not in _OS_JUNK)
    if listed is not None:
        return sorted(rel for rel in found if rel not in listed | _EXTRAS)
    return sorted(rel for rel in found if not any(fnmatch.fnmatchcase(rel, n) for n in names))


def check_out(path: str | os.PathLike, kind: str, *, inputs: Iterable[Any] = (), overwrite: bool = False) -> Path:
    """Refuse, before any work, an output folder whose replacement would lose anything.

    cimtwin replaces the folder it writes as a whole, so ``path`` must be new, an empty folder, or a
    folder cimtwin wrote (its marker or manifest says so) holding no file cimtwin did not write.

    Parameters
    ----------
    path
        The output folder.
    kind
        What will be written there (a key of :data:`KINDS`); a cimtwin folder of another kind is
        replaced only with ``overwrite``.
    inputs
        Files and folders the same command reads (``file::layer`` allowed, ``None`` skipped): the
        output may not be one of them, contain one or lie inside one, even with ``overwrite``.
    overwrite
        Also replace a cimtwin folder of another kind. Never a file, a folder holding files
        cimtwin did not write, or the folders refused whatever the flag.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputDataError
        Naming the folder, what is in the way and what to do instead.
    """
    given = Path(path).expanduser()
    if given.is_symlink():
        raise InputDataError(f"The output folder {path} is a link; give the folder itself, or a new name.")
    out = given.resolve()
    cwd = Path.cwd().resolve()
    try:
        home = Path.home().resolve()
    except RuntimeError:  # no home folder known (a service account)
        home = cwd
    special = {
        **{p: "a folder holding your home folder" for p in home.parents},
        **{p: "a folder holding the current folder" for p in cwd.parents},
        home: "your home folder",
        cwd: "the current folder",
        Path(out.anchor): "the root folder",
    }
    if out in special:
        raise InputDataError(
            f"The output folder {path} is {special[out]}; cimtwin replaces the folder it writes "
            "as a whole, so give a new folder's name, e.g. results/run1."
        )
    for item in inputs:
        if item is None:
            continue
        source = Path(str(item).split("::")[0]).expanduser().resolve()
        if out == source or out in source.parents or source in out.parents:
            how = "is" if out == source else "contains" if out in source.parents else "lies inside"
            raise InputDataError(
                f"The output folder {path} {how} {item}, an input of the same command; writing "
                "it would replace what is being read. Give a new folder's name for the output."
            )
    if not given.exists():
        return Path(path)
    if not given.is_dir():
        raise InputDataError(
            f"The output folder {path} is a file; cimtwin never replaces a file with a folder. "
            "Give a new folder's name, or move the file away."
        )
    if not any(p.name not in _OS_JUNK for p in given.iterdir()):
        return Path(path)
    found = folder_kind(given)
    if found is None:
        raise InputDataError(
            f"The output folder {path} holds files cimtwin did not write (no {MARKER}); cimtwin "
            "replaces the folder it writes as a whole and never deletes what it did not write. "
            "Give a new or empty folder."
        )
    if found != kind and not overwrite:
        raise InputDataError(
            f"The output folder {path} holds {KINDS[found]}, not {KINDS[kind]}; give another "
            "folder, or pass --overwrite (overwrite=True) to replace it."
        )
    foreign = [] if kind in _IN_PLACE and found == kind else _foreign_files(given)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise InputDataError(
            f"The output folder {path} holds {foreign[0]}{more}, which cimtwin did not write; "
            "replacing the folder would delete it, so cimtwin never does (not even with "
            "--overwrite). Move the file(s) away or give another folder."
        )
    return Path(path)


def verify_dir(path: str | os.PathLike) -> dict[str, Any] | None:
    """Check every file the folder's ``cimtwin.json`` lists against its SHA-256.

    Returns the marker, or ``None`` for a folder written before markers existed (nothing to check).

    Raises
    ------
    InputDataError
        A listed file is missing or differs, naming it.
    """
    path = Path(path)
    marker = _read_json_file(path / MARKER)
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict):
        if (path / MARKER).exists():
            raise InputDataError(f"{path / MARKER} is not readable; the folder is damaged. Write it again.")
        return None
    for rel, digest in marker["files"].items():
        f = path / rel
        if not f.is_file() or sha256(f) != digest:
            raise InputDataError(
                f"{f} is missing or differs from when cimtwin wrote it (its SHA-256 is in "
                f"{MARKER}); the folder is damaged or was edited. Write it again, or restore "
                "a backup."
            )
    return marker


def _verifies(path: Path) -> bool:
    """Whether a folder's manifest lists its files and every one matches its checksum."""
    for name in (MARKER, "twin.json"):
        manifest = _read_json_file(path / name)
        if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict):
            return all(
                (path / rel).is_file() and sha256(path / rel) == digest for rel, digest in manifest["files"].items()
            )
    return False


def recover_dir(path: str | os.PathLike) -> bool:
    """Put back the previous folder if a crash happened between ``atomic_dir``'s two renames.

    Of the copies kept aside (``.<name>.old-*``) the newest whose checksums all verify is put back; a
    half-deleted copy is never chosen. Leftovers of earlier saves (copies aside once the folder is
    back, temporary folders of writers that died) are removed.

    Returns
    -------
    bool
        Whether a copy was put back.
    """
    path = Path(path)
    restored = False
    if not path.exists() and not path.is_symlink():
        good = [p for p in copies_aside(path) if _verifies(p)]
        if good:
            os.replace(max(good, key=lambda p: p.stat().st_mtime), path)
            restored = True
    _clean_debris(path)
    return restored


def copies_aside(path: str | os.PathLike) -> list[Path]:
    """The copies an interrupted save left beside ``path`` (``.<name>.old-*``)."""
    return sorted(p for p in _siblings(Path(path), "old") if p.is_dir())


def _siblings(path: Path, what: str) -> list[Path]:
    prefix = f".{path.name}.{what}-"
    try:
        return [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return []


def _clean_debris(path: Path) -> None:
    """Remove temporary folders of dead writers, and copies kept aside once ``path`` is in place."""
    for p in _siblings(path, "tmp"):
        if _stale_tmp(p):
            shutil.rmtree(p, ignore_errors=True)
    if path.exists():
        for p in _siblings(path, "old"):
            shutil.rmtree(p, ignore_errors=True)


def _stale_tmp(tmp: Path) -> bool:
    """Whether the process that made ``.<name>.tmp-<pid>-<hex>`` is gone (names without a pid: old, so gone)."""
    pid_text, sep, _ = tmp.name.rsplit(".tmp-", 1)[-1].partition("-")
    if not sep or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def write_extra(folder: str | os.PathLike, name: str, write: Callable[[Path], Any], hint: str) -> Path | None:
    """Write an optional extra file (a scene) into a folder already saved; a failure is only a warning.

    ``write(path)`` writes the file; ``hint`` says how to make it later.
    """
    target = Path(folder) / name
    try:
        write(target)
    except Exception as exc:  # noqa: BLE001 -- an extra must never cost the result saved before it
        warnings.warn(
            f"{folder} is saved, but {name} could not be written ({type(exc).__name__}: {exc}); {hint}", stacklevel=3
        )
        return None
    return target


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically (sorted keys, NaN as null-free floats are rejected by design)."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=False) + "\n")
    return Path(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_geotiff(
    path: str | os.PathLike,
    array: np.ndarray,
    transform: Any,
    crs: Any,
    nodata: float | None = None,
    *,
    compress: str = "deflate",
) -> Path:
    """Write a 2D (or band-first 3D) array as a tiled, compressed GeoTIFF, atomically."""
    import rasterio

    arr = np.asarray(array)
    bands = arr[None] if arr.ndim == 2 else arr
    profile = {
        "driver": "GTiff",
        "height": bands.shape[1],
        "width": bands.shape[2],
        "count": bands.shape[0],
        "dtype": bands.dtype.name,
        "crs": crs.to_wkt() if hasattr(crs, "to_wkt") else crs,
        "transform": transform,
        "nodata": nodata,
        "compress": compress,
    }
    if bands.shape[1] >= 256 and bands.shape[2] >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if np.issubdtype(bands.dtype, np.floating):
        profile["predictor"] = 3 if bands.dtype.itemsize >= 4 else 1
    with (
        atomic_file(path, suffix=".tif") as tmp,
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(tmp, "w", **profile) as dst,
    ):
        dst.write(bands)
    return Path(path)
