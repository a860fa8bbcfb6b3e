"""``twin export``: a twin or a flood result out to 3D Tiles 1.1, CityJSON 2.0 or glTF."""

from __future__ import annotations

from pathlib import Path

import click

from twin.cli.options import FolderIn, out_option, overwrite_option, twin_option

_FORMATS = ("3dtiles", "cityjson", "cityjsonseq", "gltf")


@click.command("export")
@click.argument("source", type=FolderIn())
@click.option("--format", "fmt", required=True, type=click.Choice(_FORMATS), help="What to write.")
@out_option(help="Folder to write (atomically; a folder cimtwin wrote is replaced).")
@twin_option(required=False, help="The twin of a flood result (default: the one its summary records).")
@click.option("--no-terrain", is_flag=True, help="3D Tiles: leave the terrain layer out.")
@click.option(
    "--no-compress",
    is_flag=True,
    help="3D Tiles and glTF: plain 16-bit buildings and terrain instead of Draco meshes (for viewers without Draco).",
)
@overwrite_option
def export_cmd(
    source: Path, fmt: str, out: Path, twin_dir: Path | None, no_terrain: bool, no_compress: bool, overwrite: bool
) -> None:
    """Export SOURCE (a twin folder or a flood result folder) for a CIM platform or a web globe.

    3dtiles: buildings (LoD1, IFC buildings also LoD2; one feature each with its attributes and, for a
    flood result, its exposure), terrain and the flood's maximum water surface as 3D Tiles 1.1.
    cityjson / cityjsonseq: the buildings as CityJSON 2.0 LoD1 solids (IFC buildings also LoD2 shells).
    gltf: the buildings as one GLB in the twin's CRS.
    """
    from twin import _io
    from twin.exchange import FORMATS, export

    _io.check_out(out, "export", overwrite=overwrite, inputs=[source, twin_dir])
    report = export(
        source, fmt, out, twin=twin_dir, overwrite=overwrite, terrain=not no_terrain, compress=not no_compress
    )
    b = report["buildings"]
    lod2 = f", {b['lod2']} as LoD2 shells" if b.get("lod2") else ""
    click.echo(f"{fmt}: {b['buildings']} buildings{lod2} -> {out / FORMATS[fmt]} ({report['seconds']:.1f} s)")
    if report.get("ifc_buildings", 0) > b.get("lod2", 0):
        click.echo(
            f"  {report['ifc_buildings'] - b.get('lod2', 0)} IFC buildings have no mesh in the twin that fits them "
            "(imported before cimtwin kept meshes, edited since, or without walls, slabs or roofs) and are LoD1 "
            "blocks; import their IFC files again for LoD2."
        )
    for layer in ("buildings", "terrain", "water"):
        if layer in report and "tiles" in report[layer]:
            click.echo(f"  {layer}: {report[layer]['tiles']} tiles, {report[layer]['bytes'] / 1e6:.2f} MB")
