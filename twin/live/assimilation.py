"""Pulling the model towards the gauges: observed levels as boundary levels, nudging inside the domain.

**Boundary gauges** (``boundary_gauges = {station = k}``) give the water level of the base scenario's
``[[boundary]]`` number ``k`` (a ``type = "level"`` edge or line): their readings, as a series in
model time, during the hot start, held at the last reading through the forecast.

**Nudging** (Newtonian relaxation at the cycle times) of every other level gauge: after the hot start
the model's water level at the gauge, ``z + h``, is moved by ``gain x (observed - model)``, and the same
shift is applied to the water connected to the gauge within ``radius`` (wet cells whose level is the
gauge's within the misfit, and, when raising, the dry banks the raised level newly covers), so a lake or a river reach is raised or
lowered as a whole rather than in one cell. A dry cell below the gauge's level does not join: on a
slope it lies downhill of the gauge, not in a pool with it. The water added or taken is the *nudging volume*, a term of its own in the cycle's balance.
With the default gain of 0.5 the misfit of a gauge in still water halves every cycle: it is below
5 % of a wrong start within 5 cycles (``tests/live/test_assimilation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.ndimage as ndi

from kernels.flood import FloodState
from twin.live.observations import Observations
from twin.model.twin import Twin

__all__ = ["GaugeMisfit", "boundary_levels", "latest_levels", "nudge"]


@dataclass
class GaugeMisfit:
    """One gauge's observed level against the model's, before and after nudging [m]."""

    station: str
    observed_m: float
    model_before_m: float
    model_after_m: float
    volume_m3: float

    @property
    def before(self) -> float:
        return self.observed_m - self.model_before_m

    @property
    def after(self) -> float:
        return self.observed_m - self.model_after_m


def latest_levels(obs: Observations, now: float, max_age: float, exclude: set[str]) -> pd.DataFrame:
    """Each in-domain level gauge's last reading no older than ``max_age`` (older: a ``LevelGaugeGap`` warning)."""
    lv = obs.levels
    if "level_m" not in lv or not len(lv):
        return pd.DataFrame(columns=["time", "station", "x", "y", "level_m"])
    last = lv.sort_values("time").groupby("station").tail(1)
    last = last[~last["station"].isin(exclude)]
    stale = last["time"] < now - max_age
    for _, row in last[stale].iterrows():
        obs.warn(
            "LevelGaugeGap",
            f"level gauge {row['station']}: last reading {(now - row['time']) / 60:.0f} min before now "
            f"(more than {max_age / 60:g} min); not used this cycle",
        )
    return last[~stale].reset_index(drop=True)


def boundary_levels(
    obs: Observations, station: str, origin: float, t_end: float, max_age: float, now: float
) -> list[list[float]] | None:
    """The readings of boundary gauge ``station`` as ``[[model seconds, level], ...]`` up to ``t_end``
    (model seconds), held at the last reading; ``None`` (and a warning) without a recent reading."""
    lv = obs.levels
    g = lv[lv["station"] == station] if "level_m" in lv else lv.iloc[0:0]
    if not len(g) or float(g["time"].max()) < now - max_age:
        obs.warn(
            "LevelGaugeGap",
            f"boundary gauge {station}: no reading in the last {max_age / 60:g} min; the base scenario's level is used",
        )
        return None
    t = g["time"].to_numpy(float) - origin
    v = g["level_m"].to_numpy(float)
    before = t <= 0
    if before.any():  # the series starts at model time 0: the last reading before it stands there
        t, v = np.r_[0.0, t[~before]], np.r_[v[before][-1], v[~before]]
    series = [[float(a), float(b)] for a, b in zip(t, v, strict=True)]
    if series[-1][0] < t_end:
        series.append([float(t_end), series[-1][1]])
    return series


def nudge(
    state: FloodState,
    twin: Twin,
    z: np.ndarray,
    blocked: np.ndarray,
    gauges: pd.DataFrame,
    *,
    gain: float,
    radius: float,
    h_dry: float,
) -> list[GaugeMisfit]:
    """Nudge ``state.h`` in place towards each gauge's ``level_m``; the misfits and volumes per gauge."""
    out = []
    dx = twin.cell_size
    ny, nx = state.h.shape
    k = int(np.ceil(radius / dx))
    for _, g in gauges.iterrows():
        rows, cols = twin.index(np.array([g["x"]]), np.array([g["y"]]))
        r, c = int(rows[0]), int(cols[0])
        if not (0 <= r < ny and 0 <= c < nx) or blocked[r, c]:
            continue
        obs = float(g["level_m"])
        before = float(z[r, c] + state.h[r, c])
        shift = gain * (obs - before)
        r0, r1, c0, c1 = max(r - k, 0), min(r + k + 1, ny), max(c - k, 0), min(c + k + 1, nx)
        h = state.h[r0:r1, c0:c1]
        zz = z[r0:r1, c0:c1]
        rr, cc = np.mgrid[r0:r1, c0:c1]
        near = np.hypot(rr - r, cc - c) * dx <= radius
        # dry cells join only where the raised level newly covers them (a bank between the level and
        # the level + shift): a dry cell below the gauge's level is not in a pool with it but downhill of
        # it (a river's surface slopes), and filling it to the gauge's level would pour a lake onto a
        # sloping street
        bank = (
            (zz >= before - h_dry) & (zz < before + shift) if shift > 0 else np.zeros_like(near)
        )  # a film counts as dry
        # wet cells join when their level is the gauge's, within the misfit (10 cm at least): the water
        # body the gauge reads, not the sheet flow down the streets around it, which rain also wets
        same = np.abs(zz + h - before) <= max(abs(obs - before), 0.1)
        water = near & (blocked[r0:r1, c0:c1] == 0) & (((h > h_dry) & same) | bank)
        labels, _ = ndi.label(water)
        if labels[r - r0, c - c0] == 0:  # a dry gauge reading below its ground: no water to move
            out.append(GaugeMisfit(str(g["station"]), obs, before, before, 0.0))
            continue
        region = labels == labels[r - r0, c - c0]
        level = np.where(h > h_dry, zz + h, before)  # bank cells join at the gauge's level
        new = np.where(region, np.maximum(level + shift - zz, 0.0), h).astype(h.dtype)
        volume = float(np.sum(new.astype(np.float64) - h)) * dx * dx
        h[...] = new
        out.append(GaugeMisfit(str(g["station"]), obs, before, float(z[r, c] + state.h[r, c]), volume))
    return out
