"""CPU time per step of the full shallow-water solver against the inertial kernel, one thread, one process.

The reference problem of ``bench_flood.py`` (plane sloping 0.1 % east, Manning 0.03, 100 mm/h rain,
closed walls) at n x n cells of 2 m. Each solver first runs its own state to ``--wet`` seconds of
the storm (compilation included there, not timed); then, round by round, each solver advances a copy
of its wet state by ``--span`` seconds, timed by the main thread's CPU clock (``time.thread_time``:
what the load of other processes does not add), and keeps its best round. Solvers alternate within a
round, so a change of load weighs on all alike.

``--old DIR`` adds the full solver of another copy of the ``kernels`` package (a folder holding it
renamed ``kernels_old``, e.g. from ``git archive``), for before/after figures from one run.

Usage: ``NUMBA_NUM_THREADS=1 python benchmarks/bench_swe_cpu.py --n 1000 --dtype float32``
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

import numba
import numpy as np
from bench_flood import DT_MAX, reference_problem  # this folder's, as the script runs from it

from kernels import flood, swe


def _solvers(dtype, old: str | None) -> dict:
    """name -> (module, params factory, state factory)."""
    out = {"inertial": (flood, lambda: flood.FloodParams(dt_max=DT_MAX), flood.FloodState.zeros)}
    mods = [("", swe)]
    if old:
        sys.path.insert(0, old)
        mods.insert(0, ("old ", importlib.import_module("kernels_old.swe")))
    for order, integrator in ((2, "hancock"), (2, "rk2"), (1, "")):
        for tag, mod in mods:
            # another copy's solver may predate the integrator key: its own default there
            extra = {"integrator": integrator} if integrator and "integrator" in mod.SweParams._fields else {}
            if tag and integrator == "hancock" and not extra:
                continue
            out[f"{tag}swe order {order} {integrator}".rstrip()] = (
                mod,
                lambda mod=mod, order=order, extra=extra: mod.SweParams(order=order, dt_max=DT_MAX, **extra),
                mod.SweState.zeros,
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--wet", type=float, default=120.0)
    ap.add_argument("--span", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--old", default=None)
    ap.add_argument("--only", default=None, help="only the full solvers whose name holds this (e.g. hancock)")
    args = ap.parse_args(argv)
    numba.set_num_threads(1)
    dtype = np.dtype(args.dtype)
    grid, forcing = reference_problem(args.n, 2.0, dtype)
    solvers = _solvers(dtype, args.old)
    if args.only:
        solvers = {k: v for k, v in solvers.items() if k == "inertial" or args.only in k}
    wet = {}
    for name, (mod, params, zeros) in solvers.items():
        state = zeros((args.n, args.n), dtype)
        mod.advance(state, grid, forcing, params(), args.wet)
        wet[name] = state
    best: dict[str, float] = {}
    steps: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, (mod, params, _zeros) in solvers.items():
            state = wet[name].copy()
            p = params()
            mod.advance(state, grid, forcing, p, state.t)  # the checks and working arrays, not timed
            c0 = time.thread_time()
            st = mod.advance(state, grid, forcing, p, args.wet + args.span)
            cpu = time.thread_time() - c0
            per = cpu / st.steps
            best[name] = min(best.get(name, np.inf), per)
            steps[name] = st.steps
    base = best["inertial"]
    print(f"n={args.n} dtype={args.dtype} one thread, best of {args.rounds}, CPU ms per step (ratio to inertial)")
    for name, per in best.items():
        print(f"  {name:26s} {steps[name]:5d} steps  {per * 1e3:8.2f} ms  {base / per:6.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
