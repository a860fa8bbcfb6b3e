"""The sample city's districts, blocks, parcels and buildings (footprints, storeys, uses) and its land use."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.geometry
import shapely.ops
from affine import Affine
from rasterio.features import shapes

from twin.errors import InputDataError
from twin.sample.grid import Grid, rng_for
from twin.sample.terrain import Channel

# ---------------------------------------------------------------------------------------------------
# Zones, street blocks and buildings


@dataclass
class _Zones:
    domain: shapely.Polygon
    water: shapely.Geometry
    forest: shapely.Geometry
    green: shapely.Geometry  # river and creek greenways, the park round the lake
    urban: shapely.Geometry  # what is left for street blocks
    north: shapely.Geometry  # the domain north of the river
    centre: tuple[float, float]  # the commercial centre, on the north bank


def _extended(xy: np.ndarray, by: float) -> shapely.LineString:
    """A line continued straight beyond both ends, so buffers and splits cover the domain edges."""
    head = xy[0] + by * (xy[0] - xy[1]) / np.hypot(*(xy[0] - xy[1]))
    tail = xy[-1] + by * (xy[-1] - xy[-2]) / np.hypot(*(xy[-1] - xy[-2]))
    return shapely.LineString(np.r_[[head], xy, [tail]])


def make_zones(grid: Grid, river: Channel, lake: dict, creek: Channel, hills: np.ndarray) -> _Zones:
    domain = grid.box()
    river_line = shapely.simplify(_extended(river.xy, 100.0), 0.05)
    creek_line = shapely.simplify(shapely.LineString(creek.xy), 0.05)
    water = shapely.union_all(
        [
            river_line.buffer(0.5 * river.width, cap_style="flat"),
            creek_line.buffer(0.5 * creek.width),
            lake["polygon"],
        ]
    ).intersection(domain)
    # Forest where the hills rise more than a few metres: polygonised on a coarse grid, then smoothed.
    step = max(1, round(10.0 / grid.cell))
    mask = (hills > 4.0 * min(1.0, grid.size / 2000.0))[::step, ::step]
    coarse = grid.transform @ Affine.scale(step)
    parts = [shapely.geometry.shape(geom) for geom, _ in shapes(mask.astype(np.uint8), mask=mask, transform=coarse)]
    smooth = 2.0 * step * grid.cell
    forest = shapely.union_all(parts).buffer(smooth).buffer(-smooth).simplify(0.5 * smooth)
    forest = forest.intersection(domain).difference(water)
    # Greenways along the water, narrower in a small domain so that some city is left.
    margin = 30.0 * float(np.clip(grid.size / 2000.0, 0.4, 1.0))
    green = (
        shapely.union_all(
            [
                river_line.buffer(0.5 * river.width + margin, cap_style="flat"),
                creek_line.buffer(0.5 * creek.width + 0.5 * margin),
                lake["polygon"].buffer(1.5 * margin),
            ]
        )
        .intersection(domain)
        .difference(water)
        .difference(forest)
    )
    urban = domain.difference(shapely.union_all([water, forest, green]))
    halves = shapely.get_parts(shapely.ops.split(domain, river_line))
    north = next(h for h in halves if h.contains(shapely.Point(grid.x0 + 0.5 * grid.size, grid.y0 + grid.size - 1.0)))
    cx = grid.x0 + 0.35 * grid.size
    cy = float(np.interp(cx, river.xy[:, 0], river.xy[:, 1])) + 0.5 * river.width + 0.1 * grid.size
    return _Zones(domain, water, forest, green, urban, north, (cx, cy))


@dataclass
class _Blocks:
    """Street blocks: full rectangles in their district's rotated frame and their clipped polygons."""

    rect: np.ndarray  # (k, 4) a_lo, a_hi, b_lo, b_hi in the district frame
    district: np.ndarray  # (k,) 0 north, 1 south
    polygon: np.ndarray  # (k,) clipped shapely geometries
    cls: np.ndarray  # (k,) land-use class
    frames: list  # per district: (origin x, origin y, angle in radians)
    # per district: street cuts across a and b (centre, width) and the district's a and b extents
    streets: list = field(default_factory=list)


def _street_cuts(rng: np.random.Generator, lo: float, hi: float, spacing: tuple[float, float]) -> np.ndarray:
    """Street centre positions and widths along one axis: 12-18 m streets, a 24-30 m avenue every fourth."""
    pos, k, cuts = lo - rng.uniform(0.0, spacing[1]), 0, []
    while pos < hi + spacing[1]:
        cuts.append((pos, rng.uniform(24.0, 30.0) if k % 4 == 0 else rng.uniform(12.0, 18.0)))
        pos += rng.uniform(*spacing)
        k += 1
    return np.array(cuts)


def to_world(frame: tuple[float, float, float], a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ox, oy, angle = frame
    c, s = math.cos(angle), math.sin(angle)
    return ox + c * a - s * b, oy + s * a + c * b


def make_blocks(rng: np.random.Generator, grid: Grid, river: Channel, lake: dict, zones: _Zones) -> _Blocks:
    """Two rotated street grids, one each side of the river, clipped to the urban zone and classed."""
    L = grid.size
    south = zones.domain.difference(zones.north)
    angles = [math.radians(rng.uniform(8.0, 22.0)), math.radians(-rng.uniform(6.0, 18.0))]
    rects, districts, polys, frames, streets = [], [], [], [], []
    for k, (half, angle) in enumerate(zip((zones.north, south), angles)):
        frame = (grid.x0 + 0.5 * L, grid.y0 + 0.5 * L, angle)
        frames.append(frame)
        # Domain corners in the district frame bound the streets to draw.
        cx = np.array([0.0, L, L, 0.0]) - 0.5 * L
        cy = np.array([0.0, 0.0, L, L]) - 0.5 * L
        c, s = math.cos(angle), math.sin(angle)
        a, b = c * cx + s * cy, -s * cx + c * cy
        acuts = _street_cuts(rng, a.min(), a.max(), (110.0, 170.0))
        bcuts = _street_cuts(rng, b.min(), b.max(), (70.0, 110.0))
        streets.append((acuts, bcuts, (a.min(), a.max()), (b.min(), b.max())))
        a_lo, a_hi = acuts[:-1, 0] + 0.5 * acuts[:-1, 1], acuts[1:, 0] - 0.5 * acuts[1:, 1]
        b_lo, b_hi = bcuts[:-1, 0] + 0.5 * bcuts[:-1, 1], bcuts[1:, 0] - 0.5 * bcuts[1:, 1]
        A0, B0 = np.meshgrid(a_lo, b_lo, indexing="ij")
        A1, B1 = np.meshgrid(a_hi, b_hi, indexing="ij")
        r = np.c_[A0.ravel(), A1.ravel(), B0.ravel(), B1.ravel()]
        corners_a = r[:, [0, 1, 1, 0]]
        corners_b = r[:, [2, 2, 3, 3]]
        wx, wy = to_world(frame, corners_a, corners_b)
        boxes = shapely.polygons(np.stack([wx, wy], axis=-1))
        zone = zones.urban.intersection(half)
        shapely.prepare(zone)
        hit = shapely.intersects(zone, boxes)
        clipped = shapely.intersection(boxes[hit], zone)
        rects.append(r[hit])
        polys.append(clipped)
        districts.append(np.full(hit.sum(), k))
    rect, polygon, district = np.concatenate(rects), np.concatenate(polys), np.concatenate(districts)
    # Keep polygonal parts only (an intersection can leave slivers of lines along shared edges).
    polygon = np.array([_polygonal(g) for g in polygon], dtype=object)
    ok = shapely.area(polygon) > 1.0
    rect, polygon, district = rect[ok], polygon[ok], district[ok]

    centroids = shapely.centroid(polygon)
    px, py = shapely.get_x(centroids), shapely.get_y(centroids)
    full_area = (rect[:, 1] - rect[:, 0]) * (rect[:, 3] - rect[:, 2])
    river_d = shapely.distance(shapely.LineString(river.xy), centroids)
    lake_d = shapely.distance(lake["polygon"], centroids)
    u = px - grid.x0
    draw = rng.uniform(size=len(polygon))
    cls = np.full(len(polygon), "residential", dtype=object)
    cls[(np.hypot(px - zones.centre[0], py - zones.centre[1]) < 0.18 * L) & (draw < 0.85)] = "commercial"
    cls[(district == 1) & (u > 0.62 * L) & (river_d < 0.25 * L) & (draw < 0.85)] = "industrial"
    cls[(district == 1) & (u < 0.35 * L) & (river_d > 0.22 * L) & (draw < 0.9)] = "agriculture"
    cls[(draw > 0.96) | (lake_d < 0.04 * L)] = "park"
    # Scraps of blocks cut by the river, lake or hills are too small to build on: pocket parks.
    area = shapely.area(polygon)
    cls[(area < 0.3 * full_area) & (area < 2500.0)] = "park"
    return _Blocks(rect, district, polygon, cls, frames, streets)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


# Per block class: parcel width range along the street (m), building depth range, parcel row depth
# and the chance of an L-shaped building.
_PARCELS = {
    "residential": ((12.0, 20.0), (10.0, 20.0), 32.0, 0.3),
    "commercial": ((24.0, 40.0), (16.0, 30.0), 40.0, 0.25),
    "industrial": ((40.0, 70.0), (22.0, 45.0), 55.0, 0.15),
}


@dataclass
class _Footprints:
    polygon: np.ndarray  # shapely polygons, world coordinates
    block: np.ndarray  # index into _Blocks
    rect: np.ndarray  # (n, 4) a_lo, a_hi, b_lo, b_hi of the enclosing rectangle in the district frame
    is_rect: np.ndarray  # True for rectangles, False for L shapes


def _parcels(rng: np.random.Generator, blocks: _Blocks, scale: float) -> _Footprints:
    """Cut every buildable block into parcels and put one footprint on each (set back from the edges)."""
    polys, owners, rects, is_rect = [], [], [], []
    for k, (a_lo, a_hi, b_lo, b_hi) in enumerate(blocks.rect):
        kind = _PARCELS.get(blocks.cls[k])
        if kind is None:
            continue
        (w_lo, w_hi), (d_lo, d_hi), row_depth, p_l = kind
        # Rows of parcels row_depth deep; rows in the block's lower half front its lower street, the
        # others its upper street.
        n_rows = max(1, round((b_hi - b_lo) / (row_depth * max(scale, 0.75))))
        n_cols = max(1, int((a_hi - a_lo) // max(9.0, rng.uniform(w_lo, w_hi) * scale)))
        pw, pd = (a_hi - a_lo) / n_cols, (b_hi - b_lo) / n_rows
        for row in range(n_rows):
            low_front = row < n_rows / 2
            front_edge, sign = (b_lo + row * pd, 1.0) if low_front else (b_lo + (row + 1) * pd, -1.0)
            for col in range(n_cols):
                # Setbacks shrink with the parcel, as on a dense plot.
                tight = min(1.0, pw / 20.0, pd / 30.0)
                front, side, back = (
                    tight * rng.uniform(3.0, 6.0),
                    tight * rng.uniform(1.5, 3.0),
                    tight * rng.uniform(2.0, 4.0),
                )
                fw = pw - 2.0 * side
                fd = min(pd - front - back, rng.uniform(d_lo, d_hi))
                if fw < 6.0 or fd < 6.0:
                    continue
                a0 = a_lo + col * pw + side
                b_near = front_edge + sign * front
                b0, b1 = sorted((b_near, b_near + sign * fd))
                ring = [(a0, b0), (a0 + fw, b0), (a0 + fw, b1), (a0, b1)]
                rect = True
                if rng.uniform() < p_l:
                    # Cut a corner away at the back: an L.
                    ca, cb = fw * rng.uniform(0.35, 0.6), fd * rng.uniform(0.35, 0.6)
                    left = rng.uniform() < 0.5
                    ring = _l_shape(a0, b0, fw, fd, ca, cb, back_high=sign > 0, left=left)
                    rect = False
                polys.append(ring)
                owners.append(k)
                rects.append((a0, a0 + fw, b0, b1))
                is_rect.append(rect)
    owners_a = np.array(owners, dtype=np.int64)
    rect_a = np.array(rects, dtype=np.float64).reshape(-1, 4)
    world = np.empty(len(polys), dtype=object)
    for k, ring in enumerate(polys):
        ring = np.asarray(ring)
        wx, wy = to_world(blocks.frames[blocks.district[owners_a[k]]], ring[:, 0], ring[:, 1])
        world[k] = shapely.Polygon(np.round(np.c_[wx, wy], 3))
    return _Footprints(world, owners_a, rect_a, np.array(is_rect, dtype=bool))


def _l_shape(
    a0: float, b0: float, fw: float, fd: float, ca: float, cb: float, *, back_high: bool, left: bool
) -> list[tuple[float, float]]:
    """A rectangle with one back corner (``ca`` by ``cb``) cut away, as a counter-clockwise ring."""
    a1, b1 = a0 + fw, b0 + fd
    na = (a0, a0 + ca) if left else (a1 - ca, a1)
    nb = (b1 - cb, b1) if back_high else (b0, b0 + cb)
    shape = shapely.box(a0, b0, a1, b1).difference(shapely.box(na[0], nb[0], na[1], nb[1]))
    return shapely.get_coordinates(shapely.geometry.polygon.orient(shape, 1.0).exterior)[:-1].tolist()


# Building use by block class, and per use: (storey ranges, their weights, storey height range).
_USES = {
    "residential": (("residential", "public", "commercial"), (0.90, 0.07, 0.03)),
    "commercial": (("commercial", "residential", "public"), (0.85, 0.10, 0.05)),
    "industrial": (("industrial", "commercial"), (0.93, 0.07)),
}
_STOREYS = {
    "residential": (((2, 4), (5, 9), (10, 18), (20, 32)), (0.35, 0.45, 0.15, 0.05), (2.95, 3.15)),
    "commercial": (((3, 8), (10, 20), (22, 28)), (0.45, 0.35, 0.20), (3.3, 3.6)),
    "industrial": (((1, 3),), (1.0,), (3.6, 4.5)),
    "public": (((2, 6),), (1.0,), (3.4, 3.9)),
}
# The two IFC buildings: (use, storeys, storey height in m, name).
IFC_SPECS = (("commercial", 6, 3.6, "office"), ("public", 3, 3.9, "school"))


@dataclass
class Buildings:
    footprints: _Footprints
    ids: np.ndarray
    use: np.ndarray
    storeys: np.ndarray
    height: np.ndarray
    ifc: list[int]  # rows of the IFC buildings, in IFC_SPECS order
    placements: list[dict]  # their local origin (eastings, northings), x-axis angle, width and depth


def make_buildings(seed: int, grid: Grid, blocks: _Blocks, zones: _Zones, n_target: int) -> Buildings:
    """Footprints on the blocks' parcels, thinned to ``n_target``, with use, storeys and height."""
    scale, best, most = 1.0, None, 0
    for attempt in range(6):
        fp = _parcels(rng_for(seed, f"parcels-{attempt}"), blocks, scale)
        # Only parcels wholly on their block's buildable part: none in the river, lake or forest.
        ok = shapely.contains(blocks.polygon[fp.block], fp.polygon) if len(fp.block) else np.zeros(0, bool)
        count = int(ok.sum())
        most = max(most, count)
        if count >= n_target and (best is None or count < best[1].sum()):
            best = (fp, ok)
        if n_target <= count <= 1.6 * n_target or (count < n_target and scale <= 0.4):
            break
        # Parcel count goes inversely with parcel size: aim for a quarter more parcels than buildings
        # so that a few lots stay vacant, as in a real city.
        scale = float(np.clip(scale * max(count, 1) / (1.25 * n_target), 0.4, 8.0))
    if best is None:
        raise InputDataError(
            f"n_buildings={n_target} is more than the sample city's blocks hold at size_m={grid.size:g} "
            f"(at most about {most}); ask for fewer buildings or a larger size_m."
        )
    fp, ok = best
    fp = _Footprints(fp.polygon[ok], fp.block[ok], fp.rect[ok], fp.is_rect[ok])
    rng = rng_for(seed, "buildings")
    district = blocks.district[fp.block]
    ifc = _pick_ifc(fp, district, zones, blocks.cls[fp.block])
    others = np.setdiff1d(np.arange(len(fp.block)), ifc)
    keep = np.sort(np.r_[ifc, rng.choice(others, n_target - len(ifc), replace=False)])
    fp = _Footprints(fp.polygon[keep], fp.block[keep], fp.rect[keep], fp.is_rect[keep])
    district = district[keep]
    ifc_rows = [int(np.searchsorted(keep, i)) for i in ifc]

    n = len(keep)
    block_cls = blocks.cls[fp.block]
    use = np.empty(n, dtype=object)
    for cls, (uses, weights) in _USES.items():
        sel = block_cls == cls
        use[sel] = rng.choice(uses, size=int(sel.sum()), p=weights)
    storeys = np.zeros(n, dtype=np.int64)
    storey_h = np.zeros(n)
    for kind, (ranges, weights, (h_lo, h_hi)) in _STOREYS.items():
        sel = np.nonzero(use == kind)[0]
        band = rng.choice(len(ranges), size=len(sel), p=weights)
        lo = np.array([r[0] for r in ranges])[band]
        hi = np.array([r[1] for r in ranges])[band]
        storeys[sel] = rng.integers(lo, hi + 1)
        storey_h[sel] = rng.uniform(h_lo, h_hi, size=len(sel))
    placements = []
    for row, (kind, floors, floor_h, _) in zip(ifc_rows, IFC_SPECS):
        use[row], storeys[row], storey_h[row] = kind, floors, floor_h
        # The cadastre footprint is redrawn from the millimetre-rounded placement the IFC model gets,
        # so that the two agree to the millimetre.
        a0, a1, b0, b1 = fp.rect[row]
        frame = blocks.frames[district[row]]
        east, north = (round(float(v), 3) for v in to_world(frame, a0, b0))
        width, depth = round(float(a1 - a0), 3), round(float(b1 - b0), 3)
        wx, wy = to_world(
            (east, north, frame[2]), np.array([0.0, width, width, 0.0]), np.array([0.0, 0.0, depth, depth])
        )
        fp.polygon[row] = shapely.Polygon(np.round(np.c_[wx, wy], 3))
        placements.append({"eastings": east, "northings": north, "angle": frame[2], "width": width, "depth": depth})
    height = np.clip(np.round(storeys * storey_h, 1), 3.0, 100.0)
    ids = np.array([f"B{k:06d}" for k in range(1, n + 1)], dtype=object)
    return Buildings(fp, ids, use, storeys, height, ifc_rows, placements)


def _pick_ifc(fp: _Footprints, district: np.ndarray, zones: _Zones, block_cls: np.ndarray) -> list[int]:
    """Two plain rectangular footprints for the IFC models: an office near the centre, a school south."""
    size_a = fp.rect[:, 1] - fp.rect[:, 0]
    size_b = fp.rect[:, 3] - fp.rect[:, 2]
    good = fp.is_rect & (np.minimum(size_a, size_b) >= 10.0) & (np.maximum(size_a, size_b) <= 45.0)
    good &= np.isin(block_cls, ("residential", "commercial"))
    if fp.is_rect.sum() < 2:
        raise InputDataError(
            "The sample city has too few rectangular footprints for its two IFC buildings; "
            "use a larger size_m or the default n_buildings."
        )
    centres = shapely.centroid(fp.polygon)
    px, py = shapely.get_x(centres), shapely.get_y(centres)
    picks: list[int] = []
    for want, target in ((0, zones.centre), (1, None)):
        # Prefer a roomy footprint in the wanted district, then any rectangle there, then anywhere.
        for pool in (good & (district == want), fp.is_rect & (district == want), good, fp.is_rect):
            cand = np.setdiff1d(np.nonzero(pool)[0], picks)
            if len(cand):
                break
        if target is None:
            target = (float(np.median(px[cand])), float(np.median(py[cand])))
        picks.append(int(cand[np.argmin(np.hypot(px[cand] - target[0], py[cand] - target[1]))]))
    return picks


def make_landuse(zones: _Zones, blocks: _Blocks) -> list[tuple[shapely.Geometry, str]]:
    """Land-use polygons tiling the domain without overlaps; the streets are what the blocks leave."""
    pieces: list[tuple[shapely.Geometry, str]] = []

    def add(geom: shapely.Geometry, cls: str) -> None:
        for part in shapely.get_parts(geom):
            if part.geom_type == "Polygon" and part.area > 0.0:
                pieces.append((part, cls))
            elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
                add(part, cls)

    add(zones.water, "water")
    add(zones.forest, "forest")
    add(zones.green, "park")
    for geom, cls in zip(blocks.polygon, blocks.cls):
        add(geom, cls)
    add(zones.urban.difference(shapely.union_all(blocks.polygon)), "road")
    return pieces
