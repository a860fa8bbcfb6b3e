"""The sample city's sewer network: laid on its own DEM, before any twin exists, and sized for a 3-year storm."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin._io import atomic_file
from twin.sample.grid import Grid
from twin.sims.flood.sewer_design import design_on_grid

#: Design intensity [mm/h]: GB 50014's 3-year storm (Beijing's formula q = 2001 (1 + 0.811 lg P) / (t + 8)^0.711
#: L/s/ha, 1 L/s/ha = 0.36 mm/h) at a 30-minute time of concentration.
DESIGN_INTENSITY_MM_H = 75.0


def write_sewer(path: Path, grid: Grid, z: np.ndarray, water_dist: np.ndarray) -> Path:
    """Write ``sewer.inp``: manholes along the flow paths draining 5,000 m2 or more, outfalls on the river,
    creek and lake banks (their cells are taken out of the ground, so every path ends at the water), each
    with a flap gate that a river above the pipe closes."""
    ground = np.where(water_dist > 0.0, z, np.nan)
    with atomic_file(path) as tmp:
        design_on_grid(
            ground, grid.transform, tmp, intensity_mm_h=DESIGN_INTENSITY_MM_H, runoff_coefficient=0.7, flap_gates=True
        )
    return path
