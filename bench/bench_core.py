"""Core benchmarks (issue 2): plugin overhead at collection, and the smoke stage's wall time.

    .venv/bin/python bench/bench_core.py [--runs 7]

Plugin overhead: ``pytest --collect-only -q`` on a generated suite of 2,000
trivial tests, with the plugin vs ``-p no:mlgates``, runs interleaved, median
of each; goal ratio <= 1.03. Smoke: ``pytest -m smoke`` on a copy of
examples/delivery_eta, median wall time; goal <= 20 s on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def plugin_overhead(runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp)
        for module in range(20):
            body = "".join(f"def test_{module}_{i}():\n    assert {i} == {i}\n\n" for i in range(100))
            (suite / f"test_gen_{module}.py").write_text(body)
        (suite / "pytest.ini").write_text("[pytest]\n")
        base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        with_plugin, without = [], []
        timed(base, suite)  # warm the file cache
        for _ in range(runs):
            with_plugin.append(timed(base, suite))
            without.append(timed([*base, "-p", "no:mlgates"], suite))
    return statistics.median(with_plugin), statistics.median(without)


def smoke_wall_time(runs: int) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "delivery_eta"
            shutil.copytree(ROOT / "examples" / "delivery_eta", project,
                            ignore=shutil.ignore_patterns(".mlgates", "__pycache__"))
            times.append(timed([sys.executable, "-m", "pytest", "-m", "smoke", "-q", "-p", "no:cacheprovider"],
                               project))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    on, off = plugin_overhead(args.runs)
    print(f"collect 2000 tests: with plugin {on:.3f} s, -p no:mlgates {off:.3f} s, ratio {on / off:.3f} "
          f"(median of {args.runs}, goal <= 1.03)")
    smoke = smoke_wall_time(max(3, args.runs // 2))
    print(f"smoke stage of examples/delivery_eta: {smoke:.2f} s (median of {max(3, args.runs // 2)}, goal <= 20 s)")


if __name__ == "__main__":
    main()
