"""The terrain scenario: pour points, stream threshold and how buildings, depressions and flats are treated
(``kind = "terrain"``)."""

from __future__ import annotations

from typing import Literal

from twin.sims.scenario_base import Point, ScenarioModel, ScenarioTable, doc

__all__ = ["TerrainScenario", "PourPoint"]


class PourPoint(ScenarioTable):
    """A point whose catchment is delineated (a gauge, an intake, a culvert inlet)."""

    name: str = doc(description="The pour point's name (its catchment's)")
    at: Point = doc(description="The point [x, y] (twin CRS)", units="m")


class TerrainScenario(ScenarioModel):
    """A terrain-hydrology scenario (``kind = "terrain"``): the options of :func:`twin.sims.terrain.run.terrain_analysis`.

    Build one with :meth:`from_toml` or :meth:`from_dict`; both raise
    :class:`~twin.errors.ScenarioError` naming the key and the fix.
    """

    kind: Literal["terrain"] = doc("terrain", description="The scenario kind")
    name: str = doc("terrain", description="Names the run in results and messages (default: the file's stem)")
    threshold_cells: int = doc(100, description="Cells draining through a stream cell", units="cells", ge=1)
    buildings: Literal["block", "ignore"] = doc(
        "block", description="block: buildings raised to their roofs, so water flows around them; or ignore"
    )
    depressions: Literal["fill", "breach"] = doc(
        "fill", description="fill, or breach: carve through thin barriers, fill what cannot be breached"
    )
    breach_max_depth: float | None = doc(None, description="breach: deepest cut (none: unlimited)", units="m", gt=0)
    breach_max_length: int = doc(50, description="breach: longest cut", units="cells", ge=1)
    flats: Literal["epsilon", "resolve"] = doc(
        "epsilon",
        description="Flats drained by a small gradient (epsilon), or "
        "resolve (Barnes et al. 2014: towards lower, away from higher ground)",
    )
    epsilon: float = doc(1e-4, description="epsilon: the gradient added across flats", units="m per cell", gt=0)
    culverts: str | None = doc(None, description="A vector layer of the twin: culvert lines burned through embankments")
    weights: Literal["impervious"] | None = doc(
        None, description="Also weighted_accumulation: impervious area upstream, in cells"
    )
    dinf: bool = doc(False, description="Also D-infinity angles and accumulation")
    pour_point: list[PourPoint] = doc([], description="Points whose catchments are delineated")
    snap_distance: float = doc(
        0.0, description="Pour points snap to the largest accumulation within this distance", units="m", ge=0
    )
