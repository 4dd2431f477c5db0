"""locust's distributed mode (issue 14): load past one core, the exact-latency merge kept exact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.loadtest.runner import bodies_from_rows, load_processes, merge_samples, run_load
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model

from conftest import processes_mentioning

BODIES = bodies_from_rows(demo_rows(50, seed=4).drop(columns=[TARGET]))


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalAdapter, str, str]]:
    state = tmp_path_factory.mktemp("state")
    adapter = LocalAdapter(state_dir=state)
    model = adapter.registry.register("eta", train_demo_model(tmp_path_factory.mktemp("m") / "m"), {"val_mae": 1.0}, {})
    ep = adapter.deploy_to_endpoint("eta-dist", model, "blue")
    yield adapter, ep.url, adapter.endpoints.record("eta-dist")["deployments"]["blue"]["url"]
    adapter.delete_endpoint("eta-dist")
    assert processes_mentioning(str(state)) == []


def test_two_worker_processes_bring_back_every_request_exactly(endpoint) -> None:
    adapter, url, deployment_url = endpoint
    adapter.endpoints.set_faults("eta-dist", "blue", error_rate=0.2)
    requests.get(deployment_url + "/mlgates/latencies?reset=1", timeout=10)
    try:
        result = run_load(url, BODIES, users=4, spawn_rate=100, duration=30, max_requests=200, processes=2)
    finally:
        adapter.endpoints.set_faults("eta-dist", "blue", error_rate=0.0)
    assert result.requests == 200
    assert result.start_times == sorted(result.start_times)  # merged in start order
    assert set(result.errors) == {"HTTP 500 InjectedFault"}  # error kinds renumbered across the workers
    assert result.errors["HTTP 500 InjectedFault"] == result.failures == result.statuses.count(500)
    assert set(result.deployments) == {"blue"}
    assert len({round(x, 6) for x in result.latencies_ms}) > 150  # raw latencies, not locust's rounded stats
    server = requests.get(deployment_url + "/mlgates/latencies", timeout=10).json()["latencies"]
    assert len(server) >= 200  # both workers sent: each had its own budget of 100
    assert processes_mentioning("mlgates-locust-") == []


def test_two_distributed_runs_at_once_each_get_their_own_master(endpoint) -> None:
    """Two xdist workers or two CI jobs on one machine: locust's default master port would be taken."""
    from concurrent.futures import ThreadPoolExecutor

    _, url, _ = endpoint
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(run_load, url, BODIES, users=2, spawn_rate=100, duration=20, max_requests=40,
                            processes=2) for _ in range(2)]
        results = [run.result(timeout=120) for run in runs]
    assert [r.requests for r in results] == [40, 40]
    assert processes_mentioning("mlgates-locust-") == []


def test_merge_keeps_samples_and_renumbers_kinds_and_deployments() -> None:
    a = {"samples": [[1.0, 5.25, 200, -1, 0], [3.0, 7.5, 500, 0, 0]], "error_kinds": ["HTTP 500"],
         "deployments": ["blue"]}
    b = {"samples": [[2.0, 6.125, 503, 0, 1], [4.0, 1.0, 500, 1, 0]], "error_kinds": ["HTTP 503", "HTTP 500"],
         "deployments": ["blue", "green"]}
    merged = merge_samples([a, {"samples": [], "error_kinds": [], "deployments": []}, b])
    assert merged["error_kinds"] == ["HTTP 500", "HTTP 503"] and merged["deployments"] == ["blue", "green"]
    assert merged["samples"] == [[1.0, 5.25, 200, -1, 0], [3.0, 7.5, 500, 0, 0], [2.0, 6.125, 503, 1, 1],
                                 [4.0, 1.0, 500, 0, 0]]


@pytest.mark.parametrize("users, rps, cpus, expected", [
    (10, None, 8, 1), (100, None, 8, 1), (101, None, 8, 2), (450, None, 8, 5), (450, None, 2, 2),
    (10, 1500.0, 8, 1), (10, 4000.0, 8, 3), (1000, 9000.0, 4, 4),
])
def test_processes_follow_users_and_rps_up_to_the_cores(users, rps, cpus, expected) -> None:
    assert load_processes(users, rps, cpus) == expected


def test_bad_process_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="processes must be a whole number >= 1"):
        run_load("http://127.0.0.1:9", BODIES, users=1, duration=1, processes=0)
