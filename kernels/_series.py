"""Piecewise-linear time series packed CSR-style, so Numba sees three plain arrays.

Series ``k`` is ``t[ptr[k]:ptr[k+1]]``, ``v[ptr[k]:ptr[k+1]]`` (seconds, ascending). Values are
linearly interpolated between points and held constant before the first and after the last
point. The kernels need two things from a series: its value at an instant (water levels) and its
mean over a time step (rain, inflow), the latter exact for the piecewise-linear function so that the
volume a kernel adds over a run equals the integral of the hydrograph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["Series", "series_value", "series_integral", "series_cumulative"]


class Series(NamedTuple):
    """Several piecewise-linear time series in three flat arrays.

    Attributes
    ----------
    t : numpy.ndarray
        float64 times [s] of all series, concatenated; ascending within each series.
    v : numpy.ndarray
        float64 values, same length as ``t``.
    ptr : numpy.ndarray
        int64 offsets, length ``n_series + 1``: series ``k`` is ``t[ptr[k]:ptr[k+1]]``.
    """

    t: np.ndarray
    v: np.ndarray
    ptr: np.ndarray

    @classmethod
    def pack(cls, series: Sequence[tuple[np.ndarray, np.ndarray]]) -> Series:
        """Pack a list of ``(times, values)`` pairs into one :class:`Series`.

        Parameters
        ----------
        series : sequence of (array_like, array_like)
            Each pair holds the times [s] (non-decreasing; a repeated time makes a step) and the
            values of one series, at least one point each. An empty sequence gives a Series
            with no series in it.

        Returns
        -------
        Series

        Raises
        ------
        ValueError
            If a series is empty, its arrays differ in length, hold non-finite numbers, or its
            times decrease.
        """
        ts: list[np.ndarray] = []
        vs: list[np.ndarray] = []
        ptr = [0]
        for k, (t, v) in enumerate(series):
            t = np.atleast_1d(np.asarray(t, dtype=np.float64))
            v = np.atleast_1d(np.asarray(v, dtype=np.float64))
            if t.ndim != 1 or t.shape != v.shape or t.size == 0:
                raise ValueError(
                    f"series {k}: times and values must be 1-D arrays of the same non-zero length "
                    f"(got shapes {t.shape} and {v.shape}); give at least one (time, value) point"
                )
            if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
                raise ValueError(f"series {k} holds NaN or infinite numbers; replace them with finite values")
            if np.any(np.diff(t) < 0):
                raise ValueError(f"series {k}: times must not decrease; sort the points by time")
            ts.append(t)
            vs.append(v)
            ptr.append(ptr[-1] + t.size)
        cat = (lambda a: np.concatenate(a)) if ts else (lambda a: np.zeros(0))
        return cls(cat(ts), cat(vs), np.asarray(ptr, dtype=np.int64))

    @property
    def n_series(self) -> int:
        """Number of series packed."""
        return int(self.ptr.size - 1)

    def value(self, k: int, time: float) -> float:
        """Value of series ``k`` at ``time`` [s] (linear interpolation, constant beyond the ends)."""
        return float(series_value(self.t, self.v, self.ptr, k, float(time)))

    def integral(self, k: int, t0: float, t1: float) -> float:
        """Integral of series ``k`` from ``t0`` to ``t1`` [value * s], exact for the piecewise-linear function."""
        cum = series_cumulative(self.t, self.v, self.ptr)
        return float(
            series_integral(self.t, self.v, cum, self.ptr, k, float(t1))
            - series_integral(self.t, self.v, cum, self.ptr, k, float(t0))
        )


@njit(cache=True)
def series_cumulative(t, v, ptr):
    """Running trapezoid integral of every series from its first point (0 there)."""
    cum = np.zeros(t.size)
    for k in range(ptr.size - 1):
        for i in range(ptr[k] + 1, ptr[k + 1]):
            cum[i] = cum[i - 1] + 0.5 * (v[i - 1] + v[i]) * (t[i] - t[i - 1])
    return cum


@njit(cache=True)
def _segment(t, i0, i1, x):
    """Index j in [i0, i1 - 1) with t[j] <= x < t[j+1]; the caller has ruled out both ends."""
    return i0 + np.searchsorted(t[i0:i1], x, side="right") - 1


@njit(cache=True)
def series_value(t, v, ptr, k, x):
    """Value of series ``k`` at time ``x``."""
    i0 = ptr[k]
    i1 = ptr[k + 1]
    if x <= t[i0]:
        return v[i0]
    if x >= t[i1 - 1]:
        return v[i1 - 1]
    j = _segment(t, i0, i1, x)
    return v[j] + (v[j + 1] - v[j]) * (x - t[j]) / (t[j + 1] - t[j])


@njit(cache=True)
def series_integral(t, v, cum, ptr, k, x):
    """Integral of series ``k`` from its first time to ``x`` (negative before it)."""
    i0 = ptr[k]
    i1 = ptr[k + 1]
    if x <= t[i0]:
        return v[i0] * (x - t[i0])
    if x >= t[i1 - 1]:
        return cum[i1 - 1] + v[i1 - 1] * (x - t[i1 - 1])
    j = _segment(t, i0, i1, x)
    vx = v[j] + (v[j + 1] - v[j]) * (x - t[j]) / (t[j + 1] - t[j])
    return cum[j] + 0.5 * (v[j] + vx) * (x - t[j])
