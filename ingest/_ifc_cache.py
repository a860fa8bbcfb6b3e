"""On-disk cache of IFC reads, keyed by the file's content, the read's options and the reader's code."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

__all__ = ["default_dir", "key_for", "load", "store"]

_FORMAT = 1


def default_dir() -> Path:
    """``$CIMTWIN_CACHE_DIR/ifc``, else ``$XDG_CACHE_HOME/cimtwin/ifc``, else ``~/.cache/cimtwin/ifc``."""
    if os.environ.get("CIMTWIN_CACHE_DIR"):
        return Path(os.environ["CIMTWIN_CACHE_DIR"]) / "ifc"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cimtwin" / "ifc"


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


def load(folder: Path, key: str) -> Any | None:
    """The cached value, or None when absent or unreadable (a damaged entry is simply recomputed)."""
    entry = folder / f"{key}.pickle"
    try:
        with open(entry, "rb") as fh:
            return pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - truncated or from an incompatible library version
        return None


def store(folder: Path, key: str, value: Any) -> None:
    """Write an entry atomically; a cache that cannot be written is not an error."""
    from twin._io import atomic_file

    try:
        with atomic_file(folder / f"{key}.pickle") as tmp:
            with open(tmp, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:
        pass


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
