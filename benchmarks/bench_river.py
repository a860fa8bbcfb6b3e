"""River-lake routing speed: a random 10,000-link tree for one year hourly, with and without 100 lakes,
and the landlab Methow network (720 links) built from its lines, for one year hourly. One core.

Times exclude Numba compilation (a warm-up run on a small network first). Forcing is given a
month at a time, so memory stays small.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_river.py            # and write RESULTS.md
    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_river.py --quick    # 1,000 links, 30 days, no write
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

import numpy as np
from _results import replace_section  # benchmarks/ is on the path when run as a script

from kernels.lake import Lake, RiverLakeSystem
from kernels.river import RiverNetwork, Router

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"
DT = 3600.0


def random_tree(n: int, seed: int = 0) -> RiverNetwork:
    """Link i > 0 drains into a random earlier link (a tree with outlet 0); hydraulics grow downstream."""
    rng = np.random.default_rng(seed)
    down = np.full(n, -1, np.int64)
    down[1:] = (rng.random(n - 1) * np.arange(1, n)).astype(np.int64)
    up = np.ones(n)
    for i in range(n - 1, 0, -1):  # every link drains to a lower index: reverse order accumulates
        up[down[i]] += up[i]
    return RiverNetwork(
        down,
        rng.uniform(500.0, 3000.0, n),
        10 ** rng.uniform(-4, -2, n),
        np.full(n, 0.035),
        5.0 + 2.0 * np.sqrt(up),
        0.05 * up,
    )


def lateral_month(n: int, start: int, steps: int, seed: int = 1) -> np.ndarray:
    """Seasonal baseflow plus a storm every ~10 days on random thirds of the links [m3/s per link]."""
    rng = np.random.default_rng(seed + start)
    t = (start + np.arange(steps))[:, None] * DT
    base = 0.05 * (1.2 + np.sin(2 * np.pi * t / (365 * 86400.0)))
    storm = (rng.random((steps, 1)) < 1 / 240) * rng.random((1, n)) * (rng.random((1, n)) < 0.33)
    return (
        np.broadcast_to(base, (steps, n)) + 0.5 * np.cumsum(storm, axis=0) * np.exp(-np.arange(steps) / 48.0)[:, None]
    )


def lakes_on(net: RiverNetwork, count: int, seed: int = 2) -> list[Lake]:
    """Lake links on ``count`` random non-outlet links: a 1 km2 bowl with a 20 m weir at its rest level."""
    rng = np.random.default_rng(seed)
    links = rng.choice(np.flatnonzero(net.downstream >= 0), count, replace=False)
    stage = np.linspace(0.0, 10.0, 21)
    area = 1e6 * (0.2 + 0.8 * stage / 10.0)
    storage = np.concatenate([[0.0], np.cumsum(0.5 * (area[1:] + area[:-1]) * np.diff(stage))])
    return [Lake(stage, storage, area, link=int(j), initial_stage=5.0, crest=5.0, weir_width=20.0) for j in links]


def tree_lines(net: RiverNetwork, seed: int = 3):
    """The random tree drawn as lines: each link ends where its receiving link starts (outlet at 0, 0)."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    n = net.downstream.size
    start = np.zeros((n, 2))
    end = np.zeros((n, 2))
    for i in range(n):  # receivers come first (down[i] < i)
        end[i] = start[net.downstream[i]] if net.downstream[i] >= 0 else (0.0, 0.0)
        angle = rng.uniform(0.0, np.pi)  # upstream lies north: lines fan out without looping back
        start[i] = end[i] + net.length[i] * np.array([np.cos(angle), np.sin(angle)])
    mid = 0.5 * (start + end) + rng.normal(0.0, 20.0, (n, 2))  # a bend, so lines are not straight
    coords = np.stack([start, mid, end], axis=1)
    return gpd.GeoDataFrame(
        {"width": net.width, "slope": net.slope}, geometry=shapely.linestrings(coords), crs="EPSG:3857"
    )


def _time(system, n: int, steps: int, month: int = 730) -> tuple[float, float]:
    """Seconds spent in the kernel for ``steps`` steps (forcing made outside the clock), and the ledger error."""
    spent = 0.0
    for s0 in range(0, steps, month):
        lat = lateral_month(n, s0, min(month, steps - s0))
        t0 = time.perf_counter()
        system.run(lateral=lat)
        spent += time.perf_counter() - t0
    err = (
        system.ledger()["error"] / max(system.ledger()["inflow"], 1e-300) if hasattr(system, "ledger") else float("nan")
    )
    return spent, err


def _sample_city_scenario() -> str:
    """Wall time of a whole river scenario (network, catchments, lake, a spill, outputs) on the 2 km sample city."""
    import tempfile
    import warnings

    import shapely

    from twin.model.build import from_files
    from twin.sample.district import city
    from twin.sims.river.run import run

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sc = city(Path(tmp) / "city")
        tw = from_files(sc.dem, rivers=sc.layers, lakes=sc.layers)
        river = shapely.get_coordinates(tw.rivers.geometry.iloc[0])
        creek = shapely.get_coordinates(tw.rivers.geometry.iloc[1])
        x0 = tw.bounds[0] + 20.0
        scenario = {
            "duration": "2d",
            "dt": "15min",
            "output_interval": "1h",
            "network": {"reference_discharge": 20.0},
            "runoff": {"hyetograph": [[0, 30.0], ["2h", 30.0], ["2h1s", 0.0]], "coefficient": 0.5},
            "inflow": [
                {
                    "at": [x0, float(np.interp(x0, river[:, 0], river[:, 1]))],
                    "hydrograph": [[0, 20.0], ["6h", 120.0], ["18h", 20.0]],
                }
            ],
            "lake": [{"name": "Sample Lake", "crest": float(tw.lakes["level"].iloc[0]), "weir_width": 6.0}],
            "spill": [{"at": creek[1].tolist(), "time": "3h", "mass": 200.0, "decay_rate": 0.2}],
        }
        t0 = time.perf_counter()
        r = run(tw, scenario, out=Path(tmp) / "result", progress=False)
        wall = time.perf_counter() - t0
    return (
        f"A whole river scenario on the 2 km sample city (1000 x 1000 cells; {len(r.links)} links, its lake, "
        f"runoff over D8 catchments, an inflow hydrograph, a spill carried on the routed flows; 2 days at "
        f"15 min): {wall:.1f} s wall with the outputs written, {r.summary['wall_seconds']:.1f} s before "
        f"writing (network, catchments, routing, transport); mass-balance error "
        f"{r.summary['mass_balance_error']:.1e}."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 links for 30 days; do not write RESULTS.md")
    args = ap.parse_args()
    n, steps = (1000, 720) if args.quick else (10_000, 8760)
    warm = random_tree(50)
    Router(warm, DT).run(lateral=lateral_month(50, 0, 10))
    RiverLakeSystem(warm, lakes_on(warm, 3), DT).run(lateral=lateral_month(50, 0, 10))

    rows = []
    net = random_tree(n)
    router = Router(net, DT)
    sub = int(router.n_sub.sum())
    t_router, _ = _time(router, n, steps)
    rows.append(("Router (Muskingum-Cunge), no lakes", n, sub, t_router, float("nan")))
    t_sys0, e0 = _time(RiverLakeSystem(net, [], DT), n, steps)
    rows.append(("RiverLakeSystem, no lakes", n, sub, t_sys0, e0))
    t_sys, e = _time(RiverLakeSystem(net, lakes_on(net, 100), DT), n, steps)
    rows.append(("RiverLakeSystem, 100 lake links", n, sub, t_sys, e))

    import warnings

    from twin.sims.river.network import network_from_lines

    lines = tree_lines(net)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        built = network_from_lines(lines, snap_tolerance=1e-6, slope_column="slope")
    build_tree = time.perf_counter() - t0
    same = int(np.sum(built.downstream == net.downstream))

    methow = SHARED / "dem" / "vectors" / "landlab_methow" / "Methow_Network.shp"
    build = None
    if methow.is_file():
        import geopandas as gpd

        lines = gpd.read_file(methow).set_crs("ESRI:102008")  # no .prj: North America Albers
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            mnet = network_from_lines(lines, snap_tolerance=1.0, slope_column="Slope", width=20.0, id_column="GridID")
        build = time.perf_counter() - t0
        rn = mnet.river_network(q_ref=5.0)
        msys = RiverLakeSystem(rn, [], DT)
        t_m, e_m = _time(msys, len(mnet), steps)
        rows.append(("Methow (landlab), 720 links, from its lines", len(mnet), int(msys.router.n_sub.sum()), t_m, e_m))

    scenario_line = _sample_city_scenario() if not args.quick else None

    load = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE, check=False
    ).stdout.strip()
    lines_md = [
        "## River-lake",
        "",
        f"Routing {steps} hourly steps ({steps / 8760:.3g} year), one core (`NUMBA_NUM_THREADS=1`), Numba compilation",
        "excluded; lateral inflow on every link (seasonal base flow plus storms), given a month at a time.",
        "Random tree: link i drains into a random earlier link, lengths 0.5-3 km, slopes 1e-4-1e-2,",
        "reference discharge 0.05 m3/s per upstream link. Lakes: lake links (1 km2 bowls, 20 m weirs).",
        "",
        "| network | links | MC sub-reaches | kernel time [s] | link-steps/s | volume error (relative) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, links, subs, secs, err in rows:
        err_s = "-" if np.isnan(err) else f"{err:.1e}"
        lines_md.append(f"| {name} | {links:,} | {subs:,} | {secs:.2f} | {links * steps / secs:.2e} | {err_s} |")
    lines_md += [
        "",
        (
            f"Building a network from the random tree's {n:,} lines (3 vertices each; end snapping, "
            f"junction splits, topology checks): {build_tree:.2f} s; {same:,} of {n:,} downstream links "
            "as drawn."
        ),
    ]
    if build is not None:
        lines_md.append(f"Building the Methow network from its 720 lines (snapping, topology checks): {build:.2f} s.")
    if scenario_line:
        lines_md.append(scenario_line)
    lines_md += [
        (
            f"Load average while measuring: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (shared machine, 2 cores); "
            f"commit {commit}."
        ),
        "",
        "Command: `NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_river.py`",
        "",
    ]
    text = "\n".join(lines_md)
    print(text)
    if not args.quick:
        replace_section(HERE / "RESULTS.md", "## River-lake", text)


if __name__ == "__main__":
    main()
