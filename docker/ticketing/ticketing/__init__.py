"""Ticketing demo app for faultdrill: the system the seed drills break.

Modules: config (env), breaker, threadpool (pure, unit-tested); server (gunicorn
worker), db (schema, seed, pool), mail (thread/pool/skip), entries
(locking/queued), metrics, app (WSGI routes), wsgi (entry point).
"""
