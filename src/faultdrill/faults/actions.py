"""What a fault does to the target, as an action that can be applied, reverted and journaled."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from faultdrill.scenario.model import Fault, Toxic
from faultdrill.toxiproxy.client import ToxiproxyClient, ToxiproxyError


class Action(Protocol):
    def describe(self) -> dict[str, Any]: ...  # JSON-able; includes "key", what recovery needs
    def apply(self) -> None: ...
    def revert(self) -> None: ...


def toxic_name(fault_name: str) -> str:
    return "fd-" + (re.sub(r"[^a-z0-9]+", "-", fault_name.lower()).strip("-") or "fault")


@dataclass
class ToxicAction:
    client: ToxiproxyClient
    name: str
    toxic: Toxic

    def describe(self) -> dict[str, Any]:
        return {"type": "toxic", "key": ["toxic", self.client.api_url, self.toxic.proxy, self.name],
                "api": self.client.api_url, "proxy": self.toxic.proxy, "toxic": self.name,
                "toxic_type": self.toxic.type, "stream": self.toxic.stream, "toxicity": self.toxic.toxicity,
                "attributes": self.toxic.api_attributes()}

    def apply(self) -> None:
        self.client.add_toxic(self.toxic.proxy, self.name, self.toxic.type, self.toxic.api_attributes(),
                              stream=self.toxic.stream, toxicity=self.toxic.toxicity)

    def revert(self) -> None:
        self.client.remove_toxic(self.toxic.proxy, self.name, missing_ok=True)


def action_for(fault: Fault, toxiproxy: ToxiproxyClient | None) -> Action:
    if toxiproxy is None:
        raise ValueError(f"fault {fault.name!r} needs Toxiproxy, and this stack has no proxies")
    return ToxicAction(toxiproxy, toxic_name(fault.name), fault.toxic)


def revert_recorded(action: dict[str, Any], timeout: float = 3.0) -> str:
    """Revert an action known only from a journal (a crashed run). Returns what happened."""
    if action.get("type") == "toxic":
        with ToxiproxyClient(action["api"], timeout=timeout) as client:
            try:
                client.remove_toxic(action["proxy"], action["toxic"], missing_ok=True)
            except ToxiproxyError:
                return "toxiproxy gone (the toxic went with it)"
        return "toxic removed"
    return f"unknown action type {action.get('type')!r}: nothing to do"
