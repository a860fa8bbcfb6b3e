"""The flood scenario: rain, inflows, boundaries, gauges, outputs, numerics and planners' edits, validated
from TOML (the shared base is :mod:`twin.sims.scenario_base`)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from twin.errors import ScenarioError
from twin.sims.scenario_base import (
    Duration,
    Point,
    Ring,
    ScenarioModel,
    ScenarioPath,
    ScenarioTable,
    TimeSeries,
    doc,
    scenario_path,
)

__all__ = [
    "Scenario",
    "Edit",
    "FloodwallEdit",
    "GroundEdit",
    "PondEdit",
    "BuildingEdit",
    "PipeEdit",
    "StorageEdit",
    "InletEdit",
    "PumpEdit",
    "NETWORK_EDITS",
    "MAX_RAIN_MM_H",
    "MIN_INTERVAL_S",
    "MAX_DURATION_S",
    "MAX_FRAMES",
    "MAX_GAUGE_ROWS",
]


class RasterFrame(ScenarioTable):
    """One frame of a rain raster time series: rain rate [mm/h] from ``time`` until the next frame."""

    time: Duration | Literal[0] = doc(
        0.0, description="When the frame starts (seconds or text such as '10min')", units="s"
    )
    file: ScenarioPath = doc(description="Rain-rate raster in mm/h, any CRS, relative to the scenario's folder")


class IdfInline(ScenarioTable):
    """An IDF table written into the scenario: durations, return periods [years] and one of
    ``intensity`` [mm/h] or ``depth`` [mm] as rows per duration (a CSV ``table`` is read into this)."""

    durations: list[Duration] = doc(
        description="The table's storm durations (seconds or text such as '10min')", units="s"
    )
    return_periods: list[float] = doc(description="The table's return periods", units="years")
    intensity: list[list[float]] | None = doc(
        None,
        description="Mean intensity, one row per duration and one column per return period (give this or depth)",
        units="mm/h",
    )
    depth: list[list[float]] | None = doc(
        None,
        description="Depth, one row per duration and one column per return period (give this or intensity)",
        units="mm",
    )

    @model_validator(mode="after")
    def _table(self) -> IdfInline:
        if (self.intensity is None) == (self.depth is None):
            raise ValueError(
                "give exactly one of intensity = [[mm/h, ...], ...] or depth = [[mm, ...], ...], one row per duration"
            )
        self.idf()
        return self

    def idf(self):
        """The validated :class:`twin.sims.flood.storms.IdfTable`."""
        from twin.sims.flood.storms import IdfTable

        quantity = "intensity" if self.intensity is not None else "depth"
        try:
            return IdfTable.from_values(
                self.durations, self.return_periods, self.intensity or self.depth, quantity=quantity, source="the table"
            )
        except ScenarioError as exc:
            raise ValueError(str(exc)) from None


class DesignStorm(ScenarioTable):
    """A design storm: ``method = "chicago"`` from a storm intensity formula
    ``q = A (1 + C lg P) / (t + b)^n`` [L/(s.ha), t in min] (``A`` expanded, or ``A1`` [mm/min] with
    ``A = 167 A1``), or ``method = "idf"``: alternating blocks from an IDF ``table`` (CSV path or inline)."""

    method: Literal["chicago", "idf"] = doc(
        description="'chicago': Chicago storm from a storm intensity formula; "
        "'idf': alternating blocks from an IDF table"
    )
    return_period: float = doc(description="Return period P of the storm", units="years", gt=0)
    duration: Duration = doc(description="Storm duration; the run must be at least as long", units="s")
    step: Duration = doc(300.0, description="Block length; must divide the duration", units="s")
    peak: float | None = doc(
        None,
        description="Peak position as a fraction of the duration (default 0.4 for chicago, 0.5 for idf)",
        ge=0,
        le=1,
    )
    A: float | None = doc(
        None, description="chicago: the formula's expanded leading coefficient (or give A1)", units="L/(s.ha)", gt=0
    )
    A1: float | None = doc(
        None, description="chicago: the formula's A1, with A = 167 A1 (or give A)", units="mm/min", gt=0
    )
    b: float | None = doc(None, description="chicago: the formula's b in (t + b)^n", units="min", ge=0)
    C: float | None = doc(None, description="chicago: the formula's C in (1 + C lg P)")
    n: float | None = doc(None, description="chicago: the formula's exponent n", gt=0, lt=1)
    quantity: Literal["intensity", "depth"] = doc(
        "intensity", description="idf: what a CSV table holds, mean intensity (mm/h) or depth (mm)"
    )
    table: IdfInline | None = doc(
        None,
        description="idf: a CSV file (relative to the scenario) or an inline table "
        "{durations, return_periods, intensity or depth}",
    )

    @field_validator("table", mode="before")
    @classmethod
    def _read_table(cls, v: Any, info: ValidationInfo) -> Any:
        if isinstance(v, (str, os.PathLike)):
            from twin.sims.flood.storms import IdfTable

            path = scenario_path(v, info.context)
            try:
                t = IdfTable.from_csv(path, quantity=(info.data or {}).get("quantity", "intensity"))
            except ScenarioError as exc:
                raise ValueError(str(exc)) from None
            # read into the scenario, so that the result's scenario.json and hash hold the numbers used
            return {
                "durations": t.durations_s.tolist(),
                "return_periods": t.return_periods.tolist(),
                "intensity": t.intensity_mm_h.tolist(),
            }
        return v

    @model_validator(mode="after")
    def _check(self) -> DesignStorm:
        formula = ("A", "A1", "b", "C", "n")
        if self.method == "chicago":
            if self.table is not None:
                raise ValueError("table only applies to method = 'idf'; the Chicago storm uses A (or A1), b, C, n")
            if (self.A is None) == (self.A1 is None):
                raise ValueError(
                    "give exactly one of A (the formula's leading coefficient in L/(s.ha), e.g. 3618.427) "
                    "or A1 (mm/min, with A = 167 A1)"
                )
            missing = [k for k in ("b", "C", "n") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"the Chicago storm needs {missing} of q = A (1 + C lg P) / (t + b)^n")
            if self.A1 is not None and self.A1 > 200:
                raise ValueError(
                    f"A1 = {self.A1:g} mm/min is far above any storm formula's A1 (2-60 mm/min); this "
                    "looks like the expanded coefficient 167 A1: write it as A instead"
                )
            if self.A is not None and self.A < 100:
                raise ValueError(
                    f"A = {self.A:g} L/(s.ha) is far below any storm formula's (300-10000); this looks "
                    "like A1 in mm/min: write it as A1 instead"
                )
        else:
            given = [k for k in formula if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{given} only apply to method = 'chicago'; method = 'idf' reads the table")
            if self.table is None:
                raise ValueError(
                    "method = 'idf' needs table = \"idf.csv\" (relative to the scenario) or an inline "
                    "table {durations, return_periods, intensity or depth}"
                )
        if self.peak is None:
            object.__setattr__(self, "peak", 0.4 if self.method == "chicago" else 0.5)
        try:
            self.hyetograph()
        except ScenarioError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def coefficient(self) -> float:
        """The formula's expanded leading coefficient ``A`` [L/(s.ha)]."""
        return self.A if self.A is not None else 167.0 * self.A1

    def hyetograph(self):
        """The storm as a :class:`twin.sims.flood.storms.Hyetograph` (block intensities in mm/h)."""
        from twin.sims.flood import storms

        if self.method == "chicago":
            return storms.chicago(
                self.coefficient,
                self.b,
                self.C,
                self.n,
                self.return_period,
                self.duration,
                peak_ratio=self.peak,
                dt_s=self.step,
            )
        return storms.alternating_block(
            self.table.idf(), self.return_period, self.duration, dt_s=self.step, peak_ratio=self.peak
        )


#: Rain rates above this [mm/h] are refused as typing errors: about the world's 1-minute record (31 mm).
MAX_RAIN_MM_H = 2000.0


class Rain(ScenarioTable):
    """Rain: ``constant`` [mm/h], a ``hyetograph`` [[s, mm/h], ...], a ``design`` storm or raster ``frames``."""

    constant: float | None = doc(
        None, description="Uniform rain rate over the run", units="mm/h", ge=0, le=MAX_RAIN_MM_H
    )
    hyetograph: TimeSeries("rain.hyetograph") | None = doc(
        None, description="Rain rate series [[s, mm/h], ...], interpolated linearly", units="s, mm/h"
    )
    design: DesignStorm | None = doc(None, description="A design storm (see Design storms)")
    frames: list[RasterFrame] | None = doc(
        None, description="Rain-rate rasters [{time, file}, ...], each from its time until the next frame"
    )

    @field_validator("hyetograph")
    @classmethod
    def _hyeto(cls, series: Any) -> Any:
        if series is None:
            return None
        top = max(rate for _, rate in series)
        if top > MAX_RAIN_MM_H:
            raise ValueError(
                f"a rate of {top:g} mm/h is above {MAX_RAIN_MM_H:g} mm/h, more than any rain measured; "
                "the values are mm/h (check for mm per step or a unit slip)"
            )
        return series

    @model_validator(mode="after")
    def _one(self) -> Rain:
        given = [k for k in ("constant", "hyetograph", "design", "frames") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of rain.constant (mm/h), rain.hyetograph ([[s, mm/h], ...]), "
                f"[rain.design] or rain.frames ([{{time, file}}, ...]); got {given or 'none'}"
            )
        if self.frames is not None:
            times = [f.time for f in self.frames]
            if times != sorted(set(times)):
                raise ValueError("rain.frames times must increase")
        return self


class Infiltration(ScenarioTable):
    """Losses to the ground on pervious cells, parameters from the land-use table."""

    model: Literal["none", "green-ampt", "horton"] = doc(
        "green-ampt", description="Infiltration model; parameters from the land-use table, on the pervious fraction"
    )


class Drainage(ScenarioTable):
    """Urban drainage: water removed on impervious cells up to a design capacity [mm/h], and/or a sewer
    network (a SWMM ``.inp``) run by EPA SWMM and coupled with the surface at its manholes."""

    capacity: float = doc(
        0.0, description="Rate removed on impervious cells (the pipe network's design capacity)", units="mm/h", ge=0
    )
    # --- sewer network (1D-2D coupling, twin/sims/flood/drainage.py) ---
    inp: Literal["twin"] | ScenarioPath | None = doc(
        None,
        description='SWMM 5 input file of the sewer network (inside the scenario\'s folder); "twin": the twin '
        "folder's drainage.inp (twin ingest --drainage-manholes/--drainage-pipes)",
    )
    crs: str | None = doc(None, description="CRS of the .inp coordinates (default: the twin's)")
    coupling_interval: Duration | None = doc(
        None,
        description="Exchange interval between surface and network "
        "(default: the .inp's ROUTING_STEP; keep it at 5 s or less)",
        units="s",
        gt=0,
    )
    weir_coefficient: float = doc(0.54, description="Free-weir discharge coefficient of a manhole inlet", gt=0, le=2)
    orifice_coefficient: float = doc(0.167, description="Orifice discharge coefficient of a manhole inlet", gt=0, le=1)
    inlet_area: float = doc(
        0.2827, description="Inlet area per manhole cover (default: 0.6 m diameter)", units="m2", gt=0
    )
    inlet_perimeter: float = doc(
        1.885, description="Inlet perimeter per manhole cover (default: 0.6 m diameter)", units="m", gt=0
    )
    outfalls: Literal["free", "surface"] = doc(
        "free", description="free: out of the model; surface: onto their cell, with its water level as their stage"
    )
    # --- end sewer network ---


class Inflow(ScenarioTable):
    """An inflow hydrograph [[s, m3/s], ...] entering at a point ``at`` or spread along a ``line``."""

    at: Point | None = doc(
        None,
        description="Entry point [x, y] (twin CRS); spread over the river's cross-section when on a river",
        units="m",
    )
    line: list[Point] | None = doc(
        None, description="Or a line [[x, y], ...] (twin CRS) the inflow is spread along", units="m"
    )
    hydrograph: TimeSeries("inflow.hydrograph") = doc(description="Discharge series [[s, m3/s], ...]", units="s, m3/s")
    name: str | None = doc(None, description="Names the inflow in the summary")

    @model_validator(mode="after")
    def _where(self) -> Inflow:
        if (self.at is None) == (self.line is None):
            raise ValueError("give exactly one of inflow.at = [x, y] or inflow.line = [[x, y], ...] (twin CRS)")
        if self.line is not None and len(self.line) < 2:
            raise ValueError("inflow.line needs at least two points")
        return self


class Boundary(ScenarioTable):
    """A boundary on a domain ``edge`` (closed, free outflow, water level) or a water level along a ``line``."""

    edge: Literal["north", "south", "east", "west"] | None = doc(
        None, description="The domain edge (give this or line); edges not given are closed"
    )
    line: list[Point] | None = doc(
        None,
        description="A polyline [[x, y], ...] (twin CRS) along which a level is forced (type = 'level' only)",
        units="m",
    )
    type: Literal["closed", "free", "level"] = doc(
        description="closed (no flow), free (normal-depth outflow) or level (water level series)"
    )
    slope: float | None = doc(
        None, description="free: the energy slope of the normal-depth outflow (default 0.001)", gt=0
    )
    level: TimeSeries("boundary.level", nonneg=False) | None = doc(
        None, description="level: water surface elevation series [[s, m], ...]", units="s, m"
    )

    @model_validator(mode="after")
    def _check(self) -> Boundary:
        if (self.edge is None) == (self.line is None):
            raise ValueError("give exactly one of boundary.edge ('north', 'south', 'east', 'west') or boundary.line")
        if self.type == "level" and self.level is None:
            raise ValueError("a 'level' boundary needs level = [[s, m], ...] (water surface elevation)")
        if self.type != "level" and self.level is not None:
            raise ValueError(f"boundary.level only applies to type = 'level', not {self.type!r}")
        if self.type == "free" and self.slope is None:
            object.__setattr__(self, "slope", 0.001)
        if self.type != "free" and self.slope is not None:
            raise ValueError("boundary.slope only applies to type = 'free' (normal-depth outflow)")
        if self.line is not None and self.type != "level":
            raise ValueError(
                "along a line only type = 'level' is supported (a water level forced on those cells); "
                "use an edge for closed or free boundaries"
            )
        return self


class Gauge(ScenarioTable):
    """A point whose depth and level are recorded every ``gauge_interval``."""

    name: str = doc(description="The gauge's name (a column of gauges.csv)")
    at: Point = doc(description="The point [x, y] (twin CRS)", units="m")


class Initial(ScenarioTable):
    """Initial water: lakes at their level; river cells at a fraction of their bank-full depth."""

    lakes: bool = doc(True, description="Lakes start at their level")
    river_fill: float = doc(
        0.5,
        description="River cells start at this fraction of their bank-full depth, never above their lowest bank",
        ge=0,
        le=1.5,
    )


class Output(ScenarioTable):
    """What the result holds and when."""

    snapshots: bool = doc(True, description="Write depth and speed snapshots every output_interval (depth.nc)")
    gauge_interval: Duration = doc(60.0, description="How often gauges are recorded (at least 1 s)", units="s")
    wet_depth: float = doc(
        0.01, description="Depth above which a cell is wet (arrival time and duration use it)", units="m", gt=0
    )
    building_depth: float = doc(
        0.10, description="Depth around a building above which it counts as flooded", units="m", ge=0
    )

    @field_validator("gauge_interval")
    @classmethod
    def _gauge_floor(cls, v: float) -> float:
        return _interval_floor(v, "output.gauge_interval")


class Roads(ScenarioTable):
    """How the twin's roads are judged (``roads.gpkg``) and travelled (routes); see twin.sims.flood.roads."""

    thresholds: dict[str, float] = doc(
        {},
        description="Depth above which a road class is impassable, overriding the defaults "
        "(0.30 m for cars, 0.25 m on foot), e.g. {residential = 0.2}",
        units="m",
    )
    speeds: dict[str, float] = doc(
        {}, description="Travel speed per road class for routes, overriding the defaults", units="km/h"
    )
    segment_length: float = doc(50.0, description="Longest road segment judged on its own", units="m", gt=0)

    @field_validator("thresholds", "speeds")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not (x > 0 and math.isfinite(x))}
        if bad:
            raise ValueError(f"values must be positive and finite; got {bad}")
        return {str(k).lower(): float(x) for k, x in v.items()}


#: ``[numerics]`` keys that space out the losses and the speed maxima over the steps (issue #22).
EVERY_KEYS = ("losses_every", "speed_every")

#: Their default where they are read (the inertial scheme's time steps on the CPU, global or local: local
#: time stepping counts the finest steps that each tile's own steps span). On the demo's whole storm (2 h, 18,560 steps) 4 for both
#: against every step: the largest depth within 1 cm on 99.97 % of the wet cells, the largest speed within 2 %
#: on 99.3 %, the same flooded buildings, the balance as exact, 30 % less CPU (benchmarks/RESULTS.md); 8 left
#: the speed within 2 % on 97.9 % only.
EVERY_DEFAULT = 4


def _every_read(scheme: str, device: str) -> bool:
    """Whether the time loop of ``scheme`` on ``device`` reads ``losses_every`` / ``speed_every``: the inertial
    scheme's on the CPU, with global or local time steps (the full solver and the GPU take every step)."""
    return (scheme, device) == ("inertial", "cpu")


def every_default(numerics: Mapping[str, Any]) -> int:
    """``losses_every`` / ``speed_every`` for a ``[numerics]`` table that names neither: :data:`EVERY_DEFAULT`
    where the time loop reads them (the inertial scheme on the CPU), else 1."""
    taken = _every_read(numerics.get("scheme", "inertial"), numerics.get("device", "cpu"))
    return EVERY_DEFAULT if taken else 1


class Numerics(ScenarioTable):
    """Solver settings; the defaults follow Bates et al. (2010) and de Almeida et al. (2012)."""

    dtype: Literal["float32", "float64"] = doc("float32", description="Floating-point precision of the solver")
    alpha: float = doc(
        0.6, description="Courant factor of the adaptive step (0.7 lets deep lakes oscillate)", gt=0, le=1.0
    )
    theta: float = doc(0.8, description="de Almeida et al. (2012) flux weighting", ge=0, le=1.0)
    h_dry: float = doc(1e-3, description="Depth below which a cell is dry (no flux leaves it)", units="m", gt=0)
    dt_max: float = doc(10.0, description="Largest time step of the adaptive solver", units="s", gt=0)
    fixed_dt: float = doc(
        0.0, description="> 0 fixes the step; a step beyond the Courant limit is an error, not NaN", units="s", ge=0
    )
    device: Literal["cpu", "gpu"] = doc(
        "cpu",
        description="Where the flood kernel runs: CPU threads, or an NVIDIA GPU (numba-cuda; `twin run --device`)",
    )
    scheme: Literal["inertial", "swe"] = doc(
        "inertial",
        description="'inertial': local-inertial (fast; slow flood plains); 'swe': full shallow-water equations "
        "(steep streets, Froude > 0.5, dam breaks)",
    )
    order: Literal[1, 2] = doc(
        2,
        description="Order of the full solver (scheme 'swe'): 2 MUSCL, second order in time by 'integrator'; 1 first order",
    )
    integrator: Literal["hancock", "rk2"] = doc(
        "hancock",
        description="Second-order time integrator of the full solver (scheme 'swe', order 2): 'hancock' "
        "(MUSCL-Hancock, one Riemann solve per face a step) or 'rk2' (SSP-RK2/Heun, two; about 1.7x the cost)",
    )
    cfl: float = doc(0.45, description="Courant number of the full solver's step (scheme 'swe')", gt=0, le=1.0)
    time_stepping: Literal["global", "local"] = doc(
        "global",
        description="'global': one step for the grid, set by the deepest water; 'local': tiles of 16 x 32 cells "
        "each step at 2^k times the finest step as their depths allow (scheme 'inertial' on the CPU)",
    )
    max_levels: int = doc(
        4,
        description="Levels of local time stepping: shallow tiles step up to 2^max_levels times the finest",
        ge=0,
        le=4,
    )
    losses_every: int = doc(
        None,
        description="Take infiltration and drainage capacity every this many steps, over their summed time up to "
        "dt_max (the balance as exact; 1: every step; local time stepping counts the finest steps a tile's "
        "steps span). Read by the inertial scheme on the CPU, where it defaults to 4; 1 elsewhere",
        ge=1,
        le=16,
    )
    speed_every: int = doc(
        None,
        description="Fold the speed and hazard into their maxima every this many steps and at every output "
        "time (the largest depth and flood timing every step; 1: every step; local time stepping counts the "
        "finest steps a tile's steps span). Read by the inertial scheme on the CPU, where it defaults to 4; 1 elsewhere",
        ge=1,
        le=16,
    )

    @model_validator(mode="before")
    @classmethod
    def _every_defaults(cls, data: Any) -> Any:
        # where the scenario names none: EVERY_DEFAULT where the time loop reads it, 1 (every step) elsewhere
        if isinstance(data, dict) and any(data.get(k) is None for k in EVERY_KEYS):
            data = {**data}
            for key in EVERY_KEYS:
                if data.get(key) is None:
                    data[key] = every_default(data)
        return data

    @model_validator(mode="after")
    def _other_schemes_keys(self) -> Numerics:
        # a key only the other scheme reads would do nothing: say so rather than run without it
        fields = type(self).model_fields
        if self.scheme == "swe":
            other, hint = ("alpha", "theta"), "the full solver's Courant number is numerics.cfl"
        else:
            other, hint = ("cfl", "order", "integrator"), "the inertial kernel's Courant factor is numerics.alpha"
        unused = [k for k in other if getattr(self, k) != fields[k].default]
        if unused:
            which = "the full solver's" if self.scheme == "inertial" else "the inertial kernel's"
            raise ValueError(
                f"{' and '.join(f'numerics.{k}' for k in unused)} {'is' if len(unused) == 1 else 'are'} "
                f"{which} and would do nothing under scheme = '{self.scheme}': drop "
                f"{'it' if len(unused) == 1 else 'them'} or set scheme = "
                f"'{'inertial' if self.scheme == 'swe' else 'swe'}' ({hint})"
            )
        return self

    @model_validator(mode="after")
    def _every_where_taken(self) -> Numerics:
        # only the inertial kernel's CPU time loops (global and local steps) read it: elsewhere it would do nothing
        for key in EVERY_KEYS:
            if getattr(self, key) != 1 and not _every_read(self.scheme, self.device):
                raise ValueError(
                    f"numerics.{key} is read by the inertial scheme's time steps on the CPU only (here "
                    f"scheme = '{self.scheme}', device = '{self.device}'), which take every step; drop it or "
                    f"set {key} = 1"
                )
        return self

    @model_validator(mode="after")
    def _local_steps(self) -> Numerics:
        if self.time_stepping == "local":
            if self.scheme != "inertial":
                raise ValueError("time_stepping = 'local' steps the inertial scheme only; set scheme = 'inertial'")
            if self.fixed_dt > 0:
                raise ValueError("time_stepping = 'local' takes adaptive steps; set fixed_dt = 0 (or 'global')")
            if self.device != "cpu":
                raise ValueError("time_stepping = 'local' runs on the CPU only; set device = 'cpu' (or 'global')")
        return self


class FloodwallEdit(ScenarioTable):
    """A floodwall along ``line``: the ground on its cells is raised to ``crest`` [m] (absolute) or by
    ``height`` [m] above the ground there."""

    type: Literal["floodwall"] = doc(description="'floodwall': a watertight chain of cells raised to the crest")
    line: list[Point] = doc(description="The wall's line [[x, y], ...] (twin CRS)", units="m", min_length=2)
    crest: float | None = doc(
        None,
        description="Absolute crest elevation, above the ground everywhere on the line (or give height)",
        units="m",
    )
    height: float | None = doc(None, description="Height above the ground (or give crest)", units="m", gt=0)
    name: str | None = doc(None, description="Names the edit in the summary")

    @model_validator(mode="after")
    def _one(self) -> FloodwallEdit:
        if (self.crest is None) == (self.height is None):
            raise ValueError("give exactly one of crest (absolute elevation, m) or height (m above the ground)")
        return self


class GroundEdit(ScenarioTable):
    """Ground raised or lowered in ``polygon``: by ``delta`` [m] or to the absolute ``level`` [m]."""

    type: Literal["ground"] = doc(description="'ground': ground raised, lowered or set in a polygon")
    polygon: Ring = doc(description="The area [[x, y], ...] (twin CRS; closes on its first corner)", units="m")
    delta: float | None = doc(None, description="Change of the ground: + raises, - lowers (or give level)", units="m")
    level: float | None = doc(None, description="Absolute ground elevation (or give delta)", units="m")
    name: str | None = doc(None, description="Names the edit in the summary")

    @model_validator(mode="after")
    def _one(self) -> GroundEdit:
        if (self.delta is None) == (self.level is None):
            raise ValueError("give exactly one of delta (m, + raises, - lowers) or level (absolute elevation, m)")
        if self.delta == 0:
            raise ValueError("delta = 0 changes nothing; give the change in metres (+ raises, - lowers)")
        return self


class PondEdit(ScenarioTable):
    """A retention pond: the ground in ``polygon`` lowered by ``depth`` [m]; ``volume_check`` [m3] is
    the design volume to compare with the volume the grid holds."""

    type: Literal["pond"] = doc(description="'pond': a retention pond, the ground in a polygon lowered")
    polygon: Ring = doc(description="The pond's outline [[x, y], ...] (twin CRS)", units="m")
    depth: float = doc(description="How far the ground is lowered", units="m", gt=0)
    volume_check: float | None = doc(
        None, description="Design volume: a warning when the pond holds more than 10 % more or less", units="m3", gt=0
    )
    name: str | None = doc(None, description="Names the edit in the summary")


class BuildingEdit(ScenarioTable):
    """A building added (``polygon``, ``height`` [m], optional ``base`` [m] and ``id``) or removed
    (by ``id`` or a point ``at`` inside its footprint)."""

    type: Literal["building"] = doc(description="'building': a building added or removed")
    action: Literal["add", "remove"] = doc(description="add (polygon, height) or remove (id or at)")
    polygon: Ring | None = doc(None, description="add: the footprint [[x, y], ...] (twin CRS)", units="m")
    height: float | None = doc(None, description="add: the building's height", units="m", gt=0)
    base: float | None = doc(None, description="add: the base elevation (default: the ground)", units="m")
    id: str | None = doc(None, description="add: the new building's id; remove: the id of the building removed")
    at: Point | None = doc(None, description="remove: a point [x, y] inside the footprint (or give id)", units="m")

    @model_validator(mode="after")
    def _check(self) -> BuildingEdit:
        if self.action == "add":
            if self.polygon is None or self.height is None:
                raise ValueError("adding a building needs polygon = [[x, y], ...] and height (m)")
            if self.at is not None:
                raise ValueError("at only applies to action = 'remove'; an added building has a polygon")
        else:
            if (self.id is None) == (self.at is None):
                raise ValueError(
                    "removing a building needs exactly one of id = '...' or at = [x, y] (a point inside it)"
                )
            extra = [k for k in ("polygon", "height", "base") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{extra} only apply to action = 'add'")
        return self


class PipeEdit(ScenarioTable):
    """A sewer conduit of ``[drainage] inp`` upsized (or downsized): its circular ``diameter`` [m]."""

    type: Literal["pipe"] = doc(description="'pipe': a conduit of the sewer network given a new diameter")
    link: str = doc(description="The conduit's name in the .inp's [CONDUITS]")
    diameter: float = doc(description="The new diameter of the circular pipe", units="m", gt=0)
    name: str | None = doc(None, description="Names the edit in the summary")


class StorageEdit(ScenarioTable):
    """A storage tank of ``volume`` [m3] and ``depth`` [m] at a junction of ``[drainage] inp``."""

    type: Literal["storage"] = doc(description="'storage': a storage tank at a junction of the sewer network")
    node: str = doc(description="The junction's name in the .inp's [JUNCTIONS]")
    volume: float = doc(description="What the tank holds", units="m3", gt=0)
    depth: float = doc(description="The tank's depth from the node's invert (at most up to its rim)", units="m", gt=0)
    name: str | None = doc(None, description="Names the edit in the summary")


class InletEdit(ScenarioTable):
    """A street inlet (gully) at ``at`` [x, y]: a new junction of ``[drainage] inp`` in that cell, its lead
    pipe to the nearest junction (or ``node``); the coupling lets the street's water into it like any manhole."""

    type: Literal["inlet"] = doc(description="'inlet': a street inlet (gully) added to the sewer network")
    at: Point = doc(description="Where the gully is [x, y] (twin CRS)", units="m")
    node: str | None = doc(None, description="The junction its lead pipe joins (default: the nearest junction)")
    depth: float = doc(
        1.0, description="The gully's depth from its rim (at the node's rim) to its invert", units="m", gt=0
    )
    diameter: float = doc(0.15, description="The lead pipe's diameter", units="m", gt=0)
    name: str | None = doc(None, description="Names the edit in the summary")


class PumpEdit(ScenarioTable):
    """A pump of ``capacity`` [m3/s] lifting water from ``from_node`` to ``to_node`` of ``[drainage] inp``,
    switched on and off by the depth at ``from_node``; or ``link``, an existing pump given that capacity."""

    type: Literal["pump"] = doc(description="'pump': a pump added to the sewer network, or a pump's capacity set")
    capacity: float = doc(
        description="What the pump delivers, whatever the head (a constant pump curve)", units="m3/s", gt=0
    )
    from_node: str | None = doc(None, description="The node it draws from (a new pump; or give link)")
    to_node: str | None = doc(None, description="The node it delivers to (a new pump)")
    link: str | None = doc(
        None, description="An existing pump's name in the .inp's [PUMPS] (or give from_node, to_node)"
    )
    on_depth: float | None = doc(
        None, description="Water depth at from_node that starts the pump (new pump: 0; link: kept)", units="m", ge=0
    )
    off_depth: float | None = doc(
        None, description="Water depth at from_node that stops it (new pump: 0; link: kept)", units="m", ge=0
    )
    name: str | None = doc(None, description="Names the edit in the summary")

    @model_validator(mode="after")
    def _one(self) -> PumpEdit:
        new = self.from_node is not None or self.to_node is not None
        if new == (self.link is not None):
            raise ValueError("give either from_node and to_node (a new pump) or link (an existing pump's name)")
        if new and (self.from_node is None or self.to_node is None):
            raise ValueError("a new pump needs both from_node and to_node")
        if self.on_depth is not None and self.off_depth is not None and self.off_depth > self.on_depth:
            raise ValueError(f"off_depth ({self.off_depth:g} m) is above on_depth ({self.on_depth:g} m)")
        return self


#: The edit types that change the sewer network (the others change the twin).
NETWORK_EDITS = (PipeEdit, StorageEdit, InletEdit, PumpEdit)

#: One ``[[edit]]`` entry; ``type`` picks the kind.
Edit = Annotated[
    FloodwallEdit | GroundEdit | PondEdit | BuildingEdit | PipeEdit | StorageEdit | InletEdit | PumpEdit,
    Field(discriminator="type"),
]


#: Limits on what a flood scenario may ask for (README, "Limits"). The loop stops at every output,
#: gauge and checkpoint time, so an interval below MIN_INTERVAL_S would force the time step below it.
MIN_INTERVAL_S = 1.0
#: A year, leap years included: longer floods are slow seasonal processes a 2D flood model is not
#: meant for (a year at the usual 0.5-2 s step is 15-60 million steps).
MAX_DURATION_S = 366 * 86400.0
#: Depth snapshots per run (the 24 h of a long storm every 10 s); each holds the whole grid.
MAX_FRAMES = 10_000
#: Gauge rows per run (a year every 30 s), held in memory.
MAX_GAUGE_ROWS = 1_100_000


def _interval_floor(v: float, key: str) -> float:
    if v < MIN_INTERVAL_S:
        raise ValueError(
            f"{key} = {v:g} s is below the floor of {MIN_INTERVAL_S:g} s: the run stops at every "
            f"{key.rsplit('.', 1)[-1]} time, so it would force a time step of {v:g} s. "
            f'Give at least {MIN_INTERVAL_S:g} s, e.g. "1min"'
        )
    return v


class Scenario(ScenarioModel):
    """A flood scenario (the TOML file's shape; docs/scenarios.md lists every key, ``twin schema flood``).

    Build one with :meth:`from_toml` or :meth:`from_dict`; both raise :class:`~twin.errors.ScenarioError`
    naming the key and the fix.
    """

    kind: Literal["flood"] = doc("flood", description="The scenario kind")
    name: str = doc("scenario", description="Names the run in results and messages (default: the file's stem)")
    start: datetime | None = doc(
        None,
        description="Date and time the run starts, e.g. 2026-06-01T08:00:00 (default: when the run starts); "
        "depth.nc's times count from it",
    )
    duration: Duration = doc(
        description="How long the run lasts (seconds or text such as '2h'; at most 366 days)", units="s"
    )
    output_interval: Duration = doc(600.0, description="How often depth snapshots are taken (at least 1 s)", units="s")
    checkpoint_interval: Duration | None = doc(
        None, description="How often <out>.checkpoint.npz is written; continue with --resume", units="s"
    )
    buildings: Literal["block", "raise"] = doc(
        "block", description="Buildings as walls (block: no flow through) or as raised ground (raise)"
    )
    rain: Rain | None = doc(None, description="Rain: one of constant, hyetograph, design or frames")
    infiltration: Infiltration = doc(Infiltration(), description="Losses to the ground on pervious cells")
    drainage: Drainage = doc(Drainage(), description="Urban drainage on impervious cells")
    inflow: list[Inflow] = doc([], description="Inflow hydrographs at points or along lines")
    boundary: list[Boundary] = doc(
        [], description="Boundary conditions per edge or along lines (edges default to closed)"
    )
    gauge: list[Gauge] = doc([], description="Points whose depth and level are recorded")
    initial: Initial = doc(Initial(), description="Initial water in lakes and rivers")
    output: Output = doc(Output(), description="What the result holds and when")
    roads: Roads = doc(Roads(), description="Road depth thresholds and speeds (twins with a roads layer)")
    numerics: Numerics = doc(Numerics(), description="Solver settings")
    edit: list[Edit] = doc(
        [],
        description="Planners' edits: floodwall, ground, pond, building, pipe, storage, inlet or pump (see Planners' edits)",
    )

    @field_validator("duration")
    @classmethod
    def _duration_cap(cls, v: float) -> float:
        if v > MAX_DURATION_S:
            raise ValueError(
                f"duration = {v:g} s ({v / 86400:g} days) is longer than the {MAX_DURATION_S / 86400:g} "
                "days a flood run may take; a flood lasts hours to weeks. Check the unit "
                '(e.g. "10d", "100h"), or split a longer study into runs'
            )
        return v

    @field_validator("checkpoint_interval")
    @classmethod
    def _checkpoint_floor(cls, v: float | None) -> float | None:
        return None if v is None else _interval_floor(v, "checkpoint_interval")

    @field_validator("output_interval")
    @classmethod
    def _output_floor(cls, v: float, info: ValidationInfo) -> float:
        if v < MIN_INTERVAL_S:
            d = (info.data or {}).get("duration")
            frames = f" ({_records(d, v)} depth snapshots over the run)" if d else ""
            raise ValueError(
                f"output_interval = {v:g} s{frames} is below the floor of {MIN_INTERVAL_S:g} s: "
                f"the run stops at every output time, so it would force a time step of {v:g} s. "
                'Give at least 1 s; for snapshots, minutes are usual (e.g. "5min")'
            )
        return v

    @model_validator(mode="after")
    def _outputs_bounded(self) -> Scenario:
        interval = min(self.output_interval, self.duration)
        frames = _records(self.duration, interval)
        if self.output.snapshots and frames > MAX_FRAMES:
            raise ValueError(
                f"output_interval = {interval:g} s writes {frames} depth snapshots over the run, more "
                f"than the {MAX_FRAMES} allowed (each holds the whole grid). Raise output_interval to "
                f"at least {math.ceil(self.duration / (MAX_FRAMES - 1)):d} s, or set output.snapshots = false"
            )
        rows = _records(self.duration, self.output.gauge_interval)
        if self.gauge and rows > MAX_GAUGE_ROWS:
            raise ValueError(
                f"output.gauge_interval = {self.output.gauge_interval:g} s records {rows} gauge rows "
                f"over the run, more than the {MAX_GAUGE_ROWS} allowed. Raise it to at least "
                f"{math.ceil(self.duration / (MAX_GAUGE_ROWS - 1)):d} s"
            )
        return self

    @model_validator(mode="after")
    def _edges_once(self) -> Scenario:
        edges = [b.edge for b in self.boundary if b.edge]
        dup = sorted({e for e in edges if edges.count(e) > 1})
        if dup:
            raise ValueError(f"boundary edge(s) {dup} given more than once; one [[boundary]] per edge")
        design = self.rain.design if self.rain is not None else None
        if design is not None and design.duration > self.duration * (1 + 1e-12):
            raise ValueError(
                f"rain.design.duration ({design.duration:g} s) is longer than the run (duration = "
                f"{self.duration:g} s), so the storm would be cut short; run at least as long as the storm"
            )
        if self.output_interval > self.duration:
            object.__setattr__(self, "output_interval", self.duration)
        on_network = [i for i, e in enumerate(self.edit) if isinstance(e, NETWORK_EDITS)]
        if on_network and self.drainage.inp is None:
            raise ValueError(
                f"edit[{on_network[0]}] ({self.edit[on_network[0]].type}) changes the sewer network, but the "
                'scenario has none; give [drainage] inp = "network.inp"'
            )
        return self

    @property
    def snapshot_count(self) -> int:
        """Depth snapshots a run takes with ``output.snapshots``: at t = 0 and every ``output_interval``."""
        return _records(self.duration, self.output_interval)

    def to_dict(self) -> dict[str, Any]:
        """The validated scenario as plain JSON-ready data (defaults filled in).

        Keys added after the first release (``rain.design``, ``edit``, the sewer network's keys of
        ``drainage``, ``numerics.device``, the full solver's and local time stepping's keys of ``numerics``) are left out while unused, so a scenario that does not use them keeps the hash
        it always had.
        """
        data = super().to_dict()
        if data.get("rain") and data["rain"].get("design") is None:
            data["rain"].pop("design", None)
        if not data.get("edit"):
            data.pop("edit", None)
        for key in ("start", "roads"):  # added with the roads (#18): only when set
            if data.get(key) in (None, Roads().model_dump()):
                data.pop(key, None)
        if data.get("drainage", {}).get("inp") is None:  # the sewer network's keys (#24) only with a network
            data["drainage"] = {"capacity": data.get("drainage", {}).get("capacity", 0.0)}
        if data.get("numerics", {}).get("device") == "cpu":  # numerics.device (#22) only off the default
            data["numerics"].pop("device")
        numerics = data.get("numerics", {})
        if numerics.get("time_stepping", "global") == "global":  # local time stepping's keys (#22) only when on
            numerics.pop("time_stepping", None)
            numerics.pop("max_levels", None)
        for key in EVERY_KEYS:  # losses and speed maxima every few steps (#22): only off their default
            if key in numerics and numerics[key] == every_default(numerics):
                numerics.pop(key)
        if numerics.get("scheme") == "inertial":  # the full solver's keys (#23) only when it runs
            for key in ("scheme", "order", "integrator", "cfl"):
                numerics.pop(key, None)
        return data


def _records(duration: float, interval: float) -> int:
    """Records a run takes every ``interval``: at t = 0 and each multiple up to ``duration``."""
    return int(duration / interval + 1e-9) + 1
