"""Simulations: the shared scenario base and result base, the registry of kinds, and one package per kind
(``flood``, ``river``, ``water``, ``terrain``) holding its scenario, run, result and helpers."""
