"""Azure ML training: the training contract as a command job.

The entry point's folder (or ``source_dir``) is uploaded as the job's code and
run as ``python <entry> --data ${{inputs.data}} --model-dir ${{outputs.model}}
[--<hp> <value>]...``, after ``python -m pip install -r requirements.txt`` when the
code folder has one at its root; the ``model`` output is pinned to a datastore path named
after the job, where ``metrics.json`` is read back. Status and cancel go
through the jobs API; waiting is the base class's poll loop.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...contract import ContractError, HyperparameterError, hyperparameter_args, job_name_for
from ...records import AdapterError, JobFailedError, JobStatus, NotFoundError, TrainingJob, TrainingSpec
from ..requirements import REQUIREMENTS, shipped_requirements
from ..sagemaker.metadata import metrics_from_text
from .settings import TABLE
from .storage import StorageMixin

STATUS = {
    "NotStarted": JobStatus.PENDING, "Queued": JobStatus.PENDING, "Preparing": JobStatus.PENDING,
    "Provisioning": JobStatus.PENDING, "Starting": JobStatus.PENDING,
    "Running": JobStatus.RUNNING, "Finalizing": JobStatus.RUNNING, "CancelRequested": JobStatus.RUNNING,
    "Completed": JobStatus.COMPLETED, "Failed": JobStatus.FAILED, "NotResponding": JobStatus.FAILED,
    "Canceled": JobStatus.CANCELLED,
}
TAG_COMMIT = "mlgates.commit"
TAG_MODEL = "mlgates.model"
LOG_FILES = ("user_logs/std_log.txt", "azureml-logs/70_driver_log.txt")


def _hyperparameter_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """The contract's canonical arguments; a value Azure ML would rewrite (``${{...}}``) is refused."""
    args = hyperparameter_args(hyperparameters)
    for name, text in zip(args[::2], args[1::2]):
        if "${{" in text:
            raise HyperparameterError(f"hyperparameter {name[2:]!r} holds '${{{{', which Azure ML replaces with a "
                                      f"job input or output path before the script runs; give another value")
    return args


class TrainingMixin(StorageMixin):
    """Training verbs of the adapter."""

    def _data_input(self, data: str) -> tuple[str, str]:
        """(input type, path) of the training data: a local path is uploaded, Azure references pass as is."""
        if data.startswith(("azureml:", "https://", "wasbs://", "abfss://")):
            return ("uri_folder" if data.endswith("/") else "uri_file"), data
        local = self.settings_path(data)
        if not local.exists():
            raise JobFailedError(f"training data {local} does not exist; set [tool.mlgates.training] data to a local "
                                 f"path, an azureml:// datastore URI or a data asset (azureml:<name>:<version>)")
        return ("uri_folder" if local.is_dir() else "uri_file"), self.upload_data(local)

    def submit_training_job(self, spec: TrainingSpec) -> TrainingJob:
        from azure.ai.ml import Input, Output, command

        cfg = self.config
        name = spec.job_name or job_name_for(spec.model_name, spec.commit)
        entry = self.settings_path(spec.entry_point)
        if not entry.is_file():
            raise JobFailedError(f"training entry point {entry} does not exist; set [tool.mlgates.training] "
                                 f"entry_point to your training script (relative to {self.root})")
        source = self.settings_path(cfg.source_dir) if cfg.source_dir else entry.parent
        try:
            program = entry.resolve().relative_to(source.resolve()).as_posix()
        except ValueError:
            raise JobFailedError(f"the entry point {entry} is not inside {TABLE} source_dir {source}") from None
        if not spec.data:
            raise JobFailedError("no training data: set [tool.mlgates.training] data (a local path or an azureml URI)")
        kind, data_path = self._data_input(spec.data)
        args = ["python", shlex.quote(program), "--data", "${{inputs.data}}", "--model-dir", "${{outputs.model}}"]
        args += [shlex.quote(a) for a in _hyperparameter_args(spec.hyperparameters)]
        if shipped_requirements(source) is not None:  # the code folder's requirements, installed before it runs
            args = ["python", "-m", "pip", "install", "-r", REQUIREMENTS, "&&", *args]
        job = command(
            name=name, display_name=name, experiment_name=cfg.experiment_name,
            code=str(source), command=" ".join(args), environment=cfg.environment, compute=cfg.compute,
            inputs={"data": Input(type=kind, path=data_path)},
            outputs={"model": Output(type="uri_folder", mode="rw_mount",
                                     path=self.datastore_uri(self.output_path(name)) + "/")},
            tags={**cfg.tags, TAG_MODEL: spec.model_name, TAG_COMMIT: spec.commit or "unknown"},
            timeout=max(1, int(spec.timeout_seconds)),
        )
        self._call(f"training job {name!r}", self.ml.jobs.create_or_update, job, skip_validation=True)
        return TrainingJob(name=name, status=JobStatus.PENDING, platform=self.name,
                           artifact_uri=self.datastore_uri(self.output_path(name)) + "/", message="submitted")

    def _job(self, job_name: str) -> Any:
        return self._call(f"training job {job_name!r}", self.ml.jobs.get, job_name, read=True)

    def get_job(self, job_name: str) -> TrainingJob:
        job = self._job(job_name)
        raw_status = getattr(job, "status", None) or "NotStarted"
        raw = str(getattr(raw_status, "value", raw_status))
        status = STATUS.get(raw, JobStatus.RUNNING)
        message = raw
        studio = getattr(job, "studio_url", None)
        if status is JobStatus.FAILED:
            tail = self.job_logs(job_name, tail=5)
            message = f"{raw} (see {studio or 'Azure ML studio'}); last lines: {tail}"
        return TrainingJob(name=job_name, status=status, platform=self.name,
                           artifact_uri=self.datastore_uri(self.output_path(job_name)) + "/", message=message)

    def cancel_job(self, job_name: str) -> None:
        if self.get_job(job_name).status.finished:
            return
        poller = self._call(f"training job {job_name!r}", self.ml.jobs.begin_cancel, job_name)
        self._wait(f"cancelling training job {job_name!r}", poller)

    def _model_files(self, job_name: str) -> dict[str, str]:
        """Relative path -> blob path of a completed job's model output."""
        job = self.get_job(job_name)
        if job.status is not JobStatus.COMPLETED:
            raise JobFailedError(f"training job {job_name!r} has no model: it is {job.status.value} ({job.message})")
        prefix = self.output_path(job_name) + "/"
        return {name[len(prefix):]: name for name in self.list_blobs(prefix)}

    def model_digest(self, job_name: str) -> str:
        """sha256 of the job's model output, the way ``contract.digest_dir`` digests the folder."""
        outer = hashlib.sha256()
        files = self._model_files(job_name)
        for relative in sorted(files, key=lambda p: p.split("/")):
            inner = hashlib.sha256(self.read_blob(files[relative])).hexdigest()
            outer.update(relative.encode() + b"\0" + inner.encode() + b"\n")
        return outer.hexdigest()

    def job_metrics(self, job_name: str) -> dict[str, Any]:
        files = self._model_files(job_name)
        uri = self.datastore_uri(self.output_path(job_name))
        if "metrics.json" not in files:
            raise JobFailedError(
                f"training job {job_name!r} broke the training contract: {uri} has no metrics.json (it holds "
                f"{', '.join(sorted(files)) or 'no files'}); the script must write metrics.json into --model-dir"
                f"\n--- log tail ---\n{self.job_logs(job_name)}")
        text = self.read_blob(files["metrics.json"]).decode("utf-8", errors="replace")
        try:
            return metrics_from_text(text, f"metrics.json in {uri}")
        except ContractError as exc:
            raise JobFailedError(f"training job {job_name!r} broke the training contract: {exc}") from None

    def job_logs(self, job_name: str, tail: int = 40) -> str:
        """The tail of the job's user log in the datastore; never raises (it decorates error messages)."""
        for name in LOG_FILES:
            try:
                text = self.read_blob(f"ExperimentRun/dcid.{job_name}/{name}").decode("utf-8", errors="replace")
            except (NotFoundError, AdapterError):
                continue
            return "\n".join(text.splitlines()[-tail:]) or "(no output)"
        return f"(no log of {job_name} in datastore {self.config.datastore!r})"
