"""The "river" scenario kind: runoff, inflows and spills routed through a twin's rivers and lakes.

A :class:`RiverScenario` (TOML, ``kind = "river"``) names the network (the twin's ``rivers``
layer with its ``lakes`` as lake links, or stream links from the terrain), the forcings (runoff
over the links' catchments, per-link lateral series, inflow hydrographs at points), the lakes'
outlets and operating rules, pollutant spills and gauges. :func:`run` routes it with
:class:`kernels.lake.RiverLakeSystem` (Muskingum-Cunge links, level-pool lakes) and carries each
spill with :class:`kernels.transport.Transport`, then writes a result folder atomically.

Pollutants ride on the routed flows: each step the transport takes the links' step-mean
discharges (Manning's normal-flow area and velocity) and the lakes' storage as the volumes of the
completely mixed lake links. Side-connected lakes exchange water, not pollutant.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd

from kernels._series import Series, series_cumulative, series_integral
from kernels.transport import Transport
from twin import _io
from twin._cf import global_attrs, grid_mapping, point_xy
from twin._progress import progress as _progress_bar
from twin.errors import InputDataError, ScenarioError
from twin.model.twin import Twin
from twin.sims.base import Result, common_summary
from twin.sims.flood.forcing import MM_PER_H
from twin.sims.river.network import (
    Network,
    lake_connections,
    lake_hypsometry,
    lake_table,
    link_catchments,
    network_from_rivers,
    network_from_streams,
)
from twin.sims.river.scenario import LakeSpec, RiverScenario

__all__ = ["RiverResult", "RiverScenario", "run"]

_SECONDS_PER_DAY = 86400.0


@dataclass
class RiverResult(Result):
    """A river run's outputs; :meth:`save` writes the result folder (``network.gpkg``, ``links.nc``,
    ``lakes.nc``, ``gauges.csv``), :meth:`load` reads it back.

    Attributes
    ----------
    links : GeoDataFrame
        The network's links with ``peak_discharge_m3s``, ``time_of_peak_s`` and
        ``peak_concentration_kgm3`` (NaN without spills).
    times : float array (K,)
        End of each output interval [s].
    discharge : float array (K, n)
        Mean outflow of each link over each output interval [m3/s].
    concentration : float array (S, K, n) or None
        Mean concentration of each spill's pollutant in each link at the output times [kg/m3].
    spills : list of str
    lakes : DataFrame
        One row per lake: ``lake``, ``name``, ``kind``, ``lake_link``.
    lake_series : dict of float arrays (K, m)
        ``stage`` [m], ``storage`` [m3] and ``concentration`` [kg/m3, all spills] at the output
        times; ``inflow``, ``outflow``, ``evaporation``, ``exchange`` interval means [m3/s].
    gauges : DataFrame
        ``time_s`` and per gauge ``<name>_discharge_m3s`` and ``<name>_concentration_kgm3``.
    summary, scenario : dict
    """

    kind: ClassVar[str] = "river"
    signature: ClassVar[tuple[str, ...]] = ("links.nc",)
    links: gpd.GeoDataFrame
    times: np.ndarray
    discharge: np.ndarray
    concentration: np.ndarray | None
    spills: list[str]
    lakes: pd.DataFrame
    lake_series: dict[str, np.ndarray]
    gauges: pd.DataFrame
    summary: dict[str, Any]
    scenario: dict[str, Any]
    twin: Twin | None = field(default=None, repr=False)

    def scene(self):
        """The links on the twin coloured by peak discharge (see :func:`twin.scene.city.network_scene`)."""
        from twin.scene.city import network_scene

        if self.twin is None:
            raise InputDataError(
                "This result has no twin attached; load it with load_result(path, twin=Twin.load(...))."
            )
        return network_scene(self.twin, self.links, "peak_discharge_m3s", title="Peak discharge", unit="m3/s")

    def scene_title(self) -> str:
        return f"{super().scene_title()}, peak discharge"

    def links_dataset(self):
        """Link discharges (and concentrations) over time as a CF-1.8 xarray Dataset."""
        import xarray as xr

        crs = self.links.crs
        ids = self.links["link_id"].to_numpy(np.int64)
        mid = self.links.geometry.interpolate(0.5, normalized=True)
        data = {
            "discharge": (
                ("time", "link_id"),
                self.discharge,
                {
                    "units": "m3 s-1",
                    "long_name": "mean link outflow over the output interval",
                    "coordinates": "x y",
                    "grid_mapping": "crs",
                },
            ),
            "crs": ((), 0, grid_mapping(crs)),
        }
        coords = {
            "time": ("time", self.times, {"units": "s", "long_name": "end of the output interval"}),
            "link_id": ("link_id", ids, {"long_name": "link id (network.gpkg)"}),
            **point_xy("link_id", mid.x.to_numpy(), mid.y.to_numpy(), "the link's midpoint"),
        }
        if self.concentration is not None:
            data["concentration"] = (
                ("spill", "time", "link_id"),
                self.concentration,
                {
                    "units": "kg m-3",
                    "long_name": "mean pollutant concentration in the link",
                    "coordinates": "x y",
                    "grid_mapping": "crs",
                },
            )
            coords["spill"] = ("spill", np.asarray(self.spills, dtype=object))
        return xr.Dataset(data, coords=coords, attrs=self._attrs("links"))

    def lakes_dataset(self):
        """Lake stage, storage and flows over time as a CF-1.8 xarray Dataset."""
        import xarray as xr

        units = {
            "stage": ("m", "water surface elevation"),
            "storage": ("m3", "stored volume"),
            "inflow": ("m3 s-1", "mean inflow over the output interval"),
            "outflow": ("m3 s-1", "mean outflow over the output interval"),
            "evaporation": ("m3 s-1", "mean evaporation over the output interval"),
            "exchange": ("m3 s-1", "mean side-channel flow into the lake over the output interval"),
            "concentration": (
                "kg m-3",
                "pollutant concentration at the end of the output interval, all spills together",
            ),
        }
        data = {
            k: (("time", "lake"), self.lake_series[k], {"units": u, "long_name": ln})
            for k, (u, ln) in units.items()
            if k in self.lake_series
        }
        coords = {
            "time": ("time", self.times, {"units": "s", "long_name": "end of the output interval"}),
            "lake": ("lake", self.lakes["lake"].to_numpy(np.int64)),
            "lake_name": ("lake", self.lakes["name"].astype(str).to_numpy().astype(object)),
            "lake_link": ("lake", self.lakes["lake_link"].to_numpy(np.int64)),
        }
        return xr.Dataset(data, coords=coords, attrs=self._attrs("lakes"))

    def _attrs(self, what: str) -> dict[str, str]:
        return global_attrs(f"cimtwin river {what}: {self.scenario.get('name', '')}", self.summary)

    def _write_files(self, tmp: Path) -> None:
        """``network.gpkg``, ``links.nc``, ``lakes.nc`` and ``gauges.csv``."""
        self.links.to_file(tmp / "network.gpkg", layer="links", driver="GPKG", engine="pyogrio")
        self.links_dataset().to_netcdf(tmp / "links.nc")
        self.lakes_dataset().to_netcdf(tmp / "lakes.nc")
        self.gauges.to_csv(tmp / "gauges.csv", index=False)

    @classmethod
    def _read_files(cls, path: Path, summary: dict[str, Any], scenario: dict[str, Any], twin: Any) -> RiverResult:
        import xarray as xr

        links = gpd.read_file(path / "network.gpkg", layer="links")
        with xr.open_dataset(path / "links.nc") as ds:
            times = ds["time"].values.astype(np.float64)
            discharge = ds["discharge"].values
            conc = ds["concentration"].values if "concentration" in ds else None
            spills = [str(s) for s in ds["spill"].values] if "spill" in ds.coords else []
        with xr.open_dataset(path / "lakes.nc") as ds:
            series = {
                k: ds[k].values
                for k in ("stage", "storage", "inflow", "outflow", "evaporation", "exchange", "concentration")
                if k in ds
            }
            lakes = pd.DataFrame(
                {
                    "lake": ds["lake"].values.astype(np.int64),
                    "name": [str(s) for s in ds["lake_name"].values],
                    "lake_link": ds["lake_link"].values.astype(np.int64),
                }
            )
        return cls(
            links=links,
            times=times,
            discharge=discharge,
            concentration=conc,
            spills=spills,
            lakes=lakes,
            lake_series=series,
            gauges=pd.read_csv(path / "gauges.csv"),
            summary=summary,
            scenario=scenario,
            twin=twin,
        )


# ---------------------------------------------------------------------------------------------- run


def run(
    twin: Twin,
    scenario: RiverScenario | dict | str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> RiverResult:
    """Run a river-lake scenario on a twin.

    Parameters
    ----------
    twin : Twin
        Its rivers (or terrain, for stream networks), lakes and terrain are used.
    scenario : RiverScenario, dict or path of a TOML file
    out : path, optional
        Result folder to write (atomically).
    progress : bool
        Show a progress bar.
    overwrite : bool
        Let ``out`` replace a cimtwin folder of another kind (see :func:`twin._io.check_out`, which
        refuses an unsafe ``out`` before the run starts).

    Returns
    -------
    RiverResult
    """
    from kernels.lake import RiverLakeSystem

    scenario = RiverScenario.coerce(scenario)
    if out is not None:
        _io.check_out(out, "river", inputs=[twin.path], overwrite=overwrite)
    wall0 = time.perf_counter()
    net = _network(twin, scenario)
    n = len(net)
    lakes, lake_rows, lake_links = _lakes(twin, scenario, net)
    rn = net.river_network(scenario.network.reference_discharge)
    dt, steps = scenario.dt, scenario.steps
    per_out = round(scenario.output_interval / dt)
    lateral_rate = _lateral_per_step(scenario, net, steps)  # callable: (t0 step, count) -> (count, n)
    inflow_series = _inflow_series(scenario, net, steps)
    own_lakes = np.array([k for k, j in enumerate(lake_links) if j >= 0], dtype=np.int64)
    side_lakes = np.array([k for k, j in enumerate(lake_links) if j < 0], dtype=np.int64)
    transports, spill_links = _transports(
        scenario, net, rn, lakes, lake_links, side_lakes, [twin.lakes.geometry.iloc[lake_rows[k]] for k in side_lakes]
    )
    # a side lake's own outlet (if any) discharges into the link its side channel joins
    side_outlet = np.array([lakes[k].outlet_link >= 0 for k in side_lakes], dtype=bool)
    own_links = np.asarray(lake_links, dtype=np.int64)[own_lakes] if len(own_lakes) else own_lakes
    spill_steps = [int(np.floor(s.time / dt + 1e-9)) for s in scenario.spill]
    gauge_idx = _gauges(scenario, net)

    try:
        system = RiverLakeSystem(rn, lakes, dt)
    except ValueError as exc:  # the kernel checks the lakes' tables and rules; say it in scenario terms
        raise ScenarioError(f"the scenario's lakes are inconsistent: {exc} (lake k is the k-th [[lake]])") from None
    n_out = steps // per_out + (1 if steps % per_out else 0)
    discharge = np.zeros((n_out, n))
    conc = np.zeros((len(transports), n_out, n)) if transports else None
    series = {
        k: np.zeros((n_out, len(lakes)))
        for k in ("stage", "storage", "inflow", "outflow", "evaporation", "exchange", "concentration")
    }
    peak_q = np.full(n, -np.inf)
    peak_t = np.zeros(n)
    peak_c = np.zeros(n)  # of any one spill's pollutant, over every step
    lake_in_prev = np.zeros(len(lakes))
    times = np.zeros(n_out)
    bar = _progress_bar(steps, f"river {scenario.name}", progress, unit="step")
    try:
        for o in range(n_out):
            s0, s1 = o * per_out, min((o + 1) * per_out, steps)
            inflow = inflow_series[s0:s1] if inflow_series is not None else None
            # a lake link's lateral inflow (its catchment, the lake's own area) enters the lake
            res = system.run(inflow=inflow, lateral=lateral_rate(s0, s1 - s0), n_steps=s1 - s0)
            q = res["outflow"]
            discharge[o] = q.mean(axis=0)
            k = np.argmax(q, axis=0)
            better = q[k, np.arange(n)] > peak_q
            peak_q = np.where(better, q[k, np.arange(n)], peak_q)
            peak_t = np.where(better, (s0 + k + 1) * dt, peak_t)
            times[o] = s1 * dt
            if lakes:
                series["stage"][o] = res["lake_stage"][-1]
                series["storage"][o] = res["lake_storage"][-1]
                series["outflow"][o] = res["lake_outflow"].mean(axis=0)
                series["evaporation"][o] = res["lake_evaporation"].mean(axis=0)
                series["exchange"][o] = res["lake_exchange"].mean(axis=0)
                lake_in_cum = system.ledger()["lake_inflow"]
                series["inflow"][o] = (lake_in_cum - lake_in_prev) / ((s1 - s0) * dt)
                lake_in_prev = lake_in_cum
            for si, tr in enumerate(transports):
                cells = np.diff(tr.offsets)
                for step in range(s0, s1):
                    # the pollutant rides on the step's routed flows; lake links hold their lakes' water
                    volume = np.zeros(n)
                    volume[own_links] = res["lake_storage"][step - s0, own_lakes]
                    tr.set_flows(
                        q[step - s0],
                        lake_volume=volume,
                        side_volume=res["lake_storage"][step - s0, side_lakes],
                        side_exchange=res["lake_exchange"][step - s0, side_lakes],
                        side_outflow=res["lake_outflow"][step - s0, side_lakes] * side_outlet,
                    )
                    if step == spill_steps[si]:
                        link, x = spill_links[si]
                        tr.spill(link, x, scenario.spill[si].mass)
                    tr.step(dt)
                    if step >= spill_steps[si]:
                        c = np.add.reduceat(tr.concentration, tr.offsets[:-1]) / cells
                        np.maximum(peak_c, c, out=peak_c)
                conc[si, o] = np.add.reduceat(tr.concentration, tr.offsets[:-1]) / cells
                if lakes:
                    series["concentration"][o, own_lakes] += tr.concentration[tr.offsets[own_links]]
                    series["concentration"][o, side_lakes] += tr.side_concentration
            bar.update(s1 - s0)
    finally:
        bar.close()
    wall = time.perf_counter() - wall0
    led = system.ledger()
    links = net.links.copy()
    links["peak_discharge_m3s"] = peak_q
    links["time_of_peak_s"] = peak_t
    links["peak_concentration_kgm3"] = peak_c if transports else np.nan
    lake_frame = pd.DataFrame(
        {
            "lake": lake_rows,
            "name": [_lake_name(twin, r) for r in lake_rows],
            "kind": ["side" if lk.exchange_link >= 0 else "inline" for lk in lakes],
            "lake_link": [int(net.ids[j]) if j >= 0 else -1 for j in lake_links],
        }
    )
    gauges = _gauge_frame(scenario, times, discharge, conc, gauge_idx)
    summary = _summary(scenario, net, led, peak_q, peak_t, transports, wall, steps)
    if twin.path is not None:
        summary["twin"] = str(twin.path)
    result = RiverResult(
        links=links,
        times=times,
        discharge=discharge,
        concentration=conc,
        spills=_spill_names(scenario),
        lakes=lake_frame,
        lake_series=series,
        gauges=gauges,
        summary=summary,
        scenario=scenario.to_dict(),
        twin=twin,
    )
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result


def _network(twin: Twin, scenario: RiverScenario) -> Network:
    spec = scenario.network
    if spec.source == "streams":
        if scenario.lake:
            raise ScenarioError(
                "lakes need network.source = 'rivers' (the lakes layer cuts the river lines into "
                "lake links); stream networks from the terrain carry no lakes"
            )
        # a DEM drains through many edge outlets, each its own tree
        return network_from_streams(
            twin,
            threshold_cells=spec.threshold_cells,
            manning=spec.manning,
            min_slope=spec.min_slope,
            allow_disconnected=spec.allow_disconnected is not False,
        )
    opts = {
        "orient": spec.orient,
        "dangling": spec.dangling,
        "allow_disconnected": bool(spec.allow_disconnected),
        "manning": spec.manning,
        "min_slope": spec.min_slope,
    }
    if spec.snap_tolerance is not None:
        opts["snap_tolerance"] = spec.snap_tolerance
    net = network_from_rivers(twin, lakes=bool(scenario.lake), **opts)
    if scenario.runoff is not None:
        net = link_catchments(twin, net)
    return net


def _lake_name(twin: Twin, row: int) -> str:
    lk = twin.lakes
    if lk is not None and "name" in lk.columns:
        return str(lk["name"].iloc[row])
    return f"lake{row}"


def _lake_row(twin: Twin, spec: LakeSpec, i: int) -> int:
    lk = twin.lakes
    n = 0 if lk is None else len(lk)
    if n == 0:
        raise ScenarioError(
            f"lake.{i}: the twin has no lakes layer; add one (twin ingest --lakes FILE) or remove the [[lake]] entries"
        )
    if spec.lake is not None:
        if spec.lake >= n:
            raise ScenarioError(
                f"lake.{i}.lake = {spec.lake}: the twin has {n} lakes (rows 0..{n - 1}); use a row of its lakes layer"
            )
        return spec.lake
    names = [] if lk is None or "name" not in lk.columns else [str(v) for v in lk["name"]]
    if spec.name not in names:
        raise ScenarioError(
            f"lake.{i}.name = {spec.name!r} is not a lake of the twin (its lakes: {names}); "
            "check the spelling or give lake = row"
        )
    return names.index(spec.name)


def _lakes(twin: Twin, scenario: RiverScenario, net: Network):
    from kernels.lake import Lake

    lakes, rows, lake_links = [], [], []
    if not scenario.lake:
        return lakes, rows, lake_links
    for i, spec in enumerate(scenario.lake):
        row = _lake_row(twin, spec, i)
        con = lake_connections(
            net, twin.lakes.iloc[[row]].reset_index(drop=True), side_distance=spec.side_distance
        ).iloc[0]
        if spec.table is not None:
            t = np.asarray(spec.table, dtype=np.float64)
            try:
                h, a, s = lake_table(t[:, 0], area=t[:, 1])
            except InputDataError as exc:
                raise ScenarioError(f"lake.{i}.table: {exc}") from None
        else:
            h, a, s = lake_hypsometry(twin, row)
        level = spec.initial_level
        if level is not None and not h[0] <= level <= h[-1]:
            # the lake would start clamped to its lowest or highest stage without a word
            raise ScenarioError(
                f"lake.{i}.initial_level = {level:g} m lies outside the stages of lake {i} "
                f"({_lake_name(twin, row)}), {h[0]:.2f} to {h[-1]:.2f} m "
                f"({'its table' if spec.table is not None else 'from the DEM inside its polygon'}); "
                "give a level within them, or a lake.table that reaches it"
            )
        if level is None and "level" in twin.lakes.columns:
            level = float(twin.lakes["level"].iloc[row])
        level = float(np.clip(h[0] if level is None else level, h[0], h[-1]))
        rating = None if spec.rating is None else np.asarray(spec.rating, dtype=np.float64)
        has_outlet = spec.weir_width > 0 or rating is not None or spec.target_level is not None
        common = {
            "stage": h,
            "storage": s,
            "area": a,
            "initial_stage": level,
            "rating": rating,
            "crest": float(spec.crest if spec.crest is not None else h[0]),
            "weir_width": spec.weir_width,
            "weir_coeff": spec.weir_coeff,
            "evaporation": spec.evaporation,
            "target_stage": spec.target_level,
            "release_min": spec.release_min,
            "release_max": spec.release_max,
            "response_time": spec.response_time,
        }
        if con["kind"] == "inline":
            j = int(net.index(con["lake_link"])[0]) if con["lake_link"] >= 0 else -1
            outlet = int(net.index(con["outflow_link"])[0]) if con["outflow_link"] >= 0 else -1
            if outlet >= 0 and not has_outlet:
                raise ScenarioError(
                    f"lake.{i} ({_lake_name(twin, row)}) drains into link {con['outflow_link']} but has no outlet: "
                    "give a weir (crest = m, weir_width = m), a rating = [[stage, m3/s], ...] or a "
                    "target_level with release_max"
                )
            # the lines were cut at the shore, so an in-line lake always has its lake link; the
            # kernel wires the links draining into it and its outlet from the network
            lake = Lake(link=j, **common)
        elif con["kind"] == "side":
            j = -1
            side = int(net.index(con["side_link"])[0])
            if spec.exchange_width <= 0:
                raise ScenarioError(
                    f"lake.{i} ({_lake_name(twin, row)}) lies {con['distance_m']:.0f} m beside link "
                    f"{con['side_link']} with no river through it: give exchange_width = m (and exchange_sill) "
                    "for the side channel"
                )
            bed = _bed_near(twin, net, side, twin.lakes.geometry.iloc[row])
            lake = Lake(
                outlet_link=side if has_outlet else -1,
                exchange_link=side,
                exchange_bed=bed,
                exchange_sill=spec.exchange_sill,
                exchange_width=spec.exchange_width,
                **common,
            )
        else:
            raise ScenarioError(
                f"lake.{i} ({_lake_name(twin, row)}) touches no river and lies more than {spec.side_distance:g} m "
                "from every link: raise lake.side_distance, or draw the river that feeds it"
            )
        lakes.append(lake)
        rows.append(row)
        lake_links.append(j)
    return lakes, rows, lake_links


def _channel_point(net: Network, link: int, poly):
    """Where a side lake's channel meets its link: the link's point nearest the lake."""
    import shapely

    return shapely.ops.nearest_points(net.links.geometry.iloc[link], poly)[0]


def _channel_x(net: Network, rn, link: int, poly) -> float:
    """The distance [m] along the routed link of the point where a side lake's channel meets it."""
    line = net.links.geometry.iloc[link]
    pt = _channel_point(net, link, poly)
    return float(min(line.project(pt) / max(line.length, 1e-300), 1.0) * rn.length[link])


def _bed_near(twin: Twin, net: Network, link: int, poly) -> float:
    """River bed level where a side lake meets its link: the terrain under that point."""
    pt = _channel_point(net, link, poly)
    r, c = twin.index(pt.x, pt.y)
    ny, nx = twin.shape
    return float(twin.terrain[int(np.clip(r, 0, ny - 1)), int(np.clip(c, 0, nx - 1))])


def _step_means(pairs: list[tuple[float, float]], dt: float, steps: int) -> np.ndarray:
    """Exact means of a piecewise-linear series over each step (held constant beyond its ends)."""
    s = Series.pack([(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))])
    cum = series_cumulative(s.t, s.v, s.ptr)
    edges = np.arange(steps + 1) * dt
    integral = np.array([series_integral(s.t, s.v, cum, s.ptr, 0, float(e)) for e in edges])
    return np.diff(integral) / dt


def _lateral_per_step(scenario: RiverScenario, net: Network, steps: int):
    """A function giving the lateral inflow [m3/s] of steps ``s0 .. s0 + count - 1`` (count x n)."""
    n = len(net)
    dt = scenario.dt
    per_link = np.zeros(n)
    rate = None
    if scenario.runoff is not None:
        per_link = net.catchment_area() * MM_PER_H * scenario.runoff.coefficient
        r = scenario.runoff
        rate = np.full(steps, r.constant) if r.constant is not None else _step_means(r.hyetograph, dt, steps)
    extra = []
    for i, lat in enumerate(scenario.lateral):
        try:
            j = int(net.index([lat.link])[0])
        except InputDataError as exc:
            raise ScenarioError(f"lateral.{i}.link: {exc}") from None
        extra.append((j, _step_means(lat.series, dt, steps)))

    def chunk(s0: int, count: int) -> np.ndarray:
        out = np.zeros((count, n))
        if rate is not None:
            out += rate[s0 : s0 + count, None] * per_link[None, :]
        for j, series in extra:
            out[:, j] += series[s0 : s0 + count]
        return out

    return chunk


def _inflow_series(scenario: RiverScenario, net: Network, steps: int) -> np.ndarray | None:
    if not scenario.inflow:
        return None
    out = np.zeros((steps, len(net)))
    for i, inf in enumerate(scenario.inflow):
        try:
            j, _ = net.nearest_link(*inf.at, max_distance=inf.max_distance)
        except InputDataError as exc:
            raise ScenarioError(f"inflow.{i}.at: {exc}") from None
        out[:, j] += _step_means(inf.hydrograph, scenario.dt, steps)
    return out


def _spill_place(scenario: RiverScenario, net: Network, i: int) -> tuple[int, float]:
    sp = scenario.spill[i]
    try:
        if sp.link is not None:
            return int(net.index([sp.link])[0]), 0.0
        return net.nearest_link(*sp.at, max_distance=sp.max_distance)
    except InputDataError as exc:
        raise ScenarioError(f"spill.{i}: {exc}") from None


def _transports(scenario: RiverScenario, net: Network, rn, lakes, lake_links, side, side_polys):
    """One transport per spill; ``side`` are the side lakes (indices into ``lakes``), ``side_polys`` their
    shapes."""
    if not scenario.spill:
        return [], []

    def initial_volume(lake) -> float:
        return max(float(np.interp(lake.initial_stage, lake.stage, lake.storage)), 1.0)

    # lake links are completely mixed lakes; a volume > 0 marks them (the lake's own comes each step)
    lake_volume = np.zeros(len(net))
    for lake, j in zip(lakes, lake_links, strict=True):
        if j >= 0:
            lake_volume[j] = initial_volume(lake)
    side_link = [lakes[k].exchange_link for k in side]
    side_volume = [initial_volume(lakes[k]) for k in side]
    side_x = [_channel_x(net, rn, lakes[k].exchange_link, poly) for k, poly in zip(side, side_polys, strict=True)]
    transports, places = [], []
    for i, sp in enumerate(scenario.spill):
        link, x = _spill_place(scenario, net, i)
        if sp.time >= scenario.duration:
            raise ScenarioError(
                f"spill.{i}.time = {sp.time:g} s is not before the end of the run "
                f"({scenario.duration:g} s); spill earlier or run longer"
            )
        tr = Transport.from_network(
            rn,
            sp.dispersion,
            sp.decay_rate / _SECONDS_PER_DAY,
            scenario.transport_dx,
            lake_volume=lake_volume,
            side_link=side_link,
            side_volume=side_volume,
            side_x=side_x,
        )
        transports.append(tr)
        places.append((link, min(x, float(rn.length[link]))))
    return transports, places


def _spill_names(scenario: RiverScenario) -> list[str]:
    return [s.name or f"spill{i + 1}" for i, s in enumerate(scenario.spill)]


def _gauges(scenario: RiverScenario, net: Network) -> list[int]:
    idx = []
    for i, g in enumerate(scenario.gauge):
        try:
            idx.append(
                int(net.index([g.link])[0])
                if g.link is not None
                else net.nearest_link(*g.at, max_distance=g.max_distance)[0]
            )
        except InputDataError as exc:
            raise ScenarioError(f"gauge.{i} ({g.name}): {exc}") from None
    return idx


def _gauge_frame(scenario, times, discharge, conc, idx) -> pd.DataFrame:
    cols = {"time_s": times}
    for g, j in zip(scenario.gauge, idx, strict=True):
        cols[f"{g.name}_discharge_m3s"] = discharge[:, j]
        if conc is not None:
            cols[f"{g.name}_concentration_kgm3"] = conc.sum(axis=0)[:, j]
    return pd.DataFrame(cols)


def _summary(scenario, net, led, peak_q, peak_t, transports, wall, steps) -> dict[str, Any]:
    stored0 = led["channel_storage_initial"] + float(np.sum(led["lake_storage_initial"]))
    stored1 = led["channel_storage"] + float(np.sum(led["lake_storage"]))
    vin = led["inflow"]
    outlets = net.outlets
    summary = {
        **common_summary("river", scenario, None, wall),
        "scenario": scenario.name,
        "duration_s": scenario.duration,
        "dt_s": scenario.dt,
        "steps": steps,
        "links": len(net),
        "lakes": len(led["lake_storage"]),
        "volume_in_m3": vin,
        "volume_out_m3": led["outflow"],
        "volume_evaporated_m3": led["evaporated"],
        "volume_stored_initial_m3": stored0,
        "volume_stored_m3": stored1,
        "volume_lakes_m3": float(np.sum(led["lake_storage"])),
        "mass_balance_error": float(led["error"] / vin) if vin > 0 else float(led["error"]),
        "peak_discharge_m3s": {str(int(net.ids[o])): float(peak_q[o]) for o in outlets},
        "time_of_peak_s": {str(int(net.ids[o])): float(peak_t[o]) for o in outlets},
        "max_peak_discharge_m3s": float(np.max(peak_q)),
    }
    if transports:
        pol = []
        for sp, name, tr in zip(scenario.spill, _spill_names(scenario), transports, strict=True):
            left = tr.mass()
            err = sp.mass + tr.inflow_mass - tr.outflow_mass - tr.decayed_mass - left
            pol.append(
                {
                    "name": name,
                    "mass_kg": sp.mass,
                    "outflow_kg": tr.outflow_mass,
                    "decayed_kg": tr.decayed_mass,
                    "in_network_kg": left,
                    "mass_balance_error": float(err / sp.mass),
                }
            )
        summary["pollutants"] = pol
    return summary
