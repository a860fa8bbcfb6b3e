"""The scenario reference, generated from the models: ``python -m twin._schema_docs docs/scenarios.md``.

Every key of every scenario kind carries its description and units on its pydantic field (see
:func:`twin.sims.flood.scenario.doc`), so the reference, the JSON Schema (``twin schema KIND``) and the validation
are one source and cannot drift apart; ``tests/test_schema.py`` checks the committed file is current.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["KINDS", "scenario_model", "json_schema", "fields", "reference"]

#: Scenario kinds and where their model lives (imported when asked for: river and water pull in more).
KINDS = {
    "flood": ("twin.sims.flood.scenario", "Scenario"),
    "river": ("twin.sims.river.scenario", "RiverScenario"),
    "water": ("twin.sims.water.scenario", "WaterScenario"),
    "terrain": ("twin.sims.terrain.scenario", "TerrainScenario"),
    "ensemble": ("twin.ensemble.spec", "_Spec"),
    "forecast": ("twin.live.config", "ForecastConfig"),
}

_TITLES = {
    "flood": 'Flood scenarios (`kind = "flood"`)',
    "river": 'River-lake scenarios (`kind = "river"`)',
    "water": 'Water resources (`kind = "water"`)',
    "terrain": 'Terrain (`kind = "terrain"`)',
    "ensemble": "Ensembles (`twin ensemble`)",
    "forecast": "Forecasts (`twin forecast --config`)",
}


def scenario_model(kind: str) -> type[BaseModel]:
    """The pydantic model of scenario ``kind`` (one of :data:`KINDS`)."""
    import importlib

    module, name = KINDS[kind]
    return getattr(importlib.import_module(module), name)


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of scenario ``kind``, keys as a TOML file writes them (``from``, not ``from_``)."""
    schema = scenario_model(kind).model_json_schema(by_alias=True)
    schema["title"] = f"cimtwin {kind} scenario"
    return schema


def fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every key of ``model`` and of the tables within it, as ``(dotted path, field)``, in file order.

    A list of tables is written ``inflow[].at``; a table that is one of several types (the edits)
    ``edit[type=pond].depth``.
    """
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        yield path, field
        for suffix, sub in _tables(field.annotation):
            yield from fields(sub, path + suffix)


def _tables(annotation: Any, suffix: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """The models inside an annotation, with the path suffix that reaches their keys."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield suffix + ".", annotation
        return
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        yield from _tables(args[0], suffix)
    elif origin is list:
        yield from _tables(args[0], suffix + "[]")
    elif origin in (Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        tagged = len(models) > 1 and all("type" in m.model_fields for m in models)
        for arg in args:
            if tagged and arg in models:
                tag = get_args(arg.model_fields["type"].annotation)[0]
                yield f"{suffix}[type={tag}].", arg
            else:
                yield from _tables(arg, suffix)


def _validator_kind(metadata: list[Any]) -> str | None:
    """``duration``, ``series``, ``path`` or ``polygon`` for the scenario's validated types."""
    from twin.sims.scenario_base import KEY_TYPES

    for m in metadata:
        func = getattr(m, "func", None)
        if isinstance(func, functools.partial):
            func = func.func
        if func in KEY_TYPES:
            return KEY_TYPES[func]
    return None


def type_name(annotation: Any, metadata: list[Any] = ()) -> str:
    """A reader's name for a field's type: ``number``, ``duration``, ``"a" | "b"``, ``list of table``."""
    special = _validator_kind(list(metadata))
    if special:
        return special
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_name(args[0], list(args[1:]))
    if origin in (Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(names))
        return text + (" or none" if type(None) in args else "")
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is tuple:
        return "[" + ", ".join(type_name(a) for a in args) + "]"
    if origin is dict:
        return f"table of {type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return {
        float: "number",
        int: "integer",
        str: "text",
        bool: "true/false",
        Path: "path",
        dt.date: "date",
        Any: "any",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "none"
    if value == [] or value == {}:
        return "empty"
    return "`" + json.dumps(value, default=str) + "`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reference() -> str:
    """``docs/scenarios.md``: per kind, a table of every key, its type, units, default and description."""
    lines = [
        "# Scenario reference",
        "",
        "Generated from the scenario models by `python -m twin._schema_docs docs/scenarios.md` "
        "(`make docs`); do not edit by hand. `twin schema KIND` prints a kind's JSON Schema. The README "
        "has the tour with examples. Keys are dotted paths; `[]` is an entry of a list of tables "
        '(`[[inflow]]`); durations are seconds or text such as `"2h"` or `"10min"`.',
        "",
    ]
    for kind in KINDS:
        model = scenario_model(kind)
        lines += [f"## {_TITLES[kind]}", "", "| key | type | units | default | description |", "|---|---|---|---|---|"]
        for path, field in fields(model):
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            units = str(extra.get("units", ""))
            lines.append(
                f"| `{path}` | {_cell(type_name(field.annotation, field.metadata))} | {_cell(units)} | "
                f"{_cell(_default(field))} | {_cell(field.description or '')} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Write the reference to ``argv[0]`` (default: print it)."""
    text = reference()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
