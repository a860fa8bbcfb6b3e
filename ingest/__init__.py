"""GIS and BIM readers: files into geo objects in the twin's CRS (no simulation knowledge)."""
