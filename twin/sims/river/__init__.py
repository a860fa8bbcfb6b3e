"""The river kind: river networks of a twin, catchment runoff (HBV-96), and the river-lake run and result."""
