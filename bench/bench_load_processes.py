"""Load generation past one core (issue 14): locust's distributed mode vs one process, same session.

    .venv/bin/python bench/bench_load_processes.py [--runs 5] [--seconds 5] [--users 32]

Target: the local model server's ``POST /mlgates/faults`` (no model work), so the generator,
not the endpoint, is the bottleneck. Runs interleaved (1 process, N processes, 1, N, ...);
median requests/s of each and their ratio. Also checks, on every distributed run, that the
merged samples are exact: one latency per request, in start order, none rounded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_mlgates.adapters.local import LocalAdapter  # noqa: E402
from pytest_mlgates.loadtest.runner import run_load  # noqa: E402
from pytest_mlgates.serving.demo import train_demo_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average before "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = LocalAdapter(state_dir=Path(tmp) / "state")
        model = adapter.registry.register("eta", train_demo_model(Path(tmp) / "m"), {"val_mae": 1.0}, {})
        adapter.deploy_to_endpoint("bench", model, "blue")
        server = adapter.endpoints.record("bench")["deployments"]["blue"]["url"]
        rates: dict[int, list[float]] = {1: [], args.processes: []}
        try:
            for _ in range(args.runs):
                for n in rates:
                    result = run_load(server, [{}], users=args.users, spawn_rate=1000, duration=args.seconds,
                                      path="/mlgates/faults", check_predictions=False, processes=n)
                    assert result.start_times == sorted(result.start_times)
                    assert len(result.latencies_ms) == result.requests
                    rates[n].append(result.rps)
                    print(f"  {n} process(es): {result.rps:.0f} req/s over {result.requests} requests", flush=True)
        finally:
            adapter.delete_endpoint("bench")
    one, many = statistics.median(rates[1]), statistics.median(rates[args.processes])
    print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"locust capacity, {args.users} users: 1 process {one:.0f} req/s, {args.processes} processes {many:.0f} "
          f"req/s, gain {many / one:.2f}x (median of {args.runs} interleaved runs)")


if __name__ == "__main__":
    main()
