"""The ``local`` platform: a real, embedded one that needs nothing but Python.

Training jobs are subprocesses (each the leader of its own process group, so a
cancel kills everything the script started) whose status, log and exit code
live in ``<state>/jobs/<name>/`` and survive the process that submitted them;
the registry is SQLite with content-addressed artifacts (registry.py); endpoints
are real HTTP servers on 127.0.0.1 (endpoints.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...contract import ContractError, atomic_write_text, hyperparameter_args, job_name_for, read_metrics
from ...procs import pid_alive
from ...state_files import ensure_state_folder, read_json_state
from ...records import (
    Capabilities,
    DeployOptions,
    Endpoint,
    JobFailedError,
    JobStatus,
    ModelVersion,
    NotFoundError,
    TrainingJob,
    TrainingSpec,
)
from ..base import Adapter
from .registry import LocalRegistry

CANCEL_GRACE_SECONDS = 5.0


class LocalAdapter(Adapter):
    """Subprocess jobs, a SQLite registry, HTTP endpoints on 127.0.0.1."""

    name = "local"
    capabilities = Capabilities(mirroring=True, max_mirror_percent=50, fault_injection=True, direct_http=True,
                                poll_interval=0.5)

    def __init__(self, settings: Any = None, state_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__(settings)
        if state_dir is None:
            state_dir = settings.state_path if settings is not None else Path(".mlgates")
        self.state_dir = Path(state_dir).resolve()
        self.jobs_dir = self.state_dir / "jobs"
        ensure_state_folder(self.state_dir)
        ensure_state_folder(self.jobs_dir)
        self.registry = LocalRegistry(self.state_dir)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.cwd = Path(settings.root) if settings is not None else Path.cwd()

    # -- training -----------------------------------------------------------
    def _job_dir(self, job_name: str) -> Path:
        path = self.jobs_dir / job_name
        if not (path / "job.json").is_file():
            raise NotFoundError(f"no local training job {job_name!r} under {self.jobs_dir}")
        return path

    def submit_training_job(self, spec: TrainingSpec) -> TrainingJob:
        entry = Path(spec.entry_point)
        entry = entry if entry.is_absolute() else self.cwd / entry
        if not entry.is_file():
            raise JobFailedError(
                f"training entry point {entry} does not exist; set [tool.mlgates.training] entry_point "
                f"to your training script (relative to {self.cwd})"
            )
        try:
            user_args = hyperparameter_args(spec.hyperparameters)
        except ContractError as exc:
            raise JobFailedError(f"not submitted: {exc}") from None
        name = spec.job_name or job_name_for(spec.model_name, spec.commit)
        job_dir = self.jobs_dir / name
        model_dir = job_dir / "model"
        model_dir.mkdir(parents=True, exist_ok=False)
        python = getattr(getattr(self.settings, "training", None), "python", "") or sys.executable
        command = [python, str(entry), "--data", spec.data, "--model-dir", str(model_dir), *user_args]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_mlgates.adapters.local.runner", str(job_dir),
             "--watch-pid", str(os.getpid()), "--", *command],
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._procs[name] = proc
        record = {"name": name, "pid": proc.pid, "command": command, "entry_point": str(entry),
                  "submitted_at": time.time(), "model_name": spec.model_name, "commit": spec.commit}
        atomic_write_text(job_dir / "job.json", json.dumps(record, indent=2))
        return TrainingJob(name=name, status=JobStatus.RUNNING, platform=self.name,
                           artifact_uri=model_dir.as_uri())

    def get_job(self, job_name: str) -> TrainingJob:
        job_dir = self._job_dir(job_name)
        record = read_json_state(job_dir / "job.json", f"the record of training job {job_name!r}")
        proc = self._procs.get(job_name)
        if proc is not None:
            proc.poll()  # reap our own child so a finished job is not a zombie
        job = TrainingJob(name=job_name, status=JobStatus.RUNNING, platform=self.name,
                          artifact_uri=(job_dir / "model").as_uri())
        exit_file = job_dir / "exit.json"
        if (job_dir / "cancelled").exists():
            job.status, job.message = JobStatus.CANCELLED, "cancelled"
        elif exit_file.is_file():
            code = read_json_state(exit_file, f"the exit record of training job {job_name!r}")["returncode"]
            if code == 0:
                try:
                    job.metrics = read_metrics(job_dir / "model")
                    job.status = JobStatus.COMPLETED
                except ContractError as exc:
                    job.status, job.message = JobStatus.FAILED, (
                        f"{Path(record['entry_point']).name} exited 0 but broke the training contract: {exc}")
            else:
                job.status = JobStatus.FAILED
                job.message = f"{Path(record['entry_point']).name} exited with code {code}"
        elif not pid_alive(record["pid"]) or (proc is not None and proc.returncode is not None):
            job.status, job.message = JobStatus.FAILED, "the job runner died without recording an exit code"
        return job

    def cancel_job(self, job_name: str) -> None:
        job_dir = self._job_dir(job_name)
        if (job_dir / "exit.json").exists() or (job_dir / "cancelled").exists():
            return
        (job_dir / "cancelled").write_text(str(time.time()))
        pid = read_json_state(job_dir / "job.json", f"the record of training job {job_name!r}")["pid"]
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while time.monotonic() < deadline:
            proc = self._procs.get(job_name)
            if proc is not None:
                proc.poll()
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def job_metrics(self, job_name: str) -> dict[str, Any]:
        job = self.get_job(job_name)
        if job.status is not JobStatus.COMPLETED or job.metrics is None:
            raise JobFailedError(f"training job {job_name!r} has no metrics: {job.status.value} {job.message}"
                                 f"\n--- log tail ---\n{self.job_logs(job_name)}")
        return job.metrics

    def job_logs(self, job_name: str, tail: int = 40) -> str:
        from ...logtail import tail_text

        return tail_text(self._job_dir(job_name) / "output.log", tail)

    def job_model_dir(self, job_name: str) -> Path:
        return self._job_dir(job_name) / "model"

    def fetch_job_artifact(self, job_name: str, dest: Path) -> Path:
        """The job's model folder is already on this machine."""
        return self.job_model_dir(job_name)

    # -- registry -----------------------------------------------------------
    def register_model(
        self,
        model_name: str,
        job_name: str,
        metrics: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        all_tags = {"mlgates.job": job_name, **(tags or {})}
        return self.registry.register(model_name, self.job_model_dir(job_name), metrics, all_tags)

    def get_model_version(self, model_name: str, version: str) -> ModelVersion:
        return self.registry.get(model_name, version)

    def list_model_versions(self, model_name: str) -> list[ModelVersion]:
        return self.registry.list(model_name)

    def get_champion(self, model_name: str) -> ModelVersion | None:
        return self.registry.champion(model_name)

    def promote(
        self,
        model_name: str,
        version: str,
        expected_champion: str | None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        return self.registry.promote(model_name, version, expected_champion, tags)

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> ModelVersion:
        return self.registry.set_tags(model_name, version, tags)

    def verify_artifact(self, model: ModelVersion) -> None:
        self.registry.artifact_path(model)

    def model_path(self, model: ModelVersion) -> Path:
        """The verified artifact folder of a version, for serving and smoke checks."""
        return self.registry.artifact_path(model)

    # -- endpoints (real HTTP servers on 127.0.0.1; see endpoints.py) ---------
    @property
    def endpoints(self) -> Any:
        """The LocalEndpoints manager of this state folder (created on first use)."""
        manager = self.__dict__.get("_endpoints")
        if manager is None:
            from .endpoints import LocalEndpoints

            manager = self.__dict__["_endpoints"] = LocalEndpoints(self.state_dir, project_root=self.cwd)
            manager.skops_trusted = list(getattr(self.settings, "skops_trusted", []) or [])
        return manager

    def deploy_to_endpoint(
        self, endpoint_name: str, model: ModelVersion, deployment_name: str, options: DeployOptions | None = None
    ) -> Endpoint:
        """Serve the verified artifact of ``model`` as a deployment of a local endpoint (LocalEndpoints.deploy)."""
        opts = self.check_deploy_options(options)
        return self.endpoints.deploy(  # type: ignore[no-any-return]
            endpoint_name, model, self.model_path(model), deployment_name,
            traffic=opts.traffic, watch_pid=opts.owner_pid, detach=opts.outlive_run, seed=opts.seed,
            **(opts.faults.as_dict() if opts.faults else {}),
        )

    def set_traffic(
        self,
        endpoint_name: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int] | None = None,
    ) -> Endpoint:
        return self.endpoints.set_traffic(endpoint_name, traffic, mirror)  # type: ignore[no-any-return]

    def delete_endpoint(self, endpoint_name: str) -> None:
        self.endpoints.delete(endpoint_name)

    def get_endpoint(self, endpoint_name: str) -> Endpoint:
        return self.endpoints.get(endpoint_name)  # type: ignore[no-any-return]

    def list_endpoints(self) -> list[Endpoint]:
        return self.endpoints.list()  # type: ignore[no-any-return]

    def invoke_endpoint(self, endpoint_name: str, body: Mapping[str, Any], deployment: str | None = None) -> Any:
        return self.endpoints.invoke(endpoint_name, body, deployment)

    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        """Stop one deployment that takes no live or mirrored traffic."""
        return self.endpoints.delete_deployment(endpoint_name, deployment_name)
