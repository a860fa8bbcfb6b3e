"""Developer tools that are not part of the installed package (the Chromium screenshot helper)."""
