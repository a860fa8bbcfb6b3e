"""``twin export`` against the tools a CIM office already has: cjio (CityJSON to glTF / b3dm) and
IfcOpenShell's glTF serializer (the one ``IfcConvert file.ifc file.glb`` runs).

- **Cities**: the sample city (``twin.sample.city``, 198 buildings) and the real Andorra la Vella extract
  (``../shared/data/city``, 731 Overture footprints). cimtwin writes its CityJSON (what cjio reads), then
  ``cjio city.city.json export glb|b3dm`` runs as a subprocess; cimtwin's side is the buildings layer of
  ``twin export --format 3dtiles`` and ``--format gltf``. Time, bytes on disk, and which attributes a
  client can read in the output.
- **IFC**: the sample city's two IFC buildings and the IFC models of ``../shared/data/ifc``. IfcConvert's
  binary could not be installed here (no wheel ships it, no Debian package, GitHub releases not
  reachable), so its glTF serializer runs through ifcopenshell's Python bindings (the same C++ code,
  the loop IfcConvert runs: geometry iterator -> serializer). cimtwin's side: ``Twin.add_ifc`` (the BIM
  ingest) and the glTF export of the IFC buildings (LoD1 prisms; LoD2 shells are another branch's work).

Usage::

    .venv/bin/python benchmarks/bench_exchange_tools.py [--results benchmarks/RESULTS.md] [--no-write]

Replaces the ``## CIM exchange against cjio and IfcConvert`` section of RESULTS.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _results import replace_section  # noqa: E402

from twin import sample  # noqa: E402
from twin.exchange import cityjson, gltf, tiles3d  # noqa: E402
from twin.model.build import from_files  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HEADING = "## CIM exchange against cjio and IfcConvert"
CJIO = Path(sys.executable).with_name("cjio")


def _glb_json(path: Path) -> dict:
    data = path.read_bytes()
    n = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + n])


def _b3dm_batch_keys(path: Path) -> list[str]:
    """The batch table's property names of a b3dm (its JSON part)."""
    data = path.read_bytes()
    ft_json, ft_bin, bt_json = struct.unpack_from("<III", data, 12)
    start = 28 + ft_json + ft_bin
    return sorted(json.loads(data[start : start + bt_json]) if bt_json else [])


def _glb_attributes(path: Path) -> str:
    """What a client can read per building in a GLB: property-table columns, else extras, else node names."""
    doc = _glb_json(path)
    meta = doc.get("extensions", {}).get("EXT_structural_metadata")
    if meta:
        return ", ".join(meta["propertyTables"][0]["properties"])
    keys = sorted({k for n in doc.get("nodes", []) + doc.get("meshes", []) for k in n.get("extras", {})})
    if keys:
        return "extras: " + ", ".join(keys)
    named = sum(1 for n in doc.get("nodes", []) if n.get("name"))
    return f"node names only ({named} named nodes)" if named else "none"


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _city_rows(name: str, buildings, tmp: Path) -> list[dict]:
    rows = []
    folder = tmp / name
    folder.mkdir()
    cj = folder / "city.city.json"
    cityjson.write_cityjson(buildings, cj)
    n = len(buildings)
    s, stats = _timed(lambda: tiles3d.write_buildings(buildings, folder / "tiles"))
    rows.append(
        {
            "city": name,
            "n": n,
            "tool": "cimtwin 3D Tiles",
            "s": s,
            "bytes": stats["bytes"],
            "attrs": _tiles_attrs(folder),
        }
    )
    glb = folder / "ours.glb"
    s, stats = _timed(lambda: gltf.write_glb(buildings, glb))
    rows.append(
        {"city": name, "n": n, "tool": "cimtwin glTF", "s": s, "bytes": stats["bytes"], "attrs": _glb_attributes(glb)}
    )
    for fmt in ("glb", "b3dm"):
        out = folder / f"cjio.{fmt}"
        cmd = [str(CJIO), "--suppress_msg", str(cj), "export", fmt, str(out)]
        s, proc = _timed(lambda cmd=cmd: subprocess.run(cmd, capture_output=True, text=True))
        if proc.returncode or not out.exists():
            rows.append(
                {"city": name, "n": n, "tool": f"cjio {fmt}", "s": s, "bytes": None, "attrs": proc.stderr[-200:]}
            )
            continue
        attrs = _glb_attributes(out) if fmt == "glb" else "batch table: " + ", ".join(_b3dm_batch_keys(out))
        rows.append({"city": name, "n": n, "tool": f"cjio {fmt}", "s": s, "bytes": out.stat().st_size, "attrs": attrs})
    return rows


def _tiles_attrs(folder: Path) -> str:
    first = sorted((folder / "tiles" / "tiles").glob("*.glb"))[0]
    return _glb_attributes(first)


def _ifc_rows(tw_dem: Path, files: list[Path], tmp: Path, centre: tuple[float, float]) -> list[dict]:
    import ifcopenshell
    import ifcopenshell.geom

    rows = []
    for path in files:
        # IfcConvert's glTF serializer, driven as IfcConvert drives it
        out = tmp / f"{path.stem}.ifcconvert.glb"

        def convert(path=path, out=out):
            f = ifcopenshell.open(str(path))
            settings = ifcopenshell.geom.settings()
            ser = ifcopenshell.geom.serializers.gltf(str(out), settings)
            ser.setFile(f)
            ser.setUnitNameAndMagnitude("METER", 1.0)
            ser.writeHeader()
            it = ifcopenshell.geom.iterator(settings, f, 1)
            if it.initialize():
                while True:
                    ser.write(it.get())
                    if not it.next():
                        break
            ser.finalize()

        s, _ = _timed(convert)
        rows.append(
            {
                "city": path.name,
                "n": 1,
                "tool": "IfcConvert glTF serializer",
                "s": s,
                "bytes": out.stat().st_size,
                "attrs": _glb_attributes(out),
            }
        )
        ours = tmp / f"{path.stem}.cimtwin.glb"

        def export(path=path, ours=ours):
            tw = from_files(tw_dem)
            try:
                tw.add_ifc([path], warn=False)
            except Exception:  # a file without georeferencing: put it at the twin's centre
                tw.add_ifc([path], warn=False, origin=centre)
            ifc = tw.buildings[tw.buildings["source"] == "ifc"]
            return gltf.write_glb(ifc, ours)

        try:
            s, stats = _timed(export)
            rows.append(
                {
                    "city": path.name,
                    "n": stats["buildings"],
                    "tool": "cimtwin (ingest + glTF)",
                    "s": s,
                    "bytes": stats["bytes"],
                    "attrs": _glb_attributes(ours),
                }
            )
        except Exception as exc:  # report, don't hide
            rows.append(
                {
                    "city": path.name,
                    "n": 0,
                    "tool": "cimtwin (ingest + glTF)",
                    "s": 0.0,
                    "bytes": None,
                    "attrs": f"{type(exc).__name__}: {str(exc)[:160]}",
                }
            )
    return rows


def _table(rows: list[dict], command: str, load: tuple[float, float]) -> str:
    lines = [
        HEADING,
        "",
        "cimtwin's export against cjio 0.10 (`cjio city.city.json export glb|b3dm`, run on the CityJSON cimtwin",
        "writes) and IfcOpenShell's glTF serializer (the code `IfcConvert in.ifc out.glb` runs; the IfcConvert",
        "binary itself could not be installed: no pip wheel ships it, Debian has no package, GitHub releases are",
        "not reachable from this machine). Times are wall clock of one run (cjio includes its Python start-up,",
        "about 1 s); bytes on disk; 'attributes' is what a client reads per building in the output.",
        f"Machine: 2 cores (x86_64) shared with six other engineers; load average {load[0]:.1f} before and "
        f"{load[1]:.1f} after.",
        "",
        f"Command: `{command}`",
        "",
        "| input | buildings | tool | time (s) | bytes | bytes/building | attributes |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        size = "failed" if r["bytes"] is None else f"{r['bytes']:,}"
        per = "" if r["bytes"] is None or not r["n"] else f"{r['bytes'] / r['n']:,.0f}"
        lines.append(f"| {r['city']} | {r['n']} | {r['tool']} | {r['s']:.2f} | {size} | {per} | {r['attrs']} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    command = "NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_exchange_tools.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    load_before = os.getloadavg()[0]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-exchange-tools-") as tmp_s:
        tmp = Path(tmp_s)
        sc = sample.city(tmp / "sample", seed=0, size_m=600.0, cell=4.0)
        tw = from_files(sc.dem, buildings=f"{sc.layers}::buildings")
        rows += _city_rows("sample city", tw.buildings, tmp)
        andorra = SHARED / "city" / "andorra_la_vella"
        if andorra.is_dir():
            real = from_files(andorra / "elevation.tif", buildings=andorra / "building.geoparquet")
            rows += _city_rows("Andorra la Vella", real.buildings, tmp)
        x0, y0 = tw.transform.c, tw.transform.f
        centre = (x0 + 300.0, y0 - 300.0)
        ifc = list(sc.ifc) + sorted((SHARED / "ifc").glob("*.ifc"))
        rows += _ifc_rows(sc.dem, ifc, tmp / "sample", centre)
        shutil.rmtree(tmp / "sample", ignore_errors=True)
    section = _table(rows, command.strip(), (load_before, os.getloadavg()[0]))
    print(section)
    if not args.no_write:
        replace_section(args.results, HEADING, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
