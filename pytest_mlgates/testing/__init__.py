"""The adapter conformance suite, shipped for everyone who writes an adapter.

Subclass the suite's classes in a test module of your own and provide the
platform's parts as fixtures (see docs/adapters.md)::

    from pytest_mlgates.testing import JobConformance, RegistryConformance

    class TestJobs(JobConformance): ...
    class TestRegistry(RegistryConformance): ...

with fixtures ``adapter_factory`` (a callable returning a new adapter on the
same platform state), ``driver`` (a :class:`JobDriver`), and for
:class:`FaultConformance` ``faults`` (a :class:`FaultInjector`). Importing this
module imports pytest, so it is never imported by the plugin itself.
"""

from .conformance import (
    EndpointConformance,
    FaultConformance,
    FaultInjector,
    JobConformance,
    JobDriver,
    RegistryConformance,
)

__all__ = [
    "EndpointConformance",
    "FaultConformance",
    "FaultInjector",
    "JobConformance",
    "JobDriver",
    "RegistryConformance",
]
