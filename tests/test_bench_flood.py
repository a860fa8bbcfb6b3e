"""bench_flood.py's scenario stages: each variant runs what its label says, on the run's own stops."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from conftest import flood_scenario, plane_twin
from twin.sims.flood.run import run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _bandwidth  # noqa: E402
import _flood_stages  # noqa: E402


def test_stop_times_are_the_runs_stops():
    # gauge rows every 70 s and snapshots every 300 s do not divide each other or the 900 s
    sc = flood_scenario(output={"gauge_interval": 70})
    r = run(plane_twin(), sc, progress=False, scene=False)
    stops = set(r.gauges["time_s"][1:]) | set(r.frame_times[1:]) | {sc.duration}
    assert list(_flood_stages.stop_times(sc)) == sorted(stops)


def test_stage_variants_add_one_stage_each():
    tw, sc = plane_twin(), flood_scenario(output={"gauge_interval": 70})
    rows = _flood_stages.measure(tw, sc, 1, log=lambda line: None, settings=("numerics.alpha=0.3",))
    # a setting's run comes last, timed against the scenario: a smaller Courant factor takes more steps
    changed = rows.pop()
    assert changed["setting"] and changed["stage"].startswith("the scenario with `numerics.alpha=0.3`")
    assert changed["steps"] > rows[-1]["steps"]
    by = {r["stage"]: r for r in rows}
    labels = [r["stage"] for r in rows]
    assert labels[0].startswith("bare kernel") and len(rows) == 6  # no [drainage] inp: no sewer row
    # the kernel stopped at the run's own times takes the run's steps exactly (same calls, same state)
    assert rows[3]["steps"] == rows[4]["steps"] == rows[5]["steps"]
    # the one-call variants take fewer steps: no step is cut short at a gauge or snapshot time
    assert rows[2]["steps"] < rows[3]["steps"]
    # the maxima change no step; the losses change the depths, so the steps may differ
    assert by[labels[0]]["steps"] == by[labels[1]]["steps"]
    text = _flood_stages.render(rows, int(np.prod(tw.shape)), sc.duration / 60, 1)
    assert "Scenario throughput" in text
    assert "The scenario with `numerics.alpha=0.3`" in _flood_stages.render([*rows, changed], 768, 15.0, 1)
    assert sum(line.startswith("| ") for line in text.splitlines()) == 7  # header + 6 variants


def test_kernel_bytes_count_the_swept_arrays():
    # float32: depth, remainder, two face arrays read and written (32), bed, Manning, rain read (12)
    assert _bandwidth.kernel_bytes(4, accum=False) == 44
    # float64 has no remainder: 3 x 16 + 3 x 8
    assert _bandwidth.kernel_bytes(8, accum=False) == 72
    # running maxima: depth, speed, hazard (float32) read and written; Green-Ampt: 2 parameters + F
    assert _bandwidth.kernel_bytes(4) == 68
    assert _bandwidth.kernel_bytes(4, infiltration=2) == 68 + 16 + 16


def test_dt_levels_count_cells_by_their_own_step():
    h = np.zeros((10, 10), np.float32)
    h[0, 0] = 4.0  # the deep cell that sets the global step: 0.6 x 4 / sqrt(9.81 x 4) = 0.383 s
    h[5, 5] = 0.2  # 1.71 s: 4.47 global steps, level 2
    blocked = np.zeros((10, 10), np.uint8)
    blocked[9, :] = 1  # not counted, whatever they hold
    h[9, 0] = 9.0
    st = _flood_stages.dt_levels(h, blocked, 4.0, 0.6, 9.81, 10.0)
    assert st["dt_global"] == np.float64(0.6 * 4.0 / np.sqrt(9.81 * np.float64(4.0)))
    # dry cells take dt_max = 10 s: 26 global steps, level 4 (16x)
    assert st["counts"].tolist() == [1, 0, 1, 0, 88, 0]
    assert st["gain"] == 90 / (1 + 1 / 4 + 88 / 16)


def test_threads_check_child_times_two_threads_after_its_warm_up():
    """A --threads-check child reports the steady state's rate, CPU time per cell-step and each thread's busy time."""
    import json
    import os
    import subprocess

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_flood.py"), "--child", "220", "120", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["steps"] >= 12  # 120 s timed at dt <= 10 s, the 60 s warm-up not counted
    assert r["rate"] > 0 and r["cpu_ns"] > 0
    if sys.platform == "linux":
        assert len(r["busy"]) == 2 and sum(r["busy"]) > 0


def test_threads_check_verdict_holds_the_default_policy_to_the_issues_targets():
    import _threads_check

    def row(n, loaded, ratio, policy=_threads_check.DEFAULT):
        return {"policy": policy, "n": n, "loaded": loaded, "ratio": ratio}

    lines = _threads_check.verdict(
        [row(500, False, 1.75), row(500, True, 0.98), row(1000, False, 1.65), row(1000, True, 1.2, "workqueue")]
    )
    assert lines == [
        "- 500 x 500, idle: 2 / 1 threads = 1.75 (target >= 1.7): met",
        "- 500 x 500, with one busy process: 2 / 1 threads = 0.98 (target >= 1): NOT met",
        "- 1000 x 1000, idle: 2 / 1 threads = 1.65 (target >= 1.7): NOT met",
    ]
