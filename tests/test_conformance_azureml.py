"""The Azure ML adapter against the adapter conformance suite, over azure-ai-ml, the ARM fake and Azurite.

The harness (ARM fake over HTTPS, Azurite, credentials through
DefaultAzureCredential) lives in tests/fakes/; here it only plays Azure's part
in a job: ``submit`` leaves the command job Running in the fake, ``finish``
writes the model output into Azurite where the job's ``model`` output points
and sets the final status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml", reason="the azureml extra is part of the dev install (make install)")

from fakes.azureml_arm import Call, Fault  # noqa: E402
from fakes.azureml_harness import AzureEnvironment, environment, shutdown  # noqa: E402
from pytest_mlgates.adapters.azureml import AzureMLAdapter  # noqa: E402
from pytest_mlgates.adapters.base import Adapter  # noqa: E402
from pytest_mlgates.config import Settings  # noqa: E402
from pytest_mlgates.records import TrainingJob, TrainingSpec  # noqa: E402
from pytest_mlgates.testing.conformance import (  # noqa: E402
    COMMIT,
    EndpointConformance,
    FaultConformance,
    FaultInjector,
    JobConformance,
    JobDriver,
    RegistryConformance,
)


@pytest.fixture(scope="session")
def azure_env() -> Iterator[AzureEnvironment]:
    yield environment()
    shutdown()


@pytest.fixture(scope="module")
def azure_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("azure-conformance")
    (root / "src").mkdir()
    (root / "src" / "train.py").write_text("print('trained')\n")
    (root / "data.csv").write_text("x,y\n1,2\n")
    return root


class FakeJobDriver(JobDriver):
    def __init__(self, env: AzureEnvironment) -> None:
        self.env = env

    def submit(self, adapter: Adapter, model_name: str, commit: str = COMMIT) -> TrainingJob:
        spec = TrainingSpec(model_name=model_name, entry_point="src/train.py", data="data.csv",
                            hyperparameters={"max_depth": 3}, commit=commit, timeout_seconds=600)
        job = adapter.submit_training_job(spec)
        self.env.arm.set_job(job.name, "Running")
        return job

    def finish(self, adapter: Adapter, job_name: str, *, metrics: Mapping[str, Any] | None = None,
               files: Mapping[str, bytes] | None = None, metrics_text: str | None = None,
               fail: str | None = None) -> None:
        self.env.finish(job_name, metrics, files, metrics_text, fail)


class FakeFaults(FaultInjector):
    KINDS = {"access_denied": (403, "AuthorizationFailed", {}),
             "throttled": (429, "TooManyRequests", {"Retry-After": "0"})}

    def __init__(self, env: AzureEnvironment) -> None:
        self.env = env
        self.injected: list[Fault] = []

    def inject(self, kind: str, times: int | None = None) -> None:
        status, code, headers = self.KINDS[kind]
        self.injected.append(self.env.arm.fault(status, code, lambda c: c.path.startswith("/subscriptions/"),
                                                times=times, headers=headers))

    def hits(self) -> int:
        return sum(f.hits for f in self.injected)

    def clear(self) -> None:
        with self.env.arm.lock:
            self.env.arm.faults.clear()


@pytest.fixture
def adapter_factory(azure_env: AzureEnvironment, azure_project: Path) -> Callable[[], Adapter]:
    settings = Settings(platform="azureml", model_name="eta", root=str(azure_project),
                        platforms={"azureml": azure_env.table()})
    return lambda: AzureMLAdapter(settings, sleep=time.sleep, clock=time.monotonic)


@pytest.fixture
def driver(azure_env: AzureEnvironment) -> FakeJobDriver:
    return FakeJobDriver(azure_env)


@pytest.fixture
def faults(azure_env: AzureEnvironment) -> Iterator[FakeFaults]:
    injector = FakeFaults(azure_env)
    yield injector
    injector.clear()


class TestAzureMLJobs(JobConformance):
    pass


class TestAzureMLRegistry(RegistryConformance):
    pass


class TestAzureMLFaults(FaultConformance):
    pass


class TestAzureMLEndpoints(EndpointConformance):
    pass


def test_every_request_carries_a_bearer_token_from_default_azure_credential(
    azure_env: AzureEnvironment, adapter_factory: Callable[[], Adapter]
) -> None:
    start = len(azure_env.arm.calls)
    adapter = adapter_factory()
    try:
        assert adapter.list_model_versions("conf-token-check") == []
    finally:
        adapter.close()
    calls: list[Call] = azure_env.arm.calls[start:]
    token_calls = [c for c in calls if c.path == "/msi/token"]
    management = [c for c in calls if c.path.startswith("/subscriptions/")]
    assert token_calls and token_calls[0].headers.get("x-identity-header") == "fake-identity-header"
    assert management and all(c.headers.get("authorization", "").startswith("Bearer fake-arm-token-")
                              for c in management)
