"""The Vertex AI adapter against the shipped conformance suite: google-cloud-aiplatform over REST
to the Vertex fake, Cloud Storage to gcp-storage-emulator. The suite's fixtures (adapter_factory,
driver, faults) come from the harness, vertex_harness.py, which plays Vertex's part."""

from __future__ import annotations

from vertex_harness import (  # noqa: F401 - the fixtures the suite asks for
    adapter_factory,
    driver,
    faults,
    gcp_env,
    gcs_emulator,
    project,
    vertex,
    vertex_fake,
)

from pytest_mlgates.testing import (
    EndpointConformance,
    FaultConformance,
    JobConformance,
    RegistryConformance,
)


class TestVertexJobs(JobConformance):
    pass


class TestVertexRegistry(RegistryConformance):
    pass


class TestVertexFaults(FaultConformance):
    pass


class TestVertexEndpoints(EndpointConformance):
    pass
