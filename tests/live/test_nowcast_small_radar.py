"""A radar window cut to a small town (fewer than 32 pixels a side, as a lon/lat crop around Andorra la
Vella is) gets a STEPS nowcast, and pysteps' optical flow does not corrupt the process's memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = """
import json, sys
import numpy as np
from twin.live.nowcast import nowcast
ny, nx = int(sys.argv[1]), int(sys.argv[2])
yy, xx = np.mgrid[0:ny, 0:nx]
frames = [30 * np.exp(-((xx - 8 - 2 * k) ** 2 + (yy - ny / 2) ** 2) / 30.0) for k in range(3)]
for _ in range(3):
    nc = nowcast(frames, 6, 2, method="steps", min_frames=3, km_per_pixel=0.5, interval_min=5, seed=0)
print(json.dumps({"method": nc.method, "reason": nc.reason, "moved": float(nc.rain[0, -1].max())}))
"""


@pytest.mark.parametrize("shape", [(30, 34), (20, 24)])
def test_a_small_radar_window_gets_a_steps_nowcast_and_the_process_survives(shape):
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *map(str, shape)],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=300,
    )
    # before: "pysteps failed: ValueError: n must be greater than 2" (two cascade levels), and once the
    # flow had run on the small grid, "corrupted size vs. prev_size" and SIGABRT
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["method"] == "steps", out
