"""Roads in a flood: which segments become impassable and when (``roads.gpkg``), and the shortest route
still passable at a given time from a point to the nearest facility (hospital, shelter).

Depth thresholds per road class (:data:`THRESHOLDS_M`)
    * Roads for cars (motorway ... service): **0.30 m**, the stability limit of small passenger cars
      in floodwater of Shand et al. (2011), "Revision Project 10: Appropriate safety criteria for
      vehicles", Australian Rainfall and Runoff, Engineers Australia (kept in ARR 2019, Book 6,
      Chapter 7: small passenger vehicles, depth <= 0.3 m); Martinez-Gomariz et al. (2018), "Stability
      criteria for flooded vehicles: a state-of-the-art review", J. Flood Risk Management 11, S817-S826,
      find the first cars to float in still water at similar depths.
    * Footways, paths, steps, pedestrian streets: **0.25 m**, the depth above which UK Defra/EA FD2320
      "Flood Risks to People" (HR Wallingford, 2006) adds its debris factor and counts water as a
      danger to walkers once it flows.
    * Any other class: the car value. Override per class in the scenario's ``[roads]`` section.

    Only depth is used: the depth-velocity limits of these sources need the speed along the road,
    so in fast water a road can be unsafe below its threshold.

Travel speeds per class (:data:`SPEEDS_KMH`) are urban driving speeds (motorway 80, trunk 60,
primary 50, secondary and tertiary 40, residential and unclassified 30, service 20, living street
10 km/h) and 5 km/h on foot; override them in ``[roads] speeds``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops

from twin.errors import InputDataError

__all__ = [
    "THRESHOLDS_M",
    "class_thresholds",
    "SPEEDS_KMH",
    "FOOT_CLASSES",
    "Route",
    "road_cuts",
    "route",
    "routes_over_time",
    "facility_points",
]

#: Classes that only people on foot use (OpenStreetMap ``highway`` values).
FOOT_CLASSES = frozenset({"footway", "pedestrian", "path", "steps", "cycleway", "bridleway", "corridor", "elevator"})

#: Depth [m] above which a road of the class is impassable (module docstring: sources).
THRESHOLDS_M: dict[str, float] = {
    **dict.fromkeys(
        (
            "motorway",
            "trunk",
            "primary",
            "secondary",
            "tertiary",
            "unclassified",
            "residential",
            "living_street",
            "service",
            "track",
            "road",
        ),
        0.30,
    ),
    **dict.fromkeys(FOOT_CLASSES, 0.25),
}
_DEFAULT_THRESHOLD_M = 0.30

#: Travel speed [km/h] per class (module docstring).
SPEEDS_KMH: dict[str, float] = {
    "motorway": 80.0,
    "trunk": 60.0,
    "primary": 50.0,
    "secondary": 40.0,
    "tertiary": 40.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "road": 30.0,
    "service": 20.0,
    "track": 15.0,
    "living_street": 10.0,
}
_DEFAULT_SPEED_KMH = 30.0
#: Walking speed [km/h] (every class, ``mode="walk"``).
WALK_KMH = 5.0
#: Longest segment [m] roads are split into, so that a cut is local.
SEGMENT_M = 50.0


def _base(cls: str) -> str:
    """OpenStreetMap's ramps (``primary_link``) take their road's values."""
    return cls[:-5] if cls.endswith("_link") else cls


def _per_class(classes: Sequence[str], table: Mapping[str, float], over: Mapping[str, float], default: float):
    merged = {**table, **{str(k).lower(): float(v) for k, v in (over or {}).items()}}
    return np.array([merged.get(c, merged.get(_base(c), default)) for c in classes], dtype=float)


def class_thresholds(classes: Sequence[str], overrides: Mapping[str, float] | None = None) -> np.ndarray:
    """The depth [m] cutting a road of each of ``classes``: :data:`THRESHOLDS_M` with ``overrides`` over
    it (per class), a ramp (``primary_link``) its road's, any other class the car value (0.30 m)."""
    return _per_class([str(c) for c in classes], THRESHOLDS_M, overrides or {}, _DEFAULT_THRESHOLD_M)


def _segments(roads: gpd.GeoDataFrame, max_len: float) -> gpd.GeoDataFrame:
    """Each road cut into equal pieces of at most ``max_len`` metres."""
    rows, geoms = [], []
    bridge = roads["bridge"].to_numpy(bool) if "bridge" in roads.columns else np.zeros(len(roads), bool)
    for i, (line, cls, name) in enumerate(zip(roads.geometry.values, roads["class"], roads["name"])):
        for part in shapely.get_parts(line):
            n = max(1, math.ceil(part.length / max_len))
            for k in range(n):
                piece = part if n == 1 else shapely.ops.substring(part, k * part.length / n, (k + 1) * part.length / n)
                rows.append((i, k, str(cls), "" if name is None else str(name), bool(bridge[i])))
                geoms.append(piece)
    frame = pd.DataFrame(rows, columns=["road_id", "segment", "class", "name", "bridge"])
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=roads.crs)


def _sample_cells(geoms: np.ndarray, transform: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat cell indices of points every half cell along each line, and each line's first point's position."""
    step = 0.5 * abs(transform.a)
    lengths = shapely.length(geoms)
    counts = np.ceil(lengths / step).astype(np.int64) + 1
    owner = np.repeat(np.arange(len(geoms)), counts)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    frac = (np.arange(counts.sum()) - np.repeat(starts, counts)) / np.repeat(np.maximum(counts - 1, 1), counts)
    pts = shapely.line_interpolate_point(geoms[owner], frac, normalized=True)
    col, row = ~transform @ (shapely.get_x(pts), shapely.get_y(pts))
    ny, nx = shape
    r = np.clip(np.floor(row).astype(np.int64), 0, ny - 1)
    c = np.clip(np.floor(col).astype(np.int64), 0, nx - 1)
    return r * nx + c, starts


def road_cuts(
    roads: gpd.GeoDataFrame,
    max_depth: np.ndarray,
    frames: np.ndarray | None,
    frame_times: np.ndarray,
    transform: Any,
    duration: float,
    *,
    thresholds: Mapping[str, float] | None = None,
    segment_m: float = SEGMENT_M,
) -> gpd.GeoDataFrame:
    """Per road segment: the deepest water, and when it became impassable and passable again.

    Parameters
    ----------
    roads
        The twin's roads (``class``, ``name``, optional ``bridge``).
    max_depth
        The run's maximum depth [m] on the grid.
    frames, frame_times
        Depth snapshots ``(n, ny, nx)`` and their times [s]; ``None`` without snapshots (then no cut
        times, only ``max_depth_m``).
    transform
        The grid's affine transform.
    duration
        The run's length [s] (a road still cut at the end counts as cut until then).
    thresholds
        Depth [m] per class overriding :data:`THRESHOLDS_M`.
    segment_m
        Longest segment [m].

    Returns
    -------
    GeoDataFrame
        ``road_id`` (row of the twin's roads), ``segment``, ``name``, ``class``, ``bridge``,
        ``threshold_m``, ``max_depth_m`` (the run's maximum along the segment, sampled every half cell;
        NaN on bridges, which water passes under), ``cut_at_s`` (first snapshot with the depth along the
        segment above ``threshold_m``; NaN: never), ``reopen_at_s`` (first snapshot after the last cut
        one that is below it again; NaN: never cut or still cut at the end), ``cut_hours`` (from
        ``cut_at_s`` to ``reopen_at_s`` or the end of the run: a road that dips below the threshold in
        between counts as cut throughout) and ``length_m``.
    """
    seg = _segments(roads, segment_m)
    geoms = np.asarray(seg.geometry.values)
    cells, starts = _sample_cells(geoms, transform, max_depth.shape)
    bridge = seg["bridge"].to_numpy(bool)
    thr = class_thresholds(seg["class"].tolist(), thresholds)

    def along(grid: np.ndarray) -> np.ndarray:
        vals = np.asarray(grid).reshape(-1)[cells].astype(np.float64)
        out = np.maximum.reduceat(vals, starts) if len(starts) else np.zeros(0)
        out[bridge] = np.nan
        return out

    n = len(seg)
    cut_at = np.full(n, np.nan)
    reopen = np.full(n, np.nan)
    times = np.asarray(frame_times, dtype=float)
    if frames is not None and len(times):
        cut = np.stack([along(frames[k]) > thr for k in range(len(times))])  # NaN (bridges) compares False
        ever = cut.any(axis=0)
        first = np.argmax(cut, axis=0)
        last = len(times) - 1 - np.argmax(cut[::-1], axis=0)
        cut_at[ever] = times[first[ever]]
        opens = ever & (last + 1 < len(times))
        reopen[opens] = times[last[opens] + 1]
    end = np.where(np.isnan(reopen), float(duration), reopen)
    hours = np.where(np.isnan(cut_at), 0.0, (end - np.nan_to_num(cut_at)) / 3600.0)
    out = seg.assign(
        threshold_m=thr,
        max_depth_m=along(max_depth),
        cut_at_s=cut_at,
        reopen_at_s=reopen,
        cut_hours=hours,
        length_m=shapely.length(geoms),
    )
    cols = ["road_id", "segment", "name", "class", "bridge", "threshold_m", "max_depth_m"]
    return out[[*cols, "cut_at_s", "reopen_at_s", "cut_hours", "length_m", "geometry"]]


def cut_summary(cuts: gpd.GeoDataFrame) -> dict[str, Any]:
    """What ``summary.json`` says of the roads: segments, those cut, their length, the streets cut first."""
    cut = cuts[cuts["cut_at_s"].notna()]
    named = cut[cut["name"] != ""].groupby("name")["cut_at_s"].min().sort_values().head(10).to_dict()
    return {
        "segments": int(len(cuts)),
        "segments_cut": int(len(cut)),
        "length_cut_km": float(cut["length_m"].sum() / 1e3),
        "streets_cut_first_s": {str(k): float(v) for k, v in named.items()},
    }


def passable(cuts: gpd.GeoDataFrame, at: float) -> np.ndarray:
    """bool per segment: open at time ``at`` [s] (a segment is closed from ``cut_at_s`` until ``reopen_at_s``)."""
    cut_at = cuts["cut_at_s"].to_numpy(float)
    reopen = cuts["reopen_at_s"].to_numpy(float)
    closed = (cut_at <= at) & ~(reopen <= at)  # NaN cut_at: never closed; NaN reopen: closed to the end
    return ~closed


@dataclass(frozen=True)
class Route:
    """The shortest passable route at time ``at_s`` (``found`` False: no passable route).

    Attributes
    ----------
    found
        Whether any facility can be reached.
    at_s
        The time [s since the scenario start] the roads were taken at.
    facility
        The row (index label) of the facility reached, ``None`` if none.
    facility_name
        Its ``name`` column where it has one, else its row.
    length_m, travel_time_s
        Along the roads (NaN without a route); the travel time at the class speeds.
    geometry
        The route as one line (``None`` without a route).
    from_snap_m, to_snap_m
        How far the start and the facility lie from the road network node they were joined to.
    message
        One line for people.
    """

    found: bool
    at_s: float
    facility: Any
    facility_name: str | None
    length_m: float
    travel_time_s: float
    geometry: shapely.LineString | None
    from_snap_m: float
    to_snap_m: float
    message: str


def facility_points(facilities: gpd.GeoDataFrame) -> np.ndarray:
    """A point per facility (polygons: a point inside them)."""
    if not len(facilities):
        raise InputDataError(
            "The facilities layer holds no features; give hospitals or shelters as points or polygons."
        )
    return np.asarray(shapely.point_on_surface(np.asarray(facilities.geometry.values)))


def _nearest(nodes: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(nodes).query(pts)
    return idx, dist


#: How much further than the nearest road end a point may be joined to the main network [m]: a real
#: street graph cut at the twin's edge holds islands (a car park's lanes reached through a footway, a
#: stub whose junction lies outside), and joining a hospital to the end of one 11 m away rather than
#: to the streets 25 m away made every route "never joined" on Andorra la Vella's OSM graph.
MAIN_NETWORK_SLACK_M = 25.0


def _joined(nodes: np.ndarray, main: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The node each point joins: the nearest one, or the nearest of the main (largest) connected
    network when that lies at most :data:`MAIN_NETWORK_SLACK_M` further."""
    idx, dist = _nearest(nodes, pts)
    main_idx, main_dist = _nearest(nodes[main], pts)
    better = main_dist <= dist + MAIN_NETWORK_SLACK_M
    return np.where(better, np.nonzero(main)[0][main_idx], idx), np.where(better, main_dist, dist)


class _Network:
    """The road network of one mode, built once, with the start and the facilities joined to it; the
    route at a time runs on a view of it without the segments cut then."""

    def __init__(self, cuts, origin, facilities, mode: str, speeds: Mapping[str, float] | None):
        import networkx as nx

        if mode not in ("drive", "walk"):
            raise InputDataError(f"route mode must be 'drive' or 'walk', got {mode!r}.")
        classes = cuts["class"].astype(str).tolist()
        if mode == "drive":
            kmh = _per_class(classes, SPEEDS_KMH, speeds or {}, _DEFAULT_SPEED_KMH)
            usable = np.array([_base(c) not in FOOT_CLASSES for c in classes], dtype=bool) & (kmh > 0)
        else:
            usable = np.ones(len(classes), bool)
            kmh = np.full(len(classes), WALK_KMH)
        if not usable.any():
            raise InputDataError(f"No road of the network can be used to {mode}; check the roads' classes.")
        self.cuts, self.mode, self.facilities = cuts, mode, facilities
        self.geoms = np.asarray(cuts.geometry.values)
        # nodes are end points rounded to the centimetre; parallel segments stay apart (keyed by row)
        self.graph = nx.MultiGraph()
        for i in np.nonzero(usable)[0]:
            coords = shapely.get_coordinates(self.geoms[i])
            if len(coords) < 2:
                continue
            a, b = tuple(np.round(coords[0], 2)), tuple(np.round(coords[-1], 2))
            if a != b:
                length = float(shapely.length(self.geoms[i]))
                self.graph.add_edge(a, b, key=int(i), time=length / (kmh[i] / 3.6), length=length)
        nodes = np.array(list(self.graph.nodes))
        largest = max(nx.connected_components(self.graph), key=len)
        main = np.array([n in largest for n in map(tuple, nodes)])
        (start,), (self.start_d,) = _joined(nodes, main, np.array([origin], dtype=float))
        self.src = tuple(nodes[start])
        goal_idx, self.goal_d = _joined(nodes, main, shapely.get_coordinates(facility_points(facilities)))
        self.goals = [tuple(nodes[g]) for g in goal_idx]
        dry = nx.node_connected_component(self.graph, self.src)
        self.joined = any(g in dry for g in self.goals)
        self.names = facilities["name"].astype(str).tolist() if "name" in facilities.columns else None

    def at(self, at: float) -> Route:
        import networkx as nx

        open_ = passable(self.cuts, at)
        view = nx.subgraph_view(self.graph, filter_edge=lambda a, b, k: open_[k])
        reach = nx.single_source_dijkstra_path_length(view, self.src, weight="time")
        best = min(((reach[g], k) for k, g in enumerate(self.goals) if g in reach), default=None, key=lambda v: v[0])
        when = f"at t = {at / 60:.0f} min"
        n = len(self.goals)
        if best is None:
            why = (
                f"every road to the {n} facilities is cut (or the start's road is)"
                if self.joined
                else f"no road of the network joins the start to any of the {n} facilities, flood or not"
            )
            return Route(
                False, float(at), None, None, math.nan, math.nan, None, float(self.start_d), math.nan,
                f"no passable route {when}: {why}",
            )  # fmt: skip
        t, k = best
        path = nx.shortest_path(view, self.src, self.goals[k], weight="time")
        segs = [min(view[a][b], key=lambda key: view[a][b][key]["time"]) for a, b in zip(path[:-1], path[1:])]
        lines = self.geoms[segs] if segs else []
        geom = shapely.line_merge(shapely.union_all(lines)) if len(lines) else shapely.LineString([self.src] * 2)
        length = float(sum(shapely.length(lines))) if len(lines) else 0.0
        label = self.names[k] if self.names else str(self.facilities.index[k])
        return Route(
            True, float(at), self.facilities.index[k], label, length, float(t), geom, float(self.start_d),
            float(self.goal_d[k]), f"{when}: {label}, {length / 1000:.2f} km, {t / 60:.1f} min ({self.mode})",
        )  # fmt: skip


def route(
    cuts: gpd.GeoDataFrame,
    origin: Sequence[float],
    facilities: gpd.GeoDataFrame,
    at: float,
    *,
    mode: str = "drive",
    speeds: Mapping[str, float] | None = None,
) -> Route:
    """The quickest route still passable at ``at`` [s] from ``origin`` (x, y in the roads' CRS) to the
    nearest facility (by travel time).

    The start and each facility are joined to the nearest node (end of a segment) of the road network
    of ``mode``; the route then runs on the segments open at ``at`` (see :func:`passable`). Roads are
    two-way (emergency services; one-way streets are not modelled) and meet only at their end points
    (an OSMnx graph and the sample city's streets are split where they cross).

    Parameters
    ----------
    cuts
        ``roads.gpkg``'s rows (:func:`road_cuts`).
    origin
        The start point.
    facilities
        Points or polygons in the roads' CRS (e.g. hospitals); a ``name`` column names them.
    at
        Seconds since the scenario's start.
    mode
        ``"drive"``: the roads of car classes at :data:`SPEEDS_KMH`; ``"walk"``: every road at
        :data:`WALK_KMH`.
    speeds
        km/h per class overriding :data:`SPEEDS_KMH`.

    Raises
    ------
    InputDataError
        An unknown mode, no road usable in it, or no facility.
    """
    return _Network(cuts, origin, facilities, mode, speeds).at(float(at))


def routes_over_time(
    cuts: gpd.GeoDataFrame,
    origin: Sequence[float],
    facilities: gpd.GeoDataFrame,
    *,
    times: Sequence[float] | None = None,
    mode: str = "drive",
    speeds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """:func:`route` at each of ``times`` (default: 0 and every time a segment is cut or reopens, the
    only moments the route can change): ``at_s``, ``found``, ``facility``, ``length_m``,
    ``travel_time_s``, ``message``."""
    if times is None:
        events = np.r_[0.0, cuts["cut_at_s"].to_numpy(float), cuts["reopen_at_s"].to_numpy(float)]
        times = np.unique(events[np.isfinite(events)])
    network = _Network(cuts, origin, facilities, mode, speeds)
    rows = []
    for t in times:
        r = network.at(float(t))
        rows.append((r.at_s, r.found, r.facility_name, r.length_m, r.travel_time_s, r.message))
    return pd.DataFrame(rows, columns=["at_s", "found", "facility", "length_m", "travel_time_s", "message"])
