"""SWMM's current node values for many nodes at once: SWMM's own ``swmm_getValue`` looped in Numba.

SWMM 5.2 has no call for all nodes at once, and swmm-toolkit's Python wrapper of its per-node call
costs 1-2 us a node (its error checks in Python); a coupled run reads every manhole's head and volume
each coupling step and the overflow of every node each SWMM step. The same C function of the same
loaded library (``libswmm5``, the one pyswmm's simulation runs in), called from a compiled loop, costs
about 30 ns a node. The same for swmm-toolkit's own ``swmm_getNodeResult`` (the surface outfalls' inflow
and outflow, read each SWMM step). Where that library cannot be found, or its values do not match the
wrapper's on the running simulation, the wrapper is used instead (same values, slower).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import numba
import numpy as np

__all__ = ["NodeValues", "NODE_HEAD", "NODE_VOLUME", "NODE_OVERFLOW"]

#: swmm5.h's ``swmm_NodeProperty`` codes (SWMM 5.2): head [m], stored volume [m3], overflow (flow units)
NODE_HEAD, NODE_VOLUME, NODE_OVERFLOW = 304, 305, 308
#: a node's external inflow set through the API (flow units); the same inflow as swmm-toolkit's
#: ``node_set_total_inflow`` (tests/sims/flood/test_drainage.py compares the two runs)
_NODE_LATFLOW = 306


@numba.njit(cache=True)
def _get_many(get, prop, index, out):
    for k in range(index.shape[0]):
        out[k] = get(prop, index[k])


@numba.njit(cache=True)
def _set_many(put, prop, index, values):
    for k in range(index.shape[0]):
        put(prop, index[k], values[k])


@numba.njit(cache=True)
def _results_many(get, code, index, out):
    bad = 0
    for k in range(index.shape[0]):
        bad += get(index[k], code, out[k:].ctypes) != 0
    return bad


@numba.njit(cache=True)
def _after_step(get, result, prop, index, flags, code_in, code_out, out_index, q_in, q_out):
    for k in range(index.shape[0]):
        if get(prop, index[k]) > 0.0:
            flags[k] = True
    bad = 0
    for k in range(out_index.shape[0]):
        bad += result(out_index[k], code_in, q_in[k:].ctypes) != 0
        bad += result(out_index[k], code_out, q_out[k:].ctypes) != 0
    return bad


@numba.njit(cache=True)
def _stages_many(put, index, values):
    bad = 0
    for k in range(index.shape[0]):
        bad += put(index[k], values[k]) != 0
    return bad


def _stage_function():
    """swmm-toolkit's ``swmm_setOutfallStage`` (the call behind its ``outfall_set_stage``) from its library, or None."""
    lib = _library()
    try:
        put = lib.swmm_setOutfallStage
    except AttributeError:  # no library (None), or one without this call
        return None
    put.restype, put.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_double]
    return put


def _result_function():
    """swmm-toolkit's ``swmm_getNodeResult`` (the call behind its ``node_get_result``) from its library, or None."""
    lib = _library()
    if lib is None:
        return None
    try:
        get = lib.swmm_getNodeResult
    except AttributeError:
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_double)]
    return get


def _library():
    """swmm-toolkit's ``libswmm5`` (the library pyswmm's simulation runs in), or None."""
    from swmm import toolkit

    folder = Path(toolkit.__file__).parent
    for name in ("libswmm5.so", "libswmm5.dylib", "swmm5.dll"):
        if (folder / name).is_file():
            try:
                return ctypes.CDLL(str(folder / name))
            except OSError:
                return None
    return None


def _c_functions():
    """SWMM's ``swmm_getValue`` and ``swmm_setValue`` from swmm-toolkit's library, or (None, None)."""
    lib = _library()
    try:
        get, put = lib.swmm_getValue, lib.swmm_setValue
    except AttributeError:  # no library (None), or one without these calls
        return None, None
    get.restype, get.argtypes = ctypes.c_double, [ctypes.c_int, ctypes.c_int]
    put.restype, put.argtypes = None, [ctypes.c_int, ctypes.c_int, ctypes.c_double]
    return get, put


class NodeValues:
    """Read SWMM node values (``NODE_HEAD``, ...) and set inflows for arrays of node indices of a started
    simulation; ``compiled=False`` uses swmm-toolkit's per-node calls throughout."""

    def __init__(self, probe: np.ndarray, compiled: bool = True) -> None:
        from pyswmm.toolkitapi import NodeResults
        from swmm.toolkit import solver

        self._wrapped = {
            NODE_HEAD: NodeResults.newHead.value,
            NODE_VOLUME: NodeResults.newVolume.value,
            NODE_OVERFLOW: NodeResults.overflow.value,
        }
        self._solver = solver
        self._c, self._c_set = _c_functions() if compiled else (None, None)
        self._entries: dict[Any, Any] = {}
        self._c_result = _result_function() if compiled else None
        self._c_stage = _stage_function() if compiled else None
        probe = np.asarray(probe, dtype=np.int32)[:8]
        if self._c is not None and len(probe):
            # the library loaded here must be the one the simulation runs in: check against the wrapper
            for prop in (NODE_HEAD, NODE_VOLUME):
                if not np.array_equal(self.get(prop, probe), self._get_wrapped(prop, probe)):
                    self._c = self._c_result = self._c_stage = None
                    break

    @property
    def compiled(self) -> bool:
        """Whether the values come through the compiled loop (else the per-node wrapper)."""
        return self._c is not None

    def get(self, prop: int, index: np.ndarray) -> np.ndarray:
        """Current value of ``prop`` at the nodes ``index`` (int32 SWMM indices)."""
        if self._c is None:
            return self._get_wrapped(prop, index)
        index = np.ascontiguousarray(index, dtype=np.int32)
        out = np.empty(len(index))
        self._call(_get_many, self._c, int(prop), index, out)
        return out

    def results(self, code: int, index: np.ndarray) -> np.ndarray:
        """swmm-toolkit's ``node_get_result(i, code)`` (a ``NodeResults`` code) at the nodes ``index``: its
        C call looped in Numba (about 30 ns a node against 1-2 us), or the wrapper where that fails."""
        index = np.ascontiguousarray(index, dtype=np.int32)
        if self._c_result is not None:
            out = np.empty(len(index))
            if not self._call(_results_many, self._c_result, int(code), index, out):
                return out
        get = self._solver.node_get_result
        return np.array([get(int(i), int(code)) for i in index], dtype=float)

    def set_inflows(self, index: np.ndarray, values: np.ndarray) -> None:
        """Set the API inflow (SWMM's flow units) of the nodes ``index``; SWMM keeps it until set again."""
        if self._c is None:
            put = self._solver.node_set_total_inflow
            for i, v in zip(index, values):
                put(int(i), float(v))
            return
        index = np.ascontiguousarray(index, dtype=np.int32)
        self._call(_set_many, self._c_set, _NODE_LATFLOW, index, np.ascontiguousarray(values, dtype=np.float64))

    def set_stages(self, index: np.ndarray, values: np.ndarray) -> None:
        """Set the stage [m] of the outfalls ``index`` (swmm-toolkit's ``outfall_set_stage``: its C call looped
        in Numba, or the wrapper where that fails, which then raises SWMM's error)."""
        index = np.ascontiguousarray(index, dtype=np.int32)
        values = np.ascontiguousarray(values, dtype=np.float64)
        if self._c_stage is not None and not self._call(_stages_many, self._c_stage, index, values):
            return
        put = self._solver.outfall_set_stage
        for i, v in zip(index.tolist(), values.tolist()):
            put(i, v)

    def after_step(
        self, index: np.ndarray, flags: np.ndarray, codes: tuple[int, int], out_index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """What a coupling reads after each SWMM step, in one call: ``flags[k]`` set where node ``index[k]``
        overflows (``NODE_OVERFLOW > 0``), and the results ``codes`` (two ``NodeResults`` codes) of the nodes
        ``out_index``."""
        q_in, q_out = np.empty(len(out_index)), np.empty(len(out_index))
        if self._c is not None and self._c_result is not None:
            args = (self._c, self._c_result, NODE_OVERFLOW, index, flags, codes[0], codes[1], out_index, q_in, q_out)
            if not self._call(_after_step, *args):
                return q_in, q_out
        flags |= self.get(NODE_OVERFLOW, index) > 0.0
        return self.results(codes[0], out_index), self.results(codes[1], out_index)

    def _call(self, loop: Any, *args: Any) -> Any:
        """Call the compiled ``loop`` through its machine code's entry point once it exists.

        Numba's dispatcher does not match a ctypes function's type in its fast path, so each call
        through it looked the overload up again (0.1-1 ms; a coupled run sets inflows each coupling
        step, and reads overflows each SWMM step); the arguments' types never change here.
        """
        entry = self._entries.get(loop)
        if entry is None:
            out = loop(*args)  # compiles it, or loads it from the cache, for these types
            self._entries[loop] = loop.overloads[tuple(loop.typeof_pyval(a) for a in args)].entry_point
            return out
        return entry(*args)

    def _get_wrapped(self, prop: int, index: np.ndarray) -> np.ndarray:
        get, code = self._solver.node_get_result, self._wrapped[prop]
        return np.array([get(int(i), code) for i in index], dtype=float)
