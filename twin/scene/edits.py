"""Planners' edits on the map: the scenario's ``[[edit]]`` entries that have a place, as shapes."""

from __future__ import annotations

__all__ = ["EDIT_RGBA", "edit_shapes"]

#: Edits are drawn in black: they sit on blue water, grey buildings and coloured hazard alike.
EDIT_RGBA = (10, 10, 10, 255)


def edit_shapes(edits: list[dict] | None) -> list[dict]:
    """The scenario's ``[[edit]]`` entries that have a place on the map, as drawable shapes.

    Returns
    -------
    list of dict
        ``kind`` ("line" or "polygon"), ``xy`` (twin CRS vertices, a polygon's ring closed),
        ``label`` (what the tooltip says). Pipe and storage edits (on the sewer network) have no
        geometry of their own and are left out; so is a building removed by id.
    """
    shapes = []
    for edit in edits or []:
        kind = edit.get("type")
        name = f" '{edit['name']}'" if edit.get("name") else ""
        if kind == "floodwall" and edit.get("line"):
            crest = (
                f"crest {edit['crest']:g} m" if edit.get("crest") is not None else f"{edit.get('height', 0):g} m high"
            )
            shapes.append({"kind": "line", "xy": edit["line"], "label": f"Floodwall{name}: {crest}"})
        elif kind in ("pond", "ground") and edit.get("polygon"):
            if kind == "pond":
                label = f"Pond{name}: ground lowered {edit['depth']:g} m"
            elif edit.get("level") is not None:
                label = f"Ground{name} set to {edit['level']:g} m"
            else:
                label = f"Ground{name} {'raised' if edit['delta'] > 0 else 'lowered'} {abs(edit['delta']):g} m"
            ring = [list(p) for p in edit["polygon"]]
            shapes.append({"kind": "polygon", "xy": ring + [ring[0]], "label": label})
        elif kind == "building" and edit.get("action") == "add" and edit.get("polygon"):
            ring = [list(p) for p in edit["polygon"]]
            label = f"Building added{(' ' + edit['id']) if edit.get('id') else ''}: {edit['height']:g} m high"
            shapes.append({"kind": "polygon", "xy": ring + [ring[0]], "label": label})
        elif kind == "building" and edit.get("at"):
            x, y = edit["at"]
            shapes.append({"kind": "point", "xy": [[x, y]], "label": "Building removed"})
    return shapes
