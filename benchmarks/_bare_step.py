"""CPU time of one bare flood-kernel step, one thread, on the reference problem of ``bench_flood.py``.

The bare kernel (no losses, no running maxima) on a wet state: 120 s of the reference storm first,
then ``--calls`` calls of ``--seconds`` simulated seconds each, the best call's CPU time per step
kept (the thread's CPU time: on a shared machine the steadier measure). ``--root`` runs another
checkout's kernels (``git archive <commit> kernels twin ingest | tar -x -C DIR``), so that an old and a
new kernel can be timed in alternating processes on the same machine::

    for i in 1 2 3; do for r in /tmp/old .; do
        NUMBA_CACHE_DIR=$r/.numba-cache python benchmarks/_bare_step.py --root $r --n 1000; done; done

``--save`` writes the final state (h, qx, qy, h_lo) to compare the two bit for bit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="checkout whose kernels run")
    ap.add_argument("--n", type=int, default=1000, help="grid side (cells)")
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0, help="simulated seconds per call")
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--save", default=None, help="npz file for the final state")
    args = ap.parse_args(argv)
    sys.path.insert(0, args.root)
    import numba
    import numpy as np

    from kernels.flood import FloodForcing, FloodGrid, FloodParams, FloodState, advance

    numba.set_num_threads(1)
    n = args.n
    dtype = np.float64 if args.float64 else np.float32
    x = np.arange(n) * 2.0
    z = np.broadcast_to(1e-3 * (x.max() - x), (n, n)).astype(dtype)
    grid, forcing = FloodGrid.simple(z, 2.0, 0.03), FloodForcing.uniform_rain((n, n), 0.1 / 3600)
    state, params = FloodState.zeros((n, n), dtype), FloodParams(dt_max=10.0)
    advance(state, grid, forcing, params, 120.0)  # compile (or load), wet the plane
    best = np.inf
    for _ in range(args.calls):
        t0 = time.thread_time()
        st = advance(state, grid, forcing, params, state.t + args.seconds)
        best = min(best, (time.thread_time() - t0) / st.steps)
    print(
        f"{args.root} {n} x {n} {np.dtype(dtype).name}: {best * 1e3:.3f} ms CPU a step, {best / n / n * 1e9:.2f} ns a cell"
    )
    if args.save:
        np.savez(args.save, h=state.h, qx=state.qx, qy=state.qy, h_lo=state.h_lo)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
