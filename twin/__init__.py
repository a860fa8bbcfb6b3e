"""cimtwin: a City Information Model engine.

BIM buildings and GIS layers in one georeferenced twin (:class:`Twin`), fast Numba simulations on it
(urban flood, terrain hydrology, river-lake, water resources; :func:`run` picks one by the scenario's
``kind``), Dask ensembles of them and pydeck scenes of the results.

The public API is imported lazily so that ``import twin`` (and the ``twin`` CLI) start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Twin": "twin.model",
    "from_files": "twin.build",
    "Scenario": "twin.scenario",
    "run": "twin.runs",
    "load_scenario": "twin.runs",
    "FloodResult": "twin.flood",
    "run_ensemble": "twin.ensemble",
    "city_scene": "twin.scene",
    "Scene": "twin.scene",
    "sample": "twin.sample",
    "errors": "twin.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


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
