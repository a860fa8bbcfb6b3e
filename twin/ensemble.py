"""Flood ensembles on Dask distributed: many scenarios on one twin, exceedance maps, per-building probabilities.

The twin is scattered to every worker once; each member runs on a worker with
:func:`twin.flood.run`, which writes the member's result folder (atomically) under
``<out>/members/<k>`` and hands back only its summary. The client then reads the members'
``max_depth.tif`` and ``buildings.gpkg`` one at a time, in member order, to build the maps:
grids never travel through Dask, the client holds a few grids whatever the number of members,
the sums do not depend on completion order, and resumed members (complete folders from an
earlier, interrupted run) aggregate the same way as fresh ones. The result folders must
therefore be on storage that the client and the workers share (any local cluster; a shared
file system for a real one).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

import twin as _pkg
from twin import _io
from twin._ensemble_maps import building_probabilities, exceedance_maps
from twin._ensemble_spec import Ensemble, Member
from twin._fingerprint import twin_fingerprint
from twin.errors import InputDataError, TwinError
from twin.model import Twin

__all__ = ["Ensemble", "EnsembleResult", "Member", "building_probabilities", "exceedance_maps", "run_ensemble"]


@dataclass
class EnsembleResult:
    """An ensemble's outputs (the folder :func:`run_ensemble` writes); :meth:`load` reads one back.

    Attributes
    ----------
    path : Path
        The ensemble folder.
    exceedance : xarray.Dataset
        ``p_exceed(threshold, y, x)``, ``max_depth_mean``, ``max_depth_max`` (``exceedance.nc``).
    buildings : GeoDataFrame or None
        Per building ``p_flooded``, ``max_depth_mean``, ``max_depth_max`` (``buildings.gpkg``).
    members : DataFrame
        One row per member: parameters, hash, volumes, mass-balance error, wall time, status (``members.csv``).
    failed : list of dict
        Members that failed after their retries, with the error (``failed.json``).
    summary : dict
        Counts, wall time, throughput, settings (``ensemble.json``).
    """
    path: Path
    exceedance: xr.Dataset
    buildings: gpd.GeoDataFrame | None
    members: pd.DataFrame
    failed: list[dict[str, Any]]
    summary: dict[str, Any]

    @classmethod
    def load(cls, path: str | os.PathLike) -> EnsembleResult:
        """Read an ensemble folder written by :func:`run_ensemble`."""
        path = Path(path)
        summary = _read_json(path / "ensemble.json")
        if summary is None or summary.get("status") != "complete":
            raise InputDataError(f"{path} is not a complete ensemble folder (no finished ensemble.json); run "
                                 "`twin ensemble` into it (completed members are kept).")
        exc = None
        if (path / "exceedance.nc").is_file():
            with xr.open_dataset(path / "exceedance.nc") as ds:
                exc = ds.load()
        buildings = gpd.read_file(path / "buildings.gpkg") if (path / "buildings.gpkg").is_file() else None
        return cls(path, exc, buildings, pd.read_csv(path / "members.csv"),
                   _read_json(path / "failed.json") or [], summary)

    def member(self, index: int, twin: Twin | None = None):
        """Member ``index``'s :class:`~twin.flood.FloodResult` (optionally with its twin for scenes)."""
        from twin.flood import FloodResult

        return FloodResult.load(self.path / "members" / f"{index:03d}", twin=twin)


def run_ensemble(twin: Twin, ensemble: Ensemble | dict | str | os.PathLike, out: str | os.PathLike, *,
                 scheduler: str | None = None, n_workers: int = 2, threads_per_worker: int = 1, retries: int = 2,
                 progress: bool = True) -> EnsembleResult:
    """Run every member of an ensemble on a Dask cluster and build the probability maps.

    Parameters
    ----------
    twin
        The city model; scattered to every worker once.
    ensemble
        An :class:`Ensemble`, a dict of the TOML's shape, or the path of an ensemble TOML file.
    out
        The ensemble folder: ``members/<k>/`` (each member's flood result), ``exceedance.nc``,
        ``exceedance_<d>m.tif``, ``buildings.gpkg``, ``members.csv``, ``failed.json``, ``ensemble.json``.
        Members whose folder is already complete for the same scenario and twin are not rerun, so
        running again into the folder of a broken ensemble resumes it.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``). ``None`` starts a local cluster of
        ``n_workers`` processes (see below).
    n_workers, threads_per_worker
        The local cluster: ``n_workers`` processes, each running one member at a time whose kernel
        uses ``threads_per_worker`` Numba threads (set on a remote cluster's workers too, per member;
        start those with ``--nthreads 1`` so that they also run one member at a time). Keep
        workers x threads at most the number of cores.
    retries
        How often a failing member is retried before it is recorded in ``failed.json``. A worker that
        dies is another matter: Dask reschedules its members elsewhere, without using up retries.
    progress
        Show a progress bar over the members.

    Returns
    -------
    EnsembleResult
    """
    if not isinstance(ensemble, Ensemble):
        ensemble = Ensemble.from_dict(ensemble) if isinstance(ensemble, dict) else Ensemble.from_toml(ensemble)
    out = Path(out)
    members_dir = out / "members"
    members_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = twin_fingerprint(twin)
    previous = _read_json(out / "ensemble.json") or {}
    reuse = previous.get("twin_fingerprint") == fingerprint
    _io.write_json(out / "ensemble.json", {"status": "running", "twin_fingerprint": fingerprint,
                                           "ensemble": ensemble.to_dict()})
    summaries: dict[int, dict[str, Any]] = {}
    status: dict[int, str] = {}
    for m in ensemble.members:
        s = _read_json(members_dir / m.folder / "summary.json") if reuse else None
        if s is not None and s.get("scenario_hash") == m.scenario.hash:
            summaries[m.index], status[m.index] = s, "reused"
    todo = [m for m in ensemble.members if m.index not in summaries]
    failed: dict[int, dict[str, Any]] = {}
    t0 = time.perf_counter()
    # run_seconds: scatter to last result; wall_seconds adds starting, warming up and stopping the cluster
    timing: dict[str, Any] = {"cluster_start_seconds": 0.0, "warmup_seconds": 0.0, "run_seconds": 0.0,
                              "scheduler": scheduler, "workers": 0}
    if todo:
        with _client(scheduler, n_workers, threads_per_worker) as client:
            timing["cluster_start_seconds"] = time.perf_counter() - t0
            timing["scheduler"] = client.scheduler.address
            timing["workers"] = len(client.scheduler_info(n_workers=-1)["workers"])
            t1 = time.perf_counter()
            _warm_up(client)
            timing["warmup_seconds"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            _run_members(client, twin, todo, members_dir, threads_per_worker, retries, progress,
                         len(ensemble.members), summaries, status, failed)
            timing["run_seconds"] = time.perf_counter() - t1
    wall = time.perf_counter() - t0
    _remove_stale(members_dir)
    return _write_outputs(out, ensemble, summaries, status, failed, fingerprint, {
        **timing, "wall_seconds": wall, "threads_per_worker": threads_per_worker, "retries": retries,
        "members_run": len(todo),
        "scenarios_per_minute": (len(todo) - len(failed)) / wall * 60 if todo and wall > 0 else 0.0})


def _warm_up(client: Any) -> None:
    """Import the flood code on every worker at once (seconds per process), and fail early where it is missing."""
    try:
        versions = client.run(_import_flood)
    except Exception as exc:  # noqa: BLE001 -- whatever the workers' environment raised
        raise TwinError(f"The Dask workers cannot import cimtwin ({type(exc).__name__}: {exc}). Install cimtwin "
                        f"{_pkg.__version__} in the workers' environment.") from None
    other = {addr: v for addr, v in versions.items() if v != _pkg.__version__}
    if other:
        raise TwinError(f"Dask workers run another cimtwin version than this client ({_pkg.__version__}): {other}. "
                        "Install the same version on the workers.")


def _import_flood() -> str:
    import twin.flood  # noqa: F401

    return _pkg.__version__


def _run_members(client: Any, twin: Twin, todo: list[Member], members_dir: Path, threads: int, retries: int,
                 progress: bool, total: int, summaries: dict, status: dict, failed: dict) -> None:
    from distributed import as_completed

    twin_future = client.scatter(twin, broadcast=True, hash=False)  # once per worker, not per member
    futures = {}
    for m in todo:
        fut = client.submit(_run_member, twin_future, m.scenario.to_dict(), str(members_dir / m.folder), threads,
                            key=f"{m.name}-{m.scenario.hash[:12]}-{os.urandom(4).hex()}", pure=False, retries=retries)
        futures[fut] = m
    bar = tqdm(total=total, initial=total - len(todo), unit="member", disable=not progress, desc="ensemble")
    try:
        for fut in as_completed(futures, loop=client.loop):  # this client, not a global default
            m = futures[fut]
            try:
                summaries[m.index], status[m.index] = fut.result(), "ok"
            except Exception as exc:  # noqa: BLE001 -- the member's own error, after its retries; the others go on
                failed[m.index] = {"member": m.index, "name": m.name, "parameters": m.parameters,
                                   "scenario_hash": m.scenario.hash, "error": type(exc).__name__,
                                   "message": str(exc), "attempts": retries + 1,
                                   "traceback": "".join(traceback.format_tb(exc.__traceback__))[-4000:]}
                status[m.index] = "failed"
                if progress:  # otherwise failed.json and EnsembleResult.failed tell
                    bar.write(f"member {m.index} ({m.name}) failed after {retries + 1} attempts: "
                              f"{type(exc).__name__}: {exc}")
            fut.release()
            bar.set_postfix_str(f"{sum(v == 'failed' for v in status.values())} failed", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        client.cancel(list(futures))
        client.cancel([twin_future])


def _run_member(twin: Twin, scenario: dict[str, Any], out: str, threads: int) -> dict[str, Any]:
    """On a worker: run one member, write its folder, return its summary (small)."""
    import numba

    from twin.flood import run

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    result = run(twin, scenario, out=out, progress=False, scene=False)
    summary = dict(result.summary)
    with contextlib.suppress(ValueError):
        from distributed import get_worker
        summary["worker"] = get_worker().address
    return summary


@contextlib.contextmanager
def _client(scheduler: str | None, n_workers: int, threads_per_worker: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s", set_as_default=False)
        except OSError as exc:
            raise TwinError(f"Cannot reach the Dask scheduler at {scheduler} ({exc}). Check the address "
                            "(e.g. tcp://host:8786) and that the scheduler runs, or leave --scheduler out "
                            "to start a local cluster.") from None
        with client:
            yield client
        return
    if n_workers < 1 or threads_per_worker < 1:
        raise InputDataError(f"A local cluster needs n_workers >= 1 and threads_per_worker >= 1; got "
                             f"{n_workers} and {threads_per_worker}.")
    # One member at a time per worker (one Dask thread), its kernel on the worker's share of the
    # cores: a Numba pool of threads_per_worker, or the workers would oversubscribe the cores.
    env = {"NUMBA_NUM_THREADS": str(threads_per_worker), "OMP_NUM_THREADS": "1"}
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR, env=env) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


def _write_outputs(out: Path, ensemble: Ensemble, summaries: dict, status: dict, failed: dict,
                   fingerprint: str, timing: dict[str, Any]) -> EnsembleResult:
    ok = [m for m in ensemble.members if m.index in summaries]
    folders = [out / "members" / m.folder for m in ok]
    weights = [m.weight for m in ok]
    exc = buildings = None
    if ok:
        exc = exceedance_maps(folders, weights, ensemble.thresholds, title=f"cimtwin ensemble: {ensemble.name}")
        exc.attrs.update(members_failed=len(failed), ensemble=ensemble.name)
        with _io.atomic_file(out / "exceedance.nc") as tmp:
            exc.to_netcdf(tmp, encoding={v: {"zlib": True, "complevel": 4}
                                         for v in ("p_exceed", "max_depth_mean", "max_depth_max")})
        ref = folders[0] / "max_depth.tif"
        import rasterio
        with rasterio.open(ref) as src:
            transform, crs = src.transform, src.crs
        for i, d in enumerate(ensemble.thresholds):
            _io.write_geotiff(out / f"exceedance_{d:g}m.tif", exc["p_exceed"].values[i], transform, crs)
        buildings = building_probabilities(folders, weights)
        if buildings is not None:
            with _io.atomic_file(out / "buildings.gpkg") as tmp:
                tmp.unlink()  # GDAL creates the GeoPackage itself
                buildings.to_file(tmp, layer="buildings", driver="GPKG", engine="pyogrio")
    members = _members_table(ensemble, summaries, status, failed)
    with _io.atomic_file(out / "members.csv") as tmp:
        members.to_csv(tmp, index=False)
    failed_list = [failed[k] for k in sorted(failed)]
    _io.write_json(out / "failed.json", failed_list)
    summary = {"status": "complete", "name": ensemble.name, "members": len(ensemble.members),
               "members_ok": len(ok), "members_failed": len(failed),
               "members_reused": sum(v == "reused" for v in status.values()),
               "thresholds_m": list(ensemble.thresholds), "twin_fingerprint": fingerprint,
               "cimtwin": _pkg.__version__, "ensemble": ensemble.to_dict(), **timing}
    _io.write_json(out / "ensemble.json", summary)
    return EnsembleResult(out, exc, buildings, members, failed_list, summary)


_COLUMNS = ("volume_in_m3", "volume_out_m3", "volume_lost_m3", "volume_stored_m3", "mass_balance_error",
            "max_depth_m", "buildings_flooded", "wall_seconds", "worker")


def _members_table(ensemble: Ensemble, summaries: dict, status: dict, failed: dict) -> pd.DataFrame:
    rows = []
    for m in ensemble.members:
        s = summaries.get(m.index, {})
        row = {"member": m.index, "name": m.name, "weight": m.weight, "status": status.get(m.index, "failed"),
               **{k: _csv_value(m.parameters.get(k)) for k in ensemble.sweep_keys},
               "parameters": json.dumps(m.parameters, sort_keys=True, default=str),
               "scenario_hash": m.scenario.hash,
               **{key: s.get(key, np.nan) for key in _COLUMNS},
               "error": f"{failed[m.index]['error']}: {failed[m.index]['message']}" if m.index in failed else ""}
        rows.append(row)
    return pd.DataFrame(rows)


def _csv_value(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def _remove_stale(members_dir: Path) -> None:
    """Temporary folders of members whose worker died mid-save (every member is settled by now)."""
    for p in members_dir.glob(".*.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
