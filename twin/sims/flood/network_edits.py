"""Planners' edits of the sewer network: a conduit upsized, a storage tank added at a node, a street
inlet (gully) added, a pump added or its capacity set.

:func:`edit_inp` writes an edited copy of a scenario's SWMM ``.inp`` (the original is never
touched) for the coupled run to open, and reports each edit for the run's summary. The edits work
on the file's lines, so every other section, comment and option stays exactly as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ingest.swmm import FLOW_TO_M3S, SewerNetwork
from twin.errors import ScenarioError
from twin.sims.flood.scenario import NETWORK_EDITS, InletEdit, PipeEdit, PumpEdit, StorageEdit

__all__ = ["NETWORK_EDITS", "edit_inp"]

#: Manning's n of a gully's lead pipe (concrete / PVC).
_LEAD_ROUGHNESS = 0.013
#: Depth of water [m] at a pump's inlet node over which its curve rises to full capacity: a pump does
#: not draw from a dry node (SWMM would otherwise pump its capacity out of an empty manhole).
_PUMP_RAMP_M = 0.1

#: Plan area [m2] left above a tank: a manhole shaft (SWMM's default MIN_SURFAREA, 12.566 ft2).
_SHAFT_AREA_M2 = 1.167


def edit_inp(
    network: SewerNetwork,
    edits: Sequence[Any],
    folder: Path,
    inp_crs: Any = None,
    ground: Callable[[float, float], float | None] | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Apply the scenario's network edits to a copy of ``network``'s ``.inp`` in ``folder``.

    Parameters
    ----------
    network
        The network as read from the scenario's ``.inp`` (``ingest.swmm.read_inp``).
    edits
        The scenario's ``[[edit]]`` entries, all types; only the network's are applied, each named
        ``edit[i]`` by its place in the list.
    folder
        Where the edited copy is written (same file name).
    inp_crs
        The CRS of the ``.inp``'s coordinates, where a new gully's are written (default: the network's).
    ground
        The twin's ground elevation [m] at a point (x, y) of its CRS, ``None`` off the grid: a gully's rim.

    Returns
    -------
    path : Path
        The edited ``.inp`` (the original's path when no edit touches the network).
    report : list of dict
        Per network edit: ``edit`` (its key), ``type``, the conduit or node and the values before and after.

    Raises
    ------
    ScenarioError
        A conduit or node the ``.inp`` does not have, a pipe edit on a conduit that is not circular, a
        storage tank at a node that is not a junction or deeper than the node.
    """
    chosen = [(i, e) for i, e in enumerate(edits) if isinstance(e, NETWORK_EDITS)]
    if not chosen:
        return network.path, []
    lines = network.path.read_text(errors="replace").splitlines()
    report = []
    for i, edit in chosen:
        key = f"edit[{i}]"
        if isinstance(edit, InletEdit):
            entry = _inlet(lines, network, edit, key, inp_crs, ground)
        elif isinstance(edit, PumpEdit):
            entry = _pump(lines, network, edit, key)
        else:
            entry = (_pipe if isinstance(edit, PipeEdit) else _storage)(lines, network, edit, key)
        if edit.name:
            entry["name"] = edit.name
        report.append({"edit": key, "type": edit.type, **entry})
    out = folder / network.path.name
    out.write_text("\n".join(lines) + "\n")
    return out, report


def _rows(lines: list[str], section: str) -> list[tuple[int, list[str]]]:
    """(line index, fields) of the data rows of ``[section]``."""
    out, current = [], None
    for k, line in enumerate(lines):
        text = line.split(";", 1)[0].strip()
        if text.startswith("[") and text.endswith("]"):
            current = text[1:-1].strip().upper()
        elif text and current == section:
            out.append((k, text.split()))
    return out


def _pipe(lines: list[str], network: SewerNetwork, edit: PipeEdit, key: str) -> dict[str, Any]:
    names = list(network.conduits["name"])
    if edit.link not in names:
        shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
        raise ScenarioError(
            f"{key}.link = {edit.link!r} is not a conduit of {network.path.name} (its conduits: {shown}); "
            "give the name of a conduit in its [CONDUITS] section."
        )
    for k, fields in _rows(lines, "XSECTIONS"):
        if fields[0] == edit.link:
            if fields[1].upper() not in ("CIRCULAR", "FORCE_MAIN", "FILLED_CIRCULAR"):
                raise ScenarioError(
                    f"{key}: conduit {edit.link} of {network.path.name} is {fields[1]}, not circular; a "
                    "pipe edit sets a circular pipe's diameter. Edit the cross-section in the .inp instead."
                )
            before = float(fields[2])
            fields[2] = f"{edit.diameter:g}"
            lines[k] = " ".join(fields)
            return {"link": edit.link, "diameter_before_m": before, "diameter_m": edit.diameter}
    raise ScenarioError(f"{key}: conduit {edit.link} of {network.path.name} has no row in [XSECTIONS]; add one.")


def _node(network: SewerNetwork, name: str, key: str, what: str = "node") -> Any:
    """The row of node ``name``; a ScenarioError naming ``key.what`` when the network has none."""
    nodes = network.nodes.set_index("name")
    if name not in nodes.index:
        shown = ", ".join(list(nodes.index[:10])) + (" ..." if len(nodes) > 10 else "")
        raise ScenarioError(
            f"{key}.{what} = {name!r} is not a node of {network.path.name} (its nodes: {shown}); "
            "give the name of a node in its [JUNCTIONS], [STORAGE] or [OUTFALLS] section."
        )
    return nodes.loc[name]


def _a(noun: str) -> str:
    """``noun`` with its indefinite article (node kinds: an outfall, a junction)."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _links_at(lines: list[str], node: str) -> list[str]:
    """Names of the links of every kind (conduits, pumps, orifices, weirs, outlets) that end at ``node``."""
    sections = ("CONDUITS", "PUMPS", "ORIFICES", "WEIRS", "OUTLETS")
    return [f[0] for section in sections for _, f in _rows(lines, section) if node in f[1:3]]


def _free_name(lines: list[str], base: str) -> str:
    """``base``, or ``base_2``, ``base_3``, ... : a name no row of the file starts with."""
    used = {line.split(";", 1)[0].split()[0] for line in lines if line.split(";", 1)[0].split()}
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    return name


def _inlet(
    lines: list[str],
    network: SewerNetwork,
    edit: InletEdit,
    key: str,
    inp_crs: Any,
    ground: Callable[[float, float], float | None] | None,
) -> dict[str, Any]:
    # a gully drains its own cell: a new junction there (the coupling takes the street's water into it
    # like into any manhole), its lead pipe running to the sewer
    x, y = float(edit.at[0]), float(edit.at[1])
    nodes = network.nodes
    if edit.node is not None:
        target = _node(network, edit.node, key)
        if target["kind"] not in ("junction", "storage"):
            raise ScenarioError(
                f"{key}.node = {edit.node!r} is {_a(target['kind'])} in {network.path.name}; a gully's lead pipe "
                "joins a junction (a manhole)."
            )
        name = edit.node
    else:
        manholes = nodes[nodes["kind"].isin(("junction", "storage"))]
        if manholes.empty:
            raise ScenarioError(f"{key}: {network.path.name} has no junction for a gully's lead pipe to join.")
        d = np.hypot(manholes.geometry.x.to_numpy() - x, manholes.geometry.y.to_numpy() - y)
        name = str(manholes["name"].iloc[int(np.argmin(d))])
        target = nodes.set_index("name").loc[name]
    px, py = target.geometry.x, target.geometry.y
    length = max(float(np.hypot(px - x, py - y)), 1.0)
    street = ground(x, y) if ground is not None else None
    if ground is not None and street is None:
        raise ScenarioError(
            f"{key}.at = [{x:g}, {y:g}] lies outside the twin's grid (or on a cell without ground); a gully "
            "drains the cell it is in: give a point on the grid, in the twin's CRS."
        )
    rim = float(target["rim"]) if street is None else float(street)
    if rim <= float(target["invert"]):
        raise ScenarioError(
            f"{key}: the street at [{x:g}, {y:g}] ({rim:.2f} m) lies below the invert of node {name} "
            f"({target['invert']:.2f} m), so a gully there cannot drain to it; give a node lower down (node = ...)."
        )
    invert = max(rim - edit.depth, float(target["invert"]))
    gully = _free_name(lines, f"gully{key[5:-1]}")
    lead = _free_name(lines, f"{gully}_lead")
    elevations = network.options.get("LINK_OFFSETS", "DEPTH").upper() == "ELEVATION"
    offsets = f"{invert:g} {float(target['invert']):g}" if elevations else "0 0"
    cx, cy = x, y
    if inp_crs is not None:
        import pyproj

        cx, cy = pyproj.Transformer.from_crs(nodes.crs, inp_crs, always_xy=True).transform(x, y)
    _append(lines, "JUNCTIONS", [f"{gully} {invert:g} {rim - invert:g} 0 0 0  ; a gully ({key})"])
    _append(lines, "CONDUITS", [f"{lead} {gully} {name} {length:.2f} {_LEAD_ROUGHNESS:g} {offsets} 0 0"])
    _append(lines, "XSECTIONS", [f"{lead} CIRCULAR {edit.diameter:g} 0 0 0 1"])
    _append(lines, "COORDINATES", [f"{gully} {cx:.3f} {cy:.3f}"])
    return {
        "node": gully,
        "at": [x, y],
        "joins": name,
        "link": lead,
        "rim_m": rim,
        "invert_m": invert,
        "lead_length_m": round(length, 2),
        "diameter_m": edit.diameter,
    }


def _pump(lines: list[str], network: SewerNetwork, edit: PumpEdit, key: str) -> dict[str, Any]:
    q = edit.capacity / FLOW_TO_M3S[network.flow_units]
    if edit.link is not None:
        pumps = _rows(lines, "PUMPS")
        row = next(((k, f) for k, f in pumps if f[0] == edit.link), None)
        if row is None:
            shown = ", ".join(f[0] for _, f in pumps[:10]) or "none"
            raise ScenarioError(
                f"{key}.link = {edit.link!r} is not a pump of {network.path.name} (its pumps: {shown}); give the "
                "name of a pump in its [PUMPS] section, or from_node and to_node for a new pump."
            )
        k, fields = row
        fields += ["ON", "0", "0"][len(fields) - 4 :] if len(fields) < 7 else []
        curve = _free_name(lines, f"pump_{edit.link}")
        before = fields[3]
        fields[3] = curve
        if edit.on_depth is not None:
            fields[5] = f"{edit.on_depth:g}"
        if edit.off_depth is not None:
            fields[6] = f"{edit.off_depth:g}"
        lines[k] = " ".join(fields)
        entry = {"link": edit.link, "curve_before": before, "from_node": fields[1], "to_node": fields[2]}
    else:
        source = _node(network, edit.from_node, key, "from_node")
        target = _node(network, edit.to_node, key, "to_node")
        if source["kind"] == "outfall":
            raise ScenarioError(f"{key}.from_node = {edit.from_node!r} is an outfall; a pump draws from a junction.")
        joined = _links_at(lines, edit.to_node) if target["kind"] == "outfall" else []
        if joined:
            # SWMM's ERROR 141 otherwise, which names neither the edit nor a way out
            raise ScenarioError(
                f"{key}.to_node = {edit.to_node!r} is an outfall that already has a link ({', '.join(joined)}); "
                "SWMM allows one link per outfall. Pump into the junction upstream of it, or into another "
                "outfall (add one to [OUTFALLS])."
            )
        name = _free_name(lines, f"pump{key[5:-1]}")
        curve = _free_name(lines, f"{name}_curve")
        on, off = edit.on_depth or 0.0, edit.off_depth or 0.0
        _append(lines, "PUMPS", [f"{name} {edit.from_node} {edit.to_node} {curve} ON {on:g} {off:g}  ; {key}"])
        entry = {"link": name, "from_node": edit.from_node, "to_node": edit.to_node}
    # a Type 4 curve (flow against the inlet node's depth): the capacity from _PUMP_RAMP_M of water up
    points = [(0.0, 0.0), (_PUMP_RAMP_M, q), (1000.0, q)]
    _append(
        lines,
        "CURVES",
        [f"{curve} {'PUMP4' if j == 0 else ''} {d:g} {f:g}".replace("  ", " ") for j, (d, f) in enumerate(points)],
    )
    return {**entry, "capacity_m3s": edit.capacity}


def _storage(lines: list[str], network: SewerNetwork, edit: StorageEdit, key: str) -> dict[str, Any]:
    nodes = network.nodes.set_index("name")
    if edit.node not in nodes.index:
        shown = ", ".join(list(nodes.index[:10])) + (" ..." if len(nodes) > 10 else "")
        raise ScenarioError(
            f"{key}.node = {edit.node!r} is not a node of {network.path.name} (its nodes: {shown}); "
            "give the name of a junction in its [JUNCTIONS] section."
        )
    node = nodes.loc[edit.node]
    if node["kind"] != "junction":
        raise ScenarioError(
            f"{key}.node = {edit.node!r} is {_a(node['kind'])} in {network.path.name}; a storage tank goes at "
            "a junction (a manhole)."
        )
    depth_node = float(node["rim"] - node["invert"])
    if edit.depth > depth_node + 1e-9:
        raise ScenarioError(
            f"{key}.depth = {edit.depth:g} m is deeper than node {edit.node} ({depth_node:.2f} m from invert "
            "to rim); give a depth up to that, and the volume the tank holds."
        )
    area = edit.volume / edit.depth
    # the tank's plan area from the invert up to its depth, the shaft's above (up to the rim)
    curve = f"tank_{edit.node}"
    points = [(0.0, area), (edit.depth, area)]
    if depth_node > edit.depth + 0.01:
        points += [(edit.depth + 0.01, _SHAFT_AREA_M2), (depth_node, _SHAFT_AREA_M2)]
    for k, fields in _rows(lines, "JUNCTIONS"):
        if fields[0] == edit.node:
            lines[k] = f";{lines[k]}  ; a storage tank now ({key})"
            break
    storage = f"{edit.node} {node['invert']:g} {depth_node:g} 0 TABULAR {curve}"
    rows = [f"{curve} {'STORAGE' if j == 0 else ''} {d:g} {a:g}".replace("  ", " ") for j, (d, a) in enumerate(points)]
    _append(lines, "STORAGE", [storage])
    _append(lines, "CURVES", rows)
    return {"node": edit.node, "volume_m3": edit.volume, "depth_m": edit.depth, "area_m2": area}


def _append(lines: list[str], section: str, rows: list[str]) -> None:
    """Add ``rows`` at the end of ``[section]`` (the section added at the end of the file when absent)."""
    start = next((k for k, line in enumerate(lines) if line.split(";", 1)[0].strip().upper() == f"[{section}]"), None)
    if start is None:
        lines.extend([f"[{section}]", *rows])
        return
    end = next(
        (k for k in range(start + 1, len(lines)) if lines[k].split(";", 1)[0].strip().startswith("[")), len(lines)
    )
    lines[end:end] = rows
