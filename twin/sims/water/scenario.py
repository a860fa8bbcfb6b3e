"""Water-resources scenario files: a supply network, its series and the ensemble members, validated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationInfo, field_validator, model_validator

from kernels.reservoir import guide_curve
from twin.sims.scenario_base import (
    Duration,
    Point,
    ScenarioModel,
    ScenarioPath,
    ScenarioTable,
    doc,
    monotone_table,
    scenario_path,
)

__all__ = ["Member", "WaterLink", "WaterNode", "WaterScenario", "Zones"]

_ZONES = ("conservation", "buffer", "inactive")
NODE_TYPES = ("reservoir", "abstraction", "groundwater", "works", "demand", "env_flow")
Series = float | str  # a constant, or the name of a column of the scenario's time series


class Zones(ScenarioTable):
    """Zone tops of a reservoir as fractions of its capacity: constants or ``[[day_of_year, fraction], ...]``."""

    conservation: float | list[tuple[float, float]] = doc(
        1.0,
        description="Top of the conservation zone (the guide curve; above it water is released); a constant "
        "or [[day_of_year, fraction], ...]",
        units="fraction of capacity",
    )
    buffer: float | list[tuple[float, float]] | None = doc(  # none: no buffer zone (its top is the inactive top)
        None,
        description="Top of the buffer zone (none: no buffer zone); a constant or [[day_of_year, fraction], ...]",
        units="fraction of capacity",
    )
    inactive: float | list[tuple[float, float]] = doc(
        0.0,
        description="Top of the inactive zone, never released; a constant or [[day_of_year, fraction], ...]",
        units="fraction of capacity",
    )
    buffer_coef: float = doc(
        1.0, description="Share of the buffer zone's water released at most per step (hedging)", ge=0, le=1
    )

    @field_validator("conservation", "buffer", "inactive")
    @classmethod
    def _curve(cls, v: Any) -> Any:
        if v is None:
            return v
        points = [(1.0, v)] if isinstance(v, (int, float)) else v
        if not points:
            raise ValueError("a guide curve needs at least one [day_of_year, fraction] point")
        days = [d for d, _ in points]
        if days != sorted(set(days)) or days[0] < 1 or days[-1] >= 366:
            raise ValueError("guide curve days must increase within [1, 366)")
        if any(not 0 <= f <= 1 for _, f in points):
            raise ValueError("guide curve values are fractions of capacity in [0, 1]")
        return v

    def curve(self, which: str) -> list[tuple[float, float]]:
        """The zone top ``which`` as ``[(day, fraction), ...]``."""
        v = getattr(self, which)
        if v is None:
            return self.curve("inactive")
        return [(1.0, float(v))] if isinstance(v, (int, float)) else [(float(d), float(f)) for d, f in v]


class WaterNode(ScenarioTable):
    """One node of the supply network (docs/scenarios.md lists its keys)."""

    name: str = doc(description="The node's name (unique; links name it)", min_length=1)
    type: Literal["reservoir", "abstraction", "groundwater", "works", "demand", "env_flow"] = doc(
        description="What the node is"
    )
    at: Point | None = doc(None, description="Location [x, y] (twin CRS) for network.gpkg", units="m")
    inflow: Series = doc(
        0.0,
        description="External inflow: a constant (m3/s), the name of a time-series column or 'runoff:<zone>'",
        units="m3/s",
    )
    capacity: float | None = doc(
        None,
        description="Storage capacity (reservoir, groundwater) or treatment capacity (works, m3/s)",
        units="m3",
        ge=0,
    )
    initial: float | None = doc(None, description="Initial storage (reservoir, groundwater)", units="m3", ge=0)
    demand: Series | None = doc(
        None,
        description="demand, env_flow: the demand or minimum flow: a constant (m3/s) "
        "or the name of a time-series column",
        units="m3/s",
    )
    monthly: list[float] | None = doc(None, description="12 factors on the demand, January to December")
    use: Literal["domestic", "industrial", "agricultural", "environmental", "other"] | None = doc(
        None, description="demand: the use, for reports"
    )
    priority: int | None = doc(
        None, description="demand, env_flow: lower numbers are served first (default 1; env_flow 0)", ge=0
    )
    licence: float | None = doc(None, description="Sources: licensed abstraction, step mean", units="m3/s", ge=0)
    licence_annual: float | None = doc(
        None, description="Sources: licensed abstraction per calendar year", units="m3", ge=0
    )
    evaporation: Series = doc(
        0.0, description="reservoir: evaporation depth: a constant or a time-series column", units="mm/day"
    )
    table: list[tuple[float, float, float]] | None = doc(
        None,
        description="reservoir: [[storage, area, level], ...] from storage 0 to at least capacity, rising",
        units="m3, m2, m",
    )
    zones: Zones = doc(Zones(), description="reservoir: zone tops as fractions of capacity")
    max_release: float | None = doc(None, description="reservoir: largest flood-control release", units="m3/s", ge=0)
    return_fraction: float = doc(0.0, description="demand: share of the delivery that returns to return_to", ge=0, lt=1)
    return_to: str | None = doc(None, description="demand: the node that receives the return flow")

    @field_validator("monthly")
    @classmethod
    def _monthly(cls, v: Any) -> Any:
        if v is not None and (len(v) != 12 or any(f < 0 for f in v)):
            raise ValueError("monthly needs 12 factors >= 0 (January to December)")
        return v

    @field_validator("inflow", "demand", "evaporation")
    @classmethod
    def _nonneg(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and v < 0:
            raise ValueError("must be >= 0 (m3/s; evaporation mm/day) or the name of a time-series column")
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: Any) -> Any:
        # a level falling as storage rises would make the lake drop as it fills
        return (
            v
            if v is None
            else monotone_table(
                v, ("storage", "area", "level"), increasing=("storage", "level"), nonneg=("storage", "area")
            )
        )

    @model_validator(mode="after")
    def _by_type(self) -> WaterNode:
        t = self.type
        if t in ("demand", "env_flow") and self.demand is None:
            raise ValueError(f"a {t} node needs demand = m3/s (or a time-series column name)")
        if t not in ("demand", "env_flow") and (self.demand is not None or self.priority is not None):
            raise ValueError(f"demand and priority apply to demand and env_flow nodes, not to a {t}")
        if t in ("reservoir", "groundwater"):
            if self.capacity is None:
                raise ValueError(f"a {t} needs capacity (m3)")
            if self.initial is not None and self.initial > self.capacity:
                raise ValueError(f"initial storage {self.initial:g} m3 exceeds capacity {self.capacity:g} m3")
            # the lookup clamps outside the table: levels and areas there would be silently wrong
            if self.table is not None and (self.table[0][0] > 0 or self.table[-1][0] < self.capacity):
                raise ValueError(
                    f"table covers storage {self.table[0][0]:g} to {self.table[-1][0]:g} m3, not the "
                    f"reservoir's range 0 to capacity = {self.capacity:g} m3; start it at storage 0 "
                    "and extend it to the capacity or above"
                )
        elif self.initial is not None:
            raise ValueError(f"initial (storage) applies to reservoir and groundwater nodes, not to a {t}")
        if t != "reservoir" and (
            self.table is not None or self.max_release is not None or self.zones != Zones() or self.evaporation != 0.0
        ):
            raise ValueError("table, zones, max_release and evaporation apply to reservoir nodes only")
        if t in ("demand", "works") and self.inflow != 0.0:
            raise ValueError(f"a {t} node has no external inflow; link a source to it")
        if (self.return_fraction > 0 or self.return_to is not None) and t != "demand":
            raise ValueError(
                "return_fraction and return_to apply to demand nodes (what they do not consume "
                "goes back to the network)"
            )
        if (self.return_fraction > 0) != (self.return_to is not None):
            raise ValueError(
                "a return flow needs both return_fraction (0 to < 1) and return_to (the node that "
                "receives it, e.g. the river point below the outfall)"
            )
        if t == "works" and self.licence is not None:
            raise ValueError("licences apply to the sources (abstraction, groundwater, reservoir)")
        z = self.zones
        # piecewise-linear curves keep their order everywhere if they keep it at every knot
        for day in sorted({d for k in _ZONES for d, _ in z.curve(k)}):
            top = {k: float(guide_curve(day, *curve_arrays([z.curve(k)]))[0]) for k in _ZONES}
            if not top["inactive"] <= top["buffer"] <= top["conservation"] + 1e-12:
                raise ValueError(
                    f"zones must satisfy inactive <= buffer <= conservation; on day {day:g} they are "
                    f"{top['inactive']:g}, {top['buffer']:g}, {top['conservation']:g}"
                )
        return self

    @property
    def priority_or_default(self) -> int:
        """Priority, defaulting to 0 for environmental flows and 1 for demands."""
        return self.priority if self.priority is not None else (0 if self.type == "env_flow" else 1)


class WaterLink(ScenarioTable):
    """A link: canal, pipe or river reach from one node to another."""

    from_: str = doc(description="The node the link leaves", alias="from")
    to: str = doc(description="The node the link reaches")
    capacity: float | None = doc(None, description="Largest flow (none: unlimited)", units="m3/s", ge=0)
    loss: float = doc(0.0, description="Fraction of the flow lost on the way", ge=0, lt=1)
    cost: float = doc(1.0, description="Ties between equal allocations go to cheaper links", ge=0)
    river: bool = doc(False, description="A river reach: carries all its water, no capacity")


class Member(ScenarioTable):
    """One ensemble member: demand growth and inflow factors, column substitutions (another climate trace)."""

    name: str = doc(description="The member's name (unique)", min_length=1)
    demand: float = doc(1.0, description="Factor on every demand (not on environmental flows)", ge=0)
    inflow: float = doc(1.0, description="Factor on every inflow", ge=0)
    series: dict[str, str] = doc({}, description="Column substitutions {column = other_column} (another climate trace)")


class WaterScenario(ScenarioModel):
    """A water-resources scenario: network, period, series and ensemble members.

    Build one with :meth:`from_toml` or :meth:`from_dict`; both raise :class:`~twin.errors.ScenarioError`
    naming the key and the fix.
    """

    kind: Literal["water"] = doc("water", description="The scenario kind")
    name: str = doc("water", description="Names the run in results and messages (default: the file's stem)")
    start: dt.date = doc(description="First day of the period (a TOML date)")
    end: dt.date = doc(description="End of the period (a TOML date, after start)")
    step: Duration = doc(86400.0, description="Allocation step; must divide a day", units="s")
    timeseries: ScenarioPath | None = doc(
        None, description="CSV: a date column, then one column per series (m3/s; mm/day for evaporation)"
    )
    network: Path | None = doc(None, description="GeoPackage with layers 'nodes' (points) and 'links'")
    network_crs: str | None = doc(None, description="CRS (WKT) of the nodes' 'at'; set from the GeoPackage")
    node: list[WaterNode] = doc(description="The network's nodes", min_length=1)
    link: list[WaterLink] = doc([], description="The network's links (canals, pipes, river reaches)")
    member: list[Member] = doc([], description="Ensemble members: demand and inflow factors, column substitutions")

    @model_validator(mode="before")
    @classmethod
    def _from_geopackage(cls, data: Any, info: ValidationInfo) -> Any:
        """Read ``network = "file.gpkg"`` into nodes and links (the TOML's entries added over them).

        The result holds the nodes and links themselves and ``network_crs``, not the file, so a
        result's scenario.json stands on its own.
        """
        if not isinstance(data, dict) or data.get("network") is None:
            return data
        from twin.sims.water.gpkg import merge_nodes, read_network

        nodes, links, crs = read_network(scenario_path(data["network"], info.context, "network"))
        out = dict(data)
        out["node"] = merge_nodes(nodes, list(data.get("node") or []))
        out["link"] = links + list(data.get("link") or [])
        out["network"] = None
        out["network_crs"] = crs
        return out

    @model_validator(mode="after")
    def _network(self) -> WaterScenario:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must come after start ({self.start})")
        if 86400.0 % self.step:
            raise ValueError("step must divide a day (e.g. '1d', '6h', '1h')")
        names = [n.name for n in self.node]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"node names {dup} are used more than once; names must be unique")
        kinds = {n.name: n.type for n in self.node}
        for i, link in enumerate(self.link):
            for end in ("from_", "to"):
                if getattr(link, end) not in kinds:
                    raise ValueError(
                        f"link[{i}].{end.rstrip('_')} names the unknown node {getattr(link, end)!r}; nodes are {names}"
                    )
            if kinds[link.from_] == "demand":
                raise ValueError(f"link[{i}] leaves the demand node {link.from_!r}; demands consume what they receive")
            if link.river and (link.capacity is not None or kinds[link.to] in ("demand", "works")):
                raise ValueError(
                    f"link[{i}] is a river reach: it carries all the water that reaches it, so it has "
                    "no capacity and ends at a river point (reservoir, abstraction, env_flow, "
                    "groundwater); demands and works take water through canals or pipes (river = false)"
                )
            if link.from_ == link.to:
                raise ValueError(f"link[{i}] goes from {link.to!r} to itself")
        for i, node in enumerate(self.node):
            if node.return_to is not None and kinds.get(node.return_to) in (None, "demand"):
                what = "a demand" if node.return_to in kinds else "not a node"
                raise ValueError(
                    f"node[{i}].return_to = {node.return_to!r} is {what}; return flows go to a river "
                    "point, reservoir, groundwater or works node"
                )
        cycle = _cycle_without_storage(self)
        if cycle:
            raise ValueError(
                f"the links form a cycle without storage: {' -> '.join(cycle)}; a reservoir or "
                "groundwater node must break every cycle"
            )
        members = [m.name for m in self.member]
        if len(set(members)) != len(members):
            raise ValueError("member names must be unique")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The validated scenario as plain JSON-ready data, with the TOML's key names (``from``)."""
        return self.model_dump(mode="json", by_alias=True)


def curve_arrays(curves: list[list[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """Guide curves as the (r, k) day and value arrays of :func:`kernels.reservoir.guide_curve` (padded)."""
    k = max(len(c) for c in curves)
    days = np.empty((len(curves), k))
    values = np.empty((len(curves), k))
    for i, c in enumerate(curves):
        padded = list(c) + [c[-1]] * (k - len(c))
        days[i], values[i] = zip(*padded)
    return days, values


def _cycle_without_storage(scenario: WaterScenario) -> list[str]:
    """Node names along a cycle whose nodes are all free of storage (empty if none)."""
    storage = {n.name for n in scenario.node if n.type in ("reservoir", "groundwater")}
    succ: dict[str, list[str]] = {}
    for link in scenario.link:
        if link.from_ not in storage and link.to not in storage:
            succ.setdefault(link.from_, []).append(link.to)
    state: dict[str, int] = {}
    for root in succ:
        if state.get(root):
            continue
        path, stack = [root], [iter(succ.get(root, []))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(succ.get(nxt, [])))
    return []
