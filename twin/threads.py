"""How the kernels' threads share the CPU: the threading layer and wait policy cimtwin sets.

A flood step is one parallel sweep that ends at a barrier, thousands of times per run. With
OpenMP's default wait policy a thread that reaches the barrier first spins on its core; on a
machine with other work (a shared server, a busy laptop) that spinning takes the core from the
thread it waits for, and a descheduled thread stalls every step: two threads ran at 0.38x one
thread under load (issue 22). So cimtwin asks for passive waiting (a waiting thread sleeps) and
the threading layers in the order of :data:`LAYER_PRIORITY`.

:func:`configure` runs when :mod:`twin` is imported, before Numba starts its thread pool (the
layer is chosen, and OpenMP reads its wait policy, once per process). Every setting already made
in the environment wins: ``NUMBA_THREADING_LAYER`` (or ``NUMBA_THREADING_LAYER_PRIORITY``),
``OMP_WAIT_POLICY``, ``KMP_BLOCKTIME``, and ``NUMBA_NUM_THREADS`` for the number of threads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

from kernels import thread_wait

#: Environment defaults: OpenMP threads sleep at a barrier instead of spinning (GNU, LLVM and Intel
#: OpenMP read OMP_WAIT_POLICY; Intel's and LLVM's also KMP_BLOCKTIME, the spin time in ms).
WAIT_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}

#: Threading layers in the order cimtwin prefers them, the first one available used.
LAYER_PRIORITY = ("omp", "workqueue", "tbb")


def configure(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Apply cimtwin's thread policy where the user has not set one; return what is in force.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read and complete (``os.environ`` by default; only then is an already
        imported Numba's configuration updated too).

    Returns
    -------
    dict
        The wait-policy variables and ``NUMBA_THREADING_LAYER_PRIORITY``.
    """
    env = os.environ if environ is None else environ
    for key, value in WAIT_DEFAULTS.items():
        env.setdefault(key, value)
    if not env.get("NUMBA_THREADING_LAYER_PRIORITY"):
        env["NUMBA_THREADING_LAYER_PRIORITY"] = " ".join(LAYER_PRIORITY)
        numba = sys.modules.get("numba") if environ is None else None
        if numba is not None:  # imported before twin: its configuration was read already
            numba.config.THREADING_LAYER_PRIORITY = list(LAYER_PRIORITY)
    if environ is None:
        # OpenMP reads its wait policy once, when its threads start: what is in force now stays.
        thread_wait.THREADS_SLEEP = threads_sleep(env)
    return {k: env[k] for k in (*WAIT_DEFAULTS, "NUMBA_THREADING_LAYER_PRIORITY")}


def threads_sleep(environ: MutableMapping[str, str]) -> bool:
    """True where these settings make a waiting OpenMP thread sleep at once rather than spin first.

    A passive wait policy, and no spin time set against it: ``GOMP_SPINCOUNT`` (GNU OpenMP, spins)
    and ``KMP_BLOCKTIME`` (LLVM and Intel OpenMP, milliseconds) absent or 0.
    """
    passive = environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"
    return passive and all(environ.get(k, "0").strip() in ("0", "") for k in ("GOMP_SPINCOUNT", "KMP_BLOCKTIME"))
