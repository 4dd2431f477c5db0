"""The abstract adapter: the one seam between the gates and a platform.

Every platform (local, SageMaker, Azure ML, Vertex AI, third parties) implements
these verbs with the same meaning and declares what it can do in
``capabilities``, so code outside adapters/ never asks which platform it is on.
The records and errors it speaks in live in :mod:`pytest_mlgates.records`.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..attribution import BY_ROUTER_HEADER, ServedBy
from ..records import (
    Capabilities,
    DeadlineExceeded,
    DeployOptions,
    Endpoint,
    JobFailedError,
    JobStatus,
    ModelVersion,
    TrainingJob,
    TrainingSpec,
    UnsupportedError,
)

if TYPE_CHECKING:
    from ..packaging import ServingEntry

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Adapter(abc.ABC):
    """One platform. Subclasses implement the abstract verbs.

    ``wait_for_job`` is implemented here once: every adapter owns its poll loop
    (never an SDK waiter with its own sleeps) so deadlines, interrupts and test
    clocks behave the same on every platform.
    """

    name: ClassVar[str] = "abstract"
    capabilities: ClassVar[Capabilities] = Capabilities()

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
        poll_interval: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> TrainingJob:
        """Poll until the job finishes; cancel it on deadline or interrupt.

        ``poll_interval`` defaults to the platform's declared one. Raises
        DeadlineExceeded (after cancelling) or JobFailedError, both carrying the
        job name, the last status message and the log tail.
        """
        if poll_interval is None:
            poll_interval = self.capabilities.poll_interval
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

    def fetch_job_artifact(self, job_name: str, dest: Path) -> Path:
        """The completed job's model folder on this machine (downloaded under ``dest`` when it lives
        elsewhere), so registration can prove the artifact loads and predicts before it gets a version.

        A platform that cannot fetch it fails registration closed, with this message.
        """
        raise NotImplementedError(
            f"the {self.name} adapter does not implement fetch_job_artifact(), so registration cannot prove "
            f"that the model of {job_name!r} loads and predicts; the version was not registered")

    def serving_entry(self) -> ServingEntry | None:
        """The entry this platform will serve registered models with, which registration runs on a few
        validation rows first (pytest_mlgates.entry_proof); None when it serves with no entry registration
        can run (the local platform, a bring-your-own image)."""
        return None

    def verify_artifact(self, model: ModelVersion) -> None:
        """Raise IntegrityError unless the stored artifact of ``model`` still has the registered sha256.

        Every path to production calls it; a platform that cannot verify fails those paths closed.
        """
        raise NotImplementedError(
            f"the {self.name} adapter does not implement verify_artifact(), so the artifact of {model.id} cannot be "
            f"checked against its registered sha256")

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
    @abc.abstractmethod
    def deploy_to_endpoint(
        self, endpoint_name: str, model: ModelVersion, deployment_name: str, options: DeployOptions | None = None
    ) -> Endpoint:
        """Serve ``model`` as ``deployment_name`` on the endpoint, creating the endpoint if needed.

        Implementations call ``check_deploy_options`` first, so an option the
        platform cannot honour is refused before anything is created.
        """

    @abc.abstractmethod
    def set_traffic(
        self,
        endpoint_name: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int] | None = None,
    ) -> Endpoint:
        """Set the live split (whole percentages summing to 100) and the optional mirror."""

    @abc.abstractmethod
    def get_endpoint(self, endpoint_name: str) -> Endpoint:
        """The endpoint with its live traffic (raises NotFoundError)."""

    @abc.abstractmethod
    def list_endpoints(self) -> list[Endpoint]:
        """Every endpoint this adapter can see that mlgates created."""

    @abc.abstractmethod
    def invoke_endpoint(
        self, endpoint_name: str, body: Mapping[str, Any], deployment: str | None = None
    ) -> dict[str, Any]:
        """POST ``{"instances": [...]}`` to the endpoint (or one deployment); returns ``{"predictions": [...]}``."""

    @abc.abstractmethod
    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        """Remove one deployment that no longer takes traffic (a rolled-back or replaced model)."""

    @abc.abstractmethod
    def delete_endpoint(self, endpoint_name: str) -> None:
        """Remove the endpoint and every deployment on it."""

    # -- capability checks, shared by every adapter ---------------------------
    def check_deploy_options(self, options: DeployOptions | None) -> DeployOptions:
        """The options, or UnsupportedError naming the one this platform cannot honour."""
        options = options or DeployOptions()
        if options.faults is not None and options.faults.as_dict() and not self.capabilities.fault_injection:
            raise UnsupportedError(
                f"the {self.name!r} platform cannot inject faults into a deployment "
                f"({', '.join(options.faults.as_dict())}); run fault drills on the local platform, "
                f"or unset MLGATES_INJECT_ERROR_RATE / MLGATES_INJECT_LATENCY_MS"
            )
        return options

    def check_mirror(self, mirror: Mapping[str, int] | None) -> None:
        """UnsupportedError when a mirror is asked of a platform that cannot mirror."""
        if mirror and any(mirror.values()) and not self.capabilities.mirroring:
            raise UnsupportedError(
                f"the {self.name!r} platform cannot mirror traffic; the shadow test sends the same "
                f"rows to both deployments from the client instead"
            )

    def http_target(self, endpoint_name: str) -> tuple[str, str, dict[str, str]] | None:
        """(base URL, path, headers) at which plain HTTP POSTs of ``{"instances": [...]}`` reach the
        endpoint, for load tests on a platform without ``direct_http``; None when there is no such way.
        The headers may hold a short-lived token: pass them on, never print them."""
        return None

    def request_signer(self, endpoint_name: str) -> Any:
        """A ``loadtest.signing.RequestSigner`` that signs every request sent to ``http_target`` (its signature
        covers the request, as AWS SigV4 does), or None when the target's headers are enough. Asked anew for
        each round of load, with fresh credentials; the signer never prints them."""
        return None

    def served_by(self, endpoint_name: str) -> ServedBy:
        """How the endpoint's responses name the deployment that answered (a header, or a body field and
        the platform's ids -> our deployment names), so load is attributed per deployment; the default is
        the local router's ``x-mlgates-deployment`` header."""
        return BY_ROUTER_HEADER

    def close(self) -> None:
        """Release clients and connections."""
