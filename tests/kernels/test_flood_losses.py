"""The flood kernel's row losses (infiltration, drainage) against the one loss rule applied cell by cell."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from kernels._flood_core import cell_losses, losses_row


@njit
def _rows_simd(h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt):
    sums = np.zeros((h.shape[0], 2))
    for r in range(h.shape[0]):
        sums[r, 0], sums[r, 1] = losses_row(
            r, 0, h.shape[1], h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt
        )
    return sums


@njit
def _rows_by_cell(h, lo, comp, infil_kind, ia, ib, ic, icum, drain, has_drain, dt):
    """The same losses one cell at a time through :func:`cell_losses`, summed in cell order."""
    sums = np.zeros((h.shape[0], 2))
    for r in range(h.shape[0]):
        for c in range(h.shape[1]):
            w = np.float64(h[r, c])
            if comp:
                w += np.float64(lo[r, c])
            if w <= 0.0:
                continue
            w, inf, d = cell_losses(w, r, c, infil_kind, ia, ib, ic, icum, drain, has_drain, dt)
            sums[r, 0] += inf
            sums[r, 1] += d
            h[r, c] = w
            if comp:
                lo[r, c] = w - np.float64(h[r, c])
    return sums


def _inputs(dtype, seed=3, shape=(7, 45)):
    rng = np.random.default_rng(seed)
    h = (rng.random(shape) * 0.02).astype(dtype)
    h[rng.random(shape) < 0.2] = 0.0  # dry cells
    h[rng.random(shape) < 0.1] = dtype(2e-7)  # a film the losses take whole
    lo = (rng.standard_normal(shape) * 1e-9).astype(dtype) if dtype == np.float32 else np.zeros(shape, dtype)
    ks = rng.random(shape) * 20 / 3.6e6
    ks[rng.random(shape) < 0.2] = 0.0  # sealed ground
    pd = rng.random(shape) * 0.1
    icum = rng.random(shape) * 0.01
    drain = rng.random(shape) * 30 / 3.6e6
    return h, lo, ks, pd, np.zeros(shape), icum, drain


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("infil_kind", "has_drain"), [(2, False), (2, True), (0, True)])
def test_row_losses_equal_the_cell_by_cell_rule_bit_for_bit(dtype, infil_kind, has_drain):
    """Each combination of Green-Ampt, drainage and the float32 remainder has its own SIMD loop: each
    must give the depths, remainders, cumulative infiltration and row sums of the rule cell by cell."""
    comp = dtype == np.float32
    a = _inputs(dtype)
    b = tuple(x.copy() for x in a)
    h, lo, ks, pd, ic, icum, drain = a
    got = _rows_simd(h, lo, comp, infil_kind, ks, pd, ic, icum, drain, has_drain, 5.0)
    h2, lo2, ks2, pd2, ic2, icum2, drain2 = b
    want = _rows_by_cell(h2, lo2, comp, infil_kind, ks2, pd2, ic2, icum2, drain2, has_drain, 5.0)
    for x, y in ((h, h2), (lo, lo2), (icum, icum2), (got, want)):
        assert np.array_equal(x, y)
    assert (got[:, 0] > 0).all() == (infil_kind == 2)
    assert (got[:, 1] > 0).all() == has_drain
