"""``python3 -m faultdrill.toxiproxy_server`` — flags as toxiproxy-server's.

Both ``--host`` and Go-style ``-host`` (and ``-host=value``) forms work.
Logs are JSON lines on stdout; ``LOG_LEVEL`` selects the level.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

from .server import VERSION, ServerStartError, serve

_LEVELS = {
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}


def _go_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m faultdrill.toxiproxy_server",
        description="Toxiproxy-API-compatible TCP fault proxy (faultdrill).",
        allow_abbrev=False,
    )
    parser.add_argument("-host", "--host", default="localhost", help="API bind host (default localhost)")
    parser.add_argument("-port", "--port", type=int, default=8474, help="API port (default 8474)")
    parser.add_argument("-config", "--config", default="", help="JSON file loaded like POST /populate")
    parser.add_argument("-seed", "--seed", type=int, default=None, help="accepted and ignored")
    for flag in ("proxy-metrics", "runtime-metrics"):
        parser.add_argument(
            f"-{flag}", f"--{flag}", nargs="?", const=True, default=False, type=_go_bool,
            help=f"enable {flag.replace('-', ' ')} and the /metrics route",
        )
    parser.add_argument("-version", "--version", action="store_true", help="print the version and exit")
    return parser


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "level": record.levelname.lower(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created)),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        print(f"toxiproxy-server version {VERSION}")
        return 0
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonLines())
    logging.basicConfig(level=_LEVELS.get(os.environ.get("LOG_LEVEL", "info").lower(), logging.INFO),
                        handlers=[handler])
    try:
        return serve(
            args.host,
            args.port,
            config=args.config or None,
            proxy_metrics=args.proxy_metrics,
            runtime_metrics=args.runtime_metrics,
        )
    except ServerStartError as exc:
        logging.getLogger("faultdrill.toxiproxy_server").error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
