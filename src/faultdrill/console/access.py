"""Who may do what in the web console (pure apart from drawing the tokens).

Two random tokens per run: the facilitator's (everything: read, mark, inject / heal / reveal, pause)
and the responders' (read and mark only). A token is compared with :func:`hmac.compare_digest`
against both, always, so the time an answer takes says nothing about either token. Requests must name
one of the addresses the console listens on in ``Host`` (a DNS-rebinding page names its own host) and,
when the browser sends ``Origin``, come from the console's own origin (a page elsewhere in the same
browser cannot drive it).
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

from faultdrill.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
LOOPBACK_NAMES = ("localhost",)


class Role(str, enum.Enum):
    FACILITATOR = "facilitator"
    RESPONDER = "responder"


READ_ROLES = frozenset({Role.FACILITATOR, Role.RESPONDER})
MARK_ROLES = READ_ROLES
CONTROL_ROLES = frozenset({Role.FACILITATOR})


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (or ``ADDR`` for a free port; ``[v6]:PORT``) → (address, port). A wildcard address
    is refused: the console checks each request's ``Host`` against the address people type."""
    if text.startswith("["):  # [v6]:PORT
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else (rest or "0")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:  # ADDR alone (or a bare v6 address): a free port
        host, port_text = text, "0"
    try:
        port = int(port_text)
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--listen {text!r}: expected ADDR:PORT with an IP address, e.g. 127.0.0.1:8800 or "
                         "10.0.0.5:8800", hint="a team network address your teammates can reach") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--listen {text!r}: port {port} is out of range (0-65535; 0 picks a free one)")
    if address.is_unspecified:
        raise UsageError(f"--listen {text!r}: a wildcard address cannot be checked against the Host header",
                         hint="name the one address teammates will open, e.g. --listen 10.0.0.5:8800")
    return str(address), port


def host_names(address: str, port: int) -> frozenset[str]:
    """The ``Host`` header values a browser sends for the console's own address."""
    ip = ipaddress.ip_address(address)
    shown = f"[{address}]" if ip.version == 6 else address
    names = {f"{shown}:{port}"}
    if ip.is_loopback:
        names |= {f"{name}:{port}" for name in LOOPBACK_NAMES}
    return frozenset(names)


@dataclass(frozen=True)
class Access:
    """The run's two tokens and the console's own addresses; decides each request."""

    hosts: frozenset[str]
    facilitator_token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    responder_token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    def role(self, token: str | None) -> Role | None:
        """The token's role, or None. Both comparisons always run, in constant time."""
        given = (token or "").encode()
        facilitator = hmac.compare_digest(given, self.facilitator_token.encode())
        responder = hmac.compare_digest(given, self.responder_token.encode())
        if facilitator and token:
            return Role.FACILITATOR
        if responder and token:
            return Role.RESPONDER
        return None

    def host_ok(self, host: str | None) -> bool:
        return (host or "").lower() in self.hosts

    def origin_ok(self, origin: str | None) -> bool:
        """No ``Origin`` (a same-origin GET, curl): fine; otherwise it must be the console's own."""
        if origin is None:
            return True
        return origin.lower() in {f"http://{h}" for h in self.hosts}

    def check(self, host: str | None, origin: str | None, token: str | None,
              allowed: frozenset[Role]) -> tuple[int, str] | Role:
        """A request's role, or (status, reason) to refuse it with."""
        if not self.host_ok(host):
            return 421, "this console answers only to its own address (Host header refused)"
        if not self.origin_ok(origin):
            return 403, "request from another site refused (Origin does not match the console)"
        role = self.role(token)
        if role is None:
            return 401, "missing or wrong token: open the link printed where the game day was started"
        if role not in allowed:
            return 403, f"the {role.value} link cannot do this (the facilitator's can)"
        return role
