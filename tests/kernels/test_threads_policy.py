"""The thread policy cimtwin sets at import (twin.threads): passive waiting, a layer order, and
every setting the user made in the environment kept. Each case runs in a fresh interpreter, since
Numba picks its threading layer, and OpenMP reads its wait policy, once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, os
import numpy as np
import numba
import twin  # sets the policy
from kernels.flood import FloodForcing, FloodGrid, FloodParams, FloodState, advance
numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
n = 220  # above the kernel's parallel threshold, so the thread pool starts
z = np.zeros((n, n), np.float32)
advance(FloodState.zeros((n, n), np.float32), FloodGrid.simple(z, 2.0), FloodForcing.uniform_rain((n, n), 1e-5),
        FloodParams(), 5.0)
from kernels import thread_wait
print(json.dumps({"layer": numba.threading_layer(), "wait": os.environ.get("OMP_WAIT_POLICY"),
                  "blocktime": os.environ.get("KMP_BLOCKTIME"), "sleep": thread_wait.THREADS_SLEEP}))
"""


def _probe(**env: str) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY", "OMP_WAIT_POLICY", "KMP_BLOCKTIME")
    }
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**clean, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "2", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_twin_sets_passive_waiting_and_the_layer_order():
    from twin import threads

    got = _probe()
    assert got["wait"] == "PASSIVE" and got["blocktime"] == "0"
    # The kernels learn that waiting threads sleep (their sweep choice trusts CPU time only then).
    assert got["sleep"] is True
    # The first available layer of cimtwin's order (OpenMP where Numba's OpenMP pool loads).
    available = [name for name in threads.LAYER_PRIORITY if _loads(name)]
    assert got["layer"] == available[0]


def _loads(layer: str) -> bool:
    module = {"omp": "omppool", "tbb": "tbbpool", "workqueue": "workqueue"}[layer]
    code = f"import numba.np.ufunc.{module}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120).returncode == 0


@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_the_users_own_settings_win(layer):
    got = _probe(NUMBA_THREADING_LAYER=layer, OMP_WAIT_POLICY="ACTIVE", KMP_BLOCKTIME="200")
    assert got == {"layer": layer, "wait": "ACTIVE", "blocktime": "200", "sleep": False}


def test_configure_fills_only_what_is_missing():
    from twin import threads

    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    got = threads.configure(env)
    assert env == {
        "OMP_WAIT_POLICY": "ACTIVE",
        "KMP_BLOCKTIME": "0",
        "NUMBA_THREADING_LAYER_PRIORITY": "omp workqueue tbb",
    }
    assert got["OMP_WAIT_POLICY"] == "ACTIVE"


def test_only_a_passive_policy_without_spin_time_counts_as_sleeping_waiters():
    from twin import threads

    assert threads.threads_sleep({"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"})
    assert threads.threads_sleep({"OMP_WAIT_POLICY": "passive"})
    assert not threads.threads_sleep({"OMP_WAIT_POLICY": "ACTIVE", "KMP_BLOCKTIME": "0"})
    assert not threads.threads_sleep({})  # GNU OpenMP's default spins ~3 ms first
    assert not threads.threads_sleep({"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10000"})
    assert not threads.threads_sleep({"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "200"})
