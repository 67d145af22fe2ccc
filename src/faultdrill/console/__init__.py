"""The game day's web console: a facilitator view and a responder view served by the drill itself
(``access`` who may do what, ``redact`` what a responder may see, ``feed`` the per-second frames,
``server`` HTTP and the live stream, ``static/`` the pages)."""
