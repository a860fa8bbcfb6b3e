"""Flood ensemble throughput on Dask distributed against a plain in-process loop.

The same members (a rain sweep on a synthetic city of ``--cells``^2 cells of 4 m, each member about
10 s on one thread at the defaults) run three ways: a plain loop in this process on one Numba thread
(each member writing its result folder, as the workers do), then :func:`twin.ensemble.run.run_ensemble`
on a LocalCluster of 1 and of 2 worker processes (1 thread each). Reported per way: wall seconds,
scenarios per minute, and the overhead against the loop scaled to the workers,
``T_ensemble * workers / T_loop - 1``, both end to end (cluster start and stop, scatter, worker
warm-up, aggregation) and for the run alone (scatter to the last member's result). Results go to
the ``## Ensembles`` section of benchmarks/RESULTS.md.

Usage::

    .venv/bin/python benchmarks/bench_ensemble.py --write        # 4 members of ~10 s (a few minutes)
    .venv/bin/python benchmarks/bench_ensemble.py --members 2 --duration 600   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_NUM_THREADS", "2")

import geopandas as gpd  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from _results import replace_section  # noqa: E402
from affine import Affine  # noqa: E402

from twin.ensemble.run import Ensemble, run_ensemble  # noqa: E402
from twin.model.twin import Twin  # noqa: E402
from twin.sims.flood.run import run  # noqa: E402

SECTION = "## Ensembles"
CRS = "EPSG:4547"
X0, Y0, DX = 423000.0, 2560000.0, 4.0


def city(n: int) -> Twin:
    """A plane sloping 0.2 % to the east with a 10 x 10 block of buildings."""
    x = (np.arange(n) + 0.5) * DX
    terrain = np.tile(10.0 - 0.002 * x, (n, 1))
    step = n * DX / 12
    boxes = [
        shapely.box(X0 + (i + 1) * step, Y0 - (j + 1) * step - 20, X0 + (i + 1) * step + 20, Y0 - (j + 1) * step)
        for i in range(10)
        for j in range(10)
    ]
    b = gpd.GeoDataFrame(
        {"id": [f"b{k}" for k in range(len(boxes))], "base": 10.0, "height": 12.0, "source": "gis"},
        geometry=boxes,
        crs=CRS,
    )
    return Twin(CRS, Affine(DX, 0, X0, 0, -DX, Y0), terrain, buildings=b)


def ensemble(members: int, duration: float) -> Ensemble:
    base = {
        "duration": duration,
        "output_interval": duration / 4,
        "rain": {"constant": 50.0},
        "boundary": [{"edge": "east", "type": "free"}],
        "infiltration": {"model": "none"},
    }
    rates = np.linspace(30.0, 120.0, members).round(1).tolist()
    return Ensemble.from_dict({"name": "bench", "base": base, "sweep": {"rain.constant": rates}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=320, help="grid side in cells")
    ap.add_argument("--duration", type=float, default=7200.0, help="simulated seconds per member")
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    args = ap.parse_args()

    tw = city(args.cells)
    ens = ensemble(args.members, args.duration)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ensemble-"))
    try:
        numba.set_num_threads(1)
        run(tw, {**ens.members[0].scenario.to_dict(), "duration": 60.0}, progress=False)  # JIT cache loaded
        t0 = time.perf_counter()
        for m in ens.members:
            run(tw, m.scenario, out=tmp / "loop" / m.folder, progress=False, scene=False)
        t_loop = time.perf_counter() - t0
        print(f"loop: {t_loop:.1f} s ({t_loop / args.members:.1f} s per member)", flush=True)
        rows = []
        for workers in (1, 2):
            t0 = time.perf_counter()
            r = run_ensemble(tw, ens, tmp / f"ens{workers}", n_workers=workers, threads_per_worker=1, progress=False)
            wall = time.perf_counter() - t0
            s = r.summary
            assert s["members_ok"] == args.members, r.failed
            rows.append((workers, wall, s["run_seconds"], s["cluster_start_seconds"]))
            print(f"{workers} workers: {wall:.1f} s end to end, {s['run_seconds']:.1f} s run", flush=True)
        load = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def per_min(t: float) -> str:
        return f"{args.members / t * 60:.2f}"

    lines = [
        SECTION,
        "",
        f"`.venv/bin/python benchmarks/bench_ensemble.py --cells {args.cells} --duration {args.duration:g} "
        f"--members {args.members} --write`",
        "",
        f"{args.members} members (rain 30-120 mm/h) on {args.cells} x {args.cells} cells of {DX:g} m, "
        f"{args.duration:g} s simulated each, float32, 1 Numba thread per member; every member writes its "
        "result folder. Overhead = T x workers / T_loop - 1 (0 = perfect scaling).",
        "",
        "| way | workers | wall [s] | scenarios/min | overhead | run only [s] | scenarios/min | overhead | cluster start [s] |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| plain loop | - | {t_loop:.1f} | {per_min(t_loop)} | - | - | - | - | - |",
    ]
    for workers, wall, run_s, start in rows:
        lines.append(
            f"| LocalCluster | {workers} | {wall:.1f} | {per_min(wall)} | {wall * workers / t_loop - 1:+.1%} "
            f"| {run_s:.1f} | {per_min(run_s)} | {run_s * workers / t_loop - 1:+.1%} | {start:.1f} |"
        )
    lines += [
        "",
        f"Load average while measuring (1, 5, 15 min): {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} on a "
        f'shared {os.cpu_count()}-core machine; one run. "Run only" counts from scattering the twin to the '
        'last member\'s result (loading the Numba cache on each worker included); "wall" is the whole '
        "run_ensemble call: starting the worker processes (each imports cimtwin), running, stopping them "
        "and building the maps. The fixed part is the cluster; the per-member overhead is what run-only "
        "adds to the loop.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        replace_section(ROOT / "benchmarks" / "RESULTS.md", SECTION, text)


if __name__ == "__main__":
    main()
