"""Running a flood scenario on a twin: the time loop around the kernel, checkpoints, the result."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import numba
import numpy as np
import pandas as pd

from kernels.flood import FloodAccum, FloodState, gpu_available, stored_volume
from twin import _io
from twin._fingerprint import FILE_PART, changed_parts, file_parts, twin_parts
from twin._progress import progress as _progress_bar
from twin.errors import InputDataError, NumericalError, ScenarioError
from twin.model.edits import apply_edits
from twin.model.twin import Twin
from twin.sims.base import Result, common_summary
from twin.sims.flood import frames as _frames
from twin.sims.flood.exposure import EXPOSURE_RULE, building_exposure, hazard_class
from twin.sims.flood.forcing import FloodSetup, setup
from twin.sims.flood.scenario import Scenario
from twin.sims.flood.schemes import cell_speed, courant_factor, new_state, restore_state_arrays, state_arrays, stepper

__all__ = ["run", "FloodResult"]

_VOLUMES = ("vol_rain", "vol_inflow", "vol_bnd_in", "vol_bnd_out", "vol_infil", "vol_drain")
_RASTERS = ("max_depth", "max_speed", "arrival_time", "duration", "hazard")


@dataclass
class FloodResult(Result):
    """A flood run's outputs on the twin's grid, with its summary; ``save`` writes the result folder.

    Attributes
    ----------
    max_depth, max_speed, hazard : ndarray (float32)
        Maxima over the run: depth [m], cell speed [m/s] (0 below ``output.wet_depth``, bounded: see
        :class:`kernels.flood.FloodAccum`), FD2320 hazard rating; 0 where the cell never got wet
        (``arrival_time`` NaN), the files' nodata.
    arrival_time, duration : ndarray (float64)
        First time [s] the depth exceeded ``output.wet_depth`` (NaN: never) and seconds above it.
    depth_frames, frame_times
        Depth snapshots every ``output_interval`` (``None`` when switched off) and their times [s]. A run's
        snapshots map the file they were written to (read-only), so they never fill memory; a loaded
        result's are read from ``depth.nc`` frame by frame when indexed
        (:class:`twin.sims.flood.result_frames.LazyFrames`).
    speed_frames
        Cell speed [m/s] at the same times, as ``max_speed`` takes it (so not above it, but for a
        rounding at the last frame, whose state no later step folds in); ``None`` without snapshots or
        for a result written before them.
    gauges : DataFrame
        Depth and water level at each gauge every ``gauge_interval``.
    buildings : GeoDataFrame
        The twin's buildings with ``max_depth`` (the water against the walls above the base, see
        :func:`twin.sims.flood.exposure.building_exposure`), ``arrival_time`` and ``flooded``.
    summary : dict
        Volumes, mass-balance error, steps, wall time, speed, flooded buildings, scenario hash; with
        edits their cells and volumes (``edits``), with a design storm its blocks (``design_storm``).
    """

    crs: Any
    transform: Any
    max_depth: np.ndarray
    max_speed: np.ndarray
    arrival_time: np.ndarray
    duration: np.ndarray
    hazard: np.ndarray
    hazard_class: np.ndarray
    depth_frames: np.ndarray | None
    frame_times: np.ndarray
    gauges: pd.DataFrame
    buildings: gpd.GeoDataFrame | None
    summary: dict[str, Any]
    scenario: dict[str, Any]
    twin: Twin | None = field(default=None, repr=False)
    drainage: Any = field(default=None, repr=False)  # twin.drainage.DrainageResult of a sewer-coupled run
    #: per road segment: max depth, when cut and reopened (twin.sims.flood.roads.road_cuts); None without roads
    roads: gpd.GeoDataFrame | None = field(default=None, repr=False)
    speed_frames: np.ndarray | None = field(default=None, repr=False)

    kind: ClassVar[str] = "flood"
    signature: ClassVar[tuple[str, ...]] = ("max_depth.tif",)

    def save(self, path: str | os.PathLike, *, scene: bool = True, overwrite: bool = False) -> Path:
        """Write the result folder atomically: GeoTIFFs, ``depth.nc``, ``gauges.csv``, ``buildings.gpkg``,
        ``summary.json``, ``scenario.json`` and ``cimtwin.json`` (SHA-256 of each); then, with a twin
        attached and ``scene``, ``scene.html`` (a scene that fails is a warning: the result stays).

        Only a new or empty folder or a folder cimtwin wrote is replaced (see
        :func:`twin._io.check_out`); ``overwrite`` also replaces a cimtwin folder of another kind.
        """
        path = super().save(path, overwrite=overwrite)
        if scene and self.twin is not None:
            title = f"cimtwin: {self.scenario.get('name', 'flood')}"
            # a result with a roads layer draws its roads.gpkg (cut and open by the slider's time)
            roads = {"roads": path / "roads.gpkg"} if (path / "roads.gpkg").is_file() else {}
            _io.write_extra(
                path,
                "scene.html",
                lambda f: self.scene(**roads).to_html(f, title=title),
                f"write it later with `twin scene {path}`.",
            )
        return path

    def _write_files(self, tmp: Path) -> None:
        from twin.sims.flood.gis import write_rasters

        write_rasters(self, tmp)
        if self.roads is not None:
            self.roads.to_file(tmp / "roads.gpkg", layer="roads", driver="GPKG", engine="pyogrio")
        if self.depth_frames is not None:
            _frames.write_netcdf(self.depth_dataset(), tmp / "depth.nc")
        self.gauges.to_csv(tmp / "gauges.csv", index=False)
        if self.buildings is not None:
            self.buildings.to_file(tmp / "buildings.gpkg", layer="buildings", driver="GPKG", engine="pyogrio")
        if self.drainage is not None:
            self.drainage.save(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, twin: Twin | None = None) -> FloodResult:
        """Read a result folder written by :meth:`save` (optionally attaching its twin for scenes).

        The scenario's edits (floodwalls, ponds, ...) are applied to a copy of ``twin``, so the
        attached twin is the one the run saw.

        Raises
        ------
        InputDataError
            Not a flood result folder, or a file missing or altered since it was written (its
            SHA-256 in ``cimtwin.json`` differs; the message names the file).
        """
        return super().load(path, twin)

    @classmethod
    def _read_files(
        cls, path: Path, summary: dict[str, Any], scenario: dict[str, Any], twin: Twin | None
    ) -> FloodResult:
        import rasterio

        from twin.sims.flood.result_frames import netcdf_frames

        arrays = {}
        for name in (*_RASTERS, "hazard_class"):
            with rasterio.open(path / f"{name}.tif") as src:
                arrays[name] = src.read(1)
                crs, transform = src.crs, src.transform
        frames, speed_frames, times = None, None, np.zeros(0)
        if (path / "depth.nc").is_file():  # read frame by frame when asked for, never whole here
            frames, speed_frames, times = netcdf_frames(path / "depth.nc")
        buildings = gpd.read_file(path / "buildings.gpkg") if (path / "buildings.gpkg").is_file() else None
        roads = gpd.read_file(path / "roads.gpkg", layer="roads") if (path / "roads.gpkg").is_file() else None
        arrays["arrival_time"] = arrays["arrival_time"].astype(np.float64)
        arrays["duration"] = arrays["duration"].astype(np.float64)
        if twin is not None and scenario.get("edit"):
            twin = apply_edits(twin, Scenario.from_record(scenario).edit)[0]
        drainage = None
        if (path / "drainage.gpkg").is_file():  # a sewer-coupled run's manholes and pipes
            from twin.sims.flood.drainage import DrainageResult

            drainage = DrainageResult.load(path, summary)
        return cls(
            crs=crs,
            transform=transform,
            depth_frames=frames,
            speed_frames=speed_frames,
            frame_times=times,
            gauges=pd.read_csv(path / "gauges.csv"),
            buildings=buildings,
            summary=summary,
            scenario=scenario,
            twin=twin,
            drainage=drainage,
            roads=roads,
            **arrays,
        )

    def depth_dataset(self):
        """Depth snapshots (and the speed ones, where kept) as an xarray Dataset with CF metadata and the
        CRS (opens in QGIS, Panoply)."""
        import xarray as xr

        from twin._cf import global_attrs, grid_mapping, xy_coords
        from twin.sims.flood.gis import time_attrs

        speed = {}
        if self.speed_frames is not None:
            speed["speed"] = (
                ("time", "y", "x"),
                _frames.lazy(self.speed_frames),
                {
                    "units": "m s-1",
                    "long_name": "depth-averaged water speed (0 below the wet depth)",
                    "grid_mapping": "spatial_ref",
                },
            )
        ds = xr.Dataset(
            {
                "depth": (
                    ("time", "y", "x"),
                    _frames.lazy(self.depth_frames),
                    {"units": "m", "long_name": "water depth above ground", "grid_mapping": "spatial_ref"},
                ),
                **speed,
                "spatial_ref": ((), 0, grid_mapping(self.crs)),
            },
            coords={
                "time": ("time", self.frame_times, time_attrs(self.summary)),
                **xy_coords(self.transform, self.max_depth.shape),
            },
            attrs=global_attrs(f"cimtwin flood: {self.scenario.get('name', '')}", self.summary),
        )
        return ds

    def route(self, from_xy: Any, facilities: Any, at: float, *, mode: str = "drive"):
        """The quickest route still passable at ``at`` [s] from ``from_xy`` to the nearest of ``facilities``
        (a GeoDataFrame, a layer name of the attached twin, or a vector file); see
        :func:`twin.sims.flood.roads.route`. Returns a :class:`~twin.sims.flood.roads.Route`."""
        from twin.sims.flood.gis import resolve_facilities
        from twin.sims.flood.roads import route

        if self.roads is None:
            raise InputDataError(
                "This result has no roads: ingest the twin with a roads layer (--roads) and run again."
            )
        speeds = (self.scenario.get("roads") or {}).get("speeds") or {}
        return route(self.roads, from_xy, resolve_facilities(facilities, self), at, mode=mode, speeds=speeds)

    def scene(self, **kwargs: Any):
        """The 3D scene of this result on its twin (see :func:`twin.scene.city.city_scene`)."""
        if self.twin is None:
            raise InputDataError(
                "This result has no twin attached; load it with FloodResult.load(path, twin=Twin.load(...))."
            )
        from twin.scene.city import city_scene

        return city_scene(self.twin, self, **kwargs)


def run(
    twin: Twin,
    scenario: Scenario | dict | str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    stop_at: float | None = None,
    scene: bool = True,
    overwrite: bool = False,
    device: str | None = None,
) -> FloodResult | None:
    """Run a flood scenario on a twin.

    Parameters
    ----------
    twin
        The city model.
    scenario
        A :class:`Scenario`, a dict of the TOML's shape, or the path of a TOML file.
    out
        Result folder to write (atomically). Checkpoints go beside it as ``<out>.checkpoint.npz``
        every ``checkpoint_interval`` of simulated time, and depth snapshots into ``<out>.frames.f32``
        as they are taken (both removed once the result is written).
    resume
        Continue from the checkpoint beside ``out`` (it must come from the same scenario and twin);
        the result equals that of an uninterrupted run.
    progress
        Show a progress bar with simulated time and ETA.
    stop_at
        Stop once this simulated time [s] is reached, leaving a checkpoint (a long run split into
        parts; continue with ``resume=True``). Returns ``None`` then.
    scene
        Also write ``scene.html`` into ``out``.
    overwrite
        Let ``out`` replace a cimtwin folder of another kind (see :func:`twin._io.check_out`, which
        refuses an unsafe ``out`` before the run starts).

    Returns
    -------
    FloodResult or None
    """
    scenario = Scenario.coerce(scenario)
    if scenario.kind != "flood":
        raise ScenarioError(f"scenario kind {scenario.kind!r} is not a flood scenario")
    device = _device(scenario, device)
    if out is not None:
        _io.check_out(out, "flood", inputs=[twin.path], overwrite=overwrite)
    # edits act on a copy; the run, its fingerprint and the result's scene all see the edited city
    twin, edit_report = apply_edits(twin, scenario.edit)
    s = setup(twin, scenario)
    shape = twin.shape
    dtype = np.dtype(scenario.numerics.dtype)
    ckpt_path = Path(str(out) + ".checkpoint.npz") if out is not None else None
    ck = None
    ckpt_every = scenario.checkpoint_interval
    if stop_at is not None and ckpt_path is None:
        raise ScenarioError("stop_at needs an output folder (out=...) to keep the checkpoint in.")
    parts = _fingerprint(twin, scenario) if ckpt_path is not None else {}
    frames_path = Path(str(out) + ".frames.f32") if out is not None else None
    n_frames = scenario.snapshot_count if scenario.output.snapshots else 0
    if n_frames:
        # depth and speed frames: two files of the same size
        _frames.check_budget(
            n_frames, int(np.prod(shape)), _frames.free_bytes(frames_path), scenario.output_interval, stores=2
        )

    state = new_state(scenario, s.h0.astype(dtype))
    advance, params = stepper(scenario, s.params, device)
    accum = FloodAccum.zeros(shape)
    totals = dict.fromkeys(_VOLUMES, 0.0)
    run_stats = {"steps": 0, "dt_min": np.inf, "dt_max": 0.0, "kernel_seconds": 0.0, "wall_seconds": 0.0}
    gauge_rows: list[list[float]] = []
    frame_times: list[float] = []
    stored0 = stored_volume(state, s.grid)
    if len(s.gauge_names):
        gauge_rows.append(_gauge_row(0.0, state, s))
    if s.frames:
        s.forcing = s.forcing._replace(rain_field=s.rain_field_for(twin, s.frames[0][1]))
    frame_i = 0

    if resume:
        if ckpt_path is None or not ckpt_path.is_file():
            raise ScenarioError(f"Nothing to resume: no checkpoint {ckpt_path}. Run without --resume.")
        ck = _load_checkpoint(ckpt_path, parts)
        state.h[...] = ck["h"]
        state.qx[...] = ck["qx"]
        state.qy[...] = ck["qy"]
        state.infil_cum[...] = ck["infil_cum"]
        if "h_lo" in ck:  # checkpoints before the float32 remainder was kept have none
            state.h_lo[...] = ck["h_lo"]
        restore_state_arrays(state, ck, ckpt_path)
        state.t = float(ck["t"])
        state.steps = int(ck["steps"])
        for name in ("h_max", "v_max", "t_arrival", "duration", "hazard_max"):
            getattr(accum, name)[...] = ck[name]
        totals = json.loads(str(ck["totals"]))
        run_stats = json.loads(str(ck["run_stats"]))
        stored0 = float(ck["stored0"])
        gauge_rows = ck["gauges"].tolist()
        frame_times = ck["frame_times"].tolist()
        while frame_i + 1 < len(s.frames) and s.frames[frame_i + 1][0] <= state.t:
            frame_i += 1
        if s.frames:
            s.forcing = s.forcing._replace(rain_field=s.rain_field_for(twin, s.frames[frame_i][1]))
    run_stats["device"] = device
    store = speeds = None
    if scenario.output.snapshots:
        store = _frames.FrameStore(frames_path, shape, keep=len(frame_times) if resume else 0)
        speeds = _frames.FrameStore(_frames.speed_path(frames_path), shape, keep=len(frame_times) if resume else 0)
        if not resume:
            store.append(state.h)
            speeds.append(cell_speed(state, s.grid, params))
            frame_times.append(0.0)

    # when the run began (resumed runs keep their first start): depth.nc's times count from it
    run_stats.setdefault("start", datetime.now().replace(microsecond=0).isoformat())
    wall0 = time.perf_counter() - run_stats["wall_seconds"]
    # the loop's CPU time (all threads): on a loaded machine a steadier measure of its cost than wall time
    cpu0 = time.process_time() - run_stats.get("cpu_seconds", 0.0)
    sewer = None  # --- drainage: the SWMM network coupled at its manholes (set up inside the try) ---
    bar = _progress_bar(
        scenario.duration,
        f"flood {scenario.name}",
        progress,
        initial=state.t,
        unit="s",
        unit_scale=False,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s sim [{elapsed}<{remaining}{postfix}]",
    )
    next_ckpt = (np.floor(state.t / ckpt_every) + 1) * ckpt_every if ckpt_every else np.inf
    finished = False
    try:
        logs = ckpt_path is not None and (bool(ckpt_every) or stop_at is not None)  # what a checkpoint needs
        sewer = _sewer(scenario, twin, s, ck if resume else None, logs)
        if sewer is not None:
            sewer.step(state.h, min(sewer.interval, scenario.duration))
        # the cells the loop changed since the last kernel call: the local-inertial kernel then checks those
        # alone, not the whole grid (at every sewer exchange; the full solver has no such option)
        hint = scenario.numerics.scheme == "inertial"
        nothing = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        changed = None  # the first call checks the whole grid
        for t_event, kinds in _schedule(scenario, s, sewer.interval if sewer is not None else None):
            if t_event <= state.t + 1e-9:
                continue
            k0, t_prev = time.perf_counter(), state.t
            try:
                stats = advance(
                    state, s.grid, s.forcing, params, t_event, accum, **({"changed": changed} if hint else {})
                )
            except ValueError as exc:  # the kernel checks its contract; say it in the twin's terms
                raise InputDataError(f"The flood inputs are inconsistent: {exc}") from None
            run_stats["kernel_seconds"] += time.perf_counter() - k0
            if stats.status != 0:
                raise NumericalError(_instability(stats.status, scenario, state, s))
            for k in _VOLUMES:
                totals[k] += getattr(stats, k)
            run_stats["steps"] += stats.steps
            run_stats["speed_capped"] = run_stats.get("speed_capped", 0) + stats.speed_capped
            if getattr(stats, "level_share", ()):  # local time stepping: cell-time per level
                share = np.asarray(stats.level_share) * (state.t - t_prev)
                run_stats["levels"] = (share + run_stats.get("levels", 0.0)).tolist()  # a list: checkpoints keep it
            if stats.steps:
                run_stats["dt_min"] = min(run_stats["dt_min"], stats.dt_min)
                run_stats["dt_max"] = max(run_stats["dt_max"], stats.dt_max)
            changed = nothing
            if sewer is not None and "drainage" in kinds and t_event < scenario.duration:
                sewer.step(state.h, min(t_event + sewer.interval, scenario.duration))
                changed = sewer.cells
            if "gauge" in kinds and len(s.gauge_names):
                gauge_rows.append(_gauge_row(t_event, state, s))
            if "frame" in kinds and store is not None:
                store.append(state.h)
                speeds.append(cell_speed(state, s.grid, params))
                frame_times.append(t_event)
            if "rain" in kinds:
                frame_i = next(i for i, (t, _) in enumerate(s.frames) if t == t_event)
                s.forcing = s.forcing._replace(rain_field=s.rain_field_for(twin, s.frames[frame_i][1]))
            bar.set_postfix_str(f"dt {stats.dt_min:.2g}-{stats.dt_max:.2g} s" if stats.steps else "", refresh=False)
            bar.update(t_event - bar.n)
            stop_now = stop_at is not None and state.t >= stop_at - 1e-9 and t_event < scenario.duration
            if ckpt_path is not None and (state.t >= next_ckpt - 1e-9 or stop_now) and t_event < scenario.duration:
                run_stats["wall_seconds"] = time.perf_counter() - wall0
                run_stats["cpu_seconds"] = time.process_time() - cpu0
                if store is not None:
                    store.sync()
                    speeds.sync()
                extra = sewer.exchanges() if sewer is not None else {}
                _save_checkpoint(
                    ckpt_path, parts, state, accum, totals, run_stats, stored0, gauge_rows, frame_times, extra
                )
                next_ckpt = (np.floor(state.t / ckpt_every) + 1) * ckpt_every if ckpt_every else np.inf
            if stop_now:
                return None
        finished = True
    finally:
        bar.close()
        if sewer is not None and not finished:
            sewer.close()
        if store is not None and not finished:
            store.close()
            speeds.close()
    run_stats["wall_seconds"] = time.perf_counter() - wall0
    run_stats["cpu_seconds"] = time.process_time() - cpu0
    frames = store.frames() if store is not None else None
    speed_frames = speeds.frames() if speeds is not None else None
    drained = sewer.finish() if sewer is not None else None
    if drained is not None:
        totals["vol_sewer_in"] = drained.summary["volume_surface_to_network_m3"]
        totals["vol_sewer_out"] = drained.summary["volume_network_to_surface_m3"]
    result = _finish(twin, scenario, s, state, accum, totals, run_stats, stored0, gauge_rows, frames, frame_times)
    result.speed_frames = speed_frames
    if drained is not None:
        result.drainage = drained
        result.summary["drainage"] = _coupled_balance(result.summary, drained.summary)
    if twin.roads is not None and len(twin.roads):
        from twin.sims.flood.gis import add_roads

        add_roads(result, twin.roads, scenario)
    result.summary["start"] = scenario.start.isoformat() if scenario.start else run_stats["start"]
    if edit_report:
        result.summary["edits"] = edit_report
    if scenario.rain is not None and scenario.rain.design is not None:
        result.summary["design_storm"] = _design_summary(scenario.rain.design)
    if out is not None:
        result.save(out, scene=scene, overwrite=overwrite)
        if ckpt_path is not None and ckpt_path.exists():
            ckpt_path.unlink()
        if store is not None:
            store.remove()  # the result's frames map it until they are dropped
            speeds.remove()
    return result


# --- drainage: hooks of the SWMM network coupling (twin/sims/flood/drainage.py) ---
def _sewer(scenario: Scenario, twin: Twin, s: FloodSetup, ck: dict | None, checkpoints: bool):
    """The SWMM run coupled with this flood run, or None without ``[drainage] inp``; resumed from the
    checkpoint ``ck`` (SWMM replayed through its exchanges) when given, keeping the exchanges when the
    run ``checkpoints``."""
    if scenario.drainage.inp is None:
        return None
    from twin.sims.flood.drainage import SewerCoupling

    cfg = scenario.drainage
    if cfg.inp == "twin":  # the twin folder's network, ingested from GIS layers
        cfg = cfg.model_copy(update={"inp": _network_file(scenario, twin)})
    return SewerCoupling(
        cfg,
        twin.crs,
        twin.transform,
        twin.shape,
        np.asarray(s.grid.z),
        np.asarray(s.grid.blocked),
        scenario.duration,
        scenario.edit,
        resume=ck,
        log_exchanges=checkpoints,
    )


def _coupled_balance(surface: dict[str, Any], network: dict[str, Any]) -> dict[str, Any]:
    """The network's summary with one balance over surface and network together."""
    vin = surface["volume_in_m3"] + network["volume_network_inflow_other_m3"]
    vout = (
        surface["volume_out_m3"]
        + surface["volume_lost_m3"]
        + network["volume_outfalls_m3"]
        + network["volume_flooding_lost_m3"]
        + network["volume_network_losses_m3"]
    )
    stored = (
        surface["volume_stored_m3"]
        - surface["volume_initial_m3"]
        + network["volume_network_stored_m3"]
        - network["volume_network_initial_m3"]
    )
    residual = stored - (vin - vout)
    surface_part = residual - network["network_continuity_error_m3"]
    return {
        **network,
        "coupled_volume_in_m3": vin,
        "coupled_volume_out_m3": vout,
        "coupled_residual_m3": residual,
        "coupled_mass_balance_error": residual / vin if vin > 0 else residual,
        "coupled_mass_balance_error_without_network_continuity": surface_part / vin if vin > 0 else surface_part,
    }


# --- end drainage ---


def _design_summary(design) -> dict[str, Any]:
    """The design storm a run used: its depth, peak and blocks (the parameters are in scenario.json)."""
    h = design.hyetograph()
    return {
        "method": design.method,
        "return_period_years": design.return_period,
        "duration_s": h.duration_s,
        "step_s": h.step_s,
        "depth_mm": h.depth_mm,
        "peak_mm_h": float(h.intensity_mm_h.max()),
        "intensity_mm_h": [float(v) for v in h.intensity_mm_h],
    }


def _schedule(scenario: Scenario, s: FloodSetup, coupling: float | None = None) -> Iterator[tuple[float, set[str]]]:
    """Times at which the loop stops, in order: snapshots, gauges, rain frames, checkpoints, sewer
    coupling steps (every ``coupling`` seconds) and the end.

    Generated as the run goes, so that a long run with ``stop_at`` starts at once and memory does
    not grow with the duration; the times are those of a list built up front.
    """
    d = scenario.duration
    streams: list[tuple[str, Iterator[float]]] = [("frame", _every(scenario.output_interval, d))]
    if len(s.gauge_names):
        streams.append(("gauge", _every(scenario.output.gauge_interval, d)))
    if scenario.checkpoint_interval:
        streams.append(("checkpoint", _every(scenario.checkpoint_interval, d)))
    if coupling:
        streams.append(("drainage", _every(coupling, d)))
    streams.append(("rain", iter([t for t, _ in s.frames[1:]])))
    streams.append(("end", iter([d])))
    ahead: dict[str, float] = {}
    for kind, times in streams:
        _pull(ahead, kind, times, d)
    iters = dict(streams)
    while ahead:
        t = min(ahead.values())
        kinds = {k for k, v in ahead.items() if v == t}
        for k in kinds:
            _pull(ahead, k, iters[k], d)
        yield t, kinds


def _every(interval: float, d: float) -> Iterator[float]:
    """Multiples of ``interval`` up to ``d`` (as ``np.arange(1, n + 1) * interval`` gives them)."""
    for k in range(1, int(np.floor(d / interval + 1e-9)) + 1):
        yield np.float64(k) * interval


def _pull(ahead: dict[str, float], kind: str, times: Iterator[float], d: float) -> None:
    """Put the next time of ``kind`` in (0, d], rounded to the nanosecond, into ``ahead`` (or drop the kind)."""
    ahead.pop(kind, None)
    for t in times:
        t = float(round(t, 9))  # numpy's rounding for the multiples, Python's for listed times, as before
        if 0 < t <= d:
            ahead[kind] = t
            return


def _gauge_row(t: float, state: FloodState, s: FloodSetup) -> list[float]:
    depth = state.h[s.gauge_rows, s.gauge_cols].astype(float)
    level = depth + s.grid.z[s.gauge_rows, s.gauge_cols].astype(float)
    return [t, *depth.tolist(), *level.tolist()]


def _device(scenario: Scenario, device: str | None) -> str:
    """The kernel's device: ``device`` (``--device``) over ``numerics.device``; refused if absent here."""
    device = device or scenario.numerics.device
    if device not in ("cpu", "gpu"):
        raise ScenarioError(f"device {device!r} must be 'cpu' or 'gpu'")
    if device == "gpu" and scenario.numerics.scheme != "inertial":
        raise ScenarioError(
            f"numerics.device = 'gpu' (or --device gpu) runs the local-inertial kernel only; the full solver "
            f"(numerics.scheme = {scenario.numerics.scheme!r}) runs on the CPU: set numerics.device = 'cpu' "
            "or numerics.scheme = 'inertial'."
        )
    if device == "gpu" and scenario.numerics.time_stepping == "local":
        raise ScenarioError(
            "--device gpu runs the global time step only (numerics.time_stepping = 'local' runs on the CPU): "
            "run with --device cpu or set numerics.time_stepping = 'global'."
        )
    if device == "gpu" and not gpu_available():
        raise ScenarioError(
            "numerics.device = 'gpu' (or --device gpu), but this machine has no CUDA GPU that numba-cuda "
            "can use (no NVIDIA GPU or driver, or `pip install numba-cuda` missing). Run with "
            "numerics.device = 'cpu' (or --device cpu)."
        )
    return device


def _level_shares(run_stats: dict[str, Any]) -> dict[str, Any]:
    """Local time stepping: the share of the cell-time each level stepped at (level k: 2^k x the finest
    step; 'idle': dry tiles skipped), as ``{"time_step_levels": {"0": ..., "idle": ...}}``."""
    levels = run_stats.get("levels")
    if levels is None or not np.sum(levels) > 0:
        return {}
    share = np.asarray(levels) / np.sum(levels)
    return {
        "time_step_levels": {
            **{str(k): round(float(v), 4) for k, v in enumerate(share[:-1])},
            "idle": round(float(share[-1]), 4),
        }
    }


def _fingerprint(twin: Twin, scenario: Scenario) -> dict[str, str]:
    """What a checkpoint must match to be resumed: the scenario, each part of the twin the run reads and
    the bytes of each file the scenario names (its hash holds only their paths)."""
    return {"scenario": scenario.hash, **twin_parts(twin), **file_parts(_input_files(twin, scenario))}


def _input_files(twin: Twin, scenario: Scenario) -> list[Path]:
    """The files a run reads besides the twin's layers: the rain frames and the sewer network's .inp."""
    files = [frame.file for frame in (scenario.rain.frames or [])] if scenario.rain is not None else []
    inp = _network_file(scenario, twin)
    return files + ([inp] if inp is not None else [])


def _network_file(scenario: Scenario, twin: Twin) -> Path | None:
    """The sewer network's ``.inp``: the scenario's, the twin folder's (``inp = "twin"``) or none."""
    inp = scenario.drainage.inp
    if inp == "twin":
        from twin.sims.flood.drainage_layers import twin_inp

        return twin_inp(twin)
    return Path(inp) if inp is not None else None


def _save_checkpoint(
    path: Path,
    parts: dict[str, str],
    state: FloodState,
    accum: FloodAccum,
    totals: dict,
    run_stats: dict,
    stored0: float,
    gauge_rows: list,
    frame_times: list,
    extra: dict[str, np.ndarray],
) -> None:
    """The run's state; its snapshots are in the frames file beside it (``frame_times`` says how many);
    ``extra``: a sewer network's exchanges so far (SWMM is replayed through them on resume)."""
    arrays = {
        "h": state.h,
        "qx": state.qx,
        "qy": state.qy,
        "infil_cum": state.infil_cum,
        "h_lo": state.h_lo,
        **state_arrays(state),
        "t": np.float64(state.t),
        "steps": np.int64(state.steps),
        "h_max": accum.h_max,
        "v_max": accum.v_max,
        "t_arrival": accum.t_arrival,
        "duration": accum.duration,
        "hazard_max": accum.hazard_max,
        "totals": np.array(json.dumps(totals)),
        "run_stats": np.array(json.dumps(run_stats)),
        "stored0": np.float64(stored0),
        "fingerprint": np.array(json.dumps(parts, sort_keys=True)),
        "gauges": np.asarray(gauge_rows, dtype=np.float64) if gauge_rows else np.zeros((0, 0)),
        "frame_times": np.asarray(frame_times, dtype=np.float64),
        **extra,
    }
    with _io.atomic_file(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _load_checkpoint(path: Path, parts: dict[str, str]) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as data:
            ck = {k: data[k] for k in data.files}
    except Exception as exc:
        raise InputDataError(f"Checkpoint {path} cannot be read ({exc}); delete it and run from the start.") from None
    try:
        written = json.loads(str(ck.get("fingerprint", "")))
    except json.JSONDecodeError:
        written = None
    if not isinstance(written, dict):  # older checkpoints: one hash over the scenario, terrain and buildings
        raise ScenarioError(
            f"Checkpoint {path} was written by an older cimtwin and does not record the twin it "
            "ran on; delete it and run from the start."
        )
    changed = changed_parts(written, parts)
    if changed:
        what = ", ".join(_part_name(k) for k in changed)
        raise ScenarioError(
            f"Checkpoint {path} was written by another scenario or twin ({what} changed since); "
            "resuming would mix two runs. Delete it and run from the start, or resume with the "
            "scenario and twin that wrote it."
        )
    return ck


def _part_name(key: str) -> str:
    if key == "scenario":
        return "the scenario"
    if key.startswith(FILE_PART):
        return f"the file {key[len(FILE_PART) :]}"
    return f"the twin's {key}"


def _deepest(state: FloodState, s: FloodSetup) -> float:
    """The depth [m] the kernel's Courant step uses: the deepest water, or a water-level boundary's."""
    depth = float(np.nanmax(state.h)) if state.h.size else 0.0
    g, series = s.grid, s.forcing.series
    for row, col, kind, k in zip(g.bnd_row, g.bnd_col, g.bnd_kind, g.bnd_ser):
        if kind == 2 and not g.blocked[row, col]:
            times, values = series.t[series.ptr[k] : series.ptr[k + 1]], series.v[series.ptr[k] : series.ptr[k + 1]]
            depth = max(depth, float(np.interp(state.t, times, values)) - float(g.z[row, col]))
    return depth


def _instability(status: int, scenario: Scenario, state: FloodState, s: FloodSetup) -> str:
    if status == 1:
        # the kernel stops before a step longer than 1.5x the Courant step of the deepest water
        depth = _deepest(state, s)
        factor, key = courant_factor(scenario)
        limit = factor * s.grid.dx / math.sqrt(s.params.g * depth) if depth > 0 else math.inf
        return (
            f"numerics.fixed_dt = {scenario.numerics.fixed_dt:g} s is longer than the Courant limit of "
            f"{limit:.3g} s (numerics.{key} x cell size / sqrt(g x depth), with the deepest water {depth:.2f} m "
            f"at t = {state.t:.0f} s), so the run would blow up. Set numerics.fixed_dt to {limit:.3g} s or less "
            "(deeper water later needs less), or to 0 for the adaptive step."
        )
    return (
        f"The flood state became non-finite by t = {state.t:.0f} s. Check the inputs for extreme values "
        f"(e.g. huge inflows into one cell) or lower numerics.{courant_factor(scenario)[1]}."
    )


def _finish(
    twin: Twin,
    scenario: Scenario,
    s: FloodSetup,
    state: FloodState,
    accum: FloodAccum,
    totals: dict,
    run_stats: dict,
    stored0: float,
    gauge_rows: list,
    frames: np.ndarray | None,
    frame_times: list,
) -> FloodResult:
    stored1 = stored_volume(state, s.grid)
    vin = totals["vol_rain"] + totals["vol_inflow"] + totals["vol_bnd_in"]
    vout = totals["vol_bnd_out"]
    lost = totals["vol_infil"] + totals["vol_drain"]
    # water exchanged with a coupled sewer network (0 without one)
    sewer = totals.get("vol_sewer_in", 0.0) - totals.get("vol_sewer_out", 0.0)
    residual = (stored1 - stored0) - (vin - vout - lost - sewer)
    h_max = accum.h_max.astype(np.float32)
    wet = scenario.output.wet_depth
    hz_class = hazard_class(accum.hazard_max, h_max, wet)
    buildings = None
    if twin.buildings is not None:
        buildings = building_exposure(
            twin.buildings,
            twin.transform,
            twin.shape,
            h_max,
            accum.t_arrival,
            ground=s.grid.z,
            flooded_depth=scenario.output.building_depth,
        )
    land = ~s.water_mask & (s.grid.blocked == 0)
    cells = int(np.count_nonzero(s.grid.blocked == 0))
    ks = max(run_stats["kernel_seconds"], 1e-12)
    summary = {
        **common_summary("flood", scenario, twin, run_stats["wall_seconds"]),
        "scenario": scenario.name,
        "duration_s": scenario.duration,
        "volume_in_m3": vin,
        "volume_rain_m3": totals["vol_rain"],
        "volume_inflow_m3": totals["vol_inflow"],
        "volume_boundary_in_m3": totals["vol_bnd_in"],
        "volume_out_m3": vout,
        "volume_lost_m3": lost,
        "volume_infiltrated_m3": totals["vol_infil"],
        "volume_drained_m3": totals["vol_drain"],
        "volume_initial_m3": stored0,
        "volume_stored_m3": stored1,
        "mass_balance_error": float(residual / vin) if vin > 0 else float(residual),
        "steps": int(run_stats["steps"]),
        "dt_min_s": float(run_stats["dt_min"]) if np.isfinite(run_stats["dt_min"]) else 0.0,
        "dt_max_s": float(run_stats["dt_max"]),
        "speed_capped_cell_steps": int(run_stats.get("speed_capped", 0)),
        **_level_shares(run_stats),
        "wall_seconds": float(run_stats["wall_seconds"]),
        "kernel_seconds": float(run_stats["kernel_seconds"]),
        "cpu_seconds": float(run_stats.get("cpu_seconds", 0.0)),
        "cell_updates_per_second": float(cells * run_stats["steps"] / ks),
        "cells": cells,
        "threads": int(numba.get_num_threads()),
        "device": run_stats.get("device", "cpu"),
        "dtype": scenario.numerics.dtype,
        "scheme": scenario.numerics.scheme,
        "max_depth_m": float(h_max[land].max()) if land.any() else 0.0,
        "flooded_area_km2": float(
            np.count_nonzero(land & (h_max > scenario.output.building_depth)) * twin.cell_size**2 / 1e6
        ),
        "buildings": int(len(buildings)) if buildings is not None else 0,
        "buildings_flooded": int(buildings["flooded"].sum()) if buildings is not None else 0,
        "building_exposure": EXPOSURE_RULE,
        "hazard_cells": {
            name: int(np.count_nonzero(land & (hz_class == i + 1)))
            for i, name in enumerate(("low", "moderate", "significant", "extreme"))
        },
    }
    gcols = ["time_s", *[f"{n}_depth_m" for n in s.gauge_names], *[f"{n}_level_m" for n in s.gauge_names]]
    gauges = pd.DataFrame(
        np.asarray(gauge_rows, dtype=float).reshape(len(gauge_rows), len(gcols))
        if gauge_rows
        else np.zeros((0, len(gcols))),
        columns=gcols,
    )
    # 0 where never wet, as the files hold it (their nodata, see twin.sims.flood.gis)
    never = np.isnan(accum.t_arrival)
    return FloodResult(
        crs=twin.crs,
        transform=twin.transform,
        max_depth=np.where(never, np.float32(0), h_max),
        max_speed=np.where(never, np.float32(0), accum.v_max.astype(np.float32)),
        arrival_time=accum.t_arrival.astype(np.float64),
        duration=np.where(never, 0.0, accum.duration.astype(np.float64)),
        hazard=np.where(never, np.float32(0), accum.hazard_max.astype(np.float32)),
        hazard_class=np.where(never, np.uint8(0), hz_class),
        depth_frames=frames,
        frame_times=np.asarray(frame_times, dtype=np.float64),
        gauges=gauges,
        buildings=buildings,
        summary=summary,
        scenario=scenario.to_dict(),
        twin=twin,
    )
