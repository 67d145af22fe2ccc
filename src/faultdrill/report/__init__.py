"""Reports from a run directory's saved data: plots and summaries."""
