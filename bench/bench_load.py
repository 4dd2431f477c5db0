"""Load-runner benchmarks (issue 3): generator capacity beside wrk, and p99 accuracy.

    .venv/bin/python bench/bench_load.py [--runs 5] [--seconds 5]

Capacity: the same local endpoint (router + one model server with a small
scikit-learn pipeline) is loaded, in one run, by our locust runner
(FastHttpUser, no wait, 8 users) and by ``wrk`` (2 threads, 8 connections,
the same POST body), alternating, ``--runs`` times each; reported are the
median requests/s of each and the ratio locust / wrk. On 2 cores the model
server is the bottleneck for both, so the ratio says whether the generator
costs throughput, not how fast locust is in isolation; a second pair against
a route of the model server that does no model work (``POST /mlgates/faults``
with ``{}``) shows the generators' own limits.

Accuracy: the gate's p99 (client side, every request's exact latency) vs
the p99 of the same requests measured inside the model server (time in the
ASGI handler), with 4% of requests delayed by 200 ms so the p99 lies in the
tail; the load goes straight to the deployment so both sides see the same
requests. Twice: at a steady 50 requests/s (the realistic case) and
saturated (no wait, where queueing in the server's event loop before the
handler starts is real latency the client sees but the handler cannot). Also shown: how far locust's own 2-significant-figure rounding
would move the p99. Goal: within 5%.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_mlgates.adapters.local import LocalAdapter  # noqa: E402
from pytest_mlgates.gates.load import LoadResult  # noqa: E402
from pytest_mlgates.loadtest.runner import bodies_from_rows, run_load  # noqa: E402
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model  # noqa: E402


def wrk_rps(url: str, body: dict, seconds: int, path: str = "/invocations") -> float:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                          f'wrk.headers["Content-Type"] = "application/json"\n')
        out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "-s", str(script), url + path],
                             capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(out)


def locust_rps(url: str, bodies: list[dict], seconds: int, path: str = "/invocations") -> float:
    result = run_load(url, bodies, users=8, spawn_rate=100, duration=seconds, path=path,
                      check_predictions=path == "/invocations")
    return result.rps


def locust_style(value_ms: float) -> float:
    """How locust's statistics store a response time: rounded to 2 significant figures above 100 ms."""
    if value_ms < 100:
        return round(value_ms)
    if value_ms < 1000:
        return round(value_ms, -1)
    return round(value_ms, -2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        adapter = LocalAdapter(state_dir=Path(tmp) / "state")
        model = adapter.registry.register("eta", train_demo_model(Path(tmp) / "m"), {"val_mae": 1.0}, {})
        ep = adapter.deploy_to_endpoint("bench", model, "blue")
        deployment = adapter.endpoints.record("bench")["deployments"]["blue"]["url"]
        bodies = bodies_from_rows(demo_rows(200, seed=5).drop(columns=[TARGET]))
        try:
            for target, url, path, load in (("endpoint POST /invocations", ep.url, "/invocations", bodies),
                                            ("model server POST /mlgates/faults (no model work)", deployment,
                                             "/mlgates/faults", [{}])):
                ours, theirs = [], []
                for _ in range(args.runs):
                    ours.append(locust_rps(url, load, args.seconds, path))
                    theirs.append(wrk_rps(url, load[0], args.seconds, path))
                a, b = statistics.median(ours), statistics.median(theirs)
                print(f"capacity {target}: locust {a:.0f} req/s, wrk {b:.0f} req/s, ratio {a / b:.2f} "
                      f"(runs: locust {[round(x) for x in ours]}, wrk {[round(x) for x in theirs]})", flush=True)

            adapter.endpoints.set_faults("bench", "blue", latency_ms=200, latency_fraction=0.04)
            for label, rps, count in (("at 50 req/s", 50.0, 1000), ("saturated (no wait)", None, 1500)):
                errors, rounding = [], []
                for _ in range(args.runs):
                    requests.get(deployment + "/mlgates/latencies?reset=1", timeout=10)
                    result = run_load(deployment, bodies, users=4, spawn_rate=100, duration=120,
                                      max_requests=count, rps=rps)
                    server = requests.get(deployment + "/mlgates/latencies", timeout=10).json()["latencies"]
                    server_p99 = LoadResult.from_samples([ms for _, ms, _ in server]).p99_ms
                    gate_p99 = result.p99_ms
                    rounded = LoadResult.from_samples([locust_style(x) for x in result.latencies_ms]).p99_ms
                    errors.append((gate_p99 - server_p99) / server_p99)
                    rounding.append(abs(rounded - gate_p99))
                    print(f"  {label}: p99 gate {gate_p99:.2f} ms vs server {server_p99:.2f} ms over "
                          f"{result.requests} / {len(server)} requests: {errors[-1]:+.2%}; locust-style "
                          f"rounding moves it {rounding[-1]:.2f} ms", flush=True)
                print(f"accuracy {label}: median relative difference gate p99 vs server p99 "
                      f"{statistics.median(errors):+.2%} (max |diff| {max(abs(e) for e in errors):.2%}); "
                      f"median shift from locust-style rounding {statistics.median(rounding):.2f} ms", flush=True)
        finally:
            adapter.delete_endpoint("bench")


if __name__ == "__main__":
    main()
