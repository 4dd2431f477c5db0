"""A minimal third-party platform, written the way an outside team would write one.

It lives outside pytest_mlgates, registers through the ``pytest_mlgates.adapters``
entry-point group and is proven by the shipped conformance suite
(tests/test_thirdparty_adapter.py). Its "cloud" is a folder: a JSON store under
a file lock holds jobs, versions, the champion and endpoints, and a job's model
folder is where its training wrote. A test decides how a job ends by writing
into the store, as a platform's own workers would.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from pytest_mlgates.adapters.base import Adapter
from pytest_mlgates.contract import ContractError, digest_dir, read_metrics
from pytest_mlgates.records import (
    Capabilities,
    ConflictError,
    DeployOptions,
    Endpoint,
    JobFailedError,
    JobStatus,
    ModelVersion,
    NotFoundError,
    TrafficError,
    TrainingJob,
    TrainingSpec,
    UnsupportedError,
)
from pytest_mlgates.traffic import check_traffic


class ToyAdapter(Adapter):
    name = "toy"
    capabilities = Capabilities(poll_interval=0.01)

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        table = settings.platform_table("toy") if settings is not None else {}
        if not table.get("store"):
            raise ValueError("[tool.mlgates.toy] store is required: the folder the toy platform keeps its state in")
        self.root = Path(table["store"])
        self.root.mkdir(parents=True, exist_ok=True)
        self._file = self.root / "store.json"
        self._lock = FileLock(str(self._file) + ".lock")

    @contextmanager
    def store(self) -> Iterator[dict[str, Any]]:
        """The whole state, read and written back under the lock (one transaction)."""
        with self._lock:
            data = json.loads(self._file.read_text()) if self._file.exists() else {
                "jobs": {}, "models": {}, "champions": {}, "endpoints": {}}
            yield data
            self._file.write_text(json.dumps(data))

    def model_dir(self, job_name: str) -> Path:
        return self.root / "jobs" / job_name / "model"

    # -- training ---------------------------------------------------------------
    def submit_training_job(self, spec: TrainingSpec) -> TrainingJob:
        name = f"{spec.model_name}-{(spec.commit or 'nocommit')[:7]}-{secrets.token_hex(3)}"
        self.model_dir(name).mkdir(parents=True)
        with self.store() as s:
            s["jobs"][name] = {"status": JobStatus.RUNNING.value, "message": ""}
        return TrainingJob(name=name, status=JobStatus.RUNNING, platform=self.name)

    def _job(self, s: dict[str, Any], name: str) -> dict[str, Any]:
        if name not in s["jobs"]:
            raise NotFoundError(f"no toy training job {name!r}")
        return s["jobs"][name]  # type: ignore[no-any-return]

    def get_job(self, job_name: str) -> TrainingJob:
        with self.store() as s:
            rec = dict(self._job(s, job_name))
        job = TrainingJob(job_name, JobStatus(rec["status"]), self.name, message=rec["message"],
                          artifact_uri=self.model_dir(job_name).as_uri())
        if job.status is JobStatus.COMPLETED:
            try:
                job.metrics = read_metrics(self.model_dir(job_name))
            except ContractError as exc:
                job.status, job.message = JobStatus.FAILED, f"the job broke the training contract: {exc}"
        return job

    def cancel_job(self, job_name: str) -> None:
        with self.store() as s:
            rec = self._job(s, job_name)
            if not JobStatus(rec["status"]).finished:
                rec.update(status=JobStatus.CANCELLED.value, message="cancelled")

    def job_metrics(self, job_name: str) -> dict[str, Any]:
        job = self.get_job(job_name)
        if job.metrics is None:
            raise JobFailedError(f"toy job {job_name!r} has no metrics: {job.status.value} {job.message}")
        return job.metrics

    # -- registry ---------------------------------------------------------------
    def _version(self, s: dict[str, Any], model_name: str, version: str) -> ModelVersion:
        rec = s["models"].get(model_name, {}).get(version)
        if rec is None:
            raise NotFoundError(f"no version {version!r} of toy model {model_name!r}")
        return ModelVersion.from_dict({**rec, "is_champion": s["champions"].get(model_name) == version})

    def register_model(self, model_name: str, job_name: str, metrics: Mapping[str, Any],
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        folder = self.model_dir(job_name)
        sha = digest_dir(folder)
        with self.store() as s:
            self._job(s, job_name)
            versions = s["models"].setdefault(model_name, {})
            version = str(len(versions) + 1)
            versions[version] = ModelVersion(model_name, version, folder.as_uri(), sha, dict(metrics),
                                             dict(tags or {})).to_dict()
            return self._version(s, model_name, version)

    def get_model_version(self, model_name: str, version: str) -> ModelVersion:
        with self.store() as s:
            return self._version(s, model_name, version)

    def list_model_versions(self, model_name: str) -> list[ModelVersion]:
        with self.store() as s:
            return [self._version(s, model_name, v) for v in sorted(s["models"].get(model_name, {}), key=int)]

    def get_champion(self, model_name: str) -> ModelVersion | None:
        with self.store() as s:
            version = s["champions"].get(model_name)
            return self._version(s, model_name, version) if version else None

    def promote(self, model_name: str, version: str, expected_champion: str | None,
                tags: Mapping[str, str] | None = None) -> ModelVersion:
        with self.store() as s:
            self._version(s, model_name, version)
            current = s["champions"].get(model_name)
            if current != expected_champion:
                raise ConflictError(f"the champion of {model_name!r} is {current or 'none'}, not "
                                    f"{expected_champion or 'none'}; another promotion got there first")
            s["models"][model_name][version]["tags"].update(tags or {})
            s["champions"][model_name] = version
            return self._version(s, model_name, version)

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> ModelVersion:
        with self.store() as s:
            self._version(s, model_name, version)
            s["models"][model_name][version]["tags"].update(tags)
            return self._version(s, model_name, version)

    # -- endpoints (bookkeeping only: the toy platform serves nothing) -------------
    def _endpoint(self, s: dict[str, Any], name: str) -> dict[str, Any]:
        if name not in s["endpoints"]:
            raise NotFoundError(f"no toy endpoint {name!r}")
        return s["endpoints"][name]  # type: ignore[no-any-return]

    def _as_endpoint(self, name: str, rec: Mapping[str, Any]) -> Endpoint:
        return Endpoint(name=name, url=f"toy://{name}", traffic=dict(rec["traffic"]))

    def deploy_to_endpoint(self, endpoint_name: str, model: ModelVersion, deployment_name: str,
                           options: DeployOptions | None = None) -> Endpoint:
        opts = self.check_deploy_options(options)
        with self.store() as s:
            rec = s["endpoints"].setdefault(endpoint_name, {"deployments": {}, "traffic": {}})
            first = not rec["deployments"]
            rec["deployments"][deployment_name] = model.id
            names = list(rec["deployments"])
            split = opts.traffic if opts.traffic is not None else (
                {deployment_name: 100} if first else {n: rec["traffic"].get(n, 0) for n in names})
            rec["traffic"], _ = check_traffic(names, split)
            return self._as_endpoint(endpoint_name, rec)

    def set_traffic(self, endpoint_name: str, traffic: Mapping[str, int],
                    mirror: Mapping[str, int] | None = None) -> Endpoint:
        self.check_mirror(mirror)
        with self.store() as s:
            rec = self._endpoint(s, endpoint_name)
            rec["traffic"], _ = check_traffic(list(rec["deployments"]), traffic)
            return self._as_endpoint(endpoint_name, rec)

    def get_endpoint(self, endpoint_name: str) -> Endpoint:
        with self.store() as s:
            return self._as_endpoint(endpoint_name, self._endpoint(s, endpoint_name))

    def list_endpoints(self) -> list[Endpoint]:
        with self.store() as s:
            return [self._as_endpoint(n, rec) for n, rec in s["endpoints"].items()]

    def invoke_endpoint(self, endpoint_name: str, body: Mapping[str, Any],
                        deployment: str | None = None) -> dict[str, Any]:
        raise UnsupportedError("the toy platform keeps endpoint bookkeeping only and serves no predictions")

    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        with self.store() as s:
            rec = self._endpoint(s, endpoint_name)
            if deployment_name not in rec["deployments"]:
                raise NotFoundError(f"no deployment {deployment_name!r} on toy endpoint {endpoint_name!r}")
            if rec["traffic"].get(deployment_name):
                raise TrafficError(f"deployment {deployment_name!r} still takes live traffic; move it first")
            del rec["deployments"][deployment_name]
            rec["traffic"].pop(deployment_name, None)
            return self._as_endpoint(endpoint_name, rec)

    def delete_endpoint(self, endpoint_name: str) -> None:
        with self.store() as s:
            self._endpoint(s, endpoint_name)
            del s["endpoints"][endpoint_name]
