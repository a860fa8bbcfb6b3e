"""A binary glTF 2.0 (GLB) writer for one triangle mesh, with feature ids and a property table.

Positions are quantized to unsigned 16-bit integers (``KHR_mesh_quantization``; the node's scale and
translation give them back in metres) whenever that keeps a step of at most 1 cm, else they are
float32. Per-vertex feature ids (``_FEATURE_ID_0``, ``EXT_mesh_features``) index a property table
(``EXT_structural_metadata``) that holds each feature's attributes. Vertices are written z-up in the
caller's frame and turned y-up here, as glTF wants (3D Tiles turns them back).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.exchange import _json

__all__ = ["Property", "glb_bytes", "MAX_QUANT_STEP"]

#: Largest quantization step [m]: a tile wider than 65,535 steps keeps float32 positions.
MAX_QUANT_STEP = 0.01

_FLOAT, _USHORT, _UINT, _UBYTE = 5126, 5123, 5125, 5121
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


@dataclass
class Property:
    """One column of a property table.

    Attributes
    ----------
    kind
        ``"STRING"``, ``"FLOAT32"``, ``"FLOAT64"``, ``"INT32"`` or ``"BOOLEAN"``.
    values
        One value per feature.
    description
        What it is, with its unit.
    no_data
        The value that stands for "none" (numbers only).
    """

    kind: str
    values: Any
    description: str = ""
    no_data: float | None = None


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
    extras
        JSON put into ``asset.extras`` (e.g. the frame's origin).
    """
    pos = np.asarray(positions, dtype=np.float64)
    yup = np.column_stack([pos[:, 0], pos[:, 2], -pos[:, 1]])
    lo, hi = yup.min(axis=0), yup.max(axis=0)
    step = np.maximum((hi - lo) / 65535.0, 1e-9)
    quant = quantize and bool((step <= MAX_QUANT_STEP).all())
    buf = _Buffer()
    accessors: list[dict[str, Any]] = []
    node: dict[str, Any] = {"mesh": 0}
    n = len(pos)
    fid = None if feature_ids is None else np.asarray(feature_ids)
    # one interleaved vertex buffer: position, then the feature id (4-byte aligned elements)
    if quant:
        q = np.rint((yup - lo) / step).astype(np.uint16)
        node["translation"] = [float(v) for v in lo]
        node["scale"] = [float(v) for v in step]
        pos_cols, pos_bytes, pos_type = [q, np.zeros((n, 1), np.uint16)], 8, _USHORT
        pmin, pmax = q.min(axis=0).tolist(), q.max(axis=0).tolist()
    else:
        origin = lo
        node["translation"] = [float(v) for v in origin]
        f = (yup - origin).astype(np.float32)
        pos_cols, pos_bytes, pos_type = [f], 12, _FLOAT
        pmin, pmax = f.min(axis=0).astype(float).tolist(), f.max(axis=0).astype(float).tolist()
    stride = pos_bytes + (4 if fid is not None else 0) + (4 if colors is not None else 0)
    record = np.zeros((n, stride), dtype=np.uint8)
    record[:, :pos_bytes] = np.hstack(pos_cols).view(np.uint8).reshape(n, pos_bytes)
    offset = pos_bytes
    attributes: dict[str, int] = {}
    accessors.append(
        {
            "bufferView": 0,
            "byteOffset": 0,
            "componentType": pos_type,
            "count": n,
            "type": "VEC3",
            "min": pmin,
            "max": pmax,
        }
    )
    attributes["POSITION"] = 0
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
    tri = np.asarray(triangles).ravel()
    itype, idt = (_USHORT, np.uint16) if n <= 65535 else (_UINT, np.uint32)
    iview = buf.view(tri.astype(idt).tobytes(), target=_ELEMENT_ARRAY_BUFFER)
    accessors.append({"bufferView": iview, "componentType": itype, "count": int(tri.size), "type": "SCALAR"})
    primitive: dict[str, Any] = {"attributes": attributes, "indices": len(accessors) - 1, "material": 0, "mode": 4}
    material: dict[str, Any] = {
        "pbrMetallicRoughness": {"baseColorFactor": list(color), "metallicFactor": 0.0, "roughnessFactor": 0.9},
    }
    if color[3] < 1.0 or (colors is not None and int(np.asarray(colors)[:, 3].min()) < 255):
        material["alphaMode"] = "BLEND"
    used: list[str] = []
    required: list[str] = []
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
    if quant:
        used.append("KHR_mesh_quantization")
        required.append("KHR_mesh_quantization")
    if fid is not None:
        count = len(next(iter(properties.values())).values) if properties else int(fid.max()) + 1 if n else 0
        primitive["extensions"] = {
            "EXT_mesh_features": {"featureIds": [{"featureCount": int(count), "attribute": 0, "propertyTable": 0}]}
        }
        gltf["extensions"] = {"EXT_structural_metadata": _metadata(buf, properties or {}, class_name, count)}
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


def _metadata(buf: _Buffer, properties: Mapping[str, Property], class_name: str, count: int) -> dict[str, Any]:
    """The ``EXT_structural_metadata`` object: a schema with one class and its property table."""
    schema_props: dict[str, Any] = {}
    table: dict[str, Any] = {}
    for name, prop in properties.items():
        spec: dict[str, Any] = {}
        if prop.description:
            spec["description"] = prop.description
        if prop.kind == "STRING":
            spec["type"] = "STRING"
            encoded = [str(v).encode() for v in prop.values]
            offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.uint32)
            table[name] = {
                # a buffer view may not be empty: a column of empty strings still holds one byte
                "values": buf.view(b"".join(encoded) or b"\0"),
                "stringOffsets": buf.view(offsets.tobytes()),
                "stringOffsetType": "UINT32",
            }
        elif prop.kind == "BOOLEAN":
            spec["type"] = "BOOLEAN"
            bits = np.packbits(np.asarray(prop.values, dtype=bool), bitorder="little")
            table[name] = {"values": buf.view(bits.tobytes())}
        else:
            spec["type"] = "SCALAR"
            spec["componentType"] = prop.kind
            dtype = {"FLOAT32": np.float32, "FLOAT64": np.float64, "INT32": np.int32}[prop.kind]
            values = np.asarray(prop.values, dtype=np.float64)
            if prop.no_data is not None:
                spec["noData"] = prop.no_data
                values = np.where(np.isfinite(values), values, prop.no_data)
            table[name] = {"values": buf.view(values.astype(dtype).tobytes())}
        schema_props[name] = spec
    return {
        "schema": {"id": "cimtwin", "classes": {class_name: {"properties": schema_props}}},
        "propertyTables": [{"class": class_name, "count": int(count), "properties": table}],
    }
