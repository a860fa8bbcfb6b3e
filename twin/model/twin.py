"""The unified spatial model: one projected CRS, one grid, the city's layers and derived grids."""

from __future__ import annotations

import copy
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
from affine import Affine

from ingest.crs import as_crs, require_projected, same_crs
from twin import _grids, _io
from twin.errors import CRSError, InputDataError
from twin.model.landuse import default_table, validate_table
from twin.model.meshes import FILE as MESH_FILE
from twin.model.meshes import load_meshes, mesh_summary, save_meshes

__all__ = ["Twin", "LAYERS", "DERIVED"]

FORMAT = "cimtwin.twin/1"

#: The named vector layers every twin knows, with the columns each must carry.
LAYERS: dict[str, tuple[str, ...]] = {
    "buildings": ("id", "base", "height", "source"),
    "rivers": ("width",),
    "lakes": ("level",),
    "landuse": ("class",),
    # Rooms of IFC buildings (IfcSpace plans): the building's id, storey, name, area [m2], base [m].
    "spaces": ("building_id", "storey", "name", "area", "base"),
    # Road centre lines: class (motorway, primary, residential, footway, ...) and name.
    "roads": ("class", "name"),
}

#: Derived grids and the layers each depends on (a change to one of these drops the cached grid).
DERIVED: dict[str, frozenset[str]] = {
    "building_mask": frozenset({"buildings"}),
    "burned_terrain": frozenset({"terrain", "buildings"}),
    "manning": frozenset({"landuse", "rivers", "lakes", "landuse_table"}),
    "impervious": frozenset({"landuse", "buildings", "rivers", "lakes", "landuse_table"}),
    "landuse_index": frozenset({"landuse", "rivers", "lakes", "landuse_table"}),
    "river_mask": frozenset({"rivers"}),
    "lake_mask": frozenset({"lakes"}),
}

_MIN_RIVER_WIDTH_CELLS = 1.0


class Twin:
    """A city twin: terrain on a grid, vector layers and the grids derived from them, in one CRS.

    Parameters
    ----------
    crs
        A projected CRS with metre axes (anything pyproj parses, e.g. ``"EPSG:4547"``).
    transform
        The grid's north-up affine transform (rasterio convention); cells must be square.
    terrain
        Ground elevation [m] on the grid, shape ``(ny, nx)``, finite everywhere.
    buildings, rivers, lakes, landuse, spaces, roads
        GeoDataFrames in ``crs`` (see :data:`LAYERS` for required columns).
    landuse_table
        Land-use classes to Manning's n, imperviousness and infiltration (default: the shipped table).
    vectors, rasters
        Further named layers: GeoDataFrames in ``crs`` and arrays on the grid.
    meta
        Free JSON-serialisable metadata (e.g. the ingest report).
    meshes
        IFC building id to the mesh of its envelope (:class:`ingest.ifc.BuildingMesh`, in ``crs``), for
        LoD2 export; saved as ``meshes.npz`` (see :mod:`twin.model.meshes`).

    Raises
    ------
    CRSError
        Geographic or non-metre CRS, or a layer in another CRS.
    InputDataError
        Terrain with NaN, a grid that is rotated or has non-square cells, a layer missing columns.
    """

    def __init__(
        self,
        crs: Any,
        transform: Affine,
        terrain: np.ndarray,
        *,
        buildings: gpd.GeoDataFrame | None = None,
        rivers: gpd.GeoDataFrame | None = None,
        lakes: gpd.GeoDataFrame | None = None,
        landuse: gpd.GeoDataFrame | None = None,
        spaces: gpd.GeoDataFrame | None = None,
        roads: gpd.GeoDataFrame | None = None,
        landuse_table: pd.DataFrame | None = None,
        vectors: Mapping[str, gpd.GeoDataFrame] | None = None,
        rasters: Mapping[str, np.ndarray] | None = None,
        meta: Mapping[str, Any] | None = None,
        meshes: Mapping[str, Any] | None = None,
    ):
        self._crs = require_projected(crs)
        transform = Affine(*tuple(transform)[:6])
        if transform.b != 0 or transform.d != 0:
            raise InputDataError(
                "The twin's grid must be north-up (no rotation); resample the DEM onto a north-up grid."
            )
        if not np.isclose(abs(transform.a), abs(transform.e), rtol=1e-9) or transform.e >= 0 or transform.a <= 0:
            raise InputDataError(
                f"The twin's grid needs square, north-up cells; got cell size {transform.a} x {transform.e}. "
                "Resample the DEM (e.g. resolution=2.0)."
            )
        self._transform = transform
        self._cache: dict[str, np.ndarray] = {}
        self._layers: dict[str, gpd.GeoDataFrame | None] = dict.fromkeys(LAYERS)
        self._vectors: dict[str, gpd.GeoDataFrame] = {}
        self._rasters: dict[str, np.ndarray] = {}
        self._terrain = self._check_grid(terrain, "terrain", allow_nan=False)
        self._landuse_table = (
            default_table()
            if landuse_table is None
            else validate_table(
                landuse_table.reset_index() if landuse_table.index.name == "class" else landuse_table,
                source="the land-use table",
            )
        )
        for name, gdf in (
            ("buildings", buildings),
            ("rivers", rivers),
            ("lakes", lakes),
            ("landuse", landuse),
            ("spaces", spaces),
            ("roads", roads),
        ):
            if gdf is not None:
                self.set_layer(name, gdf)
        for name, gdf in (vectors or {}).items():
            self.set_vector(name, gdf)
        for name, arr in (rasters or {}).items():
            self.set_raster(name, arr)
        self.meta: dict[str, Any] = dict(meta or {})
        #: IFC building id to its envelope mesh (only ids in ``buildings`` are saved).
        self.meshes: dict[str, Any] = dict(meshes or {})
        #: The folder this twin was loaded from (None for a twin built in memory).
        self.path: Path | None = None

    # ------------------------------------------------------------------ grid
    @property
    def crs(self) -> pyproj.CRS:
        """The twin's projected CRS."""
        return self._crs

    @property
    def transform(self) -> Affine:
        """North-up affine transform of the grid."""
        return self._transform

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape ``(ny, nx)``."""
        return self._terrain.shape

    @property
    def cell_size(self) -> float:
        """Cell size in metres."""
        return float(self._transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the grid in the twin's CRS."""
        ny, nx = self.shape
        t = self._transform
        return (t.c, t.f + ny * t.e, t.c + nx * t.a, t.f)

    def index(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells holding points ``(x, y)`` (may fall outside the grid)."""
        col, row = ~self._transform @ (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)

    def xy(self, row: np.ndarray | int, col: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of cell centres."""
        x, y = self._transform @ (np.asarray(col) + 0.5, np.asarray(row) + 0.5)
        return np.asarray(x), np.asarray(y)

    # ---------------------------------------------------------------- layers
    @property
    def terrain(self) -> np.ndarray:
        """Ground elevation [m], float64 ``(ny, nx)`` (read-only view; use :meth:`set_terrain`)."""
        view = self._terrain.view()
        view.flags.writeable = False
        return view

    def set_terrain(self, terrain: np.ndarray) -> None:
        """Replace the terrain (same shape); drops derived grids that depend on it."""
        arr = self._check_grid(terrain, "terrain", allow_nan=False)
        if arr.shape != self._terrain.shape:
            raise InputDataError(f"New terrain has shape {arr.shape}, the grid is {self._terrain.shape}.")
        self._terrain = arr
        self._invalidate("terrain")

    buildings = property(
        lambda self: self._layers["buildings"],
        lambda self, v: self.set_layer("buildings", v),
        doc="Buildings: footprints with ``id``, ``base`` [m], ``height`` [m], ``source`` ('gis'|'ifc').",
    )
    rivers = property(
        lambda self: self._layers["rivers"],
        lambda self, v: self.set_layer("rivers", v),
        doc="River centre lines with ``width`` [m] (and ``depth`` where known).",
    )
    lakes = property(
        lambda self: self._layers["lakes"],
        lambda self, v: self.set_layer("lakes", v),
        doc="Lake polygons with ``level`` [m] (and ``bed`` where known).",
    )
    landuse = property(
        lambda self: self._layers["landuse"],
        lambda self, v: self.set_layer("landuse", v),
        doc="Land-use polygons with a ``class`` column.",
    )
    spaces = property(
        lambda self: self._layers["spaces"],
        lambda self, v: self.set_layer("spaces", v),
        doc="Rooms of IFC buildings: ``building_id``, ``storey``, ``name``, ``area`` [m2], ``base`` [m].",
    )
    roads = property(
        lambda self: self._layers["roads"],
        lambda self, v: self.set_layer("roads", v),
        doc="Road centre lines with ``class`` (motorway, primary, residential, footway, ...) and ``name``.",
    )

    @property
    def landuse_table(self) -> pd.DataFrame:
        """Land-use classes (index) to ``manning``, ``impervious`` and infiltration parameters."""
        return self._landuse_table.copy()

    @landuse_table.setter
    def landuse_table(self, table: pd.DataFrame) -> None:
        self._landuse_table = validate_table(
            table.reset_index() if table.index.name == "class" else table, source="the land-use table"
        )
        self._invalidate("landuse_table")

    def set_layer(self, name: str, gdf: gpd.GeoDataFrame | None) -> None:
        """Set one of the named layers (:data:`LAYERS`); ``None`` removes it."""
        if name not in LAYERS:
            raise KeyError(f"{name!r} is not a named layer ({sorted(LAYERS)}); use set_vector for others.")
        if gdf is not None:
            gdf = self._check_vector(gdf, name)
            missing = [c for c in LAYERS[name] if c not in gdf.columns]
            if missing:
                raise InputDataError(
                    f"Layer {name!r} lacks columns {missing}; ingest adds them (e.g. base from the DEM, source='gis')."
                )
            if name == "buildings":
                gdf = self._check_buildings(gdf)
        self._layers[name] = gdf
        self._invalidate(name)

    @property
    def vectors(self) -> dict[str, gpd.GeoDataFrame]:
        """Further named vector layers (a copy of the mapping)."""
        return dict(self._vectors)

    @property
    def rasters(self) -> dict[str, np.ndarray]:
        """Further named rasters on the grid (a copy of the mapping)."""
        return dict(self._rasters)

    def set_vector(self, name: str, gdf: gpd.GeoDataFrame | None) -> None:
        """Add, replace (or with ``None`` remove) a free-named vector layer."""
        self.check_name(name)
        if gdf is None:
            self._vectors.pop(name, None)
        else:
            self._vectors[name] = self._check_vector(gdf, name)

    def set_raster(self, name: str, array: np.ndarray | None) -> None:
        """Add, replace (or with ``None`` remove) a free-named raster on the twin's grid."""
        self.check_name(name)
        if array is None:
            self._rasters.pop(name, None)
            return
        arr = self._check_grid(array, name, allow_nan=True, dtype=None)
        if arr.shape != self.shape:
            raise InputDataError(
                f"Raster {name!r} has shape {arr.shape}; the twin's grid is {self.shape}. "
                "Resample it onto the grid first."
            )
        self._rasters[name] = arr

    def add_ifc(self, paths: Any, *, overlap: float = 0.5, workers: int = 2, **read_kwargs: Any):
        """Import IFC building models; each replaces the GIS footprints it covers by ``overlap`` or more.

        See :func:`twin.model.bim.add_ifc` for the options (``origin``, ``rotation``, ``source_crs`` for files
        without georeferencing, ``kernel``, ``holes``) and the returned report.
        """
        from twin.model.bim import add_ifc

        return add_ifc(self, paths, overlap=overlap, workers=workers, **read_kwargs)

    def copy(self) -> Twin:
        """A copy that can be edited without changing this twin.

        Layers, rasters, the land-use table and ``meta`` are the copy's own (setting or removing one on
        either twin never shows on the other); the arrays and frames themselves are shared, which is
        safe because the twin never writes them in place (derived grids are read-only, setters replace
        and validate a copy). Derived grids already computed are shared too and dropped, on the copy
        alone, when a layer they depend on changes there. ``path`` is kept: it names where the
        original was loaded from.

        Returns
        -------
        Twin
            The copy.
        """
        out = copy.copy(self)
        out._cache = dict(self._cache)
        out._layers = dict(self._layers)
        out._vectors = dict(self._vectors)
        out._rasters = dict(self._rasters)
        out.meta = copy.deepcopy(self.meta)
        out.meshes = dict(self.meshes)
        return out

    # --------------------------------------------------------------- derived
    def derived(self, name: str) -> np.ndarray:
        """A derived grid by name (see :data:`DERIVED`), computed once and cached until a layer it depends on changes."""
        if name not in DERIVED:
            raise KeyError(f"Unknown derived grid {name!r}; known: {sorted(DERIVED)}")
        if name not in self._cache:
            arr = getattr(self, f"_compute_{name}")()
            arr.flags.writeable = False
            self._cache[name] = arr
        return self._cache[name]

    @property
    def building_mask(self) -> np.ndarray:
        """uint8: 1 where a cell centre lies inside a building footprint."""
        return self.derived("building_mask")

    @property
    def burned_terrain(self) -> np.ndarray:
        """Terrain with building cells raised to each building's roof (base + height)."""
        return self.derived("burned_terrain")

    @property
    def manning(self) -> np.ndarray:
        """Manning's n per cell from land use (river and lake cells take class 'water')."""
        return self.derived("manning")

    @property
    def impervious(self) -> np.ndarray:
        """Impervious fraction per cell (1 on buildings, rivers and lakes)."""
        return self.derived("impervious")

    @property
    def river_mask(self) -> np.ndarray:
        """uint8: 1 on river cells (centre lines buffered to their width; at least one cell wide)."""
        return self.derived("river_mask")

    @property
    def lake_mask(self) -> np.ndarray:
        """uint8: 1 on lake cells."""
        return self.derived("lake_mask")

    def landuse_param(self, column: str) -> np.ndarray:
        """Any land-use table column (e.g. ``ks_mm_h``) as a grid, by each cell's class."""
        table = self._landuse_table
        if column not in table.columns:
            raise KeyError(f"Land-use table has no column {column!r}; columns: {list(table.columns)}")
        return table[column].to_numpy()[self.derived("landuse_index")]

    def _compute_building_mask(self) -> np.ndarray:
        b = self.buildings
        return _grids.mask([] if b is None else b.geometry, self.shape, self._transform)

    def _compute_burned_terrain(self) -> np.ndarray:
        out = self._terrain.copy()
        b = self.buildings
        if b is not None and len(b):
            roof = _grids.burn(
                b.geometry, (b["base"] + b["height"]).to_numpy(float), self.shape, self._transform, fill=-np.inf
            )
            np.maximum(out, roof, out=out)
        return out

    def _compute_landuse_index(self) -> np.ndarray:
        table = self._landuse_table
        classes = list(table.index)
        idx = np.full(self.shape, classes.index("default"), dtype=np.int16)
        lu = self.landuse
        if lu is not None and len(lu):
            known = lu["class"].astype(str).str.strip().str.lower()
            codes = np.array([classes.index(c) if c in classes else classes.index("default") for c in known])
            unknown = sorted(set(known) - set(classes))
            if unknown:
                warnings.warn(
                    f"Land-use classes {unknown} are not in the land-use table; they take the "
                    "'default' row. Add them to the table to set their values.",
                    stacklevel=3,
                )
            burned = _grids.burn(lu.geometry, codes + 1, self.shape, self._transform, fill=0, dtype="int16")
            idx = np.where(burned > 0, burned - 1, idx).astype(np.int16)
        if "water" in classes:
            water = (self.river_mask > 0) | (self.lake_mask > 0)
            idx[water] = classes.index("water")
        return idx

    def _compute_manning(self) -> np.ndarray:
        return self.landuse_param("manning")

    def _compute_impervious(self) -> np.ndarray:
        imp = self.landuse_param("impervious").copy()
        imp[self.building_mask > 0] = 1.0
        imp[(self.river_mask > 0) | (self.lake_mask > 0)] = 1.0
        return imp

    def _compute_river_mask(self) -> np.ndarray:
        r = self.rivers
        if r is None or not len(r):
            return np.zeros(self.shape, np.uint8)
        polys = _grids.buffered_lines(r.geometry, r["width"].to_numpy(float), _MIN_RIVER_WIDTH_CELLS * self.cell_size)
        return _grids.mask(polys, self.shape, self._transform, all_touched=True)

    def _compute_lake_mask(self) -> np.ndarray:
        lk = self.lakes
        return _grids.mask([] if lk is None else lk.geometry, self.shape, self._transform)

    def _invalidate(self, layer: str) -> None:
        for name, deps in DERIVED.items():
            if layer in deps:
                self._cache.pop(name, None)

    # ------------------------------------------------------------ validation
    def _check_grid(self, array: np.ndarray, name: str, *, allow_nan: bool, dtype: Any = np.float64) -> np.ndarray:
        arr = np.array(array, dtype=dtype, copy=True)
        if arr.ndim != 2:
            raise InputDataError(f"{name} must be a 2D grid, got shape {arr.shape}.")
        if not allow_nan and np.issubdtype(arr.dtype, np.floating):
            bad = ~np.isfinite(arr)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise InputDataError(
                    f"{name} has {int(bad.sum())} NaN/nodata cells (first at row {r}, col {c}). Fill holes "
                    "before building the twin (ingest fills small holes; for large ones clip the extent "
                    "or supply a complete DEM)."
                )
        return arr

    def _check_vector(self, gdf: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise InputDataError(f"Layer {name!r} must be a GeoDataFrame, got {type(gdf).__name__}.")
        if gdf.crs is None:
            raise CRSError(f"Layer {name!r} has no CRS; set it (gdf.set_crs(...)) or read it through ingest.")
        if not same_crs(gdf.crs, self._crs):
            raise CRSError(
                f"Layer {name!r} is in {as_crs(gdf.crs).to_string()}, the twin in "
                f"{self._crs.to_string()}; reproject it first (gdf.to_crs(twin.crs)) or use ingest."
            )
        return gdf.reset_index(drop=True).copy()

    @staticmethod
    def _check_buildings(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        for col in ("base", "height"):
            vals = pd.to_numeric(gdf[col], errors="coerce")
            if vals.isna().any():
                raise InputDataError(
                    f"Buildings have {int(vals.isna().sum())} missing or non-numeric {col!r} values; "
                    "ingest fills them (base from the DEM, height from storeys or a default)."
                )
            gdf[col] = vals.astype(float)
        if (gdf["height"] < 0).any():
            raise InputDataError("Buildings have negative heights; fix the height column.")
        if gdf["id"].astype(str).duplicated().any():
            raise InputDataError(
                "Building ids must be unique; duplicate ids: "
                f"{sorted(gdf['id'][gdf['id'].astype(str).duplicated()].astype(str))[:5]}"
            )
        return gdf

    @staticmethod
    def check_name(name: str) -> None:
        """Raise InputDataError unless ``name`` can name a free layer or raster (it becomes a file name).

        Callers that read files named by the user check the names first, before any work.
        """
        if not name or not name.replace("_", "").isalnum() or name in LAYERS or name == "terrain":
            # the name becomes a file name in the twin folder: nothing that could leave it (../, /)
            raise InputDataError(
                f"Layer and raster names must be letters, digits and '_' and not a reserved name "
                f"({sorted(LAYERS)}, 'terrain'); got {name!r}. Name it e.g. rain "
                "(--raster rain=rain.tif)."
            )

    # ------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the twin as a folder, atomically: ``twin.json``, ``terrain.tif``, ``layers.gpkg``, ``rasters/``
        (and ``meshes.npz`` with the IFC buildings' envelope meshes).

        The folder appears under its name only when complete; an existing twin there is replaced in
        one rename, so a crash mid-save leaves the previous twin loadable. Only a new or empty folder
        or a folder cimtwin wrote is replaced (see :func:`twin._io.check_out`); ``overwrite`` also
        replaces a cimtwin folder of another kind (a result).
        """
        path = Path(path)
        with _io.atomic_dir(path, "twin", overwrite=overwrite) as tmp:
            _io.write_geotiff(tmp / "terrain.tif", self._terrain, self._transform, self._crs)
            layers = {}
            for name, gdf in [*self._layers.items(), *((f"x_{k}", v) for k, v in self._vectors.items())]:
                if gdf is None:
                    continue
                gdf.to_file(tmp / "layers.gpkg", layer=name, driver="GPKG", engine="pyogrio")
                layers[name] = {
                    "rows": int(len(gdf)),
                    "columns": [str(c) for c in gdf.columns],
                    "dtypes": {c: str(t) for c, t in gdf.dtypes.items()},
                }
            rasters = {}
            if self._rasters:
                (tmp / "rasters").mkdir()
            for name, arr in self._rasters.items():
                _io.write_geotiff(tmp / "rasters" / f"{name}.tif", arr, self._transform, self._crs)
                rasters[name] = str(arr.dtype)
            self._landuse_table.reset_index().to_csv(tmp / "landuse.csv", index=False, float_format="%.17g")
            meshes = self._saved_meshes()
            if meshes:
                save_meshes(tmp / MESH_FILE, meshes)
            manifest = {
                "format": FORMAT,
                "crs": self._crs.to_wkt(),
                "crs_name": self._crs.to_string(),
                "transform": list(self._transform)[:6],
                "shape": list(self.shape),
                "layers": layers,
                "rasters": rasters,
                "meta": self.meta,
                "files": {p.relative_to(tmp).as_posix(): _io.sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()},
            }
            _io.write_json(tmp / "twin.json", manifest)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Twin:
        """Read a twin folder written by :meth:`save`; checksums are verified.

        Raises
        ------
        InputDataError
            Not a twin folder, or a file is missing or altered.
        """
        path = Path(path)
        if _io.recover_dir(path):
            warnings.warn(f"{path} was restored from the previous save (a save was interrupted).", stacklevel=2)
        manifest_path = path / "twin.json"
        if not path.exists() and _io.copies_aside(path):
            raise InputDataError(
                f"{path} does not exist; an interrupted save left copies beside it "
                f"({', '.join(p.name for p in _io.copies_aside(path))}), but none passes its "
                "checksums. Rebuild the twin with `twin ingest`, or restore a backup."
            )
        if not manifest_path.is_file():
            raise InputDataError(
                f"{path} is not a twin folder (no twin.json). Build one with `twin ingest` or Twin.save()."
            )
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputDataError(f"{manifest_path} is not valid JSON ({exc}); the twin folder is damaged.") from None
        if manifest.get("format") != FORMAT:
            raise InputDataError(f"{path} holds format {manifest.get('format')!r}; this cimtwin reads {FORMAT!r}.")
        for rel, digest in manifest["files"].items():
            f = path / rel
            if not f.is_file() or _io.sha256(f) != digest:
                raise InputDataError(
                    f"{f} is missing or differs from when the twin was saved; the twin folder "
                    "is damaged. Rebuild it with `twin ingest` or restore a backup."
                )
        with rasterio.open(path / "terrain.tif") as src:
            terrain = src.read(1)
        kwargs: dict[str, Any] = {}
        vectors = {}
        for name, info in manifest["layers"].items():
            gdf = gpd.read_file(path / "layers.gpkg", layer=name, engine="pyogrio")
            gdf = _restore_dtypes(gdf, info["columns"], info["dtypes"])
            if name.startswith("x_"):
                vectors[name[2:]] = gdf
            else:
                kwargs[name] = gdf
        rasters = {}
        for name in manifest["rasters"]:
            with rasterio.open(path / "rasters" / f"{name}.tif") as src:
                rasters[name] = src.read(1)
        table = pd.read_csv(path / "landuse.csv")
        if (path / MESH_FILE).is_file():
            kwargs["meshes"] = load_meshes(path / MESH_FILE)
        twin = cls(
            manifest["crs"],
            Affine(*manifest["transform"]),
            terrain,
            landuse_table=table,
            vectors=vectors,
            rasters=rasters,
            meta=manifest.get("meta"),
            **kwargs,
        )
        twin.path = path.resolve()
        return twin

    # ---------------------------------------------------------------- report
    def summary(self) -> dict[str, Any]:
        """What the twin holds: CRS, grid, layers with counts and extents (what ``twin info`` prints)."""
        ny, nx = self.shape
        out: dict[str, Any] = {
            "crs": self._crs.to_string(),
            "crs_name": self._crs.name,
            "grid": {
                "rows": ny,
                "cols": nx,
                "cell_size_m": self.cell_size,
                "bounds": list(self.bounds),
                "area_km2": ny * nx * self.cell_size**2 / 1e6,
            },
            "terrain": {
                "min": float(self._terrain.min()),
                "max": float(self._terrain.max()),
                "mean": float(self._terrain.mean()),
            },
            "layers": {},
        }
        for name, gdf in [*self._layers.items(), *self._vectors.items()]:
            if gdf is None:
                continue
            entry: dict[str, Any] = {"features": int(len(gdf))}
            if len(gdf):
                entry["bounds"] = [float(v) for v in gdf.total_bounds]
            if name == "buildings" and len(gdf):
                entry["by_source"] = {str(k): int(v) for k, v in gdf["source"].value_counts().items()}
                entry["footprint_km2"] = float(gdf.geometry.area.sum() / 1e6)
                entry["height_m"] = {"min": float(gdf["height"].min()), "max": float(gdf["height"].max())}
            if name in ("rivers", "roads") and len(gdf):
                entry["length_km"] = float(gdf.geometry.length.sum() / 1e3)
            if name in ("lakes", "landuse") and len(gdf):
                entry["area_km2"] = float(gdf.geometry.area.sum() / 1e6)
            out["layers"][name] = entry
        if self._rasters:
            out["rasters"] = {k: str(v.dtype) for k, v in self._rasters.items()}
        if self._saved_meshes():
            out["meshes"] = mesh_summary(self._saved_meshes())
        if self.meta.get("ingest_report"):
            out["ingest_report"] = self.meta["ingest_report"]
        if self.meta.get("ifc_imports"):
            out["ifc_imports"] = self.meta["ifc_imports"]
        return out

    def _saved_meshes(self) -> dict[str, Any]:
        """The meshes of buildings still in the twin (those of removed or replaced ones are not kept)."""
        b = self._layers["buildings"]
        if not self.meshes or b is None:
            return {}
        ids = set(b["id"].astype(str))
        return {k: v for k, v in self.meshes.items() if k in ids}

    def __repr__(self) -> str:
        ny, nx = self.shape
        layers = ", ".join(f"{k}={len(v)}" for k, v in self._layers.items() if v is not None)
        return f"<Twin {self._crs.to_string()} {ny}x{nx} @ {self.cell_size:g} m; {layers or 'no layers'}>"


def _restore_dtypes(gdf: gpd.GeoDataFrame, columns: list[str], dtypes: dict[str, str]) -> gpd.GeoDataFrame:
    """GeoPackage stores fewer types than pandas has; put back the dtypes the layer had when saved."""
    for col, dt in dtypes.items():
        if col in gdf.columns and col != gdf.geometry.name and str(gdf[col].dtype) != dt:
            try:
                gdf[col] = gdf[col].astype(dt)
            except (TypeError, ValueError):
                pass
    return gdf[[c for c in columns if c in gdf.columns]]
