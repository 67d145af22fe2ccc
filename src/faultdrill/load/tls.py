"""Client TLS settings for a profile of simulated users (e.g. old phones that only speak TLS 1.1).

``client_context`` builds the ``SSLContext``; in the load child ``ssl`` is gevent-patched, so the
same function serves FastHttpUser (``ssl_context_factory``) and HttpUser (a requests adapter).
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
            "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"  # OpenSSL 3 offers TLS 1.0/1.1 only at security level 0


@dataclass(frozen=True)
class TlsSettings:
    min_version: str | None = None
    max_version: str | None = None
    ciphers: str | None = None
    verify: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TlsSettings | None:
        return cls(**data) if data else None

    @property
    def legacy(self) -> bool:
        return self.max_version in ("1.0", "1.1")


def client_context(settings: TlsSettings | None, ssl_module: Any = ssl) -> ssl.SSLContext:
    """A client context following ``settings`` (None: the library's modern defaults, no verification)."""
    settings = settings or TlsSettings()
    ctx: ssl.SSLContext = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_CLIENT)
    if not settings.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl_module.CERT_NONE
    else:
        ctx.load_default_certs()
    minimum = settings.min_version or ("1.0" if settings.legacy else None)
    with warnings.catch_warnings():  # simulating old clients is the point: no deprecation noise
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum:
            ctx.minimum_version = VERSIONS[minimum]
        if settings.max_version:
            ctx.maximum_version = VERSIONS[settings.max_version]
    ciphers = settings.ciphers or (LEGACY_CIPHERS if settings.legacy or minimum in ("1.0", "1.1") else None)
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def context_factory(settings: TlsSettings | None) -> Callable[..., ssl.SSLContext]:
    """An ``ssl_context_factory`` for FastHttpUser / geventhttpclient (which may pass ``cafile``).

    The context is built on first use and then shared by every user of the class: building one
    (with the CA bundle) costs event-loop time, and in the open model every arrival may be a new
    user. A context is meant to be shared; each connection still has its own TLS session."""
    built: list[ssl.SSLContext] = []

    def factory(*_args: Any, **_kwargs: Any) -> ssl.SSLContext:
        if not built:
            built.append(client_context(settings))
        return built[0]

    return factory


def requests_adapter(settings: TlsSettings | None) -> Any:
    """A requests ``HTTPAdapter`` whose connections use the profile's TLS context (for HttpUser)."""
    from requests.adapters import HTTPAdapter

    shared = context_factory(settings)

    class ProfileAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = shared()
            super().init_poolmanager(*args, **kwargs)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify if settings and settings.verify else False, cert)  # type: ignore[no-untyped-call]  # requests' stubs leave it untyped

    return ProfileAdapter()
