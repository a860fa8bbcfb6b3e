"""Drought indices: the Standardized Precipitation Index and supply reliability, resilience, vulnerability.

SPI (McKee, Doesken & Kleist 1993; WMO-No. 1090, 2012): monthly precipitation is summed over the
``scale`` months ending at each month; for every calendar month separately a two-parameter gamma
distribution is fitted to the non-zero sums and mixed with the probability ``q`` of a zero sum,
``H(x) = q + (1 - q) G(x; alpha, beta)``; the SPI is the standard normal quantile of ``H``. The gamma
fit is the maximum-likelihood one: Thom's (1958) approximation (McKee's choice)::

    A = ln(mean x) - mean(ln x),   alpha = (1 + sqrt(1 + 4 A / 3)) / (4 A),   beta = mean x / alpha

optionally refined by Newton's method on the exact likelihood equation ``ln(alpha) - digamma(alpha) = A``
(``method="mle"``, the default; Thom's ``alpha`` is within 1 % of it for ``alpha >= 1`` and about
4 % high at ``alpha = 0.5``).

Reliability, resilience and vulnerability (Hashimoto, Stedinger & Loucks 1982, *Water Resour. Res.*
18(1), 14-20) of a supply against a demand series. A step fails when the shortage
``max(demand - supply, 0)`` exceeds ``tol`` times the demand.

* time-based reliability: the fraction of steps that do not fail;
* volumetric reliability: ``1 - total shortage / total demand``;
* resilience: ``P(step t+1 succeeds | step t fails)``, estimated over the pairs ``(t, t+1)`` of the
  series as (failure-to-success transitions) / (failed steps with a successor); NaN without failures;
* vulnerability: the shortage fraction (shortage / demand) of the failed steps, their mean and
  their maximum (0 without failures).

Everything works along the last axis, vectorised over any leading axes (catchments, scenarios).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

__all__ = ["RRV", "SPI_CLIP", "GammaFit", "fit_gamma", "reliability", "rolling_sum", "spi"]

#: SPI values are clipped to +-3.09 (probabilities 0.001 and 0.999), as in the WMO SPI guide's tools;
#: beyond that the fitted tails say little and a zero probability would give -inf.
SPI_CLIP = 3.09


class GammaFit(NamedTuple):
    """Gamma parameters per calendar month, shape ``(..., 12)``; NaN where a month cannot be fitted."""

    alpha: np.ndarray
    beta: np.ndarray
    q: np.ndarray


def rolling_sum(x: np.ndarray, scale: int) -> np.ndarray:
    """Sum over the ``scale`` steps ending at each step along the last axis; NaN for the first ``scale - 1``."""
    x = np.asarray(x, dtype=np.float64)
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale = {scale} must be a whole number of months >= 1 (1, 3, 6, 12 are usual)")
    scale = int(scale)
    out = np.full(x.shape, np.nan)
    if x.shape[-1] >= scale:
        c = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(x, axis=-1)], axis=-1)
        out[..., scale - 1 :] = c[..., scale:] - c[..., :-scale]
    return out


def _months(n: int, start_month: int) -> np.ndarray:
    if int(start_month) != start_month or not 1 <= start_month <= 12:
        raise ValueError(f"start_month = {start_month} must be the calendar month (1-12) of the first value")
    return (np.arange(n) + int(start_month) - 1) % 12


def _gamma_mle(x: np.ndarray, method: str) -> tuple[float, float]:
    """alpha, beta of the non-zero values ``x`` (1-D); NaN when fewer than two distinct values."""
    if x.size < 2 or np.ptp(x) <= 0:
        return np.nan, np.nan
    mean = x.mean()
    a = np.log(mean) - np.log(x).mean()
    alpha = (1.0 + np.sqrt(1.0 + 4.0 * a / 3.0)) / (4.0 * a)
    if method == "mle":
        # Newton on f(alpha) = ln(alpha) - digamma(alpha) - A, convex and decreasing: from Thom's
        # start the iterates converge monotonically within a few steps
        for _ in range(50):
            f = np.log(alpha) - special.digamma(alpha) - a
            step = f / (1.0 / alpha - special.polygamma(1, alpha))
            alpha = max(alpha - step, alpha / 10)
            if abs(step) <= 1e-14 * alpha:
                break
    return float(alpha), float(mean / alpha)


def fit_gamma(sums: np.ndarray, *, start_month: int = 1, method: str = "mle") -> GammaFit:
    """Fit the SPI's zero-inflated gamma distribution per calendar month.

    Parameters
    ----------
    sums : ndarray (..., n_months)
        Aggregated precipitation (e.g. :func:`rolling_sum`); NaN entries are left out.
    start_month : int
        Calendar month (1-12) of the first entry.
    method : {"mle", "thom"}
        Exact maximum likelihood (default) or Thom's approximation alone (McKee et al. 1993).

    Returns
    -------
    GammaFit
    """
    if method not in ("mle", "thom"):
        raise ValueError(f"method = {method!r} is not known; use 'mle' or 'thom'")
    sums = np.asarray(sums, dtype=np.float64)
    if (sums < 0).any():
        raise ValueError("precipitation sums must be >= 0 mm")
    month = _months(sums.shape[-1], start_month)
    flat = sums.reshape(-1, sums.shape[-1])
    alpha, beta, q = (np.full((flat.shape[0], 12), np.nan) for _ in range(3))
    for i, row in enumerate(flat):
        for m in range(12):
            x = row[month == m]
            x = x[np.isfinite(x)]
            if not x.size:
                continue
            q[i, m] = np.mean(x == 0)
            alpha[i, m], beta[i, m] = _gamma_mle(x[x > 0], method)
    shape = (*sums.shape[:-1], 12)
    return GammaFit(alpha.reshape(shape), beta.reshape(shape), q.reshape(shape))


def spi(
    precip: np.ndarray, scale: int = 1, *, start_month: int = 1, fit: GammaFit | None = None, method: str = "mle"
) -> tuple[np.ndarray, GammaFit]:
    """Standardized Precipitation Index of monthly precipitation along the last axis.

    Parameters
    ----------
    precip : ndarray (..., n_months)
        Monthly precipitation totals [mm], >= 0, without gaps.
    scale : int
        Accumulation period in months (1, 3, 6, 12, ...).
    start_month : int
        Calendar month (1-12) of the first value.
    fit : GammaFit, optional
        Distribution fitted elsewhere (e.g. on the historical record, to judge climate scenarios
        against it); its leading shape must broadcast with ``precip``'s. Default: fit on ``precip``.
    method : {"mle", "thom"}
        Gamma fit (see :func:`fit_gamma`).

    Returns
    -------
    spi : ndarray, like ``precip``
        NaN for the first ``scale - 1`` months and where a calendar month could not be fitted
        (fewer than two distinct non-zero sums); clipped to ``+-SPI_CLIP``.
    fit : GammaFit
        The distribution used.
    """
    precip = np.asarray(precip, dtype=np.float64)
    if not np.all(np.isfinite(precip)) or (precip < 0).any():
        raise ValueError("precip must hold finite monthly totals >= 0 mm; fill gaps before computing the SPI")
    sums = rolling_sum(precip, scale)
    if fit is None:
        fit = fit_gamma(sums, start_month=start_month, method=method)
    month = _months(precip.shape[-1], start_month)
    alpha, beta, q = (np.take(np.asarray(a, dtype=np.float64), month, axis=-1) for a in fit)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(sums > 0, special.gammainc(alpha, np.maximum(sums, 0.0) / beta), 0.0)
        h = q + (1.0 - q) * g
        out = np.clip(special.ndtri(h), -SPI_CLIP, SPI_CLIP)
    out[~np.isfinite(sums) | ~np.isfinite(h) | ~np.isfinite(alpha)] = np.nan
    return out, fit


class RRV(NamedTuple):
    """Performance of a supply against a demand (:func:`reliability`); arrays of the leading shape."""

    shortage: np.ndarray
    """Total shortage volume (the inputs' units times steps)."""
    shortage_pct: np.ndarray
    """Total shortage as a percentage of total demand."""
    reliability: np.ndarray
    """Time-based: fraction of steps without failure."""
    volumetric_reliability: np.ndarray
    """1 - total shortage / total demand."""
    resilience: np.ndarray
    """P(success at t+1 | failure at t); NaN where nothing fails."""
    vulnerability_mean: np.ndarray
    """Mean shortage fraction of the failed steps (0 where nothing fails)."""
    vulnerability_max: np.ndarray
    """Largest shortage fraction of a step."""
    events: np.ndarray
    """Number of failure events (runs of consecutive failed steps)."""
    longest_event: np.ndarray
    """Steps in the longest failure event."""


def reliability(supply: np.ndarray, demand: np.ndarray, *, tol: float = 1e-9) -> RRV:
    """Reliability, resilience and vulnerability (Hashimoto et al. 1982) along the last axis.

    Parameters
    ----------
    supply, demand : ndarray (..., n_steps)
        Delivered and demanded volumes (or rates) per step, >= 0; they broadcast together.
    tol : float
        A step fails when its shortage exceeds ``tol * demand`` (round-off is not a failure).

    Returns
    -------
    RRV
    """
    supply, demand = np.broadcast_arrays(np.asarray(supply, dtype=np.float64), np.asarray(demand, dtype=np.float64))
    if supply.ndim == 0 or supply.shape[-1] == 0:
        raise ValueError("supply and demand need at least one step along the last axis")
    if not (np.all(np.isfinite(supply)) and np.all(np.isfinite(demand))) or (supply < 0).any() or (demand < 0).any():
        raise ValueError("supply and demand must be finite and >= 0 at every step")
    short = np.maximum(demand - supply, 0.0)
    fail = short > tol * demand
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(demand > 0, short / demand, 0.0)
        total_demand = demand.sum(-1)
        total_short = short.sum(-1)
        vol_rel = np.where(total_demand > 0, 1.0 - total_short / total_demand, 1.0)
        n_fail = fail.sum(-1)
        recover = (fail[..., :-1] & ~fail[..., 1:]).sum(-1)
        resilience = recover / fail[..., :-1].sum(-1)
        vul_mean = np.where(n_fail > 0, np.where(fail, frac, 0.0).sum(-1) / n_fail, 0.0)
    starts = fail & ~np.concatenate([np.zeros_like(fail[..., :1]), fail[..., :-1]], axis=-1)
    return RRV(
        shortage=total_short,
        shortage_pct=100.0 * (1.0 - vol_rel),
        reliability=1.0 - n_fail / fail.shape[-1],
        volumetric_reliability=vol_rel,
        resilience=resilience,
        vulnerability_mean=vul_mean,
        vulnerability_max=np.where(fail, frac, 0.0).max(-1),
        events=starts.sum(-1),
        longest_event=_longest_run(fail),
    )


def _longest_run(fail: np.ndarray) -> np.ndarray:
    """Length of the longest run of True along the last axis."""
    run = np.zeros(fail.shape[:-1], dtype=np.int64)
    best = np.zeros_like(run)
    for t in range(fail.shape[-1]):
        run = np.where(fail[..., t], run + 1, 0)
        best = np.maximum(best, run)
    return best
