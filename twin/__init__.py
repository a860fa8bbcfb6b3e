"""cimtwin: a City Information Model engine.

BIM buildings and GIS layers in one georeferenced twin (:class:`Twin`), fast Numba simulations on it
(urban flood, terrain hydrology, river-lake, water resources; :func:`run` picks one by the scenario's
``kind``), Dask ensembles of them and pydeck scenes of the results.

The public API is imported lazily so that ``import twin`` (and the ``twin`` CLI) start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from twin import _compat, threads

# Before any kernel starts Numba's thread pool: waiting threads sleep (see twin.threads).
threads.configure()

__version__ = "0.1.0"

#: The public API: every name here, and only these, is what users and notebooks import from ``twin``.
__all__ = [
    # the model
    "Twin",
    "from_files",
    # scenarios and runs of every kind (see twin.sims.kinds)
    "run",
    "load_scenario",
    "load_result",
    "SimulationKind",
    "register_kind",
    "Scenario",
    "FloodResult",
    "RiverScenario",
    "RiverResult",
    "WaterScenario",
    "WaterResult",
    "TerrainScenario",
    "TerrainResult",
    # ensembles and scenes
    "run_ensemble",
    "city_scene",
    "Scene",
    # modules
    "sample",
    "errors",
    "__version__",
]

_LAZY = {
    "Twin": "twin.model.twin",
    "from_files": "twin.model.build",
    "run": "twin.sims.runs",
    "load_scenario": "twin.sims.runs",
    "load_result": "twin.sims.runs",
    "SimulationKind": "twin.sims.kinds",
    "register_kind": "twin.sims.kinds",
    "Scenario": "twin.sims.flood.scenario",
    "FloodResult": "twin.sims.flood.run",
    "RiverScenario": "twin.sims.river.scenario",
    "RiverResult": "twin.sims.river.run",
    "WaterScenario": "twin.sims.water.run",
    "WaterResult": "twin.sims.water.run",
    "TerrainScenario": "twin.sims.terrain.scenario",
    "TerrainResult": "twin.sims.terrain.run",
    "run_ensemble": "twin.ensemble.run",
    "city_scene": "twin.scene.city",
    "Scene": "twin.scene.city",
    "sample": "twin.sample",
    "errors": "twin.errors",
}
assert set(_LAZY) | {"__version__"} == set(__all__)

# the 0.1 module paths (twin.flood, twin.scenario, ...) answer for one more release, with a warning
_compat.install()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'twin' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module.rsplit(".", 1)[-1] == name else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
