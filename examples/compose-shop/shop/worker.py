"""The order worker: takes orders off the Redis queue and counts them as processed."""

from __future__ import annotations

import os
import time

from clients import Redis

QUEUE = Redis(os.environ.get("QUEUE_URL", "redis://queue:6379/0"), 5.0)

if __name__ == "__main__":
    while True:
        try:
            item = QUEUE.call("BRPOP", "orders", "2", timeout=5.0)
            if item:
                QUEUE.call("INCR", "orders:done")
        except (OSError, RuntimeError):
            time.sleep(0.5)  # the queue is away: try again shortly
