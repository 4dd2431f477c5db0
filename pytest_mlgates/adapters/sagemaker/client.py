"""SageMaker plumbing: boto3 clients, bounded retries, error mapping, naming rules.

Credentials come only from boto3's default chain and are never printed.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import boto3.exceptions
import boto3.session
import botocore.config
import botocore.exceptions

from ...contract import slug
from ...records import (
    AccessDeniedError,
    AdapterError,
    ConflictError,
    JobStatus,
    NotFoundError,
    ThrottledError,
)
from ..base import Clock, Sleep
from .metadata import (
    ArtifactSummary,
)
from .settings import SageMakerSettings, parse_settings

CONTAINER_MODEL_DIR = "/opt/ml/model"
CHANNEL = "train"
CHANNEL_DIR = f"/opt/ml/input/data/{CHANNEL}"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
RETRY_CAP_SECONDS = 20.0
SINGLE_PUT_LIMIT = 5 * 1024**3
_CLIENT_LOCK = threading.Lock()
JOB_TAG_COMMIT = "mlgates:commit"
JOB_TAG_MODEL = "mlgates:model"
SOURCE_EXCLUDES = {".git", ".venv", "venv", "__pycache__", ".mlgates", ".pytest_cache", ".mypy_cache", "node_modules"}

THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "SlowDown", "PriorRequestNotComplete", "RequestThrottled",
    "EC2ThrottledException", "TransactionInProgressException",
})
ACCESS_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
    "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "AuthFailure", "MissingAuthenticationToken", "NotAuthorized",
})
NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException", "NoSuchKey", "NotFound", "404"})
_NOT_FOUND_TEXT = re.compile(r"could not find|not found|does not exist|cannot find|no such", re.I)
_READ_PREFIXES = ("describe_", "list_", "get_", "head_", "search")
_NETWORK_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
)
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
STATUS = {
    "InProgress": JobStatus.RUNNING,
    "Completed": JobStatus.COMPLETED,
    "Failed": JobStatus.FAILED,
    "Stopping": JobStatus.RUNNING,
    "Stopped": JobStatus.CANCELLED,
}
_STARTING = {"Starting", "Pending", "LaunchingMLInstances", "PreparingTrainingStack", "DownloadingTrainingImage"}


def resource_name(*parts: str) -> str:
    """A SageMaker resource name from parts, shortened with a digest suffix when too long."""
    name = "-".join(slug(p, 63) for p in parts if p)
    if len(name) <= 63:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:54].strip('-')}-{digest}"


def _weights_to_percent(variants: list[dict[str, Any]]) -> dict[str, int]:
    weights = {}
    for variant in variants:
        weight = variant.get("CurrentWeight", variant.get("DesiredWeight", 0.0)) or 0.0
        weights[variant["VariantName"]] = float(weight)
    total = sum(weights.values())
    if total <= 0:
        return {name: 0 for name in weights}
    percents = {name: int(math.floor(100 * w / total)) for name, w in weights.items()}
    # hand out the rounding remainder to the largest fractions, so the split sums to 100
    remainder = 100 - sum(percents.values())
    by_fraction = sorted(weights, key=lambda n: (100 * weights[n] / total) - percents[n], reverse=True)
    for name in by_fraction[:remainder]:
        percents[name] += 1
    return percents



class _PreconditionFailed(ConflictError):
    """A conditional S3 write lost (If-None-Match / If-Match)."""


class SageMakerClient:
    """boto3 clients, bounded retries and AWS error codes mapped to the adapter's errors.

    Every AWS call of the adapter goes through :meth:`_call`.
    """

    name = "sagemaker"

    def __init__(
        self,
        settings: Any = None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        session: boto3.session.Session | None = None,
    ) -> None:
        self.settings = settings
        self.config: SageMakerSettings = parse_settings(
            settings.platform_table("sagemaker") if settings is not None else None)
        self.root = Path(getattr(settings, "root", ".") or ".")
        self._sleep = sleep
        self._clock = clock
        self._session = session
        self._clients: dict[str, Any] = {}
        self._artifacts: dict[str, tuple[str, ArtifactSummary]] = {}
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"SageMakerAdapter(region={self.config.region!r}, s3_prefix={self.config.s3_prefix!r})"


    # -- plumbing -------------------------------------------------------------
    def _client(self, service: str) -> Any:
        with _CLIENT_LOCK:  # boto3 sessions are not thread-safe while creating clients
            if service not in self._clients:
                if self._session is None:
                    self._session = boto3.session.Session(region_name=self.config.region)
                options: dict[str, Any] = {
                    "retries": {"total_max_attempts": 1, "mode": "standard"},  # retries are ours, bounded
                    "connect_timeout": 10,
                    "read_timeout": 70,
                    "user_agent_extra": "pytest-mlgates",
                }
                if self.config.endpoint_url:
                    options["s3"] = {"addressing_style": "path"}
                self._clients[service] = self._session.client(
                    service,
                    region_name=self.config.region,
                    endpoint_url=self.config.endpoint_url or None,
                    config=botocore.config.Config(**options),
                )
            return self._clients[service]

    def _backoff(self, attempt: int) -> None:
        ceiling = min(RETRY_CAP_SECONDS, self.config.retry_base_seconds * 2 ** (attempt - 1))
        self._sleep(self._random.uniform(ceiling / 2, ceiling))

    def _call(self, service: str, operation: str, what: str = "", **kwargs: Any) -> Any:
        """One AWS call with bounded retries and errors mapped to adapter exceptions.

        Throttling is retried for every call (the request was not processed);
        5xx and network errors only for reads, where a repeat cannot create twice.
        """
        method = getattr(self._client(service), operation)
        read_only = operation.startswith(_READ_PREFIXES)
        attempts = self.config.max_attempts
        label = f"{service}:{operation}" + (f" ({what})" if what else "")
        body = kwargs.get("Body")
        for attempt in range(1, attempts + 1):
            if attempt > 1 and hasattr(body, "seek"):
                body.seek(0)  # a file body is re-sent from its start
            try:
                return method(**kwargs)
            except botocore.exceptions.ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                message = str(error.get("Message", "")) or str(exc)
                if code in THROTTLE_CODES or status == 429:
                    if attempt < attempts:
                        self._backoff(attempt)
                        continue
                    raise ThrottledError(
                        f"AWS throttled {label} {attempts} times in a row ({code}: {message}); another process "
                        f"may be hammering the API or the account's rate quota is low. Retry later, or raise "
                        f"{'[tool.mlgates.sagemaker]'} max_attempts / retry_base_seconds"
                    ) from None
                if status >= 500 and read_only and attempt < attempts:
                    self._backoff(attempt)
                    continue
                raise self._map_error(label, code, status, message, what) from None
            except boto3.exceptions.S3UploadFailedError as exc:
                cause = exc.__context__
                if isinstance(cause, botocore.exceptions.ClientError):
                    error = cause.response.get("Error", {})
                    status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                    raise self._map_error(label, str(error.get("Code", "")), status,
                                          str(error.get("Message", "")), what) from None
                raise AdapterError(f"upload failed for {label}: {exc}") from None
            except _NETWORK_ERRORS as exc:
                if read_only and attempt < attempts:
                    self._backoff(attempt)
                    continue
                raise AdapterError(
                    f"could not reach AWS for {label}: {exc}. Check the network, the region "
                    f"{self.config.region!r} and [tool.mlgates.sagemaker] endpoint_url"
                ) from None
            except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError,
                    botocore.exceptions.TokenRetrievalError, botocore.exceptions.SSOError) as exc:
                raise AccessDeniedError(
                    f"no usable AWS credentials for {label} ({type(exc).__name__}). pytest-mlgates takes them "
                    f"only from boto3's default chain: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                    f"AWS_SECRET_ACCESS_KEY, log in with `aws sso login`, or run with an instance/OIDC role"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _map_error(self, label: str, code: str, status: int, message: str, what: str) -> AdapterError:
        if code in ACCESS_CODES or status == 403:
            return AccessDeniedError(
                f"AWS denied {label}: {code}: {message}. The credentials come from boto3's default chain "
                f"(AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance role); grant that identity the permission, "
                f"and check that it may pass the role {self.config.role_arn} (iam:PassRole)"
            )
        if code == "NoSuchBucket":
            return AdapterError(
                f"the bucket of [tool.mlgates.sagemaker] s3_prefix ({self.config.s3_prefix}) does not exist in "
                f"{self.config.region} ({label}); create it or fix s3_prefix"
            )
        if code in NOT_FOUND_CODES or status == 404 or (
            code in ("ValidationException", "ValidationError") and _NOT_FOUND_TEXT.search(message)
        ):
            return NotFoundError(f"{what or label} does not exist on SageMaker in {self.config.region}: {message}")
        if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
            return _PreconditionFailed(f"{label}: the object changed or exists ({code}): {message}")
        if code in ("ResourceInUse", "ConflictException", "ResourceInUseException"):
            return ConflictError(f"{label} conflicts with the current state on SageMaker: {message}")
        return AdapterError(f"AWS rejected {label}: {code or status}: {message}")

    def close(self) -> None:
        with _CLIENT_LOCK:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
