"""The sample city's scenario files: a design-storm flood and a river-lake run on its river."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin._io import atomic_file
from twin.sample.grid import Grid
from twin.sample.terrain import Channel

_FLOOD_TOML = """\
# Design storm on the sample city: 60 mm/h for one hour plus a river flood wave.
kind = "flood"
duration = "2h"
output_interval = "10min"

[rain]
hyetograph = [[0, 60.0], [3600, 60.0], [3601, 0.0]]   # seconds, mm/h

[[inflow]]
at = [{x:.1f}, {y:.1f}]
hydrograph = [[0, 20.0], [2400, 180.0], [7200, 40.0]]   # seconds, m3/s

[[boundary]]
edge = "{edge}"
type = "free"
slope = 0.001

[infiltration]
model = "green-ampt"                  # parameters per land-use class

[drainage]                            # the sewer network along the streets, sized for a 3-year storm (75 mm/h)
inp = "sewer.inp"
outfalls = "surface"                  # outfalls discharge into the river: a high river backs up the pipes

[[gauge]]
name = "river_inlet"
at = [{x:.1f}, {y:.1f}]

[[gauge]]
name = "river_outlet"
at = [{xo:.1f}, {yo:.1f}]
"""

_RIVER_TOML = """\
# River-lake scenario on the sample city: the same storm's runoff and river flood wave routed through
# the river, the creek and the lake for a day, and a diesel spill on the creek that mixes in the lake.
kind = "river"
duration = "1d"
dt = "10min"
output_interval = "30min"

[network]
source = "rivers"                     # the twin's river layer (the river and the creek)
reference_discharge = 60.0            # m3/s: Muskingum-Cunge celerity and diffusion are taken here

[runoff]                              # rain x coefficient over each link's catchment
hyetograph = [[0, 60.0], [3600, 60.0], [3601, 0.0]]   # seconds, mm/h
coefficient = 0.6

[[inflow]]
at = [{x:.1f}, {y:.1f}]
hydrograph = [[0, 20.0], [2400, 180.0], [7200, 40.0], [86400, 20.0]]   # seconds, m3/s

[[lake]]
name = "{lake}"
crest = {crest:.2f}                        # m: the outlet weir
weir_width = 6.0
target_level = {target:.2f}                 # m: the sluice releases towards it ...
release_max = 2.0                     # ... at most 2 m3/s
evaporation = 4.0                     # mm/day

[[spill]]
name = "diesel"
at = [{sx:.1f}, {sy:.1f}]
time = "2h"
mass = 200.0                          # kg
decay_rate = 0.2                      # 1/day
dispersion = 5.0                      # m2/s

[[gauge]]
name = "river_outlet"
at = [{xo:.1f}, {yo:.1f}]
"""


def _river_ends(grid: Grid, river: Channel) -> dict[str, float]:
    """The inflow on the river's centre line 50 m in from the west edge, and the outlet 50 m from the east."""
    x, xo = grid.x0 + 50.0, grid.x0 + grid.size - 50.0
    return {
        "x": x,
        "y": float(np.interp(x, river.xy[:, 0], river.xy[:, 1])),
        "xo": xo,
        "yo": float(np.interp(xo, river.xy[:, 0], river.xy[:, 1])),
    }


def write_scenario(path: Path, grid: Grid, river: Channel) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(_FLOOD_TOML.format(**_river_ends(grid, river), edge="east"), encoding="utf-8")
    return path


def write_river_scenario(path: Path, grid: Grid, river: Channel, creek: Channel, lake: dict) -> Path:
    # The spill a quarter of the way down the creek, upstream of the lake it drains through.
    sx, sy = creek.xy[len(creek.xy) // 4]
    text = _RIVER_TOML.format(
        **_river_ends(grid, river),
        lake=lake["name"],
        crest=lake["level"] + 0.05,
        target=lake["level"] - 0.2,
        sx=float(sx),
        sy=float(sy),
    )
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def water_points(grid: Grid, river: Channel, creek: Channel) -> dict[str, tuple[float, float]]:
    """Where the water-supply nodes stand: the dam near the creek's head, the intake where the river
    enters, each environmental flow a little downstream of its source, the works, city, industry and
    farms at representative points inside the map."""

    def on(channel: Channel, share: float) -> tuple[float, float]:
        x, y = channel.xy[int(share * (len(channel.xy) - 1))]
        return float(x), float(y)

    ends = _river_ends(grid, river)
    L = grid.size
    return {
        "r": on(creek, 0.05),
        "c": on(creek, 0.15),
        "i": (ends["x"], ends["y"]),
        "e": on(river, 0.12),
        "w": (grid.x0 + 0.3 * L, grid.y0 + 0.55 * L),
        "d": (grid.x0 + 0.5 * L, grid.y0 + 0.5 * L),
        "n": (grid.x0 + 0.8 * L, grid.y0 + 0.25 * L),
        "f": (grid.x0 + 0.2 * L, grid.y0 + 0.2 * L),
    }
