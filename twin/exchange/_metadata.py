"""A compact binary property table (``EXT_structural_metadata``) for the features of one GLB.

Every column is stored in the smallest type the 3D Metadata spec lets a client read back without
help of ours:

- strings that repeat (a source, an IFC file name) are an ``ENUM`` of 8 or 16 bits, the empty
  string its ``noData``, where that takes fewer bytes than the strings; others (ids, names) are
  UTF-8 with 8-, 16- or 32-bit offsets, the empty string their ``noData``;
- numbers with a ``step`` (metres to the centimetre, seconds to the second) are fixed-point:
  unsigned integers of 8, 16 or 32 bits, ``normalized`` with an ``offset`` and ``scale`` that
  give back ``offset + step * raw``; a missing value is the type's largest integer, its ``noData``;
- integers (storeys) are the smallest unsigned integer that holds them, booleans a bitstream;
- a string column empty in every feature of the table is left out of it (the schema keeps it, so
  a client reads "no value", as it would from ``noData``).

The order of the features is the caller's; the table holds one row per feature id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Property", "property_table"]

# unsigned integer types by size, smallest first: (metadata name, numpy dtype)
_UNSIGNED = (("UINT8", np.uint8), ("UINT16", np.uint16), ("UINT32", np.uint32))
# JSON bytes an enum value costs besides its name: {"name":"","value":12345},
_ENUM_VALUE_JSON = 28


@dataclass
class Property:
    """One column of a property table.

    Attributes
    ----------
    kind
        ``"STRING"``, ``"FLOAT32"``, ``"FLOAT64"``, ``"INT32"`` or ``"BOOLEAN"``: what the values are.
    values
        One value per feature (NaN where a number is unknown).
    description
        What it is, with its unit.
    no_data
        The value that stands for "none" (floats without a ``step`` only; written where NaN).
    step
        Numbers: store them as fixed-point integers of this step (e.g. 0.01 m), decoded within half a
        step; None keeps the ``kind``'s float or integer.
    """

    kind: str
    values: Any
    description: str = ""
    no_data: float | None = None
    step: float | None = None


def property_table(
    view: Callable[[bytes], int], properties: Mapping[str, Property], class_name: str, count: int
) -> dict[str, Any]:
    """The ``EXT_structural_metadata`` object: a schema with one class and its property table.

    Parameters
    ----------
    view
        Adds bytes to the GLB's binary chunk as a buffer view; returns its index.
    properties
        The columns, each with ``count`` values.
    class_name
        The class of the features (e.g. ``"building"``).
    count
        Number of features (rows).
    """
    schema_props: dict[str, Any] = {}
    enums: dict[str, Any] = {}
    table: dict[str, Any] = {}
    for name, prop in properties.items():
        spec: dict[str, Any] = {"description": prop.description} if prop.description else {}
        if prop.kind == "STRING":
            column = _strings(view, name, [str(v) for v in prop.values], spec, enums)
        elif prop.kind == "BOOLEAN":
            spec["type"] = "BOOLEAN"
            bits = np.packbits(np.asarray(prop.values, dtype=bool), bitorder="little")
            column = {"values": view(bits.tobytes())}
        elif prop.step is not None and _fits(np.asarray(prop.values, dtype=np.float64), prop.step):
            column = _fixed(view, np.asarray(prop.values, dtype=np.float64), prop.step, spec)
        elif prop.kind == "INT32":
            column = _integers(view, np.asarray(prop.values, dtype=np.float64), spec)
        else:
            column = _floats(view, prop, spec)
        schema_props[name] = spec
        if column is not None:
            table[name] = column
    schema: dict[str, Any] = {"id": "cimtwin", "classes": {class_name: {"properties": schema_props}}}
    if enums:
        schema["enums"] = enums
    return {
        "schema": schema,
        "propertyTables": [{"class": class_name, "count": int(count), "properties": table}],
    }


def _strings(
    view: Callable[[bytes], int], name: str, values: list[str], spec: dict[str, Any], enums: dict[str, Any]
) -> dict[str, Any] | None:
    """A string column: an enum when values repeat, else UTF-8 with the narrowest offsets; None if all empty."""
    distinct = sorted(set(values) - {""})
    if _enum_pays(values, distinct):
        # enum names may not be empty: the empty string is a name no value has, declared noData
        none = "(none)"
        while none in distinct:
            none = f"({none})"
        names = [none, *distinct]
        value_type, dtype = _smallest(len(names) - 1)
        enum_id = f"{name}_values"
        enums[enum_id] = {"valueType": value_type, "values": [{"name": n, "value": i} for i, n in enumerate(names)]}
        spec.update(type="ENUM", enumType=enum_id, noData=none)
        if not distinct:
            return None
        index = {n: i for i, n in enumerate(names)}
        codes = np.fromiter((index[v] if v else 0 for v in values), dtype=dtype, count=len(values))
        return {"values": view(codes.tobytes())}
    spec["type"] = "STRING"
    if "" in values:
        spec["noData"] = ""  # "no value", as in an enum column
    encoded = [v.encode() for v in values]
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])])
    offset_type, dtype = _smallest(int(offsets[-1]))
    # a buffer view may not be empty: a column of empty strings still holds one byte
    return {
        "values": view(b"".join(encoded) or b"\0"),
        "stringOffsets": view(offsets.astype(dtype).tobytes()),
        "stringOffsetType": offset_type,
    }


def _enum_pays(values: list[str], distinct: list[str]) -> bool:
    """Whether an enum (its values in the JSON, a code per row) is smaller than the strings and their offsets."""
    if len(distinct) >= 65535:
        return False
    code = 1 if len(distinct) < 255 else 2
    enum = sum(len(d.encode()) + _ENUM_VALUE_JSON for d in distinct) + code * len(values)
    text = sum(len(v.encode()) for v in values)
    strings = text + (len(values) + 1) * (1 if text < 256 else 2 if text < 65536 else 4)
    return enum < strings


def _fixed(view: Callable[[bytes], int], values: np.ndarray, step: float, spec: dict[str, Any]) -> dict[str, Any]:
    """Numbers as normalized unsigned integers: ``offset + scale * raw / max`` is ``offset + step * raw``."""
    known = np.isfinite(values)
    offset = math.floor(float(values[known].min()) / step) * step if known.any() else 0.0
    raw = np.where(known, np.rint((np.where(known, values, offset) - offset) / step), 0.0)
    top = int(raw.max()) if len(raw) else 0
    component, dtype = _smallest(top + (0 if known.all() else 1))
    biggest = int(np.iinfo(dtype).max)
    if not known.all():
        raw = np.where(known, raw, biggest)
        spec["noData"] = biggest
    spec.update(type="SCALAR", componentType=component, normalized=True, offset=offset, scale=step * biggest)
    return {"values": view(raw.astype(dtype).tobytes())}


def _fits(values: np.ndarray, step: float) -> bool:
    """Whether the values span at most 2**32 - 2 steps (else they stay floats)."""
    known = values[np.isfinite(values)]
    return not len(known) or float(np.ptp(known)) / step < np.iinfo(np.uint32).max - 2


def _integers(view: Callable[[bytes], int], values: np.ndarray, spec: dict[str, Any]) -> dict[str, Any]:
    """Whole numbers (NaN: unknown) in the smallest unsigned type, or INT32 if any is negative."""
    known = np.isfinite(values)
    if (values[known] < 0).any():
        component, dtype = "INT32", np.int32
        no_data = int(np.iinfo(np.int32).min)
    else:
        top = int(values[known].max()) if known.any() else 0
        component, dtype = _smallest(top + (0 if known.all() else 1))
        no_data = int(np.iinfo(dtype).max)
    if not known.all():
        spec["noData"] = no_data
    spec.update(type="SCALAR", componentType=component)
    return {"values": view(np.where(known, values, no_data).astype(dtype).tobytes())}


def _floats(view: Callable[[bytes], int], prop: Property, spec: dict[str, Any]) -> dict[str, Any]:
    """Numbers as the ``kind``'s float, ``no_data`` where unknown."""
    dtype = {"FLOAT32": np.float32, "FLOAT64": np.float64}[prop.kind]
    values = np.asarray(prop.values, dtype=np.float64)
    if prop.no_data is not None:
        spec["noData"] = prop.no_data
        values = np.where(np.isfinite(values), values, prop.no_data)
    spec.update(type="SCALAR", componentType=prop.kind)
    return {"values": view(values.astype(dtype).tobytes())}


def _smallest(top: int) -> tuple[str, type]:
    """The smallest unsigned integer type that holds ``0 .. top``."""
    for name, dtype in _UNSIGNED:
        if top <= np.iinfo(dtype).max:
            return name, dtype
    raise ValueError(f"{top} does not fit in 32 bits")
