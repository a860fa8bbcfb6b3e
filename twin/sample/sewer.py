"""The sample city's sewer network: laid on its own DEM, before any twin exists, and sized for a 3-year storm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.features import rasterize
from scipy import ndimage

from twin._io import atomic_file
from twin.sample.buildings import Buildings
from twin.sample.grid import Grid
from twin.sims.flood.sewer_design import design_on_grid

#: Design intensity [mm/h]: GB 50014's 3-year storm (Beijing's formula q = 2001 (1 + 0.811 lg P) / (t + 8)^0.711
#: L/s/ha, 1 L/s/ha = 0.36 mm/h) at a 30-minute time of concentration.
DESIGN_INTENSITY_MM_H = 75.0

#: How far [m] manholes keep off the buildings, so that a twin resampled to 4 m still finds them in the street.
_CLEARANCE_M = 4.0


def write_sewer(path: Path, grid: Grid, z: np.ndarray, water_dist: np.ndarray, buildings: Buildings) -> Path:
    """Write ``sewer.inp``: manholes along the flow paths draining 5,000 m2 or more, outfalls on the river,
    creek and lake banks (their cells are taken out of the ground, so every path ends at the water), each
    with a flap gate that a river above the pipe closes. The buildings and a clearance round them are
    raised for the design, so the paths (and the pipes) run down the streets around them."""
    footprints = rasterize(
        [(polygon, 1) for polygon in buildings.footprints.polygon],
        out_shape=z.shape,
        transform=grid.transform,
        dtype=np.uint8,
    ).astype(bool)
    blocked = ndimage.binary_dilation(footprints, iterations=max(1, round(_CLEARANCE_M / grid.cell)))
    ground = np.where(water_dist > 0.0, z + 5.0 * blocked, np.nan)
    with atomic_file(path) as tmp:
        design_on_grid(
            ground, grid.transform, tmp, intensity_mm_h=DESIGN_INTENSITY_MM_H, runoff_coefficient=0.7, flap_gates=True
        )
    return path
