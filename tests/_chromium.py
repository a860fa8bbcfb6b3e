"""Test helper: screenshot a local HTML page in headless Chromium with no network.

Thin wrapper over :mod:`tools.browser` (which the README screenshot uses too) that skips
cleanly when Chromium is missing on a developer machine and fails when it is missing in
CI (environment variable ``CI`` set), and returns the screenshots as NumPy arrays.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.browser import PageReport, chromium_path, open_page


def require_chromium() -> Path:
    """The Chromium executable; skip the test without one, fail in CI."""
    exe = chromium_path()
    if exe is None:
        message = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; the scene tests must run in CI.")
        pytest.skip(message)
    return exe


def shoot(
    html: Path,
    png: Path,
    *,
    actions: list[tuple[str, Path]] = (),
    width: int = 1200,
    height: int = 800,
    timeout_s: float = 120.0,
    status: str = "window.sceneStatus",
    mobile: bool = False,
) -> tuple[PageReport, list[np.ndarray]]:
    """Open ``html`` without network, screenshot it (then after each action).

    Returns the page report and the screenshots as RGB uint8 arrays (first the page as
    loaded, then one per action that names a path).
    """
    require_chromium()
    report = open_page(
        html, png, width=width, height=height, timeout_s=timeout_s, status=status, actions=list(actions), mobile=mobile
    )
    paths = [png, *(path for _, path in actions if path is not None)]
    return report, [np.asarray(Image.open(p).convert("RGB")) for p in paths]
