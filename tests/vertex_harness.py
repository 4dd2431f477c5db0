"""The Vertex AI test harness: the REST fake and the GCS emulator once per session, and playing Vertex's part.

Shared by test_vertex.py (wire and fault tests) and test_conformance_vertex.py
(the shipped conformance suite). The fake (tests/fakes/vertex_api.py) is
imported first, so ``NO_GCE_CHECK`` is set before google-auth is imported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fakes.vertex_api import (
    LOCATION,
    PROJECT,
    RUNNING,
    SUCCEEDED,
    FAILED,
    StorageEmulator,
    VertexFake,
    credentials_file,
)

from pytest_mlgates.adapters.base import Adapter
from pytest_mlgates.config import Settings
from pytest_mlgates.records import TrainingJob, TrainingSpec
from pytest_mlgates.testing.conformance import COMMIT, FaultInjector, JobDriver

BUCKET = "mlgates-vertex-test"
PREFIX = "mlgates"
TRAINING_IMAGE = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-2:latest"
SERVING_IMAGE = "us-docker.pkg.dev/my-project/serving/eta:1"


class VertexHarness:
    """The fake, the emulator and the test's own storage client (playing the platform's part)."""

    def __init__(self, fake: VertexFake, gcs: StorageEmulator, adc: Path) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        self.fake, self.gcs, self.adc = fake, gcs, adc
        self.storage = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                      client_options={"api_endpoint": gcs.url})

    def table(self, **overrides: Any) -> dict[str, Any]:
        table: dict[str, Any] = {
            "project": PROJECT, "location": LOCATION, "staging_bucket": f"gs://{BUCKET}/{PREFIX}",
            "training_image": TRAINING_IMAGE, "serving_image": SERVING_IMAGE, "api_endpoint": self.fake.url,
            "storage_endpoint": self.gcs.url, "logging_endpoint": self.fake.url, "max_attempts": 3,
            "retry_base_seconds": 0.0, "operation_poll_seconds": 0.01, "job_poll_seconds": 0.01,
        }
        table.update(overrides)
        return {k: v for k, v in table.items() if v is not None}

    def settings(self, root: Path, **overrides: Any) -> Settings:
        return Settings(platform="vertex", model_name="eta", root=str(root),
                        platforms={"vertex": self.table(**overrides)})

    def adapter(self, root: Path, sleep: Any = time.sleep, clock: Any = time.monotonic, **overrides: Any) -> Any:
        from pytest_mlgates.adapters.vertex import VertexAdapter

        return VertexAdapter(self.settings(root, **overrides), sleep=sleep, clock=clock)

    # -- playing Vertex's part ----------------------------------------------------------
    def model_dir(self, job_name: str) -> str:
        return f"{PREFIX}/jobs/{job_name}/model"

    def write_model(self, job_name: str, files: Mapping[str, bytes], metrics_text: str | None) -> None:
        bucket = self.storage.bucket(BUCKET)
        members = dict(files)
        if metrics_text is not None:
            members["metrics.json"] = metrics_text.encode()
        for name, data in members.items():
            bucket.blob(f"{self.model_dir(job_name)}/{name}").upload_from_string(data)

    def finish(self, job_name: str, metrics: Mapping[str, Any] | None = None,
               files: Mapping[str, bytes] | None = None, metrics_text: str | None = None,
               fail: str | None = None) -> None:
        if fail is not None:
            self.fake.set_job(job_name, FAILED, error=fail)
            return
        text = metrics_text if metrics_text is not None else json.dumps(dict(metrics or {}))
        self.write_model(job_name, dict(files or {"model.joblib": job_name.encode()}), text)
        self.fake.set_job(job_name, SUCCEEDED)


def training_spec(model_name: str = "eta", commit: str = COMMIT, **overrides: Any) -> TrainingSpec:
    values: dict[str, Any] = dict(model_name=model_name, entry_point="src/train.py", data="data.csv",
                                  hyperparameters={"max_depth": 6, "early": True}, commit=commit,
                                  timeout_seconds=1800)
    values.update(overrides)
    return TrainingSpec(**values)


class VertexJobDriver(JobDriver):
    def __init__(self, vertex: VertexHarness) -> None:
        self.vertex = vertex

    def submit(self, adapter: Adapter, model_name: str, commit: str = COMMIT) -> TrainingJob:
        job = adapter.submit_training_job(training_spec(model_name, commit))
        self.vertex.fake.set_job(job.name, RUNNING)
        return job

    def finish(self, adapter: Adapter, job_name: str, *, metrics: Mapping[str, Any] | None = None,
               files: Mapping[str, bytes] | None = None, metrics_text: str | None = None,
               fail: str | None = None) -> None:
        self.vertex.finish(job_name, metrics, files, metrics_text, fail)


class VertexFaults(FaultInjector):
    def __init__(self, vertex: VertexHarness) -> None:
        self.vertex = vertex
        self.injected: list[Any] = []

    def inject(self, kind: str, times: int | None = None) -> None:
        self.injected.append(self.vertex.fake.fault(kind, lambda c: c.path != "token", times))

    def hits(self) -> int:
        return sum(f.hits for f in self.injected)

    def clear(self) -> None:
        with self.vertex.fake.lock:
            self.vertex.fake.faults.clear()


@pytest.fixture(scope="session")
def vertex_fake() -> Iterator[VertexFake]:
    fake = VertexFake()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[StorageEmulator]:
    emulator = StorageEmulator()
    try:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": emulator.url})
        client.create_bucket(BUCKET)
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def gcp_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, vertex_fake: VertexFake) -> Path:
    """google-auth's default chain reads a credentials file whose token endpoint is the fake; no metadata probe."""
    for var in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GOOGLE_CLOUD_REGION", "CLOUDSDK_CONFIG",
                "STORAGE_EMULATOR_HOST", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    from google.auth.compute_engine import _metadata

    # google-auth reads NO_GCE_CHECK once, at import: make sure it was set before (fakes/vertex_api.py does)
    assert _metadata._NO_GCE_CHECK, "google.auth was imported before NO_GCE_CHECK=true was set"
    adc = credentials_file(tmp_path, f"{vertex_fake.url}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    return adc


@pytest.fixture
def vertex(vertex_fake: VertexFake, gcs_emulator: StorageEmulator, gcp_env: Path) -> VertexHarness:
    vertex_fake.reset()
    return VertexHarness(vertex_fake, gcs_emulator, gcp_env)


@pytest.fixture
def adapter_factory(vertex: VertexHarness, project: Path) -> Callable[[], Adapter]:
    """For the conformance suite: a new adapter on the same fake; real sleep, so racers interleave."""
    return lambda: vertex.adapter(project, sleep=time.sleep, clock=time.monotonic)


@pytest.fixture
def driver(vertex: VertexHarness) -> VertexJobDriver:
    return VertexJobDriver(vertex)


@pytest.fixture
def faults(vertex: VertexHarness) -> Iterator[VertexFaults]:
    injector = VertexFaults(vertex)
    yield injector
    injector.clear()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user project: the training script under src/ beside a helper module, and a small CSV."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "train.py").write_text("import features\nprint('training', features.X)\n")
    (root / "src" / "features.py").write_text("X = 1\n")
    (root / "data.csv").write_text("x,y\n1,2\n3,4\n")
    return root


class JobRunner:
    """Runs each new CustomJob the way a prebuilt training image would, with GCS FUSE played by copies.

    Downloads the staged package and the data from the emulator, runs
    ``python -m <python_module> <args>`` with ``/gcs/<bucket>/...`` mapped onto
    a local folder, uploads the model folder back to ``AIP_MODEL_DIR`` and sets
    the job's state and log lines on the fake.
    """

    def __init__(self, vertex: VertexHarness, workdir: Path) -> None:
        self.vertex, self.workdir = vertex, workdir

    def __call__(self, job: dict[str, Any]) -> None:
        import subprocess
        import sys
        import tarfile

        fake, bucket = self.vertex.fake, self.vertex.storage.bucket(BUCKET)
        spec = job["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]
        root = self.workdir / job["name"].rsplit("/", 1)[-1]
        gcs = root / "gcs"
        fake.set_job(job["displayName"], RUNNING)
        package = root / "package.tar.gz"
        package.parent.mkdir(parents=True)
        bucket.blob(spec["packageUris"][0].split("/", 3)[3]).download_to_filename(str(package))
        with tarfile.open(package) as tar:
            tar.extractall(root / "src", filter="data")
        args = list(spec["args"])
        data_key = args[1].split("/", 3)[3]
        for blob in self.vertex.storage.list_blobs(BUCKET, prefix=data_key):
            target = gcs / BUCKET / blob.name
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target))
        mapped = [str(gcs) + a[len("/gcs"):] if a.startswith("/gcs/") else a for a in args]
        model_dir = Path(mapped[3])
        model_dir.mkdir(parents=True, exist_ok=True)
        (top,) = (root / "src").iterdir()
        run = subprocess.run([sys.executable, "-m", spec["pythonModule"], *mapped], cwd=top, capture_output=True,
                             text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(top)})
        fake.logs[job["name"].rsplit("/", 1)[-1]] = (run.stdout + run.stderr).splitlines()
        if run.returncode:
            fake.set_job(job["displayName"], FAILED, error=f"The replica workerpool0-0 exited with a non-zero "
                                                           f"status of {run.returncode}.")
            return
        for file in sorted(p for p in model_dir.rglob("*") if p.is_file()):
            bucket.blob(f"{args[3].split('/', 3)[3]}/{file.relative_to(model_dir).as_posix()}").upload_from_filename(
                str(file))
        fake.set_job(job["displayName"], SUCCEEDED)
