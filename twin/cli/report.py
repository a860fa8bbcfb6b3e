"""What the verbs print: a twin's, an ingest's and a result's summary, an IFC merge report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def report_ifc(report: Any) -> None:
    for f in report.files:
        click.echo(
            f"  {Path(str(f.get('file', ''))).name}: {f.get('buildings', '')} building(s), "
            f"placed by {f.get('georef_method', '?')}, {f.get('seconds', 0):.2f} s"
        )
    for gis_ids in report.replaced.values():
        if gis_ids:
            click.echo(f"  replaces GIS footprint(s) {', '.join(gis_ids)}")
    for w in report.warnings:
        click.secho(f"  warning: {w}", fg="yellow")


def print_twin(s: dict[str, Any]) -> None:
    from twin._grid_text import grid_text

    g = s["grid"]
    click.echo(f"CRS      {s['crs']}  ({s['crs_name']})")
    click.echo(f"Grid     {grid_text(g['cols'], g['rows'], g['cell_size_m'])} = {g['area_km2']:.2f} km2")
    b = g["bounds"]
    click.echo(f"Extent   x {b[0]:.1f} .. {b[2]:.1f}   y {b[1]:.1f} .. {b[3]:.1f}")
    t = s["terrain"]
    click.echo(f"Terrain  {t['min']:.2f} .. {t['max']:.2f} m (mean {t['mean']:.2f} m)")
    for name, e in s["layers"].items():
        extra = ""
        if "by_source" in e:
            extra = (
                "  ("
                + ", ".join(f"{k}: {v}" for k, v in e["by_source"].items())
                + f"; {e['footprint_km2']:.3f} km2 footprint)"
            )
        elif "length_km" in e:
            extra = f"  ({e['length_km']:.2f} km)"
        elif "area_km2" in e:
            extra = f"  ({e['area_km2']:.3f} km2)"
        click.echo(f"{name:<9}{e['features']:>7} features{extra}")
    if s.get("meshes"):
        m = s["meshes"]
        click.echo(
            f"Meshes   {m['buildings']} IFC buildings, {m['elements']} walls/slabs/roofs, {m['triangles']:,} "
            f"triangles ({m['file']}; exported as LoD2)"
        )
    print_ingest_report(s.get("ingest_report") or {})
    for imp in s.get("ifc_imports") or []:
        for f in imp.get("files", []):
            click.echo(
                f"IFC      {Path(str(f.get('file', ''))).name}: placed by {f.get('georef_method', '?')}"
                + (" (approximate)" if f.get("georef_approximate") else "")
            )
        for ifc_id, gis_ids in imp.get("replaced", {}).items():
            if gis_ids:
                click.echo(f"         {ifc_id} replaces {', '.join(gis_ids)}")


def print_ingest_report(rep: dict[str, Any]) -> None:
    """What ingest assumed, one line per layer; warnings in yellow."""

    def text(v: Any) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k} {text(x)}" for k, x in v.items())
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    lines, warnings = [], []
    for name, e in rep.items():
        if name == "sources" or not isinstance(e, dict):
            continue
        if name == "crs":
            lines.append(f"  crs: {e.get('crs')} ({e.get('how')})")
            continue
        warnings += list((e.get("warnings") or {}).values())
        counts = f"read {e['read']}, kept {e['kept']}; " if "read" in e and "kept" in e else ""
        assumed = {k: v for k, v in e.items() if k not in ("read", "kept", "warnings") and v not in (0, None, [], {})}
        if counts or assumed:
            lines.append(f"  {name}: {counts}" + "; ".join(f"{k} = {text(v)}" for k, v in assumed.items()))
    if lines:
        click.echo("Ingest report:")
        for line in lines:
            click.echo(line)
    for w in warnings:
        click.secho(f"  warning: {w}", fg="yellow")


def print_result(s: dict[str, Any]) -> None:
    """A result's summary, the figures its kind names first in front (flood summaries before 0.1 carry
    no kind)."""
    from twin.sims.kinds import SimulationKind, kinds

    kind = kinds().get(s.get("kind", "flood")) or SimulationKind("", None, None, None)
    for line in kind.summary_lines(s):
        click.echo(line)


def print_forecast(s: dict[str, Any]) -> None:
    """A forecast folder's summary (:func:`twin.live.publish.forecast_summary`) as text."""
    leads = ", ".join(f"{v:g}" for v in s["lead_times_min"])
    click.echo(f"Forecast   {s['cycles']} cycles, {s['first']} .. {s['latest']}")
    click.echo(f"Latest     {s['latest_path']}")
    click.echo(f"Members    {s['members']} ({s['nowcast']} nowcast), lead times {leads} min")
    p = s.get("warn_probability")
    within = f"within {s['lead_times_min'][-1]:g} min" + (f", P >= {p:.0%}" if p is not None else "")
    click.echo(f"Warned     {within}:")
    for name, f in s["features"].items():
        click.echo(f"  {name:<12}{f['warned']:>6} of {f['count']:>6} ({f['kind']})")
    click.echo(f"Data warnings in the latest cycle: {s['data_warnings']}")
