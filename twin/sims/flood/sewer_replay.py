"""The sewer coupling's exchanges, kept so that a resumed run can bring SWMM back exactly where it stopped.

SWMM's hot start file keeps its node depths and link flows in single precision, not its step history
(the previous step's flows and volumes its dynamic wave solution and its next variable step start from),
and SWMM restarts from it on a whole second: a run resumed from a hot start drifts from the uninterrupted
one (measured: up to 3 mm of depth on a manhole's cell with the inertial scheme, 1 cm with the full
solver). SWMM is deterministic, though: given the same surface depths at the same exchange times, the
coupling sets the same inflows and outfall stages before the same SWMM steps. So a checkpoint keeps what
the surface handed over at each exchange (the depths on the coupled manholes' and surface outfalls'
cells, in the run's own dtype, and the exchange's end time) and the resumed run replays them through a
fresh SWMM run: SWMM, its statistics and the coupling's books come back bit for bit.

The log holds one row of ``manholes + outfalls`` depths per exchange (4 or 8 bytes each): the demo's
768 manholes and 46 outfalls over its 2 hours at 5 s are 1,440 rows, 4.7 MB in float32; replaying its first 10
minutes took 0.9 CPU s (the coupling's own share of the run, SWMM alone).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.errors import ScenarioError

__all__ = ["ExchangeLog"]


class ExchangeLog:
    """What the surface handed the sewer network at each exchange, in order.

    Parameters
    ----------
    width : int
        Depths per exchange (coupled manholes, then surface outfalls).
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self._t: list[float] = []
        self._h: list[np.ndarray] = []

    def record(self, depths: np.ndarray, t_end: float) -> None:
        """Keep one exchange: the cells' depths (copied, in the surface's dtype) and its end time [s]."""
        self._h.append(np.array(depths, copy=True))
        self._t.append(float(t_end))

    def __len__(self) -> int:
        return len(self._t)

    def arrays(self, dtype: np.dtype) -> dict[str, np.ndarray]:
        """The log as a checkpoint's arrays (``dtype``: the surface's, for a log that is still empty)."""
        h = np.stack(self._h) if self._h else np.zeros((0, self.width), dtype=dtype)
        return {"sewer_exchange_t": np.asarray(self._t, dtype=np.float64), "sewer_exchange_h": h}

    @staticmethod
    def from_checkpoint(ck: dict[str, Any], width: int, shown: str) -> tuple[np.ndarray, np.ndarray]:
        """A checkpoint's exchanges (end times, depths), checked against a network with ``width`` coupled cells.

        Raises
        ------
        ScenarioError
            The checkpoint holds no exchange log (written by an older cimtwin, which resumed SWMM from its
            hot start file) or one of another network.
        """
        if "sewer_exchange_h" not in ck:
            raise ScenarioError(
                "The checkpoint was written by an older cimtwin (it resumed SWMM from a hot start file, which "
                "does not give the uninterrupted run's answer); delete the checkpoint and run from the start."
            )
        t, h = np.asarray(ck["sewer_exchange_t"], dtype=np.float64), np.asarray(ck["sewer_exchange_h"])
        if h.ndim != 2 or h.shape[1] != width or len(t) != len(h):
            raise ScenarioError(
                f"The checkpoint's sewer network has other manholes or outfalls than {shown}; delete the "
                "checkpoint and run from the start."
            )
        return t, h
