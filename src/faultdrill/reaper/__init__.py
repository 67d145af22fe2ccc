"""The reaper: a tiny container beside a run's stack that heals and removes it if the harness dies.

Standard library only: it runs from the faultdrill base image's ``python3`` and talks to the Docker
engine through the mounted socket (``dockerapi``) and to Toxiproxy over HTTP. The harness holds a TCP
connection to it and streams the fault journal (``protocol``); a connection that drops without
``done`` means the harness is gone: after a grace period the reaper undoes what the journal says is
active (``plan``, ``heal``), removes everything labelled with the run id, writes its record
(``record``) and exits (its container removes itself).
"""
