"""One entry point for every scenario kind: the TOML's ``kind`` picks the scenario model and its run.

The kinds are those of the registry :mod:`twin.sims.kinds` (built in: flood, river, water, terrain);
:func:`load_result` reads any kind's result folder back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twin._io import check_out
from twin.errors import InputDataError
from twin.sims.kinds import get_kind, kinds
from twin.sims.scenario_base import read_toml

__all__ = ["load_result", "load_scenario", "run"]


def load_scenario(source: Any, *, allowed_paths: Sequence[str | os.PathLike] = ()) -> Any:
    """A validated scenario of the kind its ``kind`` key names (``"flood"`` when absent).

    Parameters
    ----------
    source : path of a TOML file, dict of the TOML's shape, or an already validated scenario
    allowed_paths : folders
        Where the files the scenario names may lie besides its own folder (the current folder for
        a dict); see :func:`twin.sims.flood.scenario.scenario_path`.

    Raises
    ------
    ScenarioError
        Unknown kind, unreadable file, or a key that does not validate (the message names it).
    """
    if isinstance(source, dict):
        kind = get_kind(source.get("kind", "flood"), "scenario")
        return kind.scenario_class.from_dict(source, allowed_paths=allowed_paths)
    if isinstance(source, (str, os.PathLike)):
        kind = get_kind(read_toml(source).get("kind", "flood"), str(source))
        return kind.scenario_class.from_toml(source, allowed_paths=allowed_paths)
    return source


def run(
    twin: Any,
    scenario: Any,
    *,
    out: str | os.PathLike | None = None,
    allowed_paths: Sequence[str | os.PathLike] = (),
    **options: Any,
) -> Any:
    """Run a scenario of any kind on a twin; ``options`` go to that kind's ``run``.

    Parameters
    ----------
    twin : Twin
        The city model (a water scenario also runs without one: pass ``None``).
    scenario : path, dict or scenario object
        See :func:`load_scenario`.
    out : path, optional
        Result folder, written atomically. Checked before any work: it must be new, empty or a
        folder cimtwin wrote, and neither the twin's folder nor the scenario file (see
        :func:`twin._io.check_out`).
    allowed_paths : folders
        See :func:`load_scenario`.
    **options
        E.g. ``progress=False``; every kind takes ``overwrite=True`` (``out`` may replace a cimtwin
        folder of another kind); a flood run also takes ``resume``, ``stop_at`` and ``scene``.

    Returns
    -------
    The kind's result (FloodResult, RiverResult, WaterResult, TerrainResult, ...; ``None`` for a
    flood run stopped with ``stop_at``)
    """
    source = scenario if isinstance(scenario, (str, os.PathLike)) else None
    scenario = load_scenario(scenario, allowed_paths=allowed_paths)
    if out is not None:
        check_out(
            out, scenario.kind, inputs=[source, getattr(twin, "path", None)], overwrite=options.get("overwrite", False)
        )
    return get_kind(scenario.kind).run_function(twin, scenario, out=out, **options)


def load_result(path: str | os.PathLike, twin: Any = None) -> Any:
    """Read a result folder of any kind (the kind its ``cimtwin.json`` or ``summary.json`` names).

    Parameters
    ----------
    path : folder written by :func:`run` (or ``twin run``)
    twin : Twin, optional
        Attached to results that use it (a flood result's scene, a water result's network).

    Raises
    ------
    InputDataError
        The folder is not a result folder, or a file in it was altered since it was written.
    """
    from twin import _io

    path = Path(path)
    _io.recover_dir(path)
    name = _io.folder_kind(path)
    if name is None and (path / "summary.json").is_file():
        try:
            name = json.loads((path / "summary.json").read_text()).get("kind")
        except (OSError, ValueError):
            name = None
    known = kinds()
    if name not in known:
        what = _io.KINDS.get(name, "no result") if name else "no result folder cimtwin wrote"
        raise InputDataError(
            f"{path} holds {what}; give a folder that `twin run` or twin.run(..., out=...) "
            f"wrote (kinds: {', '.join(sorted(known))})"
        )
    return known[name].result_class.load(path, twin=twin)
