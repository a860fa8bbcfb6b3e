"""The flood run's device (``numerics.device``, ``twin run --device``): CPU by default, and a clear
error, not a traceback, where a GPU is asked for and there is none. The GPU kernel itself is
checked against the CPU kernel in tests/kernels/test_flood_gpu.py (under Numba's CUDA simulator)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import flood_scenario, plane_twin
from kernels.flood import gpu_available
from twin.errors import ScenarioError
from twin.sims.flood.run import run

no_gpu = pytest.mark.skipif(gpu_available(), reason="this machine has a GPU: the missing-GPU error cannot happen")


@no_gpu
def test_a_gpu_scenario_without_a_gpu_names_the_key_and_the_fix():
    with pytest.raises(ScenarioError, match=r"numerics.device = 'gpu'.*no CUDA GPU.*numerics.device = 'cpu'"):
        run(plane_twin(), flood_scenario(numerics={"device": "gpu"}), progress=False)


@no_gpu
def test_cli_device_gpu_without_a_gpu_exits_2_with_one_line(tmp_path):
    from twin.cli.app import main

    plane_twin().save(tmp_path / "tw")
    (tmp_path / "s.toml").write_text("duration = 60\n[rain]\nconstant = 40\n")
    args = ["run", str(tmp_path / "s.toml"), "--twin", str(tmp_path / "tw"), "--out", str(tmp_path / "r")]
    res = CliRunner().invoke(main, [*args, "--device", "gpu", "--quiet", "--no-scene"])
    assert res.exit_code == 2, res.output
    assert "no CUDA GPU" in res.output and "--device cpu" in res.output and "Traceback" not in res.output
    # --device cpu overrides a scenario's device = "gpu", and the summary says where it ran
    (tmp_path / "g.toml").write_text('duration = 60\n[rain]\nconstant = 40\n[numerics]\ndevice = "gpu"\n')
    args[1] = str(tmp_path / "g.toml")
    res = CliRunner().invoke(main, [*args, "--device", "cpu", "--quiet", "--no-scene"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["device"] == "cpu"


def test_the_full_solver_on_a_gpu_is_refused_before_the_run():
    """The GPU kernel is the local-inertial scheme; asking it for the full solver names both keys
    (whether or not this machine has a GPU)."""
    scenario = flood_scenario(numerics={"device": "gpu", "scheme": "swe"})
    with pytest.raises(ScenarioError, match=r"local-inertial kernel only.*numerics.scheme = 'swe'"):
        run(plane_twin(), scenario, progress=False)


def test_local_time_stepping_on_a_gpu_is_refused_before_the_run():
    """Local time stepping runs on the CPU: asked for on the GPU, by the scenario or by --device, the
    run stops with one line naming numerics.time_stepping (whether or not this machine has a GPU)."""
    with pytest.raises(ScenarioError, match=r"time_stepping = 'local' runs on the CPU only"):
        flood_scenario(numerics={"device": "gpu", "time_stepping": "local"})
    with pytest.raises(ScenarioError, match=r"--device gpu.*numerics.time_stepping = 'global'"):
        run(plane_twin(), flood_scenario(numerics={"time_stepping": "local"}), progress=False, device="gpu")
