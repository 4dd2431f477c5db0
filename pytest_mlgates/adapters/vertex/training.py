"""Vertex AI training: the training contract as a CustomJob.

``--model-dir`` is the Cloud Storage FUSE path of ``AIP_MODEL_DIR`` (Vertex sets
it to ``<base_output_directory>/model/``) and ``--data`` the FUSE path of the
staged data, so the user's script reads and writes plain files. Waiting is the
base class's poll loop, never ``CustomJob.wait()``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.protobuf import duration_pb2

from ...contract import ContractError, hyperparameter_args, job_name_for, metrics_from_text
from ...records import AdapterError, JobFailedError, JobStatus, NotFoundError, TrainingJob, TrainingSpec
from ..requirements import RequirementsError
from . import names
from .storage import PACKAGE, RUNNER, FolderSummary, StorageMixin, fuse_path
from .settings import TABLE

LABEL_MODEL = "mlgates-model"
LABEL_COMMIT = "mlgates-commit"
LABEL_MANAGED = "managed-by"

_S = types.JobState
STATUS = {
    _S.JOB_STATE_QUEUED: JobStatus.PENDING, _S.JOB_STATE_PENDING: JobStatus.PENDING,
    _S.JOB_STATE_RUNNING: JobStatus.RUNNING, _S.JOB_STATE_CANCELLING: JobStatus.RUNNING,
    _S.JOB_STATE_UPDATING: JobStatus.RUNNING, _S.JOB_STATE_PAUSED: JobStatus.RUNNING,
    _S.JOB_STATE_SUCCEEDED: JobStatus.COMPLETED, _S.JOB_STATE_FAILED: JobStatus.FAILED,
    _S.JOB_STATE_EXPIRED: JobStatus.FAILED, _S.JOB_STATE_PARTIALLY_SUCCEEDED: JobStatus.FAILED,
    _S.JOB_STATE_CANCELLED: JobStatus.CANCELLED,
}


class TrainingMixin(StorageMixin):
    """Training verbs of the adapter."""

    def base_labels(self, **extra: str) -> dict[str, str]:
        return names.labels({**self.config.labels, LABEL_MANAGED: "pytest-mlgates", **extra})

    def output_uri(self, job_name: str) -> str:
        """The job's base_output_directory."""
        return self.config.uri("jobs", job_name)

    def submit_training_job(self, spec: TrainingSpec) -> TrainingJob:
        cfg = self.config
        if not cfg.training_image:
            raise JobFailedError(
                f"{TABLE} training_image is required to train on Vertex AI: a prebuilt training image such as "
                f"us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-2:latest, or your own (prebuilt = false)")
        try:
            hyperparameters = hyperparameter_args(spec.hyperparameters)  # the one canonical text
        except ContractError as exc:
            raise JobFailedError(f"not submitted: {exc}") from None
        name = spec.job_name or job_name_for(spec.model_name, spec.commit)
        if not spec.data:
            raise JobFailedError("no training data: set [tool.mlgates.training] data (a local path or a gs:// URI)")
        data_uri = self._upload_data(spec.data)
        output = self.output_uri(name)
        args = ["--data", fuse_path(data_uri), "--model-dir", fuse_path(f"{output}/model"), *hyperparameters]
        pool: dict[str, Any] = {"machine_spec": {"machine_type": cfg.machine_type},
                                "replica_count": cfg.replica_count}
        if cfg.prebuilt:
            entry = self.settings_path(spec.entry_point)
            if not entry.is_file():
                raise JobFailedError(f"training entry point {entry} does not exist; set [tool.mlgates.training] "
                                     f"entry_point to your training script (relative to {self.root})")
            package_uri = f"{output}/source/{PACKAGE}-0.1.tar.gz"
            try:
                package = self._source_package(entry)
            except RequirementsError as exc:
                raise JobFailedError(f"not submitted: {exc}; or set {TABLE} source_dir to a folder whose "
                                     f"requirements.txt holds only what the script needs, or train on your own "
                                     f"image (prebuilt = false)") from None
            self._upload_bytes(package_uri, package, f"source code of {name}")
            pool["python_package_spec"] = {"executor_image_uri": cfg.training_image, "package_uris": [package_uri],
                                           "python_module": f"{PACKAGE}.{RUNNER}", "args": args}
        else:
            pool["container_spec"] = {"image_uri": cfg.training_image,
                                      "command": [cfg.container_python, spec.entry_point], "args": args}
        job_spec: dict[str, Any] = {
            "worker_pool_specs": [pool],
            "base_output_directory": {"output_uri_prefix": output},
            "scheduling": {"timeout": duration_pb2.Duration(seconds=max(1, int(math.ceil(spec.timeout_seconds))))},
        }
        if cfg.service_account:
            job_spec["service_account"] = cfg.service_account
        job = types.CustomJob(
            display_name=name, job_spec=job_spec,
            labels=self.base_labels(**{LABEL_MODEL: spec.model_name, LABEL_COMMIT: (spec.commit or "unknown")[:40]}))
        created = self._call(self._service("job").create_custom_job, f"training job {name!r}",
                             parent=cfg.parent, custom_job=job)
        self._job_names[name] = created.name
        return TrainingJob(name=name, status=JobStatus.PENDING, platform=self.name,
                           artifact_uri=f"{output}/model/", message="submitted")

    def _job_resource(self, job_name: str) -> types.CustomJob:
        """The CustomJob whose display name is ``job_name`` (Vertex assigns the resource ID)."""
        client = self._service("job")
        known = self._job_names.get(job_name)
        if known:
            return self._call(client.get_custom_job, f"training job {job_name!r}", name=known)  # type: ignore[no-any-return]
        quoted = job_name.replace("\\", "\\\\").replace('"', '\\"')
        page = self._call(client.list_custom_jobs, f"training job {job_name!r}", request=types.ListCustomJobsRequest(
            parent=self.config.parent, filter=f'display_name="{quoted}"', page_size=10))
        found = [job for job in page.custom_jobs if job.display_name == job_name]
        if not found:
            raise NotFoundError(f"training job {job_name!r} does not exist on Vertex AI in {self.config.parent}")
        job = max(found, key=lambda j: j.create_time.timestamp() if j.create_time else 0)
        self._job_names[job_name] = job.name
        return job

    def _job_from(self, job: types.CustomJob, job_name: str) -> TrainingJob:
        status = STATUS.get(job.state, JobStatus.PENDING)
        message = _S(job.state).name.replace("JOB_STATE_", "").lower() if job.state else "unspecified"
        if job.error and job.error.message:
            message = f"{message}: {job.error.message}"
        output = job.job_spec.base_output_directory.output_uri_prefix or self.output_uri(job_name)
        return TrainingJob(name=job_name, status=status, platform=self.name,
                           artifact_uri=output.rstrip("/") + "/model/", message=message)

    def get_job(self, job_name: str) -> TrainingJob:
        return self._job_from(self._job_resource(job_name), job_name)

    def cancel_job(self, job_name: str) -> None:
        job = self._job_resource(job_name)
        if STATUS.get(job.state, JobStatus.PENDING).finished:
            return
        try:
            self._call(self._service("job").cancel_custom_job, f"training job {job_name!r}", name=job.name)
        except AdapterError as exc:
            # it may have finished between get and cancel; only that is fine
            if not self.get_job(job_name).status.finished:
                raise AdapterError(f"could not cancel training job {job_name!r}: {exc}") from None

    def _model_folder(self, job_name: str) -> tuple[str, FolderSummary]:
        job = self.get_job(job_name)
        if job.status is not JobStatus.COMPLETED:
            raise JobFailedError(f"training job {job_name!r} has no model: it is {job.status.value} ({job.message})"
                                 f"\n--- log tail ---\n{self.job_logs(job_name)}")
        uri = job.artifact_uri or ""
        try:
            return uri, self._summarize_folder(uri)
        except NotFoundError:
            raise JobFailedError(f"training job {job_name!r} succeeded but wrote nothing to its model folder {uri} "
                                 f"(AIP_MODEL_DIR); the script must write its model and metrics.json into "
                                 f"--model-dir") from None

    def fetch_job_artifact(self, job_name: str, dest: Path) -> Path:
        """Download the completed job's model folder under ``dest``, for the registration proof."""
        uri, _ = self._model_folder(job_name)
        return self._download_folder(uri, Path(dest) / "model")

    def job_metrics(self, job_name: str) -> dict[str, Any]:
        uri, summary = self._model_folder(job_name)
        if summary.metrics_text is None:
            raise JobFailedError(
                f"training job {job_name!r} broke the training contract: {uri} has no metrics.json (it holds "
                f"{', '.join(summary.files)}); the script must write metrics.json into --model-dir"
                f"\n--- log tail ---\n{self.job_logs(job_name)}")
        try:
            return metrics_from_text(summary.metrics_text, f"metrics.json in {uri}")
        except ContractError as exc:
            raise JobFailedError(f"training job {job_name!r} broke the training contract: {exc}") from None

    def job_logs(self, job_name: str, tail: int = 40) -> str:
        """The job's last lines from Cloud Logging; never raises (it decorates error messages)."""
        try:
            from google.auth.transport.requests import AuthorizedSession

            job_id = self._job_resource(job_name).name.rsplit("/", 1)[-1]
            base = (self.config.logging_endpoint or "https://logging.googleapis.com").rstrip("/")
            base = base if base.startswith(("http://", "https://")) else f"https://{base}"
            with AuthorizedSession(self.credentials()) as session:
                answer = session.post(f"{base}/v2/entries:list", timeout=self.config.call_timeout_seconds, json={
                    "resourceNames": [f"projects/{self.config.project}"], "pageSize": tail, "orderBy": "timestamp desc",
                    "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"'})
            if answer.status_code != 200:
                return f"(no Cloud Logging entries for {job_name}: HTTP {answer.status_code})"
            entries = answer.json().get("entries", [])
        except Exception as exc:  # noqa: BLE001 - a log tail must never hide the real error
            return f"(no Cloud Logging entries for {job_name}: {str(exc).splitlines()[0][:200] if str(exc) else exc!r})"
        lines = [str(e.get("textPayload") or e.get("jsonPayload", {}).get("message", "")).rstrip("\n")
                 for e in reversed(entries)]
        return "\n".join(lines[-tail:]) or "(no output)"
