"""The registry of simulation kinds: what a scenario's ``kind`` key names.

A kind is one :class:`SimulationKind`: its name, its scenario model, its result class, the run
options it takes besides ``out`` and ``overwrite``, the summary keys shown first, and its
``run(twin, scenario, *, out, progress, overwrite, ...)``. :func:`twin.sims.runs.run`,
:func:`twin.sims.runs.load_scenario`, :func:`twin.load_result`, ``twin run`` and ``twin info`` all look
the kind up here, so adding a kind is one :func:`register_kind` call (or an entry point in the
``cimtwin.kinds`` group naming a :class:`SimulationKind`), as xarray registers its backends.

Classes and functions may be given as ``"module:attribute"`` strings, imported on first use, so
that ``import twin`` and the CLI stay fast.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twin.errors import ScenarioError

__all__ = ["SimulationKind", "get_kind", "kinds", "register_kind"]

#: The run options ``twin run`` knows (keyword of the kind's ``run`` -> its command-line option).
CLI_OPTIONS = {
    "resume": "--resume",
    "stop_at": "--stop-at",
    "scene": "--no-scene",
    "progress": "--quiet",
    "device": "--device",
}


def _resolve(ref: Any) -> Any:
    if isinstance(ref, str):
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)
    return ref


@dataclass(frozen=True)
class SimulationKind:
    """One kind of simulation.

    Parameters
    ----------
    name : str
        The scenario's ``kind`` value (and the kind in the result folder's ``cimtwin.json``).
    scenario : class or "module:Class"
        The scenario model; it has ``from_toml(path, allowed_paths=...)`` and
        ``from_dict(data, allowed_paths=...)`` (a :class:`twin.sims.flood.scenario.ScenarioModel`).
    result : class or "module:Class"
        The result class; ``load(path, twin=None)`` reads its folder (a :class:`twin.sims.base.Result`).
    run : callable or "module:function"
        ``run(twin, scenario, *, out=None, progress=..., overwrite=False, **options)``.
    description : str
        How messages name its result folder, e.g. "a flood result".
    options : tuple of str
        The keywords of :data:`CLI_OPTIONS` its ``run`` takes besides ``progress`` (``twin run``
        refuses the others for this kind).
    summary_first : tuple of str
        Summary keys ``twin run`` and ``twin info`` print first, in this order.
    needs_twin : bool
        Whether a run needs a twin (a water run does not).
    """

    name: str
    scenario: Any
    result: Any
    run: Any
    description: str = ""
    options: tuple[str, ...] = ()
    summary_first: tuple[str, ...] = ("name", "kind")
    needs_twin: bool = True

    @property
    def scenario_class(self) -> type:
        """The scenario model (imported on first use)."""
        return _resolve(self.scenario)

    @property
    def result_class(self) -> type:
        """The result class (imported on first use)."""
        return _resolve(self.result)

    @property
    def run_function(self) -> Callable[..., Any]:
        """The kind's ``run`` (imported on first use)."""
        return _resolve(self.run)

    def summary_lines(self, summary: dict[str, Any]) -> list[str]:
        """The summary as aligned ``key value`` lines: :attr:`summary_first`, then the other keys."""
        keys = [k for k in self.summary_first if k in summary] + [k for k in summary if k not in self.summary_first]
        lines = []
        for key in keys:
            value = summary[key]
            if isinstance(value, float):
                value = f"{value:.6g}"
            elif isinstance(value, (dict, list)):
                value = json.dumps(value)
            lines.append(f"{key:<28}{value}")
        return lines


_REGISTRY: dict[str, SimulationKind] = {}
_BUILTIN_NAMES = ("flood", "river", "water", "terrain")
_ENTRY_POINTS_LOADED = False


def register_kind(kind: SimulationKind, *, replace: bool = False) -> SimulationKind:
    """Add a kind to the registry (and its result folders to the folder kinds cimtwin writes).

    Raises
    ------
    ValueError
        A kind of that name is registered already and ``replace`` is false.
    """
    from twin import _io

    if kind.name in _REGISTRY and not replace:
        raise ValueError(f"a simulation kind {kind.name!r} is registered already; pass replace=True to replace it")
    if kind.name in _io.KINDS and kind.name not in _REGISTRY and kind.name not in _BUILTIN_NAMES:
        raise ValueError(f"{kind.name!r} names a cimtwin folder kind ({_io.KINDS[kind.name]}); choose another name")
    _REGISTRY[kind.name] = kind
    _io.KINDS[kind.name] = kind.description or f"a {kind.name} result"
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind added by :func:`register_kind` (the built-in ones stay)."""
    from twin import _io

    if name in _BUILTIN_NAMES:
        raise ValueError(f"{name!r} is a built-in kind")
    _REGISTRY.pop(name, None)
    _io.KINDS.pop(name, None)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="cimtwin.kinds"):
        kind = ep.load()
        if kind.name not in _REGISTRY:
            register_kind(kind)


def kinds() -> dict[str, SimulationKind]:
    """Every registered kind by name (built-in ones, those of ``cimtwin.kinds`` entry points, and
    those added by :func:`register_kind`)."""
    _load_entry_points()
    return dict(_REGISTRY)


def get_kind(name: str, source: str = "scenario") -> SimulationKind:
    """The kind called ``name``.

    Raises
    ------
    ScenarioError
        No such kind (the message names ``source`` and the kinds there are).
    """
    known = kinds()
    if name not in known:
        raise ScenarioError(f"{source}: kind = {name!r} is not a scenario kind; use one of {sorted(known)}")
    return known[name]


_FLOOD_FIRST = (
    "scenario",
    "duration_s",
    "volume_in_m3",
    "volume_rain_m3",
    "volume_inflow_m3",
    "volume_boundary_in_m3",
    "volume_out_m3",
    "volume_lost_m3",
    "volume_infiltrated_m3",
    "volume_drained_m3",
    "volume_initial_m3",
    "volume_stored_m3",
    "mass_balance_error",
    "max_depth_m",
    "flooded_area_km2",
    "buildings",
    "buildings_flooded",
    "hazard_cells",
    "steps",
    "dt_min_s",
    "dt_max_s",
    "wall_seconds",
    "kernel_seconds",
    "cell_updates_per_second",
)

_BUILTIN = (
    SimulationKind(
        "flood",
        "twin.sims.flood.scenario:Scenario",
        "twin.sims.flood.run:FloodResult",
        "twin.sims.flood.run:run",
        "a flood result",
        options=("resume", "stop_at", "scene", "device"),
        summary_first=_FLOOD_FIRST,
    ),
    SimulationKind(
        "river",
        "twin.sims.river.scenario:RiverScenario",
        "twin.sims.river.run:RiverResult",
        "twin.sims.river.run:run",
        "a river-lake result",
        summary_first=(
            "name",
            "duration_s",
            "volume_in_m3",
            "volume_out_m3",
            "mass_balance_error",
            "max_peak_discharge_m3s",
            "wall_seconds",
        ),
    ),
    SimulationKind(
        "water",
        "twin.sims.water.run:WaterScenario",
        "twin.sims.water.run:WaterResult",
        "twin.sims.water.run:run",
        "a water result",
        needs_twin=False,
        summary_first=(
            "name",
            "start",
            "end",
            "steps",
            "members",
            "delivered_pct",
            "mass_balance_max_rel_error",
            "wall_seconds",
        ),
    ),
    SimulationKind(
        "terrain",
        "twin.sims.terrain.scenario:TerrainScenario",
        "twin.sims.terrain.run:TerrainResult",
        "twin.sims.terrain.run:run",
        "a terrain analysis",
        summary_first=(
            "name",
            "watersheds",
            "stream_links",
            "max_accumulation_cells",
            "filled_volume_m3",
            "wall_seconds",
        ),
    ),
)
for _kind in _BUILTIN:
    register_kind(_kind)
