"""The live twin's state between cycles, on disk: the flood state at the last cycle's ``now``.

It is the flood checkpoint's content (depth, face discharges, infiltration so far, float32's remainder,
the full solver's cell discharges, time, steps, the fingerprint of the scenario and of each part of the
twin; with a sewer network SWMM's hot start file and the coupling's books) plus what a live twin must remember:
the clock (``origin``, ``now``), the radar frames already used, and the cycle count. It is written
atomically (one rename) after a cycle's folder is published, so a cycle cut short at any point
leaves the previous state, and running again redoes that cycle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kernels.flood import FloodState
from twin import _io
from twin._fingerprint import changed_parts
from twin.errors import InputDataError, ScenarioError
from twin.sims.flood.scenario import Scenario
from twin.sims.flood.schemes import new_state, restore_state_arrays, state_arrays

__all__ = ["LiveState", "load_state", "save_state"]


@dataclass
class LiveState:
    """The flood state at ``now`` and the bookkeeping of the cycles so far.

    Attributes
    ----------
    flood : FloodState
        Its ``t`` is seconds since ``origin``; a :class:`~kernels.swe.SweState` (with its cell discharges)
        when the forecast's base scenario runs the full solver.
    origin, now : float
        UTC seconds of model time 0 and of the last cycle.
    cycles : int
        Cycles run so far.
    seen : dict
        Radar frames used so far, ``stamp -> digest`` (a frame arriving for a time already passed is late).
    sewer : dict
        SWMM's state at ``now`` as arrays (:meth:`twin.live.sewer.SewerStart.to_arrays`; empty without a
        sewer network or before the first hot start).
    """

    flood: FloodState
    origin: float
    now: float
    cycles: int = 0
    seen: dict[str, str] = field(default_factory=dict)
    sewer: dict[str, np.ndarray] = field(default_factory=dict)


def save_state(path: Path, state: LiveState, parts: dict[str, str]) -> None:
    """Write ``state`` atomically (``.npz``) with the fingerprint ``parts`` it must be resumed with."""
    f = state.flood
    arrays: dict[str, Any] = {
        "h": f.h,
        "qx": f.qx,
        "qy": f.qy,
        "infil_cum": f.infil_cum,
        "h_lo": f.h_lo,
        **state_arrays(f),
        **state.sewer,
        "t": np.float64(f.t),
        "steps": np.int64(f.steps),
        "origin": np.float64(state.origin),
        "now": np.float64(state.now),
        "cycles": np.int64(state.cycles),
        "seen": np.array(json.dumps(state.seen, sort_keys=True)),
        "fingerprint": np.array(json.dumps(parts, sort_keys=True)),
    }
    with _io.atomic_file(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_state(path: Path, parts: dict[str, str], scenario: Scenario | None = None) -> LiveState | None:
    """The state at ``path`` (``None`` when there is none yet), its flood state of ``scenario``'s scheme
    and dtype (default: the local-inertial one, in the dtype written).

    Raises
    ------
    InputDataError
        The file cannot be read.
    ScenarioError
        It was written for another twin or forecast scenario (the message names the parts that changed).
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            ck = {k: data[k] for k in data.files}
        written = json.loads(str(ck["fingerprint"]))
    except Exception as exc:  # noqa: BLE001 -- any damage to the file means the same to the user
        raise InputDataError(
            f"The live state {path} cannot be read ({type(exc).__name__}: {exc}); delete it to start the "
            "forecasts afresh from the base scenario's initial state."
        ) from None
    changed = changed_parts(written, parts)
    if changed:
        what = ", ".join("the forecast scenario" if k == "scenario" else f"the twin's {k}" for k in changed)
        raise ScenarioError(
            f"The live state {path} was written for another twin or forecast ({what} changed since); "
            "hot-starting from it would mix two models. Delete it to start afresh, or use the twin and "
            "forecast file that wrote it."
        )
    if scenario is None:
        flood = FloodState(ck["h"], ck["qx"], ck["qy"], ck["infil_cum"], h_lo=ck.get("h_lo"))
    else:
        dtype = np.dtype(scenario.numerics.dtype)
        flood = new_state(scenario, ck["h"].astype(dtype))
        flood.qx, flood.qy = ck["qx"].astype(dtype), ck["qy"].astype(dtype)
        flood.infil_cum = ck["infil_cum"]
        if "h_lo" in ck and ck["h_lo"].dtype == dtype:  # a state written in another dtype starts without one
            flood.h_lo = ck["h_lo"]
        restore_state_arrays(flood, ck, path)
    flood.t, flood.steps = float(ck["t"]), int(ck["steps"])
    sewer = {k: v for k, v in ck.items() if k.startswith("sewer_")}
    return LiveState(
        flood, float(ck["origin"]), float(ck["now"]), int(ck["cycles"]), json.loads(str(ck["seen"])), sewer
    )
