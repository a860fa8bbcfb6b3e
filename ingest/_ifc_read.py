"""Reading one IFC file completely, in a worker process: open, place, mesh, group by building.

Returns plain data (rows of dicts with shapely geometries) so that a worker need not import pandas or
geopandas; :mod:`ingest.ifc` turns it into GeoDataFrames.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyproj
import shapely

from ingest._ifc_georef import Frame, find_frame
from ingest._ifc_geom import mesh, select
from ingest._ifc_structure import ENVELOPE, ROOF, SPACE, Structure, psets_json
from twin.errors import GeoreferencingError, InputDataError

__all__ = ["read_file"]

# Footprints are simplified within this distance [m] (half the 1 cm the footprints are held to).
_SIMPLIFY_M = 0.005
# Holes smaller than this [m2] are gaps where walls and slabs do not quite meet, not courtyards.
_MIN_HOLE_M2 = 1.0
# Parts smaller than this [m2] are slivers of the union, not wings of a building.
_MIN_PART_M2 = 0.01
# A roof whose outline exceeds the footprint by more than this [m2] has an overhang worth recording.
_MIN_OVERHANG_M2 = 0.5


def read_file(path: str, options: dict[str, Any], threads: int) -> dict[str, Any]:
    """Read one file completely.

    Parameters
    ----------
    path
        The IFC file.
    options
        ``crs`` (WKT), ``origin``, ``rotation``, ``source_crs`` (WKT or None), ``kernel``, ``holes``, ``spaces``.
    threads
        Threads for the geometry iterator.

    Returns
    -------
    dict
        ``rows`` and ``spaces`` (lists of dicts with a shapely ``geometry`` in the target CRS),
        ``warnings``, ``georef``, ``kernel``, ``products``, ``seconds``.
    """
    import ifcopenshell.util.unit

    t0 = time.perf_counter()
    file = Path(path)
    crs = pyproj.CRS.from_wkt(options["crs"])
    f = _open(file)
    length = float(ifcopenshell.util.unit.calculate_unit_scale(f))
    try:
        frame, notes = find_frame(f, crs, origin=options["origin"], rotation=options["rotation"],
                                  source_crs=options["source_crs"])
    except GeoreferencingError as exc:
        raise GeoreferencingError(f"{file.name}: {exc}") from None
    _check_area_of_use(frame, crs, notes)
    to_crs = frame.transformer(crs)

    products = select(f, spaces=options["spaces"])
    if not any(not p.is_a("IfcSpace") for p in products):
        raise InputDataError(f"{file.name} has no building elements with 3D geometry (walls, slabs, roofs, "
                             "...), so there is no footprint to take from it. Export it with 3D body geometry.")
    meshing = mesh(f, products, kernel=options["kernel"], threads=threads)
    by_id = {p.id(): p for p in products}
    if meshing.failed:
        names = ", ".join(_describe(by_id[i]) for i in meshing.failed[:10])
        more = f" and {len(meshing.failed) - 10} more" if len(meshing.failed) > 10 else ""
        notes.append(f"{_plural(len(meshing.failed), 'element')} with geometry that no kernel could mesh "
                     f"left out: {names}{more}.")
    solids = [s for i, s in meshing.shapes.items() if not by_id[i].is_a("IfcSpace") and not s.plan.is_empty]
    if not solids:
        raise InputDataError(f"{file.name}: none of its {len(products)} elements with geometry could be meshed "
                             "into anything with a plan area; check it in an IFC viewer.")
    structure = Structure(f, length)
    try:
        rows, spaces = _assemble(f, file, structure, meshing, by_id, frame, to_crs, options["holes"], notes)
    except GeoreferencingError as exc:
        raise GeoreferencingError(f"{file.name}: {exc}") from None
    return {"rows": rows, "spaces": spaces, "warnings": notes, "georef": frame.georef, "kernel": meshing.kernel,
            "products": len(meshing.shapes), "seconds": time.perf_counter() - t0}


def _open(file: Path) -> Any:
    import ifcopenshell

    with file.open("rb") as fh:
        head = fh.read(64).lstrip()
        fh.seek(max(0, file.stat().st_size - 4096))
        tail = fh.read()
    if head.startswith(b"ISO-10303-21"):
        if b"END-ISO-10303-21" not in tail:
            raise InputDataError(f"{file.name} is truncated: its STEP text does not end with END-ISO-10303-21 "
                                 "(an interrupted export or download). Export or copy it again.")
    ifcopenshell.get_log()  # drop messages left from an earlier file
    try:
        f = ifcopenshell.open(str(file))
    except ifcopenshell.SchemaError as exc:
        raise InputDataError(f"{file.name}: {exc}. ifcopenshell {ifcopenshell.version} reads IFC2X3, IFC4 and "
                             "IFC4X3_ADD2; export the model in one of those.") from None
    except Exception as exc:  # noqa: BLE001 - the parser raises several types
        raise InputDataError(f"{file.name} is not a readable IFC file ({exc}). Is it complete IFC-SPF "
                             "(STEP) text?") from None
    errors = [line for line in ifcopenshell.get_log().splitlines() if line.startswith("[error]")]
    if errors:
        raise InputDataError(f"{file.name} has corrupt STEP text ({len(errors)} parse errors; first: "
                             f"{errors[0]}); entities were lost, so its buildings would be incomplete. "
                             "Export it again or repair it.")
    return f


def _check_area_of_use(frame: Frame, crs: pyproj.CRS, notes: list[str]) -> None:
    area = crs.area_of_use
    if area is None:
        return
    lon, lat = frame.lonlat()
    margin = 1.0  # degrees: projections stay usable a little beyond their official area
    if not (area.west - margin <= lon <= area.east + margin and area.south - margin <= lat <= area.north + margin):
        notes.append(f"its georeferencing ({frame.georef.method}) puts it at longitude {lon:.4f}, latitude "
                     f"{lat:.4f}, outside the area of use of {crs.to_string()} ({area.name}); the placement "
                     "is probably wrong for this twin. Check it, or give origin=(E, N[, H]).")


def _assemble(f: Any, file: Path, structure: Structure, meshing: Any, by_id: dict[int, Any], frame: Frame,
              to_crs: Callable, holes: bool, notes: list[str]) -> tuple[list[dict], list[dict]]:
    """Group the meshed elements by building and build the rows of both tables."""
    groups: dict[int, list[int]] = {}
    owners: dict[int, Any] = {}
    for i in meshing.shapes:
        owner = structure.building_of(by_id[i])
        key = -1 if owner is None else owner.id()
        owners[key] = owner
        groups.setdefault(key, []).append(i)
    real = [k for k, o in owners.items() if o is not None and o.is_a("IfcBuilding")
            and any(not by_id[i].is_a("IfcSpace") for i in groups[k])]
    keys = real or [k for k in groups if any(not by_id[i].is_a("IfcSpace") for i in groups[k])]
    left = sum(len(groups[k]) for k in groups if k not in keys)
    if left:
        example = _describe(by_id[next(groups[k][0] for k in groups if k not in keys)])
        notes.append(f"{_plural(left, 'element')} outside any IfcBuilding (e.g. {example}) left out.")
    if not real:
        notes.append("the file has no IfcBuilding with geometry; its elements were taken as one building per "
                     "site (or one for the whole file).")
    all_elements: dict[int, list[Any]] = {}
    for e in f.by_type("IfcElement"):
        owner = structure.building_of(e)
        all_elements.setdefault(-1 if owner is None else owner.id(), []).append(e)

    rows, spaces = [], []
    for key in keys:
        owner = owners[key]
        ids = groups[key]
        shapes = {i: meshing.shapes[i] for i in ids}
        roles = {i: structure.role(by_id[i]) for i in ids}
        solid = [i for i in ids if roles[i] != SPACE]
        envelope = [shapes[i].plan for i in solid if roles[i] == ENVELOPE]
        label = _describe(owner) if owner is not None else file.name
        if envelope:
            footprint, source = _enclosed(shapely.union_all(envelope), [shapes[i].plan for i in solid]), \
                "walls, slabs, columns"
        else:
            footprint, source = shapely.union_all([shapes[i].plan for i in solid]), "all elements"
            notes.append(f"{label} has no walls, slabs or columns; its footprint is the outline of its "
                         f"{_plural(len(solid), 'element')}.")
        footprint = _clean(footprint, holes)
        roof = [shapes[i].plan for i in solid if roles[i] == ROOF]
        outline = ""
        if roof:
            full = _clean(shapely.union_all([footprint, *roof]), holes)
            if shapely.area(shapely.difference(full, footprint)) > _MIN_OVERHANG_M2:
                outline = shapely.to_wkt(shapely.transform(full, to_crs), rounding_precision=3)
        storeys = structure.storeys(owner) if owner is not None else []
        elevations = [float(frame.height_of(structure.elevation(s))) for s in storeys]
        top = float(frame.height_of(max(shapes[i].zmax for i in solid)))
        base = min(elevations) if elevations else float(frame.height_of(min(shapes[i].zmin for i in solid)))
        guid = owner.GlobalId if owner is not None else ""
        rows.append({
            "id": f"IFC-{guid}" if guid else f"IFC-{file.stem}",
            "ifc_guid": guid,
            "name": (owner.Name or owner.LongName or "") if owner is not None else file.stem,
            "file": file.name,
            "source": "ifc",
            "base": round(base, 4),
            "height": round(max(0.0, top - base), 4),
            "storeys": len(storeys),
            "storey_elevations": json.dumps([round(z, 4) for z in elevations]),
            "roof_outline": outline,
            "element_counts": structure.element_counts(owner, all_elements.get(key, [])),
            "psets": psets_json(owner) if owner is not None else "{}",
            "georef_method": frame.georef.method,
            "georef_approximate": bool(frame.georef.approximate),
            "footprint_from": source,
            "geometry": shapely.transform(footprint, to_crs),
        })
        for i in ids:
            if roles[i] != SPACE or shapes[i].plan.is_empty:
                continue
            space = by_id[i]
            storey = structure.storey_of(space)
            plan = shapely.transform(_clean(shapes[i].plan, True), to_crs)
            z0 = float(frame.height_of(shapes[i].zmin))
            spaces.append({
                "ifc_guid": space.GlobalId, "name": space.Name or "", "long_name": space.LongName or "",
                "area": round(float(plan.area), 4), "building_guid": guid,
                "storey": (storey.Name or "") if storey is not None else "",
                "base": round(z0, 4), "height": round(float(frame.height_of(shapes[i].zmax)) - z0, 4),
                "file": file.name, "geometry": plan,
            })
    _unique_ids(rows, file)
    return rows, spaces


def _enclosed(envelope: shapely.Geometry, plans: list[shapely.Geometry]) -> shapely.Geometry:
    """Fill the envelope's holes where anything (a roof, an upper floor) covers them.

    Walls without a ground slab enclose the interior as a hole; a courtyard is a hole that nothing
    above covers, and only that is kept.
    """
    shells = shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(envelope)
                                if p.geom_type == "Polygon"])
    inside = shapely.difference(shells, envelope)
    if inside.is_empty:
        return envelope
    return shapely.union_all([envelope, shapely.intersection(inside, shapely.union_all(plans))])


def _clean(geom: shapely.Geometry, holes: bool, tolerance: float = _SIMPLIFY_M) -> shapely.Geometry:
    """Drop slivers and small (or all) holes, then simplify within ``tolerance`` [m]."""
    parts = []
    for poly in shapely.get_parts(shapely.make_valid(geom)):
        if poly.geom_type != "Polygon" or poly.area < _MIN_PART_M2:
            continue
        rings = [r for r in poly.interiors if holes and shapely.Polygon(r).area >= _MIN_HOLE_M2]
        parts.append(shapely.Polygon(poly.exterior, rings))
    if not parts:
        return shapely.Polygon()
    merged = shapely.union_all(parts)
    return shapely.simplify(merged, tolerance, preserve_topology=True) if tolerance > 0 else merged


def _unique_ids(rows: list[dict], file: Path) -> None:
    seen: dict[str, int] = {}
    for row in rows:
        n = seen.get(row["id"], 0)
        seen[row["id"]] = n + 1
        if n:
            row["id"] = f"{row['id']}-{n}"


def _describe(entity: Any) -> str:
    name = getattr(entity, "Name", None)
    return f"{entity.is_a()} #{entity.id()}" + (f" {name!r}" if name else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
