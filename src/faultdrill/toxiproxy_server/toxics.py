"""Every Toxiproxy toxic: attributes (JSON shape, decoding, validation) and the
coroutine that applies it to a stub (see ``pipeline.Stub``).

Behaviour follows Toxiproxy v2.12.0's ``toxics/*.go`` (spec §5).  The one
deliberate difference: attribute values that crash the Go server (bandwidth
``rate < 0``, slicer ``average_size <= 0`` or ``size_variation >=
average_size``) are rejected by ``validate`` with a 400 instead.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from . import gojson
from .pipeline import INTERRUPTED, TIMED_OUT, Chunk, Stub

__all__ = [
    "TOXIC_TYPES",
    "Direction",
    "InvalidAttributes",
    "NoopToxic",
    "Toxic",
    "ToxicWrapper",
    "parse_direction",
]

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
Direction = str  # "upstream" (client -> server) or "downstream" (server -> client)


def parse_direction(stream: str) -> Direction | None:
    lowered = stream.lower()
    if lowered in (UPSTREAM, DOWNSTREAM):
        return lowered
    return None


class InvalidAttributes(ValueError):
    """Attribute values this server refuses (the Go server would crash on them)."""


def _now() -> float:
    return asyncio.get_running_loop().time()


@dataclass
class Toxic:
    """Base: attributes are the dataclass fields; ``GO_TYPES`` gives their Go types."""

    TYPE: ClassVar[str] = ""
    GO_NAME: ClassVar[str] = ""
    GO_TYPES: ClassVar[dict[str, str]] = {}
    BUFFER_SIZE: ClassVar[int] = 0

    def attributes(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def merge(self, attrs: Any, path_prefix: str | None = None) -> Toxic:
        """A copy with ``attrs`` (decoded JSON) merged in, Go-style."""
        prefix = path_prefix if path_prefix is not None else f"{self.GO_NAME}.attributes"
        if attrs is None:
            return type(self)(**self.attributes())
        if not isinstance(attrs, dict):
            raise gojson.GoJSONError(
                f"json: cannot unmarshal {gojson.kind_of(attrs)} into Go struct field "
                f"{prefix} of type toxics.{self.GO_NAME}"
            )
        values = self.attributes()
        for name, go_type in self.GO_TYPES.items():
            found, raw = gojson.field_value(attrs, name)
            if found:
                decoded = gojson.as_int(raw, f"{prefix}.{name}", go_type)
                if decoded is not None:
                    values[name] = decoded
        return type(self)(**values)

    def validate(self) -> None:
        """Raise InvalidAttributes for values this server will not run."""

    def new_state(self) -> Any:
        return None

    def cleanup(self, stub: Stub) -> None:
        """Called when the toxic is removed from a live link (only timeout has one)."""

    async def pipe(self, stub: Stub) -> None:
        raise NotImplementedError


@dataclass
class NoopToxic(Toxic):
    TYPE: ClassVar[str] = "noop"
    GO_NAME: ClassVar[str] = "NoopToxic"

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            await stub.send(chunk)


NOOP = NoopToxic()


@dataclass
class LatencyToxic(Toxic):
    TYPE: ClassVar[str] = "latency"
    GO_NAME: ClassVar[str] = "LatencyToxic"
    GO_TYPES: ClassVar[dict[str, str]] = {"latency": "int64", "jitter": "int64"}
    BUFFER_SIZE: ClassVar[int] = 1024
    latency: int = 0
    jitter: int = 0

    def delay(self) -> float:
        delay_ms = self.latency
        if self.jitter > 0:
            delay_ms += random.randrange(self.jitter * 2) - self.jitter
        return delay_ms / 1000.0

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            sleep = self.delay() - (_now() - chunk.timestamp)
            if not await stub.sleep(sleep):
                await stub.send(chunk)  # exit fast, never drop data
                return
            chunk.timestamp += sleep
            await stub.send(chunk)


@dataclass
class BandwidthToxic(Toxic):
    TYPE: ClassVar[str] = "bandwidth"
    GO_NAME: ClassVar[str] = "BandwidthToxic"
    GO_TYPES: ClassVar[dict[str, str]] = {"rate": "int64"}
    rate: int = 0  # KB/s, KB = 1000 bytes

    def validate(self) -> None:
        if self.rate < 0:
            raise InvalidAttributes(
                f"invalid bandwidth rate {self.rate}: must be >= 0 (KB/s; 0 stalls the stream)"
            )

    async def pipe(self, stub: Stub) -> None:
        sleep = 0.0
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            rate = self.rate
            if rate <= 0:
                sleep = 0.0
            else:
                sleep += (len(chunk.data) * 1_000_000 // rate) / 1e9
            piece = rate * 100
            # Rates low enough to need it: send in 100 ms pieces (rate 0 stalls).
            while len(chunk.data) > piece:
                if not await stub.sleep(0.1):
                    await stub.send(chunk)
                    return
                await stub.send(Chunk(chunk.data[: max(piece, 0)], chunk.timestamp))
                chunk.data = chunk.data[max(piece, 0) :]
                sleep -= 0.1
            start = _now()
            if not await stub.sleep(sleep):
                await stub.send(chunk)
                return
            sleep -= _now() - start
            await stub.send(chunk)


@dataclass
class SlowCloseToxic(Toxic):
    TYPE: ClassVar[str] = "slow_close"
    GO_NAME: ClassVar[str] = "SlowCloserToxic"
    GO_TYPES: ClassVar[dict[str, str]] = {"delay": "int64"}
    delay: int = 0  # ms

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                # The input stays closed, so a restarted or removed stub sees EOF again.
                if await stub.sleep(self.delay / 1000.0):
                    stub.close()
                return
            await stub.send(chunk)


@dataclass
class TimeoutToxic(Toxic):
    TYPE: ClassVar[str] = "timeout"
    GO_NAME: ClassVar[str] = "TimeoutToxic"
    GO_TYPES: ClassVar[dict[str, str]] = {"timeout": "int64"}
    timeout: int = 0  # ms

    async def pipe(self, stub: Stub) -> None:
        timeout = self.timeout / 1000.0 if self.timeout > 0 else None
        while True:
            chunk = await stub.recv(timeout)
            if chunk is INTERRUPTED:
                return
            if chunk is TIMED_OUT or chunk is None:
                stub.close()
                return
            # Data is dropped on the floor.

    def cleanup(self, stub: Stub) -> None:
        stub.close()


@dataclass
class ResetPeerToxic(Toxic):
    TYPE: ClassVar[str] = "reset_peer"
    GO_NAME: ClassVar[str] = "ResetToxic"
    GO_TYPES: ClassVar[dict[str, str]] = {"timeout": "int64"}
    timeout: int = 0  # ms

    async def pipe(self, stub: Stub) -> None:
        chunk = await stub.recv()
        if chunk is INTERRUPTED:
            return
        # First chunk (or EOF): drop it, wait (not interruptible), close the link.
        await asyncio.sleep(max(self.timeout, 0) / 1000.0)
        stub.close()


@dataclass
class SlicerToxic(Toxic):
    TYPE: ClassVar[str] = "slicer"
    GO_NAME: ClassVar[str] = "SlicerToxic"
    GO_TYPES: ClassVar[dict[str, str]] = {
        "average_size": "int",
        "size_variation": "int",
        "delay": "int",
    }
    average_size: int = 0
    size_variation: int = 0
    delay: int = 0  # microseconds

    def validate(self) -> None:
        if self.average_size <= 0:
            raise InvalidAttributes(
                f"invalid slicer average_size {self.average_size}: must be >= 1"
            )
        if self.size_variation >= self.average_size:
            raise InvalidAttributes(
                f"invalid slicer size_variation {self.size_variation}: "
                f"must be less than average_size ({self.average_size})"
            )
        if self.average_size + self.size_variation < 1:
            raise InvalidAttributes(
                f"invalid slicer size_variation {self.size_variation}: "
                "average_size + size_variation must be >= 1"
            )

    def pieces(self, length: int) -> list[tuple[int, int]]:
        """Recursive halving, iteratively (Go's ``chunk``), as (start, end) pairs."""
        result: list[tuple[int, int]] = []
        stack = [(0, length)]
        while stack:
            start, end = stack.pop()
            if (end - start) - self.average_size <= self.size_variation:
                result.append((start, end))
                continue
            mid = start + (end - start) // 2
            if self.size_variation > 0:
                mid += random.randrange(self.size_variation * 2) - self.size_variation
            stack.append((mid, end))
            stack.append((start, mid))
        return result

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            for start, end in self.pieces(len(chunk.data)):
                await stub.send(Chunk(chunk.data[start:end], chunk.timestamp))
                if not await stub.sleep(self.delay / 1_000_000.0):
                    await stub.send(Chunk(chunk.data[end:], chunk.timestamp))
                    return


@dataclass
class _LimitState:
    transmitted: int = 0


@dataclass
class LimitDataToxic(Toxic):
    TYPE: ClassVar[str] = "limit_data"
    GO_NAME: ClassVar[str] = "LimitDataToxic"
    GO_TYPES: ClassVar[dict[str, str]] = {"bytes": "int64"}
    bytes: int = 0

    def new_state(self) -> Any:
        return _LimitState()

    async def pipe(self, stub: Stub) -> None:
        state: _LimitState = stub.state if stub.state is not None else _LimitState()
        stub.state = state
        remaining = self.bytes - state.transmitted
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                stub.close()
                return
            remaining = max(remaining, 0)
            if remaining < len(chunk.data):
                chunk.data = chunk.data[:remaining]
            if chunk.data:
                await stub.send(chunk)
                state.transmitted += len(chunk.data)
                remaining = self.bytes - state.transmitted
            if remaining <= 0:
                stub.close()
                return


TOXIC_TYPES: dict[str, type[Toxic]] = {
    cls.TYPE: cls
    for cls in (
        LatencyToxic,
        BandwidthToxic,
        SlowCloseToxic,
        TimeoutToxic,
        ResetPeerToxic,
        SlicerToxic,
        LimitDataToxic,
        NoopToxic,
    )
}


@dataclass
class ToxicWrapper:
    """A toxic as the API sees it (Go's ToxicWrapper)."""

    name: str
    type: str
    stream: str  # exactly as sent
    direction: Direction
    toxicity: float
    toxic: Toxic = field(default_factory=NoopToxic)
    index: int = 0
    #: Bumped by every update: how data-plane processes tell an updated toxic (``mirror.py``).
    revision: int = 0

    @property
    def buffer_size(self) -> int:
        return self.toxic.BUFFER_SIZE

    def to_json(self) -> str:
        """Key order and number format of Toxiproxy: attributes, name, type, stream, toxicity."""
        return (
            '{"attributes":' + gojson.dumps(self.toxic.attributes())
            + ',"name":' + gojson.dumps(self.name)
            + ',"type":' + gojson.dumps(self.type)
            + ',"stream":' + gojson.dumps(self.stream)
            + ',"toxicity":' + gojson.format_float32(self.toxicity)
            + "}"
        )


def hidden_noop(direction: Direction) -> ToxicWrapper:
    """The invisible stub at index 0 of every chain."""
    return ToxicWrapper(name="", type="noop", stream=direction, direction=direction, toxicity=1.0)
