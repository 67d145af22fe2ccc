"""The Toxiproxy HTTP API: routes, handlers and exact response shapes (spec §1, §2)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import gojson
from .errors import ApiError, bad_request_body
from .httpd import Request, Response
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Counts, Metrics
from .proxy import Proxy, ProxyAlreadyStarted, ProxyCollection

__all__ = ["Api"]

log = logging.getLogger(__name__)

HANDLER_TIMEOUT = 25.0
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"

RouteHandler = Callable[[Request, dict[str, str]], Awaitable[Response]]
#: Methods that may change the proxies (after which the data-plane processes are brought along).
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Route:
    segments: tuple[str, ...]
    methods: dict[str, RouteHandler]
    any_method: RouteHandler | None = None

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, part in zip(self.segments, parts):
            if pattern.startswith("{"):
                if not part:
                    return None
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params


class _RequestIds:
    """20-character xid-style ids (base32hex of time, random, pid, counter)."""

    _ALPHABET = "0123456789abcdefghijklmnopqrstuv"

    def __init__(self) -> None:
        self._machine = secrets.token_bytes(3)
        self._counter = int.from_bytes(secrets.token_bytes(3), "big")
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._counter = (self._counter + 1) & 0xFFFFFF
            counter = self._counter
        raw = (
            int(time.time()).to_bytes(4, "big")
            + self._machine
            + (os.getpid() & 0xFFFF).to_bytes(2, "big")
            + counter.to_bytes(3, "big")
        )
        number = int.from_bytes(raw, "big") << 4  # 96 bits -> 100 bits = 20 chars
        return "".join(self._ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(20)))


def json_response(status: int, body: str) -> Response:
    return Response(status, body.encode("utf-8"), [("Content-Type", JSON)])


def error_response(error: ApiError) -> Response:
    body = gojson.dumps({"error": error.message, "status": error.status}) + "\n"
    return Response(
        error.status,
        body.encode("utf-8"),
        [("Content-Type", TEXT), ("X-Content-Type-Options", "nosniff")],
    )


def no_content() -> Response:
    return Response(204)


class Api:
    def __init__(self, collection: ProxyCollection, metrics: Metrics, version: str) -> None:
        self.collection = collection
        self.metrics = metrics
        self.version = version
        self._ids = _RequestIds()
        self._routes = self._build_routes()
        #: Run after every request that may have changed the proxies, before its answer goes out
        #: (the other data-plane processes take the change on); raises ApiError if they could not.
        self.after_change: Callable[[], Awaitable[None]] | None = None
        #: The other data-plane processes' counters, for ``/metrics``.
        self.other_counts: Callable[[], Awaitable[list[Counts]]] | None = None

    def _build_routes(self) -> list[Route]:
        routes = [
            Route(("reset",), {"POST": self.reset}),
            Route(("proxies",), {"GET": self.proxy_index, "POST": self.proxy_create}),
            Route(("populate",), {"POST": self.populate}),
            Route(("proxies", "{proxy}"), {
                "GET": self.proxy_show, "POST": self.proxy_update,
                "PATCH": self.proxy_update, "DELETE": self.proxy_delete,
            }),
            Route(("proxies", "{proxy}", "toxics"), {"GET": self.toxic_index, "POST": self.toxic_create}),
            Route(("proxies", "{proxy}", "toxics", "{toxic}"), {
                "GET": self.toxic_show, "POST": self.toxic_update,
                "PATCH": self.toxic_update, "DELETE": self.toxic_delete,
            }),
            Route(("version",), {"GET": self.show_version}),
        ]
        if self.metrics.enabled:
            routes.append(Route(("metrics",), {}, any_method=self.show_metrics))
        return routes

    # -- dispatch --------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        parts = request.path.split("/")[1:] if request.path.startswith("/") else [request.path]
        handler: RouteHandler | None = None
        params: dict[str, str] | None = None
        for route in self._routes:
            params = route.match(parts)
            if params is None:
                continue
            handler = route.any_method or route.methods.get(request.method)
            if handler is None:
                return Response(405)  # empty body, no Content-Type, no request id
            break
        if handler is None or params is None:
            return Response(404, b"404 page not found\n",
                            [("Content-Type", TEXT), ("X-Content-Type-Options", "nosniff")])
        request_id = ("X-Toxiproxy-Request-Id", self._ids.next())
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return Response(403, b"User agent not allowed\n", [request_id, ("Content-Type", TEXT),
                                                                ("X-Content-Type-Options", "nosniff")])
        response = await self._run_with_timeout(handler, request, params)
        response.headers.insert(0, request_id)
        return response

    async def _run_with_timeout(
        self, handler: RouteHandler, request: Request, params: dict[str, str]
    ) -> Response:
        task = asyncio.get_running_loop().create_task(self._call(handler, request, params))
        done, _pending = await asyncio.wait({task}, timeout=HANDLER_TIMEOUT)
        if not done:
            log.warning("%s %s took longer than %.0f s; answering 503", request.method, request.path,
                        HANDLER_TIMEOUT)
            return Response(503)
        return task.result()

    async def _call(self, handler: RouteHandler, request: Request, params: dict[str, str]) -> Response:
        try:
            response = await handler(request, params)
        except ApiError as exc:
            response = error_response(exc)
        if self.after_change is not None and request.method in CHANGING and handler != self.show_metrics:
            try:
                await self.after_change()
            except ApiError as exc:
                return error_response(exc)
        return response

    # -- proxies -----------------------------------------------------------------------

    async def proxy_index(self, request: Request, params: dict[str, str]) -> Response:
        body = ",".join(gojson.dumps(p.name) + ":" + p.to_json() for p in self.collection.sorted())
        return json_response(200, "{" + body + "}")

    async def proxy_create(self, request: Request, params: dict[str, str]) -> Response:
        fields = _decode_proxy(request.body, {"listen": "", "upstream": "", "enabled": True})
        if not fields["name"]:
            raise ApiError.missing_field("name")
        if not fields["upstream"]:
            raise ApiError.missing_field("upstream")
        proxy = await self.collection.add(
            fields["name"], fields["listen"], fields["upstream"], fields["enabled"]
        )
        return json_response(201, proxy.to_json())

    async def proxy_show(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(200, self.collection.get(params["proxy"]).to_json())

    async def proxy_update(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self.collection.get(params["proxy"])
        async with proxy.toxics.lock:
            fields = _decode_proxy(
                request.body,
                {"listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled},
            )
            await proxy.update(fields["listen"], fields["upstream"], fields["enabled"])
        return json_response(200, proxy.to_json())

    async def proxy_delete(self, request: Request, params: dict[str, str]) -> Response:
        await self.collection.remove(params["proxy"])
        return no_content()

    async def populate(self, request: Request, params: dict[str, str]) -> Response:
        done: list[Proxy] = []
        error: ApiError | None = None
        try:
            entries = _decode_populate(request.body)
            for entry in entries:
                done.append(await self.collection.add_or_replace(*entry))
        except ApiError as exc:
            error = exc
        proxies = "[" + ",".join(p.to_json() for p in done) + "]" if done else "null"
        if error is None:
            return json_response(201, '{"proxies":' + proxies + "}")
        log.warning("failed to populate proxies: %s", error.message)
        body = ('{"error":' + gojson.dumps(error.message) + ',"status":' + str(error.status)
                + ',"proxies":' + proxies + "}")
        return json_response(error.status, body)

    async def reset(self, request: Request, params: dict[str, str]) -> Response:
        for proxy in list(self.collection.proxies.values()):
            async with proxy.toxics.lock:
                try:
                    await proxy.start()
                except ProxyAlreadyStarted:
                    pass
            await proxy.toxics.reset()
        return no_content()

    # -- toxics ------------------------------------------------------------------------

    async def toxic_index(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self.collection.get(params["proxy"])
        return json_response(200, "[" + ",".join(t.to_json() for t in proxy.toxics.list()) + "]")

    async def toxic_create(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self.collection.get(params["proxy"])
        toxic = await proxy.toxics.add_json(request.body)
        return json_response(200, toxic.to_json())

    async def toxic_show(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self.collection.get(params["proxy"])
        return json_response(200, proxy.toxics.get(params["toxic"]).to_json())

    async def toxic_update(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self.collection.get(params["proxy"])
        toxic = await proxy.toxics.update_json(params["toxic"], request.body)
        return json_response(200, toxic.to_json())

    async def toxic_delete(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self.collection.get(params["proxy"])
        await proxy.toxics.remove(params["toxic"])
        return no_content()

    # -- misc ----------------------------------------------------------------------------

    async def show_version(self, request: Request, params: dict[str, str]) -> Response:
        body = f'{{"version": "{self.version}"}}\n'
        return Response(200, body.encode(), [("Content-Type", "application/json;charset=utf-8")])

    async def show_metrics(self, request: Request, params: dict[str, str]) -> Response:
        others = await self.other_counts() if self.other_counts is not None else []
        text = self.metrics.render(self.collection.gauges(), others)
        return Response(200, text.encode(), [("Content-Type", METRICS_CONTENT_TYPE)])


def _decode_proxy(body: bytes, defaults: dict[str, Any]) -> dict[str, Any]:
    """Decode a proxy body onto ``defaults`` (Go: Decode into a pre-filled struct)."""
    try:
        value = gojson.decode_first_value(body)
        return _proxy_fields(value, defaults, "Proxy", "toxiproxy.Proxy")
    except gojson.GoJSONError as exc:
        raise bad_request_body(exc) from None


def _proxy_fields(value: Any, defaults: dict[str, Any], struct: str, go_type: str) -> dict[str, Any]:
    result: dict[str, Any] = {"name": "", **defaults}
    if value is None:
        return result
    if not isinstance(value, dict):
        raise gojson.GoJSONError(
            f"json: cannot unmarshal {gojson.kind_of(value)} into Go value of type {go_type}"
        )
    for key in ("name", "listen", "upstream"):
        found, raw = gojson.field_value(value, key)
        if found:
            decoded = gojson.as_string(raw, f"{struct}.{key}")
            if decoded is not None:
                result[key] = decoded
    found, raw = gojson.field_value(value, "enabled")
    if found:
        enabled = gojson.as_bool(raw, f"{struct}.enabled")
        if enabled is not None:
            result["enabled"] = enabled
    return result


_POPULATE_TYPE = (
    '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\" default:\\"true\\"" }'
)


def _decode_populate(body: bytes) -> list[tuple[str, str, str, bool]]:
    try:
        value = gojson.decode_first_value(body)
        if value is None:
            return []
        if not isinstance(value, list):
            raise gojson.GoJSONError(
                f"json: cannot unmarshal {gojson.kind_of(value)} into Go value of type {_POPULATE_TYPE}"
            )
        entries = [
            _proxy_fields(item, {"listen": "", "upstream": "", "enabled": True}, "Proxy", _POPULATE_TYPE[2:])
            for item in value
        ]
    except gojson.GoJSONError as exc:
        raise bad_request_body(exc) from None
    for number, entry in enumerate(entries, start=1):
        if not entry["name"]:
            raise ApiError.missing_field(f"name at proxy {number}")
        if not entry["upstream"]:
            raise ApiError.missing_field(f"upstream at proxy {number}")
    return [(e["name"], e["listen"], e["upstream"], e["enabled"]) for e in entries]
