"""The live twin on the sample city: one forecast cycle timed per stage, and the replay's CSI table.

``--speed`` (default): the sample city (``--sizes``: 2 km, then 800 m) ingested on a 4 m grid, its
recorded storm, a cheap first cycle (compiles the kernel, makes the hot-start state; untimed), then one
cycle 12 minutes later with 8 members and a 2-hour lead on a LocalCluster of ``--workers`` processes:
wall and CPU seconds of ingest, hot start, nowcast, members, publishing (maps, per-building forecast,
warnings, the folder and its scene). The cluster's start and the workers' warm-up are reported apart
(a live twin keeps them up between cycles).

``--replay``: the recorded storm replayed on the sample city (``--replay-cell``, 8 m by default),
a cycle every 12 minutes while the cell comes and goes; CSI of the flooded area (max depth since now
> 0.15 m) at each lead time for the forecast (median member), persistence of the last radar frame
and no further rain, against the run that saw the whole observed rain.

Usage::

    .venv/bin/python benchmarks/bench_forecast.py --write              # speed, into RESULTS.md
    .venv/bin/python benchmarks/bench_forecast.py --replay --write     # the CSI table
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _results import replace_section  # noqa: E402

from twin import sample  # noqa: E402
from twin.live.config import ForecastConfig  # noqa: E402
from twin.live.cycle import Forecaster  # noqa: E402
from twin.live.verify import replay_skill  # noqa: E402
from twin.model.build import from_files  # noqa: E402
from twin.sample.storm import recorded_storm  # noqa: E402

SPEED = "## Live twin: one forecast cycle"
REPLAY = "## Live twin: replay skill (CSI)"


def city_twin(work: Path, size: float, cell: float):
    city = sample.city(work / "city", size_m=size, cell=2.0 if cell >= 4 else cell)
    return from_files(
        city.dem,
        buildings=f"{city.layers}::buildings",
        rivers=f"{city.layers}::rivers",
        lakes=f"{city.layers}::lakes",
        landuse=f"{city.layers}::landuse",
        resolution=cell,
    )


def _one_cycle(args, work: Path, size: float) -> dict:
    """One timed cycle on the ``size`` m city (after an untimed first one): its record, the twin's shape
    and buildings, and the cluster's start and warm-up (once per live twin, not per cycle)."""
    tw = city_twin(work, size, args.cell)
    storm = recorded_storm(work / "storm", tw)
    base = ForecastConfig.coerce(storm.config)
    warm = base.model_copy(update={"lead_times": [360.0], "members": 2, "workers": 0})
    with Forecaster(tw, warm, storm.obs, work / "fc") as fc:
        fc.cycle(storm.start + 48 * 60)
    leads = [v for v in (1800.0, 3600.0) if v < args.lead] + [args.lead]
    full = base.model_copy(
        update={"members": args.members, "lead_times": leads, "workers": args.workers, "numerics": _numerics(args)}
    )
    t, c = time.perf_counter(), time.process_time()
    with Forecaster(tw, full, storm.obs, work / "fc") as fc:
        start = (time.perf_counter() - t, time.process_time() - c)
        res = fc.cycle(storm.start + 60 * 60)
    return {"record": res.record, "shape": tw.shape, "buildings": len(tw.buildings), "start": start}


def _numerics(args) -> dict:
    """The members' ``[numerics]`` (the forecast file's): ``--time-stepping`` when given, else the default."""
    return {"time_stepping": args.time_stepping} if args.time_stepping else {}


def _stage(record: dict, key: str, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of a stage (publishing: the products and the folder; members and the nowcast
    on workers: their own CPU and this process's while it waited)."""
    tm, cpu = record["timings"], record["cpu_seconds"]
    if key == "publishing":
        return tm["products"] + tm["publishing"], cpu["products"] + cpu["publishing"]
    if key == "members" and workers:
        return tm["members"], cpu["members"] + sum(cpu["members_own"])
    if key == "nowcast":  # on a worker while the hot start ran: its own CPU there, and the wait here
        return tm[key], cpu[key] + cpu.get("nowcast_own", 0.0)
    return tm[key], cpu[key]


def _stepping(runs: dict) -> str:
    """The members' time stepping in the cycles' records."""
    return "/".join(sorted({r["record"]["member_numerics"]["time_stepping"] for r in runs.values()}))


def _load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def speed(args, work: Path) -> str:
    sizes = [float(v) for v in args.sizes.split(",")]
    load0 = _load()
    runs = {size: _one_cycle(args, work / f"city{size:g}", size) for size in sizes}
    load1 = _load()
    stages = [
        ("ingest", "ingest (observations read and checked, gauges, setup)"),
        ("hot_start", "hot start (12 min of radar) and nudging"),
        ("nowcast", "nowcast (pysteps STEPS on the radar grid)"),
        ("members", "members"),
        ("publishing", "publishing (maps, per-feature forecast, warnings, folder, scene)"),
    ]
    head = "| stage | " + " | ".join(f"{s:g} m: wall s | {s:g} m: CPU s" for s in sizes) + " |"
    lines = [
        SPEED,
        "",
        f"`benchmarks/bench_forecast.py --sizes {args.sizes}`: the sample city on a {args.cell:g} m grid, its recorded "
        f"storm, one cycle at 09:00 after an untimed one at 08:48, {args.members} members, longest lead "
        f"{args.lead / 60:g} min, the base scenario's numerics (float32 local-inertial kernel), the members' time "
        f"stepping {_stepping(runs)}, a LocalCluster of "
        f"{args.workers} worker processes x 1 Numba thread. Wall seconds, and CPU seconds: this process's for each "
        "stage, and for the members the sum of the members' own CPU on the workers. Load average before and after "
        f"(1, 5, 15 min): {load0} / {load1}.",
        "",
    ]
    for size, r in runs.items():
        rec = r["record"]
        lines.append(
            f"- {size:g} m: {r['shape'][0]} x {r['shape'][1]} cells, {r['buildings']} buildings; hot start "
            f"{rec['balance']['steps']} steps; nowcast `{rec['nowcast']['method']}`; members' CPU "
            + ", ".join(f"{v:.0f}" for v in rec["cpu_seconds"]["members_own"])
            + f" s; balance error {rec['balance']['mass_balance_error']:.1e}; buildings warned {rec['buildings_warned']}."
        )
    lines += ["", head, "|---|" + "---|---|" * len(sizes)]
    table = {key: [_stage(r["record"], key, args.workers) for r in runs.values()] for key, _ in stages}
    for key, label in stages:
        lines.append(f"| {label} | " + " | ".join(f"{w:.1f} | {c:.1f}" for w, c in table[key]) + " |")
    cycle = [
        (r["record"]["timings"]["total"], sum(table[k][i][1] for k, _ in stages)) for i, r in enumerate(runs.values())
    ]
    lines.append("| **cycle** | " + " | ".join(f"**{w:.1f}** | {c:.1f}" for w, c in cycle) + " |")
    lines.append(
        "| cluster start and warm-up (once, kept between cycles) | "
        + " | ".join(f"{r['start'][0]:.1f} | {r['start'][1]:.1f}" for r in runs.values())
        + " |"
    )
    lines += ["", args.note]
    return "\n".join(lines) + "\n"


def dtype_check(args, work: Path) -> str:
    """CPU seconds of one member in float32 and float64 (the forecast ran float64 whatever the base said
    before it took the base's numerics), interleaved ``--repeats`` times on the ``--size`` city."""
    tw = city_twin(work, args.size, args.cell)
    storm = recorded_storm(work / "storm", tw)
    base = ForecastConfig.coerce(storm.config)
    cpu: dict[str, list[float]] = {"float32": [], "float64": []}
    for k in range(args.repeats):
        for dtype in cpu:
            b = dict(ForecastConfig.coerce(storm.config).base)  # a dict base: the TOML's table
            b["numerics"] = {"dtype": dtype}
            cfg = base.model_copy(update={"base": b, "members": 1, "workers": 0, "lead_times": [args.lead]})
            with Forecaster(tw, cfg, storm.obs, work / f"fc-{dtype}-{k}") as fc:
                fc.cycle(storm.start + 48 * 60)
                res = fc.cycle(storm.start + 54 * 60)
            cpu[dtype].append(res.outputs[0].cpu_s)
    f32, f64 = min(cpu["float32"]), min(cpu["float64"])
    return (
        f"One member of the {args.size:g} m city ({tw.shape[0]} x {tw.shape[1]} cells), {args.lead / 60:g} min lead, "
        f"in-process, best CPU of {args.repeats} interleaved repeats: float32 {f32:.1f} s, float64 {f64:.1f} s "
        f"(float64 / float32 = {f64 / f32:.2f}); all: {cpu}. Load average {_load()}."
    )


def member_check(args, work: Path) -> str:
    """One member of the ``--size`` city (the cycle at 09:00, leads 30/60/120 min up to ``--lead``) with the
    global step and with local time stepping (the forecast's ``[numerics]``), in-process: CPU seconds, and
    how far the local member's largest depths, first-flooded times and warned buildings are from the global's."""
    import numpy as np

    tw = city_twin(work, args.size, args.cell)
    storm = recorded_storm(work / "storm", tw)
    base = ForecastConfig.coerce(storm.config)
    leads = [v for v in (1800.0, 3600.0) if v < args.lead] + [args.lead]
    runs = {}
    for mode in ("local", "global"):
        # the untimed first cycle loads (or compiles) this mode's kernel too
        warm = base.model_copy(
            update={"lead_times": [360.0], "members": 1, "workers": 0, "numerics": {"time_stepping": mode}}
        )
        with Forecaster(tw, warm, storm.obs, work / f"fc-{mode}") as fc:
            fc.cycle(storm.start + 48 * 60)
        cfg = base.model_copy(
            update={"members": 1, "workers": 0, "lead_times": leads, "numerics": {"time_stepping": mode}}
        )
        with Forecaster(tw, cfg, storm.obs, work / f"fc-{mode}") as fc:
            runs[mode] = fc.cycle(storm.start + 60 * 60)
    g, loc = runs["global"].outputs[0], runs["local"].outputs[0]
    lines = [
        f"One member of the {args.size:g} m city ({tw.shape[0]} x {tw.shape[1]} cells), leads "
        f"{', '.join(f'{v / 60:g}' for v in leads)} min, in-process, 1 member: CPU global {g.cpu_s:.1f} s, "
        f"local {loc.cpu_s:.1f} s (global / local = {g.cpu_s / loc.cpu_s:.2f}). Load average {_load()}."
    ]
    for j, lead in enumerate(leads):
        d = np.abs(loc.h_max[j].astype(np.float64) - g.h_max[j])
        flooded = (g.h_max[j] > 0.15) != (loc.h_max[j] > 0.15)
        lines.append(
            f"- {lead / 60:g} min: |h_max local - global| max {d.max():.3f} m, 99.9th pct {np.quantile(d, 0.999):.4f} m, "
            f"cells > 1 cm apart {int((d > 0.01).sum())}; cells flooded (> 0.15 m) in one only {int(flooded.sum())} "
            f"of {int((g.h_max[j] > 0.15).sum())}"
        )
    both = np.isfinite(g.arrival) & np.isfinite(loc.arrival)
    da = np.abs(g.arrival[both] - loc.arrival[both])
    lines.append(
        f"- first-flooded time: cells flooded in both {int(both.sum())}, in one only "
        f"{int((np.isfinite(g.arrival) != np.isfinite(loc.arrival)).sum())}; |difference| max {da.max():.0f} s, "
        f"99th pct {np.quantile(da, 0.99):.0f} s, mean {da.mean():.1f} s"
    )
    for mode, res in runs.items():
        w = res.record["features"]["buildings"]
        lines.append(f"- buildings warned ({mode}): {w['warned']} of {w['count']}")
    return "\n".join(lines)


def replay(args, work: Path) -> str:
    tw = city_twin(work, args.size, args.replay_cell)
    storm = recorded_storm(work / "storm", tw)
    leads = [float(v) * 60 for v in args.leads.split(",")]
    cfg = ForecastConfig.coerce(storm.config).model_copy(
        update={"members": args.members, "workers": args.workers, "lead_times": leads, "numerics": _numerics(args)}
    )
    times = [storm.start + k * 720.0 for k in range(3, 3 + args.cycles)]
    t = time.perf_counter()
    with Forecaster(tw, cfg, storm.obs, work / "fc") as fc:
        table, results = replay_skill(fc, times)
    wall = time.perf_counter() - t
    lines = [
        REPLAY,
        "",
        f"`benchmarks/bench_forecast.py --replay`: the sample city ({args.size:g} m) on a {args.replay_cell:g} m grid "
        f"({tw.shape[0]} x {tw.shape[1]} cells), its recorded storm, {len(results)} cycles every 12 min from 08:36, "
        f"{cfg.members} members stepping {results[0].record['member_numerics']['time_stepping'] if results else '-'} "
        "(the truth and the baselines step as the base scenario does). CSI of the flooded area (max depth since now > 0.15 m, off rivers, lakes and "
        "buildings), summed over the cycles; `csi_new`: only the cells not flooded at now. "
        f"Replay wall time {wall:.0f} s.",
        "",
        "| lead | method | CSI | CSI (new) | hits | misses | false alarms |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        lines.append(
            f"| {row['lead_min']:g} min | {row['method']} | {row['csi']:.3f} | {row['csi_new']:.3f} | "
            f"{row['hits']} | {row['misses']} | {row['false_alarms']} |"
        )
    lines += ["", args.note]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replay", action="store_true")
    p.add_argument("--dtype-check", action="store_true", help="One member in float32 against float64 (printed)")
    p.add_argument(
        "--member-check", action="store_true", help="One member with the global and the local step (printed)"
    )
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--size", type=float, default=2000.0, help="The replay's city [m]")
    p.add_argument("--sizes", default="2000,800", help="Cities [m] of the speed table, comma-separated")
    p.add_argument("--cell", type=float, default=4.0)
    p.add_argument("--replay-cell", type=float, default=8.0)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--lead", type=float, default=7200.0)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--leads", default="30,60,120", help="Lead times of the replay [min], comma-separated")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--time-stepping",
        choices=("global", "local"),
        help="The members' time stepping (the forecast's [numerics]; default: the forecast's default)",
    )
    p.add_argument("--note", default="")
    p.add_argument("--write", action="store_true", help="Write the section into benchmarks/RESULTS.md")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as tmp:
        if args.dtype_check:
            print(dtype_check(args, Path(tmp)))
            return
        if args.member_check:
            print(member_check(args, Path(tmp)))
            return
        text = replay(args, Path(tmp)) if args.replay else speed(args, Path(tmp))
    print(text)
    if args.write:
        replace_section(ROOT / "benchmarks" / "RESULTS.md", REPLAY if args.replay else SPEED, text)


if __name__ == "__main__":
    main()
