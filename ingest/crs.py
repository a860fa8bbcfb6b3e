"""Coordinate reference systems: parsing and the twin's projected-in-metres rule."""

from __future__ import annotations

from typing import Any

import pyproj
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from ingest.errors import CRSError

__all__ = [
    "as_crs",
    "require_projected",
    "same_crs",
    "horizontal",
    "is_metric_projected",
    "auto_crs",
    "vertical_unit_factor",
    "crs_label",
]

#: EPSG code of CGCS2000 / 3-degree Gauss-Kruger CM 75E; the CM 78E ... 135E zones follow one by one.
_CGCS2000_GK3_CM75 = 4534


def as_crs(value: Any, *, what: str = "CRS") -> pyproj.CRS:
    """Parse anything pyproj understands ("EPSG:4547", WKT, a rasterio/pyproj CRS) into a pyproj.CRS.

    Raises
    ------
    CRSError
        If the value is missing or not a CRS pyproj recognises.
    """
    if value is None:
        raise CRSError(f"{what} is missing. Give one explicitly, e.g. crs='EPSG:4547' (or --crs EPSG:4547).")
    if isinstance(value, pyproj.CRS):
        return value
    try:
        if hasattr(value, "to_wkt"):  # rasterio.crs.CRS and friends
            return pyproj.CRS.from_wkt(value.to_wkt())
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"{what} {value!r} is not a coordinate reference system pyproj recognises ({exc}). "
            "Use an EPSG code such as 'EPSG:4547' or a WKT string."
        ) from None


def require_projected(value: Any, *, what: str = "the twin's CRS") -> pyproj.CRS:
    """Return the CRS if it is projected with metre axes, else raise a CRSError saying what to use."""
    crs = as_crs(value, what=what)
    if not crs.is_projected:
        kind = "geographic (degrees)" if crs.is_geographic else "not projected"
        raise CRSError(
            f"{what} {crs.to_string()} is {kind}; the twin needs a projected CRS in metres so that cells "
            "are square and areas are true. Choose a projected CRS for the city, e.g. EPSG:4547 "
            "(CGCS2000 / 3-degree Gauss-Kruger CM 114E) for Guangzhou or the local UTM zone."
        )
    units = {(ax.unit_name or "").lower() for ax in crs.axis_info[:2]}
    if not units <= {"metre", "meter", "m"}:
        raise CRSError(
            f"{what} {crs.to_string()} has axis units {sorted(units)}; the twin needs metres. "
            "Pick the metre variant of the projection (e.g. not a US-feet State Plane zone)."
        )
    return crs


def same_crs(a: Any, b: Any) -> bool:
    """True when two CRSs describe the same system (ignoring names and axis-order metadata)."""
    ca, cb = as_crs(a), as_crs(b)
    return ca == cb or ca.equals(cb, ignore_axis_order=True)


def horizontal(value: Any) -> pyproj.CRS:
    """The horizontal part of a CRS: the CRS itself, or the first component of a compound CRS."""
    crs = as_crs(value)
    if not crs.is_compound:
        return crs
    sub = next((s for s in crs.sub_crs_list if not s.is_vertical), crs.sub_crs_list[0])
    # a component read from WKT1 (as GDAL reports compound CRSs) loses its EPSG identity: look it up again
    code = sub.to_epsg()
    return pyproj.CRS.from_epsg(code) if code else sub


def is_metric_projected(value: Any) -> bool:
    """True when the CRS is projected with metre axes (what the twin accepts)."""
    try:
        require_projected(horizontal(value))
    except CRSError:
        return False
    return True


def auto_crs(lon: float, lat: float, *, datum: Any = None) -> tuple[pyproj.CRS, str]:
    """A projected CRS in metres for a place: China's national grid inside China, else the local UTM zone.

    Inside China (the point lies in the area of use of the CGCS2000 3-degree Gauss-Kruger zone whose
    central meridian is nearest, as EPSG records it) the result is that zone, EPSG:4534 + (CM - 75) / 3,
    e.g. EPSG:4547 for CM 114E around Guangzhou; the frame Chinese CIM platforms use. Elsewhere it is
    the UTM zone holding the point, on ``datum``'s geodetic CRS where EPSG defines UTM zones for it
    (NAD83, ETRS89, ...), else on WGS 84.

    Parameters
    ----------
    lon, lat
        The place (e.g. a DEM's centre) in degrees.
    datum
        The source's geographic CRS, to keep its datum where possible.

    Returns
    -------
    (pyproj.CRS, str)
        The CRS and a sentence saying why it was chosen (for the ingest report).
    """
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise CRSError(f"({lon}, {lat}) is not a longitude/latitude; give the twin's CRS explicitly (crs=...).")
    cm = 3 * round(lon / 3.0)
    if 75 <= cm <= 135:
        gk = pyproj.CRS.from_epsg(_CGCS2000_GK3_CM75 + (cm - 75) // 3)
        area = gk.area_of_use
        if area is not None and area.west <= lon <= area.east and area.south <= lat <= area.north:
            return gk, (
                f"auto: the DEM's centre ({lon:.4f}E, {lat:.4f}N) lies in China, so its national grid "
                f"CGCS2000 3-degree Gauss-Kruger CM {cm}E ({gk.to_string()})"
            )
    aoi = AreaOfInterest(lon, lat, lon, lat)
    names = [horizontal(datum).geodetic_crs.name] if datum is not None else []
    for name in [*names, "WGS 84"]:
        found = query_utm_crs_info(datum_name=name, area_of_interest=aoi)
        if found:
            break
    if not found:
        raise CRSError(f"No UTM zone found for ({lon}, {lat}); give the twin's CRS explicitly (crs=...).")
    # EPSG also lists variants such as "ETRS89 / UTM zone 31N (N-E)" (northing first) and "(zE-N)" (zone
    # number prefixed to the easting): prefer the plain zone; on a zone boundary, the nearer central meridian
    # (and zones on realisations such as ETRS89/DREF91/2016 share the datum's name: prefer the datum itself)
    utm = min(
        (pyproj.CRS.from_epsg(int(info.code)) for info in found),
        key=lambda c: (
            c.geodetic_crs.name != name,
            c.axis_info[0].direction != "east",
            "(" in c.name,
            abs(_utm_cm(c) - lon),
        ),
    )
    return utm, (f"auto: the UTM zone of the DEM's centre ({lon:.4f}, {lat:.4f}): {utm.name} ({utm.to_string()})")


def _utm_cm(crs: pyproj.CRS) -> float:
    params = {p.name: p.value for p in crs.coordinate_operation.params}
    return float(params.get("Longitude of natural origin", 0.0))


#: Metres per vertical unit, by the names GDAL band tags and PROJ units use.
_Z_UNITS = {
    "m": 1.0,
    "metre": 1.0,
    "meter": 1.0,
    "metres": 1.0,
    "meters": 1.0,
    "ft": 0.3048,
    "foot": 0.3048,
    "feet": 0.3048,
    "international foot": 0.3048,
    "ft_intl": 0.3048,
    "us survey foot": 1200.0 / 3937.0,
    "us-ft": 1200.0 / 3937.0,
    "ftus": 1200.0 / 3937.0,
    "us_ft": 1200.0 / 3937.0,
    "foot_us": 1200.0 / 3937.0,
    "us survey feet": 1200.0 / 3937.0,
    "dm": 0.1,
    "decimetre": 0.1,
    "decimeter": 0.1,
    "cm": 0.01,
    "centimetre": 0.01,
    "centimeter": 0.01,
    "mm": 0.001,
    "millimetre": 0.001,
    "millimeter": 0.001,
}


def vertical_unit_factor(unit: str, *, what: str = "the vertical unit") -> float:
    """Metres per ``unit`` ("m", "ft", "US survey foot", "cm", ...).

    Raises
    ------
    CRSError
        For a unit it does not know.
    """
    key = " ".join(str(unit).strip().lower().replace("'", "").split())
    if key in _Z_UNITS:
        return _Z_UNITS[key]
    raise CRSError(
        f"{what} {unit!r} is not a length unit cimtwin knows ({sorted(set(_Z_UNITS))}); "
        "say which it is, e.g. z_unit='ft' (or --z-unit ft)."
    )


def crs_label(value: Any) -> str:
    """A CRS as people name it: ``"CGCS2000 / 3-degree Gauss-Kruger CM 114E (EPSG:4547)"``.

    The authority's own name and code when the CRS is one it registers (also when a file spells it in
    another dialect, e.g. an ESRI .prj); a compound CRS without a code of its own as its parts joined
    by ``" + "``; the WKT only when nothing shorter identifies it (a custom projection).
    """
    crs = as_crs(value)
    parts = crs.sub_crs_list if crs.is_compound and crs.to_authority() is None else [crs]
    names = [_registered_name(part) for part in parts]
    return " + ".join(names) if all(names) else crs.to_wkt()


def _registered_name(crs: pyproj.CRS) -> str | None:
    """``"name (AUTHORITY:code)"`` with the authority's name for the code, or None for an unregistered CRS."""
    code = crs.to_authority()
    if code is None:
        # a WKT1 without AXIS (as GDAL writes EPSG:4547) differs from the registered CRS in axis order
        # only, which identification rejects: trust the code it declares when all else agrees
        declared = crs.to_json_dict().get("id") or {}
        code = (declared.get("authority"), str(declared.get("code")))
        if not declared or not _same_but_axes(crs, code):
            return None
    try:
        name = pyproj.CRS.from_authority(*code).name
    except pyproj.exceptions.CRSError:
        name = crs.name
    return f"{name} ({code[0]}:{code[1]})"


def _same_but_axes(crs: pyproj.CRS, code: tuple[str, str]) -> bool:
    """True when ``crs`` is the registered CRS ``code`` up to axis order (same datum and projection)."""
    try:
        registered = pyproj.CRS.from_authority(*code)
    except pyproj.exceptions.CRSError:
        return False
    if registered.equals(crs, ignore_axis_order=True):
        return True
    return bool(
        crs.is_projected
        and registered.is_projected
        and registered.geodetic_crs == crs.geodetic_crs
        and registered.coordinate_operation == crs.coordinate_operation
    )
