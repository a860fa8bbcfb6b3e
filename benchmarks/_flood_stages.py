"""Where a flood scenario's time goes: the bare kernel against the scenario's run, one stage at a time.

On the same twin and the same first minutes of a scenario, in one process, each variant adds one
stage to the one before:

1. the bare kernel: one ``advance`` call over the whole stretch, the scenario's grid without its
   losses (no infiltration, no drainage capacity), its rain and inflows, no running maxima;
2. running maxima, hazard and flood timing (``FloodAccum``);
3. infiltration (and drainage capacity): the scenario's own grid;
4. the stops of a run without a sewer network: a call per gauge row and snapshot, nothing done there
   (each call told so, ``changed`` empty, as the run loop does);
5. ``run`` with its snapshots off (gauges, the loop, the volumes; the result is built, not written);
6. ``run`` with its snapshots (depth and speed frames);
7. ``run`` of the scenario itself: with a ``[drainage]`` table, SWMM coupled at every exchange.

Throughput = grid cells x steps / wall seconds (blocked cells included, as the kernel sweeps them);
the ``run`` variants count the loop's wall and CPU time (``summary["wall_seconds"]``,
``summary["cpu_seconds"]``: the set-up before it and the result after it are not counted, but reported
apart as the fixed cost; nothing is written to disk). Variants alternate round by
round, and each keeps its best round (the least disturbed by other work on the machine); the CPU
time of the process (all threads) is reported beside it. A stage's cost is the difference of two
consecutive variants' nanoseconds per cell update.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np

from kernels.flood import FloodAccum
from twin.model import Twin
from twin.sims.flood.forcing import setup
from twin.sims.flood.run import run
from twin.sims.flood.scenario import Scenario
from twin.sims.flood.schemes import new_state, stepper


def stop_times(scenario: Scenario) -> np.ndarray:
    """The times a run without a sewer network stops at: gauge rows, snapshots and the end."""
    d = scenario.duration
    intervals = [scenario.output_interval, scenario.output.gauge_interval]
    times = [np.arange(1, int(np.floor(d / i + 1e-9)) + 1) * i for i in intervals]
    return np.unique(np.round(np.concatenate([*times, [d]]), 9))


def _kernel_variant(tw: Twin, scenario: Scenario, *, accum: bool, losses: bool, stops: bool) -> Callable[[], dict]:
    """A timed run of the kernel alone on the scenario's inputs (see the module's stages 1-4)."""
    s = setup(tw, scenario)
    grid = s.grid if losses else s.grid._replace(infil_kind=0, drain_cap=np.zeros_like(s.grid.drain_cap))
    advance, params = stepper(scenario, s.params)
    ends = stop_times(scenario) if stops else np.array([scenario.duration])

    def once() -> dict:
        state = new_state(scenario, s.h0.astype(scenario.numerics.dtype))
        acc = FloodAccum.zeros(state.h.shape) if accum else None
        steps = 0
        nothing = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        t0, c0 = time.perf_counter(), time.process_time()
        for k, t in enumerate(ends):
            # as the run loop: after the first call, nothing changed between calls (no whole-grid check)
            kw = {"changed": nothing} if k and scenario.numerics.scheme == "inertial" else {}
            st = advance(state, grid, s.forcing, params, float(t), acc, **kw)
            if st.status:
                raise RuntimeError(f"kernel status {st.status}")
            steps += st.steps
        return {"steps": steps, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}

    return once


def _run_variant(tw: Twin, scenario: Scenario) -> Callable[[], dict]:
    """A timed ``run`` of the scenario: its loop's wall and CPU time (``fixed_cpu``: the CPU time of the
    set-up before the loop and the result built after it, which do not grow with the run's length)."""

    def once() -> dict:
        c0 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = run(tw, scenario, progress=False, scene=False).summary
        whole = time.process_time() - c0
        cpu = summary["cpu_seconds"]
        return {"steps": summary["steps"], "wall": summary["wall_seconds"], "cpu": cpu, "fixed_cpu": whole - cpu}

    return once


def with_setting(record: dict, setting: str) -> dict:
    """A copy of a scenario record with one ``dotted.key=value`` setting (value as TOML, else a string)."""
    import tomllib

    key, _, text = setting.partition("=")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    out = dict(record)
    node = out
    *path, last = key.strip().split(".")
    for part in path:
        node[part] = dict(node.get(part) or {})
        node = node[part]
    node[last] = value
    return out


def variants(tw: Twin, scenario: Scenario, settings: tuple[str, ...] = ()) -> list[tuple[str, Callable[[], dict]]]:
    """The stages' variants on ``scenario`` (a flood scenario; its ``[drainage]`` table, if any, is
    the last stage), each as (label, a function that runs it once and returns steps, wall, cpu).

    Each of ``settings`` (``dotted.key=value``, e.g. a time-stepping option) adds a last row: the whole
    scenario run with that setting, so a change is timed against the scenario in the same run.
    """
    record = scenario.to_dict()
    plain = {k: v for k, v in record.items() if k != "drainage"}
    no_frames = {**plain, "output": {**plain.get("output", {}), "snapshots": False}}
    plain_sc, no_frames_sc = (Scenario.from_record(r) for r in (plain, no_frames))
    out = [
        (
            "bare kernel (one call, no losses, no maxima)",
            _kernel_variant(tw, plain_sc, accum=False, losses=False, stops=False),
        ),
        ("+ running maxima, hazard, timing", _kernel_variant(tw, plain_sc, accum=True, losses=False, stops=False)),
        ("+ infiltration", _kernel_variant(tw, plain_sc, accum=True, losses=True, stops=False)),
        ("+ stops at the gauge and snapshot times", _kernel_variant(tw, plain_sc, accum=True, losses=True, stops=True)),
        ("+ run loop, gauges, volumes (`run`, snapshots off)", _run_variant(tw, no_frames_sc)),
        ("+ snapshots (`run` without a sewer network)", _run_variant(tw, plain_sc)),
    ]
    if scenario.drainage.inp is not None:
        out.append(("+ sewer coupling: the scenario itself (`run`)", _run_variant(tw, scenario)))
    for setting in settings:
        changed = Scenario.from_record(with_setting(record, setting))
        out.append((f"the scenario with `{setting}` (`run`)", _run_variant(tw, changed)))
    return out


def measure(
    tw: Twin, scenario: Scenario, repeats: int, log: Callable[[str], None] = print, settings: tuple[str, ...] = ()
) -> list[dict]:
    """Each variant ``repeats`` times, alternating; the best round of each, with its rate and CPU time."""
    cells = int(np.prod(tw.shape))
    todo = variants(tw, scenario, settings)
    best: dict[str, dict] = {}
    for k in range(repeats):
        for label, once in todo:
            r = once()
            r["ns"] = 1e9 * r["wall"] / max(cells * r["steps"], 1)
            r["cpu_ns"] = 1e9 * r["cpu"] / max(cells * r["steps"], 1)
            log(f"  round {k + 1}: {label}: {r['steps']} steps, {r['wall']:.2f} s, {r['ns']:.2f} ns per cell update")
            if label not in best or r["ns"] < best[label]["ns"]:
                best[label] = r
    rows = []
    for i, (label, _) in enumerate(todo):
        r = best[label]
        rows.append({"stage": label, **r, "rate": 1e9 / r["ns"], "setting": i >= len(todo) - len(settings)})
    return rows


def render(rows: list[dict], cells: int, minutes: float, repeats: int) -> str:
    """The stage table, as markdown, with the scenario's ratio to the bare kernel in wall and in CPU time."""
    bare = rows[0]
    lines = [
        "| Variant (each adds one stage) | Steps | Wall (s) | Cell updates/s | ns per cell update | CPU ns per cell "
        "update | Stage cost, CPU ns | Ratio to the bare kernel | Ratio, CPU time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fixed = "/".join(f"{r['fixed_cpu']:.2f}" for r in rows if "fixed_cpu" in r and not r.get("setting")) or "-"
    base = [r for r in rows if not r.get("setting")]
    last = base[-1]
    prev = None
    for r in rows:
        # a setting's row is against the scenario itself, not the row above
        prev = last if r.get("setting") else prev
        cost = "" if prev is None else f"{r['cpu_ns'] - prev['cpu_ns']:+.1f}"
        lines.append(
            f"| {r['stage']} | {r['steps']} | {r['wall']:.2f} | {r['rate']:.3g} | {r['ns']:.1f} | {r['cpu_ns']:.1f} | "
            f"{cost} | {r['rate'] / bare['rate']:.2f} | {bare['cpu_ns'] / r['cpu_ns']:.2f} |"
        )
        prev = r
    lines += [
        "",
        f"{cells:,} cells, the first {minutes:g} simulated minutes; best of {repeats} alternating rounds per variant. "
        "Each variant adds one stage to the row above; throughput = grid cells x steps / wall seconds (blocked "
        "cells included); the `run` rows count the loop's wall and CPU time (set-up and result building "
        f"excluded, nothing written; they cost {fixed} s CPU per call, whatever the run's length). CPU: the "
        "process's CPU time, all threads (on a loaded machine "
        "the steadier measure); stage cost: the difference of CPU ns per cell update from the row above "
        "(negative: within the noise). "
        f"**Scenario throughput: {last['rate'] / bare['rate']:.0%} of the bare kernel in wall time, "
        f"{bare['cpu_ns'] / last['cpu_ns']:.0%} in CPU time** (issue #22's target: 80 %).",
    ]
    for r in rows:
        if r.get("setting"):
            lines[-1] += (
                f" {r['stage'][0].upper()}{r['stage'][1:].removesuffix(' (`run`)')}: {last['ns'] / r['ns']:.2f}x the scenario's "
                f"cell updates per second, {last['wall'] / r['wall']:.2f}x its speed in wall time "
                f"({r['steps']} steps against {last['steps']}), stage cost against the scenario's row."
            )
    return "\n".join(lines)


def dt_levels(h: np.ndarray, blocked: np.ndarray, dx: float, alpha: float, g: float, dt_max: float, levels: int = 6):
    """How the cells' own Courant steps spread above the global one: the room for local time stepping.

    Each open cell's step is ``alpha dx / sqrt(g h)`` (``dt_max`` where it is dry or that is longer); the global
    step is the smallest. Level k holds the cells whose own step is at least 2^k global steps (the top level
    all above); a scheme stepping each level at its own 2^k would do ``sum(n_k / 2^k)`` cell updates where the
    global step does ``sum(n_k)``: their ratio is the most local time stepping can gain on this state.

    Returns
    -------
    dict
        ``dt_global`` [s], ``counts`` (cells per level), ``gain`` (the work ratio) and the median cell step.
    """
    open_ = blocked == 0
    depth = np.where(open_, h.astype(np.float64), 0.0)
    with np.errstate(divide="ignore"):
        own = np.minimum(alpha * dx / np.sqrt(g * depth), dt_max)
    own = own[open_]
    dt_global = float(own.min())
    k = np.minimum(np.floor(np.log2(own / dt_global)).astype(np.int64), levels - 1)
    counts = np.bincount(k, minlength=levels)
    work = float(np.sum(counts / 2.0 ** np.arange(levels)))
    return {"dt_global": dt_global, "counts": counts, "gain": own.size / work, "median": float(np.median(own))}


def render_dt_levels(stats: dict[float, dict], levels: int = 6) -> str:
    """The time-step statistics at several times of a run, as markdown."""
    head = ", ".join(f"{2**k}x" if k < levels - 1 else f">= {2**k}x" for k in range(levels))
    lines = [
        f"| Time (s) | Global step (s) | Median cell step (s) | Share of the open cells at {head} the global step "
        "| Most LTS can gain |",
        "|---:|---:|---:|---|---:|",
    ]
    for t, st in stats.items():
        total = st["counts"].sum()
        shares = ", ".join(f"{c / total:.1%}" for c in st["counts"])
        lines.append(f"| {t:g} | {st['dt_global']:.3g} | {st['median']:.3g} | {shares} | {st['gain']:.1f}x |")
    return "\n".join(lines)


def dt_statistics(tw: Twin, scenario: Scenario, times: list[float]) -> dict[float, dict]:
    """:func:`dt_levels` of the scenario's state at ``times`` (the kernel on its grid and forcing, no sewer)."""
    s = setup(tw, scenario)
    advance, params = stepper(scenario, s.params)
    state = new_state(scenario, s.h0.astype(scenario.numerics.dtype))
    out = {}
    for t in times:
        advance(state, s.grid, s.forcing, params, float(t))
        out[t] = dt_levels(state.h, np.asarray(s.grid.blocked), s.grid.dx, params.alpha, params.g, params.dt_max)
    return out
