"""Where an IFC model lies in the world: its georeferencing, read from the file or given by the user.

The model's geometry comes out of the geometry iterator in local metres (the file's engineering
frame). A :class:`Frame` takes those to a projected *map* CRS -- the file's own map CRS, or for a
geographic reference point a local transverse-Mercator frame around that point -- by a rotation, a
scale and a shift; pyproj then takes map coordinates into the twin's CRS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyproj

from ingest.crs import as_crs
from ingest.errors import CRSError, GeoreferencingError

__all__ = ["Georef", "Frame", "find_frame", "METHODS"]

#: Georeferencing methods, in the order they are tried (a user placement overrides all of them).
METHODS = ("user", "IfcMapConversion", "IfcRigidOperation", "ePSet_MapConversion", "IfcSite")

# A map conversion whose model-metre-to-map-metre factor strays further than this from 1 is not a
# grid scale factor (those stay within a few parts in ten thousand) but a unit mix-up.
_SCALE_TOLERANCE = 0.02

# Revit's default project locations, written into every model whose author never set one: Chicago
# (the exact point), and the Boston of Revit's templates (central Boston, matched within _REVIT_NEAR_DEG
# when the site keeps Revit's name 'Default').
_REVIT_DEFAULT_LATLON = (41.8744, -87.6394)
_REVIT_TEMPLATE_LATLON = {"Chicago": _REVIT_DEFAULT_LATLON, "Boston": (42.3584, -71.0598)}
_REVIT_NEAR_DEG = 0.05


@dataclass(frozen=True)
class Georef:
    """How a file was placed in the world.

    Attributes
    ----------
    method
        One of :data:`METHODS`.
    source_crs
        The CRS the placement is expressed in (``"EPSG:25832"`` or a WKT string).
    eastings, northings
        Where the model's origin lies in ``source_crs`` (longitude and latitude in degrees when
        ``source_crs`` is geographic).
    height
        Elevation of the model's z = 0 [m].
    rotation
        Degrees counter-clockwise from the map's east (grid x) axis to the model's x axis.
    scale
        Model metres to map metres, after any correction of the file's Scale.
    approximate
        True when the placement rests on a single latitude/longitude (IfcSite): good to metres at best.
    """

    method: str
    source_crs: str
    eastings: float
    northings: float
    height: float
    rotation: float
    scale: float
    approximate: bool


@dataclass(frozen=True)
class Frame:
    """Local model metres to map coordinates: ``map = (E, N) + scale * R(rotation) @ (xy - pivot)``.

    ``map_crs`` is projected; ``unit`` is metres per map unit; heights are ``height + scale_z * z``.
    """

    georef: Georef
    map_crs: pyproj.CRS
    east: float
    north: float
    rotation_deg: float
    scale: float
    scale_z: float = 1.0
    unit: float = 1.0
    pivot: tuple[float, float, float] = (0.0, 0.0, 0.0)
    factors: tuple[float, float] = (1.0, 1.0)

    def to_map(self, xy: np.ndarray) -> np.ndarray:
        """Local metres ``(n, 2)`` to map coordinates ``(n, 2)`` in ``map_crs``."""
        theta = math.radians(self.rotation_deg)
        c, s = math.cos(theta), math.sin(theta)
        k = self.scale / self.unit
        x = (xy[:, 0] - self.pivot[0]) * k * self.factors[0]
        y = (xy[:, 1] - self.pivot[1]) * k * self.factors[1]
        return np.column_stack((self.east + c * x - s * y, self.north + s * x + c * y))

    def height_of(self, z: np.ndarray | float) -> np.ndarray | float:
        """Local z [m] to world elevation [m]."""
        return self.georef.height + (np.asarray(z, dtype=float) - self.pivot[2]) * self.scale_z

    def transformer(self, crs: pyproj.CRS) -> Callable[[np.ndarray], np.ndarray]:
        """A function taking local metres ``(n, 2)`` into ``crs``; raises GeoreferencingError off the map."""
        tr = pyproj.Transformer.from_crs(self.map_crs, crs, always_xy=True)
        identity = self.map_crs == crs

        def apply(xy: np.ndarray) -> np.ndarray:
            m = self.to_map(np.asarray(xy, dtype=float).reshape(-1, 2))
            if identity:
                return m
            x, y = tr.transform(m[:, 0], m[:, 1], errcheck=False)
            out = np.column_stack((x, y))
            if not np.isfinite(out).all():
                raise GeoreferencingError(
                    f"The model's position cannot be expressed in {crs.to_string()} (the transformation "
                    f"from {self.georef.source_crs} failed). The twin's CRS probably does not cover the "
                    f"place the file's georeferencing ({self.georef.method}) puts it; check that placement "
                    "or give origin=(E, N[, H]) and rotation."
                )
            return out

        return apply

    def lonlat(self) -> tuple[float, float]:
        """Longitude and latitude of the model's origin (for area-of-use checks)."""
        geog = self.map_crs.geodetic_crs or pyproj.CRS("EPSG:4326")
        tr = pyproj.Transformer.from_crs(self.map_crs, geog, always_xy=True)
        lon, lat = tr.transform(self.east, self.north, errcheck=False)
        return float(lon), float(lat)


def find_frame(
    f: Any,
    crs: pyproj.CRS,
    *,
    origin: tuple[float, ...] | None = None,
    rotation: float | None = None,
    source_crs: Any = None,
) -> tuple[Frame, list[str]]:
    """Find the placement of an opened IFC file, in the order of :data:`METHODS`.

    Parameters
    ----------
    f
        An ``ifcopenshell.file``.
    crs
        The target CRS; a user ``origin`` without ``source_crs`` is in it.
    origin, rotation, source_crs
        A user placement (see :func:`ingest.ifc.read_ifc`); ``source_crs`` alone names the CRS of
        the file's own map conversion when the file does not say (or says something pyproj cannot read).

    Returns
    -------
    Frame, list of str
        The frame and warnings about what was assumed or corrected.

    Raises
    ------
    GeoreferencingError
        No georeferencing at all, or georeferencing whose CRS cannot be identified.
    """
    import ifcopenshell.util.unit

    warnings: list[str] = []
    length = float(ifcopenshell.util.unit.calculate_unit_scale(f))  # metres per project length unit
    if origin is not None:
        return _user_frame(origin, rotation, source_crs if source_crs is not None else crs, warnings), warnings
    if rotation is not None:
        raise GeoreferencingError(
            "rotation was given without origin; a user placement needs origin=(E, N[, H]) "
            "(CLI: --ifc-origin E,N[,H]) as well as rotation."
        )
    for finder in (_map_conversion, _rigid_operation, _epset_map_conversion, _site_reference):
        frame = finder(f, length, source_crs, warnings)
        if frame is not None:
            return frame, warnings
    raise GeoreferencingError(
        "The file has no georeferencing (no IfcMapConversion, IfcRigidOperation, ePSet_MapConversion or IfcSite "
        "latitude/longitude), so it cannot be placed in the world; it is not put at the CRS origin. Say "
        "where it goes: origin=(E, N[, H]) of the model's origin, rotation=DEG (counter-clockwise from "
        "east to the model's x axis) and source_crs if E, N are not in the twin's CRS "
        "(CLI: --ifc-origin E,N[,H] --ifc-rotation DEG --ifc-crs EPSG)."
    )


# ------------------------------------------------------------------------------------------ finders


def _user_frame(origin: tuple[float, ...], rotation: float | None, source_crs: Any, warnings: list[str]) -> Frame:
    values = [float(v) for v in origin]
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
        raise GeoreferencingError(f"origin={tuple(origin)!r} must be (E, N) or (E, N, H) in finite numbers.")
    if len(values) == 2:
        values.append(0.0)
        warnings.append(
            "origin has no height: the model's z = 0 was put at elevation 0 m; give origin=(E, N, H) to set it."
        )
    rot = float(rotation or 0.0)
    if not math.isfinite(rot):
        raise GeoreferencingError(f"rotation={rotation!r} must be a finite angle in degrees.")
    crs = _projected_or_geographic(source_crs)
    georef = Georef("user", _crs_name(crs), values[0], values[1], values[2], rot, 1.0, False)
    if crs.is_geographic:  # origin as longitude, latitude: a local transverse Mercator around it
        return Frame(georef, _local_tm(crs, values[0], values[1]), 0.0, 0.0, rot, 1.0)
    return Frame(georef, crs, values[0], values[1], rot, 1.0, unit=_crs_unit(crs))


def _map_conversion(f: Any, length: float, source_crs: Any, warnings: list[str]) -> Frame | None:
    try:
        conversions = f.by_type("IfcMapConversion")
    except RuntimeError:  # IFC2X3 has no such entity
        return None
    if not conversions:
        return None
    conv = _model_context_first(conversions)
    target = conv.TargetCRS
    crs = _map_crs(target, source_crs, "IfcMapConversion")
    unit = _named_unit_metres(getattr(target, "MapUnit", None)) or _crs_unit(crs)
    factors = (1.0, 1.0, 1.0)
    if conv.is_a("IfcMapConversionScaled"):
        factors = (float(conv.FactorX), float(conv.FactorY), float(conv.FactorZ))
    return _helmert(
        f,
        "IfcMapConversion",
        crs,
        unit,
        length,
        conv.Eastings,
        conv.Northings,
        conv.OrthogonalHeight,
        conv.XAxisAbscissa,
        conv.XAxisOrdinate,
        conv.Scale,
        factors,
        warnings,
    )


def _rigid_operation(f: Any, length: float, source_crs: Any, warnings: list[str]) -> Frame | None:
    try:
        ops = f.by_type("IfcRigidOperation")
    except RuntimeError:  # only IFC4X3 has it
        return None
    if not ops:
        return None
    op = _model_context_first(ops)
    target = op.TargetCRS
    first, second = _measure(op.FirstCoordinate), _measure(op.SecondCoordinate)
    height = float(op.Height or 0.0)
    if target.is_a("IfcGeographicCRS"):
        geog = _crs_from_ifc(target, source_crs, "IfcRigidOperation")
        if not geog.is_geographic:
            raise GeoreferencingError(
                f"IfcRigidOperation targets IfcGeographicCRS {target.Name!r}, which pyproj "
                "reads as a non-geographic CRS; give source_crs='EPSG:....' (a geographic CRS)."
            )
        degrees = _angle_degrees(getattr(target, "AngleUnit", None))
        lon, lat = first * degrees, second * degrees
        h_unit = _named_unit_metres(getattr(target, "HeightUnit", None)) or 1.0
        georef = Georef("IfcRigidOperation", geog.to_string(), lon, lat, height * h_unit, 0.0, 1.0, False)
        # The rigid operation shifts the model to a point on the ellipsoid without rotating it: the
        # model's x and y run east and north there, which a transverse Mercator centred on the point is.
        return Frame(georef, _local_tm(geog, lon, lat), 0.0, 0.0, 0.0, 1.0)
    crs = _map_crs(target, source_crs, "IfcRigidOperation")
    unit = _named_unit_metres(getattr(target, "MapUnit", None)) or _crs_unit(crs)
    georef = Georef("IfcRigidOperation", crs.to_string(), first, second, height * unit, 0.0, 1.0, False)
    return Frame(georef, crs, first, second, 0.0, 1.0, unit=unit)


def _epset_map_conversion(f: Any, length: float, source_crs: Any, warnings: list[str]) -> Frame | None:
    conv, crs_pset = None, None
    for owner in [*f.by_type("IfcProject"), *f.by_type("IfcSite")]:
        for name, props in _psets(owner).items():
            low = name.lower()
            if low == "epset_mapconversion" and conv is None:
                conv = props
            elif low == "epset_projectedcrs" and crs_pset is None:
                crs_pset = props
    if conv is None:
        return None
    crs = _map_crs_from_names(
        (crs_pset or {}).get("Name"), (crs_pset or {}).get("Description"), source_crs, "ePSet_ProjectedCRS"
    )
    unit = _crs_unit(crs)
    map_unit = (crs_pset or {}).get("MapUnit")
    if isinstance(map_unit, str) and map_unit.strip():
        unit = _unit_name_metres(map_unit) or unit

    def get(key: str, default: float | None) -> float | None:
        value = conv.get(key)
        return default if value is None else float(value)

    return _helmert(
        f,
        "ePSet_MapConversion",
        crs,
        unit,
        length,
        get("Eastings", 0.0),
        get("Northings", 0.0),
        get("OrthogonalHeight", 0.0),
        get("XAxisAbscissa", None),
        get("XAxisOrdinate", None),
        get("Scale", None),
        (1.0, 1.0, 1.0),
        warnings,
    )


def _site_reference(f: Any, length: float, source_crs: Any, warnings: list[str]) -> Frame | None:
    import ifcopenshell.util.geolocation as geo
    import ifcopenshell.util.placement

    sites = [s for s in f.by_type("IfcSite") if s.RefLatitude and s.RefLongitude]
    if not sites:
        return None
    site = sites[0]
    try:
        lat, lon = geo.dms2dd(*site.RefLatitude), geo.dms2dd(*site.RefLongitude)
    except (AssertionError, TypeError, ValueError):
        raise GeoreferencingError(
            f"IfcSite {site.Name!r} has a malformed RefLatitude/RefLongitude ({site.RefLatitude}, "
            f"{site.RefLongitude}); fix it or give origin=(E, N[, H]) and rotation."
        ) from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise GeoreferencingError(
            f"IfcSite {site.Name!r} lies at latitude {lat}, longitude {lon}, which is off "
            "the globe; fix it or give origin=(E, N[, H]) and rotation."
        )
    geog = _projected_or_geographic(source_crs) if source_crs is not None else pyproj.CRS("EPSG:4326")
    if not geog.is_geographic:
        geog = geog.geodetic_crs
    elevation = float(site.RefElevation or 0.0) * length
    pivot = (0.0, 0.0, 0.0)
    if site.ObjectPlacement is not None:
        m = ifcopenshell.util.placement.get_local_placement(site.ObjectPlacement)
        pivot = tuple(float(v) * length for v in m[:3, 3])
    # True north is given in the model's xy plane; the map frame's north is +y, so the model turns by
    # the angle from true north to +y.
    north = _true_north(f)
    rotation = 90.0 - math.degrees(math.atan2(north[1], north[0]))
    rotation = (rotation + 180.0) % 360.0 - 180.0
    georef = Georef("IfcSite", geog.to_string(), lon, lat, elevation, rotation, 1.0, True)
    note = (
        f"placed by IfcSite {site.Name!r} latitude {lat:.6f}, longitude {lon:.6f} and true north alone "
        "(approximate: no map conversion in the file, position good to metres at best"
    )
    city = _revit_default(site.Name, lat, lon)
    if city:
        note += f"; this is Revit's default location ({city}), most likely not the real site"
    warnings.append(
        note + "). Check it, or give origin=(E, N[, H]) and rotation (CLI: --ifc-origin/--ifc-rotation/--ifc-crs)."
    )
    return Frame(georef, _local_tm(geog, lon, lat), 0.0, 0.0, rotation, 1.0, pivot=pivot)


# ---------------------------------------------------------------------------------------- helpers


def _revit_default(name: str | None, lat: float, lon: float) -> str:
    """The city of Revit's default location the site sits at, or ""."""
    if abs(lat - _REVIT_DEFAULT_LATLON[0]) < 0.01 and abs(lon - _REVIT_DEFAULT_LATLON[1]) < 0.01:
        return "Chicago"
    if (name or "").strip().lower() == "default":
        for city, (la, lo) in _REVIT_TEMPLATE_LATLON.items():
            if abs(lat - la) < _REVIT_NEAR_DEG and abs(lon - lo) < _REVIT_NEAR_DEG:
                return city
    return ""


def _helmert(
    f: Any,
    method: str,
    crs: pyproj.CRS,
    unit: float,
    length: float,
    east: Any,
    north: Any,
    height: Any,
    abscissa: Any,
    ordinate: Any,
    scale: Any,
    factors: tuple[float, float, float],
    warnings: list[str],
) -> Frame:
    """A map conversion's frame, with its Scale checked against the ratio of the units."""
    east, north, height = float(east or 0.0), float(north or 0.0), float(height or 0.0)
    a, o = float(abscissa or 0.0), float(ordinate or 0.0)
    if a == 0.0 and o == 0.0:
        a = 1.0
    rotation = math.degrees(math.atan2(o, a))
    given = None if scale is None else float(scale)
    k = _checked_scale(given, length, unit, method, warnings)
    # Map coordinates are in map units; local z becomes metres on the same scale as x and y.
    georef = Georef(method, _crs_name(crs), east, north, height * unit, rotation, k, False)
    frame = Frame(
        georef, crs, east, north, rotation, k, scale_z=k * factors[2], unit=unit, factors=(factors[0], factors[1])
    )
    wcs = _wcs(f, length)
    if wcs is not None:
        frame = replace(frame, pivot=wcs)
    return frame


def _checked_scale(given: float | None, length: float, unit: float, method: str, warnings: list[str]) -> float:
    """Model metres to map metres from a file's Scale (map units per project unit), corrected when absurd.

    A correct Scale is ``length / unit`` times a grid scale factor near 1. Files get it wrong two ways:
    Scale=1 (or none) with millimetre units, and the inverse ratio (buildingSMART's own IFC4.3 samples
    carry Scale=1000 with millimetre units).
    """
    literal = (1.0 if given is None else given) * unit / length
    if given is not None and given <= 0:
        warnings.append(f"{method} Scale={given} is not positive; used the ratio of the units instead.")
        return 1.0
    if abs(literal - 1.0) <= _SCALE_TOLERANCE:
        return literal
    units = f"project length unit {_unit_label(length)}, map unit {_unit_label(unit)}"
    if given is None:
        warnings.append(
            f"{method} has no Scale, which would mean 1 map unit per project unit ({units}); "
            f"the units were converted instead (Scale taken as {length / unit:g}), as authoring "
            "tools that omit it intend."
        )
        return 1.0
    candidates = [
        (given, "a grid scale factor applied after unit conversion"),
        ((1.0 / given) * unit / length, "the inverse of what it should be"),
    ]
    for k, reading in candidates:
        if abs(k - 1.0) <= _SCALE_TOLERANCE:
            warnings.append(
                f"{method} Scale={given:g} is inconsistent with the units ({units}; expected "
                f"{length / unit:g}): taken literally it would scale the model by {literal:g}. It was read "
                f"as {reading}, giving {k:g} map metres per model metre. Fix the Scale in the authoring tool."
            )
            return k
    warnings.append(
        f"{method} Scale={given:g} is inconsistent with the units ({units}): taken literally it would "
        f"scale the model by {literal:g}. The Scale was ignored and only the units converted."
    )
    return 1.0


def _unit_label(metres: float) -> str:
    names = {
        1.0: "metre",
        0.001: "millimetre",
        0.01: "centimetre",
        0.3048: "foot",
        0.0254: "inch",
        0.3048006096012192: "US survey foot",
    }
    for value, name in names.items():
        if math.isclose(metres, value, rel_tol=1e-9):
            return name
    return f"{metres:g} m"


def _model_context_first(operations: list[Any]) -> Any:
    """The coordinate operation of the 3D model context when there are several."""
    for op in operations:
        src = op.SourceCRS
        if src is not None and src.is_a("IfcGeometricRepresentationContext") and src.ContextType == "Model":
            return op
    return operations[0]


def _map_crs(target: Any, source_crs: Any, what: str) -> pyproj.CRS:
    if target is None:
        return _map_crs_from_names(None, None, source_crs, what)
    crs = _crs_from_ifc(target, source_crs, what)
    if not crs.is_projected:
        raise GeoreferencingError(
            f"{what} targets {target.Name!r}, which is not a projected CRS; give "
            "source_crs='EPSG:....' naming the projected CRS of the map coordinates."
        )
    return crs


def _crs_from_ifc(target: Any, source_crs: Any, what: str) -> pyproj.CRS:
    wkt = None
    for inverse in getattr(target, "WellKnownText", None) or ():
        wkt = getattr(inverse, "WellKnownText", None)
    return _map_crs_from_names(
        getattr(target, "Name", None),
        getattr(target, "Description", None),
        source_crs,
        what,
        wkt=wkt,
        geographic_ok=True,
    )


def _map_crs_from_names(
    name: Any, description: Any, source_crs: Any, what: str, *, wkt: str | None = None, geographic_ok: bool = False
) -> pyproj.CRS:
    if source_crs is not None:
        return _projected_or_geographic(source_crs) if geographic_ok else _projected(source_crs, "source_crs")
    tried = []
    for text in (wkt, name, description):
        if not text:
            continue
        tried.append(str(text))
        for candidate in _crs_spellings(str(text)):
            try:
                return pyproj.CRS.from_user_input(candidate)
            except pyproj.exceptions.CRSError:
                continue
    said = f"names {', '.join(repr(t) for t in tried)}" if tried else "names no CRS"
    raise GeoreferencingError(
        f"{what} {said}, which is not a CRS pyproj recognises, so the map coordinates cannot be placed. "
        "Give the CRS of the file's map coordinates: source_crs='EPSG:....' (CLI: --ifc-crs EPSG)."
    )


def _crs_spellings(text: str) -> list[str]:
    """'EPSG:25832', 'EPSG 25832', 'urn:ogc:def:crs:EPSG::25832', 'ETRS89 / UTM zone 32N', '25832'."""
    out = [text]
    m = re.search(r"EPSG\D{0,4}(\d{4,6})", text, re.IGNORECASE) or re.fullmatch(r"\s*(\d{4,6})\s*", text)
    if m:
        out.insert(0, f"EPSG:{m.group(1)}")
    return out


def _projected(value: Any, what: str) -> pyproj.CRS:
    try:
        crs = as_crs(value, what=what)
    except CRSError as exc:
        raise GeoreferencingError(str(exc)) from None
    if not crs.is_projected:
        raise GeoreferencingError(
            f"{what} {crs.to_string()} is not projected; map coordinates (E, N) need a "
            "projected CRS, e.g. 'EPSG:25832'."
        )
    return crs


def _projected_or_geographic(value: Any) -> pyproj.CRS:
    try:
        return as_crs(value, what="source_crs")
    except CRSError as exc:
        raise GeoreferencingError(str(exc)) from None


def _crs_name(crs: pyproj.CRS) -> str:
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()


def _crs_unit(crs: pyproj.CRS) -> float:
    try:
        return float(crs.axis_info[0].unit_conversion_factor) or 1.0
    except (IndexError, AttributeError):
        return 1.0


def _local_tm(geog: pyproj.CRS, lon: float, lat: float) -> pyproj.CRS:
    from pyproj.crs import ProjectedCRS
    from pyproj.crs.coordinate_operation import TransverseMercatorConversion

    conversion = TransverseMercatorConversion(
        latitude_natural_origin=lat,
        longitude_natural_origin=lon,
        false_easting=0.0,
        false_northing=0.0,
        scale_factor_natural_origin=1.0,
    )
    return ProjectedCRS(conversion=conversion, geodetic_crs=geog, name=f"local TM at {lat:.7f}, {lon:.7f}")


def _named_unit_metres(unit: Any) -> float | None:
    if unit is None:
        return None
    import ifcopenshell.util.unit

    try:
        return float(ifcopenshell.util.unit.get_named_unit_scale(unit))
    except Exception:  # exotic unit definitions: fall back on the CRS's own unit
        return None


def _unit_name_metres(name: str) -> float | None:
    """ePSet_ProjectedCRS MapUnit is free text: 'METRE', 'MILLIMETRE', 'foot', ..."""
    low = name.strip().lower().replace("meter", "metre")
    table = {
        "metre": 1.0,
        "m": 1.0,
        "millimetre": 0.001,
        "mm": 0.001,
        "centimetre": 0.01,
        "foot": 0.3048,
        "feet": 0.3048,
        "ft": 0.3048,
        "us survey foot": 1200.0 / 3937.0,
    }
    return table.get(low)


def _angle_degrees(unit: Any) -> float:
    """Degrees per unit of a geographic CRS's angle unit (degrees when it names none)."""
    if unit is None:
        return 1.0
    radians = _named_unit_metres(unit)  # the same SI scale lookup: radians per unit for angles
    return math.degrees(radians) if radians else 1.0


def _measure(value: Any) -> float:
    return float(getattr(value, "wrappedValue", value))


def _psets(entity: Any) -> dict[str, dict[str, Any]]:
    import ifcopenshell.util.element

    return ifcopenshell.util.element.get_psets(entity, psets_only=True)


def _true_north(f: Any) -> tuple[float, float]:
    for ctx in f.by_type("IfcGeometricRepresentationContext", include_subtypes=False):
        if ctx.ContextType == "Model" and ctx.TrueNorth is not None:
            ratios = ctx.TrueNorth.DirectionRatios
            if math.hypot(ratios[0], ratios[1]) > 0:
                return float(ratios[0]), float(ratios[1])
    return 0.0, 1.0


def _wcs(f: Any, length: float) -> tuple[float, float, float] | None:
    """The model context's world coordinate system origin [m] when it is not at (0, 0, 0).

    The map conversion applies to coordinates relative to the context's WCS (as ifcopenshell's own
    geolocation helpers read it); a rotated WCS is rare enough that only its origin is honoured.
    """
    for ctx in f.by_type("IfcGeometricRepresentationContext", include_subtypes=False):
        if ctx.ContextType == "Model" and ctx.WorldCoordinateSystem is not None:
            loc = getattr(ctx.WorldCoordinateSystem, "Location", None)
            if loc is None:
                return None
            xyz = [float(v) * length for v in loc.Coordinates] + [0.0] * 3
            return None if not any(xyz[:3]) else (xyz[0], xyz[1], xyz[2])
    return None
