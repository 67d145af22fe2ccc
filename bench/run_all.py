"""Every benchmark of the project, one after the other, gathered in one table.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...] [--out bench/RESULTS.md]

Benchmarks are run by hand (never in CI): they measure this machine, and their figures go into the
issue notes with the command that produced them. Each runs as its own process, one at a time, so
they don't compete for the cores; each alternates its sides over rounds and states its goals.
This prints one table — figure, goal, median, spread, verdict — and writes it, with the machine,
the date and every benchmark's own output, to ``--out``. Exit 1 when any goal was missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from figures import MARKER
from quiet import settle

HERE = Path(__file__).resolve().parent

BENCHES: list[tuple[str, list[str], list[str]]] = [
    # (what, full arguments, --quick arguments)
    ("Toxiproxy-compatible server vs direct", ["toxiproxy_bench.py", "--soak", "60"],
     ["toxiproxy_bench.py", "--seconds", "1", "--soak", "10"]),
    ("Load driver overhead vs bare Locust", ["load_overhead.py"], ["load_overhead.py", "--seconds", "6"]),
    ("Open-model capacity vs bare Locust's closed loop", ["load_capacity.py"], ["load_capacity.py", "--step", "2"]),
    ("Load scale-out: 2 workers vs 1", ["load_scale.py"], ["load_scale.py", "--seconds", "6"]),
    ("Local workers 1 / 2 / 4: scale-out ratio, per-worker efficiency, CPU", ["workers_bench.py"],
     ["workers_bench.py", "--seconds", "6", "--rounds", "1"]),
    ("Per-second fidelity: 50 -> 500 rps step", ["load_fidelity.py"], ["load_fidelity.py", "--rounds", "1"]),
    ("Coordinated omission: 1 s stall every 5 s", ["load_co.py"], ["load_co.py", "--rounds", "1"]),
    ("Run start: second 0 is a full second", ["load_start.py"], ["load_start.py", "--rounds", "1"]),
    ("Recorder overhead with the Docker engine counted (needs Docker)", ["recorder_bench.py"],
     ["recorder_bench.py", "--seconds", "8"]),
    ("Reaper: start cost, and a lost harness cleaned up (needs Docker)", ["reaper_start.py"],
     ["reaper_start.py", "--rounds", "1"]),
    ("Web console: a frame a second, 50 late joiners", ["console_feed.py"], ["console_feed.py", "--rounds", "1"]),
]


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    try:
        mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                           if line.startswith("MemTotal")))
        memory = f"{mem_kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        memory = "? GiB"
    return f"{os.cpu_count()} cores ({model}), {memory}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--only", nargs="*", default=None, help="run only benchmarks whose script name matches")
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, object]]] = []
    outputs: list[str] = []
    failures = 0
    for title, full, quick in BENCHES:
        argv = quick if args.quick else full
        if args.only and not any(o in argv[0] for o in args.only):
            continue
        command = [sys.executable, str(HERE / argv[0]), *argv[1:]]
        shown = " ".join(["python", "bench/" + argv[0], *argv[1:]])
        print(f"== {title}\n$ {shown}", flush=True)
        settle()  # the last benchmark's closed connections must not slow this one
        start = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=HERE)
        took = time.monotonic() - start
        figures = [json.loads(line[len(MARKER):]) for line in proc.stdout.splitlines() if line.startswith(MARKER)]
        text = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith(MARKER)).strip()
        if proc.returncode and not figures:
            text += "\n" + proc.stderr.strip()[-3000:]
        print(text + f"\n({took:.0f} s, exit {proc.returncode})\n", flush=True)
        failures += proc.returncode != 0
        rows += [(title, f) for f in figures]
        if not figures:
            rows.append((title, {"name": "(no figures: the benchmark failed)", "goal": "-", "median": float("nan"),
                                 "min": float("nan"), "max": float("nan"), "unit": "", "rounds": 0,
                                 "verdict": f"FAILED (exit {proc.returncode})"}))
        outputs += [f"### {title}", "", f"`{shown}` — {took:.0f} s, exit {proc.returncode}", "", "```", text, "```", ""]
    table = render(rows)
    print(table)
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    args.out.write_text("\n".join([
        "# faultdrill benchmarks", "", f"{stamp} · {machine()}", "",
        f"`python bench/run_all.py{' --quick' if args.quick else ''}` — each figure is the median over the "
        "benchmark's alternating rounds; spread is min–max.", "", table, "", "## Output of each benchmark", "",
        *outputs]))
    print(f"wrote {args.out}")
    return 1 if failures else 0


def _fmt(value: object) -> str:
    if not isinstance(value, (int, float)) or value != value:
        return "n/a"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def render(rows: list[tuple[str, dict[str, object]]]) -> str:
    lines = ["| benchmark | figure | goal | median | spread | rounds | verdict |", "|---|---|---|---|---|---|---|"]
    for title, f in rows:
        lines.append(f"| {title} | {f['name']} | {f['goal']} | {_fmt(f['median'])} {f['unit']} | "
                     f"{_fmt(f['min'])} – {_fmt(f['max'])} | {f['rounds']} | {f['verdict']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
