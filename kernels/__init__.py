"""Numba kernels on NumPy arrays: no I/O, no geo imports."""
