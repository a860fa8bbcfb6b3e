"""On-disk cache of IFC reads, keyed by the file's content, the read's options and the reader's code.

Entries are JSON (geometries as WKB in hex, mesh arrays as base64 of their bytes), never pickle: a cache entry is data, so a file planted
in the cache folder cannot run code. The folder is created private (0700).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["default_dir", "key_for", "load", "store", "unsafe"]

# 2: JSON entries and the outline footprint rule (entries of format 1 were pickles); 3: with meshes.
_FORMAT = 3
# Array dtypes an entry may hold (numbers only: a planted entry cannot ask for objects).
_DTYPES = ("<f8", "<i4", "<i8")


def default_dir() -> Path:
    """``$CIMTWIN_CACHE_DIR/ifc``, else ``$XDG_CACHE_HOME/cimtwin/ifc``, else ``~/.cache/cimtwin/ifc``."""
    if os.environ.get("CIMTWIN_CACHE_DIR"):
        return Path(os.environ["CIMTWIN_CACHE_DIR"]) / "ifc"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cimtwin" / "ifc"


def unsafe(folder: Path) -> str:
    """Why ``folder`` must not be used as a cache ("" when it may): another user could write entries.

    Entries cannot run code, but a planted one would give false footprints; so a folder that is not
    the user's own, or that others may write, is not used.
    """
    try:
        st = folder.stat()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"it cannot be read ({exc})"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return "it belongs to another user"
    if st.st_mode & 0o022:
        return f"others may write it (mode {st.st_mode & 0o777:o}; make it private: chmod 700 {folder})"
    return ""


def key_for(path: Path, options: dict[str, Any]) -> str:
    """A key that changes with the file's bytes, the options and the code that reads it."""
    import ifcopenshell

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    h.update(f"{_FORMAT}:{ifcopenshell.version}".encode())
    h.update(_code_digest().encode())
    return h.hexdigest()


def load(folder: Path, key: str) -> dict[str, Any] | None:
    """The cached value, or None when absent or unreadable (a damaged entry is simply recomputed)."""
    try:
        with open(folder / f"{key}.json", encoding="utf-8") as fh:
            value = json.load(fh, object_hook=_decode)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - truncated, or not what this code wrote
        return None
    return value if isinstance(value, dict) and value.get("_format") == _FORMAT else None


def store(folder: Path, key: str, value: dict[str, Any]) -> None:
    """Write an entry atomically (a JSON object; shapely geometries and numeric arrays allowed anywhere in it).

    A cache that cannot be written is not an error.
    """
    from ingest._atomic import atomic_file

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = json.dumps({**value, "_format": _FORMAT}, default=_encode, ensure_ascii=False)
        with atomic_file(folder / f"{key}.json") as tmp:
            tmp.write_text(text, encoding="utf-8")
    except (OSError, TypeError, ValueError):
        pass


def _encode(value: Any) -> Any:
    import numpy as np
    import shapely

    if isinstance(value, shapely.Geometry):
        return {"__wkb__": shapely.to_wkb(value, hex=True)}
    if isinstance(value, np.ndarray) and value.dtype.newbyteorder("<").str in _DTYPES:
        arr = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        return {"__npy__": base64.b64encode(arr.tobytes()).decode("ascii"), "dtype": arr.dtype.str, "shape": arr.shape}
    raise TypeError(f"{type(value).__name__} is not cached")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "__wkb__" in obj:
        import shapely

        return shapely.from_wkb(obj["__wkb__"])
    if len(obj) == 3 and "__npy__" in obj and obj.get("dtype") in _DTYPES:
        import numpy as np

        return np.frombuffer(base64.b64decode(obj["__npy__"]), dtype=obj["dtype"]).reshape(obj["shape"]).copy()
    return obj


_CODE: str | None = None


def _code_digest() -> str:
    """Digest of the reader's own sources, so that a changed reader never serves stale results."""
    global _CODE
    if _CODE is None:
        h = hashlib.sha256()
        here = Path(__file__).parent
        for src in sorted([*here.glob("_ifc_*.py"), here / "ifc.py"]):
            h.update(src.read_bytes())
        _CODE = h.hexdigest()
    return _CODE
