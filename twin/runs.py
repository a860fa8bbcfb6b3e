"""One entry point for every scenario kind: the TOML's ``kind`` picks the scenario model and its run.

=======  ==================================  ==============================
kind     scenario model                      run (writes the result folder)
=======  ==================================  ==============================
flood    ``twin.scenario.Scenario``          ``twin.flood.run``
river    ``twin.riverlake.RiverScenario``    ``twin.riverlake.run``
water    ``twin.water.WaterScenario``        ``twin.water.run``
terrain  ``twin.hydrology.TerrainScenario``  ``twin.hydrology.run``
=======  ==================================  ==============================
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

from twin._io import check_out
from twin.errors import ScenarioError
from twin.scenario import read_toml

__all__ = ["KINDS", "load_scenario", "run"]

# kind -> (module, scenario class); the module's ``run(twin, scenario, *, out=..., ...)`` runs it
KINDS: dict[str, tuple[str, str]] = {
    "flood": ("twin.flood", "Scenario"),
    "river": ("twin.riverlake", "RiverScenario"),
    "water": ("twin.water", "WaterScenario"),
    "terrain": ("twin.hydrology", "TerrainScenario"),
}


def _kind(data: dict[str, Any], source: str) -> str:
    kind = data.get("kind", "flood")
    if kind not in KINDS:
        raise ScenarioError(f"{source}: kind = {kind!r} is not a scenario kind; use one of {sorted(KINDS)}")
    return kind


def load_scenario(source: Any, *, allowed_paths: Sequence[str | os.PathLike] = ()) -> Any:
    """A validated scenario of the kind its ``kind`` key names (``"flood"`` when absent).

    Parameters
    ----------
    source : path of a TOML file, dict of the TOML's shape, or an already validated scenario
    allowed_paths : folders
        Where the files the scenario names may lie besides its own folder (the current folder for
        a dict); see :func:`twin.scenario.scenario_path`.

    Raises
    ------
    ScenarioError
        Unknown kind, unreadable file, or a key that does not validate (the message names it).
    """
    if isinstance(source, dict):
        module, cls = KINDS[_kind(source, "scenario")]
        return getattr(importlib.import_module(module), cls).from_dict(source, allowed_paths=allowed_paths)
    if isinstance(source, (str, os.PathLike)):
        data = read_toml(source)
        module, cls = KINDS[_kind(data, str(source))]
        return getattr(importlib.import_module(module), cls).from_toml(source, allowed_paths=allowed_paths)
    return source


def run(twin: Any, scenario: Any, *, out: str | os.PathLike | None = None,
        allowed_paths: Sequence[str | os.PathLike] = (), **options: Any) -> Any:
    """Run a scenario of any kind on a twin; ``options`` go to that kind's ``run``.

    Parameters
    ----------
    twin : Twin
        The city model (a water scenario also runs without one: pass ``None``).
    scenario : path, dict or scenario object
        See :func:`load_scenario`.
    out : path, optional
        Result folder, written atomically. Checked before any work: it must be new, empty or a
        folder cimtwin wrote, and neither the twin's folder nor the scenario file (see
        :func:`twin._io.check_out`).
    allowed_paths : folders
        See :func:`load_scenario`.
    **options
        E.g. ``progress=False``; every kind takes ``overwrite=True`` (``out`` may replace a cimtwin
        folder of another kind); a flood run also takes ``resume``, ``stop_at`` and ``scene``.

    Returns
    -------
    FloodResult, RiverResult or WaterResult (``None`` for a flood run stopped with ``stop_at``)
    """
    source = scenario if isinstance(scenario, (str, os.PathLike)) else None
    scenario = load_scenario(scenario, allowed_paths=allowed_paths)
    if out is not None:
        check_out(out, scenario.kind, inputs=[source, getattr(twin, "path", None)],
                  overwrite=options.get("overwrite", False))
    module = importlib.import_module(KINDS[scenario.kind][0])
    return module.run(twin, scenario, out=out, **options)
