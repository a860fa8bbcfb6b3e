"""ANUGA beside cimtwin's solvers on a problem both can run, timed in the same benchmark run.

ANUGA is not a project dependency (it pulls its own NumPy, pandas, netCDF4): it runs in whatever
interpreter has it (this one, ``--anuga-python``, or ``/tmp/anuga/bin/python`` as
``benchmarks/bench_swe_anuga.py`` suggests installing it), as a child process with one OpenMP
thread, running ``bench_swe_anuga.py`` on the flood benchmark's problem (plane sloping 0.1 % east,
Manning 0.03, 100 mm/h, walls). cimtwin's side is ``bench_flood.run_ours`` on the same ground:
``n`` x ``n`` squares of 2 m (ANUGA splits each into 4 triangles).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_LINE = re.compile(
    r"ANUGA (?P<version>\S+) (?P<algorithm>\w+): (?P<triangles>\d+) triangles, (?P<steps>\d+) steps, "
    r"(?P<wall>[\d.]+) s, (?P<rate>[\d.e+-]+) triangle updates/s"
)
#: Where bench_swe_anuga.py's docstring suggests installing ANUGA.
DEFAULT_VENV_PYTHON = Path("/tmp/anuga/bin/python")


def anuga_python(given: str | None = None) -> str | None:
    """An interpreter that can import ANUGA: ``given``, this one, or the suggested venv's; None if none."""
    for candidate in (given, sys.executable, str(DEFAULT_VENV_PYTHON)):
        if candidate and Path(candidate).exists():
            ok = subprocess.run([candidate, "-c", "import anuga"], capture_output=True, check=False).returncode == 0
            if ok:
                return candidate
    return None


def run_anuga(python: str, n: int, t_end: float, algorithm: str) -> dict:
    """ANUGA's run of ``bench_swe_anuga.py`` (one thread): its steps, wall seconds and triangle updates/s."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # ANUGA's environment has its own NumPy: keep ours off its path
    out = subprocess.run(
        [python, str(_HERE / "bench_swe_anuga.py"), str(n), f"{t_end:g}", algorithm],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    m = _LINE.search(out.stdout)
    if out.returncode or m is None:
        raise RuntimeError(f"ANUGA run failed: {(out.stderr or out.stdout).strip()[-300:]}")
    return {
        "version": m["version"],
        "algorithm": m["algorithm"],
        "triangles": int(m["triangles"]),
        "steps": int(m["steps"]),
        "wall": float(m["wall"]),
        "rate": float(m["rate"]),
    }


def render(ours: dict[str, dict], anuga: dict[str, dict], n: int, t_end: float, python: str) -> str:
    """The side-by-side table as markdown: each row's updates per second and wall time, and the ratios."""
    lines = [
        "### ANUGA beside cimtwin (same run)",
        "",
        f"{n} x {n} squares of 2 m (ANUGA: `rectangular_cross_domain`, 4 triangles a square), the reference "
        f"problem's plane, Manning 0.03, 100 mm/h rain, walls, dry start, {t_end:g} s simulated, one thread each "
        f"(ANUGA with `OMP_NUM_THREADS=1`, from `{python}`), one after the other in one run "
        "(cimtwin's rows: best of 3).",
        "",
        "| Run | Elements | Steps | Wall (s) | Element updates/s | Wall time / cimtwin full SWE order 2 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ref = ours.get("cimtwin full SWE order 2, float64")
    for label, r in ours.items():
        ratio = f"{r['wall'] / ref['wall']:.2f}" if ref else ""
        lines.append(f"| {label} | {n * n:,} squares | {r['steps']} | {r['wall']:.2f} | {r['rate']:.3g} | {ratio} |")
    for label, r in anuga.items():
        ratio = f"{r['wall'] / ref['wall']:.1f}" if ref else ""
        lines.append(
            f"| {label} | {r['triangles']:,} triangles | {r['steps']} | {r['wall']:.2f} | {r['rate']:.3g} | {ratio} |"
        )
    de1 = anuga.get(next((k for k in anuga if "DE1" in k), ""))
    if ref and de1:
        lines += [
            "",
            f"cimtwin's second-order full solver: {ref['rate'] / de1['rate']:.1f}x ANUGA DE1's updates per second "
            f"(squares against triangles), {de1['wall'] / ref['wall']:.0f}x less wall time for the same "
            f"{t_end:g} s on the same ground.",
        ]
    return "\n".join(lines) + "\n"
