"""Ensemble files: a base scenario, members and sweeps, each member validated into a Scenario up front."""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator

from twin.errors import ScenarioError
from twin.scenario import Scenario, _Checked, _explain, read_toml, scenario_path

__all__ = ["Ensemble", "Member"]

# Keys of which a table holds exactly one: setting one in a member drops the base's other ones, so a
# member can swap a constant rain for a hyetograph without un-setting anything (TOML has no null).
_ONE_OF = {("rain",): ("constant", "hyetograph", "frames")}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Spec(_Checked):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = "ensemble"
    base: str | dict[str, Any]
    member: list[dict[str, Any]] = []
    sweep: dict[str, list[Any]] = {}
    weights: list[float] | None = None
    thresholds: list[float] = [0.1, 0.3, 0.5, 1.0]
    building_depth: float | None = Field(None, ge=0, description="m; sets output.building_depth of every member")

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

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (any(w < 0 for w in v) or sum(v) <= 0):
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
    """One ensemble member: its overrides of the base, its weight and its validated scenario."""
    index: int
    name: str
    parameters: dict[str, Any]
    weight: float
    scenario: Scenario

    @property
    def folder(self) -> str:
        """The member's result folder name under ``<out>/members``."""
        return f"{self.index:03d}"


@dataclass(frozen=True)
class Ensemble:
    """Many flood scenarios from one base: a list of members and/or a cartesian sweep.

    Build one with :meth:`from_toml` or :meth:`from_dict`. Every member is validated into a
    :class:`~twin.scenario.Scenario` right away, so a bad member is reported (by number, overrides
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
    """
    name: str
    members: tuple[Member, ...]
    thresholds: tuple[float, ...]
    sweep_keys: tuple[str, ...] = ()
    source: str = "ensemble"

    @classmethod
    def from_toml(cls, path: str | os.PathLike, *, allowed_paths: Sequence[str | os.PathLike] = ()) -> Ensemble:
        """Read an ensemble TOML file; ``base = "flood.toml"`` is relative to the file's folder (and must lie
        in it or in one of ``allowed_paths``, like every file a scenario names)."""
        path = Path(path)
        data = read_toml(path, "Ensemble")
        data.setdefault("name", path.stem)
        return cls.from_dict(data, source=str(path), base_dir=path.parent, allowed_paths=allowed_paths)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "ensemble", base_dir: str | os.PathLike | None = None,
                  allowed_paths: Sequence[str | os.PathLike] = ()) -> Ensemble:
        """Validate a dict of the TOML's shape; a ``base`` path resolves inside ``base_dir`` (default: the
        current folder) or one of ``allowed_paths``, and so do the files the members name."""
        try:
            spec = _Spec.model_validate(data)
        except ValidationError as exc:
            text = _explain(exc, source).replace("is not a valid scenario:", "is not a valid ensemble:", 1)
            text = text.replace("the README's scenario reference", "the README's ensemble section")
            raise ScenarioError(text) from None
        base_dir = Path(base_dir or ".").resolve()
        if isinstance(spec.base, str):
            try:
                base_path = scenario_path(spec.base, {"base_dir": base_dir, "allowed": allowed_paths}, "base")
            except ValueError as exc:
                raise ScenarioError(f"{source}: {exc}") from None
            if not base_path.is_file():
                raise ScenarioError(f"{source}: base scenario {base_path} does not exist; give base = a scenario "
                                    "file's path relative to the ensemble file, or an inline [base] table.")
            base, scenario_dir = read_toml(base_path), base_path.parent
        else:
            base, scenario_dir = spec.base, base_dir
        rows = [dict(m) for m in spec.member] or [{}]
        keys = tuple(spec.sweep)
        combos = list(itertools.product(*spec.sweep.values()))
        n = len(rows) * len(combos)
        if spec.weights is not None and len(spec.weights) != n:
            raise ScenarioError(f"{source}: weights has {len(spec.weights)} values for {n} members "
                                f"({len(rows)} [[member]] x {len(combos)} sweep combinations); give one weight per member.")
        weights = spec.weights or [1.0] * n
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
            members.append(Member(k, name, params, weights[k] / total, scenario))
        return cls(spec.name, tuple(members), tuple(spec.thresholds), keys, source)

    def to_dict(self) -> dict[str, Any]:
        """What the ensemble is, as JSON-ready data (recorded in ``ensemble.json``)."""
        return {"name": self.name, "thresholds": list(self.thresholds), "sweep_keys": list(self.sweep_keys),
                "members": [{"index": m.index, "name": m.name, "parameters": m.parameters, "weight": m.weight,
                             "scenario_hash": m.scenario.hash} for m in self.members]}


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
            raise ScenarioError(f"{where}: {here}: {here.rsplit('.', 1)[0]} is a value, not a table; "
                                "override it as a whole.")
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
