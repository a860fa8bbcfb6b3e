"""The sample city's water supply: a reservoir in the hills, a river intake, three demands, 30 years of days.

:func:`write_water` writes ``water.toml`` (a ``kind = "water"`` scenario) and ``water_flows.csv``
(its daily series) for :func:`twin.sample.city`. The series are synthetic but shaped like the Pearl
River delta's: rain from monthly normals of Guangzhou (about 1,700 mm a year, three quarters of it
from April to September), a year-to-year factor with three drought years (a third to a half less
rain, like 1963 or 2004 in Guangdong), and flows from a daily soil-and-groundwater bucket
over each catchment, so that dry seasons recede slowly and a dry year leaves the next one low.
The reservoir is sized so that the city's supply is secure in ordinary years and short in the
droughts: the priorities then show (irrigation is cut first, then industry).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twin._io import atomic_file

__all__ = ["FIRST_YEAR", "YEARS", "write_water"]

FIRST_YEAR, YEARS = 1991, 30
#: Catchments [km2]: the reservoir's in the hills north of the city, the river's above the intake.
RESERVOIR_KM2, RIVER_KM2 = 24.0, 300.0
#: Guangzhou's monthly rain normals [mm] and the share of wet days in each month.
_RAIN_MM = np.array([43, 65, 85, 182, 284, 284, 229, 233, 172, 70, 37, 29], dtype=float)
_WET_DAYS = np.array([0.25, 0.33, 0.42, 0.50, 0.58, 0.62, 0.55, 0.55, 0.45, 0.25, 0.18, 0.17])
#: Potential evaporation [mm/day] (open water and soil) by month.
_PET_MM = np.array([2.0, 2.1, 2.5, 3.0, 3.8, 4.2, 4.8, 4.6, 4.2, 3.6, 2.8, 2.2])
# Soil bucket [mm], the share of soil water percolating and of groundwater draining per day,
# and the quick-flow reservoir's residence time [days].
_SOIL_MM, _PERCOLATION, _BASEFLOW, _QUICK_DAYS = 150.0, 0.04, 0.02, 2.0

_WATER_TOML = """\
# The sample city's water supply, 30 years of days ({first}-{last}): a reservoir on the creek in the
# hills ({reservoir_km2:g} km2 catchment) and an intake on the river ({river_km2:g} km2 above it) feed one
# treatment works; the city comes first, then industry; the farms take from the reservoir last.
# The series (water_flows.csv) are synthetic: see twin/sample/water.py. Run it with
#   twin water water.toml --out water [--twin TWIN_DIR] [--plot water.png]
kind = "water"
name = "sample-water"
start = {first}-01-01
end = {end}-01-01
step = "1d"
timeseries = "water_flows.csv"        # date, reservoir_in and river_q (m3/s), evaporation (mm/day), rain_mm

[[node]]
name = "hill_reservoir"
type = "reservoir"
at = [{rx:.1f}, {ry:.1f}]
capacity = 8.0e6                      # m3
initial = 6.0e6
inflow = "reservoir_in"
evaporation = "evaporation"
table = [[0, 0, 62.0], [8.0e6, 1.1e6, 73.0]]   # storage m3, area m2, level m
# Flood season (May to September): kept below 85 % to take a storm; refilled in October.
zones = {{ conservation = [[1, 1.0], [121, 1.0], [152, 0.85], [258, 0.85], [288, 1.0]], buffer = 0.15, inactive = 0.05, buffer_coef = 0.1 }}

[[node]]
name = "creek_eflow"
type = "env_flow"
at = [{cx:.1f}, {cy:.1f}]
demand = 0.03                         # m3/s kept in the creek below the dam

[[node]]
name = "river_intake"
type = "abstraction"
at = [{ix:.1f}, {iy:.1f}]
inflow = "river_q"
licence = 0.45                        # m3/s

[[node]]
name = "river_eflow"
type = "env_flow"
at = [{ex:.1f}, {ey:.1f}]
demand = 1.5                          # m3/s: against salt water coming up the delta in the dry season

[[node]]
name = "works"
type = "works"
at = [{wx:.1f}, {wy:.1f}]
capacity = 1.1                        # m3/s

[[node]]
name = "city"
type = "demand"
at = [{dx:.1f}, {dy:.1f}]
use = "domestic"
demand = 0.55                         # m3/s: 160,000 people at 300 litres a day
monthly = [0.95, 0.95, 0.97, 1.0, 1.03, 1.06, 1.08, 1.08, 1.04, 1.0, 0.96, 0.95]
priority = 1

[[node]]
name = "industry"
type = "demand"
at = [{nx:.1f}, {ny:.1f}]
use = "industrial"
demand = 0.25
priority = 2

[[node]]
name = "farms"
type = "demand"
at = [{fx:.1f}, {fy:.1f}]
use = "agricultural"
demand = 0.15                         # m3/s in a month of factor 1: rice and vegetables, dry-season irrigation
monthly = [1.2, 1.2, 1.5, 1.3, 0.6, 0.4, 0.5, 0.6, 0.9, 1.4, 1.5, 1.3]
priority = 3

[[link]]
from = "hill_reservoir"
to = "creek_eflow"
river = true

[[link]]
from = "hill_reservoir"
to = "works"
capacity = 1.0
loss = 0.03

[[link]]
from = "hill_reservoir"
to = "farms"
capacity = 0.4
loss = 0.1                            # an open canal

[[link]]
from = "river_intake"
to = "river_eflow"
river = true

[[link]]
from = "river_intake"
to = "works"
capacity = 0.45
cost = 0.5                            # pumped, but no storage used: taken first when the river has water

[[link]]
from = "works"
to = "city"
loss = 0.05

[[link]]
from = "works"
to = "industry"
loss = 0.05
"""


def write_water(root: Path, rng: np.random.Generator, points: dict[str, tuple[float, float]]) -> Path:
    """Write ``water.toml`` and ``water_flows.csv`` into ``root``.

    Parameters
    ----------
    root : Path
        The sample city's folder.
    rng : numpy.random.Generator
        The stream the series are drawn from (the city's seed).
    points : dict
        ``(x, y)`` in the city's CRS of the nodes, by key: ``r`` reservoir, ``c`` creek environmental
        flow, ``i`` river intake, ``e`` river environmental flow, ``w`` works, ``d`` city, ``n``
        industry, ``f`` farms.

    Returns
    -------
    Path
        ``root / "water.toml"``.
    """
    flows = daily_series(rng)
    with atomic_file(root / "water_flows.csv") as tmp:
        flows.to_csv(tmp, index_label="date", float_format="%.4f")
    coords = {f"{k}{axis}": v for k, (x, y) in points.items() for axis, v in (("x", x), ("y", y))}
    text = _WATER_TOML.format(
        first=FIRST_YEAR,
        last=FIRST_YEAR + YEARS - 1,
        end=FIRST_YEAR + YEARS,
        reservoir_km2=RESERVOIR_KM2,
        river_km2=RIVER_KM2,
        **coords,
    )
    path = root / "water.toml"
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def dry_years(rng: np.random.Generator) -> np.ndarray:
    """Three drought years, apart from each other and from the first two years (the reservoir starts
    three quarters full), as offsets from :data:`FIRST_YEAR`."""
    while True:
        years = np.sort(rng.choice(np.arange(2, YEARS), size=3, replace=False))
        if np.all(np.diff(years) >= 4):
            return years


def daily_series(rng: np.random.Generator) -> pd.DataFrame:
    """30 years of daily rain [mm], evaporation [mm/day], reservoir inflow and river flow [m3/s].

    Returns
    -------
    DataFrame
        Indexed by date, columns ``reservoir_in``, ``river_q``, ``evaporation``, ``rain_mm``.
    """
    days = pd.date_range(f"{FIRST_YEAR}-01-01", f"{FIRST_YEAR + YEARS - 1}-12-31", freq="D")
    month = days.month.to_numpy() - 1
    year = days.year.to_numpy() - FIRST_YEAR
    factor = np.exp(rng.normal(0.0, 0.12, YEARS))  # ordinary years: +-12 % of the normals
    drought = dry_years(rng)
    factor[drought] = rng.uniform(0.5, 0.65, drought.size)
    wet = rng.random(days.size) < _WET_DAYS[month]
    mean_wet_mm = _RAIN_MM[month] / (days.days_in_month.to_numpy() * _WET_DAYS[month])
    rain = np.where(wet, rng.gamma(0.7, mean_wet_mm / 0.7), 0.0) * factor[year]
    pet = _PET_MM[month] * (1.0 + 0.1 * (1.0 - factor[year]))  # dry years are sunnier
    runoff_mm = _bucket(rain, pet)
    to_m3s = 1e3 / 86400.0  # mm over a km2 per day -> m3/s
    return pd.DataFrame(
        {
            "reservoir_in": runoff_mm * RESERVOIR_KM2 * to_m3s,
            "river_q": runoff_mm * RIVER_KM2 * to_m3s,
            "evaporation": pet,
            "rain_mm": rain,
        },
        index=days,
    )


def _bucket(rain: np.ndarray, pet: np.ndarray) -> np.ndarray:
    """Daily runoff [mm] of a soil bucket over a groundwater store, with a quick-flow reservoir."""
    soil, ground, quick = 0.6 * _SOIL_MM, 200.0, 0.0
    out = np.empty_like(rain)
    for t in range(rain.size):
        soil += rain[t]
        excess = max(soil - _SOIL_MM, 0.0)
        soil -= excess + min(pet[t] * soil / _SOIL_MM, soil)
        perc = _PERCOLATION * soil
        soil -= perc
        ground += perc
        base = _BASEFLOW * ground
        ground -= base
        quick += excess
        fast = quick / _QUICK_DAYS
        quick -= fast
        out[t] = fast + base
    return out
