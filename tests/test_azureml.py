"""The Azure ML adapter on the wire: azure-ai-ml's MLClient against the ARM fake (HTTPS) and Azurite.

What the conformance suite does not cover: what each verb sends (method, path,
api-version, body), Azure's rules (names, traffic, mirror, deletion), faults
(401/403, 404, 409, 429 with Retry-After, a failed long-running operation, a
failed job), credentials, settings, and two end-to-end runs of the champion
gate through pytest with the plugin. The fakes are session-scoped
(tests/fakes/azureml_harness.py); nothing here patches the SDK or the adapter.
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml", reason="the azureml extra is part of the dev install (make install)")

from conftest import TRAIN_SCRIPT  # noqa: E402
from fakes.azureml_harness import AzureEnvironment, environment, shutdown  # noqa: E402
from model_projects import DEPENDENCY, DEPENDENCY_VALUE, USES_DEPENDENCY, dependency_wheel, offline_pip  # noqa: E402
from pytest_mlgates.adapters.azureml import AzureMLAdapter, azure_name, parse_settings  # noqa: E402
from pytest_mlgates.config import ConfigError, Settings  # noqa: E402
from pytest_mlgates.gates.champion import champion_metric_tag, compare  # noqa: E402
from pytest_mlgates.records import (  # noqa: E402
    AccessDeniedError,
    AdapterError,
    ConflictError,
    JobFailedError,
    ModelVersion,
    NotFoundError,
    ThrottledError,
    TrafficError,
    TrainingSpec,
)

pytest_plugins = ["pytester"]
COMMIT = "abcdef0123456789abcdef0123456789abcdef01"


@pytest.fixture(scope="session")
def azure_env() -> Iterator[AzureEnvironment]:
    yield environment()
    shutdown()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAIN_SCRIPT)
    (tmp_path / "data.csv").write_text("x,y\n1,2\n")
    return tmp_path


class Sleeps(list):  # type: ignore[type-arg]
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_adapter(env: AzureEnvironment, root: Path, sleep: Any = None, **table: Any) -> AzureMLAdapter:
    settings = Settings(platform="azureml", model_name="eta", root=str(root),
                        platforms={"azureml": env.table(**table)})
    return AzureMLAdapter(settings, **({"sleep": sleep} if sleep is not None else {}))


@pytest.fixture
def adapter(azure_env: AzureEnvironment, project: Path, sleeps: Sleeps) -> Iterator[AzureMLAdapter]:
    a = make_adapter(azure_env, project, sleeps)
    yield a
    a.close()
    azure_env.arm.faults.clear()


def spec(model: str, **hyperparameters: Any) -> TrainingSpec:
    return TrainingSpec(model_name=model, entry_point="src/train.py", data="data.csv",
                        hyperparameters=hyperparameters or {"max_depth": 3}, commit=COMMIT, timeout_seconds=900)


def new_version(env: AzureEnvironment, adapter: AzureMLAdapter, model: str, val_mae: float = 5.0) -> ModelVersion:
    job = adapter.submit_training_job(spec(model))
    env.finish(job.name, {"val_mae": val_mae}, {"model.joblib": f"model {job.name}".encode()})
    done = adapter.wait_for_job(job.name, timeout=30, poll_interval=0.01)
    assert done.metrics is not None
    return adapter.register_model(model, job.name, done.metrics)


@pytest.fixture
def model() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


# -- settings -----------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["subscription_id", "resource_group", "workspace"])
def test_a_missing_workspace_coordinate_names_the_setting(missing: str) -> None:
    table = {"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg", "workspace": "ws"}
    del table[missing]
    with pytest.raises(ConfigError, match=rf"\[tool\.mlgates\.azureml\] {missing} is required"):
        parse_settings(table, env={})


def test_settings_take_the_workspace_from_the_environment_and_refuse_credentials() -> None:
    env = {"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000", "AZURE_RESOURCE_GROUP": "rg",
           "AZUREML_WORKSPACE": "ws1"}
    assert parse_settings({}, env=env).workspace == "ws1"
    with pytest.raises(ConfigError, match="client_secret.*DefaultAzureCredential"):
        parse_settings({"client_secret": "s3cret"}, env=env)
    with pytest.raises(ConfigError, match="subscription_id must be a subscription id"):
        parse_settings({"subscription_id": "my-sub"}, env=env)


def test_missing_settings_are_a_usage_error_of_a_platform_bound_run(pytester: pytest.Pytester,
                                                                    azure_env: AzureEnvironment) -> None:
    pytester.makefile(".toml", pyproject='[tool.mlgates]\nmodel_name = "m"\n[tool.mlgates.azureml]\n'
                                         'subscription_id = "00000000-0000-0000-0000-000000000000"\n'
                                         'resource_group = "rg"\n')
    pytester.makepyfile(test_gates="import pytest\n@pytest.mark.champion_gate\ndef test_g(challenger):\n    pass\n")
    result = pytester.runpytest("--ml-platform", "azureml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*[[]tool.mlgates.azureml[]] workspace is required*AZUREML_WORKSPACE*"])


# -- names ----------------------------------------------------------------------------------
def test_names_follow_azure_rules_deterministically() -> None:
    requested = "delivery-eta-forecaster-staging-3f9a2b1c"
    short = azure_name(requested)
    assert len(requested) > 32 and 3 <= len(short) <= 32
    assert short == azure_name(requested) == azure_name(short)  # deterministic, idempotent
    assert short.startswith("delivery-eta-forecaster") and short != azure_name(requested + "x")
    assert azure_name("Blue") == "blue"
    for bad in ("9lives", "a--b_c", "x", "Ünïcode model"):
        name = azure_name(bad)
        assert 3 <= len(name) <= 32 and name[0].isalpha() and "--" not in name and name.replace("-", "").isalnum()


# -- training on the wire ------------------------------------------------------------------
def test_submit_sends_a_command_job_with_code_data_and_pinned_output(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str
) -> None:
    start = len(azure_env.arm.calls)
    job = adapter.submit_training_job(spec(model, max_depth=3, objective="mae"))
    put = [c for c in azure_env.arm.calls[start:] if c.method == "PUT" and "/jobs/" in c.path][-1]
    assert put.path.endswith(f"/workspaces/mlgates-ws/jobs/{job.name}") and put.api_version
    props = put.body["properties"]
    assert props["jobType"] == "Command"
    assert props["command"] == ("python train.py --data ${{inputs.data}} --model-dir ${{outputs.model}} "
                                "--max_depth 3 --objective mae")
    assert props["computeId"].endswith("/computes/cpu-cluster")
    assert props["environmentId"].endswith("/environments/sklearn-env/versions/1")
    assert props["outputs"]["model"]["uri"] == f"azureml://datastores/workspaceblobstore/paths/mlgates/jobs/{job.name}/model/"
    assert props["tags"]["mlgates.commit"] == COMMIT and props["limits"]["timeout"] == "PT15M"
    # the data went to the datastore, the code through a pending upload into blob storage
    data_uri = props["inputs"]["data"]["uri"]
    blob = data_uri.split("/paths/", 1)[1]
    assert azure_env.azurite.container().download_blob(blob).readall() == b"x,y\n1,2\n"
    code = azure_env.arm.resource(props["codeId"].lower())
    assert code is not None
    prefix = code["properties"]["codeUri"].split("/azureml-blobstore/", 1)[1]
    uploaded = {b.name.rsplit("/", 1)[-1] for b in azure_env.azurite.container().list_blobs(name_starts_with=prefix)}
    assert "train.py" in uploaded
    adapter.cancel_job(job.name)
    assert azure_env.arm.find("POST", f"/jobs/{job.name}/cancel")


def test_the_code_folder_requirements_are_installed_before_the_script_runs(
    azure_env: AzureEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    """The requirements.txt of the code folder is uploaded with it and pip-installed by the job's command, so
    the script imports a package that the job's environment does not have (the fake's compute runs it)."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "train.py").write_text(USES_DEPENDENCY)
    (project / "src" / "requirements.txt").write_text(f"{DEPENDENCY}==0.1\n")
    (project / "data.csv").write_text("x,y\n1,2\n")
    dependency_wheel(tmp_path / "wheelhouse")
    for key, value in offline_pip(tmp_path / "wheelhouse", tmp_path / "installed").items():
        monkeypatch.setenv(key, value)  # the compute's pip: offline, into a folder of its own
    adapter = make_adapter(azure_env, project)
    try:
        with azure_env.run_jobs():
            job = adapter.submit_training_job(spec(model))
            done = adapter.wait_for_job(job.name, timeout=60, poll_interval=0.02)
    finally:
        adapter.close()
    command = azure_env.arm.find("PUT", f"/jobs/{job.name}")[0].body["properties"]["command"]
    assert command.startswith("python -m pip install -r requirements.txt && python train.py --data ")
    assert done.metrics == {"dependency_value": DEPENDENCY_VALUE}
    assert (tmp_path / "installed" / DEPENDENCY.replace("-", "_")).is_dir()


def test_a_failed_job_raises_with_its_log(adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str) -> None:
    job = adapter.submit_training_job(spec(model))
    azure_env.finish(job.name, fail="ValueError: column 'eta_minutes' is missing")
    with pytest.raises(JobFailedError, match="column 'eta_minutes' is missing") as info:
        adapter.wait_for_job(job.name, timeout=30, poll_interval=0.01)
    assert job.name in str(info.value)


# -- registry and the compare-and-swap -------------------------------------------------------
def test_register_stores_metrics_as_properties_and_the_ledger_as_tags(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str
) -> None:
    version = new_version(azure_env, adapter, model, 4.25)
    put = azure_env.arm.find("PUT", f"/models/{model}/versions/{version.version}")[-1]
    props = put.body["properties"]
    assert props["properties"]["mlgates.metric.val_mae"] == "4.25"
    assert props["properties"]["mlgates.sha256"] == version.sha256
    assert props["modelType"] == "custom_model" and props["modelUri"].endswith(f"/paths/mlgates/jobs/"
                                                                               f"{props['tags']['mlgates.job']}/model/")
    adapter.set_tags(model, version.version, {"mlgates.gate.champion": "passed"})
    tags = azure_env.arm.find("PUT", f"/models/{model}/versions/{version.version}")[-1].body["properties"]["tags"]
    assert tags["mlgates.gate.champion"] == "passed"


def test_promotion_is_a_put_of_the_container_with_if_match(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str
) -> None:
    first, second = new_version(azure_env, adapter, model), new_version(azure_env, adapter, model)
    adapter.promote(model, first.version, None)
    start = len(azure_env.arm.calls)
    adapter.promote(model, second.version, first.version)
    calls = azure_env.arm.calls[start:]
    container = [c for c in calls if c.path.lower().endswith(f"/models/{model}")]
    read, write = container[0], next(c for c in container if c.method == "PUT")
    assert read.method == "GET"
    assert write.headers["if-match"] and write.headers["if-match"] == read.response_etag
    assert write.body["properties"]["tags"]["mlgates.champion"] == second.version
    # the champion tag stays unique: set on the new champion, removed from the old one
    tags = {c.path.rsplit("/", 1)[-1]: c.body["properties"]["tags"] for c in calls
            if c.method == "PUT" and "/versions/" in c.path}
    assert tags[second.version]["mlgates.champion"] == "true" and "mlgates.champion" not in tags[first.version]


def test_a_stale_etag_loses_the_promotion_and_marks_nothing(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str
) -> None:
    version = new_version(azure_env, adapter, model)
    azure_env.arm.fault(412, "PreconditionFailed", lambda c: c.method == "PUT" and c.path.lower().endswith(
        f"/models/{model}"), times=1)
    with pytest.raises(ConflictError, match="another promotion"):
        adapter.promote(model, version.version, None)
    assert adapter.get_champion(model) is None
    assert not [c for c in azure_env.arm.find("PUT", f"/models/{model}/versions/") if
                "mlgates.champion" in c.body["properties"]["tags"]]


def test_two_racing_promotions_one_wins_on_the_wire(azure_env: AzureEnvironment, project: Path, model: str) -> None:
    setup = make_adapter(azure_env, project)
    base, a, b = (new_version(azure_env, setup, model) for _ in range(3))
    setup.promote(model, base.version, None)
    racers = [make_adapter(azure_env, project), make_adapter(azure_env, project)]
    for racer in racers:  # both have read the champion before either writes
        assert racer.get_champion(model).version == base.version  # type: ignore[union-attr]
    start = len(azure_env.arm.calls)
    barrier, outcomes = threading.Barrier(2), {}

    def race(adapter: AzureMLAdapter, version: ModelVersion) -> None:
        barrier.wait()
        try:
            adapter.promote(model, version.version, base.version)
            outcomes[version.version] = "won"
        except ConflictError:
            outcomes[version.version] = "lost"

    threads = [threading.Thread(target=race, args=pair) for pair in zip(racers, (a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes.values()) == ["lost", "won"]
    writes = [c for c in azure_env.arm.calls[start:] if c.method == "PUT" and c.path.lower().endswith(f"/models/{model}")]
    assert writes and all(c.headers.get("if-match") for c in writes)
    assert [c.response_status < 300 for c in writes].count(True) == 1
    winner = next(v for v, o in outcomes.items() if o == "won")
    assert setup.get_champion(model).version == winner  # type: ignore[union-attr]
    for x in (setup, *racers):
        x.close()


def test_a_champion_metric_property_that_is_not_a_number_fails_closed(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str
) -> None:
    champion = new_version(azure_env, adapter, model, 5.0)
    with azure_env.arm.lock:  # edited by hand in the studio: a property the adapter did not write
        stored = azure_env.arm.store[next(k for k in azure_env.arm.store
                                          if k.endswith(f"/models/{model.lower()}/versions/{champion.version}"))]
        stored["properties"]["properties"]["mlgates.metric.val_mae"] = "n/a"
    adapter.promote(model, champion.version, None, tags={champion_metric_tag("val_mae"): "n/a"})
    challenger = new_version(azure_env, adapter, model, 1.0)
    read = adapter.get_champion(model)
    assert read is not None and read.metrics["val_mae"] == "n/a"
    verdict = compare(challenger, read, metric="val_mae", greater_is_better=False, tolerance=0.05)
    assert verdict.passed is False and "not a number" in verdict.message


# -- endpoints -------------------------------------------------------------------------------
@pytest.fixture
def endpoint(adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str) -> Iterator[str]:
    version = new_version(azure_env, adapter, model)
    name = f"{model}-staging-0123456789abcdef"  # longer than Azure allows
    adapter.deploy_to_endpoint(name, version, "blue")
    adapter.deploy_to_endpoint(name, version, "green")
    yield name
    try:
        adapter.delete_endpoint(name)
    except NotFoundError:
        pass


def test_deploy_shortens_the_name_traceably_and_starts_new_deployments_at_zero(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, endpoint: str
) -> None:
    short = azure_name(endpoint)
    assert short != endpoint and len(short) <= 32
    created = azure_env.arm.find("PUT", f"/onlineEndpoints/{short}")[0]
    assert created.body["properties"]["authMode"] == "Key"
    assert created.body["tags"]["mlgates.requested-name"] == endpoint
    deployment = azure_env.arm.find("PUT", f"/onlineEndpoints/{short}/deployments/green")[0]
    assert deployment.body["properties"]["model"].endswith("/versions/1") or "/models/" in deployment.body[
        "properties"]["model"]
    assert deployment.body["properties"]["instanceType"] == "Standard_DS3_v2"
    # the serving entry of pytest_mlgates.packaging, told which model digest it may serve
    version = adapter.get_model_version(deployment.body["tags"]["mlgates.model-version"].split(":")[0],
                                        deployment.body["tags"]["mlgates.model-version"].split(":")[1])
    assert deployment.body["properties"]["environmentVariables"]["MLGATES_SHA256"] == version.sha256
    code_id = deployment.body["properties"]["codeConfiguration"]["codeId"]
    assert deployment.body["properties"]["codeConfiguration"]["scoringScript"] == "score.py"
    code = azure_env.arm.resource(code_id.lower())
    assert code is not None
    prefix = code["properties"]["codeUri"].split("/azureml-blobstore/", 1)[1]
    files = {b.name.rsplit("/", 1)[-1] for b in azure_env.azurite.container().list_blobs(name_starts_with=prefix)}
    assert {"score.py", "mlgates_runtime.py"} <= files
    traffic_puts = [c.body["properties"].get("traffic") for c in azure_env.arm.find("PUT", f"/onlineEndpoints/{short}")
                    if "/deployments/" not in c.path]
    assert traffic_puts[-1] == {"blue": 100}  # green came in at 0%
    assert adapter.get_endpoint(endpoint).traffic == {"blue": 100, "green": 0}


def test_short_deployment_names_are_lengthened_on_azure_and_read_back_as_asked(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str
) -> None:
    version = new_version(azure_env, adapter, model)
    endpoint = f"{model}-prod"
    try:
        adapter.deploy_to_endpoint(endpoint, version, "v1")  # the rollout names deployments v<version>
        assert adapter.deploy_to_endpoint(endpoint, version, "v2").traffic == {"v1": 100, "v2": 0}
        v1 = azure_name("v1")
        assert v1 != "v1" and 3 <= len(v1) <= 32
        put = azure_env.arm.find("PUT", f"/deployments/{v1}")[0]
        assert put.body["tags"]["mlgates.requested-name"] == "v1"
        assert adapter.set_traffic(endpoint, {"v1": 90, "v2": 10}).traffic == {"v1": 90, "v2": 10}
        assert azure_env.arm.find("PUT", f"/onlineEndpoints/{endpoint}")[-1].body["properties"]["traffic"] == {
            v1: 90, azure_name("v2"): 10}
        adapter.set_traffic(endpoint, {"v2": 100})
        assert adapter.delete_deployment(endpoint, "v1").traffic == {"v2": 100}
    finally:
        adapter.delete_endpoint(endpoint)


def test_traffic_and_mirror_go_out_as_whole_percentages(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, endpoint: str
) -> None:
    short = azure_name(endpoint)
    adapter.set_traffic(endpoint, {"blue": 100}, mirror={"green": 50})
    body = azure_env.arm.find("PUT", f"/onlineEndpoints/{short}")[-1].body["properties"]
    assert body["traffic"] == {"blue": 100} and body["mirrorTraffic"] == {"green": 50}
    assert adapter.get_endpoint(endpoint).mirror == {"green": 50}
    adapter.set_traffic(endpoint, {"blue": 90, "green": 10})
    body = azure_env.arm.find("PUT", f"/onlineEndpoints/{short}")[-1].body["properties"]
    assert body["traffic"] == {"blue": 90, "green": 10} and not body.get("mirrorTraffic")


@pytest.mark.parametrize("traffic, mirror, message", [
    ({"blue": 60, "green": 60}, None, "sum to 100"),
    ({"blue": 99.5, "green": 0.5}, None, "whole percentage"),
    ({"blue": 100}, {"green": 51}, "at most 50%"),
    ({"blue": 50, "green": 50}, {"green": 10}, "cannot also be the mirror"),
    ({"blue": 100}, {"green": 10, "red": 10}, "only one deployment"),
])
def test_bad_splits_are_refused_before_anything_is_sent(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, traffic: dict, mirror: dict | None, message: str
) -> None:
    start = len(azure_env.arm.calls)
    with pytest.raises(TrafficError, match=message):
        adapter.set_traffic("any-endpoint", traffic, mirror)
    assert azure_env.arm.calls[start:] == []


def test_a_deployment_with_live_traffic_is_moved_before_it_is_deleted(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, endpoint: str
) -> None:
    short = azure_name(endpoint)
    with pytest.raises(TrafficError, match="move it away"):
        adapter.delete_deployment(endpoint, "blue")
    assert not azure_env.arm.find("DELETE", f"/deployments/blue")
    adapter.set_traffic(endpoint, {"blue": 0, "green": 100}, mirror={"blue": 20})
    assert adapter.delete_deployment(endpoint, "blue").traffic == {"green": 100}
    methods = [c.method for c in azure_env.arm.calls if c.path.lower().endswith(f"/onlineendpoints/{short}")
               or c.path.endswith("/deployments/blue")]
    assert methods[-2:] == ["PUT", "DELETE"] or "DELETE" in methods  # mirror cleared, then deleted
    assert not adapter.get_endpoint(endpoint).mirror


def test_invoke_posts_to_the_scoring_uri_with_the_endpoint_key(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, endpoint: str
) -> None:
    answer = adapter.invoke_endpoint(endpoint, {"instances": [{"x": 1}, {"x": 2}]}, deployment="green")
    assert answer == {"predictions": [5.0, 5.0]}
    score = azure_env.arm.find("POST", f"/score/{azure_name(endpoint)}")[-1]
    assert score.headers["authorization"] == "Bearer primary-endpoint-key"
    assert score.headers["azureml-model-deployment"] == "green"
    assert azure_env.arm.find("POST", "/listKeys")


def test_load_tests_get_the_scoring_uri_and_the_key(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, endpoint: str
) -> None:
    import requests

    base, path, headers = adapter.http_target(endpoint)
    assert base == azure_env.arm.url and path == f"/score/{azure_name(endpoint)}"
    answer = requests.post(base + path, json={"instances": [{"x": 1}]}, headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"predictions": [4.0]}  # blue takes the traffic
    assert "primary-endpoint-key" not in repr(adapter)


def test_a_failed_deployment_operation_reports_azure_reason(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str
) -> None:
    version = new_version(azure_env, adapter, model)
    azure_env.arm.failing_operations["deployments"] = "Not enough quota for Standard_DS3_v2 in westeurope"
    with pytest.raises(AdapterError, match="Not enough quota"):
        adapter.deploy_to_endpoint(f"{model}-q", version, "blue")
    adapter.delete_endpoint(f"{model}-q")


def test_an_operation_that_never_finishes_is_an_error_after_the_timeout(
    azure_env: AzureEnvironment, project: Path, model: str
) -> None:
    adapter = make_adapter(azure_env, project, operation_timeout_seconds=0.5)
    version = new_version(azure_env, adapter, model)
    azure_env.arm.hold_operations = True
    try:
        with pytest.raises(AdapterError, match="did not finish within 0.5 s.*operation_timeout_seconds"):
            adapter.deploy_to_endpoint(f"{model}-slow", version, "blue")
    finally:
        azure_env.arm.hold_operations = False
        adapter.delete_endpoint(f"{model}-slow")
        adapter.close()


# -- faults ----------------------------------------------------------------------------------
def test_401_is_access_denied_at_once(adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str) -> None:
    fault = azure_env.arm.fault(401, "InvalidAuthenticationToken", lambda c: c.path.startswith("/subscriptions/"))
    start = len(azure_env.arm.calls)
    with pytest.raises(AccessDeniedError, match="DefaultAzureCredential") as info:
        adapter.list_model_versions(model)
    assert fault.hits == 1 and len([c for c in azure_env.arm.calls[start:] if c.path == "/msi/token"]) <= 1
    assert "fake-arm-token" not in str(info.value)


def test_a_credential_that_cannot_get_a_token_is_access_denied(azure_env: AzureEnvironment, project: Path) -> None:
    adapter = make_adapter(azure_env, project)
    azure_env.arm.fault(400, "invalid_request", lambda c: c.path == "/msi/token")
    try:
        with pytest.raises(AccessDeniedError, match="no usable Azure credentials.*azure/login"):
            adapter.list_model_versions("anything")
    finally:
        azure_env.arm.faults.clear()
        adapter.close()


def test_404_409_and_their_messages(adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str) -> None:
    with pytest.raises(NotFoundError, match=f"model version {model}:7"):
        adapter.get_model_version(model, "7")
    assert azure_env.arm.find("GET", f"/models/{model}/versions/7")
    version = new_version(azure_env, adapter, model)
    azure_env.arm.fault(409, "Conflict", lambda c: c.method == "PUT" and "/onlineEndpoints/" in c.path,
                        message="An endpoint with this name already exists in the region")
    with pytest.raises(ConflictError, match="already exists in the region"):
        adapter.deploy_to_endpoint(f"{model}-c", version, "blue")


def test_429_waits_what_retry_after_says_then_gives_up(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, sleeps: Sleeps, model: str
) -> None:
    fault = azure_env.arm.fault(429, "TooManyRequests", lambda c: "/models/" in c.path, headers={"Retry-After": "7"})
    with pytest.raises(ThrottledError, match="4 times"):
        adapter.list_model_versions(model)
    assert fault.hits == 4 and sleeps == [7.0, 7.0, 7.0]
    azure_env.arm.faults.clear()
    sleeps.clear()
    azure_env.arm.fault(429, "TooManyRequests", lambda c: "/models/" in c.path, headers={"Retry-After": "600"},
                        times=1)
    assert adapter.list_model_versions(model) == []
    assert sleeps == [30.0]  # capped


def test_credentials_never_reach_logs_or_messages(
    adapter: AzureMLAdapter, azure_env: AzureEnvironment, model: str, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG):
        adapter.list_model_versions(model)
        adapter.get_champion(model)
    out = capsys.readouterr()
    tokens = [c.headers["authorization"].split()[-1] for c in azure_env.arm.calls if "authorization" in c.headers]
    assert tokens
    for token in set(tokens):
        assert token not in caplog.text and token not in out.out + out.err and token not in repr(adapter)


# -- the plugin, end to end --------------------------------------------------------------------
# The runs below are subprocesses: the fakes are servers on 127.0.0.1 and the credentials come from the
# environment, so a child reaches them, while an in-process run would unload the C extensions it imported
# first (numpy cannot be loaded twice in one process) and break later tests of the same worker.
@pytest.fixture
def child_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_PLATFORM", "azureml")


def write_project(pytester: pytest.Pytester, env: AzureEnvironment, hyperparameters: str) -> None:
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in env.table().items())
    pytester.makefile(".toml", pyproject=textwrap.dedent(f'''
        [tool.mlgates]
        model_name = "{pytester.path.name[:20].replace("_", "-")}"
        [tool.mlgates.training]
        entry_point = "train.py"
        data = "data.csv"
        timeout_minutes = 1
        hyperparameters = {hyperparameters}
        ''') + "[tool.mlgates.azureml]\n" + table + "\n")
    pytester.path.joinpath("train.py").write_text(TRAIN_SCRIPT)
    pytester.path.joinpath("data.csv").write_text("x,y\n1,2\n")
    pytester.makepyfile(test_gates='''
        import pytest
        from pytest_mlgates.gates import assert_non_inferior

        @pytest.mark.champion_gate
        def test_gate(challenger, champion):
            assert_non_inferior(challenger, champion)
    ''')


def test_champion_gate_on_azure_ml_end_to_end(pytester: pytest.Pytester, azure_env: AzureEnvironment,
                                              monkeypatch: pytest.MonkeyPatch, child_env: None) -> None:
    write_project(pytester, azure_env, "{ val_mae = 4.5 }")
    output = pytester.path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    start = len(azure_env.arm.calls)
    with azure_env.run_jobs() as runner:
        result = pytester.runpytest_subprocess("-m", "champion_gate", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "AZUREML_CURRENT_CLOUD" not in os.environ  # a child would look a test cloud up on the internet
    assert len(runner.ran) == 1  # the training script really ran on the fake's compute
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    assert outputs["job_name"] == runner.ran[0] and outputs["challenger_val_mae"] == "4.5"
    job = next(c for c in azure_env.arm.calls[start:] if c.method == "PUT" and "/jobs/" in c.path)
    assert "--val_mae 4.5" in job.body["properties"]["command"]
    ledger = [c.body["properties"]["tags"] for c in azure_env.arm.calls[start:]
              if c.method == "PUT" and "/models/" in c.path and "/versions/" in c.path]
    assert ledger[-1]["mlgates.gate.champion_gate"] == "passed"


def test_a_job_that_fails_on_azure_fails_the_gate_with_its_message(
    pytester: pytest.Pytester, azure_env: AzureEnvironment, child_env: None
) -> None:
    write_project(pytester, azure_env, "{ crash = 1 }")
    with azure_env.run_jobs():
        result = pytester.runpytest_subprocess("-m", "champion_gate", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ended Failed*", "*something went badly wrong*"])


def test_init_writes_workflows_that_log_in_with_azure_login(tmp_path: Path) -> None:
    from pytest_mlgates.commands import init as init_command
    from pytest_mlgates.commands import lint as lint_command

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "eta"\nversion = "1"\n')
    (tmp_path / "train.py").write_text("print('train')\n")
    assert init_command.main(["--platform", "azureml", str(tmp_path)]) == 0
    retrain = (tmp_path / ".github" / "workflows" / "mlgates-retrain.yml").read_text()
    setup = (tmp_path / ".github" / "actions" / "mlgates-setup" / "action.yml").read_text()
    assert "id-token: write" in retrain and "azure-client-id: ${{ secrets.AZURE_CLIENT_ID }}" in retrain
    assert "uses: azure/login@" in setup and "client-id: ${{ inputs.azure-client-id }}" in setup
    for text in (retrain, setup):  # OIDC: no stored secret
        assert "client-secret" not in text and "creds:" not in text
    assert lint_command.main([str(tmp_path / ".github" / "workflows")]) == 0


def test_shadow_gate_on_azure_ml_deploys_both_scores_pinned_and_cleans_up(
    pytester: pytest.Pytester, azure_env: AzureEnvironment, child_env: None
) -> None:
    write_project(pytester, azure_env, "{}")
    pytester.makepyfile(test_gates='''
        import pytest
        from pytest_mlgates.gates import assert_shadow_agreement

        @pytest.mark.shadow_gate
        def test_shadow(champion_endpoint, staging_endpoint, shadow_test):
            assert_shadow_agreement(shadow_test(champion_endpoint, staging_endpoint))
    ''')
    pytester.path.joinpath("data.csv").write_text("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(12)))
    model = pytester.path.name[:20].replace("_", "-")
    (pytester.path / "src").mkdir()
    (pytester.path / "src" / "train.py").write_text(TRAIN_SCRIPT)
    adapter = make_adapter(azure_env, pytester.path)
    try:
        champion = new_version(azure_env, adapter, model, 5.0)
        candidate = new_version(azure_env, adapter, model, 4.0)
        adapter.promote(model, champion.version, None)
    finally:
        adapter.close()
    start = len(azure_env.arm.calls)
    result = pytester.runpytest_subprocess("-m", "shadow_gate", "--mlgates-model-version", candidate.version,
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    calls = azure_env.arm.calls[start:]
    created = {c.path.rsplit("/", 1)[-1] for c in calls if c.method == "PUT" and c.path.lower().rsplit("/", 2)[-2]
               == "onlineendpoints"}
    assert len(created) == 2 and all(len(name) <= 32 for name in created)
    scored = {c.path.rsplit("/", 1)[-1] for c in calls if c.path.startswith("/score/")}
    assert scored == created and all(c.headers["authorization"] == "Bearer primary-endpoint-key"
                                     for c in calls if c.path.startswith("/score/"))
    deleted = {c.path.rsplit("/", 1)[-1] for c in calls if c.method == "DELETE"}
    assert deleted == created  # nothing the run deployed outlives it
