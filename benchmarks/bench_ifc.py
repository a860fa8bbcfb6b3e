"""BIM ingest speed: read_ifc end to end against the bare ifcopenshell iterator.

The reference is what a straightforward reader does: ifcopenshell's geometry iterator over every
product with the default (OpenCASCADE) kernel and default settings (openings subtracted, spaces and
openings meshed), single-threaded. Our time is ``read_ifc`` end to end with the cache off and the
worker pool warm: opening, georeferencing, meshing, footprints, spaces and the GeoDataFrames.

Footprints are checked against those of the reference's own meshes (same element roles and hole
rules, no simplification): the Hausdorff distance must stay under 1 cm.

Files: the shared real models (``../shared/data/ifc``), the sample city's two IFC buildings, and a
synthetic 24-storey tower with windows in its walls (about 1,000 products, openings to subtract) that
stands in for a real office model.

Run::

    .venv/bin/python benchmarks/bench_ifc.py [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyproj
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest._ifc_geom import plan_polygon  # noqa: E402
from ingest._ifc_georef import find_frame  # noqa: E402
from ingest._ifc_read import _clean, _enclosed  # noqa: E402
from ingest._ifc_structure import ENVELOPE, SPACE, Structure  # noqa: E402
from ingest.ifc import read_ifc  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "ifc"
TOLERANCE_M = 0.01


def reference(path: Path, crs: str, origin: tuple | None) -> dict:
    """Time the bare iterator on all products, then (untimed) footprints from its meshes."""
    import ifcopenshell
    import ifcopenshell.geom
    import ifcopenshell.util.unit

    t0 = time.perf_counter()
    f = ifcopenshell.open(str(path))
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    it = ifcopenshell.geom.iterator(settings, f, 1)
    meshes = {}
    if it.initialize():
        while True:
            shape = it.get()
            g = shape.geometry
            meshes[shape.id] = (
                np.frombuffer(g.verts_buffer, np.float64).reshape(-1, 3),
                np.frombuffer(g.faces_buffer, np.int32).reshape(-1, 3),
            )
            if not it.next():
                break
    seconds = time.perf_counter() - t0

    target = pyproj.CRS(crs)
    frame, _ = find_frame(f, target, origin=origin)
    to_crs = frame.transformer(target)
    structure = Structure(f, float(ifcopenshell.util.unit.calculate_unit_scale(f)))
    groups: dict[str, dict[str, list]] = {}
    for pid, (v, fa) in meshes.items():
        e = f.by_id(pid)
        if not e.is_a("IfcElement") or e.is_a("IfcFeatureElement"):
            continue
        owner = structure.building_of(e)
        guid = owner.GlobalId if owner is not None else ""
        role = structure.role(e)
        if role != SPACE:
            entry = groups.setdefault(guid, {"envelope": [], "all": []})
            plan = plan_polygon(v, fa)
            entry["all"].append(plan)
            if role == ENVELOPE:
                entry["envelope"].append(plan)
    footprints = {}
    for guid, entry in groups.items():
        if entry["envelope"]:
            fp = _enclosed(shapely.union_all(entry["envelope"]), entry["all"])
        else:
            fp = shapely.union_all(entry["all"])
        footprints[guid] = shapely.transform(_clean(fp, True, tolerance=0.0), to_crs)
    return {"seconds": seconds, "products": len(meshes), "footprints": footprints}


def ours(path: Path, crs: str, origin: tuple | None) -> tuple[float, object]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = read_ifc(path, crs, origin=origin, cache=False)
    return time.perf_counter() - t0, res


def tower(path: Path, storeys: int = 24) -> Path:
    """A synthetic 24 m x 16 m tower: per storey a slab, 8 wall panels each with a window in an opening,
    12 columns and 4 rooms; georeferenced by an IfcMapConversion in EPSG:4547."""
    import ifcopenshell.api.aggregate
    import ifcopenshell.api.context
    import ifcopenshell.api.feature
    import ifcopenshell.api.geometry
    import ifcopenshell.api.georeference
    import ifcopenshell.api.project
    import ifcopenshell.api.root
    import ifcopenshell.api.spatial
    import ifcopenshell.api.unit

    api = ifcopenshell.api
    f = api.project.create_file(version="IFC4")
    project = api.root.create_entity(f, ifc_class="IfcProject", name="synthetic tower")
    api.unit.assign_unit(f, length={"is_metric": True, "raw": "METERS"})
    body = api.context.add_context(
        f,
        context_type="Model",
        context_identifier="Body",
        target_view="MODEL_VIEW",
        parent=api.context.add_context(f, context_type="Model"),
    )
    site = api.root.create_entity(f, ifc_class="IfcSite")
    building = api.root.create_entity(f, ifc_class="IfcBuilding", name="Tower")
    api.aggregate.assign_object(f, products=[site], relating_object=project)
    api.aggregate.assign_object(f, products=[building], relating_object=site)
    w, d, h, t = 24.0, 16.0, 3.5, 0.3

    def place(product, x, y, z, turn=0.0):
        m = np.eye(4)
        c, s = np.cos(np.radians(turn)), np.sin(np.radians(turn))
        m[:2, :2] = [[c, -s], [s, c]]
        m[:3, 3] = (x, y, z)
        api.geometry.edit_object_placement(f, product=product, matrix=m)

    column_profile = f.createIfcRectangleProfileDef("AREA", None, None, 0.5, 0.5)
    runs = [((0, 0), 0, w), ((w, 0), 90, d), ((w, d), 180, w), ((0, d), 270, d)]
    for k in range(storeys):
        z = k * h
        storey = api.root.create_entity(f, ifc_class="IfcBuildingStorey", name=f"Level {k}")
        api.aggregate.assign_object(f, products=[storey], relating_object=building)
        place(storey, 0, 0, z)
        slab = api.root.create_entity(f, ifc_class="IfcSlab", predefined_type="FLOOR")
        api.spatial.assign_container(f, products=[slab], relating_structure=storey)
        api.geometry.assign_representation(
            f,
            product=slab,
            representation=api.geometry.add_slab_representation(
                f, context=body, depth=0.25, polyline=[(0, 0), (w, 0), (w, d), (0, d), (0, 0)]
            ),
        )
        place(slab, 0, 0, z)
        for (x0, y0), turn, length in runs:
            for half in range(2):
                wall = api.root.create_entity(f, ifc_class="IfcWall")
                api.spatial.assign_container(f, products=[wall], relating_structure=storey)
                api.geometry.assign_representation(
                    f,
                    product=wall,
                    representation=api.geometry.add_wall_representation(
                        f, context=body, length=length / 2, height=h, thickness=t
                    ),
                )
                c, s = np.cos(np.radians(turn)), np.sin(np.radians(turn))
                place(wall, x0 + c * half * length / 2, y0 + s * half * length / 2, z, turn)
                opening = api.root.create_entity(f, ifc_class="IfcOpeningElement")
                api.geometry.assign_representation(
                    f,
                    product=opening,
                    representation=api.geometry.add_wall_representation(
                        f, context=body, length=1.8, height=1.5, thickness=t + 0.2
                    ),
                )
                ox, oy = length / 4 - 0.9, -0.1
                place(
                    opening,
                    x0 + c * (half * length / 2 + ox) - s * oy,
                    y0 + s * (half * length / 2 + ox) + c * oy,
                    z + 0.9,
                    turn,
                )
                api.feature.add_feature(f, feature=opening, element=wall)
                window = api.root.create_entity(f, ifc_class="IfcWindow")
                api.spatial.assign_container(f, products=[window], relating_structure=storey)
                api.geometry.assign_representation(
                    f,
                    product=window,
                    representation=api.geometry.add_wall_representation(
                        f, context=body, length=1.8, height=1.5, thickness=0.1
                    ),
                )
                place(
                    window,
                    x0 + c * (half * length / 2 + ox) - s * 0.1,
                    y0 + s * (half * length / 2 + ox) + c * 0.1,
                    z + 0.9,
                    turn,
                )
                api.feature.add_filling(f, opening=opening, element=window)
        for i in range(4):
            for j in range(3):
                col = api.root.create_entity(f, ifc_class="IfcColumn")
                api.spatial.assign_container(f, products=[col], relating_structure=storey)
                api.geometry.assign_representation(
                    f,
                    product=col,
                    representation=api.geometry.add_profile_representation(
                        f, context=body, profile=column_profile, depth=h
                    ),
                )
                place(col, 3 + i * 6, 3 + j * 5, z)
        for i in range(2):
            for j in range(2):
                room = api.root.create_entity(f, ifc_class="IfcSpace", name=f"{k}.{i}{j}")
                api.aggregate.assign_object(f, products=[room], relating_object=storey)
                api.geometry.assign_representation(
                    f,
                    product=room,
                    representation=api.geometry.add_slab_representation(
                        f,
                        context=body,
                        depth=h - 0.25,
                        polyline=[(0, 0), (w / 2 - t, 0), (w / 2 - t, d / 2 - t), (0, d / 2 - t), (0, 0)],
                    ),
                )
                place(room, t + i * w / 2, t + j * d / 2, z + 0.25)
    api.georeference.add_georeferencing(f, ifc_class="IfcMapConversion", name="EPSG:4547")
    api.georeference.edit_georeferencing(
        f,
        projected_crs={"Name": "EPSG:4547"},
        coordinate_operation={
            "Eastings": 423300.0,
            "Northings": 2558300.0,
            "OrthogonalHeight": 5.0,
            "XAxisAbscissa": 0.9659258,
            "XAxisOrdinate": 0.2588190,
            "Scale": 1.0,
        },
    )
    f.write(str(path))
    return path


def others(tmp: Path, files: list, repeat: int) -> dict[str, float]:
    """Cold start, a cached read, and four copies of the biggest file read with one and two workers."""
    from ingest import _ifc_pool
    from ingest.ifc import read_ifc_many

    out = {}
    big = files[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _ifc_pool._SHARED.close()  # the next read starts its worker from scratch
        t0 = time.perf_counter()
        read_ifc(big[1], big[2], cache=False)
        out[f"cold start (new worker), {big[0]}"] = time.perf_counter() - t0
        read_ifc(big[1], big[2], cache_dir=tmp / "cache")
        t0 = time.perf_counter()
        read_ifc(big[1], big[2], cache_dir=tmp / "cache")
        out[f"cached read, {big[0]}"] = time.perf_counter() - t0
        copies = []
        for k in range(4):
            copies.append(tmp / f"tower-{k}.ifc")
            copies[-1].write_bytes(big[1].read_bytes())
        for workers in (1, 2):
            read_ifc_many(copies, big[2], workers=workers, cache=False)  # warm both workers
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                read_ifc_many(copies, big[2], workers=workers, cache=False)
                times.append(time.perf_counter() - t0)
            out[f"read_ifc_many, 4 towers, workers={workers}"] = statistics.median(times)
    return out


def cases(tmp: Path) -> list[tuple[str, Path, str, tuple | None]]:
    from twin.sample.district import city

    sc = city(tmp / "city", size_m=600, cell=4)
    out = [("synthetic tower (24 storeys)", tower(tmp / "tower.ifc"), "EPSG:4547", None)]
    if SHARED.is_dir():
        out += [
            ("AC20-FZK-Haus (ArchiCAD, IFC4)", SHARED / "AC20-FZK-Haus.ifc", "EPSG:25832", None),
            ("Duplex_A (Revit, IFC2X3)", SHARED / "Duplex_A_20110907.ifc", "EPSG:26916", None),
            (
                "IfcOpenHouse (IFC4, mm; origin given)",
                SHARED / "IfcOpenHouse_IFC4.ifc",
                "EPSG:4547",
                (423500.0, 2558600.0, 5.0),
            ),
            ("geographic-referencing-utm (IFC4X3)", SHARED / "geographic-referencing-utm.ifc", "EPSG:25832", None),
            (
                "geographic-referencing-rigid-operation (IFC4X3)",
                SHARED / "geographic-referencing-rigid-operation.ifc",
                "EPSG:25833",
                None,
            ),
        ]
    out += [(f"sample city {p.stem}", p, sc.crs, None) for p in sc.ifc]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per file (the median is reported)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "2")
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = cases(Path(tmp))
        ours(files[-1][1], files[-1][2], None)  # start the worker pool
        for label, path, crs, origin in files:
            ref = reference(path, crs, origin)
            ref_s = statistics.median(
                [ref["seconds"]] + [reference(path, crs, origin)["seconds"] for _ in range(args.repeat - 1)]
            )
            runs = [ours(path, crs, origin) for _ in range(args.repeat)]
            our_s = statistics.median(s for s, _ in runs)
            res = runs[0][1]
            worst = 0.0
            for guid, geom in zip(res.buildings["ifc_guid"], res.buildings.geometry):
                worst = max(worst, shapely.hausdorff_distance(geom, ref["footprints"][guid]))
            rows.append(
                {
                    "file": label,
                    "products": ref["products"],
                    "meshed": res.products,
                    "kernel": res.kernel,
                    "reference_s": ref_s,
                    "ours_s": our_s,
                    "products_per_s": ref["products"] / our_s,
                    "speedup": ref_s / our_s,
                    "hausdorff_cm": 100 * worst,
                    "footprint_m2": float(res.buildings.geometry.area.sum()),
                }
            )
            r = rows[-1]
            print(
                f"{label:50s} {r['products']:5d} products  ref {ref_s:7.2f} s  ours {our_s:6.2f} s  "
                f"{r['products_per_s']:7.0f}/s  x{r['speedup']:5.1f}  {r['hausdorff_cm']:.2f} cm  {r['kernel']}"
            )
        extras = others(Path(tmp), files, args.repeat)
    for name, value in extras.items():
        print(f"{name:50s} {value:7.3f} s")
    load_after = os.getloadavg()
    total_ref = sum(r["reference_s"] for r in rows)
    total_ours = sum(r["ours_s"] for r in rows)
    print(
        f"{'all files':50s} {sum(r['products'] for r in rows):5d} products  ref {total_ref:7.2f} s  "
        f"ours {total_ours:6.2f} s  x{total_ref / total_ours:5.1f}"
    )
    print(
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()})"
    )
    bad = [r["file"] for r in rows if r["hausdorff_cm"] >= 100 * TOLERANCE_M]
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "other_s": extras, "load": [load_before, load_after]}, indent=2))
    if bad:
        print(f"FOOTPRINTS DIFFER by 1 cm or more: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
