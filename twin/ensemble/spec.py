"""Ensemble files: a base scenario, members and sweeps, each member validated into a Scenario up front."""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError, field_validator

from twin.errors import ScenarioError
from twin.sims.flood.scenario import Scenario
from twin.sims.scenario_base import CheckedModel, doc, explain_errors, read_toml, scenario_path

__all__ = ["Ensemble", "Member"]

# Keys of which a table holds exactly one: setting one in a member drops the base's other ones, so a
# member can swap a constant rain for a hyetograph without un-setting anything (TOML has no null).
_ONE_OF = {("rain",): ("constant", "hyetograph", "frames")}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Spec(CheckedModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = doc("ensemble", description="Names the ensemble and its members' folders (<name>-000, ...)")
    base: str | dict[str, Any] = doc(
        description="The base flood scenario: a file (relative to this one) or an inline [base] table"
    )
    member: list[dict[str, Any]] = doc(
        [],
        description="Members: overrides merged into the base (dotted keys or "
        "tables; weight = ..., return_period = ... optional)",
    )
    sweep: dict[str, list[Any]] = doc(
        {}, description="Dotted keys and their values: cartesian product, crossed with every member"
    )
    weights: list[float] | None = doc(None, description="One probability per member (>= 0, not all 0; normalised)")
    thresholds: list[float] = doc(
        [0.1, 0.3, 0.5, 1.0], description="Depths, one exceedance map each; positive and increasing", units="m"
    )
    building_depth: float | None = doc(None, description="Sets output.building_depth of every member", units="m", ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} cannot name folders; use letters, digits, '_', '-' and '.'")
        return v

    @field_validator("sweep")
    @classmethod
    def _sweep(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [k for k, vals in v.items() if not vals]
        if empty:
            raise ValueError(f"sweep key(s) {empty} have no values; give each a non-empty list")
        return v

    @field_validator("weights", mode="before")
    @classmethod
    def _weights(cls, v: Any) -> Any:
        # before pydantic's own check, so that a NaN weight is named as the probability it is not
        if isinstance(v, (list, tuple)):
            for i, w in enumerate(v):
                _check_weight(w, f"weights[{i}]")
            if sum(v) <= 0:
                raise ValueError("weights are probabilities: each >= 0 and not all 0")
        return v

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if not v or any(t <= 0 for t in v) or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("thresholds are depths in m: positive and increasing, e.g. [0.1, 0.3, 0.5, 1.0]")
        return v


@dataclass(frozen=True)
class Member:
    """One ensemble member: its overrides of the base, its weight and its validated scenario.

    ``weight`` is normalised over the ensemble (equal when no weights are given); ``return_period``
    [years] is the member's ``return_period`` key or its design storm's, ``None`` without either.
    """

    index: int
    name: str
    parameters: dict[str, Any]
    weight: float
    scenario: Scenario
    return_period: float | None = None

    @property
    def folder(self) -> str:
        """The member's result folder name under ``<out>/members``."""
        return f"{self.index:03d}"


@dataclass(frozen=True)
class Ensemble:
    """Many flood scenarios from one base: a list of members and/or a cartesian sweep.

    Build one with :meth:`from_toml` or :meth:`from_dict`. Every member is validated into a
    :class:`~twin.sims.flood.scenario.Scenario` right away, so a bad member is reported (by number, overrides
    and key) before any cluster starts.

    Attributes
    ----------
    name : str
        Names the members ``<name>-<k>``.
    members : tuple of Member
        In order: each ``[[member]]`` (or one empty member) crossed with every sweep combination.
    thresholds : tuple of float
        Depths [m] of the exceedance maps.
    sweep_keys : tuple of str
        The swept keys (``members.csv`` gets one column each).
    source : str
        Where the ensemble came from (for messages).
    weighted : bool
        Whether weights were given (``weights = [...]`` or ``weight`` in every ``[[member]]``): only
        then are the maps probabilities (``p_exceed``, ``p_flooded``); otherwise they are shares of members.
    """

    name: str
    members: tuple[Member, ...]
    thresholds: tuple[float, ...]
    sweep_keys: tuple[str, ...] = ()
    source: str = "ensemble"
    weighted: bool = False

    @classmethod
    def from_toml(cls, path: str | os.PathLike, *, allowed_paths: Sequence[str | os.PathLike] = ()) -> Ensemble:
        """Read an ensemble TOML file; ``base = "flood.toml"`` is relative to the file's folder (and must lie
        in it or in one of ``allowed_paths``, like every file a scenario names)."""
        path = Path(path)
        data = read_toml(path, "Ensemble")
        data.setdefault("name", path.stem)
        return cls.from_dict(data, source=str(path), base_dir=path.parent, allowed_paths=allowed_paths)

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        source: str = "ensemble",
        base_dir: str | os.PathLike | None = None,
        allowed_paths: Sequence[str | os.PathLike] = (),
    ) -> Ensemble:
        """Validate a dict of the TOML's shape; a ``base`` path resolves inside ``base_dir`` (default: the
        current folder) or one of ``allowed_paths``, and so do the files the members name."""
        try:
            spec = _Spec.model_validate(data)
        except ValidationError as exc:
            text = explain_errors(exc, source).replace("is not a valid scenario:", "is not a valid ensemble:", 1)
            text = text.replace("twin schema KIND", "twin schema ensemble")
            raise ScenarioError(text) from None
        base_dir = Path(base_dir or ".").resolve()
        if isinstance(spec.base, str):
            try:
                base_path = scenario_path(spec.base, {"base_dir": base_dir, "allowed": allowed_paths}, "base")
            except ValueError as exc:
                raise ScenarioError(f"{source}: {exc}") from None
            if not base_path.is_file():
                raise ScenarioError(
                    f"{source}: base scenario {base_path} does not exist; give base = a scenario "
                    "file's path relative to the ensemble file, or an inline [base] table."
                )
            base, scenario_dir = read_toml(base_path), base_path.parent
        else:
            base, scenario_dir = spec.base, base_dir
        rows = [dict(m) for m in spec.member] or [{}]
        labels = [_member_labels(row, i, source) for i, row in enumerate(rows)]  # pops weight, return_period
        keys = tuple(spec.sweep)
        combos = list(itertools.product(*spec.sweep.values()))
        weights = _weights(spec.weights, [w for w, _ in labels], len(combos), source)
        total = float(sum(weights))
        members = []
        for k, (row, combo) in enumerate(itertools.product(rows, combos)):
            params = {**row, **dict(zip(keys, combo))}
            name = f"{spec.name}-{k:03d}"
            where = f"{source} member {k} ({json.dumps(params, default=str)})"
            merged = copy.deepcopy(base)
            for key, value in params.items():
                _apply(merged, key, value, where)
            if spec.building_depth is not None:
                _apply(merged, "output.building_depth", spec.building_depth, where)
            merged["name"] = name
            scenario = Scenario.from_dict(merged, source=where, base_dir=scenario_dir, allowed_paths=allowed_paths)
            period = _return_period(labels[k // len(combos)][1], scenario, where)
            members.append(Member(k, name, params, weights[k] / total, scenario, period))
        weighted = spec.weights is not None or labels[0][0] is not None
        return cls(spec.name, tuple(members), tuple(spec.thresholds), keys, source, weighted)

    def to_dict(self) -> dict[str, Any]:
        """What the ensemble is, as JSON-ready data (recorded in ``ensemble.json``)."""
        return {
            "name": self.name,
            "thresholds": list(self.thresholds),
            "sweep_keys": list(self.sweep_keys),
            "weighted": self.weighted,
            "members": [
                {
                    "index": m.index,
                    "name": m.name,
                    "parameters": m.parameters,
                    "weight": m.weight,
                    "return_period": m.return_period,
                    "scenario_hash": m.scenario.hash,
                }
                for m in self.members
            ],
        }


def _check_weight(w: Any, key: str) -> float:
    """A weight is a probability: a finite number >= 0 (TOML has nan and inf)."""
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
        raise ValueError(f"{key} = {w!r} is not a probability; give a finite number >= 0")
    return float(w)


def _member_labels(row: dict[str, Any], i: int, source: str) -> tuple[float | None, float | None]:
    """Take a ``[[member]]``'s ``weight`` and ``return_period`` out of its overrides, validated."""
    where = f"{source}: [[member]] {i}"
    weight = period = None
    try:
        if "weight" in row:
            weight = _check_weight(row.pop("weight"), "weight")
        if "return_period" in row:
            period = row.pop("return_period")
            if (
                isinstance(period, bool)
                or not isinstance(period, (int, float))
                or not math.isfinite(period)
                or period <= 0
            ):
                raise ValueError(f"return_period = {period!r} is not a return period; give years > 0")
            period = float(period)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}.") from None
    return weight, period


def _weights(listed: list[float] | None, per_row: list[float | None], n_combos: int, source: str) -> list[float]:
    """One weight per member: ``weights = [...]``, or each ``[[member]]``'s ``weight`` for all its
    sweep combinations (so normalising splits a row's weight equally among them), or equal."""
    n = len(per_row) * n_combos
    given = [w is not None for w in per_row]
    if listed is not None:
        if any(given):
            raise ScenarioError(
                f"{source}: weights are given twice (weights = [...] and weight in [[member]]); give one of them."
            )
        if len(listed) != n:
            raise ScenarioError(
                f"{source}: weights has {len(listed)} values for {n} members ({len(per_row)} "
                f"[[member]] x {n_combos} sweep combinations); give one weight per member."
            )
        return [float(w) for w in listed]
    if any(given) and not all(given):
        missing = [i for i, g in enumerate(given) if not g]
        raise ScenarioError(
            f"{source}: [[member]] {missing} have no weight while others do; give weight in "
            "every [[member]] or in none."
        )
    if all(given):
        if sum(per_row) <= 0:
            raise ScenarioError(f"{source}: every [[member]] weight is 0; weights are probabilities, not all 0.")
        return [w for w in per_row for _ in range(n_combos)]
    return [1.0] * n


def _return_period(label: float | None, scenario: Scenario, where: str) -> float | None:
    """The member's return period: its ``return_period`` key or its design storm's, which must agree."""
    design = scenario.rain.design if scenario.rain is not None else None
    storm = float(design.return_period) if design is not None else None
    if label is not None and storm is not None and not math.isclose(label, storm):
        raise ScenarioError(
            f"{where}: return_period = {label:g} but its design storm has return_period = "
            f"{storm:g}; leave return_period out of the [[member]] (the storm's is used)."
        )
    return label if label is not None else storm


def _apply(target: dict[str, Any], key: str, value: Any, where: str, prefix: tuple[str, ...] = ()) -> None:
    """Set a dotted ``key`` (``"rain.hyetograph"``, ``"inflow.0.at"``) in ``target``; tables merge."""
    parts = key.split(".")
    node: Any = target
    for i, part in enumerate(parts):
        here = ".".join((*prefix, *parts[: i + 1]))
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"{where}: {here}: that list has {len(node)} entries; index it 0..{len(node) - 1}.")
            if i == len(parts) - 1:
                node[int(part)] = copy.deepcopy(value)
                return
            node = node[int(part)]
        elif not isinstance(node, dict):
            raise ScenarioError(
                f"{where}: {here}: {here.rsplit('.', 1)[0]} is a value, not a table; override it as a whole."
            )
        elif i < len(parts) - 1:
            node = node.setdefault(part, {})
    path = (*prefix, *parts)
    if isinstance(value, dict):  # a table merges key by key into what the base has there
        sub = node.get(parts[-1])
        if not isinstance(sub, dict):
            sub = node[parts[-1]] = {}
        for k, v in value.items():
            _apply(sub, k, v, where, path)
        return
    exclusive = _ONE_OF.get(path[:-1], ())
    if path[-1] in exclusive:
        for other in exclusive:
            node.pop(other, None)
    node[parts[-1]] = copy.deepcopy(value)
