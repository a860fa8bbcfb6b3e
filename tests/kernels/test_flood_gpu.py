"""The GPU flood kernel (kernels._flood_gpu, ``advance(..., device="gpu")``) against the CPU kernel.

Without a GPU it runs under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), in a subprocess
so the simulator does not replace ``numba.cuda`` for the other tests. The simulator runs every GPU
thread in Python, so the grids are one 16 x 16 block and the runs a dozen steps: enough to cross
every code path (rain, both infiltration laws, drainage, blocked cells, point inflows and a pump,
level and free-outflow boundaries, level-forced cells, the running maxima) on both dtypes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install numba-cuda)")

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = r"""
import json, sys
import numpy as np
from kernels.flood import (FloodAccum, FloodForcing, FloodGrid, FloodParams, FloodState, Series, advance,
                           edge_faces, stored_volume)

def case(name, dtype):
    ny, nx, dx = 12, 14, 5.0
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 0.01 * dx * (nx - xx) + 0.04 * np.sin(yy / 2.0) + 0.03 * np.cos(xx / 3.0)
    blocked = np.zeros((ny, nx), np.uint8)
    blocked[4:6, 6:8] = 1
    h0 = np.where(blocked == 1, 0.0, np.maximum(0.25 - z + z.min(), 0.0) + 0.02 * (xx % 3 == 0))
    shape = (ny, nx)
    if name == "rain":
        grid = FloodGrid.simple(z.astype(dtype), dx, 0.03, blocked=blocked)
        drain = np.zeros(shape); drain[:, : nx // 2] = 40 / 3.6e6
        grid = grid._replace(infil_kind=1, infil_a=np.full(shape, 60 / 3.6e6), infil_b=np.full(shape, 10 / 3.6e6),
                             infil_c=np.full(shape, 2 / 3600), drain_cap=drain)
        ramp = Series.pack([([0.0, 6.0, 12.0], [0.5, 1.0, 0.2])])
        forcing = FloodForcing.none(shape, ramp)._replace(rain_field=np.full(shape, 200 / 3.6e6), rain_ser=0)
    else:
        z0 = float(z[0, 0])
        west = edge_faces(shape, "west", 2, series=1)
        east = edge_faces(shape, "east", 1, slope=0.01)
        b = [west, east]
        grid = FloodGrid.simple(z.astype(dtype), dx, 0.03, blocked=blocked, boundaries=b)
        rows = np.arange(8, 11)
        grid = grid._replace(infil_kind=2, infil_a=np.full(shape, 20 / 3.6e6), infil_b=np.full(shape, 0.05),
                             infil_c=np.zeros(shape), fix_row=rows, fix_col=np.full(rows.size, 10),
                             fix_ser=np.full(rows.size, 2))
        ser = Series.pack([([0.0, 12.0], [0.4, 0.8]), ([0.0, 12.0], [z0 + 0.5, z0 + 0.2]),
                           ([0.0, 12.0], [z.min() + 0.3, z.min() + 0.1]), ([0.0, 12.0], [-0.05, -0.05])])
        forcing = FloodForcing.none(shape, ser)._replace(
            src_row=np.array([2, 9, 9]), src_col=np.array([3, 4, 4]), src_ser=np.array([0, 0, 3]),
            src_w=np.array([1.0, 0.5, 1.0]))
    return grid, forcing, FloodState.from_depth(h0, dtype)

out = {}
for name in ("rain", "boundaries"):
    for dtype in (np.float64, np.float32):
        runs = {}
        for device in ("cpu", "gpu"):
            grid, forcing, state = case(name, dtype)
            acc = FloodAccum.zeros(state.h.shape)
            v0 = stored_volume(state, grid)
            st = advance(state, grid, forcing, FloodParams(fixed_dt=1.0), 6.0, acc, device=device)
            st2 = advance(state, grid, forcing, FloodParams(fixed_dt=1.0), 12.0, acc, device=device)
            v1 = stored_volume(state, grid)
            net = st.net_inflow + st2.net_inflow
            vin = st.vol_rain + st.vol_inflow + st.vol_bnd_in + st2.vol_rain + st2.vol_inflow + st2.vol_bnd_in
            runs[device] = {
                "steps": st.steps + st2.steps, "status": max(st.status, st2.status),
                "mass": abs((v1 - v0) - net) / max(v0, vin),
                "vols": [a + b for a, b in zip(st[3:9], st2[3:9])],
                **{k: np.asarray(getattr(state, k), np.float64).tolist() for k in ("h", "qx", "qy", "infil_cum")},
                **{k: np.asarray(getattr(acc, k), np.float64).tolist()
                   for k in ("h_max", "v_max", "hazard_max", "t_arrival", "duration", "wet_since")},
            }
        out[f"{name}-{np.dtype(dtype).name}"] = runs
print(json.dumps(out).replace("NaN", "null"))
"""


@pytest.fixture(scope="module")
def runs() -> dict:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _arr(run: dict, key: str) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in run[key]], dtype=np.float64)


CASES = ["rain-float64", "rain-float32", "boundaries-float64", "boundaries-float32"]


@pytest.mark.parametrize("case", CASES)
def test_gpu_kernel_gives_the_cpu_kernels_depths_fluxes_and_maxima(runs, case):
    cpu, gpu = runs[case]["cpu"], runs[case]["gpu"]
    assert cpu["status"] == gpu["status"] == 0 and cpu["steps"] == gpu["steps"] == 12
    # float64: the GPU sums in the same order in float64, so only the last bits differ. float32: the
    # CPU computes fluxes in float32, the GPU in float64 (stored as float32): agreement to float32
    # resolution of the depths (0.3 m: 3e-8 m) times a few steps' growth.
    tol = 1e-12 if case.endswith("64") else 2e-6
    for key in ("h", "qx", "qy", "infil_cum", "h_max", "v_max", "hazard_max"):
        np.testing.assert_allclose(_arr(gpu, key), _arr(cpu, key), atol=tol, rtol=0, err_msg=key)
    for key in ("t_arrival", "duration", "wet_since"):
        np.testing.assert_array_equal(_arr(gpu, key), _arr(cpu, key), err_msg=key)
    # The flow really happened: water moved, the forcing and losses acted.
    assert np.abs(_arr(cpu, "qx")).max() > 1e-3
    np.testing.assert_allclose(gpu["vols"], cpu["vols"], rtol=1e-6 if case.endswith("32") else 1e-12, atol=1e-12)
    assert min(v for v in cpu["vols"] if v > 0) > 0 and sum(v > 0 for v in cpu["vols"]) >= 3


@pytest.mark.parametrize("case", CASES)
def test_gpu_kernel_closes_its_water_balance_as_the_cpu_kernel_does(runs, case):
    bound = 1e-12 if case.endswith("64") else 1e-6
    assert runs[case]["cpu"]["mass"] < bound
    assert runs[case]["gpu"]["mass"] < bound


# The simulator runs the kernels as Python, so it cannot see what only the CUDA compiler refuses
# (types, shared arrays, calls). Compiling every kernel to PTX for an H100 (sm_90) checks that, with
# the argument types kernels._flood_gpu.run passes, where NVRTC is installed (no GPU needed).
_PTX = r"""
from numba import cuda, types
from kernels import _flood_gpu as g
A = lambda dt, nd=2: types.Array(dt, nd, "C")
f32, f64, i64, i8, u8, b1 = types.float32, types.float64, types.int64, types.int8, types.uint8, types.boolean
ints = (A(i64, 1), A(i64, 1), A(i8, 1), A(i8, 1), A(i64, 1), A(f64, 1))
acc = (A(f32), A(f32), A(f32), A(f64), A(f64), A(f64))
for st in (f32, f64):
    s = A(st)
    sigs = {
        "_k_faces": (s, s, s, s, s, s, s, f64, f64, f64, f64, f64),
        "_k_boundary": (s, s, s, A(u8), s, s, s, s, *ints, A(f64, 1), f64, f64, f64, f64, f64, f64),
        "_k_factors": (s, s, s, f64, A(f64)),
        "_k_update": (s, s, s, s, s, s, s, s, s, A(f64), s, f64, f64, f64, i64, A(f64), A(f64), A(f64), A(f64),
                      A(f64), b1, A(f64), A(f64), b1, *acc, f64, A(f64, 1), A(f64, 1)),
        "_k_serial": (s, s, s, s, A(u8), s, s, A(i64, 1), A(i64, 1), A(f64, 1), A(i64, 1), A(i64, 1), A(i8, 1),
                      A(i64, 1), A(i64, 1), A(f64, 1), f64, f64, b1, *acc, f64, A(f64, 1), A(f64, 1), A(f64, 1)),
    }
    for name, sig in sigs.items():
        ptx, _ = cuda.compile_ptx(getattr(g, name).py_func, sig, cc=(9, 0))
        assert ".entry" in ptx, name
print("compiled")
"""


def test_every_gpu_kernel_compiles_for_an_h100():
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from numba import cuda, float32\ncuda.compile_ptx(lambda a: None, (float32[:],), cc=(9, 0))",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if probe.returncode:
        pytest.skip(f"no CUDA compiler here (pip install nvidia-cuda-nvrtc-cu12): {probe.stderr.strip()[-200:]}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    out = subprocess.run([sys.executable, "-c", _PTX], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0 and "compiled" in out.stdout, out.stderr[-3000:]
