"""An IFC model's spatial structure: which building and storey each element belongs to, and what it is."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

__all__ = ["Structure", "psets_json", "ENVELOPE", "COLUMN", "FRAME", "ROOF", "OTHER", "SPACE"]

ENVELOPE, COLUMN, FRAME, ROOF, OTHER, SPACE = "envelope", "column", "frame", "roof", "other", "space"

# Elements that enclose floor area (walls, curtain walls, floors), and assemblies whose parts count as such.
_ENVELOPE = ("IfcWall", "IfcCurtainWall", "IfcSlab")
# Coverings that bound the building in plan: floor finishes (Revit exports floors as these) and cladding.
_ENVELOPE_COVERINGS = {"FLOORING", "CLADDING"}
# The rest of a load-bearing frame: it encloses nothing by itself, and beams, rafters and plates often
# reach out over the ground (eaves, canopies), where columns stand on it.
_COLUMN = ("IfcColumn",)
_FRAME = ("IfcBeam", "IfcPlate", "IfcMember")
_ROOF_TYPES = {"ROOF", "ROOFING"}
# Slabs that are not a floor one stands on (a stair landing lies between two storeys).
_NOT_FLOOR = {"ROOF", "LANDING"}


class Structure:
    """Spatial-structure look-ups on one opened file, memoised (a model has many elements per storey)."""

    def __init__(self, f: Any, length: float):
        self.f = f
        self.length = length
        self._parent_cache: dict[int, Any] = {}
        self._building_cache: dict[int, Any] = {}
        self._class_cache: dict[tuple, bool] = {}

    def building_of(self, entity: Any) -> Any | None:
        """The IfcBuilding an element, space or storey belongs to; failing one, its IfcSite; else None."""
        key = entity.id()
        if key in self._building_cache:
            return self._building_cache[key]
        self._building_cache[key] = None  # a cyclic (malformed) structure ends here instead of recursing forever
        if entity.is_a("IfcBuilding"):
            found = entity
        else:
            parent = self._parent(entity)
            above = self.building_of(parent) if parent is not None else None
            if above is not None and above.is_a("IfcBuilding"):
                found = above
            else:
                found = entity if entity.is_a("IfcSite") else above
        self._building_cache[key] = found
        return found

    def storey_of(self, entity: Any) -> Any | None:
        """The IfcBuildingStorey holding an element or space, if any."""
        seen = set()
        node = entity
        while node is not None and node.id() not in seen:
            seen.add(node.id())
            if node.is_a("IfcBuildingStorey"):
                return node
            node = self._parent(node)
        return None

    def storeys(self, building: Any) -> list[Any]:
        """The storeys of a building (or site), lowest first."""
        found = [s for s in self.f.by_type("IfcBuildingStorey") if self.building_of(s) == building]
        return sorted(found, key=self.elevation)

    def elevation(self, storey: Any) -> float:
        """A storey's elevation in the model's z [m]: its placement, or its Elevation when it has none."""
        import ifcopenshell.util.placement

        if storey.ObjectPlacement is not None:
            return float(ifcopenshell.util.placement.get_local_placement(storey.ObjectPlacement)[2, 3]) * self.length
        return float(storey.Elevation or 0.0) * self.length

    def occupied_storeys(self, building: Any, elements: list[Any]) -> list[Any]:
        """The storeys of a building that are storeys, lowest first.

        A level counts when it holds a floor (a floor slab or a flooring covering); a model without
        floors counts the levels holding spaces, and failing those the levels holding any element.
        A "Roof" or foundation level that holds only a roof, parapets or footings is no storey.
        """
        levels = {s.id(): s for s in self.storeys(building)}
        spaces = [s for s in self.f.by_type("IfcSpace") if self.building_of(s) == building]
        for group in ([e for e in elements if _is_floor(e)], spaces, elements):
            held = {self.storey_of(e) for e in group} - {None}
            found = [s for s in held if s.id() in levels]
            if found:
                return sorted(found, key=self.elevation)
        return []

    def role(self, element: Any) -> str:
        """ENVELOPE, COLUMN, FRAME, ROOF, OTHER or SPACE, from the element's class, predefined type and assembly."""
        if element.is_a("IfcSpace"):
            return SPACE
        chain = [element]
        seen = {element.id()}
        parent = _aggregate(element)
        while parent is not None and parent.id() not in seen and not parent.is_a("IfcSpatialElement"):
            seen.add(parent.id())
            chain.append(parent)
            parent = _aggregate(parent)
        if any(_is_roof(e) for e in chain):
            return ROOF
        if any(self._is_a(e, _ENVELOPE) or _covering_type(e) in _ENVELOPE_COVERINGS for e in chain):
            return ENVELOPE
        if any(self._is_a(e, _COLUMN) for e in chain):
            return COLUMN
        return FRAME if any(self._is_a(e, _FRAME) for e in chain) else OTHER

    def _is_a(self, e: Any, classes: tuple[str, ...]) -> bool:
        key = (e.is_a(), classes)
        if key not in self._class_cache:
            self._class_cache[key] = any(e.is_a(c) for c in classes)
        return self._class_cache[key]

    def element_counts(self, building: Any, elements: list[Any]) -> str:
        """JSON ``{class: count}`` of the building's elements (openings left out)."""
        counts = Counter(e.is_a() for e in elements if not e.is_a("IfcFeatureElement"))
        return json.dumps(dict(sorted(counts.items())), ensure_ascii=False)

    def _parent(self, node: Any) -> Any | None:
        key = node.id()
        if key not in self._parent_cache:
            self._parent_cache[key] = _container(node) or _aggregate(node) or _nest(node)
        return self._parent_cache[key]


def psets_json(entity: Any) -> str:
    """The entity's property sets as JSON ``{pset: {property: value}}`` (ifcopenshell ids dropped)."""
    import ifcopenshell.util.element

    psets = ifcopenshell.util.element.get_psets(entity, psets_only=True)
    clean = {name: {k: v for k, v in props.items() if k != "id"} for name, props in sorted(psets.items())}
    return json.dumps(clean, ensure_ascii=False, sort_keys=True, default=str)


def _covering_type(e: Any) -> str:
    if not e.is_a("IfcCovering"):
        return ""
    import ifcopenshell.util.element

    return (ifcopenshell.util.element.get_predefined_type(e) or "").upper()


def _is_floor(e: Any) -> bool:
    if e.is_a("IfcSlab"):
        import ifcopenshell.util.element

        return (ifcopenshell.util.element.get_predefined_type(e) or "").upper() not in _NOT_FLOOR
    return _covering_type(e) == "FLOORING"


def _is_roof(e: Any) -> bool:
    if e.is_a("IfcRoof"):
        return True
    if e.is_a("IfcSlab") or e.is_a("IfcCovering"):
        import ifcopenshell.util.element

        return (ifcopenshell.util.element.get_predefined_type(e) or "").upper() in _ROOF_TYPES
    return False


def _container(e: Any) -> Any | None:
    for rel in getattr(e, "ContainedInStructure", None) or ():
        return rel.RelatingStructure
    return None


def _aggregate(e: Any) -> Any | None:
    for rel in getattr(e, "Decomposes", None) or ():
        if rel.is_a("IfcRelAggregates"):
            return rel.RelatingObject
    return None


def _nest(e: Any) -> Any | None:
    for rel in getattr(e, "Nests", None) or ():
        return rel.RelatingObject
    return None
