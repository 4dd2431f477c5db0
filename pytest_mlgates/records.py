"""Records and errors that every layer may import: the leaf of the package.

Gates, release logic, fixtures and every adapter speak in these types, so none
of them depends on another layer to name a model version or an error. They are
plain dataclasses that cross process boundaries (xdist workers, the CLI) as
JSON through ``to_dict``/``from_dict``. This module imports nothing of ours.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class AdapterError(Exception):
    """Base class of every error an adapter raises on purpose."""


class NotFoundError(AdapterError):
    """The job, model version or endpoint does not exist."""


class AccessDeniedError(AdapterError):
    """The platform refused the credentials or the permission."""


class ThrottledError(AdapterError):
    """The platform asked us to slow down and bounded retries did not help."""


class ConflictError(AdapterError):
    """A compare-and-swap lost: the state changed since the caller read it."""


class JobFailedError(AdapterError):
    """The training job ended in a failed or cancelled state."""


class DeadlineExceeded(AdapterError):
    """A wait ran past its deadline; the job was cancelled."""


class IntegrityError(AdapterError):
    """A stored artifact does not match its recorded sha256."""


class UnsupportedError(AdapterError):
    """The platform cannot do what was asked; the message says what to do instead."""


class StateError(AdapterError):
    """A state file exists but cannot be read; never taken for empty state. The message names the file and the fix."""


class TrafficError(AdapterError, ValueError):
    """A traffic or mirror split that breaks the rules; the message says which and how to fix it."""


class JobStatus(str, enum.Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class TrainingSpec:
    """What to train: the training contract, platform independent.

    The platform runs ``python <entry_point> --data <data> --model-dir <dir>
    [--<name> <value>]...`` and expects ``<dir>/metrics.json`` afterwards.
    """

    model_name: str
    entry_point: str
    data: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    job_name: str | None = None
    commit: str | None = None
    timeout_seconds: float = 3600.0


@dataclass
class TrainingJob:
    name: str
    status: JobStatus
    platform: str
    metrics: dict[str, Any] | None = None
    artifact_uri: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingJob:
        return cls(**{**data, "status": JobStatus(data["status"])})


@dataclass
class ModelVersion:
    name: str
    version: str
    artifact_uri: str
    sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    is_champion: bool = False
    created_at: float = 0.0

    @property
    def id(self) -> str:
        """``name:version``, the way messages name a model."""
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelVersion:
        return cls(**data)


@dataclass
class Endpoint:
    name: str
    url: str
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)




@dataclass(frozen=True)
class Faults:
    """Faults a drill injects into one deployment; honoured only where ``Capabilities.fault_injection``."""

    error_rate: float | None = None
    """Fraction of requests answered with HTTP 500."""
    latency_ms: float | None = None
    """Latency added to a request."""
    latency_fraction: float | None = None
    """Fraction of requests that get the added latency."""

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class DeployOptions:
    """How to deploy, typed: an option a platform cannot honour is refused by name, never dropped."""

    traffic: Mapping[str, int] | None = None
    """The endpoint's complete split once this deployment is in; None: the first deployment of an
    endpoint takes 100%, later ones 0%."""
    outlive_run: bool = False
    """Production: the deployment keeps serving after the run ends."""
    owner_pid: int | None = None
    """A run-scoped deployment stops when this process ends (default: the deploying process)."""
    faults: Faults | None = None
    """Faults for drills and demos (``Capabilities.fault_injection``)."""
    seed: int | None = None
    """Seeds random traffic choice and faults where the platform has them."""
    instance_type: str | None = None
    """The platform's machine type for this deployment; None: the platform table's default."""
    instance_count: int | None = None
    """Instances behind this deployment; None: the platform table's default."""


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do, declared by its adapter: nothing outside adapters/ asks for a name."""

    mirroring: bool = False
    """``set_traffic(mirror=...)`` copies live requests to a shadow deployment."""
    max_mirror_percent: int = 0
    """The largest mirrored share the platform accepts."""
    fault_injection: bool = False
    """``DeployOptions.faults`` are honoured."""
    direct_http: bool = False
    """``Endpoint.url`` takes plain unsigned ``POST /invocations`` (load tests hit it directly);
    otherwise requests go through ``invoke_endpoint``."""
    poll_interval: float = 15.0
    """Seconds between polls of a training job."""
