"""The terrain kind: terrain hydrology of a twin (filled DEM, D8, accumulation, basins, streams, HAND)."""
