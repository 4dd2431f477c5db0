"""SageMaker training jobs: the training contract as a CreateTrainingJob request."""

from __future__ import annotations

import json
import math
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...contract import ContractError, digest_dir, job_name_for, render_hyperparameters
from ...records import (
    AdapterError,
    IntegrityError,
    JobFailedError,
    JobStatus,
    ModelVersion,
    NotFoundError,
    TrainingJob,
    TrainingSpec,
)
from ..object_uri import split_uri
from .client import (
    _NAME_RE,
    _STARTING,
    CHANNEL,
    CHANNEL_DIR,
    CONTAINER_MODEL_DIR,
    JOB_TAG_COMMIT,
    JOB_TAG_MODEL,
    LOG_GROUP,
    STATUS,
)
from .metadata import (
    ArtifactSummary,
    MetadataError,
    metrics_from_text,
    summarize_tar,
)
from .storage import StorageMixin


class TrainingMixin(StorageMixin):
    """Training verbs of the adapter."""

    # -- training -----------------------------------------------------------------
    def submit_training_job(self, spec: TrainingSpec) -> TrainingJob:
        cfg = self.config
        if not cfg.image_uri:
            raise JobFailedError(
                "[tool.mlgates.sagemaker] image_uri is required to train on SageMaker: a framework image for "
                "script mode (e.g. the scikit-learn image of your region) or your own training image"
            )
        try:
            user_hps = render_hyperparameters(spec.hyperparameters)
        except ContractError as exc:
            raise JobFailedError(f"not submitted: {exc}") from None
        name = spec.job_name or job_name_for(spec.model_name, spec.commit)
        if not _NAME_RE.match(name):
            raise JobFailedError(f"training job name {name!r} is not valid on SageMaker (1-63 letters, digits, hyphens)")
        data_uri = self._upload_data(spec.data) if spec.data else ""
        if not data_uri:
            raise JobFailedError("no training data: set [tool.mlgates.training] data (a local path or an s3:// URI)")
        data_arg = CHANNEL_DIR if data_uri.endswith("/") else f"{CHANNEL_DIR}/{data_uri.rsplit('/', 1)[-1]}"
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
            # the SageMaker training toolkit JSON-decodes each value, then str()s it into
            # --key value: a JSON string of the canonical text decodes back to that very text
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
            for key, text in user_hps.items():
                arguments += [f"--{key}", text]
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
        bucket, key = split_uri(uri, "s3")
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

    def fetch_job_artifact(self, job_name: str, dest: Path) -> Path:
        """Download and unpack the job's model.tar.gz under ``dest`` (members outside it are refused)."""
        uri, _ = self._artifact(job_name)
        bucket, key = split_uri(uri, "s3")
        body = self._call("s3", "get_object", f"model artifact {uri}", Bucket=bucket, Key=key)["Body"]
        folder = Path(dest) / "model"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(fileobj=body, mode="r|gz") as tar:
                tar.extractall(folder, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise JobFailedError(f"training job {job_name!r}: {uri} could not be unpacked: {exc}") from None
        finally:
            body.close()
        return folder

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

    def verify_artifact(self, model: ModelVersion) -> None:
        """Download the version's model.tar.gz to a temporary folder and check its digest; then the served
        package's, when the version has one (``serving = "sklearn"``)."""
        with tempfile.TemporaryDirectory(prefix="mlgates-verify-") as tmp:
            self.fetch_model(model, tmp)
        self._verify_served_package_of(model)  # type: ignore[attr-defined]

    def fetch_model(self, model: ModelVersion, dest: str | os.PathLike[str]) -> Path:
        """Download and unpack a version's model.tar.gz into ``dest``, verified by sha256.

        Raises IntegrityError when the artifact in S3 no longer matches the
        digest recorded at registration.
        """
        target = Path(dest)
        target.mkdir(parents=True, exist_ok=True)
        bucket, key = split_uri(model.artifact_uri, "s3")
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
