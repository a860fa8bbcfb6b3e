"""The live twin: observed rain and gauges in, rolling flood forecasts out, with warnings.

Modules by concern: :mod:`~twin.live.config` (the forecast file), :mod:`~twin.live.observations`
(radar frames and gauges read and checked), :mod:`~twin.live.state` (the hot-start state on disk),
:mod:`~twin.live.assimilation` (boundary levels and nudging), :mod:`~twin.live.nowcast` (pysteps),
:mod:`~twin.live.members` (the forecast members on Dask), :mod:`~twin.live.alerts` (warnings per
building, facility and road), :mod:`~twin.live.publish` (the cycle folders) and
:mod:`~twin.live.cycle` (one cycle end to end, and :class:`~twin.live.cycle.Forecaster`).
"""
