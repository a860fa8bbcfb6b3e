"""The IFC buildings' envelope meshes kept in a twin folder (``meshes.npz``), for LoD2 export.

One compressed NumPy archive holds every building's mesh (:class:`ingest.ifc.BuildingMesh`): vertices
in the twin's CRS, triangles, and per element its IFC class, GlobalId and role. It is written inside
the twin's atomic save and listed with its checksum in ``twin.json`` like every other file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ingest.ifc import BuildingMesh
from twin.errors import InputDataError

__all__ = ["FILE", "save_meshes", "load_meshes", "mesh_summary"]

#: The file in the twin folder.
FILE = "meshes.npz"


def save_meshes(path: str | os.PathLike, meshes: dict[str, BuildingMesh]) -> None:
    """Write ``meshes`` (building id to mesh) into one ``.npz`` file at ``path``."""
    ids = sorted(meshes)
    ms = [meshes[i] for i in ids]
    vstart = np.concatenate([[0], np.cumsum([len(m.verts) for m in ms])]).astype(np.int64)
    fstart = np.concatenate([[0], np.cumsum([len(m.faces) for m in ms])]).astype(np.int64)
    gstart = np.concatenate([[0], np.cumsum([len(m.role) for m in ms])]).astype(np.int64)
    with open(path, "wb") as fh:
        np.savez_compressed(
            fh,
            ids=np.asarray(ids, dtype=str),
            vertex_start=vstart,
            face_start=fstart,
            group_building_start=gstart,
            verts=np.vstack([m.verts for m in ms]) if ms else np.zeros((0, 3)),
            faces=np.vstack([m.faces for m in ms]).astype(np.int32) if ms else np.zeros((0, 3), dtype=np.int32),
            group_start=np.concatenate([m.group_start[1:] for m in ms]) if ms else np.zeros(0, dtype=np.int64),
            ifc_class=np.concatenate([m.ifc_class for m in ms]) if ms else np.zeros(0, dtype=str),
            guid=np.concatenate([m.guid for m in ms]) if ms else np.zeros(0, dtype=str),
            role=np.concatenate([m.role for m in ms]) if ms else np.zeros(0, dtype=str),
        )


def load_meshes(path: str | os.PathLike) -> dict[str, BuildingMesh]:
    """Read what :func:`save_meshes` wrote.

    Raises
    ------
    InputDataError
        The file is not such an archive.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        out = {}
        for k, bid in enumerate(d["ids"]):
            v0, v1 = d["vertex_start"][k : k + 2]
            f0, f1 = d["face_start"][k : k + 2]
            g0, g1 = d["group_building_start"][k : k + 2]
            out[str(bid)] = BuildingMesh(
                d["verts"][v0:v1],
                d["faces"][f0:f1],
                np.concatenate([[0], d["group_start"][g0:g1]]).astype(np.int64),
                d["ifc_class"][g0:g1],
                d["guid"][g0:g1],
                d["role"][g0:g1],
            )
    except (OSError, KeyError, ValueError) as exc:
        raise InputDataError(
            f"{path} is not a mesh archive cimtwin wrote ({exc}); the twin folder is damaged. Import the IFC "
            "files again (twin ingest --ifc) or restore a backup."
        ) from None
    return out


def mesh_summary(meshes: dict[str, BuildingMesh]) -> dict[str, Any]:
    """What ``twin info`` says about the meshes: buildings, elements, triangles and the file."""
    return {
        "file": FILE,
        "buildings": len(meshes),
        "elements": int(sum(len(m.role) for m in meshes.values())),
        "triangles": int(sum(m.triangles for m in meshes.values())),
    }
