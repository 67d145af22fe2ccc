"""A proxy's toxics and the live links they apply to (Go's ToxicCollection)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from . import gojson
from .errors import ApiError, bad_request_body
from .link import Link
from .toxics import (
    DOWNSTREAM,
    TOXIC_TYPES,
    UPSTREAM,
    Direction,
    InvalidAttributes,
    ToxicWrapper,
    hidden_noop,
    parse_direction,
)

__all__ = ["ToxicCollection"]

log = logging.getLogger(__name__)

# A live-link rewire that takes longer than this (a peer that never reads, say)
# closes that connection instead of blocking the API forever.
LINK_OPERATION_TIMEOUT = 10.0


class ToxicCollection:
    def __init__(self) -> None:
        self.chain: dict[Direction, list[ToxicWrapper]] = {
            UPSTREAM: [hidden_noop(UPSTREAM)],
            DOWNSTREAM: [hidden_noop(DOWNSTREAM)],
        }
        self.links: dict[Link, Any] = {}  # link -> owner with .abort() (its connection)
        self.lock = asyncio.Lock()

    # -- queries -------------------------------------------------------------------

    def list(self) -> list[ToxicWrapper]:
        """Upstream toxics first, then downstream, each in insertion order."""
        return self.chain[UPSTREAM][1:] + self.chain[DOWNSTREAM][1:]

    def find(self, name: str) -> ToxicWrapper | None:
        for toxic in self.list():
            if toxic.name == name:
                return toxic
        return None

    def get(self, name: str) -> ToxicWrapper:
        toxic = self.find(name)
        if toxic is None:
            raise ApiError.toxic_not_found()
        return toxic

    def has_type(self, toxic_type: str) -> bool:
        return any(t.type == toxic_type for t in self.list())

    # -- links ---------------------------------------------------------------------

    def register_link(self, link: Link, owner: Any) -> None:
        self.links[link] = owner

    def unregister_link(self, link: Link) -> None:
        self.links.pop(link, None)

    async def _for_links(
        self, direction: Direction, operation: Callable[[Link], Awaitable[None]]
    ) -> None:
        targets = [(link, owner) for link, owner in self.links.items() if link.direction == direction]
        if not targets:
            return
        await asyncio.gather(*(self._guarded(link, owner, operation(link)) for link, owner in targets))

    @staticmethod
    async def _guarded(link: Link, owner: Any, operation: Awaitable[None]) -> None:
        try:
            await asyncio.wait_for(operation, LINK_OPERATION_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("toxic change stalled on a live link; closing that connection")
            owner.abort()

    # -- changes -------------------------------------------------------------------

    async def add_json(self, body: bytes) -> ToxicWrapper:
        async with self.lock:
            wrapper, attributes = _decode_new_toxic(body)
            if self.find(wrapper.name) is not None:
                raise ApiError.toxic_already_exists()
            try:
                wrapper.toxic = wrapper.toxic.merge(attributes)
            except gojson.GoJSONError as exc:
                raise bad_request_body(exc) from None
            _validate(wrapper)
            chain = self.chain[wrapper.direction]
            wrapper.index = len(chain)
            chain.append(wrapper)
            await self._for_links(wrapper.direction, lambda link: link.add_toxic(wrapper))
            return wrapper

    async def update_json(self, name: str, body: bytes) -> ToxicWrapper:
        async with self.lock:
            wrapper = self.get(name)
            try:
                value = gojson.decode_first_value(body)
                attributes, toxicity = _decode_update(value, wrapper)
                toxic = wrapper.toxic.merge(attributes, ".attributes")
            except gojson.GoJSONError as exc:
                raise bad_request_body(exc) from None
            candidate = ToxicWrapper(
                wrapper.name, wrapper.type, wrapper.stream, wrapper.direction, toxicity, toxic
            )
            _validate(candidate)
            wrapper.toxic = toxic
            wrapper.toxicity = toxicity
            wrapper.revision += 1
            await self._for_links(wrapper.direction, lambda link: link.update_toxic(wrapper))
            return wrapper

    async def remove(self, name: str) -> None:
        async with self.lock:
            await self._remove(self.get(name))

    async def reset(self) -> None:
        async with self.lock:
            for direction in (UPSTREAM, DOWNSTREAM):
                chain = self.chain[direction]
                while len(chain) > 1:
                    await self._remove(chain[-1])

    async def _remove(self, wrapper: ToxicWrapper) -> None:
        chain = self.chain[wrapper.direction]
        index = wrapper.index
        del chain[index]
        for i in range(index, len(chain)):
            chain[i].index = i
        await self._for_links(wrapper.direction, lambda link: link.remove_toxic(wrapper, index))
        wrapper.index = -1

    def clear(self) -> None:
        """Forget all toxics without touching links (the proxy is being discarded)."""
        for direction in (UPSTREAM, DOWNSTREAM):
            del self.chain[direction][1:]


def _decode_new_toxic(body: bytes) -> tuple[ToxicWrapper, Any]:
    """Decode a create-toxic body, checks in Toxiproxy's order (spec §2.7)."""
    try:
        value = gojson.decode_first_value(body)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise gojson.GoJSONError(
                f"json: cannot unmarshal {gojson.kind_of(value)} into Go value of type toxics.ToxicWrapper"
            )
        name = _string(value, "name")
        toxic_type = _string(value, "type")
        found, raw_stream = gojson.field_value(value, "stream")
        stream = gojson.as_string(raw_stream, "ToxicWrapper.stream") if found else None
        found, raw_toxicity = gojson.field_value(value, "toxicity")
        toxicity = gojson.as_float32(raw_toxicity, "ToxicWrapper.toxicity") if found else None
        found, attributes = gojson.field_value(value, "attributes")
        if found and attributes is not None and not isinstance(attributes, dict):
            raise gojson.GoJSONError(
                f"json: cannot unmarshal {gojson.kind_of(attributes)} into Go struct field "
                "ToxicWrapper.attributes of type toxics.Toxic"
            )
    except gojson.GoJSONError as exc:
        raise bad_request_body(exc) from None
    stream = DOWNSTREAM if stream is None else stream
    direction = parse_direction(stream)
    if direction is None:
        raise ApiError.invalid_stream()
    toxic_type = toxic_type or ""
    if not name:
        name = f"{toxic_type}_{stream}"
    toxic_class = TOXIC_TYPES.get(toxic_type)
    if toxic_class is None:
        raise ApiError.invalid_toxic_type()
    wrapper = ToxicWrapper(
        name=name,
        type=toxic_type,
        stream=stream,
        direction=direction,
        toxicity=1.0 if toxicity is None else toxicity,
        toxic=toxic_class(),
    )
    return wrapper, attributes if found else None


def _string(value: dict[str, Any], field: str) -> str | None:
    found, raw = gojson.field_value(value, field)
    return gojson.as_string(raw, f"ToxicWrapper.{field}") if found else None


def _decode_update(value: Any, wrapper: ToxicWrapper) -> tuple[Any, float]:
    if value is None:
        return None, wrapper.toxicity
    if not isinstance(value, dict):
        raise gojson.GoJSONError(
            f"json: cannot unmarshal {gojson.kind_of(value)} into Go value of type "
            "struct { Attributes interface {} \"json:\\\"attributes\\\"\"; Toxicity float32 \"json:\\\"toxicity\\\"\" }"
        )
    found, raw_toxicity = gojson.field_value(value, "toxicity")
    toxicity = gojson.as_float32(raw_toxicity, ".toxicity") if found else None
    _found, attributes = gojson.field_value(value, "attributes")
    return attributes, wrapper.toxicity if toxicity is None else toxicity


def _validate(wrapper: ToxicWrapper) -> None:
    try:
        wrapper.toxic.validate()
    except InvalidAttributes as exc:
        raise ApiError(str(exc), 400) from None
