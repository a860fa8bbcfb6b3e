"""Rain nowcasts from the radar with pysteps, and radar fields put onto the twin's grid.

Motion is estimated by optical flow (pysteps' Proesmans method, which needs no OpenCV) from the last
two radar frames in dB; the forecast is a semi-Lagrangian extrapolation of the last frame along it
(one member) or a STEPS ensemble (several members: the cascade of scales, each extrapolated and
decaying by its own AR(2) model, with stochastic noise and perturbed motion). With fewer frames than
``min_frames``, no rain on the radar, or pysteps failing, the forecast is the last frame held
(persistence), with a ``NowcastPersistence`` warning saying why.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass

import numpy as np
from affine import Affine

__all__ = ["Nowcast", "nowcast", "onto_grid", "crop_to", "import_pysteps"]


@dataclass
class Nowcast:
    """Rain rates [mm/h] on the radar grid, ``(members, steps, ny, nx)``: step ``k`` is the rate from
    ``now + k x interval`` to the next step (step 0 is the last observed frame)."""

    rain: np.ndarray
    method: str
    reason: str = ""


def nowcast(
    frames: list[np.ndarray],
    steps: int,
    members: int,
    *,
    method: str,
    min_frames: int,
    km_per_pixel: float,
    interval_min: float,
    seed: int,
) -> Nowcast:
    """Forecast ``steps`` radar intervals from ``frames`` (equally spaced, the last at now; NaN: no data)."""
    last = np.nan_to_num(frames[-1], nan=0.0)
    persistence = np.broadcast_to(last, (members, steps, *last.shape)).copy()
    if method == "persistence":
        return Nowcast(persistence, "persistence", "asked for")
    if len(frames) < min_frames:
        return Nowcast(persistence, "persistence", f"{len(frames)} consecutive radar frames, {min_frames} needed")
    if float(last.max()) < 0.1:
        return Nowcast(persistence, "persistence", "no rain on the last radar frame")
    if steps <= 1:
        return Nowcast(persistence, "persistence", "lead time within one radar interval")
    import_pysteps()
    with contextlib.redirect_stdout(io.StringIO()):  # pysteps prints its progress
        from pysteps import motion, nowcasts
        from pysteps.utils import transformation

        stack = np.nan_to_num(np.stack(frames[-min_frames:]), nan=0.0)
        r_db, _ = transformation.dB_transform(stack, threshold=0.1, zerovalue=-15.0)
        try:
            # pyramid levels the grid can hold: pysteps' default 6 halves a side below 32 pixels to
            # nothing and corrupts the heap (a later free() aborts the process)
            levels = int(min(6, np.floor(np.log2(min(last.shape)))))
            velocity = motion.get_method("proesmans")(r_db[-2:], verbose=False, num_levels=levels)
            if members == 1 or method == "extrapolation":
                fc = nowcasts.get_method("extrapolation")(last, velocity, steps - 1)
                rain = np.concatenate([last[None], np.nan_to_num(fc, nan=0.0)])[None]
                rain = np.broadcast_to(rain, (members, *rain.shape[1:])).copy()
                return Nowcast(rain, "extrapolation")
            fc = nowcasts.get_method("steps")(
                r_db,
                velocity,
                steps - 1,
                n_ens_members=members,
                n_cascade_levels=_levels(last.shape),
                precip_thr=-10.0,
                kmperpixel=km_per_pixel,
                timestep=interval_min,
                noise_method="nonparametric",
                vel_pert_method="bps",
                mask_method="incremental",
                seed=seed,
                num_workers=1,
            )
            fc, _ = transformation.dB_transform(fc, threshold=-10.0, inverse=True)
        except Exception as exc:  # noqa: BLE001 -- pysteps' own errors (too little rain, a flat field)
            return Nowcast(persistence, "persistence", f"pysteps failed: {type(exc).__name__}: {exc}")
    fc = np.clip(np.nan_to_num(fc, nan=0.0), 0.0, None)
    rain = np.concatenate([np.broadcast_to(last, (members, 1, *last.shape)), fc], axis=1)
    return Nowcast(rain, "steps")


def import_pysteps() -> None:
    """Import pysteps (seconds: it pulls in matplotlib and scipy.stats), quietly; a live twin does it
    once when it starts, not in its first cycle."""
    os.environ.setdefault("PYSTEPS_CONFIG", "")
    with contextlib.redirect_stdout(io.StringIO()):  # pysteps prints its banner
        import pysteps.motion
        import pysteps.nowcasts
        import pysteps.utils  # noqa: F401


def _levels(shape: tuple[int, int]) -> int:
    """Cascade levels: as many as halvings of the grid leave at least 8 pixels (pysteps' default is 6),
    and at least the 3 its bandpass filter needs (2 failed: "n must be greater than 2")."""
    return int(max(3, min(6, np.floor(np.log2(min(shape) / 8)) + 1)))


def onto_grid(
    values: np.ndarray, src_crs: str, src_transform: Affine, dst_crs: object, dst_transform: Affine, shape
) -> np.ndarray:
    """A field (or a stack of fields) reprojected bilinearly onto a grid; NaN where it has no data."""
    from rasterio.warp import Resampling, reproject

    values = np.asarray(values, dtype=np.float32)
    out = np.full((*values.shape[:-2], *shape), np.nan, dtype=np.float32)
    reproject(
        values,
        out,
        src_transform=src_transform,
        src_crs=src_crs,
        dst_transform=dst_transform,
        dst_crs=dst_crs,
        resampling=Resampling.bilinear,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    return out


def crop_to(
    shape: tuple[int, int], src_crs: str, src_transform: Affine, dst_crs: object, dst_transform: Affine, dst_shape
) -> tuple[tuple[slice, slice], Affine]:
    """The window of a ``shape`` source grid that covers a destination grid, with two pixels of margin
    (the bilinear reprojection reads the neighbours), and the window's transform: what
    :func:`onto_grid` needs of the source to fill the destination."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    ny, nx = dst_shape
    west, south, east, north = transform_bounds(dst_crs, src_crs, *array_bounds(ny, nx, dst_transform), densify_pts=21)
    inv = ~src_transform
    cols, rows = zip(*(inv @ (x, y) for x in (west, east) for y in (south, north)))
    r0 = int(np.clip(np.floor(min(rows)) - 2, 0, shape[0]))
    r1 = int(np.clip(np.ceil(max(rows)) + 2, r0, shape[0]))
    c0 = int(np.clip(np.floor(min(cols)) - 2, 0, shape[1]))
    c1 = int(np.clip(np.ceil(max(cols)) + 2, c0, shape[1]))
    if r1 <= r0 or c1 <= c0:  # the radar does not reach the twin: keep it whole (onto_grid gives NaN)
        return (slice(0, shape[0]), slice(0, shape[1])), src_transform
    return (slice(r0, r1), slice(c0, c1)), src_transform @ Affine.translation(c0, r0)
