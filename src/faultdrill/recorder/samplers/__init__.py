"""The recorder's samplers: one module per kind of measurement, each writing one tidy CSV.

=================  ===================  ==========================================================
module             file                 source
=================  ===================  ==========================================================
``connections``    ``connections.csv``  each container's own netns (``/proc/<pid>/net/tcp{,6}``)
``resources``      ``resources.csv``    Docker stats stream + inspect (restarts, OOM, limits)
``app_metrics``    ``app_metrics.csv``  a service's Prometheus endpoint, through its published port
``database``       ``db.csv``           PostgreSQL statistics views (psycopg, or psql via exec)
``proxies``        ``proxies.csv``      Toxiproxy API (+ ``/metrics`` where served, else netns)
``ingress``        ``ingress.csv``      an nginx ``stub_status`` page, through its published port
=================  ===================  ==========================================================

Each module keeps its parsing and row building in pure functions (unit-tested with fakes) and its I/O
in a small sampler class. ``faultdrill.recorder.sampling`` runs them.
"""

from faultdrill.recorder.samplers.base import PartialSample, SamplerUnavailable

__all__ = ["PartialSample", "SamplerUnavailable"]
