"""One Azure ML test environment per test process: the ARM fake over HTTPS, Azurite, credentials.

Both Azure test modules take it from :func:`environment`, so the servers start
once per session (per xdist worker) and stop at its end. Credentials reach the
SDK the way they do in production, through DefaultAzureCredential: its managed
identity step finds ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` (the App Service
protocol) pointing at the fake's token route; nothing is patched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trustme

from .azureml_arm import ArmFake
from .azurite import CONTAINER, KEY, Azurite

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
GROUP = "ml-rg"
WORKSPACE = "mlgates-ws"
_ENV_KEYS = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "REQUESTS_CA_BUNDLE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
             "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "MSI_SECRET",
             "AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE",
             "AZUREML_CURRENT_CLOUD")  # MLClient writes the last one: restored when the fakes stop


class AzureEnvironment:
    """The running fakes and the settings table that points an adapter at them."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="mlgates-azure-")
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = Path(self.tmp.name) / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.azurite = Azurite()
        self.arm = ArmFake(cert, azurite_url=self.azurite.url, azurite_sas=self.azurite.container_sas(),
                           azurite_key=KEY)
        self._saved = {k: os.environ.get(k) for k in _ENV_KEYS}
        for key in _ENV_KEYS:
            os.environ.pop(key, None)
        os.environ.update({"IDENTITY_ENDPOINT": f"{self.arm.url}/msi/token",
                           "IDENTITY_HEADER": "fake-identity-header", "REQUESTS_CA_BUNDLE": str(self.ca_file)})
        self.reset()

    def reset(self) -> None:
        self.arm.reset()
        self.arm.add_workspace(SUBSCRIPTION, GROUP, WORKSPACE)

    def table(self, **overrides: Any) -> dict[str, Any]:
        return {"subscription_id": SUBSCRIPTION, "resource_group": GROUP, "workspace": WORKSPACE,
                "compute": "cpu-cluster", "environment": "azureml:sklearn-env:1",
                "resource_manager_url": self.arm.url, "blob_endpoint": self.azurite.url,
                "retry_base_seconds": 0.0, "job_poll_seconds": 0.02, **overrides}

    # -- playing Azure's part in a job -----------------------------------------------
    def write_output(self, job_name: str, files: Mapping[str, bytes], metrics_text: str | None) -> None:
        container = self.azurite.container(CONTAINER)
        prefix = f"mlgates/jobs/{job_name}/model"
        for name, data in files.items():
            container.upload_blob(f"{prefix}/{name}", data, overwrite=True)
        if metrics_text is not None:
            container.upload_blob(f"{prefix}/metrics.json", metrics_text.encode(), overwrite=True)

    def write_log(self, job_name: str, text: str) -> None:
        self.azurite.container(CONTAINER).upload_blob(
            f"ExperimentRun/dcid.{job_name}/user_logs/std_log.txt", text.encode(), overwrite=True)

    def finish(self, job_name: str, metrics: Mapping[str, Any] | None = None,
               files: Mapping[str, bytes] | None = None, metrics_text: str | None = None,
               fail: str | None = None) -> None:
        if fail is not None:
            self.write_log(job_name, f"Traceback (most recent call last):\nRuntimeError: {fail}\n")
            self.arm.set_job(job_name, "Failed", fail)
            return
        text = metrics_text if metrics_text is not None else json.dumps(dict(metrics or {}))
        self.write_output(job_name, dict(files or {"model.joblib": uuid.uuid4().bytes}), text)
        self.arm.set_job(job_name, "Completed")

    def download(self, prefix: str, dest: Path) -> None:
        """Copy every blob under ``prefix`` (a blob path, or an azureml:// or Azurite URI) of the workspace
        container into ``dest``, as Azure copies code and models into a container."""
        prefix = _blob_path(prefix) if "://" in prefix else prefix
        container = self.azurite.container(CONTAINER)
        for blob in container.list_blobs(name_starts_with=prefix):
            relative = blob.name[len(prefix):].lstrip("/") or Path(blob.name).name
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(container.download_blob(blob.name).readall())

    def run_jobs(self) -> "JobRunner":
        """Play Azure's compute: run every submitted command job for real (see JobRunner)."""
        return JobRunner(self)

    def close(self) -> None:
        self.arm.close()
        self.azurite.close()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.tmp.cleanup()


def _blob_path(uri: str) -> str:
    """Blob path inside the workspace container of an ``azureml://datastores/<ds>/paths/<p>`` or Azurite URI."""
    if "/paths/" in uri:
        return uri.split("/paths/", 1)[1]
    return uri.split(f"/{CONTAINER}/", 1)[1]


class JobRunner:
    """Runs submitted command jobs as Azure ML compute would: code and data from storage, outputs back.

    A thread watches the fake for jobs that are NotStarted, downloads the code
    snapshot and the ``data`` input from Azurite, runs the job's command (inputs
    and outputs substituted) in a temporary folder, uploads the ``model`` output
    and the user log, and sets the job Completed or Failed. Use as a context
    manager; the thread stops on exit.
    """

    def __init__(self, env: AzureEnvironment) -> None:
        self.env = env
        self.ran: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "JobRunner":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _pending(self) -> list[dict[str, Any]]:
        with self.env.arm.lock:
            return [json.loads(json.dumps(v)) for k, v in self.env.arm.store.items()
                    if "/jobs/" in k and v["properties"].get("status") == "NotStarted" and v["name"] not in self.ran]

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            for job in self._pending():
                self.ran.append(job["name"])
                self._run(job)

    def _run(self, job: dict[str, Any]) -> None:
        props = job["properties"]
        name = job["name"]
        self.env.arm.set_job(name, "Running")
        with tempfile.TemporaryDirectory(prefix="mlgates-azure-job-") as tmp:
            work = Path(tmp)
            code = self.env.arm.resource(props["codeId"].lower())
            assert code is not None, props["codeId"]
            self.env.download(_blob_path(code["properties"]["codeUri"]), work / "code")
            data_uri = props["inputs"]["data"]["uri"]
            self.env.download(_blob_path(data_uri), work / "data")
            data = work / "data" if data_uri.endswith("/") else work / "data" / Path(_blob_path(data_uri)).name
            model = work / "model"
            model.mkdir()
            command = props["command"].replace("${{inputs.data}}", str(data)).replace(
                "${{outputs.model}}", str(model))
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
            done = subprocess.run(["bash", "-c", command], cwd=work / "code", env=env, capture_output=True,
                                  text=True, timeout=120)
            self.env.write_log(name, done.stdout + done.stderr)
            output = _blob_path(props["outputs"]["model"]["uri"]).rstrip("/")
            container = self.env.azurite.container(CONTAINER)
            for path in sorted(p for p in model.rglob("*") if p.is_file()):
                container.upload_blob(f"{output}/{path.relative_to(model).as_posix()}", path.read_bytes(),
                                      overwrite=True)
        if done.returncode == 0:
            self.env.arm.set_job(name, "Completed")
        else:
            self.env.arm.set_job(name, "Failed", f"Execution failed: exit code {done.returncode}")


_LOCK = threading.Lock()
_ENV: list[AzureEnvironment] = []


def environment() -> AzureEnvironment:
    """The process's Azure test environment, started on first use."""
    with _LOCK:
        if not _ENV:
            _ENV.append(AzureEnvironment())
        return _ENV[0]


def shutdown() -> None:
    with _LOCK:
        while _ENV:
            _ENV.pop().close()
