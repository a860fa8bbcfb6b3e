"""The return period at which a place floods, from members run at known return periods (arrays only).

Each member is the same twin under a design storm of return period ``T_k`` (years). Where the
member depths ``h_k`` at a place first exceed a threshold ``d`` between ``T_{k-1}`` and ``T_k``
(``h_{k-1} <= d < h_k``), the crossing is interpolated linearly in ``ln T``::

    T* = T_{k-1} * (T_k / T_{k-1}) ** ((d - h_{k-1}) / (h_k - h_{k-1}))

Why ``ln T``: storm formulas grow linearly in ``lg T`` (``q = A (1 + C lg T) / (t + b)^n``) and IDF
tables nearly so, and depth follows rain closely between two nearby members. The Gumbel reduced
variate ``-ln(-ln(1 - 1/T))`` would be the alternative; it is ``ln T - 1/(2T)`` and a little less, so
the two rules give return periods within 1.3 % of each other between members of 10 and 100 years, and
within 6 % between 2 and 10 years (the Gumbel rule lower).

The annual exceedance probability that goes with ``T`` is ``AEP = 1 - exp(-1/T)``: the chance of at
least one T-year event in a year when events arrive as a Poisson process (ARR 2019's ARI-AEP
relation). It stays a probability for the sub-annual return periods of drainage design (T = 0.5 y:
0.86, where ``1/T`` would be 2) and agrees with ``1/T`` (exact for annual-maximum series) within
5 % for T >= 10 years.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["AEP_FORMULA", "FLAG_MEANINGS", "TOLERANCE_M", "Crossing", "aep", "first_crossing"]

AEP_FORMULA = "1 - exp(-1/T)"
TOLERANCE_M = 1e-3  # m: a depth that drops by more between two return periods is counted as non-monotonic
# flood_return_period_flag values: crossing between two members; floods already at the smallest
# member's T (the true T is <= that); no member floods it (the true T is > the largest member's)
FLAG_MEANINGS = ("interpolated", "at_or_below", "above")


@dataclass
class Crossing:
    """Where and at which return period each place first floods.

    Attributes
    ----------
    period : ndarray
        ``(threshold, *shape)`` float64: the return period [years] of the first crossing; the
        smallest member's T where flag is 1; NaN where flag is 2.
    flag : ndarray
        ``(threshold, *shape)`` int8: an index into :data:`FLAG_MEANINGS`.
    decreasing : ndarray
        ``shape`` bool: the depth drops by more than the tolerance from one return period to the
        next somewhere in the sweep (non-physical, or numerical noise).
    """

    period: np.ndarray
    flag: np.ndarray
    decreasing: np.ndarray


def aep(period: np.ndarray) -> np.ndarray:
    """Annual exceedance probability ``1 - exp(-1/T)`` of return periods ``T`` [years] (NaN stays NaN)."""
    return -np.expm1(-1.0 / np.asarray(period, dtype=np.float64))


def first_crossing(
    depths: Iterable[np.ndarray],
    periods: Sequence[float],
    thresholds: Sequence[float],
    *,
    tolerance: float = TOLERANCE_M,
) -> Crossing:
    """The smallest return period at which depth exceeds each threshold, interpolated in ``ln T``.

    Parameters
    ----------
    depths
        One array per member, in the order of ``periods`` (consumed one at a time, so a generator
        that reads grids from disk keeps two of them in memory).
    periods
        The members' return periods [years], strictly increasing.
    thresholds
        Depths [m]; a place floods where depth > threshold.
    tolerance
        m; a drop in depth from one return period to the next larger than this marks the place
        as ``decreasing``.

    Returns
    -------
    Crossing
    """
    t = np.asarray(periods, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0) or np.any(np.diff(t) <= 0):
        raise ValueError(f"return periods must be positive and strictly increasing; got {t.tolist()}")
    thr = np.asarray(thresholds, dtype=np.float64).ravel()
    prev = period = flag = decreasing = None
    n = 0
    for k, h in enumerate(depths):
        h = np.asarray(h, dtype=np.float64)
        if period is None:
            period = np.full((thr.size, *h.shape), np.nan)
            flag = np.full((thr.size, *h.shape), 2, dtype=np.int8)
            decreasing = np.zeros(h.shape, dtype=bool)
        for i, d in enumerate(thr):
            new = (flag[i] == 2) & (h > d)
            if k == 0:
                period[i][new] = t[0]
                flag[i][new] = 1
            else:
                # h_prev <= d < h here, so the fraction lies in [0, 1)
                frac = (d - prev[new]) / (h[new] - prev[new])
                period[i][new] = t[k - 1] * (t[k] / t[k - 1]) ** frac
                flag[i][new] = 0
        if prev is not None:
            decreasing |= h < prev - tolerance
        prev = h
        n += 1
    if n != t.size:
        raise ValueError(f"{n} depth arrays for {t.size} return periods")
    return Crossing(period, flag, decreasing)
