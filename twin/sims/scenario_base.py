"""The scenario base every kind shares: TOML read and validated into typed objects, errors that name
the key and the fix, files resolved inside the scenario's folder, and the key types (durations, series,
points, polygons, monotone tables) the kinds' models are built from."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticUndefined

from twin.errors import ScenarioError

__all__ = [
    "CheckedModel",
    "Duration",
    "KEY_TYPES",
    "Point",
    "Ring",
    "ScenarioModel",
    "ScenarioPath",
    "ScenarioTable",
    "TimeSeries",
    "doc",
    "explain_errors",
    "monotone_table",
    "parse_duration",
    "parse_series",
    "read_toml",
    "scenario_path",
]


_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "m": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}


def parse_duration(value: Any) -> float:
    """Seconds from a number (seconds) or text such as ``"2h"``, ``"10min"``, ``"1h30min"``, ``"90 s"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '2h' or '10min'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        parts = re.findall(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]+)?\s*", value)
        if not parts or "".join(p[0] + p[1] for p in parts) != re.sub(r"\s+", "", value):
            raise ValueError(f"cannot read duration {value!r}; write e.g. '2h', '10min', '1h30min' or seconds")
        seconds = 0.0
        for number, unit in parts:
            unit = (unit or "s").lower()
            if unit not in _UNITS:
                raise ValueError(f"unknown time unit {unit!r} in {value!r}; use s, min, h or d")
            seconds += float(number) * _UNITS[unit]
    else:
        raise ValueError("a duration is a number of seconds or text like '2h' or '10min'")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be a finite number of seconds, not {value!r}")
    if not seconds > 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration, json_schema_input_type=float | str)]
Point = tuple[float, float]


def _finite_number(value: Any, what: str) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``what`` when it is not a finite number.

    TOML's ``true``/``false`` and ``nan``/``inf`` are refused: Python would read them as 1.0, 0.0 or
    values that poison a run long after the scenario was accepted.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return float(value)


def parse_series(value: Any, *, what: str, nonneg: bool) -> list[tuple[float, float]]:
    """``value`` as ``[(t_seconds, value), ...]``, or a ``ValueError`` naming the key ``what``."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{what} must be a non-empty list of [time_seconds, value] pairs")
    out = []
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"{what} entry {i} must be a [time_seconds, value] pair, got {pair!r}")
        t = parse_duration(pair[0]) if isinstance(pair[0], str) else _finite_number(pair[0], f"{what} entry {i}'s time")
        v = _finite_number(pair[1], f"{what} entry {i}'s value")
        if nonneg and v < 0:
            raise ValueError(f"{what} entry {i} has the negative value {v}; values must be >= 0")
        if out and t <= out[-1][0]:
            raise ValueError(
                f"{what} times must increase; entry {i} at t={t:g} s follows t={out[-1][0]:g} s. Sort the pairs by time"
            )
        out.append((t, v))
    return out


def TimeSeries(key: str, *, nonneg: bool = True) -> Any:  # noqa: N802 (it names a type)
    """The validated type of a ``[[time, value], ...]`` scenario key (hyetographs, hydrographs, levels).

    Times are seconds or duration text (``"2h"``) and must increase; values are finite numbers, and
    ``>= 0`` with ``nonneg``. Every series key of every scenario kind goes through this one type, so
    they all refuse the same mistakes with the same messages, which name ``key`` (e.g.
    ``"rain.hyetograph entry 1's value must be a finite number"``).

    Parameters
    ----------
    key : str
        The scenario key as users write it, for messages.
    nonneg : bool
        Refuse negative values (rates and discharges; a water level may be below 0 m).

    Returns
    -------
    An ``Annotated`` list of ``(t_seconds, value)`` tuples for a pydantic field.
    """
    return Annotated[
        list[tuple[float, float]],
        BeforeValidator(
            functools.partial(parse_series, what=key, nonneg=nonneg),
            json_schema_input_type=list[tuple[float | str, float]],
        ),
    ]


def doc(default: Any = PydanticUndefined, *, description: str, units: str | None = None, **constraints: Any) -> Any:
    """A scenario key's pydantic ``Field`` with its ``description`` and ``units`` (the reference's columns).

    ``units`` goes into the JSON Schema as ``"units"``; ``docs/scenarios.md`` is generated from both
    (``python -m twin._schema_docs``).
    """
    return Field(default, description=description, json_schema_extra={"units": units} if units else None, **constraints)


def monotone_table(
    rows: list[tuple[float, ...]],
    columns: tuple[str, ...],
    *,
    increasing: tuple[str, ...] = (),
    rising: tuple[str, ...] = (),
    nonneg: tuple[str, ...] = (),
) -> list[tuple[float, ...]]:
    """Check a lookup table (stage-area, level-storage, rating, ...) whose rows are ``columns``.

    Parameters
    ----------
    rows : list of tuples
        The table, one row per entry (already finite numbers: the models refuse NaN and inf).
    columns : tuple of str
        The column names, as the README writes them (messages use them).
    increasing, rising : tuple of str
        Columns that must increase strictly, or never fall, from row to row: a table that runs
        backwards would be interpolated as written (a lake whose level drops as it fills).
    nonneg : tuple of str
        Columns that must be >= 0.

    Returns
    -------
    The rows unchanged; a ``ValueError`` says which column breaks which rule at which row.
    """
    form = "[" + ", ".join(columns) + "]"
    if len(rows) < 2:
        raise ValueError(f"a table needs at least two rows {form}")
    for j, col in enumerate(columns):
        values = [row[j] for row in rows]
        if col in nonneg and min(values) < 0:
            i = next(i for i, v in enumerate(values) if v < 0)
            raise ValueError(f"row {i} has {col} = {values[i]:g}; {col} must be >= 0 (rows are {form})")
        for i in range(1, len(values)):
            if values[i] < values[i - 1] or (col in increasing and values[i] == values[i - 1]):
                rule = "increase" if col in increasing else "never fall"
                raise ValueError(
                    f"{col} must {rule} from row to row, but row {i} has {col} = {values[i]:g} after "
                    f"{values[i - 1]:g} (rows are {form}); sort the rows and check the columns' order"
                )
    return rows


def scenario_path(value: Any, context: dict[str, Any] | None, key: str | None = None) -> Path:
    """The file a scenario names, resolved inside the scenario's folder or a folder the user allowed.

    Every scenario key that names a file goes through here (``rain.frames[].file``,
    ``rain.design.table``, ``timeseries``, ``network``, an ensemble's ``base``), so that a
    scenario handed over by someone else cannot read (and copy into its results, or print in an
    error) a file elsewhere on the machine: ``/etc/shadow`` or ``../secret/table.csv``.

    Parameters
    ----------
    value : str or path
        As written in the scenario; relative paths are relative to the scenario's folder.
    context : dict or None
        The validation context: ``base_dir`` (the scenario's folder; default: the current folder),
        ``allowed`` (further folders, from ``--allow-path`` or ``allowed_paths=``) and
        ``recorded`` (a result's own ``scenario.json`` read back: its paths were checked when it ran).
    key : str, optional
        The scenario key, for messages raised where pydantic does not add it.

    Returns
    -------
    Path
        Absolute, with links and ``..`` resolved.
    """
    what = f"{key} = {str(value)!r}" if key else repr(str(value))
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise ValueError(f"{key or 'a file key'} must be a file path (text), not {value!r}")
    ctx = context or {}
    if ctx.get("recorded"):
        return Path(value)
    base = Path(ctx.get("base_dir") or Path.cwd()).resolve()
    full = (base / Path(value)).resolve()  # an absolute value replaces base; links and '..' are followed
    roots = [base, *(Path(a).resolve() for a in ctx.get("allowed") or ())]
    if not any(full.is_relative_to(root) for root in roots):
        where = f"the scenario's folder {base}" + (
            "" if len(roots) == 1 else " and the allowed folders " + ", ".join(str(r) for r in roots[1:])
        )
        raise ValueError(
            f"{what} lies outside {where}; scenarios read files only there. Copy the file into the "
            "scenario's folder, or allow its folder: twin run/water/ensemble --allow-path DIR "
            "(allowed_paths=[DIR] in Python)"
        )
    return full


def _path_field(value: Any, info: ValidationInfo) -> Path:
    return scenario_path(value, info.context)


#: A file a scenario names: resolved by :func:`scenario_path` (inside the scenario's folder).
ScenarioPath = Annotated[Path, BeforeValidator(_path_field, json_schema_input_type=str)]


def _takes_bool(annotation: Any) -> bool:
    return annotation is bool or any(_takes_bool(a) for a in get_args(annotation))


def _holds_bool(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, (list, tuple)) and any(_holds_bool(v) for v in value))


class CheckedModel(BaseModel):
    """Numbers are numbers: NaN and infinity are refused everywhere, and so are TOML's ``true`` and
    ``false`` wherever the key does not take one (pydantic would read ``capacity = true`` as 1.0)."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                key = field.alias or name
                if _holds_bool(data.get(key)) and not _takes_bool(field.annotation):
                    shown = json.dumps(data[key], default=str)
                    raise ValueError(
                        f"{key} = {shown}: true/false is not a value this key takes; give a number, or "
                        "the value the README lists for it"
                    )
        return data


class ScenarioTable(CheckedModel):
    """The base of every table of a scenario file: unknown keys are refused and the value is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def read_toml(path: str | os.PathLike, what: str = "Scenario") -> dict[str, Any]:
    """The table of a TOML file, or a :class:`ScenarioError` saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{what} file {path} does not exist.")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path} is not valid TOML: {exc}. Check quotes, brackets and commas there.") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path} is not a UTF-8 text file; a {what.lower()} is TOML text.") from None


class ScenarioModel(ScenarioTable):
    """What every scenario kind shares: validation from a dict or a TOML file with errors that name the
    key and the fix, the JSON-ready form a result records, and its hash.

    Files a scenario names resolve inside its folder (``base_dir``) or a folder in ``allowed_paths``;
    anything else is refused (see :func:`scenario_path`).
    """

    kind: str = doc(description="The scenario kind: flood, river, water or terrain")
    name: str = doc("scenario", description="Names the run in results and messages (default: the file's stem)")

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        source: str = "scenario",
        base_dir: str | os.PathLike | None = None,
        allowed_paths: Sequence[str | os.PathLike] = (),
    ) -> Any:
        """Validate a dict of the TOML's shape; the files it names resolve inside ``base_dir`` (default:
        the current folder) or one of ``allowed_paths``."""
        return cls._validate(data, source, {"base_dir": base_dir, "allowed": tuple(allowed_paths)})

    @classmethod
    def from_toml(cls, path: str | os.PathLike, *, allowed_paths: Sequence[str | os.PathLike] = ()) -> Any:
        """Read and validate a TOML scenario file (its ``name`` defaults to the file's stem); the files it
        names resolve inside the file's folder or one of ``allowed_paths``."""
        path = Path(path)
        data = read_toml(path)
        data.setdefault("name", path.stem)
        return cls.from_dict(data, source=str(path), base_dir=path.parent, allowed_paths=allowed_paths)

    @classmethod
    def coerce(cls, scenario: Any) -> Any:
        """``scenario`` as this model: itself when it is one, else validated from a dict or read from a TOML
        path (what every kind's ``run`` accepts)."""
        if isinstance(scenario, cls):
            return scenario
        return cls.from_dict(scenario) if isinstance(scenario, dict) else cls.from_toml(scenario)

    @classmethod
    def from_record(cls, data: dict[str, Any], *, source: str = "scenario.json") -> Any:
        """A scenario as a result recorded it (``scenario.json``): validated, its paths taken as recorded
        (they were resolved and checked when it ran)."""
        return cls._validate(data, source, {"recorded": True})

    @classmethod
    def _validate(cls, data: dict[str, Any], source: str, context: dict[str, Any]) -> Any:
        try:
            return cls.model_validate(data, context=context)
        except ValidationError as exc:
            raise ScenarioError(explain_errors(exc, source)) from None

    def to_dict(self) -> dict[str, Any]:
        """The validated scenario as plain JSON-ready data (defaults filled in)."""
        return json.loads(self.model_dump_json())

    @property
    def hash(self) -> str:
        """SHA-256 of the validated scenario (what a result records to say what produced it)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def _ring(value: Any) -> Any:
    """A polygon given as [[x, y], ...]: at least three corners, closed, not crossing itself."""
    import shapely

    if not isinstance(value, (list, tuple)) or len(value) < 3:
        raise ValueError("a polygon is a list of at least three [x, y] corners (twin CRS)")
    pts = [tuple(_finite_number(c, "a polygon corner coordinate") for c in p) for p in value]
    if any(len(p) != 2 for p in pts):
        raise ValueError("every polygon corner is an [x, y] pair")
    if pts[0] != pts[-1]:
        pts.append(pts[0])  # a ring closes on its first corner; writing it twice is optional
    if len(set(pts)) < 3:
        raise ValueError("a polygon needs at least three distinct corners")
    poly = shapely.Polygon(pts)
    if not poly.is_valid:
        raise ValueError(
            f"the polygon is not valid ({shapely.is_valid_reason(poly)}); list its corners in order "
            "around the outline without crossing"
        )
    if poly.area <= 0:
        raise ValueError("the polygon has no area; check its corners")
    return pts


Ring = Annotated[list[Point], BeforeValidator(_ring)]

#: What the reference (docs/scenarios.md) calls the keys each scenario validator reads.
KEY_TYPES = {
    parse_duration: "duration",
    parse_series: "series [[time, value], ...]",
    _path_field: "path",
    _ring: "polygon [[x, y], ...]",
}


_EDIT_TYPES = "'floodwall', 'ground', 'pond' or 'building'"


def explain_errors(exc: ValidationError, source: str) -> str:
    """One line for one error (what the CLI prints), else a list of ``key: message`` lines."""
    found: dict[str, list[tuple[str, str]]] = {}
    for err in exc.errors():
        loc = list(err["loc"])
        if loc and isinstance(loc[-1], str) and loc[-1] in _UNION_TAGS:
            loc = loc[:-1]  # 'demand.float', 'demand.str': the branches of ``float | str`` are one key
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_not_found":
            msg = f"type is missing; give type = {_EDIT_TYPES}"
        elif err["type"] == "union_tag_invalid":
            msg = f"type {err.get('input', {}).get('type')!r} is not an edit type; use {_EDIT_TYPES}"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling (docs/scenarios.md lists every key; so does twin schema KIND)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "finite_number":
            msg = f"{err.get('input')!r} is not a finite number; NaN and infinity are not values, give a number"
        elif err["type"] == "literal_error":
            msg = f"{msg} (got {err.get('input')!r})"
        found.setdefault(_key(tuple(loc)), []).append((err["type"], msg))
    lines = []
    for key, errs in found.items():
        # a NaN given where a number or a column name goes: the number is what was meant
        finite = [m for t, m in errs if t == "finite_number"]
        lines += [f"{key}: {m}" for m in (finite or [m for _, m in errs])]
    if len(lines) == 1:
        return f"{source} is not a valid scenario: {lines[0]}"
    return "\n".join([f"{source} is not a valid scenario:", *(f"  - {line}" for line in lines)])


_UNION_TAGS = {"float", "int", "str", "bool"}


def _key(loc: tuple) -> str:
    """``edit[2].crest`` for edits (their type tag dropped), dotted paths elsewhere."""
    parts: list[str] = []
    loc = list(loc)
    if len(loc) >= 2 and loc[0] == "edit" and isinstance(loc[1], int):
        parts.append(f"edit[{loc[1]}]")
        rest = loc[2:]
        if rest and rest[0] in ("floodwall", "ground", "pond", "building"):
            rest = rest[1:]
        return ".".join(parts + [str(p) for p in rest])
    return ".".join(str(p) for p in loc) or "(top level)"
