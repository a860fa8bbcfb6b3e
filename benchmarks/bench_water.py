"""Water allocation: a generated 500-node supply network over 30 years of daily steps, 1 and 4 members,
and pywr (1.x, GLPK) on the same network when it is installed.

    .venv/bin/python benchmarks/bench_water.py            # 30 years, 1 and 4 members, pywr; writes RESULTS.md
    .venv/bin/python benchmarks/bench_water.py --years 1 --no-write

The process pins itself to one core (the target is for one core); ``--all-cores`` does not.

The network (seeded): 20 reservoirs (seasonal guide curve, buffer zone, evaporation), 40 river
abstraction points (step and annual licences), 20 groundwater nodes, 40 treatment works (capacity),
20 environmental flows below the reservoirs (priority 0) and 360 demands of priorities 1-3 with
monthly profiles, each fed by two works through lossy pipes. Inflows are seasonal log-normal AR(1)
traces, so some summers are short of water and the priority levels come into play.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = 86400.0
N_RES, N_ABS, N_GW, N_WORKS, N_ENV, N_DEM = 20, 40, 20, 40, 20, 360


def synthetic_network(years: int = 30, seed: int = 0, members: int = 1) -> tuple[dict, pd.DataFrame]:
    """A 500-node water scenario (dict of the TOML's shape) and its daily series."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("1991-01-01")
    days = pd.date_range(start, start + pd.DateOffset(years=years), freq="D", inclusive="left")
    np.arange(days.size)
    season = 1.0 + 0.7 * np.cos(2 * np.pi * (days.day_of_year.to_numpy() - 60) / 365.25)
    series: dict[str, np.ndarray] = {}

    def trace(name: str, mean: float) -> str:
        z = np.empty(days.size)
        e = rng.standard_normal(days.size) * np.sqrt(1 - 0.95**2)
        z[0] = e[0]
        for i in range(1, days.size):  # AR(1), lag-1 correlation 0.95: wet and dry spells of weeks
            z[i] = 0.95 * z[i - 1] + e[i]
        series[name] = mean * season * np.exp(0.6 * z - 0.18)
        return name

    nodes: list[dict] = []
    links: list[dict] = []
    monthly = list(np.round(1 + 0.25 * np.cos(2 * np.pi * (np.arange(12) - 6) / 12), 3))
    for i in range(N_RES):
        cap = float(rng.uniform(20, 60)) * 1e6
        nodes.append(
            {
                "name": f"res{i}",
                "type": "reservoir",
                "capacity": cap,
                "initial": 0.7 * cap,
                "inflow": trace(f"res{i}_in", float(rng.uniform(4, 10))),
                "evaporation": 3.0,
                "table": [[0.0, 0.0, 100.0], [cap, cap / 15.0, 115.0]],
                "zones": {
                    "conservation": [[1, 0.85], [120, 1.0], [270, 1.0], [330, 0.85]],
                    "buffer": 0.3,
                    "inactive": 0.1,
                    "buffer_coef": 0.1,
                },
            }
        )
        nodes.append({"name": f"env{i}", "type": "env_flow", "demand": float(rng.uniform(0.5, 1.0))})
        links.append({"from": f"res{i}", "to": f"env{i}", "river": True})
    for i in range(N_ABS):
        nodes.append(
            {
                "name": f"abs{i}",
                "type": "abstraction",
                "inflow": trace(f"abs{i}_in", float(rng.uniform(2, 6))),
                "licence": float(rng.uniform(2, 4)),
            }
        )
    for i in range(N_GW):
        cap = float(rng.uniform(50, 100)) * 1e6
        nodes.append(
            {
                "name": f"gw{i}",
                "type": "groundwater",
                "capacity": cap,
                "initial": 0.5 * cap,
                "inflow": float(rng.uniform(0.5, 1.5)),
                "licence_annual": float(rng.uniform(1, 2)) * 365 * DAY,
            }
        )
    for i in range(N_WORKS):
        nodes.append({"name": f"wtw{i}", "type": "works", "capacity": float(rng.uniform(8, 15))})
        for r in rng.choice(N_RES, 2, replace=False):
            links.append(
                {
                    "from": f"res{r}",
                    "to": f"wtw{i}",
                    "capacity": float(rng.uniform(4, 10)),
                    "loss": 0.02,
                    "cost": float(rng.uniform(1, 3)),
                }
            )
        links.append(
            {
                "from": f"abs{i}",
                "to": f"wtw{i}",
                "capacity": float(rng.uniform(3, 6)),
                "loss": 0.02,
                "cost": float(rng.uniform(0.5, 1.5)),
            }
        )
        links.append({"from": f"gw{i // 2}", "to": f"wtw{i}", "capacity": 2.0, "cost": float(rng.uniform(2, 4))})
    for i in range(N_DEM):
        nodes.append(
            {
                "name": f"dem{i}",
                "type": "demand",
                "demand": float(rng.uniform(0.3, 0.9)),
                "priority": int(rng.integers(1, 4)),
                "monthly": monthly,
                "use": ["domestic", "industrial", "agricultural"][i % 3],
            }
        )
        for w in rng.choice(N_WORKS, 2, replace=False):
            links.append(
                {
                    "from": f"wtw{w}",
                    "to": f"dem{i}",
                    "capacity": float(rng.uniform(0.5, 1.5)),
                    "loss": float(rng.uniform(0.0, 0.1)),
                    "cost": float(rng.uniform(1, 2)),
                }
            )
    member_defs = [
        {"name": "base"},
        {"name": "growth", "demand": 1.15},
        {"name": "dry", "inflow": 0.8},
        {"name": "dry_growth", "demand": 1.15, "inflow": 0.8},
    ][:members]
    scenario = {
        "name": "bench500",
        "start": str(days[0].date()),
        "end": str((days[-1] + pd.Timedelta(days=1)).date()),
        "step": "1d",
        "node": nodes,
        "link": links,
        "member": member_defs,
    }
    return scenario, pd.DataFrame(series, index=days)


def run_cimtwin(scenario: dict, series: pd.DataFrame) -> dict:
    from twin.sims.water.run import run

    t0 = time.perf_counter()
    r = run(None, scenario, series=series)
    total = time.perf_counter() - t0
    s = r.summary
    return {
        "total_s": total,
        "wall_s": s["wall_s"],
        "build_s": s["build_s"],
        "steps": s["steps"],
        "members": len(s["members"]),
        "ms_per_step": s["wall_per_step_ms"],
        "ms_per_member_step": s["wall_per_member_step_ms"],
        "lp_per_step": s["lp_per_step"],
        "balance": s["mass_balance_max_rel_error"],
        "delivered_pct": s["delivered_pct"],
        "short_steps_pct": float(100 * np.mean((r.demand - r.delivered).max(axis=2) > 1e-9)),
    }


def build_pywr(scenario: dict, series: pd.DataFrame):
    """The same network in pywr (one member). Volumes in days of 1 m3/s, flows in m3/s, daily step.

    Same nodes, link capacities, losses (pywr ``LossLink``, gross factor), licences (annual ones as
    ``AnnualVirtualStorage``), demands with monthly profiles and environmental flows (``RiverGauge``
    minimum residual flow). Differences: pywr allocates by costs in one LP per step (priority p costs
    -10^(4-p), env flows -10^5, storage -1e-3 to keep water, link cost 1e-5 x cost; no equal-percentage
    sharing); no guide curves, buffer zone or evaporation on its reservoirs (pywr needs control-curve
    parameters for those); each capacity-limited link is a pywr ``Link``/``LossLink`` node.
    """
    from pywr.core import Model
    from pywr.nodes import (
        AnnualVirtualStorage,
        Catchment,
        Link,
        LossLink,
        Output,
        RiverGauge,
        Storage,
    )
    from pywr.parameters import (
        ConstantParameter,
        DataFrameParameter,
        MonthlyProfileParameter,
    )

    days = series.index
    model = Model(start=days[0], end=days[-1], timestep=1)
    node: dict[str, object] = {}
    max_cost = max(link.get("cost", 1.0) for link in scenario["link"])
    for spec in scenario["node"]:
        name, kind = spec["name"], spec["type"]

        def inflow(value):
            return (
                DataFrameParameter(model, series[value])
                if isinstance(value, str)
                else ConstantParameter(model, float(value))
            )

        if kind in ("reservoir", "groundwater"):
            st = Storage(
                model, name, max_volume=spec["capacity"] / DAY, initial_volume=spec["initial"] / DAY, cost=-1e-3
            )
            c = Catchment(model, f"{name}_in", flow=inflow(spec["inflow"]))
            c.connect(st)
            if kind == "groundwater" or not any(l["from"] == name and l.get("river") for l in scenario["link"]):
                spill = Output(model, f"{name}_spill", cost=0.0)
                st.connect(spill)
            node[name] = st
        elif kind == "abstraction":
            c = Catchment(model, f"{name}_in", flow=inflow(spec["inflow"]))
            out = Output(model, f"{name}_bypass", cost=0.0)
            a = Link(model, name, max_flow=spec.get("licence", np.inf) if "licence" in spec else None)
            c.connect(out)
            c.connect(a)
            node[name] = a
        elif kind == "works":
            node[name] = Link(model, name, max_flow=spec["capacity"])
        elif kind == "demand":
            prof = MonthlyProfileParameter(model, [spec["demand"] * f for f in spec["monthly"]])
            node[name] = Output(model, name, max_flow=prof, cost=-(10.0 ** (4 - spec["priority"])))
        elif kind == "env_flow":
            g = RiverGauge(model=model, name=name, mrf=spec["demand"], mrf_cost=-1e5, cost=0.0)
            term = Output(model, f"{name}_out", cost=0.0)
            g.connect(term)
            node[name] = g
    leaving: dict[str, list] = {}  # the link nodes leaving each node (for annual licences)
    for i, link in enumerate(scenario["link"]):
        a, b = node[link["from"]], node[link["to"]]
        if link.get("river"):
            a.connect(b)
            continue
        loss, cap = link.get("loss", 0.0), link.get("capacity")
        cost = 1e-5 * link.get("cost", 1.0) / max_cost
        if loss > 0:
            mid = LossLink(
                model,
                f"link{i}",
                loss_factor=loss,
                loss_factor_type="gross",
                max_flow=None if cap is None else cap * (1 - loss),
                cost=cost,
            )
        else:
            mid = Link(model, f"link{i}", max_flow=cap, cost=cost)
        a.connect(mid)
        mid.connect(b)
        leaving.setdefault(link["from"], []).append(mid)
    for spec in scenario["node"]:
        if "licence_annual" in spec:
            AnnualVirtualStorage(
                model=model,
                name=f"{spec['name']}_licence",
                nodes=leaving[spec["name"]],
                initial_volume=spec["licence_annual"] / DAY,
                max_volume=spec["licence_annual"] / DAY,
            )
    return model


def run_pywr(scenario: dict, series: pd.DataFrame) -> dict:
    t0 = time.perf_counter()
    model = build_pywr(scenario, series)
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    model.setup()
    setup = time.perf_counter() - t1
    t2 = time.perf_counter()
    stats = model.run()
    wall = time.perf_counter() - t2
    steps = series.index.size
    return {
        "build_s": build,
        "setup_s": setup,
        "wall_s": wall,
        "steps": steps,
        "ms_per_step": 1e3 * wall / steps,
        "solver": str(model.solver.name) if hasattr(model.solver, "name") else type(model.solver).__name__,
        "stats": str(stats)[:200],
    }


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--years", type=int, default=30)
    ap.add_argument("--members", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--pywr-days", type=int, default=365, help="steps pywr runs (0: skip pywr)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")
    args = ap.parse_args()
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        # the target is for one core: HiGHS and NumPy threads then share it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    load_before = _load()
    rows = {}
    for m in args.members:
        scenario, series = synthetic_network(args.years, members=m)
        rows[m] = run_cimtwin(scenario, series)
        print(f"cimtwin, {m} member(s):", rows[m], flush=True)
    pywr_row = None
    if args.pywr_days:
        try:
            import pywr
        except ImportError:
            print("pywr is not installed; skipped")
        else:
            scenario, series = synthetic_network(args.years, members=1)
            pywr_row = run_pywr(scenario, series.iloc[: args.pywr_days])
            # the same steps in cimtwin, for a like-for-like time per step
            short = dict(scenario, end=str((series.index[args.pywr_days - 1] + pd.Timedelta(days=1)).date()))
            pywr_row["cimtwin_same_steps"] = run_cimtwin(short, series)
            print("pywr:", pywr_row, flush=True)
    load_after = _load()
    if args.no_write:
        return
    from benchmarks._results import replace_section

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lines = [
        "## Water resources",
        "",
        (
            f"`.venv/bin/python benchmarks/bench_water.py --years {args.years} "
            f"--members {' '.join(map(str, args.members))} --pywr-days {args.pywr_days}` (commit {commit}; "
            + ("all cores" if args.all_cores else "pinned to one core")
            + f"; load average before {load_before}, after {load_after}, on the 2-core machine)."
        ),
        "",
        (
            "Generated network: 500 nodes (20 reservoirs with seasonal guide curve, buffer zone and evaporation; "
            "40 river abstractions with licences; 20 groundwater nodes with annual licences; 40 works; 20 "
            "environmental flows; 360 demands in priorities 1-3 with monthly profiles), "
            f"{len(synthetic_network(1)[0]['link'])} links with capacities and losses; daily steps from 1991; "
            "inflows are seasonal log-normal AR(1) traces. Members: base, demand x 1.15, inflow x 0.8, both. "
            "Per member, one HiGHS model per kind of LP (a level's total, a level's common fraction), each "
            "with a fixed objective and warm-started from its own last basis."
        ),
        "",
        (
            "| run | steps | members | wall [s] | ms / step | ms / member-step | LPs / member-step | short steps | "
            "max balance error |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m, r in rows.items():
        lines.append(
            f"| cimtwin | {r['steps']} | {m} | {r['wall_s']:.1f} | {r['ms_per_step']:.2f} | "
            f"{r['ms_per_member_step']:.2f} | {r['lp_per_step']:.2f} | {r['short_steps_pct']:.0f} % | "
            f"{r['balance']:.1e} |"
        )
    one = rows.get(1)
    if one is not None:
        verdict = "met" if one["wall_s"] < 60 else "not met"
        lines += [
            "",
            (
                f"One member, {one['steps']} steps: {one['wall_s']:.1f} s, {one['ms_per_step']:.2f} ms per step "
                f"({one['lp_per_step']:.2f} LPs per step, {one['ms_per_step'] / one['lp_per_step']:.2f} ms per LP "
                f"with the step's own work); target < 60 s on one core: {verdict}."
            ),
        ]
        for m, r in rows.items():
            if m > 1:
                lines.append(
                    f"{m} members: {r['wall_s'] / one['wall_s']:.2f} x one member's time for {m} x its steps "
                    f"({r['lp_per_step'] / one['lp_per_step']:.2f} x its LPs per member-step: the drier and "
                    "growing members are short more often); time per LP "
                    f"{r['ms_per_member_step'] / r['lp_per_step']:.2f} ms against "
                    f"{one['ms_per_step'] / one['lp_per_step']:.2f} ms."
                )
    if pywr_row is not None:
        c = pywr_row["cimtwin_same_steps"]
        lines += [
            "",
            (
                f"pywr {pywr.__version__} ({pywr_row['solver']}) on the same network for the first "
                f"{pywr_row['steps']} days (one member): model build {pywr_row['build_s']:.1f} s, "
                f"`setup()` {pywr_row['setup_s']:.1f} s, run {pywr_row['wall_s']:.1f} s = "
                f"{pywr_row['ms_per_step']:.1f} ms / step; cimtwin on the same days: build {c['build_s']:.2f} s, "
                f"{c['ms_per_step']:.2f} ms / step. Ratio pywr / cimtwin per step: "
                f"{pywr_row['ms_per_step'] / c['ms_per_step']:.1f}; first step including set-up: "
                f"{(pywr_row['build_s'] + pywr_row['setup_s']) / max(c['total_s'] - c['wall_s'], 1e-9):.0f} x. "
                "What differs in pywr: see `build_pywr`'s docstring (cost-weighted single LP, no "
                "equal-percentage sharing, no guide curves, buffer or evaporation)."
            ),
        ]
    replace_section(ROOT / "benchmarks" / "RESULTS.md", "## Water resources", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
