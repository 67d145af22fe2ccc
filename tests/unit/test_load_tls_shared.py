"""Every user of a class shares one TLS client context: building one per user (FastHttpUser's default,
which also loads the CA bundle) starved the open model's generator when each arrival was a new user."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

from faultdrill.load.tls import TlsSettings, context_factory

SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_factory_builds_once_and_shares_the_context() -> None:
    factory = context_factory(TlsSettings(max_version="1.1"))
    first = factory()
    assert factory(cafile=None) is first and first.maximum_version == ssl.TLSVersion.TLSv1_1


def test_users_without_a_tls_profile_share_an_unverified_context_per_class() -> None:
    # Locust patches the process with gevent on import: in a child, as the load generator does.
    script = textwrap.dedent("""
        import ssl
        from locust import task
        from locust.contrib.fasthttp import FastHttpUser
        from faultdrill.load.tls import TlsSettings
        from faultdrill.load.users import DEFAULT, ProfileSpec, profiled_classes

        class Reader(FastHttpUser):
            @task
            def read(self):
                pass

        (cls,) = profiled_classes([Reader], [DEFAULT], None)
        context = cls.ssl_context_factory()
        assert cls.ssl_context_factory() is context and context.verify_mode == ssl.CERT_NONE
        legacy, modern = profiled_classes([Reader], [ProfileSpec("legacy", 0.2, TlsSettings(max_version="1.1")),
                                                     ProfileSpec("modern", 0.8)], None)
        assert legacy.ssl_context_factory() is not modern.ssl_context_factory()  # one per (class, profile)
        assert legacy.ssl_context_factory().maximum_version == ssl.TLSVersion.TLSv1_1
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
