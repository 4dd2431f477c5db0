"""The Vertex AI adapter against the shipped conformance suite: google-cloud-aiplatform over REST
to the Vertex fake, Cloud Storage to gcp-storage-emulator (harness in vertex_harness.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from vertex_harness import VertexFaults, VertexHarness, VertexJobDriver
from vertex_harness import gcp_env, gcs_emulator, project, vertex, vertex_fake  # noqa: F401

from pytest_mlgates.adapters.base import Adapter
from pytest_mlgates.testing import (
    EndpointConformance,
    FaultConformance,
    JobConformance,
    RegistryConformance,
)


@pytest.fixture
def adapter_factory(vertex: VertexHarness, project: Path) -> Callable[[], Adapter]:  # noqa: F811
    # real sleep and clock: racing promotions really interleave over HTTP
    return lambda: vertex.adapter(project, sleep=time.sleep, clock=time.monotonic)


@pytest.fixture
def driver(vertex: VertexHarness) -> VertexJobDriver:  # noqa: F811
    return VertexJobDriver(vertex)


@pytest.fixture
def faults(vertex: VertexHarness) -> Iterator[VertexFaults]:  # noqa: F811
    injector = VertexFaults(vertex)
    yield injector
    injector.clear()


class TestVertexJobs(JobConformance):
    pass


class TestVertexRegistry(RegistryConformance):
    pass


class TestVertexFaults(FaultConformance):
    pass


class TestVertexEndpoints(EndpointConformance):
    pass
