"""faultdrill's own Toxiproxy-API-compatible server (standard library only).

Behaviour follows Toxiproxy v2.12.0 as written down in
``docs/toxiproxy-api-spec.md``; the API, JSON shapes, error bodies and toxic
semantics match it.  Use it in-process::

    with ToxiproxyServer("127.0.0.1", 0) as srv:
        srv.api_url   # e.g. "http://127.0.0.1:40123"

or as a process: ``python3 -m faultdrill.toxiproxy_server --host 0.0.0.0
--port 8474 [--config FILE] [--proxy-metrics] [--processes N|auto]`` (Go-style
``-host``/``-port`` also work).

One Python process moves bytes on one core; the official server spreads over all
of them. ``--processes`` (default ``auto``: one per usable CPU, at most 4; the
in-process ``ToxiproxyServer`` defaults to 1) starts data-plane helper
processes that share every listener (``dataplane.py``, ``mirror.py``); a client
cannot tell, except that ``/metrics`` sums their counters and a helper lost
ends the server with exit code 1.

Deliberate differences from Toxiproxy 2.12.0
- ``GET /version`` reports ``2.12.0+faultdrill`` (same body format).
- Attribute values that crash the Go server are refused with 400
  (``{"error": "...", "status": 400}``): bandwidth ``rate < 0``, slicer
  ``average_size <= 0``, slicer ``size_variation >= average_size``.
- The upstream is dialled per connection concurrently; Go dials inside its
  accept loop, one at a time.
- A ``0.0.0.0`` listen address is reported as ``0.0.0.0:port`` (Go: ``[::]:port``).
- ``-seed`` is accepted and ignored (it has no effect in Toxiproxy either).
- ``-runtime-metrics`` exposes only a build-info gauge (no Go runtime metrics).
- A rewire of a live connection that stalls more than 10 s (toxic change while
  a peer never reads) closes that connection instead of hanging the API.

Extensions (read-only, in ``/metrics``, present whenever ``/metrics`` is on)
- ``faultdrill_proxy_active_connections{proxy}``: open proxied connections.
- ``faultdrill_proxy_connections_total{proxy}``: connections accepted and proxied.
- ``faultdrill_proxy_enabled{proxy}``: 1 while listening.
- with ``--proxy-metrics``: ``faultdrill_proxy_live_received_bytes_total`` and
  ``faultdrill_proxy_live_sent_bytes_total`` (labels as Toxiproxy's counters),
  counted *while streaming*; Toxiproxy's own ``toxiproxy_proxy_*_bytes_total``
  counters keep their semantics (added when a link ends).
"""

from .server import VERSION, ServerStartError, ToxiproxyServer, serve

__all__ = ["VERSION", "ServerStartError", "ToxiproxyServer", "serve"]
