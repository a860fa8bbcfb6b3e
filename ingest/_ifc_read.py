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

import numpy as np
import pyproj
import shapely

from ingest._ifc_geom import mesh, select
from ingest._ifc_georef import Frame, find_frame
from ingest._ifc_mesh import building_mesh
from ingest._ifc_outline import MAX_SPAN_M, SMALL_FRACTION, closed_outline, frame_outline, outliers
from ingest._ifc_structure import COLUMN, ENVELOPE, FRAME, OTHER, ROOF, SPACE, Structure, psets_json
from ingest.errors import GeoreferencingError, InputDataError

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
        ``meshes`` (per row, its envelope's mesh as :meth:`ingest._ifc_mesh.BuildingMesh.to_dict`), ``warnings``, ``georef``, ``kernel``, ``products``, ``seconds``.
    """
    import ifcopenshell.util.unit

    t0 = time.perf_counter()
    file = Path(path)
    crs = pyproj.CRS.from_wkt(options["crs"])
    f = _open(file)
    length = float(ifcopenshell.util.unit.calculate_unit_scale(f))
    try:
        frame, notes = find_frame(
            f, crs, origin=options["origin"], rotation=options["rotation"], source_crs=options["source_crs"]
        )
    except GeoreferencingError as exc:
        raise GeoreferencingError(f"{file.name}: {exc}") from None
    _check_area_of_use(frame, crs, notes)
    to_crs = frame.transformer(crs)

    products = select(f, spaces=options["spaces"])
    if not any(not p.is_a("IfcSpace") for p in products):
        raise InputDataError(
            f"{file.name} has no building elements with 3D geometry (walls, slabs, roofs, "
            "...), so there is no footprint to take from it. Export it with 3D body geometry."
        )
    meshing = mesh(f, products, kernel=options["kernel"], threads=threads)
    by_id = {p.id(): p for p in products}
    if meshing.failed:
        names = ", ".join(_describe(by_id[i]) for i in meshing.failed[:10])
        more = f" and {len(meshing.failed) - 10} more" if len(meshing.failed) > 10 else ""
        notes.append(
            f"{_plural(len(meshing.failed), 'element')} with geometry that no kernel could mesh "
            f"left out: {names}{more}."
        )
    solids = [s for i, s in meshing.shapes.items() if not by_id[i].is_a("IfcSpace") and not s.plan.is_empty]
    if not solids:
        raise InputDataError(
            f"{file.name}: none of its {len(products)} elements with geometry could be meshed "
            "into anything with a plan area; check it in an IFC viewer."
        )
    structure = Structure(f, length)
    try:
        rows, spaces, meshes = _assemble(f, file, structure, meshing, by_id, frame, to_crs, options["holes"], notes)
    except GeoreferencingError as exc:
        raise GeoreferencingError(f"{file.name}: {exc}") from None
    return {
        "rows": rows,
        "spaces": spaces,
        "meshes": meshes,
        "warnings": notes,
        "georef": frame.georef,
        "kernel": meshing.kernel,
        "products": len(meshing.shapes),
        "seconds": time.perf_counter() - t0,
    }


def _open(file: Path) -> Any:
    import ifcopenshell

    with file.open("rb") as fh:
        head = fh.read(64).lstrip()
        fh.seek(max(0, file.stat().st_size - 4096))
        tail = fh.read()
    if head.startswith(b"ISO-10303-21") and b"END-ISO-10303-21" not in tail:
        raise InputDataError(
            f"{file.name} is truncated: its STEP text does not end with END-ISO-10303-21 "
            "(an interrupted export or download). Export or copy it again."
        )
    ifcopenshell.get_log()  # drop messages left from an earlier file
    try:
        f = ifcopenshell.open(str(file))
    except ifcopenshell.SchemaError as exc:
        raise InputDataError(
            f"{file.name}: {exc}. ifcopenshell {ifcopenshell.version} reads IFC2X3, IFC4 and "
            "IFC4X3_ADD2; export the model in one of those."
        ) from None
    except Exception as exc:  # noqa: BLE001 - the parser raises several types
        raise InputDataError(
            f"{file.name} is not a readable IFC file ({exc}). Is it complete IFC-SPF (STEP) text?"
        ) from None
    errors = [line for line in ifcopenshell.get_log().splitlines() if line.startswith("[error]")]
    if errors:
        raise InputDataError(
            f"{file.name} has corrupt STEP text ({len(errors)} parse errors; first: "
            f"{errors[0]}); entities were lost, so its buildings would be incomplete. "
            "Export it again or repair it."
        )
    return f


def _check_area_of_use(frame: Frame, crs: pyproj.CRS, notes: list[str]) -> None:
    area = crs.area_of_use
    if area is None:
        return
    lon, lat = frame.lonlat()
    margin = 1.0  # degrees: projections stay usable a little beyond their official area
    if not (area.west - margin <= lon <= area.east + margin and area.south - margin <= lat <= area.north + margin):
        notes.append(
            f"its georeferencing ({frame.georef.method}) puts it at longitude {lon:.4f}, latitude "
            f"{lat:.4f}, outside the area of use of {crs.to_string()} ({area.name}); the placement "
            "is probably wrong for this twin. Check it, or give origin=(E, N[, H])."
        )


def _assemble(
    f: Any,
    file: Path,
    structure: Structure,
    meshing: Any,
    by_id: dict[int, Any],
    frame: Frame,
    to_crs: Callable,
    holes: bool,
    notes: list[str],
) -> tuple[list[dict], list[dict], list[dict]]:
    """Group the meshed elements by building and build the rows of both tables, and each row's mesh."""
    groups: dict[int, list[int]] = {}
    owners: dict[int, Any] = {}
    for i in meshing.shapes:
        owner = structure.building_of(by_id[i])
        key = -1 if owner is None else owner.id()
        owners[key] = owner
        groups.setdefault(key, []).append(i)
    real = [
        k
        for k, o in owners.items()
        if o is not None and o.is_a("IfcBuilding") and any(not by_id[i].is_a("IfcSpace") for i in groups[k])
    ]
    keys = real or [k for k in groups if any(not by_id[i].is_a("IfcSpace") for i in groups[k])]
    left = sum(len(groups[k]) for k in groups if k not in keys)
    if left:
        example = _describe(by_id[next(groups[k][0] for k in groups if k not in keys)])
        notes.append(f"{_plural(left, 'element')} outside any IfcBuilding (e.g. {example}) left out.")
    if not real:
        notes.append(
            "the file has no IfcBuilding with geometry; its elements were taken as one building per "
            "site (or one for the whole file)."
        )
    all_elements: dict[int, list[Any]] = {}
    for e in f.by_type("IfcElement"):
        owner = structure.building_of(e)
        all_elements.setdefault(-1 if owner is None else owner.id(), []).append(e)

    rows, spaces, meshes = [], [], []
    for key in keys:
        owner = owners[key]
        label = _describe(owner) if owner is not None else file.name
        ids = _drop_strays(groups[key], meshing.shapes, by_id, label, notes)
        shapes = {i: meshing.shapes[i] for i in ids}
        roles = {i: structure.role(by_id[i]) for i in ids}
        solid = [i for i in ids if roles[i] != SPACE]
        footprint, source = _footprint(shapes, roles, solid, label, holes, notes)
        roof = [shapes[i].plan for i in solid if roles[i] == ROOF]
        outline = ""
        if roof:
            full = _clean(shapely.union_all([footprint, *roof]), holes)
            if shapely.area(shapely.difference(full, footprint)) > _MIN_OVERHANG_M2:
                outline = shapely.to_wkt(shapely.transform(full, to_crs), rounding_precision=3)
        storeys = structure.occupied_storeys(owner, all_elements.get(key, [])) if owner is not None else []
        elevations = [float(frame.height_of(structure.elevation(s))) for s in storeys]
        base = min(elevations) if elevations else float(frame.height_of(min(shapes[i].zmin for i in solid)))
        top = float(frame.height_of(_top(shapes, roles, solid, [structure.elevation(s) for s in storeys])))
        tallest = max(solid, key=lambda i: shapes[i].zmax)
        guid = owner.GlobalId if owner is not None else ""
        rows.append(
            {
                "id": f"IFC-{guid}" if guid else f"IFC-{file.stem}",
                "ifc_guid": guid,
                "name": (owner.Name or owner.LongName or "") if owner is not None else file.stem,
                "file": file.name,
                "source": "ifc",
                "base": round(base, 4),
                "height": round(max(0.0, top - base), 4),
                "max_height": round(max(0.0, float(frame.height_of(shapes[tallest].zmax)) - base), 4),
                "tallest_element": _describe(by_id[tallest]),
                "storeys": len(storeys),
                "storey_elevations": json.dumps([round(z, 4) for z in elevations]),
                "roof_outline": outline,
                "element_counts": structure.element_counts(owner, all_elements.get(key, [])),
                "psets": psets_json(owner) if owner is not None else "{}",
                "georef_method": frame.georef.method,
                "georef_approximate": bool(frame.georef.approximate),
                "footprint_from": source,
                "geometry": shapely.transform(footprint, to_crs),
            }
        )
        meshes.append(building_mesh(shapes, solid, roles, by_id, to_crs, frame.height_of).to_dict())
        for i in ids:
            if roles[i] != SPACE or shapes[i].plan.is_empty:
                continue
            space = by_id[i]
            storey = structure.storey_of(space)
            plan = shapely.transform(_clean(shapes[i].plan, True), to_crs)
            z0 = float(frame.height_of(shapes[i].zmin))
            spaces.append(
                {
                    "ifc_guid": space.GlobalId,
                    "name": space.Name or "",
                    "long_name": space.LongName or "",
                    "area": round(float(plan.area), 4),
                    "building_guid": guid,
                    "building_id": len(rows) - 1,
                    "storey": (storey.Name or "") if storey is not None else "",
                    "base": round(z0, 4),
                    "height": round(float(frame.height_of(shapes[i].zmax)) - z0, 4),
                    "file": file.name,
                    "geometry": plan,
                }
            )
    _unique_ids(rows, file)
    for space in spaces:
        space["building_id"] = rows[space["building_id"]]["id"]
    return rows, spaces, meshes


def _drop_strays(
    ids: list[int], shapes: dict[int, Any], by_id: dict[int, Any], label: str, notes: list[str]
) -> list[int]:
    """The building's elements less those far outside its main cluster (named in a warning)."""
    plans = shapely.bounds([shapes[i].plan for i in ids])
    bounds = np.column_stack([plans[:, :2], [shapes[i].zmin for i in ids], plans[:, 2:], [shapes[i].zmax for i in ids]])
    far = outliers(bounds)
    if not far.any():
        return ids
    span = float(np.nanmax(bounds[:, 3:5]) - np.nanmin(bounds[:, :2]))
    kept = [i for i, f in zip(ids, far) if not f]
    if len(kept) < len(ids) / 2 or not any(not by_id[i].is_a("IfcSpace") for i in kept):
        raise InputDataError(
            f"{label}: its elements spread over {span / 1000:.3g} km with no main cluster, and no building is "
            f"wider than {MAX_SPAN_M / 1000:g} km. Check the model's length unit and where its elements are "
            "placed, in an IFC viewer."
        )
    gone = [by_id[i] for i, f in zip(ids, far) if f]
    names = ", ".join(f"{e.is_a()} {e.GlobalId}" for e in gone[:10])
    more = f" and {len(gone) - 10} more" if len(gone) > 10 else ""
    notes.append(
        f"stray elements: {label} has {_plural(len(gone), 'element')} more than "
        f"{MAX_SPAN_M / 2000:g} km from the rest of it (the model spans {span / 1000:.3g} km), left out of "
        f"its footprint and height: {names}{more}. Check where they are placed in an IFC viewer."
    )
    return kept


_KIND_NAMES = {ENVELOPE: "walls and floors", COLUMN: "columns", SPACE: "spaces"}


def _footprint(
    shapes: dict[int, Any], roles: dict[int, str], solid: list[int], label: str, holes: bool, notes: list[str]
) -> tuple[shapely.Geometry, str]:
    """The footprint by the rule of :mod:`ingest._ifc_outline`, what it was taken from, and its checks."""
    plans = {role: [shapes[i].plan for i in shapes if roles[i] == role] for role in (ENVELOPE, COLUMN, FRAME, SPACE)}
    covers = [shapes[i].plan for i in solid if roles[i] in (FRAME, ROOF, OTHER)]
    if plans[ENVELOPE] or plans[SPACE]:
        footprint = closed_outline([*plans[ENVELOPE], *plans[COLUMN]], plans[SPACE], covers)
        source = "outline of " + ", ".join(_KIND_NAMES[r] for r in (ENVELOPE, COLUMN, SPACE) if plans[r])
    elif plans[COLUMN] or plans[FRAME]:
        bare = [*plans[COLUMN], *plans[FRAME]]
        footprint, source = frame_outline(bare, [shapes[i].plan for i in solid if roles[i] == ROOF])
        notes.append(
            f"bare frame: {label} has no walls, floors or spaces, only "
            f"{_plural(len(bare), 'column, beam, plate or member')}; its footprint is the "
            f"{source}, {footprint.area:.0f} m2 (approximate)."
        )
    else:
        footprint, source = shapely.union_all([shapes[i].plan for i in solid]), "all elements"
        notes.append(
            f"{label} has no walls, floors, frame or spaces; its footprint is the outline of its "
            f"{_plural(len(solid), 'element')}."
        )
    footprint = _clean(footprint, holes)
    hull = shapely.convex_hull(shapely.union_all([*plans[ENVELOPE], *plans[COLUMN], *plans[SPACE]]))
    if footprint.area < SMALL_FRACTION * hull.area:
        notes.append(
            f"small footprint: {label}'s footprint covers {footprint.area:.0f} m2, less than "
            f"{SMALL_FRACTION:.0%} of the {hull.area:.0f} m2 convex hull of its walls, floors, columns and "
            f"spaces (spaces: {shapely.union_all(plans[SPACE]).area:.0f} m2). Parts of its outline may "
            "be missing from the export; check it in an IFC viewer."
        )
    return footprint, source


def _top(shapes: dict[int, Any], roles: dict[int, str], solid: list[int], levels: list[float]) -> float:
    """The building's top in the model's z: its roof, or the top of its walls, floors and frame.

    A roof lower than the highest storey's level (a canopy) does not lower the building; a chimney or a
    parapet above the roof does not raise it (the tallest element is reported apart).
    """
    roofs = [shapes[i].zmax for i in solid if roles[i] == ROOF]
    if roofs:
        return max([max(roofs), *levels])
    body = [shapes[i].zmax for i in solid if roles[i] in (ENVELOPE, COLUMN, FRAME)]
    return max(body or [shapes[i].zmax for i in solid])


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
