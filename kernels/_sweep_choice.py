"""Which sweep an :func:`kernels.flood.advance` call runs: the parallel one or the one-thread one.

Threads help only while they get their cores. On a machine with other work a descheduled thread
stalls every step's barrier, and two threads can run slower than one (issue 22 measured 0.38x).
Both sweeps give bit-identical results (the same arithmetic per cell whatever the chunking), so the
choice may follow the speed each achieved: a run calls ``advance`` at every output, gauge or sewer
exchange, and each call's cell updates per second say how the chosen sweep fares now. The slower
one is tried again from time to time (after 8 calls, then 16, 32, up to 64 while it stays slower),
since the load on a machine changes.

A try of the one-thread sweep costs a whole call at one thread's speed (on a free machine). It is
skipped while the parallel calls prove themselves faster: where waiting threads sleep (passive
OpenMP), a call whose process used ``PROVEN`` CPU-seconds or more per second of wall time was
faster than one thread can be, since one thread does at most one CPU-second of work per second
and the parallel sweep's extra work (each chunk's border rows, the waking of the threads) is far
below 30 %. A parallel call that falls short (a thread lost its core) brings the tries back.
"""

from __future__ import annotations

#: Calls between tries of the sweep not in use: the first interval, and the longest.
PROBE_FIRST = 8
PROBE_MAX = 64

#: CPU-seconds per wall second above which a parallel call was surely faster than one thread.
PROVEN = 1.3


class SweepChoice:
    """The measured speed of each sweep on one state, and the choice for the next call."""

    def __init__(self) -> None:
        self.rate: dict[bool, float | None] = {True: None, False: None}
        self._since_probe = 0
        self._interval = PROBE_FIRST
        self._probing = False
        self._proven = False

    def choose(self, can_parallel: bool) -> bool:
        """True: run the next call in parallel. ``can_parallel``: the grid is large enough for it."""
        if not can_parallel:
            return False
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
        """The speed a call achieved (its latest measurement replaces the older one).

        ``cpu_seconds``: the process's CPU time over the call, where waiting threads use none
        (None elsewhere: spinning threads would count their waits as work).
        """
        if cell_steps <= 0 or seconds <= 0:
            return
        if parallel:
            self._proven = cpu_seconds is not None and cpu_seconds >= PROVEN * seconds
        known = self.rate[True] is not None and self.rate[False] is not None
        before = known and self.rate[True] >= self.rate[False]
        self.rate[parallel] = cell_steps / seconds
        if self._probing and known:
            after = self.rate[True] >= self.rate[False]
            # A try that confirms the choice backs off; one that changes it starts over.
            self._interval = min(2 * self._interval, PROBE_MAX) if after == before else PROBE_FIRST
        self._probing = False
