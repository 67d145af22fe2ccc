"""Run history: every run directory indexed in an embedded SQLite file beside the results.

``rows`` turns one run directory into typed rows (pure reading); ``store`` keeps them in
``<results>/history.sqlite`` and rebuilds it from the run directories when it is missing or
corrupt; ``gate`` is the noise-aware regression gate (median and MAD of the previous runs);
``trend`` prints and plots the series.
"""

from faultdrill.history.store import INDEX_NAME, HistoryStore, index_run, open_history

__all__ = ["INDEX_NAME", "HistoryStore", "index_run", "open_history"]
