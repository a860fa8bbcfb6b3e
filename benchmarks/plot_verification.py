"""Plots of the flood kernel's verification cases, model against analytic or observed.

Writes into docs/img/: flood_wavefront.png (Hunter/Bates moving front), flood_thacker.png (planar
surface in a paraboloid), flood_ritter.png (Ritter dam break) and flood_isolated_building.png (EA
Test 6A gauges). The cases themselves live in kernels/_flood_verification.py, shared with the tests.

Usage::

    .venv/bin/python benchmarks/plot_verification.py [--quick] [--out DIR]

Importable: ``main(out_dir=..., quick=True)`` makes the same figures from short, coarse runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels import _flood_verification as cases  # noqa: E402

__all__ = ["main", "plot_wavefront", "plot_thacker", "plot_ritter", "plot_isolated_building"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Write the figure atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        _pyplot().close(fig)
    return path


def plot_wavefront(out_dir: Path, quick: bool = False) -> Path:
    """Depth profiles of the moving front, n = 0.01 (the published case) and n = 0.1."""
    plt = _pyplot()
    dx = 50.0 if quick else 25.0
    times = (900.0, 1800.0) if quick else (900.0, 1800.0, 2700.0, 3600.0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    for ax, n in zip(axes, (0.01, 0.1)):
        case = cases.wave_front(n, dx=dx, times=times)
        for k, (t, hm, he) in enumerate(zip(case["times"], case["model"], case["analytic"])):
            colour = f"C{k}"
            ax.plot(case["x"], he, "--", color=colour, lw=1)
            ax.plot(case["x"], hm[0], "-", color=colour, lw=1.5, label=f"{t:.0f} s")
        ax.set_title(
            f"Manning n = {n}"
            + (" (Froude$^2$ 0.1-0.2: inertia slows the front)" if n == 0.01 else " (low Froude: diffusive limit)"),
            fontsize=9,
        )
        ax.set_xlabel("x (m)")
        ax.set_xlim(0, 4000)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("depth (m)")
    axes[0].legend(title="solid: model, dashed: analytic", fontsize=8, title_fontsize=8)
    fig.suptitle(f"Moving wave front over a flat plane (Hunter et al. 2005), u = 1 m/s, dx = {dx:g} m", fontsize=10)
    return _save(fig, out_dir / "flood_wavefront.png")


def plot_thacker(out_dir: Path, quick: bool = False) -> Path:
    """Planar surface in a paraboloid: sections through the centre, and the water body's centre."""
    plt = _pyplot()
    quarters = (1, 2) if quick else (1, 2, 3, 4, 6, 8)
    case = cases.thacker(dx=0.08 if quick else 0.04, quarters=quarters)
    xx, yy = case["xx"], case["yy"]
    mid = xx.shape[0] // 2
    bed = case["grid"].z[mid]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    ax.plot(xx[mid], bed, color="0.4", lw=1, label="bed")
    # Sections for the first three times only (the later ones clutter the picture).
    for k, (q, hm, he) in enumerate(list(zip(quarters, case["model"], case["analytic"]))[:3]):
        colour = f"C{k}"
        ax.plot(xx[mid], np.where(he[mid] > 0, he[mid] + bed, np.nan), "--", color=colour, lw=1)
        ax.plot(
            xx[mid], np.where(hm[mid] > 0, hm[mid] + bed, np.nan), "-", color=colour, lw=1.5, label=f"t = {q / 4:g} T"
        )
    ax.set_xlim(-2, 2)
    ax.set_ylim(-0.11, 0.06)
    ax.set_xlabel("x (m), section y = 0")
    ax.set_ylabel("water surface (m)")
    ax.legend(fontsize=8, loc="lower right", title="solid: model, dashed: analytic", title_fontsize=8)
    ax.grid(alpha=0.3)
    centres = np.array([cases.centre_of_water(xx, yy, h) for h in case["model"]])
    exact = np.array([cases.centre_of_water(xx, yy, h) for h in case["analytic"]])
    circle = np.linspace(0, 2 * np.pi, 200)
    ax2.plot(0.5 * np.cos(circle), 0.5 * np.sin(circle), "--", color="0.5", lw=1, label="analytic path")
    ax2.plot(exact[:, 0], exact[:, 1], "o", mfc="none", color="k", label="analytic")
    ax2.plot(centres[:, 0], centres[:, 1], "o-", color="C3", label="model")
    for (cx, cy), q in zip(centres, quarters):
        ax2.annotate(f"{q / 4:g}T", (cx, cy), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax2.set_aspect("equal")
    ax2.set_xlabel("x (m)")
    ax2.set_ylabel("y (m)")
    ax2.set_title("centre of the water body", fontsize=9)
    ax2.legend(fontsize=7, loc="lower left", framealpha=0.9)
    ax2.grid(alpha=0.3)
    fig.suptitle(
        "Thacker's planar surface in a paraboloid (frictionless, period T = "
        f"{case['period']:.2f} s): the local-inertial scheme keeps the phase, loses amplitude",
        fontsize=10,
    )
    return _save(fig, out_dir / "flood_thacker.png")


def plot_ritter(out_dir: Path, quick: bool = False) -> Path:
    """Ritter's dam break: model against the analytic rarefaction."""
    plt = _pyplot()
    times = np.array([1.0, 3.0]) if quick else np.array([1.0, 2.0, 4.0, 6.0])
    case = cases.ritter(dx=0.1 if quick else 0.05, times=times)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for k, (t, hm, he) in enumerate(zip(case["times"], case["model"], case["analytic"])):
        ax.plot(case["x"], he * 1000, "--", color=f"C{k}", lw=1)
        ax.plot(case["x"], hm * 1000, "-", color=f"C{k}", lw=1.5, label=f"{t:g} s")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("depth (mm)")
    ax.legend(fontsize=8, title="solid: model, dashed: analytic", title_fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Ritter dam break on a dry frictionless bed (robustness case: no advection term)", fontsize=10)
    return _save(fig, out_dir / "flood_ritter.png")


def plot_isolated_building(out_dir: Path, quick: bool = False) -> Path:
    """EA Test 6A: stage at the six gauges, with the SWALS example's observation-based levels."""
    plt = _pyplot()
    case = cases.isolated_building(t_end=4.0 if quick else 30.0)
    # (gauge, t0, t1, level): the checks against observations in the SWALS example's plot_results.R.
    observed = [(0, 15, 25, 0.08), (1, 20, 30, 0.10), (3, 15, 20, 0.08), (5, 18, 23, 0.20)]
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5), sharex=True)
    for g, ax in enumerate(axes.flat):
        ax.plot(case["times"], case["stage"][:, g], color="C0", lw=1.2, label="model")
        for gg, t0, t1, level in observed:
            if gg == g:
                ax.plot([t0, t1], [level, level], color="C3", lw=3, alpha=0.7, label="observed mean")
        ax.set_title(f"G{g + 1} at {cases.GAUGES[g]}", fontsize=9)
        ax.grid(alpha=0.3)
        if g % 3 == 0:
            ax.set_ylabel("stage (m)")
        if g >= 3:
            ax.set_xlabel("t (s)")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("EA Test 6A, dam break around an isolated building (0.1 m cells, n = 0.01)", fontsize=10)
    return _save(fig, out_dir / "flood_isolated_building.png")


def main(argv: list[str] | None = None, out_dir: Path | None = None, quick: bool | None = None) -> list[Path]:
    """Make every figure; returns the paths written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short, coarse runs (seconds)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="output folder")
    args = parser.parse_args(argv if argv is not None else ([] if out_dir is not None else None))
    out = Path(out_dir) if out_dir is not None else args.out
    fast = args.quick if quick is None else quick
    written = [plot(out, fast) for plot in (plot_wavefront, plot_thacker, plot_ritter, plot_isolated_building)]
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
