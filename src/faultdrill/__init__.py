"""faultdrill: rehearse outages on your own stack before they happen.

This module stays free of third-party imports: the Toxiproxy-compatible server
(`faultdrill.toxiproxy_server`) runs inside a bare container from it.
"""

__version__ = "0.1.0"
