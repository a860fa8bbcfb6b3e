"""The river scenario: the network, runoff, inflows, laterals, lakes and their outlets, spills and gauges,
validated from TOML (``kind = "river"``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator, model_validator

from twin.sims.scenario_base import Duration, Point, ScenarioModel, ScenarioTable, TimeSeries, doc, monotone_table

__all__ = ["RiverScenario", "NetworkSpec", "Runoff", "Inflow", "Lateral", "LakeSpec", "Spill", "Gauge"]


class NetworkSpec(ScenarioTable):
    """Where the links come from and their hydraulics."""

    source: Literal["rivers", "streams"] = doc(
        "rivers", description="The twin's river layer, or streams derived from the terrain"
    )
    threshold_cells: int = doc(100, description="streams: cells draining through a stream cell", units="cells", ge=1)
    snap_tolerance: float | None = doc(
        None, description="rivers: line ends this close become one node (default one cell)", units="m", ge=0
    )
    orient: Literal["digitised", "terrain"] = doc(
        "digitised", description="Links flow as digitised, or downhill on the terrain"
    )
    dangling: Literal["error", "outlet"] = doc("error", description="A dangling line end is an error, or an outlet")
    allow_disconnected: bool | None = doc(
        None, description="Accept disconnected parts (default: false for rivers, true for streams)"
    )
    reference_discharge: float = doc(
        1.0, description="Discharge at which the Muskingum-Cunge celerity and diffusion are taken", units="m3/s", gt=0
    )
    manning: float = doc(0.035, description="Manning's roughness of the channels", units="s/m^(1/3)", gt=0)
    min_slope: float = doc(1e-4, description="Smallest link slope (flatter fits are raised to it)", units="m/m", gt=0)


class Runoff(ScenarioTable):
    """Runoff over the catchments: rain ``constant`` [mm/h] or ``hyetograph`` times ``coefficient``."""

    constant: float | None = doc(None, description="Uniform rain rate (give this or hyetograph)", units="mm/h", ge=0)
    hyetograph: TimeSeries("runoff.hyetograph") | None = doc(
        None, description="Rain rate series [[s, mm/h], ...] (give this or constant)", units="s, mm/h"
    )
    coefficient: float = doc(1.0, description="Runoff coefficient: the share of the rain that runs off", ge=0, le=1)

    @model_validator(mode="after")
    def _one(self) -> Runoff:
        if (self.constant is None) == (self.hyetograph is None):
            raise ValueError("give exactly one of runoff.constant (mm/h) or runoff.hyetograph ([[s, mm/h], ...])")
        return self


class Inflow(ScenarioTable):
    """A hydrograph [[s, m3/s], ...] entering the link nearest to ``at`` at its upstream end."""

    at: Point = doc(
        description="Point [x, y] (twin CRS); the nearest link takes the inflow at its upstream end", units="m"
    )
    hydrograph: TimeSeries("inflow.hydrograph") = doc(description="Discharge series [[s, m3/s], ...]", units="s, m3/s")
    name: str | None = doc(None, description="Names the inflow in the summary")
    max_distance: float = doc(100.0, description="Farthest the point may lie from the link", units="m", gt=0)


class Lateral(ScenarioTable):
    """A lateral inflow series [[s, m3/s], ...] into link ``link`` (its id)."""

    link: int = doc(description="The link's id")
    series: TimeSeries("lateral.series") = doc(description="Lateral inflow series [[s, m3/s], ...]", units="s, m3/s")


class LakeSpec(ScenarioTable):
    """A lake of the twin's ``lakes`` layer (``lake`` row or ``name``): its table, outlet and rule."""

    lake: int | None = doc(None, description="Row of the twin's lakes layer (give this or name)", ge=0)
    name: str | None = doc(None, description="Name in the twin's lakes layer (give this or lake)")
    table: list[tuple[float, float]] | None = doc(
        None, description="Stage-area table [[stage, area], ...]; default: from the DEM", units="m, m2"
    )
    initial_level: float | None = doc(None, description="Starting water level (default: the lake's level)", units="m")
    crest: float | None = doc(None, description="Weir crest level", units="m")
    weir_width: float = doc(0.0, description="Broad-crested weir width (0: no weir)", units="m", ge=0)
    weir_coeff: float = doc(1.7, description="Weir coefficient C in Q = C L (h - crest)^1.5", units="m^0.5/s", gt=0)
    rating: list[tuple[float, float]] | None = doc(
        None, description="Spillway rating [[stage, discharge], ...]", units="m, m3/s"
    )
    target_level: float | None = doc(
        None, description="Level the controlled release aims at (none: no rule)", units="m"
    )
    release_min: float = doc(0.0, description="Smallest controlled release", units="m3/s", ge=0)
    release_max: float = doc(1e12, description="Largest controlled release", units="m3/s", ge=0)
    response_time: Duration = doc(
        86400.0, description="Time T_r over which the rule brings the lake to its target", units="s"
    )
    evaporation: float = doc(0.0, description="Evaporation from the lake surface", units="mm/day", ge=0)
    side_distance: float = doc(50.0, description="A lake this near a link is side-connected", units="m", ge=0)
    exchange_width: float = doc(
        0.0, description="Width of a side lake's channel to the river (0: none)", units="m", ge=0
    )
    exchange_sill: float | None = doc(None, description="Sill level of a side lake's channel", units="m")

    @field_validator("table")
    @classmethod
    def _table(cls, v: Any) -> Any:
        return (
            v
            if v is None
            else monotone_table(v, ("stage", "area"), increasing=("stage",), rising=("area",), nonneg=("area",))
        )

    @field_validator("rating")
    @classmethod
    def _rating(cls, v: Any) -> Any:
        return (
            v
            if v is None
            else monotone_table(
                v, ("stage", "discharge"), increasing=("stage",), rising=("discharge",), nonneg=("discharge",)
            )
        )

    @model_validator(mode="after")
    def _which(self) -> LakeSpec:
        if (self.lake is None) == (self.name is None):
            raise ValueError("give exactly one of lake.lake (row of the twin's lakes layer) or lake.name")
        if self.weir_width > 0 and self.crest is None:
            raise ValueError("a weir (weir_width > 0) needs its crest level: lake.crest = ... m")
        if self.table is not None:
            # outside its table the lake would be clamped to the first or last stage without a word
            low, high = self.table[0][0], self.table[-1][0]
            for key in ("initial_level", "target_level"):
                level = getattr(self, key)
                if level is not None and not low <= level <= high:
                    raise ValueError(
                        f"{key} = {level:g} m lies outside the table's stages {low:g} to {high:g} m; "
                        "extend the table to cover it"
                    )
        return self


class Spill(ScenarioTable):
    """An instantaneous pollutant spill of ``mass`` [kg] at ``at`` (or on link ``link``) at ``time``."""

    name: str | None = doc(None, description="Names the spill in results")
    at: Point | None = doc(None, description="Point [x, y] (twin CRS) of the spill (give this or link)", units="m")
    link: int | None = doc(None, description="Link id of the spill (give this or at)")
    time: Duration | Literal[0] = doc(0.0, description="When the spill happens", units="s")
    mass: float = doc(description="Mass spilled", units="kg", gt=0)
    decay_rate: float = doc(0.0, description="First-order decay rate", units="1/day", ge=0)
    dispersion: float = doc(5.0, description="Longitudinal dispersion coefficient", units="m2/s", ge=0)
    max_distance: float = doc(100.0, description="Farthest the point may lie from the link", units="m", gt=0)

    @model_validator(mode="after")
    def _where(self) -> Spill:
        if (self.at is None) == (self.link is None):
            raise ValueError("give exactly one of spill.at = [x, y] (twin CRS) or spill.link = link id")
        return self


class Gauge(ScenarioTable):
    """A point (or link id) whose discharge and concentration are recorded."""

    name: str = doc(description="The gauge's name (in gauges.csv)")
    at: Point | None = doc(None, description="Point [x, y] (twin CRS) (give this or link)", units="m")
    link: int | None = doc(None, description="Link id (give this or at)")
    max_distance: float = doc(100.0, description="Farthest the point may lie from the link", units="m", gt=0)

    @model_validator(mode="after")
    def _where(self) -> Gauge:
        if (self.at is None) == (self.link is None):
            raise ValueError("give exactly one of gauge.at = [x, y] or gauge.link = link id")
        return self


class RiverScenario(ScenarioModel):
    """A river-lake scenario (the TOML file's shape; docs/scenarios.md lists every key).

    Build one with :meth:`from_toml` or :meth:`from_dict`; both raise
    :class:`~twin.errors.ScenarioError` naming the key and the fix.
    """

    kind: Literal["river"] = doc("river", description="The scenario kind")
    name: str = doc("river", description="Names the run in results and messages (default: the file's stem)")
    duration: Duration = doc(description="How long the run lasts; a whole number of steps dt", units="s")
    dt: Duration = doc(900.0, description="Routing step", units="s")
    output_interval: Duration = doc(
        3600.0, description="How often results are recorded; a whole multiple of dt", units="s"
    )
    network: NetworkSpec = doc(NetworkSpec(), description="Where the links come from and their hydraulics")
    runoff: Runoff | None = doc(None, description="Rain times a coefficient over each link's catchment")
    lateral: list[Lateral] = doc([], description="Lateral inflow series into links")
    inflow: list[Inflow] = doc([], description="Inflow hydrographs entering the nearest link")
    lake: list[LakeSpec] = doc([], description="Lakes of the twin's lakes layer: table, outlet and rule")
    spill: list[Spill] = doc([], description="Instantaneous pollutant spills")
    gauge: list[Gauge] = doc([], description="Points or links whose discharge and concentration are recorded")
    transport_dx: float = doc(25.0, description="Pollutant transport cell length", units="m", gt=0)

    @model_validator(mode="after")
    def _intervals(self) -> RiverScenario:
        if self.dt > self.duration:
            raise ValueError(f"dt = {self.dt:g} s is longer than the duration {self.duration:g} s; shorten dt")
        ratio = self.output_interval / self.dt
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(
                f"output_interval = {self.output_interval:g} s must be a whole multiple of dt = {self.dt:g} s"
            )
        steps = self.duration / self.dt
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(f"duration = {self.duration:g} s must be a whole number of steps dt = {self.dt:g} s")
        names = [g.name for g in self.gauge]
        if len(set(names)) != len(names):
            raise ValueError("gauge names must be unique")
        return self

    @property
    def steps(self) -> int:
        """Number of routing steps."""
        return round(self.duration / self.dt)


# ------------------------------------------------------------------------------------------- result
