"""The numerics the forecast members run: the base scenario's ``[numerics]``, the forecast file's own
``[numerics]`` over them, and local time stepping by default where the base's scheme allows it.

The hot start keeps the base's numerics (its state is the twin's, carried from cycle to cycle); the
members only forecast from it, and most of a cycle's time is theirs. On a city with a river or a lake
the global step is held at the deep water's (0.41 s on the sample city's 4 m grid) for every cell;
local time stepping lets the shallow streets step up to ``2^max_levels`` times longer, for the same
largest depths and first-flooded times to a few millimetres and seconds (benchmarks/RESULTS.md, "Live
twin: one forecast cycle"). A base that names ``time_stepping`` keeps it; a base whose scheme cannot
step locally (the full solver, a fixed step, the GPU) keeps the global step.
"""

from __future__ import annotations

from typing import Any

from kernels.flood import FloodParams
from twin.errors import ScenarioError
from twin.sims.flood.scenario import Numerics, Scenario

__all__ = ["FIXED_BY_STATE", "member_numerics", "member_params", "member_scenario"]

#: ``[numerics]`` keys the forecast file cannot change for the members: they go on from the hot start's
#: state, which is of the base's scheme and precision.
FIXED_BY_STATE = ("scheme", "dtype")

#: The numerics keys the kernel's parameters take (as :func:`twin.sims.flood.forcing.setup` sets them).
_PARAM_KEYS = ("alpha", "theta", "h_dry", "dt_max", "fixed_dt", "time_stepping", "max_levels")


def member_numerics(base: Scenario, override: dict[str, Any]) -> Numerics:
    """The members' numerics: ``base``'s, ``override`` (the forecast file's ``[numerics]``) over them,
    and ``time_stepping = "local"`` when neither names it and the base's scheme can step locally.

    Raises
    ------
    ScenarioError
        If ``override`` changes a key the hot start's state fixes, or the result is not a valid
        ``[numerics]`` table (the message names the key).
    """
    fixed = [k for k in FIXED_BY_STATE if k in override and override[k] != getattr(base.numerics, k)]
    if fixed:
        raise ScenarioError(
            f"The forecast's [numerics] sets {', '.join(fixed)}, but the members go on from the hot start's "
            f"state, which has the base scenario's; set {', '.join(fixed)} in the base scenario's [numerics] instead."
        )
    values = {**base.numerics.model_dump(), **override}
    named = "time_stepping" in override or "time_stepping" in base.numerics.model_fields_set
    n = base.numerics
    if not named and n.scheme == "inertial" and values["fixed_dt"] == 0 and values["device"] == "cpu":
        values["time_stepping"] = "local"
    d = base.to_dict()
    d["numerics"] = values
    return Scenario.from_record(d, source="the forecast's [numerics] over its base scenario's").numerics


def member_scenario(scenario: Scenario, numerics: Numerics) -> Scenario:
    """``scenario`` (a cycle's flood scenario) with the members' ``numerics``."""
    if scenario.numerics == numerics:
        return scenario
    d = scenario.to_dict()
    d["numerics"] = numerics.model_dump()
    return Scenario.from_record(d, source="the forecast's members")


def member_params(params: FloodParams, numerics: Numerics) -> FloodParams:
    """The kernel's ``params`` of a cycle with the members' ``numerics``."""
    return params._replace(**{k: getattr(numerics, k) for k in _PARAM_KEYS})
