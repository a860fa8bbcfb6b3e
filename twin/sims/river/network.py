"""River networks of a twin: links with topology, hydraulics and catchments, from lines or streams.

A :class:`Network` is a tree (or, when allowed, a forest) of links: each link drains into at most
one downstream link, and its hydraulic properties (length, slope, width, Manning's n) feed
:class:`kernels.river.RiverNetwork`. Two sources:

* :func:`network_from_lines` / :func:`network_from_rivers`: digitised river lines. Line ends within
  ``snap_tolerance`` of each other become one node; a line end touching another line's interior
  splits that line there (a tributary joining a river drawn as one line); lines are also cut where
  they cross a lake shore, and the pieces inside one lake become one *lake link*. Each link is
  oriented downstream by its digitised direction or by the terrain at its ends, and the topology is
  checked: cycles, dangling ends, disconnected parts and bifurcations are errors that name the links.
* :func:`network_from_streams`: the stream links of the twin's terrain analysis
  (:func:`twin.sims.terrain.run.terrain_analysis`), whose D8 paths also give each link its catchment.

Catchments (:func:`link_catchments`): every grid cell belongs to the link its D8 path reaches
first, so a gridded runoff field becomes lateral inflow per link (:meth:`Network.lateral_inflow`).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import shapely.ops
from affine import Affine

from ingest.crs import require_projected
from kernels import terrain as _kt
from kernels.river import RiverNetwork
from twin import _grids
from twin.errors import InputDataError
from twin.model.twin import Twin
from twin.sims.flood.forcing import MM_PER_H

__all__ = [
    "Network",
    "lake_connections",
    "lake_hypsometry",
    "lake_table",
    "link_catchments",
    "network_from_lines",
    "network_from_rivers",
    "network_from_streams",
]

ORIENT_MODES = ("digitised", "terrain")
DANGLING_MODES = ("error", "outlet")
_MAX_NAMED = 8


@dataclass
class Network:
    """A river network: links in a GeoDataFrame plus the index arrays the kernels take.

    Attributes
    ----------
    links : GeoDataFrame
        One row per link, sorted by ``link_id`` (row ``i`` is link index ``i``). Columns
        ``link_id`` (int, stable), ``downstream_id`` (-1 at an outlet), ``length_m``, ``slope``,
        ``width_m``, ``depth_m`` (NaN where unknown), ``manning``, ``order`` (Strahler), ``lake``
        (row of the twin's lake layer a lake link stands for, -1 for a river link), ``source``
        (row of the input line, or id of the stream link, it came from) and ``geometry`` (line,
        drawn downstream).
    downstream : int64 array (n,)
        Index of each link's receiving link, -1 at an outlet.
    catchment : int32 array (ny, nx) or None
        ``link_id`` whose D8 path each cell reaches first (0: drains to no link); see
        :func:`link_catchments`.
    cell_area : float
        Area of one grid cell [m2] (with ``catchment``).
    slope_floored : int
        How many links had their slope raised to the minimum.
    """

    links: gpd.GeoDataFrame
    downstream: np.ndarray
    catchment: np.ndarray | None = None
    cell_area: float = 0.0
    slope_floored: int = 0
    _pos: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._pos = {int(k): i for i, k in enumerate(self.links["link_id"].to_numpy())}

    def __len__(self) -> int:
        return len(self.links)

    @property
    def ids(self) -> np.ndarray:
        """Link ids in index order."""
        return self.links["link_id"].to_numpy(np.int64)

    @property
    def outlets(self) -> np.ndarray:
        """Indices of the outlet links."""
        return np.flatnonzero(self.downstream < 0)

    @property
    def crs(self):
        """The links' CRS."""
        return self.links.crs

    def index(self, link_ids: Any) -> np.ndarray:
        """Link indices of the given link ids (raises InputDataError naming an unknown id)."""
        ids = np.atleast_1d(np.asarray(link_ids, dtype=np.int64))
        bad = [int(k) for k in ids if int(k) not in self._pos]
        if bad:
            raise InputDataError(
                f"link id(s) {bad[:_MAX_NAMED]} are not in the network; its ids run from "
                f"{int(self.ids.min())} to {int(self.ids.max())} (see network.links.link_id)"
            )
        return np.array([self._pos[int(k)] for k in ids], dtype=np.int64)

    def river_network(self, q_ref: float | np.ndarray = 1.0) -> RiverNetwork:
        """The links as :class:`kernels.river.RiverNetwork` arrays at reference discharge ``q_ref`` [m3/s]."""
        n = len(self)

        def f(c: str) -> np.ndarray:
            return np.ascontiguousarray(self.links[c].to_numpy(np.float64))

        return RiverNetwork(
            self.downstream.copy(),
            f("length_m"),
            f("slope"),
            f("manning"),
            f("width_m"),
            np.ascontiguousarray(np.broadcast_to(np.asarray(q_ref, np.float64), (n,))),
        )

    def upstream_count(self) -> np.ndarray:
        """Number of links draining directly into each link."""
        has = self.downstream >= 0
        return np.bincount(self.downstream[has], minlength=len(self))

    def nearest_link(self, x: float, y: float, max_distance: float | None = None) -> tuple[int, float]:
        """Index of the link nearest to (x, y) and the distance [m] from its upstream end to the
        nearest point on it; InputDataError when farther than ``max_distance``."""
        pt = shapely.Point(x, y)
        d = shapely.distance(self.links.geometry.values, pt)
        i = int(np.argmin(d))
        if max_distance is not None and d[i] > max_distance:
            raise InputDataError(
                f"the point ({x:.1f}, {y:.1f}) is {d[i]:.1f} m from the nearest link (id "
                f"{int(self.ids[i])}), more than {max_distance:g} m: move it onto a river, or check that its "
                "coordinates are in the twin's CRS"
            )
        return i, float(shapely.line_locate_point(self.links.geometry.values[i], pt))

    def catchment_area(self) -> np.ndarray:
        """Area [m2] of each link's own catchment (cells reaching it first); needs ``catchment``."""
        lab = self._require_catchment()
        counts = np.bincount(lab.ravel(), minlength=int(self.ids.max()) + 1)
        return counts[self.ids] * self.cell_area

    def lateral_inflow(self, runoff: np.ndarray | float, units: str = "m/s") -> np.ndarray:
        """Lateral inflow [m3/s] into each link from a runoff field over its catchment.

        Parameters
        ----------
        runoff : float or array (ny, nx) or (T, ny, nx)
            Runoff depth rate on each cell; NaN counts as no runoff.
        units : {"m/s", "mm/h"}

        Returns
        -------
        float array (n,) or (T, n)
        """
        lab = self._require_catchment()
        if units not in ("m/s", "mm/h"):
            raise InputDataError(f"runoff units {units!r} are not known; use 'm/s' or 'mm/h'")
        scale = self.cell_area * (MM_PER_H if units == "mm/h" else 1.0)
        r = np.asarray(runoff, dtype=np.float64)
        if r.ndim == 0:
            return float(r) * scale * np.bincount(lab.ravel(), minlength=int(self.ids.max()) + 1)[self.ids]
        if r.shape[-2:] != lab.shape:
            raise InputDataError(
                f"the runoff grid has shape {r.shape[-2:]}, the twin's grid {lab.shape}; "
                "give one value per cell of the twin"
            )
        frames = r.reshape(-1, *lab.shape)
        flat = lab.ravel()
        width = int(self.ids.max()) + 1
        out = (
            np.stack([np.bincount(flat, weights=np.nan_to_num(f.ravel()), minlength=width)[self.ids] for f in frames])
            * scale
        )
        return out if r.ndim == 3 else out[0]

    def _require_catchment(self) -> np.ndarray:
        if self.catchment is None:
            raise InputDataError(
                "this network has no catchments; build it with network_from_streams, or attach "
                "them with link_catchments(twin, network)"
            )
        return self.catchment


# --------------------------------------------------------------------------------------- from lines


def network_from_rivers(twin: Twin, *, lakes: bool = True, **options: Any) -> Network:
    """The river network of the twin's ``rivers`` layer (and its ``lakes`` as lake links).

    Slopes come from the twin's terrain along each line, the domain edge is the twin's bounds, and
    the snapping tolerance defaults to one cell. Other options as :func:`network_from_lines`.
    """
    if twin.rivers is None or not len(twin.rivers):
        raise InputDataError(
            "the twin has no rivers layer; add one (twin ingest --rivers FILE) or build the "
            "network from the terrain with network_from_streams(twin)"
        )
    options.setdefault("snap_tolerance", float(twin.cell_size))
    return network_from_lines(
        twin.rivers,
        terrain=twin.terrain,
        transform=twin.transform,
        bounds=twin.bounds,
        lakes=twin.lakes if lakes else None,
        **options,
    )


def network_from_lines(
    lines: gpd.GeoDataFrame,
    *,
    terrain: np.ndarray | None = None,
    transform: Affine | None = None,
    bounds: Sequence[float] | None = None,
    lakes: gpd.GeoDataFrame | None = None,
    snap_tolerance: float = 1.0,
    orient: str = "digitised",
    id_column: str | None = None,
    dangling: str = "error",
    outlets: Iterable[int] = (),
    allow_disconnected: bool = False,
    slope_column: str | None = None,
    min_slope: float = 1e-4,
    manning: float = 0.035,
    width: float | None = None,
) -> Network:
    """Build a checked river network from lines.

    Parameters
    ----------
    lines : GeoDataFrame
        LineStrings (MultiLineStrings are merged where they join) in a projected CRS in metres.
        Optional columns: ``width`` [m], ``depth`` [m], ``manning``.
    terrain, transform : DEM on a grid and its affine transform (same CRS), optional
        Give slopes (least-squares fit of the DEM along each line) and, with ``orient="terrain"``,
        directions.
    bounds : (xmin, ymin, xmax, ymax), optional
        Domain; a link ending within ``snap_tolerance`` of its edge is an outlet.
    lakes : GeoDataFrame of polygons, optional
        Lines are cut at the shores; the pieces inside one lake become one lake link.
    snap_tolerance : float
        Line ends closer than this [m] are one node; an end this close to another line joins it.
    orient : {"digitised", "terrain"}
        Flow direction: the lines' drawing direction, or from the higher to the lower end.
    id_column : str, optional
        Integer column to order the lines by (default: their row order). Link ids are 1..n after
        splitting, in the order of (line, distance along it).
    dangling : {"error", "outlet"}
        What a link whose end touches nothing, inside the domain, is: an error, or an outlet.
    outlets : link ids, optional
        Links accepted as outlets wherever they end.
    allow_disconnected : bool
        Accept several independent trees (several outlets).
    slope_column : str, optional
        Take slopes from this column instead of the terrain.
    min_slope : float
        Floor for slopes (flat or reversed profiles); the count is warned about.
    manning : float
        Manning's n where the lines carry no ``manning`` column.
    width : float, optional
        Width [m] where the lines carry no ``width`` column.

    Raises
    ------
    InputDataError
        Bad geometry or options, a cycle, a dangling end, disconnected parts or a bifurcation;
        the message names the link ids and the fix.
    """
    if orient not in ORIENT_MODES:
        raise InputDataError(f"orient = {orient!r} is not known; use one of {ORIENT_MODES}")
    if dangling not in DANGLING_MODES:
        raise InputDataError(f"dangling = {dangling!r} is not known; use one of {DANGLING_MODES}")
    if not (np.isfinite(snap_tolerance) and snap_tolerance >= 0):
        raise InputDataError(f"snap_tolerance = {snap_tolerance} must be a distance >= 0 in metres")
    if lines.crs is None:
        raise InputDataError(
            "the river lines have no CRS; set one (e.g. gdf.set_crs('EPSG:4547')) before building a network"
        )
    require_projected(lines.crs, what="the river lines' CRS")
    if orient == "terrain" and terrain is None:
        raise InputDataError("orient='terrain' needs a terrain grid (and its transform)")
    if len(lines) == 0:
        raise InputDataError("there are no river lines to build a network from")
    rows = np.arange(len(lines))
    if id_column is not None:
        if id_column not in lines.columns:
            raise InputDataError(f"id_column {id_column!r} is not a column of the lines ({list(lines.columns)})")
        rows = np.argsort(lines[id_column].to_numpy(), kind="stable")
    lines = lines.iloc[rows].reset_index(drop=True)
    geoms = _single_lines(lines.geometry.values)
    if orient == "terrain":
        geoms = _orient_by_terrain(geoms, terrain, transform)
    tol = float(snap_tolerance)
    lake_polys = None if lakes is None or not len(lakes) else np.asarray(lakes.geometry.values, dtype=object)
    pieces, source = _split(geoms, tol, lake_polys)
    lake_of = _lake_of(pieces, lake_polys)
    down = _connect(pieces, tol)
    pieces, source, lake_of, down = _merge_lakes(pieces, source, lake_of, down)
    ids = np.arange(1, len(pieces) + 1, dtype=np.int64)
    _check_cycles(down, ids)
    _check_bifurcations(pieces, down, ids, tol)
    _check_outlets(pieces, down, ids, tol, bounds, dangling, {int(k) for k in outlets}, allow_disconnected)

    attrs = lines.iloc[source]
    length = shapely.length(pieces)
    if np.any(length <= 0):
        i = int(np.flatnonzero(length <= 0)[0])
        raise InputDataError(f"link {ids[i]} (line {int(source[i])}) has zero length; remove the degenerate line")
    if slope_column is not None:
        if slope_column not in lines.columns:
            raise InputDataError(f"slope_column {slope_column!r} is not a column of the lines")
        slope = attrs[slope_column].to_numpy(np.float64)
    elif terrain is not None:
        slope = _terrain_slopes(pieces, terrain, transform)
    else:
        raise InputDataError("slopes need a terrain grid or a slope_column; give one of them")
    floored = ~(slope >= min_slope)
    slope = np.where(floored, min_slope, slope)
    if floored.any():
        warnings.warn(
            f"{int(floored.sum())} of {len(slope)} links had a slope below {min_slope:g} (flat or "
            "rising bed profile); their slope was set to that minimum",
            stacklevel=2,
        )
    if "width" in lines.columns:
        w = attrs["width"].to_numpy(np.float64)
    elif width is not None:
        w = np.full(len(pieces), float(width))
    else:
        raise InputDataError("the lines have no 'width' column; add one, or give width=... in metres")
    if not np.all(np.isfinite(w) & (w > 0)):
        i = int(np.flatnonzero(~(np.isfinite(w) & (w > 0)))[0])
        raise InputDataError(f"link {ids[i]} (line {int(source[i])}) has width {w[i]}; widths must be > 0 m")
    n_man = attrs["manning"].to_numpy(np.float64) if "manning" in lines.columns else np.full(len(pieces), manning)
    depth = attrs["depth"].to_numpy(np.float64) if "depth" in lines.columns else np.full(len(pieces), np.nan)
    frame = gpd.GeoDataFrame(
        {
            "link_id": ids,
            "downstream_id": np.where(down >= 0, ids[np.maximum(down, 0)], -1),
            "length_m": length,
            "slope": slope,
            "width_m": w,
            "depth_m": depth,
            "manning": n_man,
            "order": _strahler(down),
            "lake": lake_of,
            "source": rows[source],
        },
        geometry=pieces,
        crs=lines.crs,
    )
    return Network(frame, down, slope_floored=int(floored.sum()))


def _single_lines(geoms: np.ndarray) -> np.ndarray:
    out = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            raise InputDataError(f"river line {i} is empty; remove it")
        if g.geom_type == "MultiLineString":
            g = shapely.line_merge(g)
        if g.geom_type != "LineString":
            raise InputDataError(
                f"river line {i} is a {g.geom_type} whose parts do not join into one line; "
                "split it into separate features"
            )
        out.append(shapely.force_2d(g))
    return np.asarray(out, dtype=object)


def _sample(terrain: np.ndarray, transform: Affine, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Terrain at points, nearest cell, clamped to the grid (ends exactly on the domain edge)."""
    col, row = ~transform @ (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    ny, nx = terrain.shape
    r = np.clip(np.floor(row).astype(np.int64), 0, ny - 1)
    c = np.clip(np.floor(col).astype(np.int64), 0, nx - 1)
    return terrain[r, c]


def _orient_by_terrain(geoms: np.ndarray, terrain: np.ndarray, transform: Affine) -> np.ndarray:
    start = shapely.get_coordinates(shapely.get_point(geoms, 0))
    end = shapely.get_coordinates(shapely.get_point(geoms, -1))
    zs = _sample(terrain, transform, start[:, 0], start[:, 1])
    ze = _sample(terrain, transform, end[:, 0], end[:, 1])
    return np.where(ze > zs, shapely.reverse(geoms), geoms)


def _terrain_slopes(pieces: np.ndarray, terrain: np.ndarray, transform: Affine) -> np.ndarray:
    """Bed slope of each line: minus the least-squares gradient of the terrain sampled every cell along it."""
    step = abs(transform.a)
    out = np.empty(len(pieces))
    for i, g in enumerate(pieces):
        n = max(2, int(np.ceil(g.length / step)) + 1)
        s = np.linspace(0.0, g.length, n)
        xy = shapely.get_coordinates(shapely.line_interpolate_point(g, s))
        z = _sample(terrain, transform, xy[:, 0], xy[:, 1]).astype(np.float64)
        ok = np.isfinite(z)
        out[i] = -np.polyfit(s[ok], z[ok], 1)[0] if ok.sum() >= 2 else np.nan
    return out


def _split(geoms: np.ndarray, tol: float, lakes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Cut lines where another line's end touches their interior and where they cross a lake shore."""
    ends = np.concatenate([shapely.get_point(geoms, 0), shapely.get_point(geoms, -1)])
    owner = np.concatenate([np.arange(len(geoms))] * 2)
    tree = shapely.STRtree(geoms)
    pt_idx, line_idx = tree.query(ends, predicate="dwithin", distance=tol)
    cuts: list[list[float]] = [[] for _ in geoms]
    for p, j in zip(pt_idx, line_idx):
        if owner[p] == j:
            continue
        s = float(shapely.line_locate_point(geoms[j], ends[p]))
        if tol < s < geoms[j].length - tol:
            cuts[j].append(s)
    if lakes is not None:
        shores = shapely.boundary(lakes)
        for j, g in enumerate(geoms):
            for shore in shores:
                hit = shapely.intersection(g, shore)
                for pt in shapely.get_parts(hit):
                    if pt.geom_type == "Point":
                        s = float(shapely.line_locate_point(g, pt))
                        if 0 < s < g.length:
                            cuts[j].append(s)
    pieces, source = [], []
    for j, g in enumerate(geoms):
        at = np.unique(np.asarray(cuts[j], dtype=float))
        # a cut closer than tol to the previous one would leave a sliver: keep the first
        keep = [s for k, s in enumerate(at) if k == 0 or s - at[k - 1] > tol] if at.size else []
        edges = [0.0, *keep, g.length]
        for a, b in itertools.pairwise(edges):
            pieces.append(shapely.ops.substring(g, a, b))
            source.append(j)
    return np.asarray(pieces, dtype=object), np.asarray(source, dtype=np.int64)


def _lake_of(pieces: np.ndarray, lakes: np.ndarray | None) -> np.ndarray:
    out = np.full(len(pieces), -1, dtype=np.int64)
    if lakes is None:
        return out
    mid = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    for k, poly in enumerate(lakes):
        out[shapely.contains(poly, mid)] = k
    return out


def _nodes(pieces: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Node number of each piece's upstream and downstream end (ends within ``tol`` share a node)."""
    from scipy.cluster.hierarchy import DisjointSet
    from scipy.spatial import cKDTree

    n = len(pieces)
    xy = np.concatenate(
        [shapely.get_coordinates(shapely.get_point(pieces, 0)), shapely.get_coordinates(shapely.get_point(pieces, -1))]
    )
    ds = DisjointSet(range(2 * n))
    for a, b in cKDTree(xy).query_pairs(max(tol, 1e-9)):
        ds.merge(a, b)
    roots = np.array([ds[k] for k in range(2 * n)])
    _, node = np.unique(roots, return_inverse=True)
    return node[:n], node[n:]


def _connect(pieces: np.ndarray, tol: float) -> np.ndarray:
    """Downstream piece of each piece: the one starting at its end node (-1: none; -2: several)."""
    up, dn = _nodes(pieces, tol)
    starts: dict[int, list[int]] = {}
    for i, u in enumerate(up):
        starts.setdefault(int(u), []).append(i)
    down = np.full(len(pieces), -1, dtype=np.int64)
    for i, d in enumerate(dn):
        nxt = [j for j in starts.get(int(d), []) if j != i]
        if len(nxt) == 1:
            down[i] = nxt[0]
        elif len(nxt) > 1:
            down[i] = -2 - len(nxt)  # bifurcation, reported by _check_bifurcations
    return down


def _merge_lakes(pieces, source, lake_of, down):
    """Make the pieces inside each lake one lake link (the longest piece stands for it)."""
    if not np.any(lake_of >= 0):
        return pieces, source, lake_of, down
    n = len(pieces)
    down = down.copy()
    target = np.arange(n)
    length = shapely.length(pieces)
    for k in np.unique(lake_of[lake_of >= 0]):
        members = np.flatnonzero(lake_of == k)
        keep = members[np.argmax(length[members])]
        target[members] = keep
        leaving = sorted({int(down[m]) for m in members if down[m] >= 0 and lake_of[down[m]] != k})
        if len(leaving) > 1:
            raise InputDataError(
                f"lake {int(k)} drains through {len(leaving)} rivers (lines {_named(source[leaving])}); a lake "
                "link has one outlet: keep one outflowing river, or split the lake polygon"
            )
        down[keep] = leaving[0] if leaving else -1
    alive = target == np.arange(n)
    new_index = np.cumsum(alive) - 1
    down = np.where(down >= 0, new_index[target[np.maximum(down, 0)]], down)
    return pieces[alive], source[alive], lake_of[alive], down[alive]


def _named(ids: Iterable[int]) -> str:
    ids = [int(k) for k in ids]
    more = f" and {len(ids) - _MAX_NAMED} more" if len(ids) > _MAX_NAMED else ""
    return ", ".join(str(k) for k in ids[:_MAX_NAMED]) + more


def _check_bifurcations(pieces, down, ids, tol) -> None:
    bad = np.flatnonzero(down <= -2)
    if bad.size:
        up, dn = _nodes(pieces, tol)
        i = int(bad[0])
        branches = [int(ids[j]) for j in np.flatnonzero(up == dn[i]) if j != i]
        raise InputDataError(
            f"the river network splits below link(s) {_named(ids[bad])}: link {ids[i]} flows into "
            f"{len(branches)} links ({_named(branches)}). Braids and bifurcations cannot be routed; keep one "
            "branch (delete or disconnect the others), or reverse a line drawn against the flow "
            "(or build with orient='terrain')"
        )


def _check_cycles(down: np.ndarray, ids: np.ndarray) -> None:
    n = down.size
    state = np.zeros(n, np.int8)  # 0 unseen, 1 on the current walk, 2 done
    for start in range(n):
        path = []
        i = start
        while i >= 0 and state[i] == 0:
            state[i] = 1
            path.append(i)
            i = int(down[i])
        if i >= 0 and state[i] == 1:
            cyc = path[path.index(i) :]
            raise InputDataError(
                f"the river network has a cycle through links {' -> '.join(str(int(ids[k])) for k in cyc)} -> "
                f"{int(ids[cyc[0]])}: water would flow round forever. Reverse the line drawn against the flow "
                "(or build with orient='terrain'), or delete the link closing the loop"
            )
        for k in path:
            state[k] = 2


def _check_outlets(pieces, down, ids, tol, bounds, dangling, accepted, allow_disconnected) -> None:
    out = np.flatnonzero(down == -1)
    if bounds is not None:
        end = shapely.get_coordinates(shapely.get_point(pieces[out], -1))
        x0, y0, x1, y1 = bounds
        gap = np.minimum.reduce([end[:, 0] - x0, x1 - end[:, 0], end[:, 1] - y0, y1 - end[:, 1]])
        on_edge = gap <= max(tol, 1e-6)
    else:
        on_edge = np.zeros(out.size, bool)
    unknown = accepted - {int(k) for k in ids}
    if unknown:
        raise InputDataError(
            f"outlets names link id(s) {_named(sorted(unknown))} that the network does not have "
            f"(its ids run 1..{len(ids)})"
        )
    marked = np.isin(ids[out], list(accepted))
    dangle = out[~on_edge & ~marked]
    if dangle.size and dangling == "error" and not (bounds is None and out.size == 1):
        raise InputDataError(
            f"link(s) {_named(ids[dangle])} end without touching another link or the domain edge (dangling "
            f"ends). Snap their ends onto the river they join (or raise snap_tolerance, now {tol:g} m); or, "
            "if they really are outlets, pass outlets=[...] with their ids or dangling='outlet'"
        )
    if out.size > 1 and not allow_disconnected:
        sizes = _tree_sizes(down)
        parts = ", ".join(f"outlet {int(ids[o])} ({sizes[o]} links)" for o in out[:_MAX_NAMED])
        raise InputDataError(
            f"the river network falls into {out.size} unconnected parts: {parts}. Connect them (snap the "
            "ends that should meet, or raise snap_tolerance), or pass allow_disconnected=True if these are "
            "separate rivers"
        )


def _tree_sizes(down: np.ndarray) -> np.ndarray:
    """Number of links draining through each link (itself included)."""
    from kernels.river import topological_order

    size = np.ones(down.size, np.int64)
    for i in topological_order(down):
        if down[i] >= 0:
            size[down[i]] += size[i]
    return size


def _strahler(down: np.ndarray) -> np.ndarray:
    from kernels.river import topological_order

    n = down.size
    order = np.zeros(n, np.int32)
    top = np.zeros(n, np.int32)
    count = np.zeros(n, np.int32)
    for i in topological_order(down):
        order[i] = 1 if count[i] == 0 else (top[i] + 1 if count[i] >= 2 else top[i])
        d = down[i]
        if d >= 0:
            if order[i] > top[d]:
                top[d], count[d] = order[i], 1
            elif order[i] == top[d]:
                count[d] += 1
    return order


# --------------------------------------------------------------------------------------- catchments


def link_catchments(
    twin: Twin, network: Network, *, analysis: dict[str, Any] | None = None, burn_buildings: str = "none"
) -> Network:
    """Attach catchments to a network built from lines: each cell goes to the link its D8 path reaches first.

    Each link's line is burned onto the grid (lake links as their lake polygon), and every other cell
    takes the label of the first labelled cell downstream along its D8 path (0 if its path leaves the
    grid without touching a link).

    Parameters
    ----------
    twin : Twin
    network : Network
        From :func:`network_from_rivers` on the same twin.
    analysis : dict, optional
        A :func:`twin.sims.terrain.run.terrain_analysis` result to reuse (its flow directions).
    burn_buildings : {"none", "block"}
        As in :func:`twin.sims.terrain.run.terrain_analysis` when ``analysis`` is not given.

    Returns
    -------
    Network
        The same links with ``catchment`` and ``cell_area`` set.
    """
    from twin.sims.terrain.run import terrain_analysis

    if analysis is None:
        analysis = terrain_analysis(twin, threshold_cells=1, burn_buildings=burn_buildings)
    d8 = analysis["flow_direction"]
    links = network.links
    seeds = _grids.burn(
        links.geometry.values,
        links["link_id"].to_numpy(float),
        twin.shape,
        twin.transform,
        dtype="int32",
        all_touched=True,
    )
    lakes = links[links["lake"] >= 0]
    if len(lakes) and twin.lakes is not None:
        polys = twin.lakes.geometry.values[lakes["lake"].to_numpy(np.int64)]
        lake_seed = _grids.burn(polys, lakes["link_id"].to_numpy(float), twin.shape, twin.transform, dtype="int32")
        seeds = np.where(lake_seed > 0, lake_seed, seeds)
    return Network(
        links,
        network.downstream,
        catchment=_label_from_seeds(d8, seeds),
        cell_area=float(twin.cell_size) ** 2,
        slope_floored=network.slope_floored,
    )


def _label_from_seeds(d8: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Each cell's label: its own seed label, else that of the first seeded cell down its D8 path."""
    rows, cols = np.nonzero(seeds)
    basin = _kt.watersheds(d8, rows, cols)  # 1..k, one per seed cell, nested basins kept apart
    lut = np.concatenate([[0], seeds[rows, cols]]).astype(np.int32)
    return lut[basin]


# --------------------------------------------------------------------------------------- from streams


def network_from_streams(
    twin: Twin,
    analysis: dict[str, Any] | None = None,
    *,
    threshold_cells: int = 100,
    burn_buildings: str = "none",
    min_slope: float = 1e-4,
    manning: float = 0.035,
    width_coefficient: float = 2.0,
    width_exponent: float = 0.5,
    min_width: float = 1.0,
    allow_disconnected: bool = True,
) -> Network:
    """The network of stream links from the twin's terrain analysis, with catchments.

    Widths follow a downstream hydraulic-geometry rule on the upstream area ``A`` [km2] at each
    link's bottom: ``width = max(min_width, width_coefficient * A ** width_exponent)`` [m].

    Parameters
    ----------
    twin : Twin
    analysis : dict, optional
        A :func:`twin.sims.terrain.run.terrain_analysis` result; computed with ``threshold_cells`` and
        ``burn_buildings`` when absent.
    allow_disconnected : bool
        A DEM usually drains through several edge outlets, each its own tree; set False to require one.

    Returns
    -------
    Network
        Link ids as in the analysis (1..n), ``downstream_id`` -1 at outlets, with ``catchment``.
    """
    from twin.sims.terrain.run import stream_links_frame, terrain_analysis

    if analysis is None:
        analysis = terrain_analysis(twin, threshold_cells=threshold_cells, burn_buildings=burn_buildings)
    sl = analysis["links"]
    if sl.downstream.size == 0:
        raise InputDataError(
            f"the terrain has no stream links at threshold_cells = {analysis['threshold_cells']}; lower the threshold"
        )
    frame = stream_links_frame(twin, analysis)
    ids = frame["link_id"].to_numpy(np.int64)
    down = sl.downstream.astype(np.int64) - 1
    out = np.flatnonzero(down < 0)
    if out.size > 1 and not allow_disconnected:
        raise InputDataError(
            f"the streams drain through {out.size} separate outlets ({_named(ids[out])}); pass "
            "allow_disconnected=True or clip the twin to one catchment"
        )
    length = frame["length_m"].to_numpy(np.float64)
    # a one-cell link draining off the grid has no length; give it one cell so that it can route
    length = np.where(length > 0, length, float(twin.cell_size))
    slope = frame["slope"].to_numpy(np.float64)
    floored = ~(slope >= min_slope)
    if floored.any():
        warnings.warn(
            f"{int(floored.sum())} of {slope.size} stream links had a slope below {min_slope:g}; "
            "their slope was set to that minimum",
            stacklevel=2,
        )
    area_km2 = analysis["upstream_area_m2"].ravel()[sl.bottom] / 1e6
    width = np.maximum(min_width, width_coefficient * area_km2**width_exponent)
    links = gpd.GeoDataFrame(
        {
            "link_id": ids,
            "downstream_id": np.where(down >= 0, ids[np.maximum(down, 0)], -1),
            "length_m": length,
            "slope": np.where(floored, min_slope, slope),
            "width_m": width,
            "depth_m": np.full(ids.size, np.nan),
            "manning": np.full(ids.size, float(manning)),
            "order": frame["order"].to_numpy(np.int32),
            "lake": np.full(ids.size, -1, np.int64),
            "source": ids,
        },
        geometry=frame.geometry.values,
        crs=twin.crs,
    )
    catchment = _label_from_seeds(analysis["flow_direction"], sl.ids)
    return Network(
        links, down, catchment=catchment, cell_area=float(twin.cell_size) ** 2, slope_floored=int(floored.sum())
    )


# --------------------------------------------------------------------------------------------- lakes


def lake_hypsometry(
    twin: Twin, lake: int | Any, *, n_levels: int = 50, max_stage: float | None = None, freeboard: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage-area-storage table of a lake from the DEM inside its polygon.

    The cells whose centres lie in the polygon are the lake's bed. At stage ``h`` the wet area is
    the area of the cells below ``h`` and the storage is ``sum(max(h - z, 0)) * cell_area``, the
    exact integral of that area over stage, so storage is continuous and non-decreasing (strictly
    increasing above the lowest cell). Above the highest bed cell the lake is taken to rise between
    vertical walls (its area stays that of the polygon's cells).

    Parameters
    ----------
    twin : Twin
        Its terrain holds the lake bed (bathymetry), not the water surface.
    lake : int or polygon
        Row of ``twin.lakes``, or a polygon in the twin's CRS.
    n_levels : int
        Number of stages, evenly spaced from the lowest bed cell to ``max_stage``.
    max_stage : float, optional
        Highest stage [m]; default the highest bed cell plus ``freeboard``.
    freeboard : float
        See ``max_stage`` [m].

    Returns
    -------
    stage [m], area [m2], storage [m3] : float arrays (n_levels,)
    """
    poly = _lake_polygon(twin, lake)
    inside = _grids.mask([poly], twin.shape, twin.transform) > 0
    z = np.asarray(twin.terrain, dtype=np.float64)[inside]
    z = z[np.isfinite(z)]
    if z.size == 0:
        raise InputDataError(
            f"lake {lake if isinstance(lake, int) else ''} covers no cell centre with terrain; "
            "check that its polygon lies on the twin's grid and is larger than a cell"
        )
    if int(n_levels) < 2:
        raise InputDataError(f"n_levels = {n_levels} must be at least 2")
    top = float(z.max() + freeboard) if max_stage is None else float(max_stage)
    if not top > z.min():
        raise InputDataError(f"max_stage = {top} must lie above the lake's lowest bed cell ({z.min():.3f} m)")
    stage = np.linspace(z.min(), top, int(n_levels))
    cell = float(twin.cell_size) ** 2
    zs = np.sort(z)
    below = np.searchsorted(zs, stage, side="left")
    csum = np.concatenate([[0.0], np.cumsum(zs)])
    area = below * cell
    storage = (below * stage - csum[below]) * cell
    return stage, area, storage


def lake_table(
    stage: Sequence[float], *, area: Sequence[float] | None = None, storage: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a user's stage-area and/or stage-storage table; fill in the missing column.

    Storage from area integrates it over stage by the trapezoid rule (from 0 at the first stage);
    area from storage is its derivative (piecewise, the slope of each segment at its upper end).

    Returns
    -------
    stage [m], area [m2], storage [m3] : float arrays
    """
    h = np.asarray(stage, dtype=np.float64)
    if h.ndim != 1 or h.size < 2 or not np.all(np.isfinite(h)) or np.any(np.diff(h) <= 0):
        raise InputDataError(
            "a lake table needs at least two finite stages in strictly increasing order; sort its rows by stage"
        )
    if area is None and storage is None:
        raise InputDataError("a lake table needs an area or a storage column (or both) beside the stages")
    a = None if area is None else np.asarray(area, dtype=np.float64)
    s = None if storage is None else np.asarray(storage, dtype=np.float64)
    for name, v in (("area", a), ("storage", s)):
        if v is not None and (
            v.shape != h.shape or not np.all(np.isfinite(v)) or np.any(v < 0) or np.any(np.diff(v) < 0)
        ):
            raise InputDataError(
                f"the lake table's {name} column must give one finite value >= 0 per stage, non-decreasing with stage"
            )
    if s is None:
        s = np.concatenate([[0.0], np.cumsum(0.5 * (a[1:] + a[:-1]) * np.diff(h))])
    if a is None:
        a = np.concatenate([[0.0], np.diff(s) / np.diff(h)])
    if np.any(np.diff(s) <= 0):
        raise InputDataError(
            "the lake table's storage must increase strictly with stage (a zero area over a "
            "stage interval stores nothing); drop the repeated rows"
        )
    return h, a, s


def _lake_polygon(twin: Twin, lake: int | Any):
    if isinstance(lake, (int, np.integer)):
        if twin.lakes is None or not 0 <= int(lake) < len(twin.lakes):
            n = 0 if twin.lakes is None else len(twin.lakes)
            raise InputDataError(f"lake {lake} is not in the twin's lakes layer ({n} lakes; rows 0..{n - 1})")
        return twin.lakes.geometry.iloc[int(lake)]
    if getattr(lake, "geom_type", None) not in ("Polygon", "MultiPolygon"):
        raise InputDataError("a lake is a row number of twin.lakes or a shapely polygon in the twin's CRS")
    return lake


def lake_connections(network: Network, lakes: gpd.GeoDataFrame, *, side_distance: float = 0.0):
    """How each lake joins the network.

    A lake is *in-line* when a link stands for it (``links.lake``, from
    :func:`network_from_rivers`) or when links end inside it; its inflow links are those ending in
    the polygon (or draining into its lake link), its outflow link the one leaving it. A lake that no
    link enters but that lies within ``side_distance`` of a link is *side*-connected to the nearest.

    Returns
    -------
    DataFrame with one row per lake: ``lake`` (row), ``kind`` ("inline", "side", "none"),
    ``lake_link`` (link id or -1), ``inflow_links`` (list of ids), ``outflow_link`` (id or -1),
    ``side_link`` (id or -1), ``distance_m``.
    """
    import pandas as pd

    links = network.links
    ids = network.ids
    geoms = links.geometry.values
    start = shapely.get_point(geoms, 0)
    end = shapely.get_point(geoms, -1)
    rows = []
    for k, poly in enumerate(lakes.geometry.values):
        row = {
            "lake": k,
            "kind": "none",
            "lake_link": -1,
            "inflow_links": [],
            "outflow_link": -1,
            "side_link": -1,
            "distance_m": float("nan"),
        }
        own = np.flatnonzero(links["lake"].to_numpy() == k)
        if own.size:
            j = int(own[0])
            row.update(
                kind="inline",
                lake_link=int(ids[j]),
                inflow_links=[int(ids[i]) for i in np.flatnonzero(network.downstream == j)],
                outflow_link=int(ids[network.downstream[j]]) if network.downstream[j] >= 0 else -1,
            )
        else:
            ending = np.flatnonzero(shapely.contains(poly, end) & ~shapely.contains(poly, start))
            leaving = np.flatnonzero(shapely.contains(poly, start) & ~shapely.contains(poly, end))
            if ending.size or leaving.size:
                row.update(
                    kind="inline",
                    inflow_links=[int(ids[i]) for i in ending],
                    outflow_link=int(ids[leaving[0]]) if leaving.size else -1,
                )
            else:
                d = shapely.distance(geoms, poly)
                i = int(np.argmin(d))
                if d[i] <= side_distance:
                    row.update(kind="side", side_link=int(ids[i]), distance_m=float(d[i]))
        rows.append(row)
    return pd.DataFrame(rows)
