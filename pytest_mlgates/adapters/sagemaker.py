"""The ``sagemaker`` platform: Amazon SageMaker through boto3.

- Training: the training contract becomes a training job. In script mode the
  entry point (or ``source_dir``) is uploaded as ``sourcedir.tar.gz`` and a
  framework image runs ``python <entry> --data ... --model-dir /opt/ml/model
  --<hp> <value>``; otherwise ``image_uri`` runs it through ContainerEntrypoint.
  ``metrics.json`` is read back from ``model.tar.gz`` in S3. Waiting is the base
  class's poll loop; on its deadline or an interrupt ``stop_training_job`` runs.
- Registry: one model package group per model name; each version a model
  package whose metrics, artifact digest and gate ledger live in
  ``CustomerMetadataProperties``. The champion is the package that is
  ``Approved`` *and* carries the adapter's champion mark with the highest
  generation. Promotion is a compare-and-swap made safe across machines by a
  lock object in S3 written with conditional puts (``If-None-Match: *``).
- Endpoints: a SageMaker Model per deployment, endpoint configs whose
  production variants are the deployments, ``update_endpoint_weights_and_
  capacities`` for traffic steps and ``invoke_endpoint`` with ``TargetVariant``.

Every AWS call goes through :meth:`SageMakerAdapter._call`: bounded retries
with jittered back-off on throttling, none on access denied, and AWS error
codes mapped to the adapter's exception types. Credentials come only from
boto3's default chain and are never printed.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import secrets
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import boto3.exceptions
import boto3.session
import botocore.config
import botocore.exceptions

from ..contract import ContractError, digest_dir
from ..serving.traffic import TrafficError, check_traffic
from .base import (
    AccessDeniedError,
    Adapter,
    AdapterError,
    Clock,
    ConflictError,
    Endpoint,
    IntegrityError,
    JobFailedError,
    JobStatus,
    ModelVersion,
    NotFoundError,
    Sleep,
    ThrottledError,
    TrainingJob,
    TrainingSpec,
)
from .sagemaker_metadata import (
    KEY_CHAMPION,
    KEY_CREATED,
    KEY_GENERATION,
    KEY_REPLACED_BY,
    KEY_SHA256,
    ArtifactSummary,
    MetadataError,
    check_user_tags,
    decode_properties,
    encode_properties,
    metrics_from_text,
    summarize_tar,
)
from .sagemaker_settings import SageMakerSettings, parse_settings

__all__ = ["SageMakerAdapter", "SageMakerSettings", "job_name_for", "resource_name", "parse_settings"]

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


def _slug(text: str, limit: int) -> str:
    """Letters, digits and single hyphens: what SageMaker names allow."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")[:limit].strip("-")
    return slug or "model"


def job_name_for(model_name: str, commit: str | None, now: float | None = None) -> str:
    """``<model>-<YYYYmmdd-HHMMSS>-<commit7>-<hex4>``: unique, sortable, traceable, <= 63 chars."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    short = _slug((commit or "nocommit")[:7], 7)
    return f"{_slug(model_name, 30)}-{stamp}-{short}-{secrets.token_hex(2)}"


def resource_name(*parts: str) -> str:
    """A SageMaker resource name from parts, shortened with a digest suffix when too long."""
    name = "-".join(_slug(p, 63) for p in parts if p)
    if len(name) <= 63:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:54].strip('-')}-{digest}"


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


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


class _Lock:
    """A held registry lock (an S3 object we created)."""

    def __init__(self, key: str, etag: str) -> None:
        self.key, self.etag = key, etag


class SageMakerAdapter(Adapter):
    """Amazon SageMaker training jobs, model registry and endpoints over boto3."""

    name = "sagemaker"

    def __init__(
        self,
        settings: Any = None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        session: boto3.session.Session | None = None,
    ) -> None:
        super().__init__(settings)
        raw = getattr(settings, "sagemaker", None) if settings is not None else None
        self.config: SageMakerSettings = parse_settings(raw)
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

    # -- S3 ---------------------------------------------------------------------
    def _put(self, key: str, body: bytes, what: str, **extra: Any) -> dict[str, Any]:
        return self._call("s3", "put_object", what, Bucket=self.config.bucket, Key=key, Body=body,  # type: ignore[no-any-return]
                          **extra)

    def _object_exists(self, bucket: str, key: str) -> bool:
        try:
            self._call("s3", "head_object", f"s3://{bucket}/{key}", Bucket=bucket, Key=key)
        except NotFoundError:
            return False
        return True

    def _upload_data(self, data: str) -> str:
        """The S3 URI of the training data; a local file or folder is uploaded once, by content."""
        if data.startswith("s3://"):
            return data
        path = Path(data).expanduser()
        path = path if path.is_absolute() else self.root / path
        if not path.exists():
            raise JobFailedError(
                f"training data {path} does not exist; set [tool.mlgates.training] data to a local file or "
                f"folder (uploaded to {self.config.s3_prefix}/data/) or to an s3:// URI"
            )
        if path.is_file():
            digest = digest_dir_of_file(path)
            key = self.config.key("data", digest[:16], path.name)
            if not self._object_exists(self.config.bucket, key):
                self._upload_file(path, key)
            return f"s3://{self.config.bucket}/{key}"
        digest = digest_dir(path)
        base = self.config.key("data", digest[:16], path.name)
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            key = f"{base}/{file.relative_to(path).as_posix()}"
            if not self._object_exists(self.config.bucket, key):
                self._upload_file(file, key)
        return f"s3://{self.config.bucket}/{base}/"

    def _upload_file(self, path: Path, key: str) -> None:
        """One PUT (retried from the file's start) up to 5 GB; a multipart transfer beyond."""
        if path.stat().st_size < SINGLE_PUT_LIMIT:
            with path.open("rb") as fh:
                self._call("s3", "put_object", f"upload of {path}", Bucket=self.config.bucket, Key=key, Body=fh)
        else:
            self._call("s3", "upload_file", f"upload of {path}", Filename=str(path),
                       Bucket=self.config.bucket, Key=key)

    def _source_archive(self, entry: Path) -> tuple[bytes, str]:
        """sourcedir.tar.gz bytes and the entry point's path inside it."""
        if self.config.source_dir:
            source = self.settings_path(self.config.source_dir)
            if not source.is_dir():
                raise JobFailedError(f"[tool.mlgates.sagemaker] source_dir {source} is not a folder")
            try:
                program = entry.resolve().relative_to(source.resolve()).as_posix()
            except ValueError:
                raise JobFailedError(
                    f"the training entry point {entry} is outside [tool.mlgates.sagemaker] source_dir {source}; "
                    f"source_dir must contain it"
                ) from None
            files = [p for p in sorted(source.rglob("*"))
                     if p.is_file() and not SOURCE_EXCLUDES.intersection(p.relative_to(source).parts)]
        else:
            source, program, files = entry.parent, entry.name, [entry]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for file in files:
                tar.add(file, arcname=file.relative_to(source).as_posix(), recursive=False)
        return buffer.getvalue(), program

    def settings_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path

    # -- training -----------------------------------------------------------------
    def submit_training_job(self, spec: TrainingSpec) -> TrainingJob:
        cfg = self.config
        if not cfg.image_uri:
            raise JobFailedError(
                "[tool.mlgates.sagemaker] image_uri is required to train on SageMaker: a framework image for "
                "script mode (e.g. the scikit-learn image of your region) or your own training image"
            )
        name = spec.job_name or job_name_for(spec.model_name, spec.commit)
        if not _NAME_RE.match(name):
            raise JobFailedError(f"training job name {name!r} is not valid on SageMaker (1-63 letters, digits, hyphens)")
        data_uri = self._upload_data(spec.data) if spec.data else ""
        if not data_uri:
            raise JobFailedError("no training data: set [tool.mlgates.training] data (a local path or an s3:// URI)")
        data_arg = CHANNEL_DIR if data_uri.endswith("/") else f"{CHANNEL_DIR}/{data_uri.rsplit('/', 1)[-1]}"
        user_hps = {str(k): v for k, v in spec.hyperparameters.items()}
        algorithm: dict[str, Any] = {"TrainingImage": cfg.image_uri, "TrainingInputMode": "File"}
        hyperparameters: dict[str, str] = {}
        if cfg.script_mode:
            entry = self.settings_path(spec.entry_point)
            if not entry.is_file():
                raise JobFailedError(
                    f"training entry point {entry} does not exist; set [tool.mlgates.training] entry_point "
                    f"to your training script (relative to {self.root})"
                )
            archive, program = self._source_archive(entry)
            source_key = cfg.key("jobs", name, "source", "sourcedir.tar.gz")
            self._put(source_key, archive, f"source code of {name}")
            # the SageMaker training toolkit JSON-decodes each value and passes
            # every non-sagemaker_ key on as --key value: our training contract
            hyperparameters = {
                "sagemaker_program": json.dumps(program),
                "sagemaker_submit_directory": json.dumps(f"s3://{cfg.bucket}/{source_key}"),
                "sagemaker_region": json.dumps(cfg.region),
                "sagemaker_container_log_level": "20",
                "data": json.dumps(data_arg),
                "model-dir": json.dumps(CONTAINER_MODEL_DIR),
                **{k: json.dumps(v) for k, v in user_hps.items()},
            }
        else:
            arguments = ["--data", data_arg, "--model-dir", CONTAINER_MODEL_DIR]
            for key, value in user_hps.items():
                arguments += [f"--{key}", json.dumps(value) if isinstance(value, (bool, list, dict)) else str(value)]
            algorithm["ContainerEntrypoint"] = [cfg.container_python, spec.entry_point]
            algorithm["ContainerArguments"] = arguments
        for key, value in hyperparameters.items():
            if len(value) > 2500:
                raise JobFailedError(f"hyperparameter {key!r} is {len(value)} characters; SageMaker allows 2500")
        tags = [{"Key": k, "Value": v} for k, v in cfg.tags.items()]
        tags += [{"Key": JOB_TAG_MODEL, "Value": spec.model_name[:256]},
                 {"Key": JOB_TAG_COMMIT, "Value": (spec.commit or "unknown")[:256]}]
        request: dict[str, Any] = dict(
            TrainingJobName=name,
            AlgorithmSpecification=algorithm,
            RoleArn=cfg.role_arn,
            InputDataConfig=[{
                "ChannelName": CHANNEL,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": data_uri,
                                                "S3DataDistributionType": "FullyReplicated"}},
                "InputMode": "File",
            }],
            OutputDataConfig={"S3OutputPath": cfg.uri("jobs")},
            ResourceConfig={"InstanceType": cfg.instance_type, "InstanceCount": cfg.instance_count,
                            "VolumeSizeInGB": cfg.volume_size_gb},
            StoppingCondition={"MaxRuntimeInSeconds": max(1, int(math.ceil(spec.timeout_seconds)))},
            Tags=tags,
        )
        if hyperparameters:
            request["HyperParameters"] = hyperparameters
        self._call("sagemaker", "create_training_job", f"training job {name!r}", **request)
        return TrainingJob(name=name, status=JobStatus.PENDING, platform=self.name,
                           artifact_uri=f"{cfg.uri('jobs')}/{name}/output/model.tar.gz",
                           message="submitted")

    def _describe_job(self, job_name: str) -> dict[str, Any]:
        return self._call("sagemaker", "describe_training_job", f"training job {job_name!r}",  # type: ignore[no-any-return]
                          TrainingJobName=job_name)

    @staticmethod
    def _job_from_description(desc: Mapping[str, Any], platform: str) -> TrainingJob:
        raw = desc.get("TrainingJobStatus", "InProgress")
        secondary = desc.get("SecondaryStatus", "")
        status = STATUS.get(raw, JobStatus.RUNNING)
        if raw == "InProgress" and secondary in _STARTING:
            status = JobStatus.PENDING
        transitions = desc.get("SecondaryStatusTransitions") or []
        detail = transitions[-1].get("StatusMessage", "") if transitions else ""
        message = f"{secondary}: {detail}" if secondary and detail else secondary or detail or raw
        if raw == "Failed":
            message = desc.get("FailureReason") or message
        if raw == "Stopped" and secondary in ("MaxRuntimeExceeded", "MaxWaitTimeExceeded"):
            status = JobStatus.FAILED
            message = (f"SageMaker stopped the job: {secondary} (StoppingCondition from the job's timeout); "
                       f"{detail}").rstrip("; ")
        return TrainingJob(
            name=desc.get("TrainingJobName", ""),
            status=status,
            platform=platform,
            artifact_uri=(desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
            message=message,
        )

    def get_job(self, job_name: str) -> TrainingJob:
        job = self._job_from_description(self._describe_job(job_name), self.name)
        job.name = job.name or job_name
        return job

    def cancel_job(self, job_name: str) -> None:
        desc = self._describe_job(job_name)
        if desc.get("TrainingJobStatus") != "InProgress":
            return
        try:
            self._call("sagemaker", "stop_training_job", f"training job {job_name!r}", TrainingJobName=job_name)
        except AdapterError as exc:
            # it may have finished between describe and stop; only that is fine
            if self._describe_job(job_name).get("TrainingJobStatus") == "InProgress":
                raise AdapterError(f"could not stop training job {job_name!r}: {exc}") from None

    def _artifact(self, job_name: str) -> tuple[str, ArtifactSummary]:
        """(S3 URI, summary) of a completed job's model.tar.gz, read once and cached."""
        if job_name in self._artifacts:
            return self._artifacts[job_name]
        desc = self._describe_job(job_name)
        job = self._job_from_description(desc, self.name)
        if job.status is not JobStatus.COMPLETED:
            raise JobFailedError(
                f"training job {job_name!r} has no model: it is {desc.get('TrainingJobStatus')} ({job.message})"
                f"\n--- log tail ---\n{self.job_logs(job_name)}"
            )
        uri = job.artifact_uri or ""
        bucket, key = _split_s3(uri)
        try:
            body = self._call("s3", "get_object", f"model artifact {uri}", Bucket=bucket, Key=key)["Body"]
        except NotFoundError:
            raise JobFailedError(
                f"training job {job_name!r} completed but its model artifact {uri} is missing from S3"
            ) from None
        try:
            summary = summarize_tar(body)
        except MetadataError as exc:
            raise JobFailedError(f"training job {job_name!r}: {uri}: {exc}") from None
        finally:
            body.close()
        self._artifacts[job_name] = (uri, summary)
        return uri, summary

    def job_metrics(self, job_name: str) -> dict[str, Any]:
        uri, summary = self._artifact(job_name)
        if summary.metrics_text is None:
            raise JobFailedError(
                f"training job {job_name!r} broke the training contract: {uri} has no metrics.json "
                f"(it holds {', '.join(summary.files) or 'no files'}); the script must write metrics.json into "
                f"--model-dir ({CONTAINER_MODEL_DIR})\n--- log tail ---\n{self.job_logs(job_name)}"
            )
        try:
            return metrics_from_text(summary.metrics_text, f"metrics.json in {uri}")
        except ContractError as exc:
            raise JobFailedError(f"training job {job_name!r} broke the training contract: {exc}") from None

    def job_logs(self, job_name: str, tail: int = 40) -> str:
        """The job's CloudWatch log tail; never raises (it decorates error messages)."""
        try:
            streams = self._call("logs", "describe_log_streams", f"logs of {job_name!r}",
                                 logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job_name}/")["logStreams"]
            lines: list[str] = []
            for stream in streams:
                events = self._call("logs", "get_log_events", f"logs of {job_name!r}", logGroupName=LOG_GROUP,
                                    logStreamName=stream["logStreamName"], limit=tail,
                                    startFromHead=False)["events"]
                lines += [e.get("message", "").rstrip("\n") for e in events]
        except AdapterError as exc:
            return f"(no CloudWatch log for {job_name}: {str(exc).splitlines()[0][:200]})"
        return "\n".join(lines[-tail:]) or "(no output)"

    def fetch_model(self, model: ModelVersion, dest: str | os.PathLike[str]) -> Path:
        """Download and unpack a version's model.tar.gz into ``dest``, verified by sha256.

        Raises IntegrityError when the artifact in S3 no longer matches the
        digest recorded at registration.
        """
        target = Path(dest)
        target.mkdir(parents=True, exist_ok=True)
        bucket, key = _split_s3(model.artifact_uri)
        with tempfile.TemporaryFile() as tmp:
            body = self._call("s3", "get_object", f"model artifact of {model.id}", Bucket=bucket, Key=key)["Body"]
            for chunk in iter(lambda: body.read(1 << 20), b""):
                tmp.write(chunk)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp, mode="r:gz") as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(target, filter="data")  # no absolute paths, links out or devices
                else:  # pragma: no cover - Python before 3.10.12 / 3.11.4
                    for member in tar.getmembers():
                        if member.name.startswith("/") or ".." in Path(member.name).parts or not (
                                member.isfile() or member.isdir()):
                            raise IntegrityError(f"model artifact of {model.id} holds an unsafe member {member.name!r}")
                    tar.extractall(target)
        actual = digest_dir(target)
        if actual != model.sha256:
            raise IntegrityError(
                f"model artifact of {model.id} at {model.artifact_uri} has sha256 {actual}, but the registry "
                f"recorded {model.sha256}; it was changed after registration. Re-run training to register a new "
                f"version."
            )
        return target

    # -- registry -----------------------------------------------------------------
    def group_name(self, model_name: str) -> str:
        """The model package group of a model name."""
        return self.config.model_package_group or _slug(model_name, 63)

    def _ensure_group(self, model_name: str) -> str:
        group = self.group_name(model_name)
        try:
            self._call("sagemaker", "describe_model_package_group", f"model package group {group!r}",
                       ModelPackageGroupName=group)
        except NotFoundError:
            try:
                self._call("sagemaker", "create_model_package_group", f"model package group {group!r}",
                           ModelPackageGroupName=group,
                           ModelPackageGroupDescription=f"pytest-mlgates versions of {model_name}"[:1024],
                           Tags=[{"Key": k, "Value": v} for k, v in self.config.tags.items()] or
                           [{"Key": JOB_TAG_MODEL, "Value": model_name[:256]}])
            except (ConflictError, AdapterError) as exc:  # created by a concurrent run: fine
                if "already exists" not in str(exc).lower():
                    raise
        return group

    def _package_summaries(self, model_name: str, status: str | None = None) -> list[dict[str, Any]]:
        group = self.group_name(model_name)
        summaries: list[dict[str, Any]] = []
        request: dict[str, Any] = {"ModelPackageGroupName": group, "SortBy": "CreationTime",
                                   "SortOrder": "Ascending", "MaxResults": 100}
        if status:
            request["ModelApprovalStatus"] = status
        while True:
            try:
                page = self._call("sagemaker", "list_model_packages", f"versions of {model_name!r}", **request)
            except NotFoundError:
                return []
            summaries += page.get("ModelPackageSummaryList", [])
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        return sorted(summaries, key=lambda s: int(s.get("ModelPackageVersion", 0)))

    def _package_arn(self, model_name: str, version: str) -> str:
        wanted = str(version).strip()
        if not wanted.isdigit():
            raise NotFoundError(f"model version {version!r} is not a SageMaker model package version number (1, 2, ...)")
        for summary in self._package_summaries(model_name):
            if str(summary.get("ModelPackageVersion")) == str(int(wanted)):
                return str(summary["ModelPackageArn"])
        raise NotFoundError(
            f"model {model_name!r} has no version {version!r} in model package group "
            f"{self.group_name(model_name)!r} ({self.config.region})"
        )

    def _describe_package(self, arn: str) -> dict[str, Any]:
        return self._call("sagemaker", "describe_model_package", f"model package {arn}",  # type: ignore[no-any-return]
                          ModelPackageName=arn)

    def _version_from(self, model_name: str, desc: Mapping[str, Any]) -> ModelVersion:
        decoded = decode_properties(desc.get("CustomerMetadataProperties"))
        containers = (desc.get("InferenceSpecification") or {}).get("Containers") or [{}]
        created = desc.get("CreationTime")
        created_at = created.timestamp() if hasattr(created, "timestamp") else float(
            decoded.internal.get(KEY_CREATED, 0) or 0)
        return ModelVersion(
            name=model_name,
            version=str(desc.get("ModelPackageVersion", "")),
            artifact_uri=str(containers[0].get("ModelDataUrl", "")),
            sha256=decoded.internal.get(KEY_SHA256, ""),
            metrics=decoded.metrics,
            tags=decoded.tags,
            is_champion=self._is_marked(desc),
            created_at=created_at,
        )

    @staticmethod
    def _is_marked(desc: Mapping[str, Any]) -> bool:
        props = desc.get("CustomerMetadataProperties") or {}
        return desc.get("ModelApprovalStatus") == "Approved" and props.get(KEY_CHAMPION) == "true"

    @staticmethod
    def _generation(desc: Mapping[str, Any]) -> int:
        try:
            return int((desc.get("CustomerMetadataProperties") or {}).get(KEY_GENERATION, "0"))
        except ValueError:
            return 0

    def register_model(
        self,
        model_name: str,
        job_name: str,
        metrics: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        cfg = self.config
        image = cfg.inference_image_uri or cfg.image_uri
        if not image:
            raise AdapterError("[tool.mlgates.sagemaker] inference_image_uri (or image_uri) is required to register "
                               "a model package: the image that serves it")
        all_tags = {"mlgates.job": job_name, **check_user_tags(tags or {})}
        uri, summary = self._artifact(job_name)
        desc = self._describe_job(job_name)
        props = encode_properties({KEY_SHA256: summary.sha256, KEY_CREATED: repr(time.time())}, metrics, all_tags)
        group = self._ensure_group(model_name)
        commit = ""
        try:
            job_tags = self._call("sagemaker", "list_tags", f"tags of {job_name!r}",
                                  ResourceArn=desc["TrainingJobArn"]).get("Tags", [])
            commit = next((t["Value"] for t in job_tags if t["Key"] == JOB_TAG_COMMIT), "")
        except AdapterError:
            pass
        metrics_key = cfg.key("registry", group, job_name, "metrics.json")
        self._put(metrics_key, json.dumps(dict(metrics), sort_keys=True).encode(), f"metrics of {job_name}")
        request: dict[str, Any] = dict(
            ModelPackageGroupName=group,
            ModelPackageDescription=f"{model_name} trained by {job_name}"[:1024],
            InferenceSpecification={
                "Containers": [{"Image": image, "ModelDataUrl": uri}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties=props,
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                          "S3Uri": f"s3://{cfg.bucket}/{metrics_key}"}}},
            MetadataProperties={"GeneratedBy": desc["TrainingJobArn"][:1024],
                                **({"CommitId": commit[:1024]} if commit and commit != "unknown" else {})},
        )
        arn = self._call("sagemaker", "create_model_package", f"a version of {model_name!r}",
                         **request)["ModelPackageArn"]
        return self._version_from(model_name, self._describe_package(arn))

    def get_model_version(self, model_name: str, version: str) -> ModelVersion:
        return self._version_from(model_name, self._describe_package(self._package_arn(model_name, version)))

    def list_model_versions(self, model_name: str) -> list[ModelVersion]:
        return [self._version_from(model_name, self._describe_package(s["ModelPackageArn"]))
                for s in self._package_summaries(model_name)]

    def _champion_description(self, model_name: str) -> dict[str, Any] | None:
        marked = []
        for summary in self._package_summaries(model_name, status="Approved"):
            desc = self._describe_package(summary["ModelPackageArn"])
            if self._is_marked(desc):
                marked.append(desc)
        if not marked:
            return None
        return max(marked, key=lambda d: (self._generation(d), int(d.get("ModelPackageVersion", 0))))

    def get_champion(self, model_name: str) -> ModelVersion | None:
        desc = self._champion_description(model_name)
        if desc is None:
            return None
        return self._version_from(model_name, desc)

    def _update_package(self, desc: Mapping[str, Any], props: Mapping[str, str], approval: str | None = None) -> None:
        # Always send the full metadata map and the approval status: UpdateModelPackage
        # implementations differ on whether omitted fields are kept or cleared.
        self._call(
            "sagemaker", "update_model_package", f"model package {desc['ModelPackageArn']}",
            ModelPackageArn=desc["ModelPackageArn"],
            ModelApprovalStatus=approval or desc.get("ModelApprovalStatus") or "PendingManualApproval",
            CustomerMetadataProperties=dict(props),
        )

    def _merged_props(self, desc: Mapping[str, Any], internal: Mapping[str, str], tags: Mapping[str, str]) -> dict[str, str]:
        decoded = decode_properties(desc.get("CustomerMetadataProperties"))
        return encode_properties({**decoded.internal, **internal}, decoded.metrics, {**decoded.tags, **tags})

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> ModelVersion:
        clean = check_user_tags(tags)
        arn = self._package_arn(model_name, version)
        with self._registry_lock(model_name):
            desc = self._describe_package(arn)
            self._update_package(desc, self._merged_props(desc, {}, clean))
        return self._version_from(model_name, self._describe_package(arn))

    def promote(
        self,
        model_name: str,
        version: str,
        expected_champion: str | None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        clean = check_user_tags(tags or {})
        arn = self._package_arn(model_name, version)
        with self._registry_lock(model_name):
            current = self._champion_description(model_name)
            current_version = None if current is None else str(current.get("ModelPackageVersion"))
            expected = None if expected_champion is None else str(expected_champion)
            if current_version != expected:
                raise ConflictError(
                    f"cannot promote {model_name}:{version}: the champion is now {current_version or 'none'}, not "
                    f"{expected or 'none'} as the gate compared against; a newer champion exists, so run the "
                    f"champion gate again against it"
                )
            target = self._describe_package(arn)
            generation = 1 + (self._generation(current) if current is not None else 0)
            internal = {KEY_CHAMPION: "true", KEY_GENERATION: str(generation)}
            # mark the new champion first: a crash in between leaves two marks, and the
            # higher generation wins, so the registry never has no champion by accident
            self._update_package(target, self._merged_props(target, internal, clean), approval="Approved")
            if current is not None and current["ModelPackageArn"] != target["ModelPackageArn"]:
                self._update_package(current, self._merged_props(
                    current, {KEY_CHAMPION: "false", KEY_REPLACED_BY: str(version)}, {}))
        return self._version_from(model_name, self._describe_package(arn))

    # -- the registry lock ------------------------------------------------------------
    def _lock_key(self, model_name: str) -> str:
        return self.config.key("registry", self.group_name(model_name), "registry.lock")

    def _registry_lock(self, model_name: str) -> _LockContext:
        return _LockContext(self, model_name)

    def _acquire(self, model_name: str) -> _Lock:
        """Create the lock object with If-None-Match: *, so exactly one writer holds it."""
        key = self._lock_key(model_name)
        deadline = self._clock() + self.config.lock_timeout_seconds
        holder = ""
        while True:
            body = json.dumps({"owner": uuid.uuid4().hex, "at": time.time(), "pid": os.getpid(),
                               "host": os.uname().nodename if hasattr(os, "uname") else ""}).encode()
            try:
                response = self._put(key, body, f"registry lock of {model_name!r}", IfNoneMatch="*")
                return _Lock(key, response.get("ETag", ""))
            except _PreconditionFailed:
                pass
            holder, etag, age = self._lock_state(key)
            if etag and age > self.config.lock_ttl_seconds:
                try:  # take over a lock left by a crashed run; If-Match makes only one taker win
                    response = self._put(key, body, f"registry lock of {model_name!r}", IfMatch=etag)
                    return _Lock(key, response.get("ETag", ""))
                except _PreconditionFailed:
                    pass
            if self._clock() >= deadline:
                raise ConflictError(
                    f"another run holds the registry lock of {model_name!r} (s3://{self.config.bucket}/{key}, "
                    f"{holder}) and did not release it within {self.config.lock_timeout_seconds:g} s; retry when "
                    f"it finishes. A lock older than lock_ttl_seconds ({self.config.lock_ttl_seconds:g} s) is "
                    f"taken over automatically"
                )
            self._sleep(min(0.2, max(0.0, deadline - self._clock())) or 0.05)

    def _lock_state(self, key: str) -> tuple[str, str, float]:
        """(description of the holder, ETag, age in seconds) of the lock object."""
        try:
            obj = self._call("s3", "get_object", "registry lock", Bucket=self.config.bucket, Key=key)
            data = json.loads(obj["Body"].read() or b"{}")
        except NotFoundError:
            return "released", "", 0.0
        except (ValueError, AdapterError):
            return "unreadable", "", 0.0
        at = float(data.get("at", 0) or 0)
        return (f"held by pid {data.get('pid')} on {data.get('host') or 'unknown host'} "
                f"for {max(0.0, time.time() - at):.0f} s"), str(obj.get("ETag", "")), time.time() - at

    def _release(self, lock: _Lock) -> None:
        try:
            self._call("s3", "delete_object", "registry lock", Bucket=self.config.bucket, Key=lock.key)
        except NotFoundError:
            pass

    # -- endpoints ----------------------------------------------------------------
    def _describe_endpoint(self, endpoint_name: str) -> dict[str, Any]:
        return self._call("sagemaker", "describe_endpoint", f"endpoint {endpoint_name!r}",  # type: ignore[no-any-return]
                          EndpointName=endpoint_name)

    def _endpoint_url(self, endpoint_name: str) -> str:
        base = self._client("sagemaker-runtime").meta.endpoint_url.rstrip("/")
        return f"{base}/endpoints/{endpoint_name}/invocations"

    def _endpoint_from(self, desc: Mapping[str, Any]) -> Endpoint:
        name = str(desc["EndpointName"])
        return Endpoint(name=name, url=self._endpoint_url(name),
                        traffic=_weights_to_percent(list(desc.get("ProductionVariants") or [])))

    def get_endpoint(self, endpoint_name: str) -> Endpoint:
        """The endpoint and its current traffic split (raises NotFoundError)."""
        return self._endpoint_from(self._describe_endpoint(endpoint_name))

    def _wait_in_service(self, endpoint_name: str) -> dict[str, Any]:
        deadline = self._clock() + self.config.endpoint_timeout_seconds
        while True:
            desc = self._describe_endpoint(endpoint_name)
            status = desc.get("EndpointStatus")
            if status == "InService":
                return desc
            if status in ("Failed", "OutOfService"):
                raise AdapterError(
                    f"endpoint {endpoint_name!r} is {status}: {desc.get('FailureReason') or 'no reason given'}; "
                    f"check the serving image ({self.config.inference_image_uri or self.config.image_uri}) answers "
                    f"GET /ping and POST /invocations, and its CloudWatch logs under /aws/sagemaker/Endpoints/"
                    f"{endpoint_name}"
                )
            if self._clock() >= deadline:
                raise AdapterError(
                    f"endpoint {endpoint_name!r} was not InService within "
                    f"{self.config.endpoint_timeout_seconds:g} s (last status {status}); raise "
                    f"[tool.mlgates.sagemaker] endpoint_timeout_seconds or check the endpoint in the console"
                )
            self._sleep(min(self.config.endpoint_poll_seconds, max(0.0, deadline - self._clock())) or 0.01)

    def _endpoint_exists(self, endpoint_name: str) -> dict[str, Any] | None:
        try:
            return self._describe_endpoint(endpoint_name)
        except NotFoundError:
            return None

    def deploy_to_endpoint(
        self, endpoint_name: str, model: ModelVersion, deployment_name: str, **options: Any
    ) -> Endpoint:
        """Deploy ``model`` as production variant ``deployment_name`` of the endpoint.

        As on every platform: the first deployment of an endpoint gets 100% of
        the traffic, a later one 0% (``set_traffic`` moves it), and a redeployed
        one keeps its share; ``traffic`` sets the split in the same step.
        Other options: ``instance_type``, ``instance_count``. ``detach`` and
        ``watch_pid`` are accepted and ignored: a SageMaker endpoint always
        outlives the process that made it, until ``delete_endpoint``.
        """
        known = {"instance_type", "instance_count", "traffic", "detach", "watch_pid"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"deploy option(s) {', '.join(unknown)} do not exist on SageMaker; "
                            f"valid: {', '.join(sorted(known))}")
        for label, value in (("endpoint name", endpoint_name), ("deployment name", deployment_name)):
            if not _NAME_RE.match(value):
                raise ValueError(f"{label} {value!r} is not valid on SageMaker: 1-63 letters, digits and hyphens")
        package = self._describe_package(self._package_arn(model.name, model.version))
        existing = self._endpoint_exists(endpoint_name)
        old_config: dict[str, Any] = {}
        if existing is not None:
            existing = self._wait_in_service(endpoint_name)
            old_config = self._call("sagemaker", "describe_endpoint_config",
                                    f"endpoint config {existing['EndpointConfigName']!r}",
                                    EndpointConfigName=existing["EndpointConfigName"])
        old_variants = list(old_config.get("ProductionVariants") or [])
        names = [v["VariantName"] for v in old_variants]
        names += [] if deployment_name in names else [deployment_name]
        if options.get("traffic") is not None:
            weights = _check_split(names, options["traffic"])
        elif existing is None:
            weights = {deployment_name: 100}
        else:
            current = _weights_to_percent(list(existing.get("ProductionVariants") or []))
            weights = {name: current.get(name, 0) for name in names}
        container = dict(((package.get("InferenceSpecification") or {}).get("Containers") or [{}])[0])
        aws_tags = [{"Key": k, "Value": v} for k, v in self.config.tags.items()] + [
            {"Key": "mlgates:model-version", "Value": model.id[:256]}]
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(2)
        sm_model = resource_name(endpoint_name, deployment_name, stamp)
        config_name = resource_name(endpoint_name, stamp)
        variant = {
            "VariantName": deployment_name,
            "ModelName": sm_model,
            "InstanceType": options.get("instance_type", self.config.endpoint_instance_type),
            "InitialInstanceCount": int(options.get("instance_count", self.config.endpoint_instance_count)),
        }
        variants, replaced_models = [], []
        for old in old_variants:
            if old["VariantName"] == deployment_name:
                replaced_models.append(old["ModelName"])
                continue
            keep = {k: old[k] for k in ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount",
                                        "ServerlessConfig") if k in old}
            variants.append(keep)
        variants.append(variant)
        variants = [{**v, "InitialVariantWeight": float(weights.get(v["VariantName"], 0))} for v in variants]
        self._call("sagemaker", "create_model", f"model {sm_model!r}", ModelName=sm_model,
                   ExecutionRoleArn=self.config.role_arn,
                   PrimaryContainer={"Image": container.get("Image") or self.config.inference_image_uri
                                     or self.config.image_uri,
                                     "ModelDataUrl": container.get("ModelDataUrl") or model.artifact_uri,
                                     "Environment": {"MLGATES_MODEL": model.id[:1024],
                                                     "MLGATES_SHA256": model.sha256}},
                   Tags=aws_tags)
        try:
            self._call("sagemaker", "create_endpoint_config", f"endpoint config {config_name!r}",
                       EndpointConfigName=config_name, ProductionVariants=variants, Tags=aws_tags)
            if existing is None:
                self._call("sagemaker", "create_endpoint", f"endpoint {endpoint_name!r}",
                           EndpointName=endpoint_name, EndpointConfigName=config_name, Tags=aws_tags)
                try:
                    return self._endpoint_from(self._wait_in_service(endpoint_name))
                except BaseException:
                    try:  # a new endpoint that never came up is ours to remove
                        self._call("sagemaker", "delete_endpoint", f"endpoint {endpoint_name!r}",
                                   EndpointName=endpoint_name)
                    except AdapterError:
                        pass
                    raise
            self._call("sagemaker", "update_endpoint", f"endpoint {endpoint_name!r}",
                       EndpointName=endpoint_name, EndpointConfigName=config_name)
            desc = self._wait_in_service(endpoint_name)
        except BaseException:
            self._cleanup(models=[sm_model], configs=[config_name], keep_in_use=endpoint_name)
            raise
        self._cleanup(models=replaced_models, configs=[old_config.get("EndpointConfigName", "")],
                      keep_in_use=endpoint_name)
        return self._endpoint_from(desc)

    def _cleanup(self, models: list[str], configs: list[str], keep_in_use: str) -> None:
        """Delete models and configs the endpoint no longer uses; best effort."""
        in_use: set[str] = set()
        try:
            desc = self._describe_endpoint(keep_in_use)
            in_use.add(desc.get("EndpointConfigName", ""))
            cfg = self._call("sagemaker", "describe_endpoint_config", "endpoint config",
                             EndpointConfigName=desc.get("EndpointConfigName", ""))
            in_use |= {v["ModelName"] for v in cfg.get("ProductionVariants") or []}
        except (AdapterError, KeyError):
            pass
        for config in configs:
            if config and config not in in_use:
                try:
                    self._call("sagemaker", "delete_endpoint_config", f"endpoint config {config!r}",
                               EndpointConfigName=config)
                except AdapterError:
                    pass
        for model in models:
            if model and model not in in_use:
                try:
                    self._call("sagemaker", "delete_model", f"model {model!r}", ModelName=model)
                except AdapterError:
                    pass

    def set_traffic(
        self,
        endpoint_name: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int] | None = None,
    ) -> Endpoint:
        if mirror:
            raise NotImplementedError(
                "the SageMaker adapter does not mirror traffic; compare deployments by invoking each one with "
                "SageMakerAdapter.invoke_endpoint(..., deployment=...) (TargetVariant) instead"
            )
        desc = self._wait_in_service(endpoint_name)
        variants = [v["VariantName"] for v in desc.get("ProductionVariants") or []]
        weights = _check_split(variants, traffic)
        desired = [{"VariantName": name, "DesiredWeight": float(weights[name])} for name in variants]
        self._call("sagemaker", "update_endpoint_weights_and_capacities", f"endpoint {endpoint_name!r}",
                   EndpointName=endpoint_name, DesiredWeightsAndCapacities=desired)
        return self._endpoint_from(self._wait_in_service(endpoint_name))

    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        """Remove a production variant that takes no traffic (a rolled-back or replaced model).

        SageMaker endpoints need at least one variant: to remove the last one,
        delete the endpoint.
        """
        desc = self._wait_in_service(endpoint_name)
        live = _weights_to_percent(list(desc.get("ProductionVariants") or []))
        if deployment_name not in live:
            raise NotFoundError(f"endpoint {endpoint_name!r} has no deployment {deployment_name!r}; "
                                f"deployments: {', '.join(live) or '(none)'}")
        if len(live) == 1:
            raise TrafficError(f"{deployment_name!r} is the only deployment of SageMaker endpoint {endpoint_name!r}; "
                               f"delete the endpoint instead")
        if live[deployment_name]:
            raise TrafficError(f"deployment {deployment_name!r} still takes {live[deployment_name]}% of the traffic "
                               f"of {endpoint_name!r}; move it away with set_traffic first")
        old_name = desc["EndpointConfigName"]
        old = self._call("sagemaker", "describe_endpoint_config", f"endpoint config {old_name!r}",
                         EndpointConfigName=old_name)
        keep, removed = [], []
        for variant in old.get("ProductionVariants") or []:
            if variant["VariantName"] == deployment_name:
                removed.append(variant["ModelName"])
                continue
            fields = {k: variant[k] for k in ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount",
                                              "ServerlessConfig") if k in variant}
            keep.append({**fields, "InitialVariantWeight": float(live.get(variant["VariantName"], 0))})
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(2)
        config_name = resource_name(endpoint_name, stamp)
        aws_tags = [{"Key": k, "Value": v} for k, v in self.config.tags.items()]
        self._call("sagemaker", "create_endpoint_config", f"endpoint config {config_name!r}",
                   EndpointConfigName=config_name, ProductionVariants=keep, **({"Tags": aws_tags} if aws_tags else {}))
        try:
            self._call("sagemaker", "update_endpoint", f"endpoint {endpoint_name!r}",
                       EndpointName=endpoint_name, EndpointConfigName=config_name)
            desc = self._wait_in_service(endpoint_name)
        except BaseException:
            self._cleanup(models=[], configs=[config_name], keep_in_use=endpoint_name)
            raise
        self._cleanup(models=removed, configs=[old_name], keep_in_use=endpoint_name)
        return self._endpoint_from(desc)

    def delete_endpoint(self, endpoint_name: str) -> None:
        desc = self._describe_endpoint(endpoint_name)
        config_name = desc.get("EndpointConfigName", "")
        models: list[str] = []
        try:
            cfg = self._call("sagemaker", "describe_endpoint_config", f"endpoint config {config_name!r}",
                             EndpointConfigName=config_name)
            models = [v["ModelName"] for v in cfg.get("ProductionVariants") or []]
        except NotFoundError:
            pass
        self._call("sagemaker", "delete_endpoint", f"endpoint {endpoint_name!r}", EndpointName=endpoint_name)
        self._cleanup(models=models, configs=[config_name], keep_in_use="")

    def invoke_endpoint(self, endpoint_name: str, body: Mapping[str, Any],
                        deployment: str | None = None) -> dict[str, Any]:
        """POST ``body`` (``{"instances": [...]}``) through sagemaker-runtime, signed by boto3.

        ``deployment`` pins the production variant (``TargetVariant``), which is
        how a shadow comparison asks champion and challenger the same rows.
        Returns the decoded JSON answer (``{"predictions": [...]}``).
        """
        request: dict[str, Any] = dict(EndpointName=endpoint_name, ContentType="application/json",
                                       Accept="application/json", Body=json.dumps(dict(body)).encode())
        if deployment:
            request["TargetVariant"] = deployment
        response = self._call("sagemaker-runtime", "invoke_endpoint", f"endpoint {endpoint_name!r}", **request)
        raw = response["Body"].read()
        try:
            answer = json.loads(raw)
        except ValueError:
            raise AdapterError(f"endpoint {endpoint_name!r} answered something that is not JSON: {raw[:200]!r}; "
                               f"the serving container must answer {{\"predictions\": [...]}}") from None
        if not isinstance(answer, dict) or "predictions" not in answer:
            raise AdapterError(f"endpoint {endpoint_name!r} answered {str(answer)[:200]}, without \"predictions\"; "
                               f"the serving container must answer {{\"predictions\": [...]}}")
        return answer

    def close(self) -> None:
        with _CLIENT_LOCK:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def _check_split(deployments: list[str], traffic: Mapping[str, Any]) -> dict[str, int]:
    """The platform-wide traffic rules (serving.traffic), plus SageMaker's: something must take traffic."""
    try:
        live, _ = check_traffic(deployments, traffic, {})
    except TrafficError as exc:
        raise TrafficError(f"{exc} (SageMaker production variants)") from None
    if sum(live.values()) == 0:
        raise TrafficError("a SageMaker endpoint must send its traffic somewhere: the percentages sum to 0, "
                           "give at least one deployment a share (they must sum to 100)")
    return live


class _LockContext:
    def __init__(self, adapter: SageMakerAdapter, model_name: str) -> None:
        self.adapter, self.model_name = adapter, model_name
        self.lock: _Lock | None = None

    def __enter__(self) -> _Lock:
        self.lock = self.adapter._acquire(self.model_name)
        return self.lock

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            self.adapter._release(self.lock)


def digest_dir_of_file(path: Path) -> str:
    """sha256 of one file's bytes (the name of its content-addressed upload)."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

