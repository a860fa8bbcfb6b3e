"""A picture of a water run: reservoir storage and shortages over the period (matplotlib, optional)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin._io import atomic_file
from twin.errors import InputDataError

__all__ = ["plot_water"]


def plot_water(result: Any, path: str | os.PathLike, *, member: int = 0) -> Path:
    """Write a PNG of one member's storage (top) and monthly shortage per demand (bottom).

    Parameters
    ----------
    result : twin.sims.water.run.WaterResult
    path : path-like
        The PNG to write (atomically).
    member : int
        Which member to draw (the first by default).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputDataError
        matplotlib is not installed (it comes with ``pip install cimtwin[test]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputDataError(
            "the water plot needs matplotlib: pip install matplotlib "
            "(or cimtwin[test]); the result folder itself is complete without it"
        ) from None
    step_s = float(result.scenario.step)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, constrained_layout=True)
    for k, name in enumerate(result.storages):
        top.plot(result.time, result.storage[member, :, k] / 1e6, lw=0.8, label=name)
    top.set_ylabel("storage [million m³]")
    top.set_ylim(bottom=0)
    top.legend(loc="lower left", fontsize=8)
    top.set_title(f"{result.summary.get('name', 'water')}: member {result.members[member]}")
    short = np.maximum(result.demand[member] - result.delivered[member], 0.0) * step_s / 1e3  # 1,000 m3 per step
    monthly = pd.DataFrame(short, index=result.time, columns=result.demands).resample("MS").sum()
    monthly = monthly.loc[:, monthly.sum() > 0]
    for name in monthly.columns:
        bottom.step(monthly.index, monthly[name], where="post", lw=1.0, label=name)
    if monthly.empty:
        bottom.text(0.5, 0.5, "no shortage", transform=bottom.transAxes, ha="center", va="center")
    else:
        bottom.legend(loc="upper left", fontsize=8)
    bottom.set_ylabel("shortage [1,000 m³ / month]")
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
