"""A twin's sewer network from GIS layers: read, rims filled from the terrain, written as the twin's ``drainage.inp``.

The layers are read by :func:`ingest.drainage_gis.read_drainage_layers`; a flood scenario then runs the
network with ``[drainage] inp = "twin"`` (:func:`twin_inp`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ingest.drainage_gis import DrainageLayers, read_drainage_layers
from twin.errors import InputDataError, ScenarioError
from twin.model import Twin
from twin.sims.flood.sewer_design import write_inp

__all__ = ["INP_NAME", "read_for_twin", "write_twin_inp", "twin_inp"]

#: The twin folder's sewer network, written by ``twin ingest --drainage-*``.
INP_NAME = "drainage.inp"


def read_for_twin(
    tw: Twin,
    manholes: str | os.PathLike,
    pipes: str | os.PathLike,
    outfalls: str | os.PathLike | None = None,
    *,
    layer_crs: dict[str, Any] | None = None,
    snap_tolerance: float = 1.0,
) -> DrainageLayers:
    """Read the drainage layers into ``tw``'s CRS, take missing rims from its terrain, and book the report.

    The report goes into ``tw.meta["ingest_report"]["drainage"]`` (with ``rim from terrain``: the rims
    filled). Nodes off the grid need their rim in the layer.

    Raises
    ------
    InputDataError
        The errors of :func:`ingest.drainage_gis.read_drainage_layers`; a node without rim off the grid
        or on a no-data cell; a rim from the terrain below the node's invert.
    """
    net = read_drainage_layers(
        manholes, pipes, outfalls, target_crs=tw.crs, layer_crs=layer_crs, snap_tolerance=snap_tolerance
    )
    nodes = net.nodes
    missing = np.flatnonzero(nodes["rim"].isna().to_numpy())
    if missing.size:
        xy = np.array([(p.x, p.y) for p in nodes.geometry.values[missing]])
        rows, cols = tw.index(xy[:, 0], xy[:, 1])
        ny, nx = tw.shape
        inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
        ground = np.full(missing.size, np.nan)
        ground[inside] = tw.terrain[rows[inside], cols[inside]]
        bad = ~np.isfinite(ground)
        if bad.any():
            name = nodes["name"].iloc[missing[np.flatnonzero(bad)[0]]]
            raise InputDataError(
                f"Drainage node {name} ({manholes}) has no rim and lies off the twin's terrain (or on no-data); "
                "give its rim in the layer (column rim, ground or cover_level)."
            )
        kinds = nodes["kind"].to_numpy()[missing]
        below = (ground < nodes["invert"].to_numpy()[missing]) & (kinds != "outfall")
        if below.any():
            k = int(np.flatnonzero(below)[0])
            raise InputDataError(
                f"Drainage node {nodes['name'].iloc[missing[k]]} ({manholes}): its invert "
                f"({nodes['invert'].iloc[missing[k]]:g} m) lies above the terrain there ({ground[k]:g} m), "
                "the rim taken for want of one in the layer; give its rim or check the invert."
            )
        nodes.loc[nodes.index[missing], "rim"] = ground
    net.report["rim from terrain"] = int(missing.size)
    tw.meta.setdefault("ingest_report", {})["drainage"] = dict(net.report)
    return net


def write_twin_inp(net: DrainageLayers, folder: str | os.PathLike) -> Path:
    """Write ``net`` (rims filled by :func:`read_for_twin`) as the SWMM ``drainage.inp`` in the twin ``folder``."""
    nodes, pipes = net.nodes, net.conduits
    return write_inp(
        Path(folder) / INP_NAME,
        "cimtwin: a sewer network ingested from GIS layers",
        nodes=[
            (r.name, r.kind, float(r.invert), float(r.rim), float(g.x), float(g.y))
            for r, g in zip(nodes.itertuples(index=False), nodes.geometry.values)
        ],
        conduits=[
            (r.name, r.from_node, r.to_node, r.length, r.roughness, r.in_offset, r.out_offset, r.shape, r.geom1)
            for r in pipes.itertuples(index=False)
        ],
    )


def twin_inp(tw: Twin) -> Path:
    """The twin folder's ``drainage.inp`` (``[drainage] inp = "twin"``).

    Raises
    ------
    ScenarioError
        The twin was not loaded from a folder, or its folder holds no ``drainage.inp``.
    """
    path = None if tw.path is None else Path(tw.path) / INP_NAME
    if path is None or not path.is_file():
        where = "was not loaded from a folder" if tw.path is None else f"folder {tw.path} holds no {INP_NAME}"
        raise ScenarioError(
            f'[drainage] inp = "twin" takes the twin\'s sewer network, but the twin {where}. Ingest one with '
            "twin ingest --drainage-manholes F --drainage-pipes F [--drainage-outfalls F], or give the .inp: "
            '[drainage] inp = "network.inp".'
        )
    return path
