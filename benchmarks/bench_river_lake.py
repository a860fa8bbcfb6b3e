"""River-lake routing speed: Muskingum-Cunge links with level-pool lakes over a year of hourly steps.

A random tree of ``--links`` links (1-5 km long, slopes 1e-4..5e-3, widths and reference flows
from the accumulated catchment) with ``--lakes`` lakes standing for links (weir spillways; one in
four with a target-level rule, all with evaporation), lateral inflow on every link (a seasonal
cycle plus storms), routed by :class:`kernels.lake.RiverLakeSystem` in ``--chunk``-step calls of
``run`` (so the (T, n) inputs and outputs stay small, as a scenario run does). Numba compilation
is excluded (one small warm-up run first); one core.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_river_lake.py            # 10,000 links, 100 lakes, 8760 h
    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_river_lake.py --quick    # 1000 links, 10 lakes, 720 h
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from kernels.lake import Lake, RiverLakeSystem
from kernels.river import RiverNetwork, topological_order


def synthetic_system(n_links: int, n_lakes: int, seed: int = 0):
    """A random river tree with lakes on links; returns (network, lakes, mean lateral per link)."""
    rng = np.random.default_rng(seed)
    ds = np.full(n_links, -1, np.int64)
    for i in range(n_links - 1):  # each link drains into one of higher index: a tree rooted at the last
        ds[i] = rng.integers(i + 1, min(n_links, i + 1 + max(2, n_links // 50)))
    lateral = rng.uniform(0.05, 0.5, n_links)  # mean lateral inflow [m3/s]
    q_mean = lateral.copy()
    for i in topological_order(ds):
        if ds[i] >= 0:
            q_mean[ds[i]] += q_mean[i]
    q_ref = 3.0 * q_mean  # a flood flow
    net = RiverNetwork(ds, rng.uniform(1e3, 5e3, n_links), 10 ** rng.uniform(-4, np.log10(5e-3), n_links),
                       np.full(n_links, 0.035), 4.0 * np.sqrt(q_ref), q_ref)
    lakes = []
    candidates = np.flatnonzero((ds >= 0) & np.isin(np.arange(n_links), ds))  # links with inflow and an outlet
    for k, j in enumerate(rng.choice(candidates, n_lakes, replace=False)):
        area = rng.uniform(2e5, 2e7)
        h = np.linspace(100.0, 115.0, 31)
        d = (h - 100.0) / 15.0
        lakes.append(Lake(h, area * 15.0 * (d + d**2) / 2.0, area * (0.5 + d), link=int(j), initial_stage=104.0,
                          crest=104.0, weir_width=5.0 + q_ref[j] / 10.0, evaporation=3.0,
                          target_stage=103.5 if k % 4 == 0 else None, release_max=q_mean[j]))
    return net, lakes, lateral


def run(n_links: int, n_lakes: int, n_steps: int, chunk: int) -> dict:
    net, lakes, lateral = synthetic_system(n_links, n_lakes)
    warm = synthetic_system(50, 2, seed=1)
    RiverLakeSystem(warm[0], warm[1], 3600.0).run(lateral=np.ones((3, 50)))  # compile
    system = RiverLakeSystem(net, lakes, 3600.0, initial_flow=net.q_ref / 3.0)
    hours = np.arange(n_steps)
    rng = np.random.default_rng(2)
    storms = np.zeros(n_steps)
    for start in rng.choice(n_steps, max(1, n_steps // 500), replace=False):
        storms[start:start + 48] += 4.0 * np.exp(-np.arange(min(48, n_steps - start)) / 12.0)
    season = 1.0 + 0.5 * np.sin(2 * np.pi * hours / 8760.0) + storms
    elapsed = 0.0
    peak = 0.0
    for t0 in range(0, n_steps, chunk):
        lat = np.outer(season[t0:t0 + chunk], lateral)
        start = time.perf_counter()
        out = system.run(lateral=lat)
        elapsed += time.perf_counter() - start
        peak = max(peak, float(out["outflow"].max()))
    # the pyswmm-like loop: one Python call per step (controls between steps)
    n_single = 200
    start = time.perf_counter()
    for t in range(n_single):
        system.step(lateral=season[t % n_steps] * lateral)
    per_step = (time.perf_counter() - start) / n_single
    led = system.ledger()
    return {"per_step_ms": 1e3 * per_step, "links": n_links, "lakes": n_lakes, "steps": n_steps, "seconds": elapsed,
            "sub_reaches": int(system.router.n_sub.sum()), "max_sub_steps": int(system.router.m_sub.max()),
            "balance": abs(led["error"]) / led["inflow"], "peak": peak,
            "overtopped": int(system.overtopped.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--chunk", type=int, default=730)
    parser.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    size = (1000, 10, 720) if args.quick else (10_000, 100, 8760)
    r = run(*size, args.chunk)
    load = os.getloadavg()
    print(r, "load", load)
    if args.write:
        from _results import (
            replace_section,  # benchmarks/ is on sys.path when run as a script
        )

        text = (
            "## River-lake routing\n\n"
            "`NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_river_lake.py --write` (one core, compilation "
            "excluded)\n\n"
            "| links | lakes | hourly steps | sub-reaches | max sub-steps | time [s] | link-steps per s | "
            "one `step()` call [ms] | volume balance error |\n|---|---|---|---|---|---|---|---|---|\n"
            f"| {r['links']} | {r['lakes']} | {r['steps']} | {r['sub_reaches']} | {r['max_sub_steps']} | "
            f"{r['seconds']:.1f} | {r['links'] * r['steps'] / r['seconds']:.3g} | {r['per_step_ms']:.2f} | "
            f"{r['balance']:.1e} |\n\n"
            f"Load average while measuring (1, 5, 15 min): {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} on a shared "
            "2-core machine; the figure is one run.\n"
        )
        replace_section(Path(__file__).resolve().parent / "RESULTS.md", "## River-lake routing", text)


if __name__ == "__main__":
    main()
