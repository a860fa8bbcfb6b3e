"""The 0.1 module paths, kept for one release: a module at an old path forwards to where its names live now.

Each old module (``twin/flood.py``, ...) is three lines: its docstring and ``forward(__name__, NEW, ...)``,
which warns once on import (a :class:`DeprecationWarning` naming the new path) and answers every name,
``from twin.flood import run`` and ``twin.flood.run`` alike, from the new modules in the order given.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["forward"]


def forward(old: str, *new: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for the module at ``old``, answering from the modules ``new``."""
    warnings.warn(f"{old} is deprecated; import from {' / '.join(new)} instead (the old path goes in 0.3)",
                  DeprecationWarning, stacklevel=3)
    modules = [importlib.import_module(name) for name in new]

    def module_getattr(name: str) -> Any:
        for module in modules:
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r} (it moved to {' / '.join(new)})")

    def module_dir() -> list[str]:
        return sorted({name for module in modules for name in dir(module)})

    public = sorted({name for module in modules for name in getattr(module, "__all__", ())})
    return module_getattr, module_dir, public
