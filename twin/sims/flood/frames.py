"""Depth snapshots written to a scratch file as a run takes them, read back memory-mapped.

A run keeps its snapshots out of RAM: each frame is appended as raw float32 to ``<out>.frames.f32``
beside the result folder (a temporary file for a run without one). A checkpoint records how many
frames it covers, so a resumed run cuts the file back to that count and goes on appending. The
result's ``depth_frames`` map the file, and ``depth.nc`` is written from it frame by frame, one
NetCDF chunk per frame (a whole-run chunk would be decompressed and compressed again for every frame).
The cell-speed snapshots taken at the same times go the same way into ``<out>.speed.f32``.
"""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np

from twin.errors import InputDataError, ScenarioError

__all__ = ["FrameStore", "check_budget", "free_bytes", "lazy", "speed_path", "write_netcdf"]

#: Share of the free disk space the uncompressed snapshots may take.
DISK_SHARE = 0.9


class FrameStore:
    """float32 depth frames of one grid appended to a file.

    Parameters
    ----------
    path
        The scratch file; ``None``: a temporary file, removed once mapped by :meth:`frames`.
    shape
        The grid's ``(ny, nx)``.
    keep
        Frames of an existing file to keep (a resumed run); ``0`` starts a new file.
    """

    def __init__(self, path: Path | None, shape: tuple[int, int], *, keep: int = 0):
        self.shape = (int(shape[0]), int(shape[1]))
        self._frame_bytes = self.shape[0] * self.shape[1] * 4
        self._temporary = path is None
        if path is None:
            fd, name = tempfile.mkstemp(prefix="cimtwin-frames-", suffix=".f32")
            os.close(fd)
            path = Path(name)
        self.path = Path(path)
        if keep:
            size = self.path.stat().st_size if self.path.is_file() else 0
            if size < keep * self._frame_bytes:
                raise InputDataError(
                    f"The snapshot file {self.path} holds {size // self._frame_bytes} frames but the "
                    f"checkpoint needs {keep}; delete the checkpoint and run from the start."
                )
            self._fh = open(self.path, "r+b")  # noqa: SIM115 (open for the run; close() closes it)
            self._fh.truncate(keep * self._frame_bytes)  # frames taken after the checkpoint are taken again
            self._fh.seek(0, os.SEEK_END)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # beside an --out whose parent is new too
            self._fh = open(self.path, "wb")  # noqa: SIM115 (open for the run; close() closes it)
        self.count = keep

    def append(self, depth: np.ndarray) -> None:
        """Write one frame (converted to float32)."""
        self._fh.write(np.ascontiguousarray(depth, dtype=np.float32).tobytes())
        self.count += 1

    def sync(self) -> None:
        """Put the frames written so far on disk (before a checkpoint says they are there)."""
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def frames(self) -> np.ndarray | None:
        """All frames, read-only and memory-mapped ``(count, ny, nx)``; ``None`` without frames.

        Closes the store. A temporary file is unlinked at once: the map keeps its data until dropped.
        """
        self._fh.close()
        arr = None
        if self.count:
            arr = np.memmap(self.path, dtype=np.float32, mode="r", shape=(self.count, *self.shape))
        if self._temporary:
            self.remove()
        return arr

    def close(self) -> None:
        """Close the file (left on disk for a resume; a temporary one is removed)."""
        self._fh.close()
        if self._temporary:
            self.remove()

    def remove(self) -> None:
        """Delete the file (a map made earlier keeps working on POSIX systems)."""
        self._fh.close()
        try:
            self.path.unlink(missing_ok=True)
        except OSError:  # Windows refuses while the result still maps it; the file is left behind
            pass


def speed_path(frames_path: Path | None) -> Path | None:
    """The speed snapshots' scratch file beside the depth snapshots' ``<out>.frames.f32`` (None: temporary)."""
    return None if frames_path is None else Path(str(frames_path).removesuffix(".frames.f32") + ".speed.f32")


def check_budget(frames: int, cells: int, free_bytes: int, interval: float, *, stores: int = 1) -> None:
    """Refuse snapshots whose uncompressed size (stores x frames x cells x 4 bytes) exceeds the free disk
    space; ``stores``: how many grids each snapshot holds (depth and speed: 2).

    Raises
    ------
    ScenarioError
        Naming ``output_interval``, the frames, their size and the fix.
    """
    need = stores * frames * cells * 4
    if need > DISK_SHARE * free_bytes:
        what = "depth" if stores == 1 else "depth and speed"
        raise ScenarioError(
            f"output_interval = {interval:g} s writes {frames} {what} snapshots of {cells} cells, "
            f"{need / 1e9:.1f} GB before compression, but only {free_bytes / 1e9:.1f} GB of disk are free for them. "
            "Raise output_interval, set output.snapshots = false, or free disk space."
        )


def free_bytes(path: Path | None) -> int:
    """Free bytes on the file system that holds ``path`` (its nearest existing folder; the temp folder for None)."""
    folder = Path(tempfile.gettempdir()) if path is None else Path(path).absolute().parent
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def write_netcdf(ds, path: Path) -> None:
    """Write a depth dataset (from ``FloodResult.depth_dataset``) compressed, one NetCDF chunk per frame
    (of each of its variables on the time axis: ``depth`` and, where present, ``speed``).

    Memory-mapped frames are copied one at a time in order: Dask's threads would read frames ahead
    of the (serialised, compressing) writes and hold hundreds of them.
    """
    ny, nx = ds["depth"].shape[1:]
    encoding = {
        name: {"zlib": True, "complevel": 4, "chunksizes": (1, ny, nx)} for name in ("depth", "speed") if name in ds
    }
    if ds["depth"].chunks is None:
        ds.to_netcdf(path, encoding=encoding)
    else:
        ds.to_netcdf(path, encoding=encoding, compute=False).compute(scheduler="synchronous")


def lazy(frames: np.ndarray):
    """Memory-mapped frames as a dask array of one chunk per frame, each read and released (so that
    writing them all never makes the whole file resident); a loaded result's frames (read from its file
    when indexed) the same way; frames in memory as they are."""
    from twin.sims.flood.result_frames import LazyFrames

    if not isinstance(frames, np.memmap | LazyFrames):
        return frames
    import dask.array as da

    source = frames if isinstance(frames, LazyFrames) else _Released(frames)
    # named, so that Dask does not tokenize (pickle) the whole map to name it
    return da.from_array(source, chunks=(1, *frames.shape[1:]), asarray=True, name=f"cimtwin-frames-{uuid.uuid4().hex}")


class _Released:
    """A memory map that gives its pages back after each read: the reads stay out of the resident set."""

    def __init__(self, frames: np.memmap):
        self._frames = frames
        self.shape, self.dtype, self.ndim = frames.shape, frames.dtype, frames.ndim

    def __getitem__(self, key):
        out = np.array(self._frames[key])
        mm = getattr(self._frames, "_mmap", None)
        if mm is not None and hasattr(mmap, "MADV_DONTNEED"):
            mm.madvise(mmap.MADV_DONTNEED)  # clean file pages: dropped here, read again from the file if needed
        return out
