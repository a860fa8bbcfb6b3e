"""Whether the kernels' waiting threads sleep, as the layer that sets the thread policy reports it.

A kernel cannot read the environment (no I/O in ``kernels/``), and the OpenMP runtime has no call
that reports its wait policy, so ``twin.threads.configure`` records here the policy it puts in
force. :mod:`kernels.flood`'s sweep choice trusts a parallel call's CPU time as proof of its speed
only where waiting threads sleep: a spinning thread counts its waits as work.
"""

from __future__ import annotations

#: True where Numba's OpenMP threads sleep while they wait (a passive wait policy).
THREADS_SLEEP = False
