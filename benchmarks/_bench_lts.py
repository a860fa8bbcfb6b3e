"""The demo scenario with the global and the local time step (``bench_flood.py --time-step``).

The sample city's flood scenario as ``twin demo`` builds it (500 x 500 cells of 4 m, the design storm,
the sewer coupled every 5 s), cut to its first ``duration`` seconds, run with ``[numerics]
time_stepping = "global"`` and ``"local"`` in turn (interleaved, ``repeats`` times each, medians), in
one process after a warm-up of each. Reports wall and CPU seconds and their ratio, the share of the
cell-time at each level, and how the results compare: maximum depth on the wet cells, flooded
buildings, the mass balance.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np

from kernels.flood import LTS_TILE


def _scenarios(tmp: Path, duration: float):
    from twin import sample
    from twin.cli.demo import sample_twin
    from twin.sims.flood.scenario import Scenario

    city = sample.city(tmp / "city")
    tw, _ = sample_twin(city, 4.0)  # the demo's --resolution default
    d = tomllib.loads(city.scenario.read_text())
    d.update(duration=duration, output_interval=min(duration, 600.0))
    out = {}
    for mode in ("global", "local"):
        num = {**d.get("numerics", {}), "time_stepping": mode}
        out[mode] = Scenario.from_dict({**d, "numerics": num}, base_dir=city.root)
        warm = {**d, "duration": 60.0, "output_interval": 60.0, "numerics": num}
        out[mode + "_warm"] = Scenario.from_dict(warm, base_dir=city.root)
    return tw, out


def measure(duration: float = 1200.0, repeats: int = 2) -> dict:
    """Time the demo scenario both ways; return the figures."""
    from twin.sims.flood.run import run

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-lts-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tw, sc = _scenarios(Path(tmp), duration)
        for mode in ("global", "local"):
            run(tw, sc[mode + "_warm"], progress=False, scene=False)  # compile, warm caches
        wall = {"global": [], "local": []}
        cpu = {"global": [], "local": []}
        result = {}
        for _ in range(repeats):
            for mode in ("global", "local"):
                t0, c0 = time.perf_counter(), time.process_time()
                result[mode] = run(tw, sc[mode], progress=False, scene=False)
                wall[mode].append(time.perf_counter() - t0)
                cpu[mode].append(time.process_time() - c0)
    g, loc = result["global"], result["local"]
    a, b = np.nan_to_num(g.max_depth), np.nan_to_num(loc.max_depth)
    wet = (a > 0.01) | (b > 0.01)
    diff = np.abs(a - b)[wet]
    depth = _depth_diff(a, b, sc["global"].output.wet_depth)
    fa, fb = g.buildings["flooded"].to_numpy(), loc.buildings["flooded"].to_numpy()
    return {
        "duration": duration,
        "repeats": repeats,
        "cells": int(np.prod(tw.shape)),
        "load": (load0, os.getloadavg()[0]),
        "wall": {k: statistics.median(v) for k, v in wall.items()},
        "cpu": {k: statistics.median(v) for k, v in cpu.items()},
        "summary": {k: r.summary for k, r in result.items()},
        "wet_cells": int(wet.sum()),
        "p99": float(np.quantile(diff, 0.99)),
        "over_1cm": float(np.mean(diff > 0.01)),
        "max_diff": float(diff.max()),
        "buildings": (int(fa.sum()), int(fb.sum()), int((fa != fb).sum())),
        **depth,
    }


def _depth_diff(a: np.ndarray, b: np.ndarray, wet_depth: float) -> dict:
    """The maximum depths' difference where the reporting threshold is taken into account.

    A result's max depth reads 0 where the cell never got wetter than ``wet_depth``: its maximum
    lay somewhere in [0, wet_depth]. A cell at 1.02 cm in one run and 0.99 cm in the other reads
    1.02 against 0 in the files. Here such a cell's maximum is taken as the value in [0, wet_depth]
    nearest the other run's (the smallest difference the files allow); ``flips`` counts these cells.
    """
    wet = (a > 0) | (b > 0)
    aa = np.where(a > 0, a, np.minimum(b, wet_depth))
    bb = np.where(b > 0, b, np.minimum(a, wet_depth))
    d = np.abs(aa - bb)[wet]
    flip = wet & ((a > 0) != (b > 0))
    return {
        "depth_p99": float(np.quantile(d, 0.99)),
        "depth_over_1cm": float(np.mean(d > 0.01)),
        "flips": int(flip.sum()),
        "flip_p99": float(np.quantile(np.maximum(a, b)[flip], 0.99)) if flip.any() else 0.0,
    }


def render(r: dict) -> str:
    """The RESULTS.md section's body."""
    sg, sl = r["summary"]["global"], r["summary"]["local"]
    levels = sl.get("time_step_levels", {})
    share = ", ".join(f"level {k}: {v:.1%}" if k != "idle" else f"idle: {v:.1%}" for k, v in levels.items())
    wg, wl, cg, cl = r["wall"]["global"], r["wall"]["local"], r["cpu"]["global"], r["cpu"]["local"]
    return "\n".join(
        [
            f"The demo scenario (sample city, {r['cells']:,} cells of 4 m, design storm, sewer coupled every "
            f"5 s), its first {r['duration']:.0f} s, `[numerics] time_stepping` global against local "
            f"(max_levels {len(levels) - 2}, tiles of {LTS_TILE[0]} x {LTS_TILE[1]} cells), medians of {r['repeats']} interleaved "
            f"runs in one process; load average {r['load'][0]:.1f} -> {r['load'][1]:.1f} on this machine.",
            "",
            "| | global | local | global / local |",
            "|---|---|---|---|",
            f"| wall [s] | {wg:.1f} | {wl:.1f} | {wg / wl:.2f} |",
            f"| CPU [s] | {cg:.1f} | {cl:.1f} | {cg / cl:.2f} |",
            f"| fine steps | {sg['steps']} | {sl['steps']} | |",
            f"| dt [s] | {sg['dt_min_s']:.3g}-{sg['dt_max_s']:.3g} | {sl['dt_min_s']:.3g}-{sl['dt_max_s']:.3g} | |",
            f"| mass balance error | {sg['mass_balance_error']:.1e} | {sl['mass_balance_error']:.1e} | |",
            f"| flooded buildings | {r['buildings'][0]} | {r['buildings'][1]} | {r['buildings'][2]} differ |",
            "",
            f"Time-step levels (share of the cell-time; level k steps at 2^k x the finest step): {share}.",
            f"Maximum depth, local against global, on the {r['wet_cells']:,} cells wet in either: 99th "
            f"percentile of the difference {100 * r['p99']:.2f} cm, {r['over_1cm']:.1%} of the cells above 1 cm, "
            f"largest {100 * r['max_diff']:.1f} cm. Of these, {r['flips']:,} are wet (above the 1 cm wet depth) in one "
            f"run only (the other's file reads 0; 99 % of them at most {100 * r['flip_p99']:.2f} cm in the run "
            "where they are wet): taking such a cell's maximum in the other run as the nearest value in [0, 1 cm], "
            f"the 99th percentile is {100 * r['depth_p99']:.2f} cm and {r['depth_over_1cm']:.1%} of the cells "
            "differ by more than 1 cm.",
        ]
    )
