"""Run every benchmark (bench/bench_*.py) one after another and print a table of how each went.

    .venv/bin/python bench/run_all.py [--quick] [--only smoke,core] [--list]

`make bench` runs this. Each script runs in its own process with this
interpreter, its output streamed as it comes (prefixed with its name), and
the table at the end gives its exit status, wall time and its last result
line. ``--quick`` passes each script small run counts (a sanity pass, not
figures to record). The exit status is non-zero when any benchmark failed.
Figures worth keeping go in bench/README.md by hand, with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# Small run counts per script for --quick; a script not named here runs with no arguments.
QUICK_ARGS: dict[str, list[str]] = {
    "bench_core.py": ["--runs", "3"],
    "bench_drift.py": ["--rows", "100000", "--repeat", "2"],
    "bench_load.py": ["--runs", "1", "--seconds", "2"],
    "bench_load_processes.py": ["--runs", "1", "--seconds", "2"],
    "bench_rollout.py": ["--runs", "1"],
    "bench_serving.py": ["--runs", "1", "--seconds", "3"],
    "bench_smoke.py": ["--runs", "3"],
    "bench_proof.py": ["--runs", "2"],
}


@dataclass
class Outcome:
    """How one benchmark script ended."""

    script: str
    returncode: int
    seconds: float
    headline: str


def discover(folder: Path = BENCH, only: list[str] | None = None) -> list[Path]:
    """The bench_*.py scripts in ``folder``, sorted; ``only`` keeps those whose name holds one of the words."""
    scripts = sorted(folder.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(word in s.stem for word in only)]
    return scripts


def run_one(script: Path, args: list[str]) -> Outcome:
    """Run ``script`` with ``args``, stream its output prefixed with its name, keep its last line."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    last = ""
    with subprocess.Popen([sys.executable, str(script), *args], cwd=script.parent.parent, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"[{script.stem}] {line}", end="", flush=True)
            if line.strip():
                last = line.strip()
        returncode = proc.wait()
    return Outcome(script.name, returncode, time.perf_counter() - started, last)


def table(outcomes: list[Outcome], width: int = 100) -> str:
    """A markdown table: script, status, wall time, last output line (cut to ``width`` characters)."""
    lines = ["| script | status | wall | last line |", "|---|---|---|---|"]
    for o in outcomes:
        status = "ok" if o.returncode == 0 else f"FAILED (exit {o.returncode})"
        head = o.headline if len(o.headline) <= width else o.headline[: width - 3] + "..."
        lines.append(f"| {o.script} | {status} | {o.seconds:.1f} s | {head.replace('|', '/')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, folder: Path = BENCH) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run counts: check the scripts work")
    parser.add_argument("--only", default="", help="comma-separated words; run the scripts whose name holds one")
    parser.add_argument("--list", action="store_true", help="print the scripts that would run, then stop")
    args = parser.parse_args(argv)
    scripts = discover(folder, [w for w in args.only.split(",") if w])
    if not scripts:
        print(f"no benchmark matches {args.only!r} in {folder} (scripts are named bench_*.py)", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(s.name for s in scripts))
        return 0
    print(f"{len(scripts)} benchmarks, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    outcomes = [run_one(s, QUICK_ARGS.get(s.name, []) if args.quick else []) for s in scripts]
    print()
    print(table(outcomes))
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
