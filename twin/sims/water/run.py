"""Water resources: a supply network allocated by priority each step, reservoirs operated by zones,
batched over ensemble members, with shortages and reliability per demand.

``run(twin, scenario, out=...)`` reads a :class:`WaterScenario` (TOML, see the README), steps every
member through the period together (reservoir bounds for all members at once, one warm-started
HiGHS model per member for the allocation: :mod:`kernels.allocation`, :mod:`kernels.reservoir`) and
returns a :class:`WaterResult`; with ``out`` it writes the result folder atomically.

Units: flows, inflows, demands, licences and capacities of links are step means in m3/s; storages
and capacities of reservoirs in m3; evaporation depth in mm/day; annual licences in m3.
"""

from __future__ import annotations

import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from kernels.allocation import (
    DEMAND,
    ENV,
    SOURCE,
    STORAGE,
    WORKS,
    Allocator,
    SupplyNetwork,
    balance_error,
)
from kernels.drought import reliability
from kernels.reservoir import guide_curve, storage_bounds, table_lookup
from twin import _io
from twin._cf import global_attrs
from twin.errors import NumericalError, ScenarioError
from twin.sims.base import Result, common_summary
from twin.sims.water.scenario import Member, WaterScenario, curve_arrays

__all__ = ["WaterResult", "WaterScenario", "run"]

_KIND = {
    "reservoir": STORAGE,
    "groundwater": STORAGE,
    "abstraction": SOURCE,
    "works": WORKS,
    "demand": DEMAND,
    "env_flow": ENV,
}
_BALANCE_TOL = 1e-9


@dataclass
class WaterResult(Result):
    """A water run over its members and steps; ``save`` writes the result folder.

    Attributes
    ----------
    time : DatetimeIndex (t,)
        Start of each step.
    members, nodes, links, demands, storages : list[str]
        Names along each dimension (links are ``"from->to"``; demands are the demand and env_flow
        nodes; storages the reservoir and groundwater nodes).
    flow : (members, t, links)
        Flow entering each link [m3/s].
    demand, delivered : (members, t, demands)
        Requirement and delivery [m3/s] (for env_flow nodes: the flow through the node, counted up
        to the requirement).
    storage, level : (members, t, storages)
        End-of-step storage [m3] and water level [m] (NaN without a level table).
    release, spill, evaporation : (members, t, storages)
        Outflow below and above capacity, and evaporation, as step means [m3/s].
    balance_error : (members, t)
        System mass-balance error relative to the step's throughput.
    summary : dict

    :meth:`save` writes the result folder (``allocation.nc``, ``shortages.csv``, ``network.gpkg``
    when nodes are located); :meth:`load` reads it back (``twin`` attaches the twin for ``network()``).
    """

    kind: ClassVar[str] = "water"
    signature: ClassVar[tuple[str, ...]] = ("allocation.nc",)
    scenario: WaterScenario
    time: pd.DatetimeIndex
    members: list[str]
    nodes: list[str]
    links: list[str]
    demands: list[str]
    storages: list[str]
    flow: np.ndarray
    demand: np.ndarray
    delivered: np.ndarray
    storage: np.ndarray
    level: np.ndarray
    release: np.ndarray
    spill: np.ndarray
    evaporation: np.ndarray
    balance_error: np.ndarray
    summary: dict[str, Any]
    crs: Any = None
    twin: Any = field(default=None, repr=False)

    @property
    def returned(self) -> np.ndarray:
        """Return flow of each demand node [m3/s], (members, t, demands): its delivery times its
        ``return_fraction``, entering its ``return_to`` node in the same step."""
        frac = {n.name: n.return_fraction for n in self.scenario.node}
        return self.delivered * np.array([frac[d] for d in self.demands])

    def dataset(self):
        """The result as an xarray Dataset with CF metadata (what ``allocation.nc`` holds)."""
        import xarray as xr

        dims3 = ("member", "time")
        link_from = [link.from_ for link in self.scenario.link]
        link_to = [link.to for link in self.scenario.link]
        ds = xr.Dataset(
            {
                "flow": (dims3 + ("link",), self.flow, _attrs("flow entering the link", "m3 s-1")),
                "demand": (
                    dims3 + ("demand_node",),
                    self.demand,
                    _attrs("demand or environmental flow requirement", "m3 s-1"),
                ),
                "delivered": (dims3 + ("demand_node",), self.delivered, _attrs("delivery", "m3 s-1")),
                "shortage": (
                    dims3 + ("demand_node",),
                    np.maximum(self.demand - self.delivered, 0.0),
                    _attrs("demand minus delivery", "m3 s-1"),
                ),
                "returned": (
                    dims3 + ("demand_node",),
                    self.returned,
                    _attrs("return flow (delivery times return_fraction)", "m3 s-1"),
                ),
                "storage": (dims3 + ("storage_node",), self.storage, _attrs("end-of-step storage", "m3")),
                "level": (
                    dims3 + ("storage_node",),
                    self.level,
                    _attrs("end-of-step water level", "m", "water_surface_height_above_reference_datum"),
                ),
                "release": (dims3 + ("storage_node",), self.release, _attrs("release below capacity", "m3 s-1")),
                "spill": (dims3 + ("storage_node",), self.spill, _attrs("spill above capacity", "m3 s-1")),
                "evaporation": (dims3 + ("storage_node",), self.evaporation, _attrs("evaporation", "m3 s-1")),
                "balance_error": (dims3, self.balance_error, _attrs("mass-balance error over throughput", "1")),
            },
            coords={
                "member": self.members,
                "time": self.time,
                "link": self.links,
                "demand_node": self.demands,
                "storage_node": self.storages,
                "link_from": ("link", link_from),
                "link_to": ("link", link_to),
            },
            attrs=global_attrs(
                f"cimtwin water allocation: {self.scenario.name}",
                self.summary,
                time_step_seconds=self.scenario.step,
                comment="flows are step means starting at each time; priority allocation with HiGHS",
            ),
        )
        ds["time"].attrs.update(standard_name="time", long_name="start of step")
        return ds

    def shortages(self) -> pd.DataFrame:
        """Per member and demand: volumes, shortage and Hashimoto reliability/resilience/vulnerability."""
        dt_s = self.scenario.step
        nodes = {n.name: n for n in self.scenario.node}
        rows = []
        for m, member in enumerate(self.members):
            rrv = reliability(self.delivered[m].T, self.demand[m].T)
            for k, name in enumerate(self.demands):
                node = nodes[name]
                rows.append(
                    {
                        "member": member,
                        "demand": name,
                        "type": node.type,
                        "use": node.use or "",
                        "priority": node.priority_or_default,
                        "demand_m3": float(self.demand[m, :, k].sum() * dt_s),
                        "delivered_m3": float(self.delivered[m, :, k].sum() * dt_s),
                        "shortage_m3": float(rrv.shortage[k] * dt_s),
                        "shortage_pct": float(rrv.shortage_pct[k]),
                        "reliability": float(rrv.reliability[k]),
                        "volumetric_reliability": float(rrv.volumetric_reliability[k]),
                        "resilience": float(rrv.resilience[k]),
                        "vulnerability_mean": float(rrv.vulnerability_mean[k]),
                        "vulnerability_max": float(rrv.vulnerability_max[k]),
                        "events": int(rrv.events[k]),
                        "longest_event_steps": int(rrv.longest_event[k]),
                    }
                )
        return pd.DataFrame(rows)

    def network(self):
        """Nodes (points) and links (lines) with located ends, in the twin's CRS: ``(nodes, links)``.

        ``None`` when no node has a location or the run had no twin (no CRS to attach them to).
        """
        import geopandas as gpd
        from shapely.geometry import LineString, Point

        at = {n.name: n.at for n in self.scenario.node if n.at is not None}
        if not at or self.crs is None:
            return None
        nodes = gpd.GeoDataFrame(
            {"name": list(at), "type": [n.type for n in self.scenario.node if n.at is not None]},
            geometry=[Point(xy) for xy in at.values()],
            crs=self.crs,
        )
        links = [(i, link) for i, link in enumerate(self.scenario.link) if link.from_ in at and link.to in at]
        mean_flow = self.flow.mean(axis=(0, 1))
        lines = gpd.GeoDataFrame(
            {
                "link": [self.links[i] for i, _ in links],
                "from": [link.from_ for _, link in links],
                "to": [link.to for _, link in links],
                "mean_flow_m3s": [float(mean_flow[i]) for i, _ in links],
            },
            geometry=[LineString([at[link.from_], at[link.to]]) for _, link in links],
            crs=self.crs,
        )
        return nodes, lines

    @classmethod
    def _read_files(cls, path: Path, summary: dict[str, Any], scenario: dict[str, Any], twin: Any) -> WaterResult:
        import xarray as xr

        scenario = WaterScenario.from_record(scenario)
        with xr.open_dataset(path / "allocation.nc") as ds:
            data = {
                name: ds[name].values
                for name in (
                    "flow",
                    "demand",
                    "delivered",
                    "storage",
                    "level",
                    "release",
                    "spill",
                    "evaporation",
                    "balance_error",
                )
            }
            coords = {
                name: [str(v) for v in ds[name].values] for name in ("member", "link", "demand_node", "storage_node")
            }
            time = pd.DatetimeIndex(ds["time"].values)
        return cls(
            scenario=scenario,
            time=time,
            members=coords["member"],
            nodes=[n.name for n in scenario.node],
            links=coords["link"],
            demands=coords["demand_node"],
            storages=coords["storage_node"],
            summary=summary,
            crs=twin.crs if twin is not None else scenario.network_crs,
            twin=twin,
            **data,
        )

    def _write_files(self, tmp: Path) -> None:
        """``allocation.nc``, ``shortages.csv`` and ``network.gpkg`` (when nodes are located and the run
        had a twin)."""
        enc = {v: {"zlib": True, "complevel": 4} for v in ("flow", "demand", "delivered", "shortage", "storage")}
        self.dataset().to_netcdf(tmp / "allocation.nc", encoding=enc)
        self.shortages().to_csv(tmp / "shortages.csv", index=False)
        net = self.network()
        if net is not None:
            net[0].to_file(tmp / "network.gpkg", layer="nodes", driver="GPKG")
            net[1].to_file(tmp / "network.gpkg", layer="links", driver="GPKG")


def run(
    twin: Any,
    scenario: WaterScenario | dict | str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    series: pd.DataFrame | None = None,
    runoff: Any = None,
    overwrite: bool = False,
    progress: bool = False,
) -> WaterResult:
    """Run a water scenario: every member over the whole period, allocation by priority each step.

    Parameters
    ----------
    twin : Twin or None
        The twin whose CRS the node locations are in (checked against its bounds); ``None`` runs
        the network alone (no ``network.gpkg``).
    scenario : WaterScenario, dict or path to a TOML file
    out : path, optional
        Result folder, written atomically.
    series : DataFrame, optional
        Time series by column name, indexed by date (instead of the scenario's ``timeseries`` CSV).
    runoff : xarray.Dataset, optional
        A result of :func:`twin.sims.river.runoff.runoff`: a node's ``inflow = "runoff:<zone>"`` takes that
        zone's runoff [m3/s] (averaged over the water step when the runoff's step is finer), from
        the runoff scenario named like the member (or its only scenario).
    overwrite : bool
        Let ``out`` replace a cimtwin folder of another kind (see :func:`twin._io.check_out`, which
        refuses an unsafe ``out`` before the run starts).
    progress : bool
        Accepted for a uniform call (every kind's ``run`` takes it) and ignored.

    Returns
    -------
    WaterResult

    Raises
    ------
    ScenarioError
        Invalid scenario, missing series columns or dates, a location outside the twin.
    NumericalError
        The allocation failed or the balance did not close (a bug or an ill-posed network).
    """
    scenario = WaterScenario.coerce(scenario)
    if out is not None:
        _io.check_out(out, "water", inputs=[getattr(twin, "path", None)], overwrite=overwrite)
    if twin is not None:
        scenario = _in_twin_crs(twin, scenario)
        _check_locations(twin, scenario)
    setup = _Setup(scenario, series, runoff)
    result = _simulate(scenario, setup)
    result.crs = twin.crs if twin is not None else scenario.network_crs
    result.twin = twin
    if getattr(twin, "path", None) is not None:
        result.summary["twin"] = str(twin.path)
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result


def _attrs(long_name: str, units: str, standard_name: str | None = None) -> dict[str, str]:
    attrs = {"long_name": long_name, "units": units}
    if standard_name:
        attrs["standard_name"] = standard_name
    return attrs


def _in_twin_crs(twin: Any, scenario: WaterScenario) -> WaterScenario:
    """The scenario with node locations from a GeoPackage in another CRS moved into the twin's."""
    from ingest.crs import as_crs, same_crs

    if scenario.network_crs is None or same_crs(scenario.network_crs, twin.crs):
        return scenario
    from pyproj import Transformer

    to_twin = Transformer.from_crs(as_crs(scenario.network_crs), as_crs(twin.crs), always_xy=True)
    nodes = [
        n if n.at is None else n.model_copy(update={"at": tuple(map(float, to_twin.transform(*n.at)))})
        for n in scenario.node
    ]
    return scenario.model_copy(update={"node": nodes, "network_crs": as_crs(twin.crs).to_wkt()})


def _check_locations(twin: Any, scenario: WaterScenario) -> None:
    x0, y0, x1, y1 = twin.bounds
    for i, node in enumerate(scenario.node):
        if node.at is not None and not (x0 <= node.at[0] <= x1 and y0 <= node.at[1] <= y1):
            raise ScenarioError(
                f"node[{i}] ({node.name!r}) at {node.at} lies outside the twin "
                f"({x0:g}, {y0:g}, {x1:g}, {y1:g}); give at = [x, y] in the twin's CRS"
            )


class _Setup:
    """The scenario as arrays: the network, per-member series (members, t, nodes) and reservoir data."""

    def __init__(self, scenario: WaterScenario, series: pd.DataFrame | None, runoff: Any = None) -> None:
        sc = scenario
        self.dt = sc.step
        start = pd.Timestamp(sc.start)
        n_steps = round((pd.Timestamp(sc.end) - start).total_seconds() / sc.step)
        self.time = pd.date_range(start, periods=n_steps, freq=pd.Timedelta(seconds=sc.step))
        self.members = list(sc.member) or [Member(name="base")]
        nodes = sc.node
        self.names = [n.name for n in nodes]
        index = {name: i for i, name in enumerate(self.names)}
        kind = np.array([_KIND[n.type] for n in nodes], dtype=np.int64)
        frm = np.array([index[link.from_] for link in sc.link], dtype=np.int64)
        to = np.array([index[link.to] for link in sc.link], dtype=np.int64)
        river = np.array([link.river for link in sc.link], dtype=bool)
        has_river_out = np.zeros(len(nodes), dtype=bool)
        has_river_out[frm[river]] = True
        licensed_node = np.array([n.licence is not None or n.licence_annual is not None for n in nodes])
        self.net = SupplyNetwork(
            kind=kind,
            priority=np.array([n.priority_or_default if n.type in ("demand", "env_flow") else 0 for n in nodes]),
            can_exit=np.isin(kind, (SOURCE, ENV, STORAGE)) & ~has_river_out,
            throughput=np.array(
                [n.capacity if n.type == "works" and n.capacity is not None else np.inf for n in nodes]
            ),
            link_from=frm,
            link_to=to,
            capacity=np.array([np.inf if link.capacity is None else link.capacity for link in sc.link]),
            loss=np.array([link.loss for link in sc.link]),
            cost=np.array([0.0 if link.river else link.cost for link in sc.link]),
            licensed=(~river) & licensed_node[frm] if len(sc.link) else np.zeros(0, bool),
            return_to=np.array([index[n.return_to] if n.return_to is not None else -1 for n in nodes], dtype=np.int64),
            return_fraction=np.array([n.return_fraction for n in nodes], dtype=float),
        )
        table = _Series(sc, series, self.time, runoff)
        month = self.time.month.to_numpy() - 1
        m_n, t_n, n_n = len(self.members), n_steps, len(nodes)
        self.inflow = np.zeros((m_n, t_n, n_n))
        self.demand = np.zeros((m_n, t_n, n_n))
        evap = np.zeros((m_n, t_n, n_n))
        for m, member in enumerate(self.members):
            for i, node in enumerate(nodes):
                self.inflow[m, :, i] = table.get(node.inflow, member, f"node[{i}].inflow") * member.inflow
                if node.demand is not None:
                    d = table.get(node.demand, member, f"node[{i}].demand")
                    if node.monthly is not None:
                        d = d * np.asarray(node.monthly)[month]
                    # demand growth applies to uses, not to environmental flow requirements
                    self.demand[m, :, i] = d * (member.demand if node.type == "demand" else 1.0)
                if node.type == "reservoir":
                    evap[m, :, i] = (
                        table.get(node.evaporation, member, f"node[{i}].evaporation") * 1e-3 * sc.step / 86400
                    )
        self.sto = np.flatnonzero(kind == STORAGE)
        sto_nodes = [nodes[i] for i in self.sto]
        self.evap_depth = evap[:, :, self.sto]
        self.capacity = np.array([n.capacity for n in sto_nodes], dtype=float)
        self.initial = np.array([n.capacity if n.initial is None else n.initial for n in sto_nodes], dtype=float)
        self.curves = {
            k: curve_arrays([n.zones.curve(k) for n in sto_nodes]) if sto_nodes else None
            for k in ("conservation", "buffer", "inactive")
        }
        self.buffer_coef = np.array([n.zones.buffer_coef for n in sto_nodes], dtype=float)
        self.max_release = np.array([np.inf if n.max_release is None else n.max_release for n in sto_nodes])
        for i, n in zip(self.sto, sto_nodes):
            if n.table is None and np.any(evap[:, :, i] != 0):
                raise ScenarioError(
                    f"node[{i}] ({n.name!r}) has evaporation but no table = [[storage m3, area m2, "
                    "level m], ...]; give the table so the lake area is known"
                )
        k = max([len(n.table) for n in sto_nodes if n.table] or [2])
        self.tab_s = np.zeros((len(sto_nodes), k))
        self.tab_a = np.zeros((len(sto_nodes), k))
        self.tab_z = np.full((len(sto_nodes), k), np.nan)
        for j, n in enumerate(sto_nodes):
            rows = n.table or [(0.0, 0.0, np.nan), (n.capacity or 1.0, 0.0, np.nan)]
            rows = list(rows) + [rows[-1]] * (k - len(rows))
            self.tab_s[j], self.tab_a[j], self.tab_z[j] = zip(*rows)
        # non-river links leaving storage nodes (withdrawals), and which storage each leaves
        river_links = np.array([link.river for link in sc.link], dtype=bool)
        pos = {int(i): j for j, i in enumerate(self.sto)}
        self.sto_links = np.flatnonzero(np.isin(frm, self.sto) & ~river_links)
        self.sto_link_pos = np.array([pos[int(frm[l])] for l in self.sto_links], dtype=np.int64)
        self.licence = np.array([np.inf if n.licence is None else n.licence for n in nodes])
        self.licence_annual = np.array([np.inf if n.licence_annual is None else n.licence_annual for n in nodes])

    def zone_tops(self, day: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Conservation, buffer and inactive tops [m3] of every storage node on ``day`` of the year."""
        return tuple(guide_curve(day, *self.curves[k]) * self.capacity for k in ("conservation", "buffer", "inactive"))


class _Series:
    """Named time series on the run's steps (from the scenario's CSV or a DataFrame), per member."""

    def __init__(
        self, scenario: WaterScenario, frame: pd.DataFrame | None, steps: pd.DatetimeIndex, runoff: Any = None
    ) -> None:
        self.steps = steps
        self.step = pd.Timedelta(seconds=scenario.step)
        self.runoff = runoff
        self.source = "the series DataFrame"
        if frame is None and scenario.timeseries is not None:
            path = scenario.timeseries
            if not Path(path).is_file():
                raise ScenarioError(f"timeseries file {path} does not exist; give a CSV with a date column first")
            try:
                frame = pd.read_csv(path, index_col=0, parse_dates=[0])
            except (ValueError, pd.errors.ParserError) as exc:
                raise ScenarioError(f"cannot read timeseries {path}: {exc}; the first column must be dates") from None
            self.source = str(path)
        self.frame = frame
        self._cache: dict[str, np.ndarray] = {}

    def get(self, value: float | str, member: Member, key: str) -> np.ndarray:
        if not isinstance(value, str):
            return np.full(self.steps.size, float(value))
        column = member.series.get(value, value)
        if column.startswith("runoff:"):
            return self._runoff(column, member, key)
        if column not in self._cache:
            self._cache[column] = self._column(column, key)
        return self._cache[column]

    def _runoff(self, column: str, member: Member, key: str) -> np.ndarray:
        ds = self.runoff
        if ds is None:
            raise ScenarioError(
                f"{key} = {column!r} takes catchment runoff, but no runoff was given; pass "
                "run(..., runoff=twin.sims.river.runoff.runoff(...))"
            )
        zone = column.removeprefix("runoff:")
        zones = [str(z) for z in ds["zone"].values]
        if zone not in zones:
            raise ScenarioError(f"{key}: runoff zone {zone!r} is not in the runoff result; its zones are {zones}")
        scenarios = [str(v) for v in ds["scenario"].values]
        if member.name in scenarios:
            pick = scenarios.index(member.name)
        elif len(scenarios) == 1:
            pick = 0
        else:
            raise ScenarioError(
                f"{key}: the runoff has scenarios {scenarios} and none is named like member "
                f"{member.name!r}; name the members after the runoff scenarios"
            )
        q = ds["runoff"].isel(scenario=pick, zone=zones.index(zone)).to_series()
        if pd.Timedelta(seconds=float(ds.attrs.get("dt_s", self.step.total_seconds()))) < self.step:
            q = q.resample(self.step, origin=self.steps[0]).mean()
        return self._on_steps(q, column, key, source="the runoff result")

    def _column(self, column: str, key: str) -> np.ndarray:
        if self.frame is None:
            raise ScenarioError(
                f"{key} names the series {column!r} but the scenario has no timeseries; "
                "add timeseries = 'file.csv' (a date column, then one column per series)"
            )
        if column not in self.frame.columns:
            raise ScenarioError(
                f"{key}: column {column!r} is not in {self.source}; its columns are {list(self.frame.columns)}"
            )
        return self._on_steps(self.frame[column].sort_index(), column, key, source=self.source)

    def _on_steps(self, s: pd.Series, column: str, key: str, *, source: str) -> np.ndarray:
        if s.index[0] > self.steps[0] or s.index[-1] < self.steps[-1].normalize():
            raise ScenarioError(
                f"{key}: series {column!r} in {source} covers {s.index[0].date()} to "
                f"{s.index[-1].date()}, not the run's {self.steps[0].date()} to {self.steps[-1].date()}; extend it"
            )
        values = s.reindex(self.steps, method="ffill").to_numpy(dtype=float)
        if not np.all(np.isfinite(values)) or (values < 0).any():
            raise ScenarioError(f"{key}: series {column!r} has missing or negative values in the run's period")
        return values


def _simulate(scenario: WaterScenario, s: _Setup) -> WaterResult:
    net, dt_s = s.net, s.dt
    m_n, t_n = len(s.members), s.time.size
    n_n, l_n, r_n = net.kind.size, net.link_from.size, s.sto.size
    t_build = _time.perf_counter()
    allocators = [Allocator(net, dt_s) for _ in range(m_n)]
    build_s = _time.perf_counter() - t_build
    dem_nodes = allocators[0].demand_nodes
    flow = np.zeros((m_n, t_n, l_n))
    delivered = np.zeros((m_n, t_n, dem_nodes.size))
    storage_out = np.zeros((m_n, t_n, r_n))
    release = np.zeros((m_n, t_n, r_n))
    spill = np.zeros((m_n, t_n, r_n))
    evaporation = np.zeros((m_n, t_n, r_n))
    error = np.zeros((m_n, t_n))
    storage = np.tile(s.initial, (m_n, 1))
    used = np.zeros((m_n, n_n))  # licensed abstraction this calendar year [m3]
    licensed = net.licensed
    n_lp = 0
    years = s.time.year.to_numpy()
    doy = (s.time.day_of_year + (s.time.hour * 3600 + s.time.minute * 60 + s.time.second) / 86400).to_numpy(float)
    store_full = np.zeros(n_n)
    lower_full = np.zeros(n_n)
    upper_full = np.zeros(n_n)
    before_full = np.zeros(n_n)
    evap_full = np.zeros(n_n)
    t0 = _time.perf_counter()
    for t in range(t_n):
        if t and years[t] != years[t - 1]:
            used[:] = 0.0
        cons, buf, inact = s.zone_tops(doy[t]) if r_n else (np.zeros(0),) * 3
        avail, lower, upper, evap = storage_bounds(
            storage,
            s.inflow[:, t, s.sto],
            s.evap_depth[:, t],
            s.capacity,
            cons,
            buf,
            inact,
            s.buffer_coef,
            s.max_release,
            s.tab_s,
            s.tab_a,
            dt_s,
        )
        for m in range(m_n):
            store_full[s.sto], lower_full[s.sto], upper_full[s.sto] = avail[m], lower[m], upper[m]
            licence = np.minimum(s.licence, np.maximum(s.licence_annual - used[m], 0.0) / dt_s)
            try:
                a = allocators[m].solve(s.inflow[m, t], s.demand[m, t], store_full, lower_full, upper_full, licence)
            except ArithmeticError as exc:
                raise NumericalError(
                    f"allocation failed at {s.time[t]} in member {s.members[m].name!r}: {exc}; "
                    "check capacities and licences for contradictions"
                ) from None
            n_lp += a.n_lp
            flow[m, t] = a.flow
            delivered[m, t] = a.delivered[dem_nodes]
            end = a.storage[s.sto]
            storage_out[m, t] = end
            # spill: the water above capacity that no withdrawal took (withdrawals come first within a step)
            outflow = avail[m] - end
            withdrawal = np.bincount(s.sto_link_pos, weights=a.flow[s.sto_links], minlength=r_n) * dt_s
            sp = np.clip(avail[m] - s.capacity - withdrawal, 0.0, np.maximum(outflow - withdrawal, 0.0))
            spill[m, t] = sp / dt_s
            release[m, t] = (outflow - sp) / dt_s
            evaporation[m, t] = evap[m] / dt_s
            np.add.at(used[m], net.link_from[licensed], a.flow[licensed] * dt_s)
            before_full[s.sto], evap_full[s.sto] = storage[m], evap[m]
            err, through = balance_error(net, s.inflow[m, t], before_full, evap_full, a, dt_s)
            error[m, t] = err / through if through > 0 else err
            storage[m] = end
    wall = _time.perf_counter() - t0
    worst = float(error.max()) if error.size else 0.0
    if worst > _BALANCE_TOL:
        m, t = np.unravel_index(int(error.argmax()), error.shape)
        raise NumericalError(
            f"the water balance did not close at {s.time[t]} in member {s.members[m].name!r} "
            f"(error {worst:.2e} of the throughput); report this with the scenario"
        )
    level = (
        table_lookup(storage_out.reshape(-1, r_n), s.tab_s, s.tab_z).reshape(storage_out.shape)
        if r_n
        else storage_out.copy()
    )
    dem_demand = s.demand[:, :, dem_nodes]
    summary = {
        **common_summary("water", scenario, None, wall),
        "start": str(scenario.start),
        "end": str(scenario.end),
        "step_s": dt_s,
        "steps": t_n,
        "members": [m.name for m in s.members],
        "nodes": n_n,
        "links": l_n,
        "linear_programs": n_lp,
        "lp_per_step": n_lp / max(t_n * m_n, 1),
        "build_s": build_s,
        "wall_s": wall,
        "wall_per_step_ms": 1e3 * wall / max(t_n, 1),
        "wall_per_member_step_ms": 1e3 * wall / max(t_n * m_n, 1),
        "mass_balance_max_rel_error": worst,
        "delivered_pct": {
            mb.name: float(100 * delivered[m].sum() / max(dem_demand[m].sum(), 1e-300))
            for m, mb in enumerate(s.members)
        },
    }
    return WaterResult(
        scenario=scenario,
        time=s.time,
        members=[m.name for m in s.members],
        nodes=s.names,
        links=[f"{link.from_}->{link.to}" for link in scenario.link],
        demands=[s.names[i] for i in dem_nodes],
        storages=[s.names[i] for i in s.sto],
        flow=flow,
        demand=dem_demand,
        delivered=delivered,
        storage=storage_out,
        level=level,
        release=release,
        spill=spill,
        evaporation=evaporation,
        balance_error=error,
        summary=summary,
    )
