"""A loaded flood result's snapshots, read from its ``depth.nc`` only when asked for.

A long run at a fine grid holds gigabytes of depth (and speed) snapshots. :meth:`FloodResult.load`
gives them as :class:`LazyFrames`: an array-like of ``(time, y, x)`` that opens the file for each read
and reads only the frames indexed, so a command that draws a few frames (``twin scene``, a browser
asking for a time) never loads the whole file. ``np.asarray`` of it still gives the whole array.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LazyFrames", "netcdf_frames"]


class LazyFrames:
    """Frames of variable ``name`` (``time, y, x``) of the NetCDF file ``path``, as float32, read on indexing.

    Parameters
    ----------
    path
        The NetCDF file (a flood result's ``depth.nc``).
    name
        Its variable (``depth`` or ``speed``).
    shape
        ``(frames, ny, nx)`` of the variable.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, path: str | Path, name: str, shape: tuple[int, int, int]):
        self.path = Path(path)
        self.name = name
        self.shape = tuple(int(n) for n in shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        import xarray as xr

        with xr.open_dataset(self.path, decode_times=False, cache=False) as ds:
            return np.asarray(ds[self.name][key].values, dtype=np.float32)

    def __iter__(self) -> Iterator[np.ndarray]:
        for k in range(len(self)):
            yield self[k]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyFrames({str(self.path)!r}, {self.name!r}, shape={self.shape})"


def netcdf_frames(path: Path) -> tuple[LazyFrames | None, LazyFrames | None, np.ndarray]:
    """The depth and speed frames of a result's ``depth.nc`` (lazy; speed ``None`` in files written
    before the speed snapshots) and their times [s]; only the coordinates are read here."""
    import xarray as xr

    with xr.open_dataset(path, decode_times=False) as ds:
        times = ds["time"].values.astype(np.float64)
        depth = LazyFrames(path, "depth", ds["depth"].shape)
        speed = LazyFrames(path, "speed", ds["speed"].shape) if "speed" in ds else None
    return depth, speed, times
