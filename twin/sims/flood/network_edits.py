"""Planners' edits of the sewer network: a conduit upsized, a storage tank added at a node.

:func:`edit_inp` writes an edited copy of a scenario's SWMM ``.inp`` (the original is never
touched) for the coupled run to open, and reports each edit for the run's summary. The edits work
on the file's lines, so every other section, comment and option stays exactly as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.swmm import SewerNetwork
from twin.errors import ScenarioError
from twin.sims.flood.scenario import PipeEdit, StorageEdit

__all__ = ["NETWORK_EDITS", "edit_inp"]

#: The edit types that change the sewer network (the others change the twin).
NETWORK_EDITS = (PipeEdit, StorageEdit)

#: Plan area [m2] left above a tank: a manhole shaft (SWMM's default MIN_SURFAREA, 12.566 ft2).
_SHAFT_AREA_M2 = 1.167


def edit_inp(network: SewerNetwork, edits: Sequence[Any], folder: Path) -> tuple[Path, list[dict[str, Any]]]:
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
            f"{key}.node = {edit.node!r} is a {node['kind']} in {network.path.name}; a storage tank goes at "
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
