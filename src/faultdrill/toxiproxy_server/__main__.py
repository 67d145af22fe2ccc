"""``python3 -m faultdrill.toxiproxy_server`` — flags as toxiproxy-server's.

Both ``--host`` and Go-style ``-host`` (and ``-host=value``) forms work.
Logs are JSON lines on stdout; ``LOG_LEVEL`` selects the level.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import logs
from .dataplane import AUTO_PROCESSES_MAX, usable_cpus
from .server import VERSION, ServerStartError, serve


def _go_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def _processes(text: str) -> int:
    if text == "auto":
        return min(usable_cpus(), AUTO_PROCESSES_MAX)
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number of at least 1, got {text!r}")
    return value


def build_parser(prog: str = "python3 -m faultdrill.toxiproxy_server") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
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
    parser.add_argument(
        "-processes", "--processes", type=_processes, default="auto",
        help="processes that carry connections (faultdrill extension; default auto: one per usable CPU, "
             f"at most {AUTO_PROCESSES_MAX}); the API process is one of them",
    )
    parser.add_argument("-version", "--version", action="store_true", help="print the version and exit")
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = (build_parser(prog) if prog else build_parser()).parse_args(argv)
    if args.version:
        print(f"toxiproxy-server version {VERSION}")
        return 0
    logs.setup()
    try:
        return serve(
            args.host,
            args.port,
            config=args.config or None,
            proxy_metrics=args.proxy_metrics,
            runtime_metrics=args.runtime_metrics,
            processes=args.processes,
        )
    except ServerStartError as exc:
        logging.getLogger("faultdrill.toxiproxy_server").error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
