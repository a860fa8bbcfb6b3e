"""GIS ingest speed and memory: cimtwin's readers against plain geopandas and rasterio.

Cases, each run in a fresh subprocess that reports its own wall time (imports excluded) and peak
resident memory (``getrusage(RUSAGE_SELF).ru_maxrss``, which counts what GDAL allocates too):

* **buildings**: N footprints (default 1 million rotated rectangles around Guangzhou) in EPSG:4326,
  as GeoParquet and as GeoPackage, into EPSG:4547.
  Reference: ``geopandas.read_file(gpkg).to_crs(...)`` / ``geopandas.read_parquet(pq).to_crs(...)``.
  cimtwin: ``ingest.vector.read_vector(..., bounds=twin extent, kind="polygon")``, which also checks
  geometry types, repairs invalid footprints and keeps those inside the extent; and the whole building
  layer of ``from_files`` on top (heights, ids, base elevation from the DEM under every footprint).
* **dem**: a D x D float32 DEM (default 10,000 x 10,000, 1 arc-second, EPSG:4326) onto a 30 m
  EPSG:4547 grid. Reference: ``rasterio.warp.reproject(rasterio.band(src, 1), float64 array)`` onto
  the grid ``calculate_default_transform`` gives (bilinear, GDAL's defaults otherwise). cimtwin:
  ``ingest.raster.read_dem(path, crs="EPSG:4547", resolution=30)``, which also trims the lon/lat
  box's no-data corners, looks for holes and reports.

Every child imports the same modules first, so the memory figures compare the work, not the imports
(the import floor is reported separately).

Usage::

    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_ingest.py [--buildings 1000000] [--dem 10000]
                                                                   [--workdir DIR] [--repeat 1]

Prints a Markdown table for benchmarks/RESULTS.md (section ``## GIS ingest``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CRS = "EPSG:4547"
LON0, LAT0 = 113.30, 23.10  # Guangzhou
BUILDING_BOX_DEG = 0.30  # footprints spread over 0.3 x 0.3 degrees (about 30 x 33 km)
DEM_RES_DEG = 1.0 / 3600.0  # 1 arc-second, about 28 x 31 m here
GRID_M = 30.0


# ------------------------------------------------------------------------------------------ data


def make_buildings(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """N rotated rectangles (8-40 m sides) in EPSG:4326, written as GeoParquet and GeoPackage."""
    import geopandas as gpd
    import shapely

    pq, gpkg = folder / f"buildings_{n}.parquet", folder / f"buildings_{n}.gpkg"
    if pq.exists() and gpkg.exists():
        return pq, gpkg
    rng = np.random.default_rng(seed)
    cx = LON0 + (rng.random(n) - 0.5) * BUILDING_BOX_DEG
    cy = LAT0 + (rng.random(n) - 0.5) * BUILDING_BOX_DEG
    w, h = rng.uniform(8, 40, n), rng.uniform(8, 40, n)
    angle = rng.uniform(0, np.pi, n)
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]])
    dx = corners[None, :, 0] * w[:, None]
    dy = corners[None, :, 1] * h[:, None]
    rx = dx * np.cos(angle)[:, None] - dy * np.sin(angle)[:, None]
    ry = dx * np.sin(angle)[:, None] + dy * np.cos(angle)[:, None]
    m_per_deg_lat = 110_574.0
    m_per_deg_lon = 111_320.0 * np.cos(np.radians(LAT0))
    coords = np.stack([cx[:, None] + rx / m_per_deg_lon, cy[:, None] + ry / m_per_deg_lat], axis=-1)
    geoms = shapely.polygons(coords)
    height = np.where(rng.random(n) < 0.6, np.round(rng.uniform(3, 120, n), 1), np.nan)
    storeys = np.where(rng.random(n) < 0.5, rng.integers(1, 40, n), -1)
    gdf = gpd.GeoDataFrame(
        {"id": np.char.add("B", np.arange(n).astype(str)), "height": height, "storeys": storeys},
        geometry=geoms,
        crs="EPSG:4326",
    )
    gdf.to_parquet(pq)
    gdf.to_file(gpkg, layer="buildings", engine="pyogrio", use_arrow=True)
    return pq, gpkg


def make_dem(folder: Path, size: int) -> Path:
    """A size x size float32 DEM in EPSG:4326 at 1 arc-second around Guangzhou, tiled, uncompressed."""
    import rasterio
    from affine import Affine

    path = folder / f"dem_{size}.tif"
    if path.exists():
        return path
    half = size * DEM_RES_DEG / 2
    transform = Affine(DEM_RES_DEG, 0, LON0 - half, 0, -DEM_RES_DEG, LAT0 + half)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=transform,
        nodata=-9999.0,
        tiled=True,
        blockxsize=256,
        blockysize=256,
    )
    cols = np.arange(size, dtype=np.float64)
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, 1024):
            rows = np.arange(r0, min(r0 + 1024, size), dtype=np.float64)[:, None]
            z = (
                40
                + 25 * np.sin(cols / 700.0) * np.cos(rows / 900.0)
                + 0.002 * (rows + cols)
                + 3 * np.sin(cols / 37.0 + rows / 53.0)
            )
            dst.write(z.astype(np.float32), 1, window=rasterio.windows.Window(0, r0, size, len(rows)))
    return path


# ------------------------------------------------------------------------------------------ cases


def _imports() -> None:
    """The same modules in every child, so their memory floor is the same."""
    import geopandas  # noqa: F401
    import pyproj  # noqa: F401
    import rasterio  # noqa: F401
    import rasterio.warp  # noqa: F401
    import shapely  # noqa: F401

    import ingest.raster  # noqa: F401
    import ingest.vector  # noqa: F401
    import twin.model.build  # noqa: F401


def _extent_4547(lon_half: float, lat_half: float) -> tuple[float, float, float, float]:
    import rasterio.warp

    return rasterio.warp.transform_bounds(
        "EPSG:4326", CRS, LON0 - lon_half, LAT0 - lat_half, LON0 + lon_half, LAT0 + lat_half, densify_pts=21
    )


def case(name: str, path: str, extra: str) -> dict:
    """Run one case in this process (called in the child)."""
    import resource

    _imports()
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    info: dict = {}
    if name == "ref_vector":
        import geopandas as gpd

        gdf = gpd.read_parquet(path) if path.endswith(".parquet") else gpd.read_file(path)
        gdf = gdf.to_crs(CRS)
        info["features"] = len(gdf)
    elif name == "vector":
        from ingest.vector import read_vector

        # the twin's extent: a 1 km margin around the footprints' box
        left, bottom, right, top = _extent_4547(BUILDING_BOX_DEG / 2, BUILDING_BOX_DEG / 2)
        rep: dict = {}
        gdf = read_vector(
            path,
            CRS,
            bounds=(left - 1000, bottom - 1000, right + 1000, top + 1000),
            kind="polygon",
            name="buildings",
            report=rep,
        )
        info["features"] = len(gdf)
        info["report"] = rep
    elif name == "buildings":
        from twin.model.build import from_files

        tw = from_files(extra, buildings=path, crs=CRS)
        info["features"] = len(tw.buildings)
        info["report"] = tw.meta["ingest_report"]["buildings"]
    elif name == "ref_dem":
        import rasterio
        import rasterio.warp
        from rasterio.enums import Resampling

        with rasterio.open(path) as src:
            transform, width, height = rasterio.warp.calculate_default_transform(
                src.crs, CRS, src.width, src.height, *src.bounds, resolution=GRID_M
            )
            out = np.full((height, width), np.nan)
            rasterio.warp.reproject(
                rasterio.band(src, 1),
                out,
                src_nodata=src.nodata,
                dst_transform=transform,
                dst_crs=CRS,
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
        info["shape"] = list(out.shape)
        info["nan_cells"] = int(np.isnan(out).sum())
    elif name == "dem":
        from ingest.raster import read_dem

        r = read_dem(path, crs=CRS, resolution=GRID_M)
        info["shape"] = list(r.shape)
        info["report"] = r.report
    else:
        raise SystemExit(f"unknown case {name}")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"case": name, "seconds": seconds, "peak_mb": peak / 1024, "floor_mb": floor / 1024, **info}


def run_child(name: str, path: Path | str, extra: str = "") -> dict:
    """One case (or data generation) in a fresh interpreter; its last stdout line is JSON.

    The parent never holds the data: Linux carries a process's peak RSS across fork and exec, so a
    child of a big parent would report the parent's memory as its own.
    """
    env = dict(os.environ, NUMBA_NUM_THREADS=os.environ.get("NUMBA_NUM_THREADS", "2"))
    res = subprocess.run(
        [sys.executable, __file__, "--child", name, str(path), extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if res.returncode:
        raise RuntimeError(f"case {name} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    out = dict(runs[0])
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["peak_mb"] = statistics.median(r["peak_mb"] for r in runs)
    out["all_seconds"] = [round(r["seconds"], 2) for r in runs]
    return out


def _interleaved(cases: list[tuple[str, Path | str, str]], repeat: int) -> list[dict]:
    """Medians of ``repeat`` rounds, each round running every case once, so that a change in the shared
    machine's load between rounds hits the reference and cimtwin alike."""
    runs: list[list[dict]] = [[] for _ in cases]
    for _ in range(repeat):
        for i, (name, path, extra) in enumerate(cases):
            runs[i].append(run_child(name, path, extra))
    return [_median(r) for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--dem", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None, help="Keep generated inputs here (reused).")
    parser.add_argument("--repeat", type=int, default=1, help="Runs per case (medians reported).")
    parser.add_argument("--only", choices=["buildings", "dem"], default=None)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, path, extra = args.child
        if name == "make_buildings":
            print(json.dumps([str(p) for p in make_buildings(Path(path), int(extra))]))
        elif name == "make_dem":
            print(json.dumps(str(make_dem(Path(path), int(extra)))))
        else:
            print(json.dumps(case(name, path, extra), default=str))
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    rows = []
    if args.only in (None, "buildings"):
        t = time.perf_counter()
        pq, gpkg = run_child("make_buildings", work, str(args.buildings))
        # a 30 m DEM under the footprints for the whole building layer (base elevation per footprint)
        small = run_child("make_dem", work, "1200")
        print(f"generated buildings in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        for label, path in (("GeoParquet", pq), ("GeoPackage", gpkg)):
            ref, ours, full = _interleaved(
                [("ref_vector", path, ""), ("vector", path, ""), ("buildings", path, str(small))], args.repeat
            )
            rows.append((f"{args.buildings:,} footprints, {label}, 4326 -> 4547", ref, ours, full))
    if args.only in (None, "dem"):
        t = time.perf_counter()
        dem = run_child("make_dem", work, str(args.dem))
        print(f"generated DEM in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        ref, ours = _interleaved([("ref_dem", dem, ""), ("dem", dem, "")], args.repeat)
        rows.append((f"{args.dem:,} x {args.dem:,} DEM, 4326 -> 4547 at {GRID_M:g} m", ref, ours, None))
    load_after = os.getloadavg()
    print(
        f"\nMachine: {os.cpu_count()} cores ({platform.machine()}); load average {load[0]:.1f} before, "
        f"{load_after[0]:.1f} after\n"
    )
    print(
        "| Case | Reference (s) | cimtwin (s) | Time ratio | Reference peak (MB) | cimtwin peak (MB) | Memory ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, ref, ours, full in rows:
        print(
            f"| {label} | {ref['seconds']:.2f} | {ours['seconds']:.2f} | {ours['seconds'] / ref['seconds']:.2f}x | "
            f"{ref['peak_mb']:.0f} | {ours['peak_mb']:.0f} | {ours['peak_mb'] / ref['peak_mb']:.2f}x |"
        )
        if full is not None:
            print(
                f"| ... whole building layer of `from_files` | {ref['seconds']:.2f} | {full['seconds']:.2f} | "
                f"{full['seconds'] / ref['seconds']:.2f}x | {ref['peak_mb']:.0f} | {full['peak_mb']:.0f} | "
                f"{full['peak_mb'] / ref['peak_mb']:.2f}x |"
            )
    print(f"\nImport floor of every child: {rows[0][1]['floor_mb']:.0f} MB.")
    print("\nDetails:")
    for _, ref, ours, full in rows:
        for r in (ref, ours, full):
            if r is not None:
                print(json.dumps(r, default=str)[:600])


if __name__ == "__main__":
    main()
