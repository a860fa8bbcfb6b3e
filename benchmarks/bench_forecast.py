"""The live twin on the sample city: one forecast cycle timed per stage, and the replay's CSI table.

``--speed`` (default): the sample city (2 km) ingested on a 4 m grid, its recorded storm, a cheap
first cycle (compiles the kernel, makes the hot-start state; untimed), then one cycle 12 minutes later
with 8 members and a 2-hour lead on a LocalCluster of ``--workers`` processes: ingest, hot start,
nowcast, members, publishing (maps, per-building forecast, warnings and the folder). The cluster's
start is reported apart (a live twin keeps it up between cycles).

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
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

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


def speed(args, work: Path) -> str:
    tw = city_twin(work, args.size, args.cell)
    storm = recorded_storm(work / "storm", tw)
    base = ForecastConfig.coerce(storm.config)
    warm = base.model_copy(update={"lead_times": [360.0], "members": 2, "workers": 0})
    with Forecaster(tw, warm, storm.obs, work / "fc") as fc:
        fc.cycle(storm.start + 48 * 60)
    full = base.model_copy(
        update={"members": args.members, "lead_times": [1800.0, 3600.0, args.lead], "workers": args.workers}
    )
    t = time.perf_counter()
    with Forecaster(tw, full, storm.obs, work / "fc") as fc:
        cluster = time.perf_counter() - t
        res = fc.cycle(storm.start + 60 * 60)
    r = res.record
    tm = r["timings"]
    publishing = tm["products"] + tm["publishing"]
    lines = [
        SPEED,
        "",
        f"`benchmarks/bench_forecast.py`: the sample city ({args.size:g} m) on a {args.cell:g} m grid "
        f"({tw.shape[0]} x {tw.shape[1]} cells, {len(tw.buildings)} buildings), its recorded storm, one cycle at "
        f"09:00 (hot start over 12 min of radar), {r['members']} members, lead times 30 min / 1 h / "
        f"{args.lead / 3600:g} h, nowcast `{r['nowcast']['method']}`, LocalCluster of {args.workers} workers x 1 thread.",
        "",
        "| stage | seconds |",
        "|---|---|",
        f"| ingest (observations read and checked, gauges) | {tm['ingest']:.1f} |",
        f"| hot start (12 min, {r['balance']['steps']} steps) and nudging | {tm['hot_start']:.1f} |",
        f"| nowcast (pysteps) | {tm['nowcast']:.1f} |",
        f"| members | {tm['members']:.1f} |",
        f"| publishing (maps, per-feature forecast, warnings, folder) | {publishing:.1f} |",
        f"| **cycle** | **{tm['total']:.1f}** |",
        f"| cluster start (once, kept between cycles) | {cluster:.1f} |",
        "",
        f"Balance error of the cycle {r['balance']['mass_balance_error']:.1e}; buildings warned: {r['buildings_warned']}.",
        "",
        args.note,
    ]
    return "\n".join(lines) + "\n"


def replay(args, work: Path) -> str:
    tw = city_twin(work, args.size, args.replay_cell)
    storm = recorded_storm(work / "storm", tw)
    leads = [float(v) * 60 for v in args.leads.split(",")]
    cfg = ForecastConfig.coerce(storm.config).model_copy(
        update={"members": args.members, "workers": args.workers, "lead_times": leads}
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
        f"{cfg.members} members. CSI of the flooded area (max depth since now > 0.15 m, off rivers, lakes and "
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
    p.add_argument("--size", type=float, default=2000.0)
    p.add_argument("--cell", type=float, default=4.0)
    p.add_argument("--replay-cell", type=float, default=8.0)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--lead", type=float, default=7200.0)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--leads", default="30,60,120", help="Lead times of the replay [min], comma-separated")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--note", default="")
    p.add_argument("--write", action="store_true", help="Write the section into benchmarks/RESULTS.md")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as tmp:
        text = replay(args, Path(tmp)) if args.replay else speed(args, Path(tmp))
    print(text)
    if args.write:
        replace_section(ROOT / "benchmarks" / "RESULTS.md", REPLAY if args.replay else SPEED, text)


if __name__ == "__main__":
    main()
