"""``json.dumps`` with full float precision, whatever another library did to the json module.

cjio (the CityJSON library) replaces ``json.encoder.float`` for the whole process with a class whose
``repr`` keeps six decimals; after ``import cjio`` every ``json.dumps`` would round a tile's region
(radians: six decimals are 6 m) and a GLB's dequantization scale. The exchange writers encode through
this function, which puts the real ``float`` back for the duration of the call.
"""

from __future__ import annotations

import builtins
import json
import json.encoder
import threading
from typing import Any

__all__ = ["dumps"]

_LOCK = threading.Lock()


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, **kwargs)`` with floats written by Python's own (shortest exact) ``repr``."""
    patched = getattr(json.encoder, "float", None)  # json.encoder has no such name unless it was patched
    if patched is None:
        return json.dumps(obj, **kwargs)
    with _LOCK:
        json.encoder.float = builtins.float
        try:
            return json.dumps(obj, **kwargs)
        finally:
            json.encoder.float = patched
