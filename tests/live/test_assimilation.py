"""Gauges pulled into the model: nudging converges within a stated number of cycles, its volume a
term of its own in the books; a boundary gauge sets the edge's water level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from live_town import DX, X0, Y0, bowl_twin, config

from twin.errors import ScenarioError
from twin.live.cycle import Forecaster
from twin.live.observations import parse_time

T0 = parse_time("2026-06-01T08:00Z")


def _levels(folder, station, x, y, values, every=300.0):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "time": [pd.Timestamp(T0 + k * every, unit="s", tz="UTC").isoformat() for k in range(len(values))],
            "station": station,
            "x": x,
            "y": y,
            "level_m": values,
        }
    ).to_csv(folder / f"levels_{station}.csv", index=False)


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_a_lake_started_at_a_wrong_level_converges_to_its_gauge_within_five_cycles(tmp_path):
    tw = bowl_twin(lake_level=10.5)  # the model starts the pond at 10.5 m ...
    _levels(tmp_path / "obs", "pond", X0 + 150, Y0 - 150, [10.3] * 20)  # ... its gauge reads 10.3 m
    cfg = config(lead_times=["6min"], members=1)
    misfits, nudged, errors = [], [], []
    with Forecaster(tw, cfg, tmp_path / "obs", tmp_path / "fc") as fc:
        for k in range(6):
            rec = fc.cycle(T0 + k * 360.0).record
            (m,) = rec["misfit"]
            misfits.append((m["misfit_before_m"], m["misfit_after_m"]))
            nudged.append(rec["balance"]["volume_nudging_m3"])
            errors.append(rec["balance"]["mass_balance_error"])
            assert "NoRadar" in [w["code"] for w in rec["warnings"]]
    assert misfits[0][0] == pytest.approx(-0.2, abs=1e-3)
    assert misfits[0][1] == pytest.approx(-0.1, abs=1e-3)  # gain 0.5: half the misfit per cycle
    assert abs(misfits[5][0]) < 0.05 * 0.2  # within 5 cycles: below 5 % of the wrong start
    assert all(abs(b) <= abs(a) + 1e-6 for a, b in misfits)
    assert all(v < 0 for v in nudged)  # water taken out, and said so
    # the books close with the nudging as its own term (no rain: the residual is all there is)
    assert all(abs(e) < 1e-3 for e in errors)


@pytest.mark.filterwarnings("ignore::twin.live.observations.ObservationWarning")
def test_a_boundary_gauge_sets_the_level_of_its_edge(tmp_path):
    tw = bowl_twin()
    rising = list(np.linspace(11.2, 11.6, 9))
    _levels(tmp_path / "obs", "harbour", X0 + 300, Y0 - 150, rising)
    base = {
        "kind": "flood",
        "duration": "1h",
        "infiltration": {"model": "none"},
        "boundary": [{"edge": "east", "type": "level", "level": [[0, 0.0]]}],
    }
    cfg = config(base=base, lead_times=["6min"], members=1, boundary_gauges={"harbour": 0})
    with Forecaster(tw, cfg, tmp_path / "obs", tmp_path / "fc") as fc:
        fc.cycle(T0)
        res = fc.cycle(T0 + 2400.0)
    rec = res.record
    assert rec["boundary_levels"] == {"harbour": True}
    assert rec["misfit"] == []  # a boundary gauge is not nudged
    assert rec["balance"]["volume_boundary_in_m3"] > 0
    assert abs(rec["balance"]["mass_balance_error"]) < 1e-5
    h = res.inputs.state.h
    z = tw.terrain
    row = int(150 / DX)
    level_now = float(np.interp(2400.0, np.arange(9) * 300.0, rising))
    assert z[row, -1] + h[row, -1] == pytest.approx(level_now, abs=0.05)


def test_a_boundary_gauge_on_a_boundary_that_is_not_a_level_is_refused(tmp_path):
    (tmp_path / "obs").mkdir()
    with pytest.raises(ScenarioError, match="boundary_gauges"):
        Forecaster(bowl_twin(), config(boundary_gauges={"x": 0}), tmp_path / "obs", tmp_path / "fc")


def _valley(depth: float):
    """A valley falling 2 % west to east (40 x 20 cells of 5 m) with, when ``depth`` > 0, a 2-cell
    river down its middle holding ``depth`` of water."""
    from affine import Affine

    from kernels.flood import FloodState
    from twin.model.twin import Twin

    ny, nx, dx = 20, 40, 5.0
    x = (np.arange(nx) + 0.5) * dx
    z = np.tile(100.0 - 0.02 * x, (ny, 1))
    z[9:11] -= 0.5  # the channel
    h = np.full_like(z, 5e-4)  # a film below the dry depth, as a hot start leaves on the slopes
    h[9:11] = max(depth, 5e-4)
    tw = Twin("EPSG:32631", Affine(dx, 0, 379000.0, 0, -dx, 4707200.0), z)
    state = FloodState.from_depth(h.copy())
    return tw, z, state


def _gauge(tw, row, col, level):
    x, y = tw.transform @ (col + 0.5, row + 0.5)
    return pd.DataFrame({"time": [0.0], "station": ["valira"], "x": [x], "y": [y], "level_m": [level]})


@pytest.mark.parametrize("depth", [0.0, 0.3])
def test_nudging_a_river_on_a_slope_raises_its_water_and_pours_none_downhill(depth):
    # a river gauge on a steep town (Andorra's Gran Valira): the model's river lower than the gauge
    from twin.live.assimilation import nudge

    tw, z, state = _valley(depth)
    row, col = 9, 20
    ground = z[row, col]
    before = state.h.copy()
    (m,) = nudge(
        state,
        tw,
        z,
        np.zeros(z.shape, np.int8),
        _gauge(tw, row, col, ground + depth + 0.4),
        gain=0.5,
        radius=150.0,
        h_dry=1e-3,
    )
    rise = state.h - before
    # before: every dry cell downhill within 150 m filled to the gauge's level, up to 1.5 m deep on the
    # slope (and some 50 m3 for each 0.2 m asked)
    assert m.after == pytest.approx(0.2, abs=1e-3)  # before, with a film on the dry gauge cell: 0.4 (nothing moved)
    assert rise.max() <= 0.2 + 1e-6
    assert m.volume_m3 < 0.2 * 25.0 * (2 * 40 + 40)  # the river's cells and a strip of bank raised by the shift
    # sheet flow on the slopes around the river (rain wets them all): not raised with the river
    tw, z, state = _valley(0.3)
    state.h[state.h < 0.01] = 0.03
    before = state.h.copy()
    nudge(
        state, tw, z, np.zeros(z.shape, np.int8), _gauge(tw, 9, 20, z[9, 20] + 0.7), gain=0.5, radius=150.0, h_dry=1e-3
    )
    sheet = np.ones(z.shape, bool)
    sheet[9:11] = False
    far = np.abs(z - z[9, 20] - 0.3) > 0.5  # cells whose level is not the river's at the gauge
    # before: all 720 cells of sheet flow raised by 0.2 m (3,600 m3 poured on the streets)
    assert (state.h - before)[sheet & far].max() == 0.0
    # a dry gauge reading below its ground moves no water (before: every other dry cell was its region)
    tw, z, state = _valley(0.0)
    before = state.h.copy()
    (m,) = nudge(
        state,
        tw,
        z,
        np.zeros(z.shape, np.int8),
        _gauge(tw, 3, 20, z[3, 20] - 0.3),
        gain=0.5,
        radius=150.0,
        h_dry=1e-3,
    )
    assert m.volume_m3 == 0.0 and np.array_equal(state.h, before)


def test_nudging_the_gran_valira_gauge_in_andorra_pours_no_lake_on_the_town(shared_data, tmp_path):
    # the real town: a gauge on the Gran Valira where the 24.5 m DEM shows no channel (the model dry
    # there), reading 0.5 m above the ground
    from click.testing import CliRunner
    from pyproj import Transformer

    from kernels.flood import FloodState
    from twin.cli.app import main
    from twin.live.assimilation import nudge
    from twin.model.twin import Twin
    from twin.sims.flood.forcing import setup
    from twin.sims.flood.scenario import Scenario

    city = shared_data / "city" / "andorra_la_vella"
    args = ["ingest", "--dem", str(city / "elevation.tif"), "--rivers", str(city / "river.json")]
    res = CliRunner().invoke(main, [*args, "--resolution", "10", "--out", str(tmp_path / "tw")])
    assert res.exit_code == 0, res.output
    tw = Twin.load(tmp_path / "tw")
    s = setup(tw, Scenario.from_dict({"duration": 60, "initial": {"river_fill": 0.5}}))
    z, h0 = np.asarray(s.grid.z), np.asarray(s.h0)
    state = FloodState.from_depth(h0.copy())
    x, y = Transformer.from_crs(4326, tw.crs, always_xy=True).transform(1.5285, 42.5068)
    r, c = tw.index(np.array([x]), np.array([y]))
    level = float(z[r[0], c[0]] + h0[r[0], c[0]]) + 0.5
    gauge = pd.DataFrame({"time": [0.0], "station": ["GranValira"], "x": [x], "y": [y], "level_m": [level]})
    (m,) = nudge(state, tw, z, np.asarray(s.grid.blocked), gauge, gain=0.5, radius=150.0, h_dry=1e-3)
    assert m.after == pytest.approx(0.25, abs=0.01)
    # before: every dry cell downhill within 150 m filled to the gauge's level (tens of thousands of m3,
    # metres deep on the streets)
    assert m.volume_m3 < 2000.0, m.volume_m3
    assert (state.h - h0).max() <= 0.25 + 1e-6
