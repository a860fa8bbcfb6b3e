"""Sewer coupling overhead: a SWMM-coupled flood run against the same surface-only run (issue #24).

Three cases: (a) the Bellinge network (../shared) under a surface interpolated from its rims, as
tests/sims/flood/test_drainage.py builds it; (b) a network laid by ``twin.sims.flood.sewer_design.design_network`` on a
sample-like valley; (c) the sample city's own twin and flood scenario (``twin demo``: 768 manholes),
against the same scenario without its ``[drainage]`` table (``--demo-duration`` cuts it to the storm's
first seconds). Each repeat runs surface-only and coupled back to back (interleaved), the ratio
is of the medians, of wall time and of the process's CPU time (all its threads: on a machine shared
with other work the CPU time is what the run cost, the wall time also what it waited). ``--load N`` measures every case again with N busy processes (a competing load).
Writes the "Sewer coupling overhead" section of benchmarks/RESULTS.md.

    NUMBA_NUM_THREADS=2 python benchmarks/bench_drainage.py --repeat 3 [--load 2] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import math
import multiprocessing as mp
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _demo_city import demo_scenarios  # noqa: E402
from _results import replace_section  # noqa: E402
from affine import Affine  # noqa: E402
from scipy.interpolate import griddata  # noqa: E402

from ingest.swmm import read_inp  # noqa: E402
from twin.model import Twin  # noqa: E402
from twin.sims.flood.run import run  # noqa: E402
from twin.sims.flood.scenario import Scenario  # noqa: E402

CRS = "EPSG:25832"
SHARED = ROOT.parent / "shared" / "data" / "drainage" / "bellinge_small.inp"
HEADING = "## Sewer coupling overhead (SWMM via pyswmm)"


def _bellinge(tmp: Path, cell: float) -> tuple[Twin, Path] | None:
    """The Bellinge network with a dry rain gauge and a DEM interpolated from its rims (as the tests)."""
    if not SHARED.is_file():
        return None
    text = re.sub(r"(?m)^1\s+INTENSITY.*$", "1 INTENSITY 00:05 1 TIMESERIES dry", SHARED.read_text())
    inp = tmp / "bellinge.inp"
    inp.write_text(text + "\n[TIMESERIES]\ndry 0:00 0\ndry 24:00 0\n")
    nodes = read_inp(inp, CRS).nodes
    nodes = nodes[nodes["kind"] != "outfall"]
    margin = 20.0
    x0, y0 = nodes.geometry.x.min() - margin, nodes.geometry.y.max() + margin
    nx = int(math.ceil((nodes.geometry.x.max() + margin - x0) / cell))
    ny = int(math.ceil((y0 - nodes.geometry.y.min() + margin) / cell))
    xs, ys = np.meshgrid(x0 + (np.arange(nx) + 0.5) * cell, y0 - (np.arange(ny) + 0.5) * cell)
    pts = np.c_[nodes.geometry.x, nodes.geometry.y]
    z = griddata(pts, nodes["rim"], (xs, ys), method="linear")
    z = np.where(np.isfinite(z), z, griddata(pts, nodes["rim"], (xs, ys), method="nearest"))
    return Twin(CRS, Affine(cell, 0, x0, 0, -cell, y0), z.astype(np.float64)), inp


def _valley(tmp: Path, ny: int, nx: int, dx: float, min_area: float, spacing: float) -> tuple[Twin, Path]:
    """A valley falling 1 % east, its sides rising 3 % (the sewer-design test's, scaled up), and its network."""
    from twin.sims.flood.sewer_design import design_network

    xs, ys = np.meshgrid((np.arange(nx) + 0.5) * dx, (np.arange(ny) + 0.5) * dx)
    z = 20 - 0.01 * xs + 0.03 * np.abs(ys - ny * dx / 2)
    tw = Twin(CRS, Affine(dx, 0, 500000.0, 0, -dx, 6100000.0), z)
    inp = design_network(
        tw, tmp / "designed.inp", intensity_mm_h=50.0, runoff_coefficient=1.0, min_area_m2=min_area, spacing_m=spacing
    )
    return tw, inp


def _scenario(inp: Path, coupled: bool, duration: float, interval: float | None) -> Scenario:
    d: dict = {
        "name": "bench",
        "duration": duration,
        "output_interval": duration / 3,
        "rain": {"hyetograph": [[0, 60.0], [duration / 2, 60.0], [duration / 2 + 1, 0.0]]},
        "numerics": {"dtype": "float32"},
        "output": {"snapshots": False},
    }
    if coupled:
        d["drainage"] = {"inp": inp.name, **({"coupling_interval": interval} if interval else {})}
    return Scenario.from_dict(d, base_dir=inp.parent)


def _burn(stop) -> None:
    while not stop.is_set():
        sum(range(10000))


def measure(tw: Twin, coupled_sc: Scenario, plain_sc: Scenario, warm_sc: Scenario, repeat: int, profile: bool) -> dict:
    """Median wall seconds of the surface-only and the coupled run, interleaved."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(tw, warm_sc, progress=False, scene=False)  # compile, warm caches
        plain, coupled, plain_cpu, coupled_cpu = [], [], [], []
        summary = plain_summary = {}
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            plain_summary = run(tw, plain_sc, progress=False, scene=False).summary
            plain.append(time.perf_counter() - t0)
            plain_cpu.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            r = run(tw, coupled_sc, progress=False, scene=False)
            coupled.append(time.perf_counter() - t0)
            coupled_cpu.append(time.process_time() - c0)
            summary = r.summary
        if profile:
            for sc in (plain_sc, coupled_sc):
                pr = cProfile.Profile()
                pr.enable()
                run(tw, sc, progress=False, scene=False)
                pr.disable()
                print(f"--- profile, {'coupled' if sc.drainage.inp else 'surface only'}")
                pstats.Stats(pr).sort_stats("tottime").print_stats(18)
    d = summary["drainage"]
    return {
        "cells": int(np.prod(tw.shape)),
        "nodes": d["nodes"],
        "coupled": d["nodes_coupled"],
        "interval": d["coupling_interval_s"],
        "plain": statistics.median(plain),
        "with": statistics.median(coupled),
        "plain_cpu": statistics.median(plain_cpu),
        "with_cpu": statistics.median(coupled_cpu),
        "steps": (plain_summary["steps"], summary["steps"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--cell", type=float, default=1.0, help="Bellinge surface cell size [m]")
    ap.add_argument("--interval", type=float, default=5.0, help="coupling interval [s]")
    ap.add_argument("--load", type=int, default=0, help="busy processes competing for the cores")
    ap.add_argument(
        "--cases",
        default="bellinge,valley,dense,demo",
        help="valley: ~70 manholes, dense: ~2400, demo: the sample city's flood scenario (`twin demo`)",
    )
    ap.add_argument(
        "--demo-duration",
        type=float,
        default=None,
        help="shorten the demo scenario (2 h) to its first seconds, e.g. 2400 while the storm is on",
    )
    ap.add_argument("--profile", action="store_true", help="print cProfile's top functions of one run each")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    rows, demo = [], None
    with tempfile.TemporaryDirectory(prefix="bench-drainage-") as tmp:
        tmp = Path(tmp)
        for busy in sorted({0, args.load}):  # as the machine is, then with the competing load
            stop = mp.Event()
            burners = [mp.Process(target=_burn, args=(stop,), daemon=True) for _ in range(busy)]
            for p in burners:
                p.start()
            try:
                for case in args.cases.split(","):
                    if case == "demo":
                        if demo is None:
                            demo = demo_scenarios(tmp, args.demo_duration)
                        m = measure(*demo, args.repeat, args.profile)
                    else:
                        if case == "bellinge":
                            built = _bellinge(tmp, args.cell)
                            if built is None:
                                print("skip bellinge: ../shared absent")
                                continue
                        else:  # design_network's min_area_m2: smaller lays more manholes
                            built = _valley(tmp, 200, 400, 5.0, 2000.0 if case == "dense" else 5000.0, 60.0)
                        tw, inp = built
                        scs = (
                            _scenario(inp, c, dur, args.interval)
                            for c, dur in ((1, args.duration), (0, args.duration), (1, 60.0))
                        )
                        m = measure(tw, *scs, args.repeat, args.profile)
                    m["case"], m["busy"] = case, busy
                    rows.append(m)
                    print(m, f"ratio {m['with'] / m['plain']:.2f} cpu {m['with_cpu'] / m['plain_cpu']:.2f}", flush=True)
            finally:
                stop.set()
                for p in burners:
                    p.join()
    text = render(args, rows, (load0, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        replace_section(args.results, HEADING, text)


def render(args, rows: list[dict], load: tuple[float, float]) -> str:
    lines = [
        HEADING,
        "",
        f"{_dt.date.today().isoformat()}, `NUMBA_NUM_THREADS={numba.get_num_threads()} python "
        f"benchmarks/bench_drainage.py --repeat {args.repeat} --duration {args.duration:g} --cell {args.cell:g} "
        f"--interval {args.interval:g} --cases {args.cases}"
        + (f" --load {args.load}" if args.load else "")
        + (f" --demo-duration {args.demo_duration:g}" if args.demo_duration else "")
        + "`; "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} before and {load[1]:.1f} after"
        + (f"; each case again with {args.load} busy processes competing" if args.load else "")
        + ". "
        "Float32 state, rain 60 mm/h for half the run; surface-only and coupled runs interleaved, medians "
        "of wall time and of CPU time (the process's, all threads)."
        + (
            " The demo case is the sample city's own twin (4 m cells) and flood scenario as `twin demo` runs "
            "them (60 mm/h for 1 h, the river's flood wave, Green-Ampt infiltration, the default coupling "
            "interval), surface only = the same scenario without its `[drainage]` table"
            + (f", both cut to the first {args.demo_duration:g} s of the 2 h" if args.demo_duration else "")
            + "."
            if "demo" in args.cases
            else ""
        ),
        "",
        "| case | busy processes | cells | nodes (coupled) | sync interval | steps surface only / coupled "
        "| surface only | coupled | ratio | CPU surface only | CPU coupled | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in rows:
        lines.append(
            f"| {m['case']} | {m['busy']} | {m['cells']:,} | {m['nodes']} ({m['coupled']}) | {m['interval']:g} s | "
            f"{m['steps'][0]} / {m['steps'][1]} | {m['plain']:.2f} s | {m['with']:.2f} s | {m['with'] / m['plain']:.2f} | "
            f"{m['plain_cpu']:.2f} s | {m['with_cpu']:.2f} s | {m['with_cpu'] / m['plain_cpu']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
