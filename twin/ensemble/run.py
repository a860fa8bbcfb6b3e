"""Flood ensembles on Dask distributed: many scenarios on one twin, exceedance maps, per-building probabilities.

The twin is scattered to every worker once; each member runs on a worker with
:func:`twin.sims.flood.run.run`, which writes the member's result folder (atomically) under
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

import twin as _pkg
from twin import _io
from twin._fingerprint import twin_fingerprint
from twin._progress import progress as _progress_bar
from twin.ensemble.maps import building_probabilities, exceedance_maps, return_period_maps
from twin.ensemble.spec import Ensemble, Member
from twin.errors import InputDataError, TwinError
from twin.model.twin import Twin
from twin.sims.flood.return_period import AEP_FORMULA, TOLERANCE_M

__all__ = [
    "Ensemble",
    "EnsembleResult",
    "Member",
    "building_probabilities",
    "dask_client",
    "exceedance_maps",
    "return_period_maps",
    "run_ensemble",
]

log = logging.getLogger(__name__)


@dataclass
class EnsembleResult:
    """An ensemble's outputs (the folder :func:`run_ensemble` writes); :meth:`load` reads one back.

    Attributes
    ----------
    path : Path
        The ensemble folder.
    exceedance : xarray.Dataset
        ``member_share(threshold, y, x)``, ``p_exceed(threshold, y, x)`` (only when the ensemble
        gives weights), ``max_depth_mean``, ``max_depth_max`` (``exceedance.nc``).
    buildings : GeoDataFrame or None
        Per building ``member_share``, ``p_flooded`` (weighted only), ``max_depth_mean``,
        ``max_depth_max``, and for a return-period sweep ``flood_return_period``, ``flood_aep``,
        ``flood_return_period_flag``, ``non_monotonic`` (``buildings.gpkg``).
    members : DataFrame
        One row per member: parameters, hash, volumes, mass-balance error, wall time, status (``members.csv``).
    failed : list of dict
        Members that failed after their retries, with the error (``failed.json``).
    summary : dict
        Counts, wall time, throughput, settings (``ensemble.json``); ``return_period`` says whether
        return-period maps were made, from which periods, and counts non-monotonic cells and buildings.
    return_period : xarray.Dataset or None
        For a sweep over return periods: ``flood_return_period``, ``flood_return_period_flag``,
        ``flood_aep``, ``non_monotonic`` (``return_period.nc``).
    """

    path: Path
    exceedance: xr.Dataset
    buildings: gpd.GeoDataFrame | None
    members: pd.DataFrame
    failed: list[dict[str, Any]]
    summary: dict[str, Any]
    return_period: xr.Dataset | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> EnsembleResult:
        """Read an ensemble folder written by :func:`run_ensemble`."""
        path = Path(path)
        summary = _read_json(path / "ensemble.json")
        if summary is None or summary.get("status") != "complete":
            raise InputDataError(
                f"{path} is not a complete ensemble folder (no finished ensemble.json); run "
                "`twin ensemble` into it (completed members are kept)."
            )
        exc = rp = None
        if (path / "exceedance.nc").is_file():
            with xr.open_dataset(path / "exceedance.nc") as ds:
                exc = ds.load()
        if (path / "return_period.nc").is_file():
            with xr.open_dataset(path / "return_period.nc") as ds:
                rp = ds.load()
        buildings = gpd.read_file(path / "buildings.gpkg") if (path / "buildings.gpkg").is_file() else None
        _name_old_share(summary, exc, buildings)
        return cls(
            path, exc, buildings, pd.read_csv(path / "members.csv"), _read_json(path / "failed.json") or [], summary, rp
        )

    def member(self, index: int, twin: Twin | None = None):
        """Member ``index``'s :class:`~twin.sims.flood.run.FloodResult` (optionally with its twin for scenes)."""
        from twin.sims.flood.run import FloodResult

        return FloodResult.load(self.path / "members" / f"{index:03d}", twin=twin)


def _name_old_share(summary: dict[str, Any], exc: xr.Dataset | None, buildings: gpd.GeoDataFrame | None) -> None:
    """Folders written before ``member_share`` existed called the share of equally weighted
    members ``p_exceed`` / ``p_flooded``: give it its name too (the old one stays, for old code)."""
    if exc is None or "member_share" in exc or "p_exceed" not in exc:
        return
    weights = [m.get("weight") for m in summary.get("ensemble", {}).get("members", [])]
    if not weights or len(set(weights)) != 1:
        return  # weighted: p_exceed is a probability and the share cannot be recovered
    exc["member_share"] = exc["p_exceed"]
    if buildings is not None and "p_flooded" in buildings:
        buildings["member_share"] = buildings["p_flooded"]


def run_ensemble(
    twin: Twin,
    ensemble: Ensemble | dict | str | os.PathLike,
    out: str | os.PathLike,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    retries: int = 2,
    progress: bool = True,
) -> EnsembleResult:
    """Run every member of an ensemble on a Dask cluster and build the probability maps.

    Parameters
    ----------
    twin
        The city model; scattered to every worker once.
    ensemble
        An :class:`Ensemble`, a dict of the TOML's shape, or the path of an ensemble TOML file.
    out
        The ensemble folder: ``members/<k>/`` (each member's flood result), ``exceedance.nc``,
        ``exceedance_<d>m.tif``, ``buildings.gpkg``, ``members.csv``, ``failed.json``, ``ensemble.json``;
        for a sweep over return periods also ``return_period.nc``, ``flood_return_period_<d>m.tif``
        and ``flood_aep_<d>m.tif``.
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
    # an earlier run of an ensemble into the folder is resumed; anything else there is refused
    _io.check_out(out, "ensemble", inputs=[getattr(twin, "path", None)])
    members_dir = out / "members"
    members_dir.mkdir(parents=True, exist_ok=True)
    _io.write_marker(out, "ensemble", files=[])
    fingerprint = twin_fingerprint(twin)
    previous = _read_json(out / "ensemble.json") or {}
    reuse = previous.get("twin_fingerprint") == fingerprint
    _io.write_json(
        out / "ensemble.json", {"status": "running", "twin_fingerprint": fingerprint, "ensemble": ensemble.to_dict()}
    )
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
    timing: dict[str, Any] = {
        "cluster_start_seconds": 0.0,
        "warmup_seconds": 0.0,
        "run_seconds": 0.0,
        "scheduler": scheduler,
        "workers": 0,
    }
    if todo:
        with _client(scheduler, n_workers, threads_per_worker) as client:
            timing["cluster_start_seconds"] = time.perf_counter() - t0
            timing["scheduler"] = client.scheduler.address
            timing["workers"] = len(client.scheduler_info(n_workers=-1)["workers"])
            t1 = time.perf_counter()
            _warm_up(client)
            timing["warmup_seconds"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            _run_members(
                client,
                twin,
                todo,
                members_dir,
                threads_per_worker,
                retries,
                progress,
                len(ensemble.members),
                summaries,
                status,
                failed,
            )
            timing["run_seconds"] = time.perf_counter() - t1
    wall = time.perf_counter() - t0
    _remove_stale(members_dir)
    return _write_outputs(
        out,
        ensemble,
        summaries,
        status,
        failed,
        fingerprint,
        {
            **timing,
            "wall_seconds": wall,
            "threads_per_worker": threads_per_worker,
            "retries": retries,
            "members_run": len(todo),
            "scenarios_per_minute": (len(todo) - len(failed)) / wall * 60 if todo and wall > 0 else 0.0,
        },
    )


def _warm_up(client: Any) -> None:
    """Import the flood code on every worker at once (seconds per process), and fail early where it is missing."""
    try:
        versions = client.run(_import_flood)
    except Exception as exc:  # noqa: BLE001 -- whatever the workers' environment raised
        raise TwinError(
            f"The Dask workers cannot import cimtwin ({type(exc).__name__}: {exc}). Install cimtwin "
            f"{_pkg.__version__} in the workers' environment."
        ) from None
    other = {addr: v for addr, v in versions.items() if v != _pkg.__version__}
    if other:
        raise TwinError(
            f"Dask workers run another cimtwin version than this client ({_pkg.__version__}): {other}. "
            "Install the same version on the workers."
        )


def _import_flood() -> str:
    import twin.sims.flood.run  # noqa: F401

    return _pkg.__version__


def _run_members(
    client: Any,
    twin: Twin,
    todo: list[Member],
    members_dir: Path,
    threads: int,
    retries: int,
    progress: bool,
    total: int,
    summaries: dict,
    status: dict,
    failed: dict,
) -> None:
    from distributed import as_completed

    twin_future = client.scatter(twin, broadcast=True, hash=False)  # once per worker, not per member
    futures = {}
    for m in todo:
        fut = client.submit(
            _run_member,
            twin_future,
            m.scenario.to_dict(),
            str(members_dir / m.folder),
            threads,
            key=f"{m.name}-{m.scenario.hash[:12]}-{os.urandom(4).hex()}",
            pure=False,
            retries=retries,
        )
        futures[fut] = m
    bar = _progress_bar(total, "ensemble", progress, initial=total - len(todo), unit="member")
    try:
        for fut in as_completed(futures, loop=client.loop):  # this client, not a global default
            m = futures[fut]
            try:
                summaries[m.index], status[m.index] = fut.result(), "ok"
            except Exception as exc:  # noqa: BLE001 -- the member's own error, after its retries; the others go on
                failed[m.index] = {
                    "member": m.index,
                    "name": m.name,
                    "parameters": m.parameters,
                    "scenario_hash": m.scenario.hash,
                    "error": type(exc).__name__,
                    "message": str(exc),
                    "attempts": retries + 1,
                    "traceback": "".join(traceback.format_tb(exc.__traceback__))[-4000:],
                }
                status[m.index] = "failed"
                if progress:  # otherwise failed.json and EnsembleResult.failed tell
                    bar.write(
                        f"member {m.index} ({m.name}) failed after {retries + 1} attempts: {type(exc).__name__}: {exc}"
                    )
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

    from twin.sims.flood.run import run
    from twin.sims.flood.scenario import Scenario

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    # validated (and its files resolved and checked) when the ensemble was read, not in the worker's folder
    result = run(twin, Scenario.from_record(scenario), out=out, progress=False, scene=False)
    summary = dict(result.summary)
    with contextlib.suppress(ValueError):
        from distributed import get_worker

        summary["worker"] = get_worker().address
    return summary


def dask_client(scheduler: str | None = None, n_workers: int = 2, threads_per_worker: int = 1):
    """The cluster :func:`run_ensemble` runs on, as a context manager yielding its client: the
    scheduler at ``scheduler``, or a local cluster of ``n_workers`` processes of one member at a time
    with ``threads_per_worker`` Numba threads each (the live twin's forecast members use it too)."""
    return _client(scheduler, n_workers, threads_per_worker)


@contextlib.contextmanager
def _client(scheduler: str | None, n_workers: int, threads_per_worker: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s", set_as_default=False)
        except OSError as exc:
            raise TwinError(
                f"Cannot reach the Dask scheduler at {scheduler} ({exc}). Check the address "
                "(e.g. tcp://host:8786) and that the scheduler runs, or leave --scheduler out "
                "to start a local cluster."
            ) from None
        with client:
            yield client
        return
    if n_workers < 1 or threads_per_worker < 1:
        raise InputDataError(
            f"A local cluster needs n_workers >= 1 and threads_per_worker >= 1; got "
            f"{n_workers} and {threads_per_worker}."
        )
    # One member at a time per worker (one Dask thread), its kernel on the worker's share of the
    # cores: a Numba pool of threads_per_worker, or the workers would oversubscribe the cores.
    env = {"NUMBA_NUM_THREADS": str(threads_per_worker), "OMP_NUM_THREADS": "1"}
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            env=env,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def _write_outputs(
    out: Path, ensemble: Ensemble, summaries: dict, status: dict, failed: dict, fingerprint: str, timing: dict[str, Any]
) -> EnsembleResult:
    ok = [m for m in ensemble.members if m.index in summaries]
    folders = [out / "members" / m.folder for m in ok]
    weights = [m.weight for m in ok] if ensemble.weighted else None
    exc = buildings = rp = None
    rp_summary = _return_period_plan(ensemble, ok)
    if ok:
        exc = exceedance_maps(folders, weights, ensemble.thresholds, title=f"cimtwin ensemble: {ensemble.name}")
        exc.attrs.update(members_failed=len(failed), ensemble=ensemble.name)
        _write_netcdf(out / "exceedance.nc", exc)
        ref = folders[0] / "max_depth.tif"
        import rasterio

        with rasterio.open(ref) as src:
            transform, crs = src.transform, src.crs
        share = exc["p_exceed"] if weights is not None else exc["member_share"]
        for i, d in enumerate(ensemble.thresholds):
            _io.write_geotiff(out / f"exceedance_{d:g}m.tif", share.values[i], transform, crs)
        periods = [m.return_period for m in ok] if rp_summary["written"] else None
        _remove_return_period_maps(out)  # an earlier run's, into this folder, would read as this one's
        if periods is not None:
            rp = return_period_maps(
                folders, periods, ensemble.thresholds, title=f"cimtwin ensemble: {ensemble.name}, return periods"
            )
            rp.attrs.update(members_failed=len(failed), ensemble=ensemble.name)
            _write_netcdf(out / "return_period.nc", rp)
            for i, d in enumerate(ensemble.thresholds):
                _io.write_geotiff(
                    out / f"flood_return_period_{d:g}m.tif",
                    rp["flood_return_period"].values[i],
                    transform,
                    crs,
                    nodata=np.nan,
                )
                _io.write_geotiff(
                    out / f"flood_aep_{d:g}m.tif", rp["flood_aep"].values[i], transform, crs, nodata=np.nan
                )
            rp_summary["non_monotonic_cells"] = rp.attrs["non_monotonic_cells"]
        building_depth = {m.scenario.output.building_depth for m in ok}
        buildings = building_probabilities(
            folders, weights, periods=periods, building_depth=building_depth.pop() if len(building_depth) == 1 else None
        )
        if buildings is not None:
            if "non_monotonic" in buildings:
                rp_summary["non_monotonic_buildings"] = int(buildings["non_monotonic"].sum())
            elif periods is not None:
                rp_summary["buildings_reason"] = (
                    "members differ in output.building_depth, so buildings have no "
                    "flood return period; set building_depth in the ensemble file"
                )
            with _io.atomic_file(out / "buildings.gpkg") as tmp:
                tmp.unlink()  # GDAL creates the GeoPackage itself
                buildings.to_file(tmp, layer="buildings", driver="GPKG", engine="pyogrio")
    if rp_summary.get("non_monotonic_cells") or rp_summary.get("non_monotonic_buildings"):
        log.warning(
            "ensemble %s: max depth drops as the return period grows at %d cells and %d buildings "
            "(non-physical or numerical; see non_monotonic in return_period.nc and buildings.gpkg)",
            ensemble.name,
            rp_summary.get("non_monotonic_cells", 0),
            rp_summary.get("non_monotonic_buildings", 0),
        )
    members = _members_table(ensemble, summaries, status, failed)
    with _io.atomic_file(out / "members.csv") as tmp:
        members.to_csv(tmp, index=False)
    failed_list = [failed[k] for k in sorted(failed)]
    _io.write_json(out / "failed.json", failed_list)
    summary = {
        "status": "complete",
        "name": ensemble.name,
        "members": len(ensemble.members),
        "members_ok": len(ok),
        "members_failed": len(failed),
        "members_reused": sum(v == "reused" for v in status.values()),
        "thresholds_m": list(ensemble.thresholds),
        "weighted": ensemble.weighted,
        "return_period": rp_summary,
        "twin_fingerprint": fingerprint,
        "cimtwin": _pkg.__version__,
        "ensemble": ensemble.to_dict(),
        **timing,
    }
    _io.write_json(out / "ensemble.json", summary)
    return EnsembleResult(out, exc, buildings, members, failed_list, summary, rp)


def _return_period_plan(ensemble: Ensemble, ok: list[Member]) -> dict[str, Any]:
    """Whether the members that ran make a sweep over return periods, and why not where they do not."""
    periods = [m.return_period for m in ok]
    plan: dict[str, Any] = {"written": False, "periods_years": sorted(p for p in periods if p is not None)}
    if not any(p is not None for p in periods):
        plan["reason"] = "no member has a return period (rain.design.return_period or return_period)"
    elif None in periods:
        plan["reason"] = "some members have no return period"
    elif len(set(periods)) == 1:
        plan["reason"] = f"every member has the same return period ({periods[0]:g} y)"
    elif len(set(periods)) != len(periods):
        plan["reason"] = (
            "several members share a return period; run one ensemble per other parameter "
            "so that each return period has one member"
        )
    elif len(periods) < 2:
        plan["reason"] = "one return period only"
    else:
        plan.update(
            written=True,
            interpolation="linear in ln(T) between the members on either side of the threshold",
            aep_formula=AEP_FORMULA,
            tolerance_m=TOLERANCE_M,
            non_monotonic_cells=0,
            non_monotonic_buildings=0,
        )
    return plan


def _remove_return_period_maps(out: Path) -> None:
    for p in (out / "return_period.nc", *out.glob("flood_return_period_*m.tif"), *out.glob("flood_aep_*m.tif")):
        p.unlink(missing_ok=True)


def _write_netcdf(path: Path, ds: xr.Dataset) -> None:
    with _io.atomic_file(path) as tmp:
        ds.to_netcdf(tmp, encoding={v: {"zlib": True, "complevel": 4} for v in ds.data_vars if ds[v].ndim})


_COLUMNS = (
    "volume_in_m3",
    "volume_out_m3",
    "volume_lost_m3",
    "volume_stored_m3",
    "mass_balance_error",
    "max_depth_m",
    "buildings_flooded",
    "wall_seconds",
    "worker",
)


def _members_table(ensemble: Ensemble, summaries: dict, status: dict, failed: dict) -> pd.DataFrame:
    rows = []
    for m in ensemble.members:
        s = summaries.get(m.index, {})
        row = {
            "member": m.index,
            "name": m.name,
            "weight": m.weight,
            "return_period": m.return_period,
            "status": status.get(m.index, "failed"),
            **{k: _csv_value(m.parameters.get(k)) for k in ensemble.sweep_keys},
            "parameters": json.dumps(m.parameters, sort_keys=True, default=str),
            "scenario_hash": m.scenario.hash,
            **{key: s.get(key, np.nan) for key in _COLUMNS},
            "error": f"{failed[m.index]['error']}: {failed[m.index]['message']}" if m.index in failed else "",
        }
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
