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
    rows = _flood_stages.measure(tw, sc, 1, log=lambda line: None)
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
    assert sum(line.startswith("| ") for line in text.splitlines()) == 7  # header + 6 variants


def test_kernel_bytes_count_the_swept_arrays():
    # float32: depth, remainder, two face arrays read and written (32), bed, Manning, rain read (12)
    assert _bandwidth.kernel_bytes(4, accum=False) == 44
    # float64 has no remainder: 3 x 16 + 3 x 8
    assert _bandwidth.kernel_bytes(8, accum=False) == 72
    # running maxima: depth, speed, hazard (float32) read and written; Green-Ampt: 2 parameters + F
    assert _bandwidth.kernel_bytes(4) == 68
    assert _bandwidth.kernel_bytes(4, infiltration=2) == 68 + 16 + 16
