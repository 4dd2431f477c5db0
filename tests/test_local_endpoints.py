"""Local endpoints: real router and model-server processes on 127.0.0.1, driven through LocalAdapter."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pytest_mlgates.records import DeployOptions, IntegrityError, ModelVersion, NotFoundError
from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.procs import pid_alive as _alive
from pytest_mlgates.gates.shadow import ShadowResult, evaluate_shadow
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model
from pytest_mlgates.traffic import TrafficError
from conftest import processes_mentioning




@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAdapter]:
    state = tmp_path_factory.mktemp("state")
    adapter = LocalAdapter(state_dir=state)
    yield adapter
    for endpoint in adapter.endpoints.names():
        adapter.delete_endpoint(endpoint)
    assert processes_mentioning(str(state)) == []


@pytest.fixture(scope="module")
def models(platform: LocalAdapter, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelVersion]:
    folder = tmp_path_factory.mktemp("models")
    blue = platform.registry.register("eta", train_demo_model(folder / "blue", seed=1), {"val_mae": 1.0}, {})
    green = platform.registry.register("eta", train_demo_model(folder / "green", seed=1, target_shift=10.0),
                                       {"val_mae": 1.0}, {})
    return {"blue": blue, "green": green}


@pytest.fixture(scope="module")
def endpoint(platform: LocalAdapter, models: dict[str, ModelVersion]) -> Iterator[str]:
    platform.deploy_to_endpoint("eta-split", models["blue"], "blue", DeployOptions(seed=1))
    platform.deploy_to_endpoint("eta-split", models["green"], "green")
    yield "eta-split"
    platform.delete_endpoint("eta-split")


def concurrently(url: str, batches: list[list[dict]], workers: int = 4) -> list[requests.Response]:
    """POST each batch to the endpoint from ``workers`` threads; answers in the order of ``batches``."""
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def post(batch: list[dict]) -> requests.Response:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session.post(url + "/invocations", json={"instances": batch}, timeout=30)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(post, batches))


ROWS = json.loads(demo_rows(50, seed=11).drop(columns=[TARGET]).to_json(orient="records"))


def test_first_deployment_takes_all_traffic_and_is_listed(platform: LocalAdapter,
                                                          models: dict[str, ModelVersion]) -> None:
    created = platform.deploy_to_endpoint("eta-one", models["blue"], "blue")
    try:
        assert created.traffic == {"blue": 100} and created.mirror == {}
        assert created.url.startswith("http://127.0.0.1:")
        assert [e.name for e in platform.list_endpoints()].count("eta-one") == 1
        record = json.loads((platform.state_dir / "endpoints" / "eta-one" / "endpoint.json").read_text())
        assert record["deployments"]["blue"]["model"] == models["blue"].id
        assert record["deployments"]["blue"]["sha256"] == models["blue"].sha256
        answer = platform.invoke_endpoint("eta-one", {"instances": ROWS[:3]})
        assert len(answer["predictions"]) == 3
        pids = platform.endpoints.pids("eta-one")
    finally:
        platform.delete_endpoint("eta-one")
    assert not any(_alive(pid) for pid in pids)
    assert not (platform.state_dir / "endpoints" / "eta-one").exists()
    with pytest.raises(NotFoundError, match="no local endpoint 'eta-one'"):
        platform.get_endpoint("eta-one")
    with pytest.raises(NotFoundError):
        platform.delete_endpoint("eta-one")


def test_new_deployments_start_at_zero_traffic(platform: LocalAdapter, endpoint: str) -> None:
    platform.set_traffic(endpoint, {"blue": 100, "green": 0}, {})
    seen = collections.Counter(
        requests.post(platform.get_endpoint(endpoint).url + "/invocations", json={"instances": ROWS[:1]},
                      timeout=10).headers["x-mlgates-deployment"] for _ in range(30))
    assert seen == {"blue": 30}


def test_traffic_split_matches_the_weights(platform: LocalAdapter, endpoint: str) -> None:
    from scipy.stats import binomtest

    ep = platform.set_traffic(endpoint, {"blue": 70, "green": 30}, {})
    assert ep.traffic == {"blue": 70, "green": 30}
    n = 600
    seen = collections.Counter(
        answer.headers["x-mlgates-deployment"] for answer in concurrently(ep.url, [ROWS[:1]] * n))
    assert set(seen) == {"blue", "green"}
    # Two-sided exact test at 0.1%: a correct 70/30 router fails this 1 time in 1000.
    assert binomtest(seen["green"], n, 0.30).pvalue > 0.001, seen


def test_pinned_deployment_header(platform: LocalAdapter, endpoint: str, models: dict[str, ModelVersion]) -> None:
    ep = platform.set_traffic(endpoint, {"blue": 100, "green": 0}, {})
    blue = platform.invoke_endpoint(endpoint, {"instances": ROWS[:4]}, deployment="blue")["predictions"]
    green = requests.post(ep.url + "/invocations", json={"instances": ROWS[:4]},
                          headers={"azureml-model-deployment": "green"}, timeout=10).json()["predictions"]
    assert green == pytest.approx([b + 10.0 for b in blue], abs=1e-6)
    missing = requests.post(ep.url + "/invocations", json={"instances": ROWS[:1]},
                            headers={"x-mlgates-deployment": "red"}, timeout=10)
    assert missing.status_code == 404 and "no deployment 'red'" in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    ("traffic", "mirror", "words"),
    [
        ({"blue": 60, "green": 30}, {}, "sum to 100"),
        ({"blue": 100, "red": 0}, {}, "no deployment named 'red'"),
        ({"blue": 100, "green": 0}, {"green": 60}, "at most 50%"),
        ({"blue": 50, "green": 50}, {"green": 10}, "cannot also be the mirror"),
        ({"blue": 100.5, "green": 0}, {}, "whole percentage"),
        ({"blue": 110, "green": -10}, {}, "within 0..100"),
    ],
)
def test_invalid_traffic_is_refused_and_changes_nothing(platform: LocalAdapter, endpoint: str, traffic: dict,
                                                        mirror: dict, words: str) -> None:
    before = platform.set_traffic(endpoint, {"blue": 100, "green": 0}, {})
    with pytest.raises(TrafficError, match=words):
        platform.set_traffic(endpoint, traffic, mirror)
    assert platform.get_endpoint(endpoint) == before
    live = requests.get(before.url + "/mlgates/config", timeout=10).json()
    assert live["traffic"] == {"blue": 100, "green": 0} and live["mirror"] == {}


def test_mirror_records_without_affecting_responses(platform: LocalAdapter, endpoint: str) -> None:
    from scipy.stats import binomtest

    ep = platform.set_traffic(endpoint, {"blue": 100, "green": 0}, {"green": 40})
    before = platform.endpoints.mirror_records(endpoint)
    since = before[-1]["seq"] if before else 0
    n = 300
    expected_blue = platform.invoke_endpoint(endpoint, {"instances": ROWS}, deployment="blue")["predictions"]
    answers = concurrently(ep.url, [[ROWS[i % 50]] for i in range(n)])
    for i, answer in enumerate(answers):
        assert answer.headers["x-mlgates-deployment"] == "blue"
        assert answer.json()["predictions"] == pytest.approx([expected_blue[i % 50]])
    deadline = time.monotonic() + 30
    while True:  # mirrored calls finish in the background
        records = platform.endpoints.mirror_records(endpoint, since=since)
        pending = requests.get(ep.url + "/mlgates/mirror", params={"since": since, "pending": 1},
                               timeout=10).json()["records"]
        if len(records) == len(pending) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert binomtest(len(records), n, 0.40).pvalue > 0.001, len(records)
    for rec in records:
        assert rec["deployment"] == "blue" and rec["mirror"] == "green" and rec["mirror_status"] == 200
        assert rec["mirror_body"]["predictions"][0] == pytest.approx(rec["body"]["predictions"][0] + 10.0)
    # the recorded pairs are what a shadow test of mirrored traffic reads: green is 10 minutes off
    shadow = evaluate_shadow(ShadowResult.from_mirror_records(records), margin=1.0)
    assert not shadow.passed and shadow.figures["mean_difference"] == pytest.approx(10.0)
    assert shadow.figures["source"] == "mirror" and shadow.figures["compared"] == len(records)
    platform.set_traffic(endpoint, {"blue": 100, "green": 0}, {})


def test_traffic_changes_live_without_dropping_requests(platform: LocalAdapter, endpoint: str) -> None:
    ep = platform.get_endpoint(endpoint)
    statuses: collections.Counter[int] = collections.Counter()
    served: collections.Counter[str] = collections.Counter()
    stop = threading.Event()

    def client() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                answer = session.post(ep.url + "/invocations", json={"instances": ROWS[:1]}, timeout=10)
                statuses[answer.status_code] += 1
                served[answer.headers.get("x-mlgates-deployment", "?")] += 1
            except requests.RequestException as exc:
                statuses[-1] += 1
                print(exc)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(20):
            platform.set_traffic(endpoint, {"blue": 100, "green": 0} if i % 2 else {"blue": 0, "green": 100})
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 0 and set(served) <= {"blue", "green"}


def test_redeploying_a_deployment_replaces_its_server(platform: LocalAdapter, models: dict[str, ModelVersion]) -> None:
    platform.deploy_to_endpoint("eta-swap", models["blue"], "main")
    try:
        old_pid = platform.endpoints.record("eta-swap")["deployments"]["main"]["pid"]
        before = platform.invoke_endpoint("eta-swap", {"instances": ROWS[:2]})["predictions"]
        platform.deploy_to_endpoint("eta-swap", models["green"], "main")
        after = platform.invoke_endpoint("eta-swap", {"instances": ROWS[:2]})["predictions"]
        assert after == pytest.approx([b + 10.0 for b in before], abs=1e-6)
        assert not _alive(old_pid)
        assert platform.endpoints.record("eta-swap")["deployments"]["main"]["model"] == models["green"].id
    finally:
        platform.delete_endpoint("eta-swap")


def test_deleting_a_deployment_needs_zero_traffic(platform: LocalAdapter, endpoint: str) -> None:
    platform.set_traffic(endpoint, {"blue": 0, "green": 100}, {})
    with pytest.raises(TrafficError, match="still takes traffic"):
        platform.endpoints.delete_deployment(endpoint, "green")
    platform.set_traffic(endpoint, {"blue": 100, "green": 0}, {})


def test_servers_die_with_the_process_they_watch(platform: LocalAdapter, models: dict[str, ModelVersion],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATES_SERVING_ERROR_RATE", "1")  # fault defaults from the deploying run's environment
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        platform.deploy_to_endpoint("eta-orphan", models["blue"], "blue", DeployOptions(owner_pid=owner.pid))
        pids = platform.endpoints.pids("eta-orphan")
        assert all(_alive(pid) for pid in pids)
        failing = requests.post(platform.get_endpoint("eta-orphan").url + "/invocations",
                                json={"instances": ROWS[:1]}, timeout=10)
        assert failing.status_code == 500 and failing.json()["error"]["code"] == "InjectedFault"
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        for proc in list(platform.endpoints._procs.values()):
            proc.poll()  # reap our children so they do not linger as zombies
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)
    with pytest.raises(NotFoundError, match="not running"):
        platform.get_endpoint("eta-orphan")
    assert platform.endpoints.prune() == ["eta-orphan"]
    assert "eta-orphan" not in platform.endpoints.names()


def test_a_tampered_artifact_is_never_deployed(platform: LocalAdapter, models: dict[str, ModelVersion],
                                               tmp_path: Path) -> None:
    model = platform.registry.register("eta", train_demo_model(tmp_path / "t", seed=5), {"val_mae": 1.0}, {})
    artifact = platform.model_path(model)
    (artifact / "metrics.json").write_text('{"val_mae": 0.0}')
    with pytest.raises(IntegrityError, match="changed after registration"):
        platform.deploy_to_endpoint("eta-tampered", model, "blue")
    assert "eta-tampered" not in platform.endpoints.names()


def test_bad_names_are_refused(platform: LocalAdapter, models: dict[str, ModelVersion]) -> None:
    with pytest.raises(ValueError, match="endpoint name"):
        platform.deploy_to_endpoint("../escape", models["blue"], "blue")
    with pytest.raises(ValueError, match="deployment name"):
        platform.deploy_to_endpoint("eta-ok", models["blue"], "blue green")


def _wait_gone(platform: LocalAdapter, pids: list[int], limit: float = 30) -> bool:
    deadline = time.monotonic() + limit
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        for proc in list(platform.endpoints._procs.values()):
            proc.poll()
        time.sleep(0.1)
    return not any(_alive(pid) for pid in pids)


@pytest.mark.parametrize("released", [False, True])
def test_a_detached_server_outlives_its_deployer_only_once_released(
        platform: LocalAdapter, models: dict[str, ModelVersion], tmp_path: Path, released: bool) -> None:
    """A deployer killed before it recorded a detached server leaves no orphan; a recorded one lives on."""
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    folder = tmp_path / "detached"
    folder.mkdir()
    model_dir = platform.model_path(models["blue"])
    started = platform.endpoints._start(["model", "--model-dir", str(model_dir), "--sha256", models["blue"].sha256],
                                        folder, "deployment-x", owner.pid, detached=True)
    try:
        if released:
            platform.endpoints._release(folder, "deployment-x")
        owner.kill()
        owner.wait()
        if released:
            time.sleep(2.0)  # several watch intervals after the deployer died
            assert _alive(started["pid"]), "a released (recorded) detached server must outlive its deployer"
        else:
            assert _wait_gone(platform, [started["pid"]]), "an unrecorded detached server was orphaned"
    finally:
        platform.endpoints._stop(started["pid"])
