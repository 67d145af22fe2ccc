"""Talking to a Toxiproxy server (official or faultdrill's own) through one client."""

from faultdrill.toxiproxy.client import ToxiproxyClient, ToxiproxyError

__all__ = ["ToxiproxyClient", "ToxiproxyError"]
