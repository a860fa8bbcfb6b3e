"""The layering rule, enforced: a lower layer never imports a higher one, and no module reaches
into another's private names.

``kernels/`` (NumPy/Numba array code) is the bottom layer, ``ingest/`` (files into geo objects) sits
beside it, and ``twin/`` joins the two. Every import statement is checked, function-level ones
included, by reading the source (nothing is imported, so a violation is found even in code no other
test runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("twin", "ingest", "kernels")

#: What each lower layer may not import (top-level module names).
FORBIDDEN = {
    "ingest": {"twin", "kernels"},
    "kernels": {
        "twin", "ingest",
        # geo and file-format libraries: kernels take arrays, never files or geometries
        "rasterio", "geopandas", "shapely", "pyproj", "fiona", "pyogrio", "ifcopenshell",
        "netCDF4", "h5netcdf", "xarray", "pandas",
    },
}


def _sources(root: Path, *dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (root / d).rglob("*.py"))


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path) -> list[tuple[int, str, list[str]]]:
    """Every import in ``path`` as (line, absolute module, imported names); relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            if module:
                found.append((node.lineno, module, [alias.name for alias in node.names]))
            else:  # ``from .. import kernels``: the names are the modules
                found.extend((node.lineno, alias.name, []) for alias in node.names)
    return found


def layering_violations(layer: str, root: Path = ROOT) -> list[str]:
    """``file:line imports module`` for every import in ``layer`` of a module it may not import."""
    bad = []
    for path in _sources(root, layer):
        for line, module, _names in _imports(path, root):
            if module.split(".")[0] in FORBIDDEN[layer]:
                bad.append(f"{path.relative_to(root)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layer_does_not_import_higher(layer: str) -> None:
    assert layering_violations(layer) == []


def test_layering_check_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function and a relative import are both resolved."""
    (tmp_path / "ingest").mkdir()
    src = tmp_path / "ingest" / "m.py"
    src.write_text("def f():\n    from twin._io import atomic_file\n\nfrom .. import kernels\n")
    assert sorted(layering_violations("ingest", tmp_path)) == ["ingest/m.py:2 imports twin._io", "ingest/m.py:4 imports kernels"]
