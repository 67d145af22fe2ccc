"""Pure analysis of recorded series: windows, percentiles, checks. No I/O."""
