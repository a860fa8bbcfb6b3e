"""Test helper: the exports checked by the real validators, not by our own reading.

- CityJSON: the official CityJSON 2.0.2 JSON schemas (``tests/data/cityjson``, from the cityjson/specs
  repository, CC0) and cjio, the CityJSON reference library, which must load the file. (cjvalpy,
  the official validator's bindings, has no build for this Python: its last wheels are for 3.8/3.10.)
- GLB: the Khronos glTF validator (npm ``gltf-validator`` in ``tools/node``).
- tileset.json: the official 3D Tiles 1.1 JSON schemas (``tests/data/3dtiles-schema``, from the
  CesiumGS/3d-tiles repository; the npm ``3d-tiles-validator`` is not published on npm).

Node and the npm packages are skipped without them on a developer machine and fail in CI.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import referencing

ROOT = Path(__file__).resolve().parent.parent
NODE_TOOLS = ROOT / "tools" / "node"
DATA = Path(__file__).resolve().parent / "data"


def require_node_tools() -> str:
    """The node executable with ``tools/node/node_modules`` installed; skip (fail in CI) without them."""
    node = shutil.which("node")
    if node is None or not (NODE_TOOLS / "node_modules" / "gltf-validator").is_dir():
        message = "node and tools/node/node_modules are needed (cd tools/node && npm ci)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs them.")
        pytest.skip(message)
    return node


def validate_cityjson(path: Path) -> None:
    """Schema-validate a CityJSON file (or each line of a CityJSONSeq) and load it with cjio."""
    if path.suffix == ".jsonl":
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        _check(_validator("cityjson.min.schema.json"), lines[0])
        feature = _validator("cityjsonfeature.min.schema.json")
        for line in lines[1:]:
            _check(feature, line)
        return
    _check(_validator("cityjson.min.schema.json"), json.loads(path.read_text()))
    with path.open() as fh:
        cm = _cjio().reader(fh)
    assert cm.get_version() == "2.0"


def validate_glb(paths: list[Path]) -> list[dict]:
    """Run the Khronos validator on GLB files; assert no errors and no warnings; return its reports."""
    node = require_node_tools()
    proc = subprocess.run(
        [node, str(NODE_TOOLS / "validate_gltf.mjs"), *map(str, paths)], capture_output=True, text=True, timeout=300
    )
    reports = json.loads(proc.stdout)
    bad = [r for r in reports if r["errors"] or r["warnings"]]
    assert not bad, json.dumps(bad, indent=1)[:4000]
    assert proc.returncode == 0, proc.stderr
    return reports


def validate_tileset(path: Path) -> dict:
    """Validate a tileset.json against the 3D Tiles 1.1 schema; returns it."""
    tileset = json.loads(path.read_text())
    validator = _tiles_validator()
    errors = sorted(validator.iter_errors(tileset), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    return tileset


def validate_metadata(extension: dict) -> None:
    """Validate a GLB's ``EXT_structural_metadata`` JSON (its schema and property tables) against the 3D
    Metadata JSON schemas of the 3D Tiles 1.1 repository (the same files the extension's own schema points to)."""
    registry = _tiles_registry()
    for name, doc in [("Schema/schema.schema.json", extension["schema"])] + [
        ("PropertyTable/propertyTable.schema.json", table) for table in extension["propertyTables"]
    ]:
        # through a $ref, so that the file's relative $id and $refs resolve against its folder
        validator = jsonschema.Draft202012Validator({"$ref": name}, registry=registry)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{name} {list(e.path)}: {e.message}" for e in errors[:10])


@functools.cache
def _cjio():
    """cjio's reader module; its import makes every later ``json.dumps`` in the process write floats with six
    decimals (it replaces ``json.encoder.float``), which is undone here so that the other tests are not touched."""
    import json.encoder

    had = "float" in vars(json.encoder)
    from cjio import cityjson

    if not had:
        vars(json.encoder).pop("float", None)
    return cityjson


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    """One validator per schema, built once (building it is what costs)."""
    schema = json.loads((DATA / "cityjson" / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _check(validator: jsonschema.protocols.Validator, doc: dict) -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    assert error is None, f"{list(error.absolute_path)}: {error.message}"


@functools.cache
def _tiles_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((DATA / "3dtiles-schema" / "tileset.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, registry=_tiles_registry())


@functools.cache
def _tiles_registry() -> referencing.Registry:
    """Every schema file under its relative path, so that ``$ref`` resolves offline."""
    root = DATA / "3dtiles-schema"
    resources = []
    for p in root.rglob("*.schema.json"):
        contents = json.loads(p.read_text())
        resource = referencing.Resource.from_contents(
            contents, default_specification=referencing.jsonschema.DRAFT202012
        )
        resources.append((p.relative_to(root).as_posix(), resource))
    return referencing.Registry().with_resources(resources)
