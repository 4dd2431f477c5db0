"""The abstract adapter: the one seam between the gates and a platform.

Every platform (local, SageMaker, Azure ML, Vertex AI, third parties) implements
these verbs with the same meaning, so gate code never asks which platform it is
on. Data types here are plain dataclasses: they cross process boundaries (xdist
workers, the CLI) as JSON through ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


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


Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Adapter(abc.ABC):
    """One platform. Subclasses implement the abstract verbs.

    ``wait_for_job`` is implemented here once: every adapter owns its poll loop
    (never an SDK waiter with its own sleeps) so deadlines, interrupts and test
    clocks behave the same on every platform.
    """

    name: ClassVar[str] = "abstract"

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    # -- training -----------------------------------------------------------
    @abc.abstractmethod
    def submit_training_job(self, spec: TrainingSpec) -> TrainingJob:
        """Start a training job and return at once."""

    @abc.abstractmethod
    def get_job(self, job_name: str) -> TrainingJob:
        """Current status of a job (raises NotFoundError)."""

    @abc.abstractmethod
    def cancel_job(self, job_name: str) -> None:
        """Stop a job; a finished job is left as it is."""

    @abc.abstractmethod
    def job_metrics(self, job_name: str) -> dict[str, Any]:
        """The job's ``metrics.json`` (raises JobFailedError when it is missing or bad)."""

    def job_logs(self, job_name: str, tail: int = 40) -> str:
        """The last lines of the job's output, for error messages."""
        return ""

    def wait_for_job(
        self,
        job_name: str,
        timeout: float,
        poll_interval: float = 2.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> TrainingJob:
        """Poll until the job finishes; cancel it on deadline or interrupt.

        Raises DeadlineExceeded (after cancelling) or JobFailedError, both
        carrying the job name, the last status message and the log tail.
        """
        deadline = clock() + timeout
        try:
            while True:
                job = self.get_job(job_name)
                if job.status.finished:
                    break
                if clock() >= deadline:
                    self.cancel_job(job_name)
                    raise DeadlineExceeded(
                        f"training job {job_name!r} did not finish within {timeout:g} s "
                        f"(last status {job.status.value}: {job.message or 'no message'}); "
                        f"it was cancelled. Raise [tool.mlgates.training] timeout_minutes "
                        f"if the job needs longer.\n--- log tail ---\n{self.job_logs(job_name)}"
                    )
                sleep(min(poll_interval, max(deadline - clock(), 0.0)) or poll_interval)
        except KeyboardInterrupt:
            self.cancel_job(job_name)
            raise
        if job.status is not JobStatus.COMPLETED:
            raise JobFailedError(
                f"training job {job_name!r} ended {job.status.value}: "
                f"{job.message or 'no message'}\n--- log tail ---\n{self.job_logs(job_name)}"
            )
        if job.metrics is None:
            job.metrics = self.job_metrics(job_name)
        return job

    # -- registry -----------------------------------------------------------
    @abc.abstractmethod
    def register_model(
        self,
        model_name: str,
        job_name: str,
        metrics: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Register the job's model artifact as a new version of ``model_name``."""

    @abc.abstractmethod
    def get_model_version(self, model_name: str, version: str) -> ModelVersion:
        """One version (raises NotFoundError)."""

    @abc.abstractmethod
    def list_model_versions(self, model_name: str) -> list[ModelVersion]:
        """Every version, oldest first."""

    @abc.abstractmethod
    def get_champion(self, model_name: str) -> ModelVersion | None:
        """The current champion, or None before the first deployment."""

    @abc.abstractmethod
    def promote(
        self,
        model_name: str,
        version: str,
        expected_champion: str | None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Make ``version`` the champion if the champion is still ``expected_champion``.

        ``expected_champion`` is the version the gate compared against (None: no
        champion). Raises ConflictError when another promotion got there first.
        ``tags`` are written on the new champion in the same step (the stored
        champion metric).
        """

    @abc.abstractmethod
    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> ModelVersion:
        """Merge ``tags`` into the version's tags (the gate ledger lives here)."""

    # -- endpoints ----------------------------------------------------------
    def deploy_to_endpoint(
        self, endpoint_name: str, model: ModelVersion, deployment_name: str, **options: Any
    ) -> Endpoint:
        raise NotImplementedError(f"the {self.name!r} adapter cannot deploy endpoints yet")

    def set_traffic(
        self,
        endpoint_name: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int] | None = None,
    ) -> Endpoint:
        raise NotImplementedError(f"the {self.name!r} adapter cannot set endpoint traffic yet")

    def delete_endpoint(self, endpoint_name: str) -> None:
        raise NotImplementedError(f"the {self.name!r} adapter cannot delete endpoints yet")

    def get_endpoint(self, endpoint_name: str) -> Endpoint:
        """The endpoint with its live traffic (raises NotFoundError)."""
        raise NotImplementedError(f"the {self.name!r} adapter cannot describe endpoints yet")

    def invoke_endpoint(
        self, endpoint_name: str, body: Mapping[str, Any], deployment: str | None = None
    ) -> dict[str, Any]:
        """POST ``{"instances": [...]}`` to the endpoint (or one deployment); returns ``{"predictions": [...]}``."""
        raise NotImplementedError(f"the {self.name!r} adapter cannot invoke endpoints yet")

    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        """Remove one deployment that no longer takes traffic (a rolled-back or replaced model)."""
        raise NotImplementedError(f"the {self.name!r} adapter cannot delete deployments yet")

    def close(self) -> None:
        """Release clients and connections."""
