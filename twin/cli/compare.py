"""``twin compare``: two flood results of one twin, side by side and as difference maps."""

from __future__ import annotations

from pathlib import Path

import click

from twin.cli.options import FolderIn, out_option, overwrite_option, twin_option


@click.command("compare")
@click.argument("result_a", type=FolderIn())
@click.argument("result_b", type=FolderIn())
@out_option("Comparison folder to write.")
@overwrite_option
@twin_option(required=False, help="Twin folder for the scene (default: the one recorded in RESULT_B's summary).")
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.01,
    show_default=True,
    help="Depth change [m] below which a cell counts as unchanged.",
)
@click.option(
    "--time-tolerance",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Arrival time change [s] below which a cell counts as unchanged.",
)
@click.option("--scene/--no-scene", default=True, show_default=True, help="Also write scene.html.")
def compare_cmd(
    result_a: Path,
    result_b: Path,
    out: Path,
    overwrite: bool,
    twin_dir: Path | None,
    tolerance: float,
    time_tolerance: float,
    scene: bool,
) -> None:
    """Compare flood result RESULT_B with RESULT_A (e.g. with and without a floodwall).

    Writes OUT/max_depth_diff.tif (B - A), arrival_time_diff.tif, hazard_class_change.tif,
    buildings.gpkg (newly flooded / newly safe / ...), comparison.json and scene.html.
    """
    from twin import _io
    from twin.errors import InputDataError
    from twin.model.twin import Twin
    from twin.sims.flood.compare import compare

    _io.check_out(out, "compare", inputs=[result_a, result_b, twin_dir], overwrite=overwrite)
    c = compare(
        result_a,
        result_b,
        tolerance=tolerance,
        time_tolerance=time_tolerance,
        twin=Twin.load(twin_dir) if twin_dir else None,
    )
    if scene and c.twin is None:
        raise InputDataError(f"The twin of {result_b} is not known or has moved; pass --twin TWIN_DIR, or --no-scene.")
    c.save(out, scene=scene, overwrite=overwrite)
    s = c.summary
    click.echo(f"{s['b']['scenario']} (B) against {s['a']['scenario']} (A), written to {out}")
    click.echo(f"  {'':<22}{'A':>14}{'B':>14}{'B - A':>14}")
    for key, v in s["figures"].items():
        if "b_minus_a" in v:
            click.echo(f"  {key:<22}{v['a']:>14.6g}{v['b']:>14.6g}{v['b_minus_a']:>+14.6g}")
    d = s["difference"]
    click.echo(
        f"  cells deeper / shallower by more than {d['tolerance_m']:g} m: {d['cells_deeper']} / "
        f"{d['cells_shallower']}; newly wet / dry: {d['cells_newly_wet']} / {d['cells_newly_dry']} "
        f"({d['cells_counted']})"
    )
    if "buildings" in s:
        b = s["buildings"]
        click.echo(
            f"  buildings newly flooded {b['newly_flooded']}, newly safe {b['newly_safe']}, "
            f"flooded in both {b['flooded_in_both']}, added {b['added']}, removed {b['removed']}"
        )
    if "drainage" in s:
        _echo_drainage(s["drainage"])
    if scene and (out / "scene.html").is_file():
        click.echo(f"Open the scene (works offline): {(out / 'scene.html').resolve()}")


def _echo_drainage(d: dict) -> None:
    """The sewer network's change: counts, then the manholes and pipes by name (at most 10 each)."""
    m, p = d["manholes_overflowing"], d["pipes_surcharged"]
    for side in ("a", "b"):
        for e in d.get("network_edits", {}).get(side, []):
            if e["type"] == "pipe":
                what = f"pipe {e['link']} {e['diameter_before_m']:g} -> {e['diameter_m']:g} m"
            elif e["type"] == "storage":
                what = f"storage tank at {e['node']}, {e['volume_m3']:g} m3 over {e['depth_m']:g} m"
            elif e["type"] == "inlet":
                what = f"gully {e['node']} at [{e['at'][0]:g}, {e['at'][1]:g}] into {e['joins']}"
            else:
                what = f"pump {e['link']} {e['from_node']} -> {e['to_node']}, {e['capacity_m3s']:g} m3/s"
            click.echo(f"  network edit in {side.upper()} ({e['edit']}): {what}")
    click.echo(f"  sewer network: manholes overflowing {m['a']} -> {m['b']}, pipes over capacity {p['a']} -> {p['b']}")
    for key, words in (
        ("manholes_newly_overflowing", "manholes newly overflowing"),
        ("manholes_no_longer_overflowing", "manholes no longer overflowing"),
        ("pipes_newly_surcharged", "pipes newly surcharged"),
        ("pipes_no_longer_surcharged", "pipes no longer surcharged"),
    ):
        names = d[key]
        if names:
            more = f" and {len(names) - 10} more (see comparison.json)" if len(names) > 10 else ""
            click.echo(f"    {words} ({len(names)}): {', '.join(names[:10])}{more}")
