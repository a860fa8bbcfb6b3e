"""Flood kernel speed: cell updates per second against Landlab's OverlandFlow on the same problem,
and the full shallow-water solver's beside the local-inertial kernel's.

Reference problem: 1000 x 1000 cells of 2 m, Manning n = 0.03, a plane sloping 0.1 % to the east,
100 mm/h of rain for 1800 s, closed walls. Ours runs the whole 1800 s in float32 and float64 on
one and two threads; Landlab (the same Bates/de Almeida scheme in NumPy, same alpha 0.7 and theta
0.8, time step capped at the same 10 s) runs a shorter stretch, since its rate per step does not
depend on the state. Throughput = cells x steps / wall seconds. Results go to the
``## Flood kernel`` section of benchmarks/RESULTS.md (replaced in place, other sections kept).

Usage::

    .venv/bin/python benchmarks/bench_flood.py            # full run (a few minutes)
    .venv/bin/python benchmarks/bench_flood.py --quick    # 500 x 500 cells, 300 s: a smoke run
    .venv/bin/python benchmarks/bench_flood.py --threads-check   # 1 vs 2 threads per policy, idle/loaded (_threads_check.py)
    .venv/bin/python benchmarks/bench_flood.py --gpu      # the GPU kernel, 4000 x 4000 float32 (needs a GPU)
    .venv/bin/python benchmarks/bench_flood.py --time-step  # the demo scenario, global against local time steps

A full run also times, in the same run: the memory bandwidth (a STREAM-like triad) beside the kernel's
bytes per cell-step (``_bandwidth.py``); the demo city's flood scenario stage by stage against the
bare kernel on the same grid (``_flood_stages.py``; ``--demo-minutes``, ``--no-demo``; ``--demo-setting
numerics.KEY=VALUE`` adds the scenario with that setting, e.g. a time-stepping option, timed against it), and
its time-step statistics; ANUGA beside
the full shallow-water solver where an interpreter with ANUGA is found (``_anuga_side.py``).

Landlab is a benchmark-only dependency: the script pip-installs it when missing (``landlab`` and, on
Python 3.11, ``requireit==0.8.0``; ``--no-install`` skips that and times our kernel only).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _anuga_side  # noqa: E402
import _bandwidth  # noqa: E402
import _flood_stages  # noqa: E402
import _threads_check  # noqa: E402
from _demo_city import demo_scenarios  # noqa: E402
from _results import replace_section  # noqa: E402

import twin  # noqa: E402, F401  (sets cimtwin's thread policy, see twin/threads.py)
from kernels import swe  # noqa: E402
from kernels.flood import FloodForcing, FloodGrid, FloodParams, FloodState, advance, stored_volume  # noqa: E402
from twin.sims.flood.run import run as flood_run  # noqa: E402
from twin.sims.flood.scenario import Scenario  # noqa: E402

RAIN = 0.1 / 3600.0  # 100 mm/h in m/s
MANNING = 0.03
SLOPE = 1e-3
DT_MAX = 10.0
SECTION = "## Flood kernel"


def reference_problem(n: int, dx: float, dtype) -> tuple[FloodGrid, FloodForcing]:
    """The benchmark's grid (plane sloping down to the east, closed walls) and uniform rain."""
    x = np.arange(n) * dx
    z = np.broadcast_to(SLOPE * (x.max() - x), (n, n)).astype(dtype)
    return FloodGrid.simple(z, dx, MANNING), FloodForcing.uniform_rain((n, n), RAIN)


def run_ours(n: int, dx: float, t_end: float, dtype, threads: int, order: int = 0) -> dict:
    """Time one run of our kernel from a dry start; return its figures.

    ``order`` 0 runs the local-inertial kernel, 1 or 2 the full shallow-water solver at that order.
    """
    grid, forcing = reference_problem(n, dx, dtype)
    if order:
        state, step, params = swe.SweState.zeros((n, n), dtype), swe.advance, swe.SweParams(order=order, dt_max=DT_MAX)
    else:
        state, step, params = FloodState.zeros((n, n), dtype), advance, FloodParams(dt_max=DT_MAX)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        v0 = stored_volume(state, grid)
        t0 = time.perf_counter()
        st = step(state, grid, forcing, params, t_end)
        wall = time.perf_counter() - t0
    finally:
        numba.set_num_threads(previous)
    if st.status:
        raise RuntimeError(f"kernel status {st.status}")
    error = (stored_volume(state, grid) - v0 - st.net_inflow) / st.vol_rain
    return {
        "steps": st.steps,
        "wall": wall,
        "rate": n * n * st.steps / wall,
        "mass_error": error,
        "h_max": float(state.h.max()),
        "dt_min": st.dt_min,
    }


def install_landlab() -> None:
    """pip-install the peer into this interpreter's environment (benchmark-only dependency)."""
    packages = ["landlab"]
    if sys.version_info < (3, 12):
        packages.append("requireit==0.8.0")  # later releases use Python 3.12 syntax
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *packages], check=False)


def run_landlab(n: int, dx: float, t_end: float, install: bool) -> dict | None:
    """Time Landlab's OverlandFlow on the same problem; None if Landlab is not available."""
    try:
        from landlab import RasterModelGrid
        from landlab.components import OverlandFlow
    except Exception:  # ImportError, or requireit's syntax on Python < 3.12
        if not install:
            return None
        install_landlab()
        return run_landlab(n, dx, t_end, install=False)
    g = RasterModelGrid((n, n), xy_spacing=dx)
    z = g.add_zeros("topographic__elevation", at="node")
    z[:] = SLOPE * (g.x_of_node.max() - g.x_of_node)
    h = g.add_zeros("surface_water__depth", at="node")
    g.set_closed_boundaries_at_grid_edges(True, True, True, True)
    of = OverlandFlow(g, mannings_n=MANNING, rainfall_intensity=RAIN, alpha=0.7, theta=0.8)
    core = g.core_nodes
    v0 = float(h[core].sum()) * dx * dx
    t, steps = 0.0, 0
    t0 = time.perf_counter()
    while t < t_end - 1e-9:
        dt = min(of.calc_time_step(), DT_MAX, t_end - t)
        of.run_one_step(dt)
        t += dt
        steps += 1
    wall = time.perf_counter() - t0
    rain = RAIN * core.size * dx * dx * t_end  # rain falls on core nodes only
    error = (float(h[core].sum()) * dx * dx - v0 - rain) / rain
    return {
        "steps": steps,
        "wall": wall,
        "rate": n * n * steps / wall,
        "mass_error": error,
        "h_max": float(h.max()),
        "h_min": float(h[core].min()),
        "t_end": t_end,
    }


def gpu_check(n: int, t_end: float) -> dict | None:
    """The GPU kernel on an n x n float32 reference problem (running maxima on): None without a GPU.

    Timed after a short warm-up call (compilation, first copies); the figure includes the host-device
    copies of the state at the call's start and end, as a run pays them.
    """
    from kernels import flood

    if not flood.gpu_available():
        return None
    from kernels.flood import FloodAccum

    grid, forcing = reference_problem(n, 2.0, np.float32)
    state = FloodState.zeros((n, n), np.float32)
    advance(state, grid, forcing, FloodParams(dt_max=DT_MAX), 60.0, device="gpu")  # compile, wet it
    accum = FloodAccum.zeros((n, n))
    v0 = stored_volume(state, grid)
    t0 = time.perf_counter()
    st = advance(state, grid, forcing, FloodParams(dt_max=DT_MAX), 60.0 + t_end, accum, device="gpu")
    wall = time.perf_counter() - t0
    if st.status:
        raise RuntimeError(f"GPU kernel status {st.status}")
    return {
        "device": flood.gpu_name(),
        "n": n,
        "steps": st.steps,
        "wall": wall,
        "rate": n * n * st.steps / wall,
        "mass_error": (stored_volume(state, grid) - v0 - st.net_inflow) / st.vol_rain,
    }


def render_gpu(r: dict | None, n: int, t_end: float) -> str:
    """The GPU table, as markdown."""
    lines = ["### GPU (`--gpu`)", ""]
    if r is None:
        return "\n".join([*lines, "No GPU on this machine (numba-cuda found none): no GPU figure in this run.", ""])
    lines += [
        f"{n} x {n} cells of 2 m, float32, running maxima on, {t_end:g} s simulated after a 60 s warm-up; "
        f"card: {r['device']}. Throughput = cells x steps / wall seconds, host-device copies included.",
        "",
        "| Device | Steps | Wall (s) | Cell updates/s | Mass-balance error |",
        "|---|---:|---:|---:|---:|",
        f"| {r['device']} | {r['steps']} | {r['wall']:.2f} | {r['rate']:.3g} | {r['mass_error']:.1e} |",
        "",
    ]
    return "\n".join(lines)


def warm_up() -> None:
    """Compile both dtypes and start the thread pool, so the timings exclude them."""
    for dtype in (np.float32, np.float64):
        grid, forcing = reference_problem(220, 2.0, dtype)  # above the parallel threshold
        advance(FloodState.zeros((220, 220), dtype), grid, forcing, FloodParams(), 20.0)
        for order in (1, 2):
            swe.advance(swe.SweState.zeros((220, 220), dtype), grid, forcing, swe.SweParams(order=order), 20.0)


def machine() -> str:
    """CPU model and core count, for the record."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


def render(
    args, ours: dict, landlab: dict | None, load: tuple[float, float], n: int, t_end: float, full: dict | None = None
) -> str:
    """The markdown section for RESULTS.md."""
    lines = [
        SECTION,
        "",
        f"Reference problem: {n} x {n} cells of 2 m, Manning 0.03, plane sloping 0.1 % east, 100 mm/h rain, "
        f"closed walls, dry start, {t_end:g} s simulated, adaptive step (alpha 0.7, theta 0.8, at most 10 s). "
        "Throughput = cells x steps / wall seconds (compilation excluded).",
        "",
        "Command: `NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_flood.py"
        + (" --quick`  " if args.quick else "`  "),
        f"Date: {_dt.date.today().isoformat()}; machine: {machine()}; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, Numba {numba.__version__}.  ",
        f"Load average {load[0]:.1f} before and {load[1]:.1f} after the run"
        + (" (other engineers' jobs shared the cores: the figures carry that noise)." if max(load) > 1.5 else "."),
        "",
        "| Run | Threads | Steps | Wall (s) | Cell updates/s | Mass-balance error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (dtype, threads), r in ours.items():
        lines.append(
            f"| cimtwin {dtype} | {threads} | {r['steps']} | {r['wall']:.2f} | {r['rate']:.3g} | "
            f"{r['mass_error']:.1e} |"
        )
    for (dtype, threads, order), r in full.items():
        ratio = r["rate"] / ours[(dtype, threads)]["rate"]
        lines.append(
            f"| cimtwin full SWE order {order}, {dtype} ({ratio:.2f}x the inertial) | {threads} | {r['steps']} | "
            f"{r['wall']:.2f} | {r['rate']:.3g} | {r['mass_error']:.1e} |"
        )
    if landlab is not None:
        lines.append(
            f"| Landlab OverlandFlow (float64, first {landlab['t_end']:g} s) | 1 | {landlab['steps']} | "
            f"{landlab['wall']:.2f} | {landlab['rate']:.3g} | {landlab['mass_error']:.1e} |"
        )
    full = full or {}
    lines.append("")
    if full:
        lines.append(
            'The full shallow-water solver (`kernels.swe`, `[numerics] scheme = "swe"`) runs the same problem '
            "in the same process: a step is one fused pass over the rows with an HLL Riemann solve per face (order 2: "
            "MUSCL-Hancock, the default), against one fused sweep for the inertial kernel; its step is also shorter "
            "(Courant number 0.45 on |u| + c). The ratio in each row is its cell updates per second over the "
            "inertial kernel's at the same dtype and threads."
        )
        lines.append("")
    best = max(ours.values(), key=lambda r: r["rate"])
    if landlab is not None:
        best_key = max(ours, key=lambda k: ours[k]["rate"])
        f64_1 = ours.get(("float64", 1))
        threads = "one thread" if best_key[1] == 1 else f"{best_key[1]} threads"
        lines.append(
            f"Speed-up over Landlab: {best['rate'] / landlab['rate']:.0f}x ({best_key[0]}, {threads})"
            + (f"; {f64_1['rate'] / landlab['rate']:.0f}x like for like (float64, one thread)." if f64_1 else ".")
        )
    else:
        lines.append("Landlab not installed: no peer figure in this run.")
    lines += [
        "",
        "Variance: the figures move a lot on this shared 2-core VM. Its memory bandwidth (a STREAM-like "
        "triad, timed in the same run below; 15 GB/s on one core and 14 GB/s on two when idle) does not grow "
        "with the second thread, so the two-thread rate is bounded by the bytes per cell and step (44 in "
        "float32 without the running maxima, 68 with them). During development, with "
        "other jobs on the cores, two threads gave 1.0-2.1e8 cell updates/s in float32, at times less than "
        "one thread: GNU OpenMP threads spin-wait for each other, and a descheduled one stalls every step "
        "(`NUMBA_THREADING_LAYER=workqueue` or `OMP_WAIT_POLICY=passive` held up better under load).",
        "",
        "Notes: float32 halves the memory traffic of the state and runs the fastest; its mass-balance error "
        "is float32 rounding of the depth updates (the volumes themselves are float64). Both codes solve the "
        "same equations with the same time-step rule, so a step is the same unit of work; Landlab is timed "
        "over a shorter stretch because the whole storm takes it many minutes, and its cost per step does not "
        "depend on the water state (it computes every link every step, wet or dry). Landlab here has no "
        "positivity limiter (its `steep_slopes` option clips instead), so its balance closes but depths may "
        f"dip below zero (its minimum: {landlab['h_min']:.1e} m)."
        if landlab is not None
        else "Notes: float32 halves the memory traffic of the state and runs the fastest; its mass-balance error "
        "is float32 rounding of the depth updates (the volumes themselves are float64).",
        "",
    ]
    return "\n".join(lines)


def demo_stages(args) -> str:
    """The demo scenario's stages against the bare kernel (``_flood_stages.py``), as markdown."""
    minutes = args.demo_minutes or (3.0 if args.quick else 10.0)
    with tempfile.TemporaryDirectory(prefix="bench-flood-demo-") as tmp:
        where = args.demo_dir or Path(tmp)
        tw, coupled, _, warm = demo_scenarios(where, 60.0 * minutes)
        for setting in (None, *args.demo_setting):  # compile (each setting's kernel too), start the threads
            record = warm.to_dict() if setting is None else _flood_stages.with_setting(warm.to_dict(), setting)
            flood_run(tw, Scenario.from_record(record), progress=False, scene=False)
        rows = _flood_stages.measure(tw, coupled, args.stage_repeats, settings=tuple(args.demo_setting))
        dt_stats = _flood_stages.dt_statistics(tw, coupled, [20.0 * minutes, 40.0 * minutes, 60.0 * minutes])
    cells = int(np.prod(tw.shape))
    return (
        "### The demo scenario against the bare kernel (same grid, same run)\n\n"
        f"The sample city of `twin demo` (4 m cells) and its `flood.toml` (60 mm/h, the river's flood wave, "
        f"Green-Ampt infiltration, the sewer network coupled every 5 s, 2 gauges), float32, "
        f"{numba.config.NUMBA_NUM_THREADS} threads (each call's sweep chosen by measured speed).\n\n"
        + _flood_stages.render(rows, cells, minutes, args.stage_repeats)
        + "\n\nTime-step statistics of the same scenario (the kernel on its grid, no sewer): each open cell's own "
        "Courant step against the global one (`_flood_stages.dt_levels`: what local time stepping could gain in "
        "cell updates, overheads aside).\n\n" + _flood_stages.render_dt_levels(dt_stats) + "\n"
    )


def _best_of(k: int, once) -> dict:
    """The fastest of ``k`` runs (the least disturbed by other work on the machine)."""
    return min((once() for _ in range(k)), key=lambda r: r["wall"])


def side_by_side(args) -> str | None:
    """ANUGA against cimtwin's solvers in the same run (``_anuga_side.py``); None without ANUGA."""
    python = _anuga_side.anuga_python(args.anuga_python)
    if python is None:
        print("ANUGA not found (see benchmarks/_anuga_side.py): no ANUGA figure in this run", flush=True)
        return None
    n, t_end = 100, (120.0 if args.quick else 300.0)
    ours, anuga = {}, {}
    for label, order in (("cimtwin full SWE order 2, float64", 2), ("cimtwin full SWE order 1, float64", 1)):
        ours[label] = _best_of(3, lambda order=order: run_ours(n, 2.0, t_end, np.float64, 1, order))
    ours["cimtwin local inertial, float64"] = _best_of(3, lambda: run_ours(n, 2.0, t_end, np.float64, 1))
    for algorithm, what in (("DE1", "second order, RK2"), ("DE0", "second order in space, Euler")):
        anuga_run = _anuga_side.run_anuga(python, n, t_end, algorithm)
        anuga[f"ANUGA {anuga_run['version']} {algorithm} ({what})"] = anuga_run
    for label, r in {**ours, **anuga}.items():
        print(f"{label}: {r['steps']} steps, {r['wall']:.2f} s, {r['rate']:.3g} updates/s", flush=True)
    return _anuga_side.render(ours, anuga, n, t_end, python)


def write_section(path: Path, text: str) -> None:
    """Replace (or append) our section of RESULTS.md, keeping the others; atomic."""
    replace_section(path, SECTION, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 x 500 cells, 300 s: a smoke run")
    parser.add_argument(
        "--landlab-seconds", type=float, default=None, help="simulated seconds for Landlab (default 300, quick 60)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "benchmarks" / "RESULTS.md",
        help="markdown file whose '## Flood kernel' section is (re)written",
    )
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    parser.add_argument("--no-swe", action="store_true", help="time the local-inertial kernel only")
    parser.add_argument("--no-install", action="store_true", help="do not pip-install Landlab when it is missing")
    parser.add_argument(
        "--threads-check",
        action="store_true",
        help="only compare 1 and 2 threads under each thread policy, idle and with a competing process "
        "(500 x 500 and 1000 x 1000 cells; --quick: shorter runs)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure of --threads-check (best kept)")
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="only time the GPU kernel (4000 x 4000 cells; --quick: 1000 x 1000) and name the card",
    )
    parser.add_argument(
        "--demo-minutes", type=float, default=None, help="simulated minutes of the demo scenario (default 10, quick 3)"
    )
    parser.add_argument("--stage-repeats", type=int, default=2, help="alternating rounds of the demo's stages")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo scenario's stages")
    parser.add_argument(
        "--demo-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also run the demo scenario with this setting (e.g. a time-stepping option), timed against it",
    )
    parser.add_argument("--demo-dir", type=Path, default=None, help="build (or reuse) the demo city here")
    parser.add_argument("--anuga-python", default=None, help="an interpreter that has ANUGA (see _anuga_side.py)")
    parser.add_argument("--no-anuga", action="store_true", help="skip ANUGA")
    parser.add_argument(
        "--time-step",
        action="store_true",
        help="only the demo scenario with the global and the local time step (ratio, levels; --quick: 300 s)",
    )
    parser.add_argument("--child", nargs=3, metavar=("N", "T_END", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _threads_check.child(int(args.child[0]), float(args.child[1]), int(args.child[2]), reference_problem, DT_MAX)
        return 0
    if args.gpu:
        n, t_end = (1000, 60.0) if args.quick else (4000, 300.0)
        r = gpu_check(n, t_end)
        text = render_gpu(r, n, t_end)
        print(text)
        if not args.no_write and r is not None:
            replace_section(args.results, "## Flood GPU", "## Flood GPU\n\n" + text)
        return 0 if r is not None else 1
    if args.time_step:
        import _bench_lts

        text = _bench_lts.render(_bench_lts.measure(300.0 if args.quick else 1200.0))
        print(text)
        if not args.no_write:
            replace_section(args.results, "## Flood time stepping", "## Flood time stepping\n\n" + text)
        return 0
    if args.threads_check:
        load0 = os.getloadavg()[0]
        ceiling = _threads_check.compute_ceiling(_bandwidth.compute_scaling)
        rows, spans = [], {}
        for n, t_end in _threads_check.grids(args.quick):
            spans[n] = t_end
            rows += _threads_check.measure(n, t_end, args.repeats, Path(__file__))
        text = _threads_check.render(rows, spans, args.repeats, machine(), (load0, os.getloadavg()[0]))
        text += (
            "\nCeiling in the same run: a compute-bound Numba loop (multiply-adds in registers, no memory "
            "traffic, `benchmarks/_bandwidth.py:compute_scaling`) ran at "
            + "; ".join(f"{k} {c[2] / c[1]:.2f}x on 2 threads against 1" for k, c in ceiling.items())
            + ": no kernel can gain more from the second thread than that.\n"
        )
        print(text)
        if not args.no_write:
            replace_section(args.results, "## Flood threads", "## Flood threads\n\n" + text)
        return 0
    n, t_end = (500, 300.0) if args.quick else (1000, 1800.0)
    landlab_t = args.landlab_seconds or (60.0 if args.quick else 300.0)
    load0 = os.getloadavg()[0]
    warm_up()
    ours = {}
    for dtype in (np.float32, np.float64):
        for threads in (1, 2):
            if threads > numba.config.NUMBA_NUM_THREADS:
                continue
            r = run_ours(n, 2.0, t_end, dtype, threads)
            ours[(np.dtype(dtype).name, threads)] = r
            print(
                f"cimtwin {np.dtype(dtype).name} x{threads}: {r['steps']} steps, {r['wall']:.2f} s, "
                f"{r['rate']:.3g} cell updates/s, mass error {r['mass_error']:.1e}",
                flush=True,
            )
    full = {}
    for dtype in (np.float32, np.float64):
        for threads in (1, 2):
            for order in (2, 1):
                if threads > numba.config.NUMBA_NUM_THREADS or args.no_swe:
                    continue
                r = run_ours(n, 2.0, t_end, dtype, threads, order)
                full[(np.dtype(dtype).name, threads, order)] = r
                print(
                    f"cimtwin full SWE order {order} {np.dtype(dtype).name} x{threads}: {r['steps']} steps, "
                    f"{r['wall']:.2f} s, {r['rate']:.3g} cell updates/s, mass error {r['mass_error']:.1e}",
                    flush=True,
                )
    landlab = run_landlab(n, 2.0, landlab_t, install=not args.no_install)
    if landlab is not None:
        print(
            f"Landlab: {landlab['steps']} steps in {landlab['wall']:.2f} s, {landlab['rate']:.3g} cell updates/s, "
            f"mass error {landlab['mass_error']:.1e}",
            flush=True,
        )
    bandwidth = _bandwidth.triad_bandwidth()
    print({k: f"{v / 1e9:.1f} GB/s" for k, v in bandwidth.items()}, flush=True)
    stages = None if args.no_demo else demo_stages(args)
    anuga = None if args.no_anuga else side_by_side(args)
    text = render(args, ours, landlab, (load0, os.getloadavg()[0]), n, t_end, full)
    text += "\n" + _bandwidth.render(ours, bandwidth)
    if stages is not None:
        text += "\n" + stages
    if anuga is not None:
        text += "\n" + anuga
    gn, gt = (1000, 60.0) if args.quick else (4000, 300.0)
    gpu = gpu_check(gn, gt)  # None (and nothing printed) on a machine without a GPU
    if gpu is not None:
        text += "\n" + render_gpu(gpu, gn, gt)
    print(text)
    if not args.no_write:
        write_section(args.results, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
