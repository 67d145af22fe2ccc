"""Every benchmark of the project, one after the other, with their output gathered in one table file.

    .venv/bin/python bench/run_all.py [--quick] [--out bench/results.md]

Benchmarks are run by hand (never in CI): they measure this machine, and their figures go into the
issue notes with the command that produced them. Each runs as its own process, one at a time, so
they don't compete for the cores; `--quick` shortens the longer ones.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHES: list[tuple[str, list[str], list[str]]] = [
    # (what, full arguments, --quick arguments)
    ("Toxiproxy-compatible server vs direct (added latency, throughput)", ["toxiproxy_bench.py", "--seconds", "3"],
     ["toxiproxy_bench.py", "--seconds", "1"]),
    ("Load driver overhead vs bare Locust", ["load_overhead.py", "--rounds", "3", "--seconds", "8"],
     ["load_overhead.py", "--rounds", "1", "--seconds", "5"]),
    ("Load scale-out: workers 2 vs 1", ["load_scale.py", "--seconds", "10"], ["load_scale.py", "--seconds", "5"]),
    ("Per-second fidelity: 50 -> 500 rps step", ["load_fidelity.py"], ["load_fidelity.py"]),
    ("Coordinated omission: 1 s stall every 5 s at 200 rps", ["load_co.py"], ["load_co.py"]),
    ("Recorder CPU overhead, 6 services at 1 s (needs Docker)", ["recorder_bench.py", "--seconds", "60"],
     ["recorder_bench.py", "--seconds", "20"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    parser.add_argument("--only", nargs="*", default=None, help="run only benchmarks whose script name matches")
    args = parser.parse_args()
    sections = [f"# faultdrill benchmarks — {time.strftime('%Y-%m-%d %H:%M')}", ""]
    failures = 0
    for title, full, quick in BENCHES:
        argv = quick if args.quick else full
        if args.only and not any(o in argv[0] for o in args.only):
            continue
        command = [sys.executable, str(HERE / argv[0]), *argv[1:]]
        print(f"== {title}\n$ {' '.join(command)}", flush=True)
        start = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
        took = time.monotonic() - start
        output = (proc.stdout + ("\n" + proc.stderr if proc.returncode else "")).strip()
        print(output + f"\n({took:.0f} s, exit {proc.returncode})\n", flush=True)
        failures += proc.returncode != 0
        sections += [f"## {title}", "", f"`{' '.join(['python', 'bench/' + argv[0], *argv[1:]])}` — "
                     f"{took:.0f} s, exit {proc.returncode}", "", "```", output, "```", ""]
    args.out.write_text("\n".join(sections))
    print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
