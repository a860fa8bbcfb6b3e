"""The layering rule, enforced: a lower layer never imports a higher one, and no module reaches
into another's private names.

``kernels/`` (NumPy/Numba array code) is the bottom layer, ``ingest/`` (files into geo objects) sits
beside it, and ``twin/`` joins the two. Every import statement is checked, function-level ones
included, by reading the source (nothing is imported, so a violation is found even in code no other
test runs).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("twin", "ingest", "kernels")

#: What each lower layer may not import (top-level module names).
FORBIDDEN = {
    "ingest": {"twin", "kernels"},
    "kernels": {
        "twin",
        "ingest",
        # geo and file-format libraries: kernels take arrays, never files or geometries
        "rasterio",
        "geopandas",
        "shapely",
        "pyproj",
        "fiona",
        "pyogrio",
        "ifcopenshell",
        "netCDF4",
        "h5netcdf",
        "h5py",
        "xarray",
        "pandas",
        # file I/O: a kernel reads and returns arrays, the layers above read and write the files
        "os",
        "io",
        "pathlib",
        "shutil",
        "tempfile",
        "glob",
        "pickle",
        "json",
        "csv",
        "sqlite3",
    },
    # the installed package never needs the checkout's developer tools (not installed with it)
    "twin": {"tools"},
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


#: Beyond the standard library, all kernels may import: array and compiler libraries and a solver.
#: SciPy is allowed (special functions on arrays, e.g. the SPI's gamma fit), llvmlite is Numba's own
#: IR builder (a prefetch intrinsic) and HiGHS solves the water allocation's linear programs.
KERNELS_THIRD_PARTY = {"numpy", "numba", "llvmlite", "scipy", "highspy"}


def _allowed(layer: str, top: str) -> bool:
    if top in FORBIDDEN[layer]:
        return False
    if layer == "kernels":  # a list of what is allowed: a new geo or I/O library fails without being named
        return top in KERNELS_THIRD_PARTY or top in sys.stdlib_module_names or top in {"kernels", "__future__"}
    return True


def layering_violations(layer: str, root: Path = ROOT) -> list[str]:
    """``file:line imports module`` for every import in ``layer`` of a module it may not import."""
    bad = []
    for path in _sources(root, layer):
        for line, module, _names in _imports(path, root):
            if not _allowed(layer, module.split(".")[0]):
                bad.append(f"{path.relative_to(root)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layer_does_not_import_higher(layer: str) -> None:
    assert layering_violations(layer) == []


def test_every_folder_of_the_tree_is_a_package() -> None:
    """setuptools finds a room (twin/sims/flood, ...) only when it has an ``__init__.py``."""
    missing = [
        d.relative_to(ROOT).as_posix()
        for layer in PACKAGES
        for d in [ROOT / layer, *(ROOT / layer).rglob("*")]
        if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").is_file()
    ]
    assert missing == []


def test_layering_check_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function and a relative import are both resolved."""
    (tmp_path / "ingest").mkdir()
    src = tmp_path / "ingest" / "m.py"
    src.write_text("def f():\n    from twin._io import atomic_file\n\nfrom .. import kernels\n")
    assert sorted(layering_violations("ingest", tmp_path)) == [
        "ingest/m.py:2 imports twin._io",
        "ingest/m.py:4 imports kernels",
    ]
    (tmp_path / "kernels").mkdir()
    (tmp_path / "kernels" / "k.py").write_text(
        "import math\nimport numpy as np\nfrom scipy import special\nimport os\n\ndef g():\n    import xyzgeo\n"
    )
    assert sorted(layering_violations("kernels", tmp_path)) == [
        "kernels/k.py:4 imports os",
        "kernels/k.py:7 imports xyzgeo",
    ]


# ------------------------------------------------------------------------------------------ private names

#: The only private names a module of the project may take from another one: white-box tests that call
#: one private helper of the module they test, to check it where no public entry point isolates it.
#: Project code itself (twin/, ingest/, kernels/) has no exception.
PRIVATE_ALLOWED = {
    # the int32 and int64 flat-resolution kernels agree (the public entry point picks one by grid size)
    ("tests/kernels/test_terrain.py", "kernels.terrain._flats"),
    # the roof-rain multiplier on its own (setup() folds it into the rain field)
    ("tests/sims/flood/test_flood_run.py", "twin.sims.flood.forcing._roof_share"),
    # an ensemble member run in-process, as a worker runs it
    ("tests/sims/test_scenario_validation.py", "twin.ensemble.run._run_member"),
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_module(root: Path, dotted: str) -> bool:
    """Whether ``dotted`` names a module or package of the project (``twin._io``: a private module,
    which its package's modules may import; the rule is about names, not modules)."""
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def private_name_uses(root: Path = ROOT, dirs: tuple[str, ...] = (*PACKAGES, "tools", "tests")) -> list[str]:
    """``file:line module._name`` for every private name a module takes from another project module:
    ``from m import _name`` and ``m._name`` / ``m.Class._name`` where ``m`` is an imported project
    module or name."""
    found = []
    for path in _sources(root, *dirs):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        bound: dict[str, str] = {}  # local name -> dotted project name it stands for
        for line, module, names in _imports(path, root):
            if module.split(".")[0] not in PACKAGES:
                continue
            if not names:  # import twin.model [as m]
                bound[module.split(".")[0]] = module.split(".")[0]
            for name in names:
                dotted = f"{module}.{name}"
                if _private(name) and not _is_module(root, dotted):
                    found.append((rel, line, dotted))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name.split(".")[0] in PACKAGES:
                        bound[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                for alias in node.names:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bound:
                dotted = ".".join([bound[value.id], *reversed(chain)])
                if not _is_module(root, dotted):
                    found.append((rel, node.lineno, dotted))
    return [
        f"{rel}:{line} {dotted}" for rel, line, dotted in sorted(set(found)) if (rel, dotted) not in PRIVATE_ALLOWED
    ]


def test_no_module_takes_a_private_name_from_another() -> None:
    assert private_name_uses() == []


def test_private_name_check_sees_imports_and_attributes(tmp_path: Path) -> None:
    """The checker itself: a private name imported, reached through a module or through a class is
    found; a private module imported, and a module's own private names, are not."""
    (tmp_path / "twin").mkdir()
    (tmp_path / "twin" / "__init__.py").write_text("")
    (tmp_path / "twin" / "_io.py").write_text("def _umask():\n    return 0\n")
    (tmp_path / "twin" / "model.py").write_text("class Twin:\n    def _check(self):\n        return self._x\n")
    (tmp_path / "twin" / "use.py").write_text(
        "from twin import _io\nfrom twin._io import _umask\nimport twin.model as m\nfrom twin.model import Twin\n\n"
        "def f():\n    return _io._umask(), m.Twin._check, Twin._check, _io.atomic_file\n"
    )
    assert private_name_uses(tmp_path, ("twin",)) == [
        "twin/use.py:2 twin._io._umask",
        "twin/use.py:7 twin._io._umask",
        "twin/use.py:7 twin.model.Twin._check",
    ]
