"""Scene page size and time to first frame: cimtwin's compact page against plain pydeck.

For a synthetic city of N buildings on a 2000 x 2000 grid (4 million cells) with a flood
result, builds the scene and writes

* cimtwin's page: ``Scene.to_html`` (binary deflated vertices, palette PNGs, no CDN), and
* the reference: the same layers as a plain pydeck ``Deck`` written with
  ``Deck.to_html(offline=True)`` (indented JSON records, the same PNGs as data URIs),

then opens each in headless Chromium (no network, SwiftShader WebGL) and takes the
time from navigation start to the first frame with every layer loaded, as the page
measures it (``performance.now()``).

Usage::

    .venv/bin/python benchmarks/bench_scene.py [--buildings 10000 100000] [--grid 2000]
                                               [--out DIR] [--results benchmarks/RESULTS.md]

Appends (or replaces) the ``## Scenes`` section of RESULTS.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from _results import replace_section
from affine import Affine

from twin.model.twin import Twin
from twin.scene.city import city_scene

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives in the checkout, not installed
from tools.browser import chromium_path, open_page  # noqa: E402
from twin.scene.page import instrument_pydeck_html

CRS = "EPSG:4547"


@dataclass
class SyntheticFlood:
    """The attributes of a flood result that scenes read."""

    max_depth: np.ndarray
    hazard: np.ndarray
    arrival_time: np.ndarray
    buildings: gpd.GeoDataFrame
    depth_frames: np.ndarray | None = None
    frame_times: np.ndarray | None = None


def _blobs(rng, size: int, count: int, scale: tuple[float, float]) -> np.ndarray:
    """Sum of ``count`` separable Gaussian bumps on an n x n grid (cheap smooth field)."""
    axis = np.arange(size, dtype=np.float32)
    field = np.zeros((size, size), dtype=np.float32)
    for _ in range(count):
        cy, cx = rng.uniform(0, size, 2)
        sy, sx = rng.uniform(*scale, 2)
        amp = rng.uniform(0.3, 1.0)
        gy = np.exp(-0.5 * ((axis - cy) / sy) ** 2)
        gx = np.exp(-0.5 * ((axis - cx) / sx) ** 2)
        field += amp * np.outer(gy, gx)
    return field


def _footprints(rng, n: int, extent: float, x0: float, y0: float) -> np.ndarray:
    """Rectangles, L shapes and 12-gons on a jittered grid, randomly rotated."""
    k = math.ceil(math.sqrt(n))
    spacing = extent / k
    idx = np.arange(n)
    cx = x0 + (idx % k + 0.5) * spacing + rng.uniform(-0.1, 0.1, n) * spacing
    cy = y0 - (idx // k + 0.5) * spacing + rng.uniform(-0.1, 0.1, n) * spacing
    w = rng.uniform(0.35, 0.7, n) * spacing
    h = rng.uniform(0.35, 0.7, n) * spacing
    angle = rng.uniform(0, np.pi / 2, n)
    kind = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    rect = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    ell = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0], [0, 0], [0, 0.5], [-0.5, 0.5]])
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    gon = 0.5 * np.column_stack([np.cos(t), np.sin(t)])
    geoms = np.empty(n, dtype=object)
    for shape_id, unit in enumerate((rect, ell, gon)):
        sel = np.flatnonzero(kind == shape_id)
        local = unit[None, :, :] * np.stack([w[sel], h[sel]], axis=1)[:, None, :]
        c, s = np.cos(angle[sel])[:, None], np.sin(angle[sel])[:, None]
        x = cx[sel, None] + local[..., 0] * c - local[..., 1] * s
        y = cy[sel, None] + local[..., 0] * s + local[..., 1] * c
        geoms[sel] = shapely.polygons(np.stack([x, y], axis=-1))
    return geoms


def synthetic_city(n_buildings: int, size: int = 2000, cell: float = 2.0, seed: int = 0) -> tuple[Twin, SyntheticFlood]:
    """A twin of ``n_buildings`` on a ``size`` x ``size`` grid and a flood result on it."""
    rng = np.random.default_rng(seed)
    x0, y0 = 420000.0, 2562000.0
    extent = size * cell
    transform = Affine(cell, 0.0, x0, 0.0, -cell, y0)
    terrain = (
        12.0 + 6.0 * _blobs(rng, size, 12, (size / 10, size / 3)) + rng.normal(0, 0.03, (size, size)).astype(np.float32)
    ).astype(np.float64)
    geoms = _footprints(rng, n_buildings, extent * 0.96, x0 + extent * 0.02, y0 - extent * 0.02)
    centroids = shapely.centroid(geoms)
    col = np.clip(((shapely.get_x(centroids) - x0) / cell).astype(int), 0, size - 1)
    row = np.clip(((y0 - shapely.get_y(centroids)) / cell).astype(int), 0, size - 1)
    source = np.where(rng.random(n_buildings) < 0.01, "ifc", "gis")
    buildings = gpd.GeoDataFrame(
        {
            "id": [f"B{i:06d}" for i in range(n_buildings)],
            "base": terrain[row, col],
            "height": rng.gamma(2.0, 6.0, n_buildings) + 3.0,
            "source": source,
            "file": np.where(source == "ifc", "block.ifc", None),
        },
        geometry=geoms,
        crs=CRS,
    )
    twin = Twin(CRS, transform, terrain, buildings=buildings)

    depth = np.clip(2.5 * _blobs(rng, size, 25, (size / 40, size / 8)) - 0.4, 0, None)
    depth = depth.astype(np.float32)
    hazard = (depth * (0.5 + 1.5 * np.sqrt(depth)) + np.where(depth > 0.25, 0.5, 0.0)).astype(np.float32)
    arrival = np.where(depth > 0.05, 3600.0 * (1 - np.clip(depth / 3, 0, 1)), np.nan)
    exposed = buildings.copy()
    exposed["max_depth"] = depth[row, col]
    exposed["arrival_time"] = arrival[row, col]
    return twin, SyntheticFlood(max_depth=depth, hazard=hazard, arrival_time=arrival, buildings=exposed)


def _measure(n: int, size: int, out: Path, repeat: int) -> dict:
    twin, flood = synthetic_city(n, size)
    t = time.perf_counter()
    scene = city_scene(twin, flood)
    ours = scene.to_html(out / f"scene_{n}.html", title=f"{n} buildings")
    ours_build = time.perf_counter() - t

    t = time.perf_counter()
    reference_scene = city_scene(twin, flood)
    page = reference_scene.deck.to_html(as_string=True, offline=True, notebook_display=False)
    reference = out / f"pydeck_{n}.html"
    reference.write_text(page, encoding="utf-8")
    reference_build = time.perf_counter() - t
    # The probe that reports the first frame is not part of the timed build.
    reference.write_text(instrument_pydeck_html(page), encoding="utf-8")

    row = {"n": n, "cells": size * size, "parts": _page_parts(ours.read_text(encoding="utf-8"))}
    for key, path, build in (("ours", ours, ours_build), ("ref", reference, reference_build)):
        times = []
        for _ in range(repeat):
            report = open_page(path, out / f"{path.stem}.png", timeout_s=590)
            if not report.ready:
                raise SystemExit(f"{path} failed in Chromium: {report.error} {report.console_errors[:3]}")
            times.append(report.ready_ms / 1000)
        first = float(np.median(times))
        row[key] = {
            "bytes": path.stat().st_size,
            "build_s": build,
            "first_frame_s": first,
            "runs": times,
            "isolation": report.isolation,
        }
        print(
            f"  {key:4s} {path.name}: {path.stat().st_size / 1e6:7.1f} MB, build {build:6.1f} s, "
            f"first frame {first:6.1f} s (runs {', '.join(f'{t:.1f}' for t in times)})",
            flush=True,
        )
    return row


def _page_parts(page: str) -> dict[str, int]:
    """Bytes of each embedded part of a scene page (base64 text), by element id."""
    found = re.findall(r'<script type="application/octet-stream" id="([^"]+)">([^<]*)</script>', page)
    return {name: len(text) for name, text in found}


def _table(rows: list[dict], command: str, load: tuple[float, float]) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        chromium = subprocess.run(
            [str(chromium_path()), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except OSError:
        chromium = "chromium"
    lines = [
        "## Scenes",
        "",
        "Offline scene page (`Scene.to_html`) against plain pydeck `Deck.to_html(offline=True)` of the",
        "same layers (same PNG rasters, buildings as pydeck records), synthetic city on a",
        f"2000 x 2000 grid (4 M cells) with a flood result; {os.cpu_count()} CPU cores ({cpu}),",
        f"{chromium},",
        "headless with SwiftShader WebGL (software rendering), network isolation:",
        f"{rows[0]['ours']['isolation']}. First frame = navigation start to the first frame with every",
        "layer loaded, measured by the page (median of the runs listed). Build = Python, scene + HTML.",
        f"Load average {load[0]:.1f} before and {load[1]:.1f} after the run (the cores are shared).",
        "",
        f"Command: `{command}`",
        "",
        "| buildings | page | HTML size | build (s) | first frame (s) | runs (s) |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for row in rows:
        for key, label in (("ours", "cimtwin"), ("ref", "pydeck")):
            r = row[key]
            runs = ", ".join(f"{t:.1f}" for t in r["runs"])
            lines.append(
                f"| {row['n']:,} | {label} | {r['bytes'] / 1e6:.1f} MB | {r['build_s']:.1f} | "
                f"{r['first_frame_s']:.1f} | {runs} |"
            )
    lines.append("")
    for row in rows:
        o, r = row["ours"], row["ref"]
        lines.append(
            f"- {row['n']:,} buildings: {r['bytes'] / o['bytes']:.1f}x smaller, first frame "
            f"{r['first_frame_s'] / o['first_frame_s']:.1f}x sooner, build "
            f"{r['build_s'] / o['build_s']:.1f}x faster."
        )
    lines.append("")
    last = rows[-1]
    parts = last["parts"]
    lines += textwrap.wrap(
        f"Where the bytes go in cimtwin's {last['n']:,}-building page (base64 text): deck.gl "
        f"{parts.get('deck-gl', 0) / 1e6:.1f} MB (pydeck's bundle, deflated), buildings "
        f"{parts.get('payload', 0) / 1e6:.1f} MB ({parts.get('payload', 0) / last['n']:.0f} bytes a "
        f"building: delta-coded 1 cm vertices, byte-planed and deflated, ids and attributes), relief "
        f"{parts.get('img-terrain', 0) / 1e6:.2f} MB, depth {parts.get('img-depth', 0) / 1e6:.2f} MB and "
        f"hazard {parts.get('img-hazard', 0) / 1e6:.2f} MB (palette PNGs). pydeck writes each building as "
        f"an indented JSON record, which the browser parses into {last['n']:,} objects of nested "
        "coordinate arrays that deck.gl's JSON converter and polygon normaliser then walk; the scene "
        "page decodes typed arrays and hands deck.gl flat, already closed and oriented rings "
        "(`_normalize: false`).",
        width=100,
    )
    lines.append("")
    return "\n".join(lines)


def _write_section(path: Path, section: str) -> None:
    replace_section(path, "## Scenes", section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buildings", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--grid", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="keep the pages here")
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--repeat", type=int, default=1, help="page loads per page (median reported)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if chromium_path() is None:
        print("Chromium is not installed (apt-get install chromium).", file=sys.stderr)
        return 1
    shown = list(argv if argv is not None else sys.argv[1:])
    if "--out" in shown:  # where the pages are kept does not change the figures
        at = shown.index("--out")
        del shown[at : at + 2]
    command = "NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scene.py " + " ".join(shown)
    with tempfile.TemporaryDirectory(prefix="bench-scene-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        load_before = os.getloadavg()[0]
        for n in args.buildings:
            print(f"{n:,} buildings, {args.grid}x{args.grid} grid", flush=True)
            rows.append(_measure(n, args.grid, out, args.repeat))
        load = (load_before, os.getloadavg()[0])
    section = _table(rows, command.strip(), load)
    print(section)
    if not args.no_write:
        _write_section(args.results, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
