"""The load child records each request once, in its own per-second histograms: Locust's request statistics,
which nothing in faultdrill reads, are unhooked from every runner it makes (they were most of the harness's
cost per request over bare Locust, ``bench/load_overhead.py``).

Runs in a subprocess: importing the generator monkey-patches the process (gevent)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import json, sys, time
    from faultdrill.load.config import ChildConfig
    from faultdrill.load.generator import Generator
    from faultdrill.load.shape import Segment

    gen = Generator(ChildConfig(t0=time.monotonic(), duration=5, host="http://127.0.0.1:1", journeys=sys.argv[1],
                                segments=[Segment(5, 1)], request_timeout=1))
    runner = gen.env.create_local_runner()
    unhooked = gen.unhook_locust_stats()
    for _ in range(3):
        gen.env.events.request.fire(request_type="GET", name="/x", response_time=12.0, response_length=0,
                                    response=None, context={}, exception=None)
    ours = sum(acc.count for per_second in gen.buckets.data.values() for acc in per_second.values())
    print(json.dumps({"unhooked": unhooked, "locust": runner.stats.total.num_requests, "ours": ours}))
""")


def test_requests_are_recorded_by_faultdrill_only(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys.py"
    journeys.write_text("from locust import HttpUser, task\n\n\nclass Reader(HttpUser):\n"
                        "    @task\n    def read(self):\n        self.client.get('/x')\n")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(journeys)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # Locust's listener was found by name (a Locust release that renames it fails here, not silently in
    # the benchmark), its stats saw nothing, and faultdrill's record has every request.
    assert seen == {"unhooked": True, "locust": 0, "ours": 3}
