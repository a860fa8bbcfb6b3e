"""The one progress bar of every long run: a live bar on a terminal, a few plain lines in a log.

tqdm redraws its bar with carriage returns several times a second; written into a file or a CI
log that is a hundred or more fragments of one long line. When the output is not a terminal (and
not a notebook, where tqdm draws a widget), :func:`progress` prints one full line at the start,
at every tenth of the total and at the end instead.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm.auto import tqdm as _auto_tqdm
from tqdm.std import tqdm as _std_tqdm

__all__ = ["progress"]

#: A non-terminal bar prints a line each time this share of the total is passed.
LOG_STEP = 0.1


class _LogBar(_std_tqdm):
    """A tqdm that writes whole lines, one per :data:`LOG_STEP` of progress, and no carriage returns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._printed: tuple[int, float] | None = None  # (tenth, count) of the last line printed
        super().__init__(*args, **kwargs)

    def _tenth(self) -> int:
        if not self.total:
            return 0
        return int(min(self.n, self.total) / self.total / LOG_STEP + 1e-9)

    def _line(self) -> None:
        self._printed = (self._tenth(), self.n)
        self.fp.write(self.__str__() + "\n")
        self.fp.flush()

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg is not None:  # tqdm clearing its line: nothing to clear in a log
            return False
        if self._printed is None or self._tenth() > self._printed[0]:
            self._line()
        return True

    def clear(self, nolock: bool = False) -> None:
        """Nothing to wipe: earlier lines stay in the log (``tqdm.write`` calls this around its message)."""

    def close(self) -> None:
        if not self.disable and self._printed is not None and self.n != self._printed[1]:
            self._line()  # where a run ended or stopped between tenths, once
        self.leave = False  # tqdm would redraw the last line and add a newline
        super().close()


def progress(
    total: float | None, desc: str, enabled: bool = True, *, file: TextIO | None = None, **options: Any
) -> _std_tqdm:
    """A progress bar over ``total`` units, live on a terminal, in a few lines in a log.

    Parameters
    ----------
    total : float or None
        The count the bar runs to (steps, simulated seconds, members).
    desc : str
        What runs, shown before the bar.
    enabled : bool
        False: a silent bar (updates are accepted and ignored).
    file : text stream, optional
        Where the bar goes (standard error by default). A terminal or a notebook gets tqdm's
        live bar; anything else one line at the start, at each tenth of ``total`` and at the end.
    **options
        Further tqdm options (``initial``, ``unit``, ``bar_format``, ...).

    Returns
    -------
    tqdm
        Use it like any tqdm (``update``, ``set_postfix_str``, ``write``, ``close``).
    """
    stream = file if file is not None else sys.stderr
    # tqdm.auto built its class on the notebook widget bar when it found a Jupyter kernel
    in_notebook = any(c.__module__ == "tqdm.notebook" for c in _auto_tqdm.__mro__)
    live = in_notebook or getattr(stream, "isatty", lambda: False)()
    if live:
        return _auto_tqdm(total=total, desc=desc, disable=not enabled, file=stream, **options)
    # every update reaches display(), which prints only when a tenth is passed
    options = {"mininterval": 0, "miniters": 1, **options}
    return _LogBar(total=total, desc=desc, disable=not enabled, file=stream, **options)
