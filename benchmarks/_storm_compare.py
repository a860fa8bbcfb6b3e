"""The demo's whole storm under several `[numerics]` settings, each against a reference: the step's own sensitivity.

Runs the sample city's coupled flood scenario (as ``twin demo`` builds it: 500 x 500 cells of 4 m, the 2-hour
design storm, the sewer exchanged every 5 s) with the given ``[numerics]`` overrides, saves each run's maps to
``OUT/NAME.npz`` and compares each with the first, with the acceptance figures of issue #22:

* max depth within 1 cm on the wet cells, the reporting threshold taken into account (``_bench_lts._depth_diff``);
* max speed within 2 % on the same cells (``|a - b| <= 0.02 max(a, b)``; a cell with a speed in one run only
  differs by 100 %);
* flooded buildings (depth against the walls above 10 cm), and how many differ.

Then where the speeds differ: by the reference's max depth and max speed, by the distance to the nearest edge of a
local-stepping tile (16 x 32 cells), near a manhole (within one cell of a node of the sewer network), and (with
``--when``: the reference's setting cut at 1800 and 3600 s) by when the reference's maximum occurred.

    PYTHONPATH=. python benchmarks/_storm_compare.py OUT ref:{} local:'{"time_stepping":"local"}' a05:'{"alpha":0.5}'

A run whose ``OUT/NAME.npz`` exists is not run again. The twin is built into ``OUT/base`` (about a minute) once.
"""

from __future__ import annotations

import json
import os
import sys
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _bench_lts import _depth_diff  # noqa: E402
from _demo_city import demo_scenarios  # noqa: E402

from kernels.flood import LTS_TILE  # noqa: E402


def run_one(out: Path, name: str, numerics: dict, duration: float | None = None) -> Path:
    """Run the demo's coupled scenario with ``numerics`` overrides (first ``duration`` s, or all); save its maps."""
    from twin.sims.flood.run import run
    from twin.sims.flood.scenario import Scenario

    path = out / f"{name}.npz"
    if path.is_file():
        return path
    tw, *_ = demo_scenarios(out / "base", None)
    root = out / "base" / "city"
    d = tomllib.loads((root / "flood.toml").read_text())
    if duration:
        d["duration"], d["output_interval"] = duration, min(duration, 600.0)
    d["numerics"] = {**d.get("numerics", {}), **numerics}
    load0, c0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run(tw, Scenario.from_dict(d, base_dir=root), progress=False, scene=False)
    b, s = r.buildings, r.summary
    print(
        f"{name} {numerics} {duration or 'whole storm'}: CPU {time.process_time() - c0:.1f} s, wall "
        f"{time.perf_counter() - t0:.1f} s, load {load0:.1f} -> {os.getloadavg()[0]:.1f}; {s['steps']} steps, "
        f"balance {s['mass_balance_error']:.1e}, {int(b['flooded'].sum())} flooded, levels {s.get('time_step_levels')}"
    )
    np.savez_compressed(
        path,
        max_depth=r.max_depth,
        max_speed=r.max_speed,
        flooded=b["flooded"].to_numpy(bool),
        building_depth=b["max_depth"].to_numpy(float),
    )
    return path


def _speed_rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / max(a, b) (0 where both are 0)."""
    m = np.maximum(a, b)
    return np.abs(a - b) / np.where(m > 0, m, 1.0)


def compare(ref: dict, other: dict) -> dict:
    """The acceptance figures of ``other`` against ``ref`` (both as saved by :func:`run_one`)."""
    a, b = np.nan_to_num(ref["max_depth"]), np.nan_to_num(other["max_depth"])
    wet = (a > 0) | (b > 0)
    aa = np.where(a > 0, a, np.minimum(b, 0.01))
    bb = np.where(b > 0, b, np.minimum(a, 0.01))
    dd = np.abs(aa - bb)[wet]
    rel = _speed_rel(np.nan_to_num(ref["max_speed"])[wet], np.nan_to_num(other["max_speed"])[wet])
    fa, fb = ref["flooded"], other["flooded"]
    return {
        "wet": int(wet.sum()),
        "depth_1cm": float(np.mean(dd <= 0.01)),
        "depth_p99_cm": 100 * _depth_diff(a, b, 0.01)["depth_p99"],
        "depth_mean_cm": float(100 * np.mean((b - a)[wet])),
        "speed_2pc": float(np.mean(rel <= 0.02)),
        "flooded": (int(fa.sum()), int(fb.sum()), int((fa != fb).sum())),
    }


def _manholes(out: Path, shape: tuple[int, int]) -> np.ndarray:
    """Cells within one cell of a node of the demo's sewer network."""
    from twin.model import Twin

    tw = Twin.load(out / "base" / "twin")
    txt = (out / "base" / "city" / "sewer.inp").read_text().split("[COORDINATES]")[1].split("[")[0]
    xy = [ln.split()[1:3] for ln in txt.splitlines() if len(ln.split()) >= 3 and not ln.startswith(";")]
    inv = ~tw.transform
    near = np.zeros(shape, bool)
    for x, y in xy:
        c, r = (int(v) for v in inv * (float(x), float(y)))
        if 0 <= r < shape[0] and 0 <= c < shape[1]:
            near[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2] = True
    return near


def _tile_edge(shape: tuple[int, int]) -> np.ndarray:
    """Each cell's distance (cells) to the nearest edge of its local-stepping tile (the last tile takes the rest)."""

    def along(n: int, t: int) -> np.ndarray:
        i = np.arange(n)
        start = np.minimum(i // t, max(n // t, 1) - 1) * t
        end = np.where(i // t >= max(n // t, 1) - 1, n, start + t)
        return np.minimum(i - start, end - 1 - i)

    return np.minimum.outer(along(shape[0], LTS_TILE[0]), along(shape[1], LTS_TILE[1]))


def where(out: Path, ref: dict, other: dict, when: tuple[dict, dict] | None = None) -> list[str]:
    """Where the max speeds of ``other`` differ from ``ref``'s by more than 2 %: a line per class of cells."""
    a, b = np.nan_to_num(ref["max_depth"]), np.nan_to_num(other["max_depth"])
    wet = (a > 0) | (b > 0)
    va, vb = np.nan_to_num(ref["max_speed"])[wet], np.nan_to_num(other["max_speed"])[wet]
    ok = _speed_rel(va, vb) <= 0.02
    both = (va > 0) & (vb > 0)
    h = a[wet]
    classes = [
        (f"max depth {lo}-{hi} m", (h >= lo) & (h < hi)) for lo, hi in ((0, 0.05), (0.05, 0.2), (0.2, 1.5), (1.5, 99))
    ]
    classes += [
        (f"max speed {lo}-{hi} m/s", (va >= lo) & (va < hi)) for lo, hi in ((0, 0.1), (0.1, 0.3), (0.3, 1.2), (1.2, 99))
    ]
    edge = _tile_edge(a.shape)[wet]
    classes += [
        (f"{lo}-{hi} cells from a tile edge", (edge >= lo) & (edge <= hi))
        for lo, hi in ((0, 0), (1, 1), (2, 3), (4, 99))
    ]
    near = _manholes(out, a.shape)[wet]
    classes += [("within a cell of a manhole", near), ("away from the manholes", ~near)]
    if when:
        v18, v36 = (np.nan_to_num(w["max_speed"])[wet] == va for w in when)
        classes += [("max by 1800 s", v18), ("max at 1800-3600 s", v36 & ~v18), ("max after 3600 s", ~v36 & ~v18)]
    lines = [
        f"speed within 2 %: {ok.mean():.1%} of {wet.sum():,} wet cells; where both > 0, higher by > 2 % on "
        f"{np.mean(both & (vb > 1.02 * va)) / both.mean():.1%}, lower on {np.mean(both & (vb < 0.98 * va)) / both.mean():.1%}"
    ]
    for name, m in classes:
        if m.any():
            lines.append(f"  {name}: {m.mean():.1%} of the cells, within 2 % {ok[m].mean():.1%}")
    return lines


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    runs = [(s.split(":", 1)[0], json.loads(s.split(":", 1)[1])) for s in argv[1:] if s != "--when"]
    for name, num in runs:
        run_one(out, name, num)
    when = None
    if "--when" in argv:
        when = tuple(dict(np.load(run_one(out, f"{runs[0][0]}_{t}", runs[0][1], t))) for t in (1800, 3600))
    ref = dict(np.load(out / f"{runs[0][0]}.npz"))
    for name, _ in runs[1:]:
        other = dict(np.load(out / f"{name}.npz"))
        c = compare(ref, other)
        print(
            f"{name} against {runs[0][0]}: max depth within 1 cm {c['depth_1cm']:.1%} of {c['wet']:,} wet cells "
            f"(p99 {c['depth_p99_cm']:.2f} cm, mean {c['depth_mean_cm']:+.2f} cm), max speed within 2 % "
            f"{c['speed_2pc']:.1%}, flooded {c['flooded'][0]} against {c['flooded'][1]} ({c['flooded'][2]} differ)"
        )
        print("\n".join(where(out, ref, other, when)))


if __name__ == "__main__":
    main(sys.argv[1:])
