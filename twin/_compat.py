"""The 0.1 module paths, kept for one release: ``import twin.flood`` still works and warns.

No file stands at an old path (so that git follows each module to its new place, and branches that
edited the old file merge into the new one): :func:`install`, called by ``twin/__init__.py``, puts a
finder on :data:`sys.meta_path` that answers the old names in :data:`MOVED`. The module it makes
warns once on import (a :class:`DeprecationWarning` naming the new path) and answers every name,
``from twin.flood import run`` and ``twin.flood.run`` alike, from the new modules in the order given.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

__all__ = ["MOVED", "install"]

#: Old module -> the modules its names live in now (the first holding a name answers it).
MOVED: dict[str, tuple[str, ...]] = {
    "twin.scenario": ("twin.sims.flood.scenario", "twin.sims.scenario_base"),
    "twin.flood": ("twin.sims.flood.run",),
    "twin.forcing": ("twin.sims.flood.forcing",),
    "twin.storms": ("twin.sims.flood.storms",),
    "twin.exposure": ("twin.sims.flood.exposure",),
    "twin.compare": ("twin.sims.flood.compare",),
    "twin.riverlake": ("twin.sims.river.run", "twin.sims.river.scenario"),
    "twin.network": ("twin.sims.river.network",),
    "twin.runoff": ("twin.sims.river.runoff",),
    "twin.water": ("twin.sims.water.run", "twin.sims.water.scenario"),
    "twin.hydrology": ("twin.sims.terrain.run", "twin.sims.terrain.scenario"),
    "twin.build": ("twin.model.build",),
    "twin.bim": ("twin.model.bim",),
    "twin.landuse": ("twin.model.landuse",),
    "twin.edits": ("twin.model.edits",),
    "twin.runs": ("twin.sims.runs",),
    "twin.kinds": ("twin.sims.kinds",),
}


class _Forwarding(types.ModuleType):
    """An old module: every attribute comes from the new modules."""

    def __getattr__(self, name: str) -> Any:
        for module in self.__dict__.get("_targets", ()):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(
            f"module {self.__name__!r} has no attribute {name!r} (it moved to "
            f"{' / '.join(m.__name__ for m in self.__dict__.get('_targets', ()))})"
        )

    def __dir__(self) -> list[str]:
        return sorted({name for module in self.__dict__.get("_targets", ()) for name in dir(module)})


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _Forwarding(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        new = MOVED[module.__name__]
        # stacklevel 2 is the importer's line: the warnings module skips the import machinery's frames
        warnings.warn(
            f"{module.__name__} is deprecated; import from {' / '.join(new)} instead (the old path goes in 0.3)",
            DeprecationWarning,
            stacklevel=2,
        )
        targets = [importlib.import_module(name) for name in new]
        module.__dict__["_targets"] = targets
        module.__dict__["__all__"] = sorted({n for m in targets for n in getattr(m, "__all__", ())})
        module.__dict__["__doc__"] = f"Deprecated since 0.2: moved to {' and '.join(new)}; this path goes in 0.3."


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED:
            return importlib.machinery.ModuleSpec(fullname, _Loader())
        return None


def install() -> None:
    """Answer the old paths (once per process)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        # first: an editable install's finder would otherwise find an old file in another checkout
        sys.meta_path.insert(0, _Finder())
