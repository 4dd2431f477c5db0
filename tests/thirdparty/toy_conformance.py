"""The toy platform's own test module: the shipped conformance suite, subclassed.

This is what a third-party adapter's test suite looks like. It gets the adapter
through the registry by name, as pytest-mlgates does, so the entry point is
part of what it proves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_mlgates.adapters import get_adapter
from pytest_mlgates.adapters.base import Adapter
from pytest_mlgates.config import Settings
from pytest_mlgates.records import JobStatus, TrainingJob, TrainingSpec
from pytest_mlgates.testing import (
    EndpointConformance,
    JobConformance,
    JobDriver,
    RegistryConformance,
)
from pytest_mlgates.testing.conformance import COMMIT


class ToyDriver(JobDriver):
    def submit(self, adapter: Adapter, model_name: str, commit: str = COMMIT) -> TrainingJob:
        return adapter.submit_training_job(TrainingSpec(model_name, "train.py", "data.csv", commit=commit))

    def finish(self, adapter: Adapter, job_name: str, *, metrics: Mapping[str, Any] | None = None,
               files: Mapping[str, bytes] | None = None, metrics_text: str | None = None,
               fail: str | None = None) -> None:
        import json

        folder = adapter.model_dir(job_name)  # type: ignore[attr-defined]
        for name, data in (files or {}).items():
            (folder / name).write_bytes(data)
        if fail is None:
            (folder / "metrics.json").write_text(metrics_text if metrics_text is not None else json.dumps(metrics))
        with adapter.store() as s:  # type: ignore[attr-defined]
            s["jobs"][job_name].update(status=(JobStatus.FAILED if fail else JobStatus.COMPLETED).value,
                                       message=fail or "")


@pytest.fixture
def adapter_factory(tmp_path: Path) -> Callable[[], Adapter]:
    settings = Settings(platform="toy", platforms={"toy": {"store": str(tmp_path / "toy-cloud")}})
    return lambda: get_adapter("toy", settings)


@pytest.fixture
def driver() -> JobDriver:
    return ToyDriver()


def test_the_adapter_came_through_the_entry_point(adapter_factory: Callable[[], Adapter]) -> None:
    adapter = adapter_factory()
    assert type(adapter).__module__ == "toy_platform" and adapter.name == "toy"


class TestJobs(JobConformance):
    pass


class TestRegistry(RegistryConformance):
    pass


class TestEndpoints(EndpointConformance):
    pass
