"""The flood kind: the scenario, its forcing (rain, storms, inflows), the run and its result, exposure of
buildings and people, depth frames, return periods and comparison of two results."""
