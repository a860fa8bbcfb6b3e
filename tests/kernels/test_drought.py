"""SPI against scipy's gamma fit and its defining property; reliability metrics by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kernels.drought import SPI_CLIP, fit_gamma, reliability, rolling_sum, spi


def _gamma_record(seed: int, n_months: int = 600) -> np.ndarray:
    """Monthly rainfall, gamma-distributed with its own shape and scale for each calendar month."""
    rng = np.random.default_rng(seed)
    alpha, beta = rng.uniform(0.8, 4.0, 12), rng.uniform(20.0, 120.0, 12)
    m = np.arange(n_months) % 12
    return rng.gamma(alpha[m], beta[m])


def test_spi_of_a_gamma_record_is_standard_normal():
    x = _gamma_record(0)
    s, _ = spi(x, 1)
    # Fitted on the same 600 months, the transform makes each month's 50 values nearly exactly
    # standard: over 100 seeds the mean stayed within 0.004 and the std within 0.008 of (0, 1), so
    # 0.05 (the brief's bound) is loose yet fails for a wrong transform (e.g. a scale-parameter mix-up)
    assert abs(s.mean()) < 0.05 and abs(s.std() - 1) < 0.05
    # judged against a fit on another, independent record of the same climate: sampling error of
    # 600 values, SE 0.041 for the mean and 0.029 for the std; 0.15 is beyond 3.5 SE
    other, _ = spi(_gamma_record(0, 1200)[600:], 1, fit=fit_gamma(x))
    assert abs(np.nanmean(other)) < 0.15 and abs(np.nanstd(other) - 1) < 0.15


def _scipy_spi(x: np.ndarray, start_month: int) -> np.ndarray:
    """Reference: scipy.stats.gamma.fit (maximum likelihood, location 0) per calendar month."""
    out = np.empty_like(x)
    month = (np.arange(x.size) + start_month - 1) % 12
    for m in range(12):
        v = x[month == m]
        q = np.mean(v == 0)
        a, _, scale = stats.gamma.fit(v[v > 0], floc=0)
        out[month == m] = stats.norm.ppf(q + (1 - q) * np.where(v > 0, stats.gamma.cdf(v, a, scale=scale), 0.0))
    return np.clip(out, -SPI_CLIP, SPI_CLIP)


def test_spi_matches_a_scipy_gamma_fit_reference():
    x = _gamma_record(5, 360)
    x[np.random.default_rng(2).random(x.size) < 0.08] = 0.0  # dry months: the zero-probability branch
    s, fit = spi(x, 1, start_month=4)
    # both are maximum-likelihood fits; they differ by the solvers' tolerances only (~1e-8 in alpha)
    np.testing.assert_allclose(s, _scipy_spi(x, 4), atol=1e-6)
    assert (fit.q > 0).any()
    thom, fit_thom = spi(x, 1, start_month=4, method="thom")
    # Thom's approximation: alpha within 1 % where alpha >= 1, a few per cent below; SPI within 0.05
    assert np.nanmax(np.abs(thom - s)) < 0.05
    np.testing.assert_allclose(fit_thom.alpha, fit.alpha, rtol=0.05)


def test_longer_scales_fit_the_rolling_sums():
    x = _gamma_record(9, 240)
    sums = rolling_sum(x, 3)
    assert np.isnan(sums[:2]).all() and sums[2] == pytest.approx(x[:3].sum(), rel=1e-14)
    np.testing.assert_allclose(sums[10], x[8:11].sum(), rtol=1e-14)
    s3, _ = spi(x, 3, start_month=1)
    assert np.isnan(s3[:2]).all()
    # the 3-month SPI is the 1-month machinery on the 3-month sums, month by month
    month = np.arange(x.size) % 12
    for m in (0, 5):
        v = sums[(month == m) & np.isfinite(sums)]
        a, _, scale = stats.gamma.fit(v, floc=0)
        want = stats.norm.ppf(stats.gamma.cdf(v, a, scale=scale))
        np.testing.assert_allclose(s3[(month == m) & np.isfinite(sums)], np.clip(want, -SPI_CLIP, SPI_CLIP), atol=1e-6)
    # vectorised over leading axes: two catchments x scales 6 and 12 give the one-by-one values
    both = np.stack([x, _gamma_record(10, 240)])
    for scale in (6, 12):
        batch, _ = spi(both, scale)
        np.testing.assert_array_equal(batch[1], spi(both[1], scale)[0])


def test_a_drier_scenario_judged_by_the_baseline_fit_has_negative_spi():
    base = _gamma_record(3)
    _, fit = spi(base, 1)
    dry, _ = spi(0.6 * base, 1, fit=fit)
    assert np.nanmean(dry) < -0.5
    zero_month = base.copy()
    zero_month[::12] = 0.0  # every January dry: q = 1, no gamma fit, SPI undefined
    s, f = spi(zero_month, 1)
    assert f.q[0] == 1.0 and np.isnan(f.alpha[0]) and np.isnan(s[::12]).all() and np.isfinite(s[1::12]).all()


def test_reliability_resilience_vulnerability_by_hand():
    supply = np.array([10, 10, 5, 10, 0, 0, 10, 8], dtype=float)
    demand = np.full(8, 10.0)
    r = reliability(np.stack([supply, demand]), demand)
    # shortages 0 0 5 0 10 10 0 2: failures at steps 2, 4, 5, 7
    assert r.shortage.tolist() == [27.0, 0.0]
    assert r.shortage_pct[0] == pytest.approx(33.75, rel=1e-14)
    assert r.reliability.tolist() == [0.5, 1.0]
    assert r.volumetric_reliability[0] == pytest.approx(1 - 27 / 80, rel=1e-14)
    # failures with a successor: 2, 4, 5; of these 2 -> 3 and 5 -> 6 recover
    assert r.resilience[0] == pytest.approx(2 / 3, rel=1e-14) and np.isnan(r.resilience[1])
    assert r.vulnerability_mean[0] == pytest.approx((0.5 + 1 + 1 + 0.2) / 4, rel=1e-14)
    assert r.vulnerability_max.tolist() == [1.0, 0.0]
    assert r.events.tolist() == [3, 0] and r.longest_event.tolist() == [2, 0]


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match="finite monthly totals"):
        spi(np.array([1.0, -2.0, 3.0]))
    with pytest.raises(ValueError, match="start_month"):
        spi(np.ones(24), start_month=13)
    with pytest.raises(ValueError, match="finite and >= 0"):
        reliability(np.array([1.0, np.nan]), np.ones(2))
