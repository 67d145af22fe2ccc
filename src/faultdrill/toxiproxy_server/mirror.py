"""The proxies and their toxics as one message, and how a data-plane process takes it on.

The API process owns the state. After every change it sends each other data-plane process the
whole state (``state_message``) and waits until that process has made its own proxies match it
(``apply_state``): same names, upstreams and listeners (the very listening sockets, passed as file
descriptors, so the kernel hands each new connection to whichever process accepts it first), and
the same toxics in the same order. Toxics are added, updated and removed on live links with the
same code as an API call, so a connection behaves alike whichever process holds it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .metrics import Metrics
from .proxy import Proxy, ProxyCollection
from .toxic_collection import ToxicCollection
from .toxics import DOWNSTREAM, UPSTREAM, parse_direction

__all__ = ["MirrorError", "StateMessage", "apply_state", "state_message"]


class MirrorError(RuntimeError):
    """A state message this process cannot take on (a bug, never an API user's error)."""


@dataclass
class StateMessage:
    body: dict[str, Any]
    #: Listening sockets to pass, in the order of ``body["fds"]`` (proxy names): this process's
    #: copies, to close once they are sent.
    sockets: list[socket.socket]


def state_message(collection: ProxyCollection, known: Mapping[str, int]) -> StateMessage:
    """The whole state, with a listener of its own for each proxy whose generation the data-plane
    process does not yet serve (``known``: name -> generation)."""
    proxies: list[dict[str, Any]] = []
    sockets: list[socket.socket] = []
    names: list[str] = []
    try:
        for proxy in collection.sorted():
            if proxy.enabled and known.get(proxy.name) != proxy.generation:
                listener = proxy.shared_listener()
                if listener is None:
                    raise MirrorError(f"proxy {proxy.name!r} is enabled but its listener cannot be shared")
                sockets.append(listener)
                names.append(proxy.name)
            proxies.append({
                "name": proxy.name,
                "listen": proxy.listen,
                "upstream": proxy.upstream,
                "enabled": proxy.enabled,
                "generation": proxy.generation,
                "toxics": [{"json": t.to_json(), "revision": t.revision} for t in proxy.toxics.list()],
            })
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return StateMessage({"op": "state", "proxies": proxies, "fds": names}, sockets)


async def apply_state(collection: ProxyCollection, body: Mapping[str, Any], fds: list[int]) -> None:
    """Make ``collection`` match the state message ``body``; ``fds`` are its listeners, now ours."""
    listeners = dict(zip(body.get("fds", []), fds))
    try:
        wanted = {entry["name"]: entry for entry in body["proxies"]}
        for name in list(collection.proxies):
            if name not in wanted:
                await collection.remove(name)
        for name, entry in wanted.items():
            proxy = collection.proxies.get(name)
            if proxy is None:
                proxy = collection.proxies[name] = Proxy(name, entry["listen"], entry["upstream"], collection.metrics)
            await _apply_proxy(proxy, entry, listeners)
    finally:
        for fd in listeners.values():  # passed but not used: never leak a listener
            socket.socket(fileno=fd).close()


async def _apply_proxy(proxy: Proxy, entry: Mapping[str, Any], listeners: dict[str, int]) -> None:
    proxy.upstream = entry["upstream"]
    generation = int(entry["generation"])
    if not entry["enabled"]:
        proxy.stop()
        proxy.listen = entry["listen"]
        proxy.mirrored = generation
    elif proxy.mirrored != generation or not proxy.enabled:
        fd = listeners.pop(proxy.name, None)
        if fd is None:
            raise MirrorError(f"proxy {proxy.name!r}: a new listener (generation {generation}) came without its socket")
        proxy.stop()
        proxy.listen = entry["listen"]
        await proxy.start(socket.socket(fileno=fd))
        proxy.mirrored = generation
    await _apply_toxics(proxy.toxics, entry["toxics"])


async def _apply_toxics(toxics: ToxicCollection, entries: list[Mapping[str, Any]]) -> None:
    wanted: dict[str, tuple[bytes, int, dict[str, Any]]] = {}
    order: dict[str, list[str]] = {UPSTREAM: [], DOWNSTREAM: []}
    for entry in entries:
        raw = str(entry["json"]).encode()
        value = json.loads(raw)
        wanted[value["name"]] = (raw, int(entry["revision"]), value)
    for toxic in toxics.list():
        spec = wanted.get(toxic.name)
        if spec is None or (spec[2]["type"], spec[2]["stream"]) != (toxic.type, toxic.stream):
            await toxics.remove(toxic.name)
    for name, (_raw, _revision, value) in wanted.items():
        direction = parse_direction(str(value["stream"]))
        if direction is None:
            raise MirrorError(f"toxic {name!r}: unknown stream {value['stream']!r}")
        order[direction].append(name)
    for direction, names in order.items():
        have = [t.name for t in toxics.chain[direction][1:]]
        common = 0
        while common < min(len(have), len(names)) and have[common] == names[common]:
            common += 1
        for name in have[common:]:  # out of order: only ever after a change this process missed
            await toxics.remove(name)
        for name in names[:common]:
            raw, revision, _value = wanted[name]
            current = toxics.get(name)
            if current.revision != revision:
                (await toxics.update_json(name, raw)).revision = revision
        for name in names[common:]:
            raw, revision, _value = wanted[name]
            (await toxics.add_json(raw)).revision = revision


def proxy_metrics_counts(collection: ProxyCollection, metrics: Metrics) -> dict[str, object]:
    """This process's counters as the API process adds them to its ``/metrics``."""
    return metrics.counts(collection.gauges()).to_json()
