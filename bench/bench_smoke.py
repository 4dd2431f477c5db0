"""The PR stage beside the bare training script (issue 14): `pytest -m smoke` vs `python train.py`.

    .venv/bin/python bench/bench_smoke.py [--runs 7] [--rows 40000]

A copy of examples/delivery_eta with ``--rows`` rows of data. Side by side,
interleaved (bare, smoke, bare, smoke, ...): the bare script trained on the
same 500-row sample the smoke gate trains on, with the same hyperparameters,
and ``pytest -m smoke`` on the whole project (collection of the user's unit
tests, sampling, training in a subprocess, the sanity and baseline check).
Medians of each and their ratio, taken in the same session, so the load of a
shared machine moves both; goal: ratio <= 2.

Two pytest variants: "project" is what a user's environment runs (pytest and
pytest-mlgates as the only plugins: ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 -p
pytest_mlgates.plugin``); "dev venv" autoloads every plugin of this repository's
dev environment (hypothesis' plugin alone adds about a second at the end of
a session). Bytecode caching is on for every command, as on a developer's
machine or a CI runner (``--no-bytecode`` keeps PYTHONDONTWRITEBYTECODE).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "delivery_eta"


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def make_project(folder: Path, rows: int) -> tuple[Path, list[str]]:
    """A copy of the example with ``rows`` rows of data; returns it and the bare-script command."""
    project = folder / "delivery_eta"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlgates", "__pycache__", ".pytest_cache"))
    sys.path.insert(0, str(project))
    from deliveries import generate

    from pytest_mlgates.config import load_settings
    from pytest_mlgates.fixtures.core import deterministic_sample
    from pytest_mlgates.rows import read_table

    generate(rows).to_csv(project / "data" / "deliveries.csv", index=False)
    settings = load_settings(project / "pyproject.toml", env={})
    t = settings.training
    sample = folder / "sample.csv"
    deterministic_sample(read_table(project / t.data), t.smoke_rows, t.smoke_seed).to_csv(sample, index=False)
    hyper = {**t.hyperparameters, **t.smoke_hyperparameters}
    bare = [sys.executable, t.entry_point, "--data", str(sample), "--model-dir", str(folder / "bare-model")]
    for key, value in hyper.items():
        bare += [f"--{key}", str(value)]
    return project, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE if it is set")
    args = parser.parse_args()
    env = dict(os.environ)
    if not args.no_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    project_env = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average before "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mlgates-bench-smoke-") as tmp:
        project, bare = make_project(Path(tmp), args.rows)
        smoke = [sys.executable, "-m", "pytest", "-m", "smoke", "-q", "-p", "no:cacheprovider"]
        variants = {"project": (smoke + ["-p", "pytest_mlgates.plugin"], project_env), "dev venv": (smoke, env)}
        timed(bare, project, env)  # warm the file cache and write the bytecode of all three
        for cmd, variant_env in variants.values():
            timed(cmd, project, variant_env)
        times: dict[str, list[float]] = {"bare": [], **{name: [] for name in variants}}
        for _ in range(args.runs):
            times["bare"].append(timed(bare, project, env))
            for name, (cmd, variant_env) in variants.items():
                times[name].append(timed(cmd, project, variant_env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    runs = {name: ", ".join(f"{x:.2f}" for x in values) for name, values in times.items()}
    print(f"bare train.py on the 500-row sample: median {medians['bare']:.2f} s ({runs['bare']})")
    for name in variants:
        print(f"pytest -m smoke on {args.rows} rows, {name}: median {medians[name]:.2f} s ({runs[name]}); "
              f"ratio {medians[name] / medians['bare']:.2f}")
    print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"smoke / bare = {medians['project'] / medians['bare']:.2f} in a project's environment, "
          f"{medians['dev venv'] / medians['bare']:.2f} in the dev venv (medians of {args.runs} interleaved runs; "
          f"goal <= 2)")

if __name__ == "__main__":
    main()
