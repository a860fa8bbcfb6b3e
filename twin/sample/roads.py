"""The sample city's street network: the centre lines of the streets its blocks leave, classed and named,
split where streets cross so that the lines form a routable network."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
import shapely.ops

from twin.sample.buildings import to_world

#: Streets this wide or wider (the avenue every fourth cut) are main roads.
_AVENUE_WIDTH_M = 24.0
_DISTRICTS = ("North", "South")


def make_roads(blocks: Any, zones: Any, river: Any) -> list[tuple[shapely.LineString, str, str, float, bool]]:
    """Street centre lines as ``(line, class, name, width, bridge)``: avenues "primary", the rest
    "residential"; each street cut at the streets crossing it and at the edge of its district's built-up
    zone; and bridges over the river joining the two districts.

    ``blocks`` and ``zones`` are what :func:`twin.sample.buildings.make_blocks` and ``make_zones`` return,
    ``river`` the main river (:class:`twin.sample.terrain.Channel`).
    """
    south = zones.domain.difference(zones.north)
    out: list[tuple[shapely.LineString, str, str, float]] = []
    ends: list[np.ndarray] = []
    for d, (half, (acuts, bcuts, (a0, a1), (b0, b1))) in enumerate(zip((zones.north, south), blocks.streets)):
        zone = zones.urban.intersection(half)
        frame = blocks.frames[d]
        streets = []
        for axis, cuts, (lo, hi) in (("a", acuts, (b0, b1)), ("b", bcuts, (a0, a1))):
            for k, (pos, width) in enumerate(cuts):
                along = np.array([lo, hi])
                a, b = (np.full(2, pos), along) if axis == "a" else (along, np.full(2, pos))
                x, y = to_world(frame, a, b)
                wide = width >= _AVENUE_WIDTH_M
                kind = ("Avenue" if wide else "Street") if axis == "a" else ("Boulevard" if wide else "Lane")
                name = f"{_DISTRICTS[d]} {kind} {k + 1}"
                line = shapely.LineString(np.c_[x, y]).intersection(zone)
                for part in shapely.get_parts(line):
                    if part.geom_type == "LineString" and part.length > 1.0:
                        streets.append((part, "primary" if wide else "residential", name, float(width)))
        noded = _noded(streets)
        out.extend(noded)
        ends.append(_dead_ends([r[0] for r in noded]))
    roads = [(*r, False) for r in out]
    return roads + _bridges(ends, river)


def _dead_ends(lines: list) -> np.ndarray:
    """End points that only one line reaches."""
    pts = np.array([c for line in lines for c in (line.coords[0], line.coords[-1])])
    _, first, inverse, counts = np.unique(
        np.round(pts, 3), axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    return pts[first[counts == 1]]


def _bridges(ends: list[np.ndarray], river: Any) -> list[tuple]:
    """Bridges at a quarter, half and three quarters of the river's length, each joining the dead ends of
    the north and the south district nearest that point of the river (none longer than 250 m)."""
    out = []
    line = shapely.LineString(river.xy)
    north, south = ends
    if not len(north) or not len(south):
        return out
    for k, share in enumerate((0.25, 0.5, 0.75)):
        p = np.array(line.interpolate(share, normalized=True).coords[0])
        a = north[np.argmin(np.hypot(*(north - p).T))]
        b = south[np.argmin(np.hypot(*(south - p).T))]
        bridge = shapely.LineString([a, b])
        if bridge.length < 250.0 and bridge.intersects(line):
            out.append((bridge, "primary", f"Bridge {k + 1}", 12.0, True))
    return out


def _noded(streets: list[tuple]) -> list[tuple]:
    """Each street split at the points where others cross or touch it."""
    lines = np.array([s[0] for s in streets], dtype=object)
    tree = shapely.STRtree(lines)
    out = []
    for i, (line, cls, name, width) in enumerate(streets):
        cuts = {0.0, line.length}
        for j in tree.query(line, predicate="intersects"):
            if j == i:
                continue
            for p in shapely.get_parts(shapely.intersection(line, lines[j])):
                if p.geom_type == "Point":
                    cuts.add(round(line.project(p), 6))
        at = sorted(cuts)
        for lo, hi in zip(at[:-1], at[1:]):
            if hi - lo > 0.5:
                out.append((shapely.ops.substring(line, lo, hi), cls, name, width))
    return out
