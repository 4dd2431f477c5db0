"""The locust runner: a real locust subprocess against a real local endpoint."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.loadtest import runner
from pytest_mlgates.loadtest.runner import (
    LoadTestError,
    bodies_from_rows,
    read_payload_file,
    rows_to_instances,
    run_load,
)
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model
from conftest import processes_mentioning




@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalAdapter, str, str]]:
    adapter = LocalAdapter(state_dir=tmp_path_factory.mktemp("state"))
    model = adapter.registry.register("eta", train_demo_model(tmp_path_factory.mktemp("m") / "m"), {"val_mae": 1.0}, {})
    ep = adapter.deploy_to_endpoint("eta-load", model, "blue")
    deployment_url = adapter.endpoints.record("eta-load")["deployments"]["blue"]["url"]
    yield adapter, ep.url, deployment_url
    adapter.delete_endpoint("eta-load")


BODIES = bodies_from_rows(demo_rows(100, seed=4).drop(columns=[TARGET]))


def test_every_request_is_recorded_exactly_and_matches_the_server(endpoint: tuple[LocalAdapter, str, str]) -> None:
    _, url, deployment_url = endpoint
    requests.get(deployment_url + "/mlgates/latencies?reset=1", timeout=10)
    result = run_load(url, BODIES, users=3, spawn_rate=100, duration=20, max_requests=150)
    assert result.requests == 150 and result.failures == 0 and result.errors == {}, result
    assert result.statuses == [200] * 150
    assert result.deployments == ["blue"] * 150  # attributed by the router's x-mlgates-deployment header
    # raw perf_counter latencies, not locust's 2-significant-figure statistics
    assert len({round(x, 6) for x in result.latencies_ms}) > 100
    assert any(x != round(x, 1) for x in result.latencies_ms)
    server = requests.get(deployment_url + "/mlgates/latencies", timeout=10).json()["latencies"]
    # the run stopped at the count: the server saw the 150 plus at most the users' in-flight requests
    assert 150 <= len(server) <= 150 + 3, len(server)
    # every client latency includes the server's own time for the request
    assert sorted(result.latencies_ms)[0] > min(ms for _, ms, _ in server)
    assert result.p50_ms <= result.p90_ms <= result.p95_ms <= result.p99_ms <= result.max_ms
    assert result.rps > 0 and result.duration_s > 0
    assert "locust" not in sys.modules and "gevent" not in sys.modules


def test_duration_stops_the_run(endpoint: tuple[LocalAdapter, str, str]) -> None:
    _, url, _ = endpoint
    result = run_load(url, BODIES, users=2, spawn_rate=100, duration=1.5, rps=40)
    assert 0 < result.requests
    assert max(result.start_times) - min(result.start_times) < 1.5
    # Poisson arrivals at 40 req/s for 1.5 s: 60 expected; 100 is 5 standard deviations above
    assert result.requests <= 100


def test_server_errors_are_counted_with_their_kind(endpoint: tuple[LocalAdapter, str, str]) -> None:
    adapter, url, _ = endpoint
    adapter.endpoints.set_faults("eta-load", "blue", error_rate=0.5)
    try:
        result = run_load(url, BODIES, users=2, spawn_rate=100, duration=10, max_requests=200)
    finally:
        adapter.endpoints.set_faults("eta-load", "blue", error_rate=0.0)
    assert result.requests == 200
    assert set(result.errors) == {"HTTP 500 InjectedFault"}
    assert result.errors["HTTP 500 InjectedFault"] == result.failures == result.statuses.count(500)
    assert 0.3 < result.error_rate < 0.7


def test_a_200_without_predictions_is_a_failure(endpoint: tuple[LocalAdapter, str, str]) -> None:
    _, url, _ = endpoint
    result = run_load(url, BODIES, users=1, spawn_rate=10, duration=10, max_requests=5, path="/ping")
    # GET-only route: POST /ping is 405 from the router
    assert result.failures == 5 and all(kind.startswith("HTTP 405") for kind in result.errors)


def test_unreachable_endpoint_is_all_failures_not_a_pass(unused_port: int) -> None:
    result = run_load(f"http://127.0.0.1:{unused_port}", BODIES, users=1, spawn_rate=10, duration=10,
                      max_requests=5, timeout=2)
    assert result.requests == 5 and result.failures == 5
    assert any("Connection" in kind or "refused" in kind.lower() for kind in result.errors), result.errors


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_locust_crash_is_an_error_with_its_output(endpoint: tuple[LocalAdapter, str, str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "locustfile.py"
    broken.write_text("raise RuntimeError('the locustfile is broken on purpose')\n")
    monkeypatch.setattr(runner, "LOCUSTFILE", broken)
    with pytest.raises(LoadTestError, match="crashed") as info:
        run_load(endpoint[1], BODIES, users=1, spawn_rate=1, duration=1)
    assert "the locustfile is broken on purpose" in str(info.value)


def test_the_hard_deadline_kills_a_run_that_does_not_end(endpoint: tuple[LocalAdapter, str, str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    hanging = tmp_path / "locustfile.py"
    hanging.write_text("import time\nprint('hanging on purpose', flush=True)\ntime.sleep(600)\n")
    monkeypatch.setattr(runner, "LOCUSTFILE", hanging)
    with pytest.raises(LoadTestError, match="hard deadline of 3 s") as info:
        run_load(endpoint[1], BODIES, users=1, spawn_rate=1, duration=1, deadline=3)
    assert "hanging on purpose" in str(info.value)
    assert processes_mentioning(str(hanging)) == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"duration": 0}, "duration must be a positive"), ({"users": -1}, "users must be a positive"),
     ({"users": 1.5}, "whole number"), ({"spawn_rate": float("nan")}, "spawn_rate"),
     ({"max_requests": 0}, "max_requests")],
)
def test_bad_arguments_are_usage_errors(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        run_load("http://127.0.0.1:9", BODIES, **kwargs)


def test_no_payloads_or_no_url_are_usage_errors() -> None:
    with pytest.raises(ValueError, match="no payloads"):
        run_load("http://127.0.0.1:9", [])
    with pytest.raises(ValueError, match="http"):
        run_load("eta-staging", BODIES)


def test_payload_files_of_every_kind(tmp_path: Path) -> None:
    frame = demo_rows(6, seed=2)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    frame.to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    (tmp_path / "rows.json").write_text(json.dumps({"instances": json.loads(frame.to_json(orient="records"))}))
    expected = rows_to_instances(frame.drop(columns=[TARGET]))
    for name in ("rows.csv", "rows.jsonl", "rows.json"):
        rows = read_payload_file(tmp_path / name, drop=[TARGET])
        assert [set(r) for r in rows] == [set(e) for e in expected]
        assert [r["zone"] for r in rows] == [e["zone"] for e in expected]
    with pytest.raises(FileNotFoundError, match="payloads"):
        read_payload_file(tmp_path / "missing.csv")
    (tmp_path / "rows.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported"):
        read_payload_file(tmp_path / "rows.txt")


def test_rows_become_json_ready_bodies() -> None:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"a": np.array([1, 2, 3], dtype="int64"), "b": [0.5, np.nan, 2.0], "c": ["x", "y", "z"]})
    bodies = bodies_from_rows(frame, batch_size=2)
    assert bodies == [{"instances": [{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "b": None, "c": "y"}]},
                      {"instances": [{"a": 3, "b": 2.0, "c": "z"}]}]
    json.dumps(bodies)
    with pytest.raises(TypeError, match="single mapping"):
        rows_to_instances({"a": 1})
