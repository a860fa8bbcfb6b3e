"""The flood run's two solvers behind one call: the local-inertial kernel or the full shallow-water one.

``[numerics] scheme`` picks it; the grid, forcings, accumulators and volumes are the same for both,
so the run loop, checkpoints, ensembles and comparisons do not care which ran. The full solver's
state carries two more arrays (the cell discharges), which checkpoints keep.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from kernels import flood, swe
from twin.errors import ScenarioError
from twin.sims.flood.scenario import Scenario

__all__ = ["new_state", "stepper", "cell_speed", "courant_factor", "state_arrays", "restore_state_arrays"]

#: The full solver's state arrays beyond the inertial ones (checkpoint keys). ``h_left``: the depths its last
#: interval left, which the next scales the discharges by where a sewer exchange changed them since
_SWE_ARRAYS = ("hu", "hv", "h_left")
#: Keys a checkpoint of an older cimtwin may lack (the state then keeps its own: a run without a sewer network)
_SWE_OPTIONAL = ("h_left",)


def new_state(scenario: Scenario, h0: np.ndarray) -> flood.FloodState:
    """Still water of depth ``h0`` (its dtype) in the state the scenario's scheme advances."""
    cls = swe.SweState if scenario.numerics.scheme == "swe" else flood.FloodState
    return cls.from_depth(h0)


def stepper(
    scenario: Scenario, params: flood.FloodParams, device: str = "cpu"
) -> tuple[Callable[..., flood.IntervalStats], Any]:
    """The scheme's ``advance`` and its parameters, called as ``advance(state, grid, forcing, params, t_end, accum)``.

    ``device`` (``"cpu"`` or ``"gpu"``) is where the local-inertial kernel runs; the full solver runs
    on the CPU only (refused before the run by the flood run's device check).
    """
    n = scenario.numerics
    if n.scheme == "swe":
        return swe.advance, swe.SweParams.from_flood(params, cfl=n.cfl, order=n.order, integrator=n.integrator)
    return functools.partial(flood.advance, device=device), params


def cell_speed(state: flood.FloodState, grid: flood.FloodGrid, params: Any) -> np.ndarray:
    """The state's cell speed [m/s] (float32), as the scheme's running maximum speed takes it; ``params``
    as :func:`stepper` returns them."""
    if isinstance(state, swe.SweState):
        return swe.cell_speed(state, grid, params)
    return flood.cell_speed(state, grid, params)


def courant_factor(scenario: Scenario) -> tuple[float, str]:
    """The Courant factor of the scheme's adaptive step and its scenario key (for messages).

    The full solver's step is ``cfl x dx / (|u| + sqrt(g h))``: shorter than ``cfl x dx / sqrt(g h)``
    where water moves.
    """
    n = scenario.numerics
    return (n.cfl, "cfl") if n.scheme == "swe" else (n.alpha, "alpha")


def state_arrays(state: flood.FloodState) -> dict[str, np.ndarray]:
    """The arrays a checkpoint must keep beyond the inertial ones (none for the inertial state)."""
    return {k: getattr(state, k) for k in _SWE_ARRAYS if isinstance(state, swe.SweState)}


def restore_state_arrays(state: flood.FloodState, ck: dict[str, np.ndarray], path: Any) -> None:
    """Copy those arrays back from checkpoint ``ck`` (written at ``path``)."""
    for k in state_arrays(state):
        if k not in ck and k in _SWE_OPTIONAL:
            continue
        if k not in ck:
            raise ScenarioError(
                f"Checkpoint {path} was written by the inertial scheme and cannot resume the full one "
                "(numerics.scheme = 'swe'); delete it and run from the start."
            )
        getattr(state, k)[...] = ck[k]
