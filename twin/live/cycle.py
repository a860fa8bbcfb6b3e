"""One forecast cycle end to end, and :class:`Forecaster`, which runs them on a twin.

A cycle at ``now``: read the observations (:mod:`twin.live.observations`); hot-start the last
cycle's state to now under the observed radar rain, with the boundary gauges' levels
(:mod:`twin.live.members`, :mod:`twin.live.assimilation`); nudge it to the in-domain gauges; nowcast
the rain (:mod:`twin.live.nowcast`); run the members (on Dask); build the maps, the per-feature
forecast and the warnings (:mod:`twin.live.alerts`); publish (:mod:`twin.live.publish`); save the
state (:mod:`twin.live.state`), last, so that a cycle cut short is run again from the same state.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from kernels.flood import stored_volume
from twin import _io
from twin._fingerprint import twin_parts
from twin.errors import ScenarioError
from twin.live import assimilation
from twin.live.alerts import FeatureSampler, feature_forecast, feature_layers, warning_table
from twin.live.config import ForecastConfig
from twin.live.member_numerics import member_numerics, member_params, member_scenario
from twin.live.members import MemberInputs, MemberOutput, advance_with_rain, member_state, run_members, warm_up
from twin.live.nowcast import Nowcast, import_pysteps, nowcast, onto_grid
from twin.live.observations import Observations, ObservationWarning, RadarFrame, read_observations, stamp
from twin.live.publish import publish_cycle
from twin.live.sewer import ManholeWatch, SewerStart, manhole_forecast, manhole_warnings
from twin.live.state import LiveState, load_state, save_state
from twin.model.edits import apply_edits
from twin.model.twin import Twin
from twin.sims.flood.forcing import MM_PER_H, FloodSetup, setup
from twin.sims.flood.roads import class_thresholds
from twin.sims.flood.scenario import Scenario
from twin.sims.flood.schemes import stepper

__all__ = ["CycleResult", "Forecaster"]

STATE_FILE = "state.npz"


@dataclass
class CycleResult:
    """What a cycle did. ``status``: ``published`` or ``waiting`` (nothing written); ``record`` is its
    ``cycle.json``; ``inputs`` and ``outputs`` the members' shared inputs and maps (for a replay's checks)."""

    status: str
    now: float
    folder: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)
    warnings: list[ObservationWarning] = field(default_factory=list)
    inputs: MemberInputs | None = None
    outputs: list[MemberOutput] = field(default_factory=list)
    nowcast: Nowcast | None = None
    radar: RadarFrame | None = None


class Forecaster:
    """Forecast cycles of ``twin`` from the observations arriving in ``obs``, published in ``out``.

    Use as a context manager (it holds the Dask cluster of the members between cycles)::

        with Forecaster(tw, "forecast.toml", "obs", "forecasts") as fc:
            fc.cycle()                       # one cycle at the radar's latest time
            fc.run(cycles=10, replay=True)   # a replay: the clock steps by the radar interval

    Parameters
    ----------
    twin
        The city model.
    config
        A :class:`ForecastConfig`, a dict of its TOML shape or a forecast TOML file.
    obs
        The folder radar frames and gauge files arrive in.
    out
        The forecast folder: ``cycles/<time>/``, ``latest.json``, ``history.csv`` and ``state.npz``
        (the hot-start state; delete it to start afresh).
    layers
        Further feature layers to warn for (``name -> GeoDataFrame``), besides the twin's own.
    """

    def __init__(
        self,
        twin: Twin,
        config: ForecastConfig | dict | str | Path,
        obs: str | Path,
        out: str | Path,
        *,
        layers: dict[str, gpd.GeoDataFrame] | None = None,
    ):
        self.config = ForecastConfig.coerce(config)
        base = self.config.base
        self.base = Scenario.coerce(base)
        self.twin, _ = apply_edits(twin, self.base.edit)
        self.obs = Path(obs)
        self.out = Path(out)
        # recorded in each cycle.json, so that `twin scene FORECAST_DIR` finds the twin by itself
        self.twin_path = str(Path(twin.path).resolve()) if twin.path is not None else None
        _io.check_out(self.out, "forecast", inputs=[twin.path, self.obs])
        self.out.mkdir(parents=True, exist_ok=True)
        _io.write_marker(self.out, "forecast", files=[])
        self.parts = {"scenario": self.base.hash, **twin_parts(self.twin)}
        self.member_numerics = member_numerics(self.base, self.config.numerics)
        self.layers = feature_layers(self.twin, layers)
        self.samplers = {name: FeatureSampler.of(gdf, self.twin) for name, (_, gdf) in self.layers.items()}
        self.client: Any = None
        self._cluster: Any = None
        self._clock: float | None = None
        for k in self.config.boundary_gauges.values():
            if k >= len(self.base.boundary) or self.base.boundary[k].type != "level":
                raise ScenarioError(
                    f'boundary_gauges: boundary {k} of the base scenario is not a type = "level" boundary; '
                    'name the index of a [[boundary]] with type = "level" (counting from 0).'
                )

    def __enter__(self) -> Forecaster:
        # what every cycle would otherwise pay again or in its first member: the cluster, the kernel of
        # the base scenario's scheme and dtype loaded in each worker, pysteps imported here
        if self.config.workers > 0 or self.config.scheduler:
            from twin.ensemble.run import dask_client

            self._cluster = dask_client(self.config.scheduler, max(self.config.workers, 1), self.config.threads)
            self.client = self._cluster.__enter__()
            self.client.run(warm_up, member_scenario(self.base, self.member_numerics))
        if self.config.nowcast != "persistence":
            import_pysteps()
            if self.client is not None:  # the nowcast runs on a worker (while the hot start runs here)
                self.client.run(import_pysteps)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._cluster is not None:
            self._cluster.__exit__(*exc)
            self._cluster = self.client = None

    # ------------------------------------------------------------------------------------------ cycles
    def run(self, cycles: int, *, replay: bool = False, poll: float = 30.0) -> list[CycleResult]:
        """Run ``cycles`` published cycles (a replay stops early when the observations end)."""
        done: list[CycleResult] = []
        last_obs = self._last_observation() if replay else math.inf
        while len(done) < cycles:
            res = self.cycle(replay=replay)
            if res.status == "published":
                done.append(res)
            elif not replay:
                time.sleep(poll)
            if replay and (self._clock or 0) >= last_obs:
                break
        return done

    def cycle(self, now: float | None = None, *, replay: bool = False) -> CycleResult:
        """Run one cycle at ``now`` (UTC seconds). Without ``now``: a replay's next step (the last cycle
        plus ``interval``; the first at the earliest radar frame), or the radar interval now begins."""
        cfg = self.config
        dt = float(cfg.interval)
        t0, c0 = time.perf_counter(), time.process_time()
        state = load_state(self.out / STATE_FILE, self.parts, self.base)
        if now is None:
            if replay:
                prev = self._clock if self._clock is not None else (state.now if state else None)
                now = prev + dt if prev is not None else self._first_frame()
            else:
                now = math.floor(time.time() / dt) * dt
        self._clock = now
        if state is not None and now <= state.now + 1e-6:
            return CycleResult("waiting", now, record={"reason": f"cycle {stamp(now)} is not after the last one"})
        obs = read_observations(
            self.obs, now, units=cfg.units, zr=(cfg.zr_a, cfg.zr_b), max_rain=cfg.max_rain, level_spike=cfg.level_spike
        )
        frame_now = next((f for f in obs.frames if abs(f.time - now) < 1.0), None)
        if frame_now is None:
            newest = max((f.time for f in obs.frames), default=-math.inf)
            if cfg.on_missing == "wait" and newest >= now - dt - 1.0:
                return CycleResult("waiting", now, record={"reason": f"waiting for the radar frame of {stamp(now)}"})
            obs.warn(
                "RadarFrameMissing",
                f"no radar frame for {stamp(now)} (now); the newest, "
                f"{stamp(newest) if math.isfinite(newest) else 'none'}, is held",
            )
        origin = state.origin if state is not None else now
        levels = self._boundary_levels(obs, origin, now)
        scn = self._scenario(now - origin + max(cfg.lead_times) + dt, levels)
        s = setup(self.twin, scn)
        params = s.params._replace(wet_depth=cfg.flooded_depth)
        fresh = state is None
        if state is None:
            state = LiveState(member_state(scn, s.h0), origin, now)
        self._late_frames(obs, state)
        bias = self._gauge_bias(obs, state.now, now)
        network = SewerStart.of(self.base, self.twin, np.asarray(s.grid.z), np.asarray(s.grid.blocked))
        t_ingest, c_ingest = time.perf_counter(), time.process_time()

        # the nowcast needs only the radar: with a cluster a worker runs it while the hot start runs here
        steps = int(math.ceil(max(cfg.lead_times) / dt))
        nowcast_result, last = self._nowcast(obs, steps)
        t_submit, c_submit = time.perf_counter(), time.process_time()

        # hot start: the last state to now under the observed rain (and the sewer network's state)
        flood = state.flood
        stored_before = stored_volume(flood, s.grid)
        segments = self._hot_segments(obs, state, now, origin, bias, s) if not fresh else []
        sewer_now, nodes = None, None
        if network is None:
            hot = advance_with_rain(flood, s.grid, s.forcing, params, segments, now - origin, scenario=scn)
        else:
            sewer_now, nodes, hot = self._hot_start_coupled(
                network.with_arrays(state.sewer), state, s, params, segments, scn, now - origin
            )
        gauges = assimilation.latest_levels(obs, now, cfg.max_age, set(cfg.boundary_gauges))
        misfits = assimilation.nudge(
            flood,
            self.twin,
            np.asarray(s.grid.z),
            np.asarray(s.grid.blocked),
            gauges,
            gain=cfg.nudging_gain,
            radius=cfg.nudging_radius,
            h_dry=params.h_dry,
        )
        nudged = sum(m.volume_m3 for m in misfits)
        # a zero-length step takes the nudged depths in: the full solver keeps each cell's velocity (its
        # discharges scaled with the depth), in the members and in the state saved for the next cycle
        advance, scheme_params = stepper(scn, params)  # on the CPU: a zero-length step moves no water
        advance(flood, s.grid, s.forcing, scheme_params, flood.t)
        balance = _balance(hot, stored_before, stored_volume(flood, s.grid), nudged)
        t_hot, c_hot = time.perf_counter(), time.process_time()

        # nowcast on the radar's grid (its result, or the wait for the worker's)
        nc, nowcast_cpu = nowcast_result()
        if nc.method == "none":
            obs.warn("NoRadar", f"no radar frame up to {stamp(now)}; the forecast has no rain")
        if nc.method == "persistence" and cfg.nowcast != "persistence":
            obs.warn("NowcastPersistence", f"the rain forecast holds the last radar frame: {nc.reason}")
        t_nowcast, c_nowcast = time.perf_counter(), time.process_time()

        inputs = MemberInputs(
            s.grid,
            s.forcing,
            member_params(params, self.member_numerics),
            s.roof_share,
            flood,
            last.crs if last is not None else self.twin.crs.to_wkt(),
            last.transform if last is not None else self.twin.transform,
            self.twin.crs.to_wkt(),
            self.twin.transform,
            dt,
            tuple(float(v) for v in cfg.lead_times),
            member_scenario(scn, self.member_numerics),
            sewer_now,
        )
        outputs = run_members(inputs, [m * bias for m in nc.rain], self.client)
        t_members, c_members = time.perf_counter(), time.process_time()

        name = stamp(now)
        rasters, tables, layers, counts = self._products(outputs, np.asarray(s.grid.z), nodes, np.asarray(s.h0) > 0)
        for w in obs.warnings:
            warnings.warn(w, stacklevel=2)
        record = {
            "cycle": name,
            "now": pd.Timestamp(now, unit="s", tz="UTC").isoformat(),
            "origin": pd.Timestamp(origin, unit="s", tz="UTC").isoformat(),
            "twin": self.twin_path,
            "cycle_index": state.cycles + 1,
            "lead_times_min": [v / 60 for v in cfg.lead_times],
            "thresholds_m": list(cfg.thresholds),
            "flooded_depth_m": cfg.flooded_depth,
            "warn_probability": cfg.warn_probability,
            "members": len(outputs),
            "nowcast": {"method": nc.method, "reason": nc.reason, "radar_frame": stamp(last.time) if last else None},
            "rain_gauge_bias": bias,
            "boundary_levels": {st: levels.get(k) is not None for st, k in cfg.boundary_gauges.items()},
            "misfit": [
                {
                    "station": m.station,
                    "observed_m": m.observed_m,
                    "model_before_m": m.model_before_m,
                    "model_after_m": m.model_after_m,
                    "misfit_before_m": m.before,
                    "misfit_after_m": m.after,
                    "volume_m3": m.volume_m3,
                }
                for m in misfits
            ],
            "balance": balance,
            "members_balance": [_member_balance(i, o.balance) for i, o in enumerate(outputs)],
            "numerics": scn.numerics.model_dump(mode="json"),
            "member_numerics": inputs.scenario.numerics.model_dump(mode="json"),
            "warnings": [{"code": w.code, "message": w.message} for w in obs.warnings],
            **counts,
        }
        t_products, c_products = time.perf_counter(), time.process_time()
        tables["members.csv"] = pd.DataFrame(record["members_balance"])
        # CPU seconds: this process's per stage; the members' own (on the workers, or here) apart
        record["cpu_seconds"] = {
            "ingest": c_ingest - c0,
            "hot_start": c_hot - c_submit,
            "nowcast": (c_submit - c_ingest) + (c_nowcast - c_hot),
            "nowcast_own": nowcast_cpu,
            "members": c_members - c_nowcast,
            "members_own": [o.cpu_s for o in outputs],
            "products": c_products - c_members,
        }
        record["timings"] = {
            "ingest": t_ingest - t0,
            "hot_start": t_hot - t_submit,
            "nowcast": (t_submit - t_ingest) + (t_nowcast - t_hot),
            "members": t_members - t_nowcast,
            "products": t_products - t_members,
            "total": time.perf_counter() - t0,  # to the start of publishing: cycle.json cannot time its own writing
        }
        folder = publish_cycle(self.out, name, rasters, self.twin.transform, self.twin.crs, tables, layers, record)
        _io.write_extra(folder, "scene.html", self._scene, f"write it later with `twin scene {self.out}`.")
        record["timings"]["publishing"] = time.perf_counter() - t_products
        record["timings"]["total"] = time.perf_counter() - t0
        record["cpu_seconds"]["publishing"] = time.process_time() - c_products
        # the state last: a cycle cut short before this line is run again from the previous state
        state.now, state.cycles = now, state.cycles + 1
        state.sewer = sewer_now.to_arrays() if sewer_now is not None else {}
        state.seen.update({stamp(f.time): f.digest for f in obs.frames})
        save_state(self.out / STATE_FILE, state, self.parts)
        return CycleResult("published", now, folder, record, obs.warnings, inputs, outputs, nc, last)

    # ------------------------------------------------------------------------------------------ pieces
    def _hot_start_coupled(
        self,
        network: SewerStart,
        state: LiveState,
        s: FloodSetup,
        params: Any,
        segments: list[tuple[float, np.ndarray]],
        scn: Scenario,
        t_now: float,
    ) -> tuple[SewerStart, gpd.GeoDataFrame, dict[str, float]]:
        """The hot start coupled with SWMM (from the last cycle's SWMM state): SWMM's state of now, the
        network's nodes and the hot start's volumes."""
        sewer = network.open(scn.duration)
        try:
            hot = advance_with_rain(
                state.flood,
                s.grid,
                s.forcing,
                params,
                segments,
                t_now,
                scenario=scn,
                sewer=ManholeWatch(sewer, state.flood.t, 0),
            )
            saved = network.saved(sewer)
            nodes = sewer.network.nodes.iloc[sewer.idx].reset_index(drop=True)
        finally:
            sewer.close()
        return saved, nodes, hot

    def _scene(self, path: Path) -> None:
        from twin.scene.forecast import forecast_scene

        forecast_scene(self.twin, path.parent).to_html(path, title=f"cimtwin forecast {path.parent.name}")

    def _first_frame(self) -> float:
        obs = read_observations(self.obs, math.inf, units=self.config.units, zr=(self.config.zr_a, self.config.zr_b))
        if not obs.frames:
            raise ScenarioError(f"No radar frame in {self.obs}; a replay starts at the first frame.")
        return obs.frames[0].time

    def _last_observation(self) -> float:
        obs = read_observations(self.obs, math.inf, units=self.config.units, zr=(self.config.zr_a, self.config.zr_b))
        return max((f.time for f in obs.frames), default=-math.inf)

    def _scenario(self, t_end: float, levels: dict[int, list[list[float]] | None]) -> Scenario:
        d = self.base.to_dict()
        d["rain"] = {"constant": 0.0}
        d["duration"] = max(float(t_end), 1.0)
        d["output_interval"] = d["duration"]
        d["checkpoint_interval"] = None
        d["drainage"] = {"capacity": d.get("drainage", {}).get("capacity", 0.0)}  # the sewer network is not run
        d["gauge"] = []
        d["output"] = {**d.get("output", {}), "snapshots": False}
        d.pop("edit", None)  # applied to the twin once
        for k, series in levels.items():
            if series is not None:
                d["boundary"][k]["level"] = series
        return Scenario.from_record(d, source="the forecast's base scenario")

    def _boundary_levels(self, obs: Observations, origin: float, now: float) -> dict[int, Any]:
        cfg = self.config
        t_end = now - origin + max(cfg.lead_times) + cfg.interval
        return {
            k: assimilation.boundary_levels(obs, station, origin, t_end, cfg.max_age, now)
            for station, k in cfg.boundary_gauges.items()
        }

    def _late_frames(self, obs: Observations, state: LiveState) -> None:
        for f in obs.frames:
            key = stamp(f.time)
            if f.time <= state.now + 1e-6 and key not in state.seen and state.cycles > 0:
                obs.warn(
                    "RadarFrameLate",
                    f"{Path(f.source).name} ({key}) arrived after the cycle of its time had run; its rain was "
                    "not in that hot start (the frame before it was held) and only the nowcast uses it",
                )

    def _frame_on_grid(self, f: RadarFrame, obs: Observations) -> np.ndarray:
        tw = self.twin
        field = onto_grid(f.rain, f.crs, f.transform, tw.crs.to_wkt(), tw.transform, tw.shape).astype(np.float64)
        missing = np.isnan(field)
        if missing.any():
            obs.warn(
                "RadarCoverage",
                f"{Path(f.source).name}: {int(missing.sum())} cells of the twin without radar data; no rain taken there",
            )
        return np.where(missing, 0.0, field)

    def _hot_segments(
        self, obs: Observations, state: LiveState, now: float, origin: float, bias: float, s: FloodSetup
    ) -> list[tuple[float, np.ndarray]]:
        dt = float(self.config.interval)
        frames = [f for f in obs.frames if f.time < now - 1e-6]
        before = [f for f in frames if f.time <= state.now + 1e-6]
        inside = [f for f in frames if f.time > state.now + 1e-6]
        chosen = ([before[-1]] if before else []) + inside
        have = {round(f.time) for f in frames}
        k = 1
        while state.now + k * dt < now - 1e-6:
            t = state.now + k * dt
            if round(t) not in have:
                obs.warn(
                    "RadarFrameMissing", f"no radar frame for {stamp(t)}; the frame before it is held over its interval"
                )
            k += 1
        scale = MM_PER_H * s.roof_share * bias
        return [(f.time - origin, self._frame_on_grid(f, obs) * scale) for f in chosen]

    def _gauge_bias(self, obs: Observations, start: float, now: float) -> float:
        """Mean-field bias of the radar against the rain gauges over the frames since the last cycle:
        sum of gauge rates / sum of the radar's at the gauges (1 with too little rain; held to 0.5-2)."""
        g = obs.rain_gauges
        if "rain_mm_h" not in g or not len(g) or not obs.frames:
            return 1.0
        tw = self.twin
        gs, rs = 0.0, 0.0
        for f in obs.frames:
            if not (start - 1e-6 <= f.time <= now + 1e-6):
                continue
            at = g[np.abs(g["time"].to_numpy(float) - f.time) < 1.0]
            if not len(at):
                continue
            field = onto_grid(f.rain, f.crs, f.transform, tw.crs.to_wkt(), tw.transform, tw.shape)
            rows, cols = tw.index(at["x"].to_numpy(float), at["y"].to_numpy(float))
            ny, nx = tw.shape
            ok = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
            radar = field[rows[ok], cols[ok]]
            good = np.isfinite(radar)
            gs += float(at["rain_mm_h"].to_numpy(float)[ok][good].sum())
            rs += float(radar[good].sum())
        if rs < 1.0 or gs < 1.0:
            return 1.0
        return float(np.clip(gs / rs, 0.5, 2.0))

    def _nowcast(self, obs: Observations, steps: int) -> tuple[Callable[[], tuple[Nowcast, float]], RadarFrame | None]:
        """The rain nowcast begun, and the last radar frame. Returns a function that gives the
        :class:`Nowcast` (method ``none`` without radar) and the CPU seconds a Dask worker spent on it:
        with a cluster it is submitted now and runs on a worker while the hot start runs here; without
        one it runs when the function is called."""
        cfg = self.config
        dt = float(cfg.interval)
        if not obs.frames:
            shape = self.twin.shape
            none = Nowcast(np.zeros((cfg.members, steps, *shape), np.float32), "none", "no radar")
            return (lambda: (none, 0.0)), None
        last = obs.frames[-1]
        by_time = {round(f.time): f for f in obs.frames}
        chain = [last]
        while len(chain) < max(cfg.min_frames, 3) and round(chain[-1].time - dt) in by_time:
            chain.append(by_time[round(chain[-1].time - dt)])
        shape = last.rain.shape
        fields = [
            f.rain
            if f.rain.shape == shape and f.transform == last.transform
            else onto_grid(f.rain, f.crs, f.transform, last.crs, last.transform, shape)
            for f in reversed(chain)
        ]
        km = abs(last.transform.a) * (111.32 if _geographic(last.crs) else 1e-3)
        run = functools.partial(
            _timed_nowcast,
            fields,
            steps,
            cfg.members,
            method=cfg.nowcast,
            min_frames=cfg.min_frames,
            km_per_pixel=km,
            interval_min=dt / 60,
            seed=cfg.seed,
        )
        if self.client is None:
            return (lambda: (run()[0], 0.0)), last
        return self.client.submit(run, pure=False, retries=1).result, last

    def _products(
        self,
        outputs: list[MemberOutput],
        ground: np.ndarray,
        nodes: gpd.GeoDataFrame | None = None,
        normal: np.ndarray | None = None,
    ):
        cfg = self.config
        leads = [float(v) for v in cfg.lead_times]
        rasters: dict[str, np.ndarray] = {}
        for j, lead in enumerate(leads):
            stack = np.stack([o.h_max[j] for o in outputs])
            tag = f"{lead / 60:g}min"
            rasters[f"depth_median_{tag}.tif"] = np.median(stack, axis=0)
            for d in cfg.thresholds:
                rasters[f"p_depth_gt_{d:g}m_{tag}.tif"] = (stack > d).mean(axis=0)
        arr = np.stack([np.where(np.isnan(o.arrival), np.inf, o.arrival) for o in outputs])
        first = np.median(arr, axis=0) / 60
        rasters["first_flooded_min.tif"] = np.where(np.isfinite(first), first, np.nan)
        tables: dict[str, pd.DataFrame] = {}
        layers: dict[str, gpd.GeoDataFrame] = {}
        warned = []
        counts: dict[str, Any] = {"features": {}}
        h_max = [o.h_max for o in outputs]
        arrivals = [o.arrival for o in outputs]
        for name, (kind, gdf) in self.layers.items():
            if kind == "road":
                thr = class_thresholds(gdf["class"], cfg.road_depths)
                if "bridge" in gdf.columns:  # water passes under a bridge, as in the flood run's roads.gpkg
                    thr[gdf["bridge"].fillna(False).to_numpy(bool)] = np.inf
            else:
                thr = np.full(len(gdf), cfg.flooded_depth)
            # features are read off the rivers' and lakes' own water at the base's start (``normal``)
            sampler = self.samplers[name] if normal is None else self.samplers[name].without(normal)
            fc = feature_forecast(sampler, h_max, arrivals, ground, thr, leads)
            w = warning_table(name, kind, gdf, fc, thr, leads, cfg.warn_probability)
            warned.append(w)
            per = gpd.GeoDataFrame(
                pd.concat([gdf.drop(columns="geometry").reset_index(drop=True), fc], axis=1),
                geometry=gdf.geometry.values,
                crs=gdf.crs,
            )
            layers[f"{name}.gpkg"] = per
            last = f"p_flooded_{leads[-1] / 60:g}min"
            counts["features"][name] = {
                "kind": kind,
                "count": len(gdf),
                "warned": int((fc[last] >= cfg.warn_probability).sum()),
            }
        if nodes is not None and len(nodes):
            mf = manhole_forecast([o.manholes for o in outputs], leads)
            layers["manholes.gpkg"] = gpd.GeoDataFrame(
                pd.concat([nodes.drop(columns="geometry").reset_index(drop=True), mf], axis=1),
                geometry=nodes.geometry.values,
                crs=nodes.crs,
            )
            w = manhole_warnings(nodes, mf, leads, cfg.warn_probability)
            if w is not None:
                warned.append(w)
            last = f"p_overflow_{leads[-1] / 60:g}min"
            counts["features"]["manholes"] = {
                "kind": "manhole",
                "count": len(nodes),
                "warned": int((mf[last] >= cfg.warn_probability).sum()),
            }
        table = pd.concat(warned, ignore_index=True) if warned else gpd.GeoDataFrame()
        if len(table):
            table = table.sort_values(["lead_min", "probability"], ascending=[True, False]).reset_index(drop=True)
            layers["warnings.geojson"] = gpd.GeoDataFrame(table, geometry="geometry", crs=self.twin.crs)
            tables["warnings.csv"] = pd.DataFrame(table.drop(columns="geometry"))
        else:
            tables["warnings.csv"] = pd.DataFrame(
                columns=[
                    "layer",
                    "kind",
                    "id",
                    "class",
                    "threshold_m",
                    "lead_min",
                    "probability",
                    "expected_min",
                    "depth_median_m",
                ]
            )
        counts["buildings_warned"] = counts["features"].get("buildings", {}).get("warned", 0)
        return rasters, tables, layers, counts


def _geographic(crs: str) -> bool:
    from pyproj import CRS

    with contextlib.suppress(Exception):
        return bool(CRS.from_user_input(crs).is_geographic)
    return False


def _timed_nowcast(*args: Any, **kwargs: Any) -> tuple[Nowcast, float]:
    """:func:`twin.live.nowcast.nowcast` and the CPU seconds it took (on a Dask worker: not this process's).

    pysteps hands its ensemble members to ``dask.compute`` as closures that fill lists in place; on a
    Dask worker that would send them to the cluster and the lists would come back empty ("need at least
    one array to stack"), so they run here, one after the other (as ``num_workers=1`` asks).
    """
    import dask

    c0 = time.process_time()
    with dask.config.set(scheduler="synchronous"):
        nc = nowcast(*args, **kwargs)
    return nc, time.process_time() - c0


def _balance(hot: dict[str, float], stored0: float, stored1: float, nudged: float) -> dict[str, float]:
    """The cycle's books from the last state to now: the hot start's volumes, the nudging apart."""
    vin = hot["vol_rain"] + hot["vol_inflow"] + hot["vol_bnd_in"]
    out = hot["vol_bnd_out"]
    lost = hot["vol_infil"] + hot["vol_drain"]
    sewer = hot.get("vol_sewer", 0.0)
    residual = (stored1 - stored0) - (vin - out - lost + nudged + sewer)
    return {
        "volume_in_m3": vin,
        "volume_rain_m3": hot["vol_rain"],
        "volume_inflow_m3": hot["vol_inflow"],
        "volume_boundary_in_m3": hot["vol_bnd_in"],
        "volume_out_m3": out,
        "volume_lost_m3": lost,
        "volume_nudging_m3": nudged,
        "volume_sewer_net_m3": sewer,
        "volume_initial_m3": stored0,
        "volume_stored_m3": stored1,
        "residual_m3": residual,
        "mass_balance_error": residual / vin if vin > 0 else residual,
        "steps": int(hot["steps"]),
    }


def _member_balance(i: int, b: dict[str, float]) -> dict[str, float]:
    vin = b["vol_rain"] + b["vol_inflow"] + b["vol_bnd_in"]
    return {
        "member": i,
        "volume_in_m3": vin,
        "volume_stored_m3": b["stored_after"],
        "volume_sewer_net_m3": b.get("vol_sewer", 0.0),
        "residual_m3": b["residual"],
        "mass_balance_error": b["residual"] / vin if vin > 0 else b["residual"],
    }
