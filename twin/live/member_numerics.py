"""The numerics the forecast members run: the base scenario's ``[numerics]``, with the forecast file's
own ``[numerics]`` over them.

The hot start keeps the base's numerics (its state is the twin's, carried from cycle to cycle); the
members only forecast from it, and most of a cycle's time is theirs. On a city with a river or a lake
the global step is held at the deep water's (0.41 s on the sample city's 4 m grid) for every cell;
``time_stepping = "local"`` in the forecast's ``[numerics]`` lets the shallow streets step up to
``2^max_levels`` times longer. Its depths and first-flooded times are now close to the global step's, but
under the sample city's heavy rain it does 0.3-0.5 of the global step's cell updates at 2-2.5 times the
cost each, no faster per member (benchmarks/RESULTS.md, "Live twin: one forecast cycle"), so it is asked
for, not the default.
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
_PARAM_KEYS = (
    "alpha",
    "theta",
    "h_dry",
    "dt_max",
    "fixed_dt",
    "time_stepping",
    "max_levels",
    "losses_every",
    "speed_every",
)


def member_numerics(base: Scenario, override: dict[str, Any]) -> Numerics:
    """The members' numerics: ``base``'s, with ``override`` (the forecast file's ``[numerics]``) over them.

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
    d = base.to_dict()
    # over the base's record, not its model: a key the base left at its default (losses_every: 4 under the
    # inertial scheme on the CPU, 1 under the full solver or the GPU) takes the default of the members' own numerics
    d["numerics"] = {**d.get("numerics", {}), **override}
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
