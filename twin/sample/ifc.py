"""The sample city's IFC4 buildings: georeferenced, reproducible files (timestamps and GUIDs from the seed)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.context
import ifcopenshell.api.geometry
import ifcopenshell.api.georeference
import ifcopenshell.api.project
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit
import ifcopenshell.guid
import numpy as np
import shapely
import shapely.geometry
import shapely.ops

from ingest.vector import zonal_stat
from twin._io import atomic_dir, write_json
from twin.sample.buildings import IFC_SPECS, Buildings
from twin.sample.grid import CRS, EPOCH, EPOCH_ISO, Grid


def write_ifc_folder(folder: Path, seed: int, grid: Grid, z: np.ndarray, buildings: Buildings) -> tuple[Path, ...]:
    """Author the IFC buildings on their cadastre footprints and record where they were placed."""
    records, names = [], []
    with atomic_dir(folder, "sample-ifc") as tmp:
        for row, place, (_, floors, floor_h, label) in zip(buildings.ifc, buildings.placements, IFC_SPECS):
            east, north, width, depth = place["eastings"], place["northings"], place["width"], place["depth"]
            # The ground the model stands on: the lowest DEM cell under its footprint, which is also
            # the base an ingest gives the cadastre footprint.
            ground = round(float(zonal_stat([buildings.footprints.polygon[row]], z, grid.transform)[0]), 2)
            bid = str(buildings.ids[row])
            name = f"{bid}-{label}.ifc"
            _ifc_building(
                tmp / name,
                seed=seed,
                building_id=bid,
                label=label,
                width=width,
                depth=depth,
                storeys=floors,
                storey_height=floor_h,
                eastings=east,
                northings=north,
                height=ground,
                angle=place["angle"],
            )
            names.append(name)
            records.append(
                {
                    "file": name,
                    "building_id": bid,
                    "eastings": east,
                    "northings": north,
                    "height": ground,
                    "rotation_deg": math.degrees(place["angle"]),
                    "width": width,
                    "depth": depth,
                    "storeys": floors,
                    "storey_height": floor_h,
                    "total_height": round(floors * floor_h, 3),
                    "footprint": np.round(shapely.get_coordinates(buildings.footprints.polygon[row].exterior)[:-1], 3),
                }
            )
        write_json(
            tmp / "placements.json",
            {
                "crs": CRS,
                "note": (
                    "Each IFC model's local origin is the footprint corner at (eastings, northings); its "
                    "local x axis points rotation_deg counter-clockwise from grid east; the building "
                    "spans [0, width] x [0, depth] in local x and y; height (the IfcMapConversion "
                    "OrthogonalHeight) is the lowest DEM cell under the footprint, to the centimetre."
                ),
                "buildings": records,
            },
        )
    return tuple(folder / name for name in names)


def _ifc_building(
    path: Path,
    *,
    seed: int,
    building_id: str,
    label: str,
    width: float,
    depth: float,
    storeys: int,
    storey_height: float,
    eastings: float,
    northings: float,
    height: float,
    angle: float,
) -> None:
    """An IFC4 box building: storeys with floor slabs and four walls each, a roof slab, georeferenced."""
    api = ifcopenshell.api
    f = api.project.create_file(version="IFC4")
    project = api.root.create_entity(f, ifc_class="IfcProject", name=f"cimtwin sample city: {label} {building_id}")
    # Units are assigned by hand: unit.assign_unit collects them through a set, whose order (and so the
    # file's bytes) would change from run to run.
    units = [api.unit.add_si_unit(f, unit_type=t) for t in ("LENGTHUNIT", "AREAUNIT", "VOLUMEUNIT", "PLANEANGLEUNIT")]
    project.UnitsInContext = f.createIfcUnitAssignment(units)
    model = api.context.add_context(f, context_type="Model")
    body = api.context.add_context(
        f, context_type="Model", context_identifier="Body", target_view="MODEL_VIEW", parent=model
    )
    site = api.root.create_entity(f, ifc_class="IfcSite", name="Sample city site")
    building = api.root.create_entity(f, ifc_class="IfcBuilding", name=building_id)
    building.LongName = f"Sample {label}"
    api.aggregate.assign_object(f, products=[site], relating_object=project)
    api.aggregate.assign_object(f, products=[building], relating_object=site)
    api.geometry.edit_object_placement(f, product=site, matrix=np.eye(4))
    api.geometry.edit_object_placement(f, product=building, matrix=np.eye(4))

    wall_t, slab_t = 0.25, 0.2
    outline = [(0.0, 0.0), (width, 0.0), (width, depth), (0.0, depth), (0.0, 0.0)]
    # Walls run counter-clockwise round the footprint; each profile lies left of its run, i.e. inside.
    runs = [
        ((0.0, 0.0), 0.0, width),
        ((width, 0.0), 90.0, depth),
        ((width, depth), 180.0, width),
        ((0.0, depth), 270.0, depth),
    ]
    for k in range(storeys):
        elevation = round(k * storey_height, 6)
        storey = api.root.create_entity(f, ifc_class="IfcBuildingStorey", name=f"Level {k}")
        storey.Elevation = elevation
        api.aggregate.assign_object(f, products=[storey], relating_object=building)
        api.geometry.edit_object_placement(f, product=storey, matrix=_placement(0.0, 0.0, elevation, 0.0))
        parts = []
        slab = api.root.create_entity(f, ifc_class="IfcSlab", predefined_type="FLOOR", name=f"Floor {k}")
        api.spatial.assign_container(f, products=[slab], relating_structure=storey)
        api.geometry.assign_representation(
            f,
            product=slab,
            representation=api.geometry.add_slab_representation(f, context=body, depth=slab_t, polyline=outline),
        )
        parts.append((slab, _placement(0.0, 0.0, elevation, 0.0)))
        for j, ((x, y), turn, length) in enumerate(runs):
            wall = api.root.create_entity(f, ifc_class="IfcWall", predefined_type="SOLIDWALL", name=f"Wall {k}.{j}")
            api.spatial.assign_container(f, products=[wall], relating_structure=storey)
            api.geometry.assign_representation(
                f,
                product=wall,
                representation=api.geometry.add_wall_representation(
                    f, context=body, length=length, height=storey_height, thickness=wall_t
                ),
            )
            parts.append((wall, _placement(x, y, elevation, turn)))
        if k == storeys - 1:
            roof = api.root.create_entity(f, ifc_class="IfcSlab", predefined_type="ROOF", name="Roof")
            api.spatial.assign_container(f, products=[roof], relating_structure=storey)
            api.geometry.assign_representation(
                f,
                product=roof,
                representation=api.geometry.add_slab_representation(f, context=body, depth=slab_t, polyline=outline),
            )
            parts.append((roof, _placement(0.0, 0.0, storeys * storey_height - slab_t, 0.0)))
        for product, matrix in parts:
            api.geometry.edit_object_placement(f, product=product, matrix=matrix)

    api.georeference.add_georeferencing(f, ifc_class="IfcMapConversion", name=CRS)
    api.georeference.edit_georeferencing(
        f,
        projected_crs={
            "Name": CRS,
            "Description": "CGCS2000 / 3-degree Gauss-Kruger CM 114E",
            "GeodeticDatum": "CGCS2000",
            "MapProjection": "Gauss-Kruger",
            "MapZone": "CM 114E",
            "MapUnit": units[0],
        },
        coordinate_operation={
            "Eastings": eastings,
            "Northings": northings,
            "OrthogonalHeight": height,
            "XAxisAbscissa": math.cos(angle),
            "XAxisOrdinate": math.sin(angle),
            "Scale": 1.0,
        },
    )
    _freeze(f, seed=seed, key=building_id, name=path.name)
    f.write(str(path))


def _placement(x: float, y: float, z: float, turn_deg: float) -> np.ndarray:
    """A 4x4 placement: a turn about the vertical, then a shift."""
    c, s = math.cos(math.radians(turn_deg)), math.sin(math.radians(turn_deg))
    m = np.eye(4)
    m[:2, :2] = np.round([[c, -s], [s, c]], 12)
    m[:3, 3] = (x, y, z)
    return m


def _freeze(f, *, seed: int, key: str, name: str) -> None:
    """Make an IFC file depend on the seed alone: GlobalIds, owner history, header and list order."""
    # One owner history with a fixed date for every rooted entity (the API would stamp "now").
    person = f.createIfcPerson(Identification="cimtwin", FamilyName="Sample", GivenName="City")
    org = f.createIfcOrganization(Identification="cimtwin", Name="cimtwin")
    user = f.createIfcPersonAndOrganization(person, org)
    app = f.createIfcApplication(org, "0.1", "cimtwin sample city generator", "cimtwin.sample")
    history = f.createIfcOwnerHistory(
        OwningUser=user, OwningApplication=app, State="READWRITE", ChangeAction="NOCHANGE", CreationDate=EPOCH
    )
    for stale in f.by_type("IfcOwnerHistory"):
        if stale != history:
            for inverse in f.get_inverse(stale):
                inverse.OwnerHistory = history
            f.remove(stale)
    for k, entity in enumerate(sorted(f.by_type("IfcRoot"), key=lambda e: e.id())):
        digest = hashlib.sha256(f"cimtwin-sample:{seed}:{key}:{k}".encode()).hexdigest()[:32]
        entity.GlobalId = ifcopenshell.guid.compress(digest)
        entity.OwnerHistory = history
    # The API fills relationship lists from Python sets; order them by entity id.
    for rel in f.by_type("IfcRelAggregates"):
        rel.RelatedObjects = sorted(rel.RelatedObjects, key=lambda e: e.id())
    for rel in f.by_type("IfcRelContainedInSpatialStructure"):
        rel.RelatedElements = sorted(rel.RelatedElements, key=lambda e: e.id())
    f.header.file_name.name = name
    f.header.file_name.time_stamp = EPOCH_ISO
    f.header.file_name.author = ("cimtwin",)
    f.header.file_name.organization = ("cimtwin",)
    f.header.file_name.authorization = "none"
