"""The sewer coupling's compiled books (kernels/drainage.py) against the NumPy formulas they replaced, bit for bit.

The coupling's results must not move when its per-step bookkeeping runs compiled: each function is compared
with the NumPy lines it replaced, on values that exercise the branches (signed zeros, backflows, NaN, caps).
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels.drainage import book_outfalls, book_step, cap_rates, outfalls_to_close, settle


def _values(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=n)
    v[::7] = 0.0
    v[3::11] = -0.0
    return v


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_book_step_matches_numpy():
    rng = np.random.default_rng(1)
    n, m, dt, to_m3s = 50, 40, 3.0, 0.3048**3
    rate, fed0 = _values(rng, n), _values(rng, n)
    q_in, q_out = _values(rng, m), _values(rng, m)
    q_out[::3] = q_in[::3]  # reversed flow: SWMM books it as the inflow too
    q_out[1::5] = 0.0
    q_in[2] = np.nan
    back0, dis0 = np.abs(_values(rng, m)), _values(rng, m)
    back0[5] = -0.0
    fed, out_rate, out_back, dis = fed0.copy(), np.zeros(m), back0.copy(), dis0.copy()
    book_step(dt, rate, fed, q_in, q_out, to_m3s, out_rate, out_back, dis)
    # the lines it replaced (twin/sims/flood/drainage.py before sewer-glue)
    signed = np.where(q_out == 0.0, q_in, np.where(q_in == q_out, -q_out, 0.0))
    want_rate = signed * to_m3s
    _same(fed, fed0 + rate * dt)
    _same(out_rate, want_rate)
    _same(out_back, np.maximum(back0, -want_rate))
    _same(dis, dis0 + want_rate * dt)


def test_cap_rates_matches_numpy():
    rng = np.random.default_rng(2)
    n, longest = 60, 5.0
    rate0, fed = _values(rng, n), _values(rng, n)
    allow = np.abs(_values(rng, n)) * 5
    allow[4] = np.nan
    rate, short = rate0.copy(), np.empty(n, dtype=np.int64)
    k = cap_rates(rate, fed, allow, longest, short)
    room = np.maximum(allow - np.abs(fed), 0.0) / longest
    want_short = np.flatnonzero(np.abs(rate0) > room)
    want = rate0.copy()
    want[want_short] = np.sign(rate0[want_short]) * room[want_short]
    assert 0 < k < n
    np.testing.assert_array_equal(short[:k], want_short)
    _same(rate, want)


def test_outfalls_to_close_matches_numpy():
    rng = np.random.default_rng(3)
    m, longest = 40, 5.0
    water, dis = np.abs(_values(rng, m)) * 3, _values(rng, m)
    back, guess = np.abs(_values(rng, m)), np.abs(_values(rng, m))
    back[::2] = 0.0
    close = np.empty(m, dtype=np.int64)
    k = outfalls_to_close(water, dis, back, guess, longest, close)
    left = water + np.minimum(dis, 0.0)
    bound = np.where(back > 0, back, guess)
    want = np.flatnonzero((bound > 0) & (bound * longest > left))
    assert 0 < k < m
    np.testing.assert_array_equal(close[:k], want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_settle_matches_numpy(dtype):
    rng = np.random.default_rng(4)
    shape, n, m, cell, elapsed = (30, 40), 80, 6, 16.0, 5.0
    h0 = np.abs(rng.normal(size=shape)).astype(dtype) * dtype(0.01)
    h0[::4, ::3] = 0.0
    h0[1::4, ::5] = -0.0
    rows, cols = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    rows[1], cols[1] = rows[0], cols[0]  # two nodes sharing a cell: both changes land on it
    out_rows, out_cols = rng.integers(0, shape[0], m), rng.integers(0, shape[1], m)
    idx = rng.permutation(n + 10)[:n]
    fed, back = _values(rng, n) * 0.1, np.maximum(_values(rng, n), 0.0) * 0.1
    books0 = [np.abs(_values(rng, n + 10)) for _ in range(3)]
    h, books = h0.copy(), [b.copy() for b in books0]
    change = ((back - fed) / cell).astype(dtype)
    settle(h, rows, cols, change, out_rows, out_cols, idx, fed, back, elapsed, *books)
    # the lines it replaced
    want = h0.copy()
    np.add.at(want, (rows, cols), change)
    for r, c in ((rows, cols), (out_rows, out_cols)):
        want[r, c] = np.maximum(want[r, c], 0)
    to_net, to_surf = np.maximum(fed, 0.0), np.maximum(-fed, 0.0) + back
    want_books = [b.copy() for b in books0]
    want_books[0][idx] += to_net
    want_books[1][idx] += to_surf
    want_books[2][idx] += np.where(to_surf > 0, elapsed, 0.0)
    assert (want < 0).sum() == 0 and (h0 + 0 != want).any() and np.signbit(want[want == 0]).any()
    _same(h, want)
    for got, exp in zip(books, want_books):
        _same(got, exp)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_book_outfalls_matches_numpy(dtype):
    rng = np.random.default_rng(5)
    shape, m, cell, elapsed = (20, 20), 12, 16.0, 5.0
    h0 = (np.abs(rng.normal(size=shape)) * 0.05).astype(dtype)
    out_rows, out_cols = rng.integers(0, shape[0], m), rng.integers(0, shape[1], m)
    out_rows[1], out_cols[1] = out_rows[0], out_cols[0]  # two outfalls sharing a cell share its water
    out_rows[2], out_cols[2] = 5, 5
    h0[5, 5] = 0.0  # a dry cell: what its outfall asks is unmet
    out_cell = np.unique(out_rows * shape[1] + out_cols, return_inverse=True)[1].reshape(-1)
    dis = _values(rng, m) * 3.0
    dis[:3] = -2.0
    out_idx = rng.permutation(m + 5)[:m]
    books0 = [np.abs(_values(rng, m + 5)) for _ in range(3)]
    h, books = h0.copy(), [b.copy() for b in books0]
    want, taken, given = (np.empty(m) for _ in range(3))
    book_outfalls(h, out_rows, out_cols, out_cell, dis, cell, elapsed, out_idx, *books, want, taken, given)
    # the lines it replaced
    w = np.maximum(-dis, 0.0)
    held = np.maximum(h0[out_rows, out_cols].astype(np.float64), 0.0) * cell
    asked = np.bincount(out_cell, weights=w)[out_cell]
    t = w * np.minimum(1.0, held / np.where(asked > 0, asked, 1.0))
    g = np.maximum(dis, 0.0)
    want_h = h0.copy()
    np.add.at(want_h, (out_rows, out_cols), ((g - t) / cell).astype(dtype))
    want_books = [b.copy() for b in books0]
    want_books[1][out_idx] += g
    want_books[0][out_idx] += t
    want_books[2][out_idx] += np.where(g > 0, elapsed, 0.0)
    assert (t < w).any()  # some asked for more than their cell held
    for got, exp in zip((h, want, taken, given, *books), (want_h, w, t, g, *want_books)):
        _same(got, exp)
