"""Test helper: read a GLB back as a client would, from the specs rather than from the writer's code.

- the mesh: Draco bitstreams (``KHR_draco_mesh_compression``) decoded by DracoPy (the Draco library's
  own decoder), plain buffers through their accessors (``KHR_mesh_quantization`` undone by the node);
- the property table (``EXT_structural_metadata``): strings with any offset type, enums, booleans,
  scalars with ``normalized``, ``offset``, ``scale`` (a table's override first) and ``noData``, as the
  3D Metadata specification defines them; a column absent from the table reads as no value.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import DracoPy
import numpy as np

_COMPONENT = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_NUMPY = {
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "UINT16": np.uint16,
    "INT32": np.int32,
    "UINT32": np.uint32,
    "INT64": np.int64,
    "UINT64": np.uint64,
    "FLOAT32": np.float32,
    "FLOAT64": np.float64,
}


def read_glb(path: Path) -> tuple[dict, bytes]:
    """The JSON and binary chunks of a GLB."""
    data = Path(path).read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    n = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + n]), data[28 + n :]


def mesh(gltf: dict, blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Positions (y-up, in the node's parent frame: translation and scale applied), triangles, feature ids."""
    prim = gltf["meshes"][0]["primitives"][0]
    node = gltf["nodes"][0]
    draco = prim.get("extensions", {}).get("KHR_draco_mesh_compression")
    if draco is not None:
        decoded = DracoPy.decode(_view(gltf, blob, draco["bufferView"]))
        pos = decoded.get_attribute_by_unique_id(draco["attributes"]["POSITION"])["data"].astype(np.float64)
        tri = np.asarray(decoded.faces).reshape(-1, 3)
        fid = None
        if "_FEATURE_ID_0" in draco["attributes"]:
            fid = decoded.get_attribute_by_unique_id(draco["attributes"]["_FEATURE_ID_0"])["data"].ravel()
        acc = gltf["accessors"][prim["attributes"]["POSITION"]]
        assert acc["count"] == len(pos) and gltf["accessors"][prim["indices"]]["count"] == tri.size
    else:
        pos = _accessor(gltf, blob, prim["attributes"]["POSITION"]).astype(np.float64)
        tri = _accessor(gltf, blob, prim["indices"]).reshape(-1, 3)
        fid = (
            _accessor(gltf, blob, prim["attributes"]["_FEATURE_ID_0"])
            if "_FEATURE_ID_0" in prim["attributes"]
            else None
        )
    pos = pos * node.get("scale", [1.0, 1.0, 1.0]) + node.get("translation", [0.0, 0.0, 0.0])
    return pos, tri, None if fid is None else fid.astype(np.int64)


def features(gltf: dict, blob: bytes) -> dict[str, list]:
    """The property table's columns, one Python value per feature (None where there is no value)."""
    meta = gltf["extensions"]["EXT_structural_metadata"]
    table = meta["propertyTables"][0]
    cls = meta["schema"]["classes"][table["class"]]["properties"]
    count = table["count"]
    out: dict[str, list] = {}
    for name, spec in cls.items():
        column = table["properties"].get(name)
        if column is None:
            out[name] = [None] * count
            continue
        values = _view(gltf, blob, column["values"])
        kind = spec["type"]
        if kind == "STRING":
            offsets = np.frombuffer(
                _view(gltf, blob, column["stringOffsets"]), _NUMPY[column.get("stringOffsetType", "UINT32")]
            )
            text = [values[offsets[i] : offsets[i + 1]].decode() for i in range(count)]
            out[name] = [None if "noData" in spec and t == spec["noData"] else t for t in text]
        elif kind == "BOOLEAN":
            bits = np.unpackbits(np.frombuffer(values, np.uint8), bitorder="little")[:count]
            out[name] = [bool(b) for b in bits]
        elif kind == "ENUM":
            enum = meta["schema"]["enums"][spec["enumType"]]
            names = {v["value"]: v["name"] for v in enum["values"]}
            raw = np.frombuffer(values, _NUMPY[enum.get("valueType", "UINT16")])[:count]
            out[name] = [None if names[int(r)] == spec.get("noData") else names[int(r)] for r in raw]
        else:
            dtype = _NUMPY[spec["componentType"]]
            raw = np.frombuffer(values, dtype)[:count]
            value = raw.astype(np.float64)
            if spec.get("normalized"):
                value = value / np.iinfo(dtype).max  # unsigned types only in these tests
            value = value * column.get("scale", spec.get("scale", 1.0)) + column.get("offset", spec.get("offset", 0.0))
            missing = raw == spec["noData"] if "noData" in spec else np.zeros(count, bool)
            out[name] = [None if m else float(v) for m, v in zip(missing, value)]
    return out


def _view(gltf: dict, blob: bytes, index: int) -> bytes:
    view = gltf["bufferViews"][index]
    start = view.get("byteOffset", 0)
    return blob[start : start + view["byteLength"]]


def _accessor(gltf: dict, blob: bytes, index: int) -> np.ndarray:
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(_COMPONENT[acc["componentType"]])
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
    stride = view.get("byteStride", dtype.itemsize * width)
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    idx = start + np.arange(acc["count"])[:, None] * stride + np.arange(dtype.itemsize * width)[None, :]
    out = np.frombuffer(blob, np.uint8)[idx].copy().view(dtype).reshape(acc["count"], width)
    return out[:, 0] if width == 1 else out
