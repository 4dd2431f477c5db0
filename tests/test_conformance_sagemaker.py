"""The SageMaker adapter against the adapter conformance suite, over boto3 and moto's server.

The moto harness (server, recorder, fault injection, the handlers filling
moto's gaps) lives in test_sagemaker.py; here it only plays SageMaker's part
in a job: ``submit`` leaves the job InProgress on moto's backend, ``finish``
uploads model.tar.gz where SageMaker would and sets the final status.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_mlgates.testing.conformance import (
    COMMIT,
    EndpointConformance,
    FaultConformance,
    FaultInjector,
    JobConformance,
    JobDriver,
    RegistryConformance,
)
from pytest_mlgates.adapters.base import Adapter
from pytest_mlgates.records import TrainingJob, TrainingSpec
from pytest_mlgates.adapters.sagemaker import SageMakerAdapter
from pytest_mlgates.config import Settings
from test_sagemaker import Fault, MotoHarness, aws_env, moto, project, sagemaker_table  # noqa: F401


class MotoJobDriver(JobDriver):
    def __init__(self, moto: MotoHarness) -> None:
        self.moto = moto

    def submit(self, adapter: Adapter, model_name: str, commit: str = COMMIT) -> TrainingJob:
        spec = TrainingSpec(model_name=model_name, entry_point="src/train.py", data="data.csv",
                            hyperparameters={"max_depth": 3}, commit=commit, timeout_seconds=600)
        job = adapter.submit_training_job(spec)
        self.moto.set_job(job.name, "InProgress", "Training",
                          "Training image download completed. Training in progress.")
        return job

    def finish(
        self,
        adapter: Adapter,
        job_name: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
        metrics_text: str | None = None,
        fail: str | None = None,
    ) -> None:
        if fail is not None:
            self.moto.set_job(job_name, "Failed", "Failed", failure_reason=f"AlgorithmError: {fail}")
            return
        text = metrics_text if metrics_text is not None else json.dumps(dict(metrics or {}))
        self.moto.upload_model(job_name, dict(files or {}), text)
        self.moto.set_job(job_name, "Completed", "Completed", "Training job completed")


class MotoFaults(FaultInjector):
    def __init__(self, moto: MotoHarness) -> None:
        self.moto = moto
        self.injected: list[Fault] = []

    def inject(self, kind: str, times: int | None = None) -> None:
        self.injected.append(self.moto.fault(kind, times=times))

    def hits(self) -> int:
        return sum(f.hits for f in self.injected)

    def clear(self) -> None:
        with self.moto.recorder.lock:
            self.moto.recorder.faults.clear()


@pytest.fixture
def adapter_factory(moto: MotoHarness, project: Path) -> Callable[[], Adapter]:  # noqa: F811
    settings = Settings(platform="sagemaker", model_name="eta", root=str(project),
                        platforms={"sagemaker": sagemaker_table(moto, retry_base_seconds=0.0)})
    # real sleep and clock: concurrent promotions really wait for each other's lock
    return lambda: SageMakerAdapter(settings, sleep=time.sleep, clock=time.monotonic, session=moto.session)


@pytest.fixture
def driver(moto: MotoHarness) -> MotoJobDriver:  # noqa: F811
    return MotoJobDriver(moto)


@pytest.fixture
def faults(moto: MotoHarness) -> Iterator[MotoFaults]:  # noqa: F811
    injector = MotoFaults(moto)
    yield injector
    injector.clear()


class TestSageMakerJobs(JobConformance):
    pass


class TestSageMakerRegistry(RegistryConformance):
    pass


class TestSageMakerFaults(FaultConformance):
    pass


class TestSageMakerEndpoints(EndpointConformance):
    pass
