"""The water-resources kind: the scenario, the allocation run and result, its GeoPackage and plot."""
