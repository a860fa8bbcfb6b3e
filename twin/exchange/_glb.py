"""A binary glTF 2.0 (GLB) writer for one triangle mesh, with feature ids and a property table.

Compressed (``compress=True``, what the building exports write): the mesh is a Draco bitstream
(``KHR_draco_mesh_compression``, positions on a grid of at most 1 cm, see :mod:`._draco`).
Otherwise positions are quantized to unsigned 16-bit integers (``KHR_mesh_quantization``; the node's
scale and translation give them back in metres) whenever that keeps a step of at most 1 cm, else
they are float32. Per-vertex feature ids (``_FEATURE_ID_0``, ``EXT_mesh_features``) index a compact
property table (``EXT_structural_metadata``, see :mod:`._metadata`) that holds each feature's attributes. Vertices are written z-up in the
caller's frame and turned y-up here, as glTF wants (3D Tiles turns them back).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from twin.exchange import _draco, _json
from twin.exchange._metadata import Property, property_table

__all__ = ["Property", "glb_bytes", "MAX_QUANT_STEP"]

#: Largest quantization step [m]: a tile wider than 65,535 steps keeps float32 positions.
MAX_QUANT_STEP = 0.01

_FLOAT, _USHORT, _UINT, _UBYTE = 5126, 5123, 5125, 5121
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


class _Buffer:
    """The binary chunk, built of 8-byte aligned buffer views."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.views: list[dict[str, Any]] = []
        self.size = 0

    def view(self, data: bytes, **extra: Any) -> int:
        pad = (-self.size) % 8
        if pad:
            self.parts.append(b"\0" * pad)
            self.size += pad
        self.views.append({"buffer": 0, "byteOffset": self.size, "byteLength": len(data), **extra})
        self.parts.append(data)
        self.size += len(data)
        return len(self.views) - 1

    def blob(self) -> bytes:
        data = b"".join(self.parts)
        return data + b"\0" * ((-len(data)) % 4)


def glb_bytes(
    positions: np.ndarray,
    triangles: np.ndarray,
    *,
    feature_ids: np.ndarray | None = None,
    properties: Mapping[str, Property] | None = None,
    class_name: str = "building",
    colors: np.ndarray | None = None,
    color: tuple[float, float, float, float] = (0.85, 0.85, 0.82, 1.0),
    quantize: bool = True,
    compress: bool = False,
    extras: Mapping[str, Any] | None = None,
) -> bytes:
    """A GLB holding one mesh.

    Parameters
    ----------
    positions
        ``(N, 3)`` float64 vertices, z up, in metres of the caller's local frame.
    triangles
        ``(M, 3)`` vertex indices, counter-clockwise seen from the front.
    feature_ids, properties
        Per-vertex feature index and the features' attributes (both or neither).
    colors
        ``(N, 4)`` uint8 vertex colours (RGBA); else one material ``color``.
    quantize
        Quantize positions to 16 bits where a step stays within :data:`MAX_QUANT_STEP`.
    compress
        Draco-compress the mesh (``KHR_draco_mesh_compression``, positions to :data:`MAX_QUANT_STEP`);
        meshes with vertex colours are written as with ``compress=False``.
    extras
        JSON put into ``asset.extras`` (e.g. the frame's origin).
    """
    pos = np.asarray(positions, dtype=np.float64)
    yup = np.column_stack([pos[:, 0], pos[:, 2], -pos[:, 1]])
    fid = None if feature_ids is None else np.asarray(feature_ids)
    buf = _Buffer()
    used: list[str] = []
    if compress and colors is None and len(yup):
        primitive, accessors, node = _draco_primitive(buf, yup, np.asarray(triangles), fid)
        used.append("KHR_draco_mesh_compression")
    else:
        primitive, accessors, node = _plain_primitive(buf, yup, np.asarray(triangles), fid, colors, quantize)
        if "scale" in node:
            used.append("KHR_mesh_quantization")
    material: dict[str, Any] = {
        "pbrMetallicRoughness": {"baseColorFactor": list(color), "metallicFactor": 0.0, "roughnessFactor": 0.9},
    }
    if color[3] < 1.0 or (colors is not None and int(np.asarray(colors)[:, 3].min()) < 255):
        material["alphaMode"] = "BLEND"
    required = list(used)
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "cimtwin"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [node],
        "meshes": [{"primitives": [primitive]}],
        "materials": [material],
        "accessors": accessors,
    }
    if extras:
        gltf["asset"]["extras"] = dict(extras)
    if fid is not None:
        count = len(next(iter(properties.values())).values) if properties else int(fid.max()) + 1 if len(fid) else 0
        primitive.setdefault("extensions", {})["EXT_mesh_features"] = {
            "featureIds": [{"featureCount": int(count), "attribute": 0, "propertyTable": 0}]
        }
        gltf["extensions"] = {"EXT_structural_metadata": property_table(buf.view, properties or {}, class_name, count)}
        used += ["EXT_mesh_features", "EXT_structural_metadata"]
    gltf["bufferViews"] = buf.views
    blob = buf.blob()
    gltf["buffers"] = [{"byteLength": len(blob)}]
    if used:
        gltf["extensionsUsed"] = used
    if required:
        gltf["extensionsRequired"] = required
    text = _json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(text), b"JSON"),
            text,
            struct.pack("<I4s", len(blob), b"BIN\0"),
            blob,
        ]
    )


def _draco_primitive(
    buf: _Buffer, yup: np.ndarray, triangles: np.ndarray, fid: np.ndarray | None
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The primitive, its accessors (no buffer views: Draco fills them) and the node of a Draco mesh."""
    lo = yup.min(axis=0)
    mesh = _draco.encode(yup - lo, triangles, fid, MAX_QUANT_STEP)
    view = buf.view(mesh.data)
    accessors: list[dict[str, Any]] = [
        {
            "componentType": _FLOAT,
            "count": mesh.vertices,
            "type": "VEC3",
            "min": mesh.position_min,
            "max": mesh.position_max,
        }
    ]
    attributes = {"POSITION": 0}
    if fid is not None:
        accessors.append({"componentType": mesh.feature_type, "count": mesh.vertices, "type": "SCALAR"})
        attributes["_FEATURE_ID_0"] = 1
    itype = _USHORT if mesh.vertices <= 65535 else _UINT
    accessors.append({"componentType": itype, "count": mesh.indices, "type": "SCALAR"})
    primitive: dict[str, Any] = {
        "attributes": attributes,
        "indices": len(accessors) - 1,
        "material": 0,
        "mode": 4,
        "extensions": {"KHR_draco_mesh_compression": {"bufferView": view, "attributes": mesh.attributes}},
    }
    return primitive, accessors, {"mesh": 0, "translation": [float(v) for v in lo]}


def _plain_primitive(
    buf: _Buffer,
    yup: np.ndarray,
    triangles: np.ndarray,
    fid: np.ndarray | None,
    colors: np.ndarray | None,
    quantize: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The primitive, accessors and node of an uncompressed mesh: one interleaved vertex buffer and indices."""
    n = len(yup)
    lo = yup.min(axis=0) if n else np.zeros(3)
    hi = yup.max(axis=0) if n else np.zeros(3)
    step = np.maximum((hi - lo) / 65535.0, 1e-9)
    quant = quantize and bool((step <= MAX_QUANT_STEP).all())
    node: dict[str, Any] = {"mesh": 0, "translation": [float(v) for v in lo]}
    # position, then the feature id, then the colour: 4-byte aligned elements
    if quant:
        q = np.rint((yup - lo) / step).astype(np.uint16)
        node["scale"] = [float(v) for v in step]
        pos_cols, pos_bytes, pos_type = [q, np.zeros((n, 1), np.uint16)], 8, _USHORT
        pmin, pmax = q.min(axis=0).tolist(), q.max(axis=0).tolist()
    else:
        f = (yup - lo).astype(np.float32)
        pos_cols, pos_bytes, pos_type = [f], 12, _FLOAT
        pmin, pmax = f.min(axis=0).astype(float).tolist(), f.max(axis=0).astype(float).tolist()
    stride = pos_bytes + (4 if fid is not None else 0) + (4 if colors is not None else 0)
    record = np.zeros((n, stride), dtype=np.uint8)
    record[:, :pos_bytes] = np.hstack(pos_cols).view(np.uint8).reshape(n, pos_bytes)
    offset = pos_bytes
    accessors: list[dict[str, Any]] = [
        {
            "bufferView": 0,
            "byteOffset": 0,
            "componentType": pos_type,
            "count": n,
            "type": "VEC3",
            "min": pmin,
            "max": pmax,
        }
    ]
    attributes: dict[str, int] = {"POSITION": 0}
    if fid is not None:
        # unsigned short up to 65,535 features, else float32 (exact to 2**24)
        wide = n and int(fid.max()) > 65535
        fdt, ftype = (np.float32, _FLOAT) if wide else (np.uint16, _USHORT)
        size = np.dtype(fdt).itemsize
        record[:, offset : offset + size] = fid.astype(fdt).view(np.uint8).reshape(n, size)
        accessors.append({"bufferView": 0, "byteOffset": offset, "componentType": ftype, "count": n, "type": "SCALAR"})
        attributes["_FEATURE_ID_0"] = len(accessors) - 1
        offset += 4
    if colors is not None:
        record[:, offset : offset + 4] = np.asarray(colors, dtype=np.uint8)
        accessors.append(
            {
                "bufferView": 0,
                "byteOffset": offset,
                "componentType": _UBYTE,
                "normalized": True,
                "count": n,
                "type": "VEC4",
            }
        )
        attributes["COLOR_0"] = len(accessors) - 1
    buf.view(record.tobytes(), byteStride=stride, target=_ARRAY_BUFFER)
    tri = triangles.ravel()
    itype, idt = (_USHORT, np.uint16) if n <= 65535 else (_UINT, np.uint32)
    iview = buf.view(tri.astype(idt).tobytes(), target=_ELEMENT_ARRAY_BUFFER)
    accessors.append({"bufferView": iview, "componentType": itype, "count": int(tri.size), "type": "SCALAR"})
    primitive = {"attributes": attributes, "indices": len(accessors) - 1, "material": 0, "mode": 4}
    return primitive, accessors, node
