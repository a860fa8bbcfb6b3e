"""Which sweep an :func:`kernels.flood.advance` call runs: the parallel one or the one-thread one.

Threads help only while they get their cores. On a machine with other work a descheduled thread
stalls every step's barrier, and two threads can run slower than one (issue 22 measured 0.38x).
Both sweeps give bit-identical results (the same arithmetic per cell whatever the chunking), so the
choice may follow the speed each achieved: a run calls ``advance`` at every output, gauge or sewer
exchange, and each call's cell updates per second say how the chosen sweep fares now. The slower
one is tried again from time to time (after 8 calls, then 16, 32, up to 64 while it stays slower),
since the load on a machine changes; after 64 calls at once where it was ``CLEAR``-ly slower (25 %),
as one thread is against two on a free machine: each try costs what the slower sweep loses in one
measurement, so the tries are rare where that loss is large. A faster sweep that slows down (the
machine got busy) shows it in its own measurements and gives way at once.

A call that takes the one-thread sweep runs on one thread throughout (``advance`` sets Numba's
thread count to 1 for it), so it costs what a one-thread run costs: none of the call's other
parallel passes wakes a second thread.

A measurement spans at least ``MIN_SECONDS`` of wall time: shorter calls (a sewer exchange every
few steps, a run's first short intervals) are summed, the same sweep running until the sum is
reached, so that one descheduling of a few milliseconds does not decide the choice.

A try of the one-thread sweep costs a measurement at one thread's speed (on a free machine). It is
skipped while the parallel calls prove themselves faster: where waiting threads sleep (passive
OpenMP, no spin), a measurement whose process used ``PROVEN`` CPU-seconds or more per second of
wall time was faster than one thread can be, since one thread does at most one CPU-second of work
per second and the parallel sweep's extra work (each chunk's border rows, the waking of the
threads) is far below 30 %. A parallel measurement that falls short (a thread lost its core)
brings the tries back.
"""

from __future__ import annotations

#: Calls between tries of the sweep not in use: the first interval, and the longest.
PROBE_FIRST = 8
PROBE_MAX = 64

#: CPU-seconds per wall second above which a parallel call was surely faster than one thread.
PROVEN = 1.3

#: Wall seconds a measurement spans at least (consecutive calls of one sweep summed).
MIN_SECONDS = 0.05

#: A lead (faster / slower) from which the slower sweep waits ``PROBE_MAX`` calls for its next try.
CLEAR = 1.25


class SweepChoice:
    """The measured speed of each sweep on one state, and the choice for the next call."""

    def __init__(self) -> None:
        self.rate: dict[bool, float | None] = {True: None, False: None}
        self._since_probe = 0
        self._interval = PROBE_FIRST
        self._probing = False
        self._proven = False
        # The measurement under way: its sweep, and its sums of cell-steps, seconds, CPU seconds.
        self._open: bool | None = None
        self._sums = [0.0, 0.0, 0.0]
        self._cpu_known = True

    def choose(self, can_parallel: bool) -> bool:
        """True: run the next call in parallel. ``can_parallel``: the grid is large enough for it."""
        if not can_parallel:
            return False
        if self._open is not None:  # a measurement is not complete yet: the same sweep again
            return self._open
        par, one = self.rate[True], self.rate[False]
        if par is None or self._proven:
            return True
        if one is None:
            self._probing = True
            return False
        best = par >= one
        self._since_probe += 1
        if self._since_probe >= self._interval:
            self._since_probe = 0
            self._probing = True
            return not best
        return best

    def record(self, parallel: bool, cell_steps: float, seconds: float, cpu_seconds: float | None = None) -> None:
        """The speed a call achieved (a complete measurement replaces the sweep's older one).

        ``cpu_seconds``: the process's CPU time over the call, where waiting threads use none
        (None elsewhere: spinning threads would count their waits as work).
        """
        if cell_steps <= 0 or seconds <= 0:
            return
        if self._open is not parallel:
            self._open, self._sums, self._cpu_known = parallel, [0.0, 0.0, 0.0], True
        sums = self._sums
        sums[0] += cell_steps
        sums[1] += seconds
        self._cpu_known = self._cpu_known and cpu_seconds is not None
        sums[2] += cpu_seconds if cpu_seconds is not None else 0.0
        if sums[1] < MIN_SECONDS:
            return
        cell_steps, seconds, cpu = sums
        self._open = None
        if parallel:
            self._proven = self._cpu_known and cpu >= PROVEN * seconds
        known = self.rate[True] is not None and self.rate[False] is not None
        before = known and self.rate[True] >= self.rate[False]
        self.rate[parallel] = cell_steps / seconds
        par, one = self.rate[True], self.rate[False]
        if self._probing and par is not None and one is not None:
            after = par >= one
            if max(par, one) >= CLEAR * min(par, one):
                # A wide lead: the other sweep is tried again only after the longest interval.
                self._interval = PROBE_MAX
            elif known and after == before:
                self._interval = min(2 * self._interval, PROBE_MAX)  # a try that confirms backs off
            else:
                self._interval = PROBE_FIRST  # a first comparison, or one that changes the choice
        self._probing = False
