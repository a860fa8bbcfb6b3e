"""The machine's memory bandwidth (a STREAM-like triad) and the flood kernel's bytes per cell and step.

A memory-bound kernel runs at most at bandwidth / bytes-per-cell-step cell updates per second, so
these two figures say how far a measured rate is from the bound of the machine it ran on (a rate
from a machine with more bandwidth does not travel).

The triad is STREAM's ``a = b + s c`` on float64 arrays far larger than the caches, counted as
STREAM counts it: 24 bytes per element (read b and c, write a; the write-allocate read of ``a``
that most CPUs also pay is not counted). It runs in Numba, on one thread and on all of Numba's
threads, and in NumPy (two passes, ``a = s c`` then ``a += b``: 40 bytes per element moved).
"""

from __future__ import annotations

import time

import numba
import numpy as np
from numba import njit, prange

#: Elements per triad array: 3 arrays x 16 M x 8 bytes = 384 MB, far beyond any cache.
TRIAD_N = 1 << 24


@njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]


def _best(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _best_per_threads(fn, threads: tuple[int, ...], repeats: int) -> dict[int, float]:
    """Best time of ``fn`` on each thread count (those above Numba's left out), Numba's count restored."""
    out = {}
    previous = numba.get_num_threads()
    try:
        for k in threads:
            if k > numba.config.NUMBA_NUM_THREADS:
                continue
            numba.set_num_threads(k)
            out[k] = _best(fn, repeats)
    finally:
        numba.set_num_threads(previous)
    return out


def triad_bandwidth(threads: tuple[int, ...] = (1, 2), n: int = TRIAD_N, repeats: int = 5) -> dict[str, float]:
    """Best-of-``repeats`` triad bandwidth [bytes/s]: ``numba x<k>`` for each thread count, and ``numpy``.

    Thread counts above Numba's are left out.
    """
    a, b, c = np.zeros(n), np.random.default_rng(0).random(n), np.random.default_rng(1).random(n)
    s = 3.0
    _triad(a, b, c, s)  # compile (or load), touch every page
    times = _best_per_threads(lambda: _triad(a, b, c, s), threads, repeats)
    out = {f"numba x{k}": 24.0 * n / t for k, t in times.items()}

    def numpy_triad():
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    out["numpy"] = 40.0 * n / _best(numpy_triad, repeats)
    return out


@njit(parallel=True, cache=True)
def _spin(x, rounds):
    for i in prange(x.size):
        v = x[i]
        for _ in range(rounds):
            v = v * 0.999999 + 1e-7
        x[i] = v


def compute_scaling(threads: tuple[int, ...] = (1, 2), repeats: int = 5) -> dict[int, float]:
    """Multiply-adds per second of a compute-bound loop (no memory traffic) on each thread count.

    The ceiling of what threads can give any kernel on this machine: 2 threads at less than 2x here
    means the two CPUs are not two free cores (hyperthreads of one, or shared with other work).
    """
    x = np.ones(1 << 12)
    rounds = 2000
    _spin(x, 10)  # compile (or load)
    times = _best_per_threads(lambda: _spin(x, rounds), threads, repeats)
    return {k: x.size * rounds / t for k, t in times.items()}


def kernel_bytes(
    itemsize: int, *, accum: bool = True, compensated: bool | None = None, infiltration: int = 0, drain: bool = False
) -> int:
    """Bytes the local-inertial kernel moves per cell and step (compulsory traffic, a model).

    Counted from the arrays ``kernels._flood_core``'s fused sweep streams through, each read once and
    written once per step (its face and factor rows are ring buffers that stay in cache): depth,
    the two face-discharge arrays and (float32, ``compensated``) the depth remainder read and written;
    bed, Manning and rain maps read; with ``accum``, the running maximum depth, speed and hazard
    (float32) read and written. Infiltration reads its two (Green-Ampt, ``infiltration=2``) or three
    (Horton, 1) float64 parameters and reads and writes the float64 cumulative infiltration, and a
    drainage capacity map is read (float64), on wet cells only: the figures here count every cell
    wet, an upper bound. Arrival time and duration change only when a cell wets or dries: not counted.

    Parameters
    ----------
    itemsize : int
        4 (float32 state) or 8 (float64).
    compensated : bool, optional
        The float32 remainder ``h_lo`` is swept (default: float32 states).
    """
    if compensated is None:
        compensated = itemsize == 4
    state = 2 * itemsize * (3 + compensated)  # h, qx, qy (and h_lo): read + write
    static = 3 * itemsize  # bed, Manning, rain map
    total = state + static + (3 * 2 * 4 if accum else 0)
    if infiltration:
        total += 8 * (3 if infiltration == 1 else 2) + 16
    if drain:
        total += 8
    return total


def render(ours: dict[tuple[str, int], dict], bandwidth: dict[str, float]) -> str:
    """Each kernel row's implied memory traffic against the triad's bandwidth at its thread count, as markdown.

    ``ours`` maps (dtype name, threads) to a run's figures (``rate``: cell updates per second) of the
    kernel without running maxima or losses, as ``bench_flood.run_ours`` times it.
    """
    triad = ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in bandwidth.items())
    lines = [
        "### Bytes per cell-step and the machine's bandwidth",
        "",
        f"STREAM-like triad `a = b + s c` on 3 x {TRIAD_N * 8 / 2**20:.0f} MiB float64 arrays (24 bytes an element; "
        f"NumPy's two passes 40), best of 5, in the same run: {triad}. Bytes per cell-step: the kernel's "
        "compulsory traffic (`benchmarks/_bandwidth.py:kernel_bytes`); with the running maxima on, "
        f"{kernel_bytes(4)} (float32) and {kernel_bytes(8)} (float64); the demo scenario's Green-Ampt "
        f"infiltration adds up to {kernel_bytes(4, infiltration=2) - kernel_bytes(4)} on wet cells.",
        "",
        "| Run | Threads | Cell updates/s | Bytes per cell-step | Traffic (GB/s) | Share of the triad's bandwidth |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (dtype, threads), r in ours.items():
        b = kernel_bytes(np.dtype(dtype).itemsize, accum=False)
        gbs = r["rate"] * b / 1e9
        bw = bandwidth.get(f"numba x{threads}")
        share = f"{r['rate'] * b / bw:.0%}" if bw else ""
        lines.append(f"| cimtwin {dtype}, no maxima | {threads} | {r['rate']:.3g} | {b} | {gbs:.1f} | {share} |")
    return "\n".join(lines) + "\n"
