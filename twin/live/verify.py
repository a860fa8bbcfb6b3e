"""Replays that check the forecasts: critical success index against the run that saw the whole storm.

For each cycle of a replay, the cycle's state (hot-started, nudged) is run again three ways to each
lead time: under the rain the radar then observed (the *truth* of the replay, the run that sees the
whole observed rain, corrected by the gauges as the cycle's rain is), with no further rain, and with
the last radar frame held (persistence). The
flooded area at a lead time is where the largest depth since now exceeds ``flooded_depth``; the
forecast's is that of its median member. CSI = hits / (hits + misses + false alarms), summed over the
cycles and over the cells of the twin off its rivers, lakes and buildings. ``csi_new`` counts only
the cells not yet flooded at now (the area a forecast must find, not the water already there).

The truth and the two baselines step with the base scenario's numerics (the hot start's), whatever the
members run (:mod:`twin.live.member_numerics`): a forecast's score then includes what its members'
numerics change, e.g. local time stepping's depths.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from twin.live.cycle import CycleResult, Forecaster
from twin.live.member_numerics import member_params, member_scenario
from twin.live.members import MemberInputs, run_members
from twin.live.nowcast import onto_grid
from twin.live.observations import read_observations
from twin.sims.flood.scenario import Scenario

__all__ = ["csi", "replay_skill", "truth_inputs"]

METHODS = ("forecast", "persistence", "no_rain")


def csi(forecast: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """Hits, misses and false alarms of two boolean maps."""
    return (
        int(np.count_nonzero(forecast & truth)),
        int(np.count_nonzero(~forecast & truth)),
        int(np.count_nonzero(forecast & ~truth)),
    )


def truth_inputs(inputs: MemberInputs, base: Scenario) -> MemberInputs:
    """A cycle's member ``inputs`` with ``base``'s numerics (the forecast's base scenario): how the truth
    and the baselines of a replay run."""
    if inputs.scenario is None:
        return inputs
    numerics = base.numerics
    return dataclasses.replace(
        inputs, params=member_params(inputs.params, numerics), scenario=member_scenario(inputs.scenario, numerics)
    )


def replay_skill(fc: Forecaster, times: list[float]) -> tuple[pd.DataFrame, list[CycleResult]]:
    """Run a replay's cycles at ``times`` (UTC s, increasing) and score them at every lead time.

    Returns
    -------
    table : DataFrame
        Per lead time and method (``forecast``, ``persistence``, ``no_rain``): ``csi``, ``csi_new``
        and the counts behind them.
    results : list of CycleResult
    """
    cfg = fc.config
    dt = float(cfg.interval)
    everything = read_observations(fc.obs, math.inf, units=cfg.units, zr=(cfg.zr_a, cfg.zr_b), max_rain=cfg.max_rain)
    by_time = {round(f.time): f for f in everything.frames}
    tw = fc.twin
    off = (tw.river_mask == 0) & (tw.lake_mask == 0) & (tw.building_mask == 0)
    counts: dict[tuple[float, str, str], np.ndarray] = {}
    results = []
    for now in times:
        res = fc.cycle(now)
        if res.status != "published":
            continue
        results.append(res)
        last = res.radar
        steps = res.nowcast.rain.shape[1]
        truth, held = [], last.rain
        for k in range(steps):
            f = by_time.get(round(res.now + k * dt))
            if f is not None:
                held = (
                    f.rain
                    if f.rain.shape == last.rain.shape and f.transform == last.transform
                    else onto_grid(f.rain, f.crs, f.transform, last.crs, last.transform, last.rain.shape)
                )
            truth.append(np.nan_to_num(held, nan=0.0))
        # the truth and persistence get the radar's correction by the gauges, as the cycle's own rain did
        bias = res.record["rain_gauge_bias"]
        last_rain = np.nan_to_num(last.rain, nan=0.0) * bias
        runs = run_members(
            truth_inputs(res.inputs, fc.base),
            [
                np.stack(truth) * bias,
                np.broadcast_to(last_rain, (steps, *last_rain.shape)),
                np.zeros((steps, *last_rain.shape)),
            ],
            fc.client,
        )
        wet_now = res.inputs.state.h > cfg.flooded_depth
        for j, lead in enumerate(cfg.lead_times):
            true_map = (runs[0].h_max[j] > cfg.flooded_depth) & off
            maps = {
                "forecast": np.median(np.stack([o.h_max[j] for o in res.outputs]), axis=0) > cfg.flooded_depth,
                "persistence": runs[1].h_max[j] > cfg.flooded_depth,
                "no_rain": runs[2].h_max[j] > cfg.flooded_depth,
            }
            for name, m in maps.items():
                m = m & off
                for scope, sel in (("all", off), ("new", off & ~wet_now)):
                    key = (float(lead), name, scope)
                    counts[key] = counts.get(key, np.zeros(3, int)) + np.array(csi(m & sel, true_map & sel))
    rows = []
    for lead in cfg.lead_times:
        for name in METHODS:
            a = counts.get((float(lead), name, "all"), np.zeros(3, int))
            n = counts.get((float(lead), name, "new"), np.zeros(3, int))
            rows.append(
                {
                    "lead_min": lead / 60,
                    "method": name,
                    "csi": a[0] / a.sum() if a.sum() else np.nan,
                    "csi_new": n[0] / n.sum() if n.sum() else np.nan,
                    "hits": int(a[0]),
                    "misses": int(a[1]),
                    "false_alarms": int(a[2]),
                    "cycles": len(results),
                }
            )
    return pd.DataFrame(rows), results
