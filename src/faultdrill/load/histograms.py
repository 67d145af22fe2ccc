"""The per-second record and its histograms moved to :mod:`faultdrill.histograms` (neutral ground, so
analysis and report need not import the load package); this name stays for code written against it."""

from faultdrill.histograms import (
    DEFAULT_PROFILE,
    ConnStats,
    LoadSecond,
    OpenStats,
    RequestStats,
    decode,
    encode,
    max_ms,
    merge,
    new_histogram,
    percentile_ms,
    record_ms,
)

__all__ = ["DEFAULT_PROFILE", "ConnStats", "LoadSecond", "OpenStats", "RequestStats", "decode", "encode",
           "max_ms", "merge", "new_histogram", "percentile_ms", "record_ms"]
