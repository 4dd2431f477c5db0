"""The local adapter against the adapter conformance suite (tests/conformance.py).

Jobs are real subprocesses running a script that waits for a control file:
the test writes it to decide the job's outcome, so "still running", "failed
with a reason" and "finished with these metrics and these model files" are all
real states of a real process.
"""

from __future__ import annotations

import base64
import json
import os
import textwrap
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_mlgates.testing.conformance import COMMIT, EndpointConformance, JobConformance, JobDriver, RegistryConformance
from pytest_mlgates.adapters.base import Adapter
from pytest_mlgates.records import TrainingJob, TrainingSpec
from pytest_mlgates.adapters.local import LocalAdapter

CONTROLLED_SCRIPT = textwrap.dedent('''
    import argparse, base64, json, os, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--data"); p.add_argument("--model-dir"); p.add_argument("--control")
    a = p.parse_args()
    print("waiting for", a.control, flush=True)
    while not os.path.exists(a.control):
        time.sleep(0.01)
    order = json.load(open(a.control))
    if order.get("fail"):
        print(order["fail"], file=sys.stderr, flush=True)
        sys.exit(3)
    for name, data in order["files"].items():
        with open(os.path.join(a.model_dir, name), "wb") as fh:
            fh.write(base64.b64decode(data))
    with open(os.path.join(a.model_dir, "metrics.json"), "w") as fh:
        fh.write(order["metrics_text"])
''')


class LocalJobDriver(JobDriver):
    """Submits the controlled script through the adapter; finish() writes its control file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.script = folder / "controlled_train.py"
        self.script.write_text(CONTROLLED_SCRIPT)
        self.data = folder / "data.csv"
        self.data.write_text("x,y\n1,2\n")
        self.controls: dict[str, Path] = {}

    def submit(self, adapter: Adapter, model_name: str, commit: str = COMMIT) -> TrainingJob:
        control = self.folder / f"control-{uuid.uuid4().hex}.json"
        spec = TrainingSpec(model_name=model_name, entry_point=str(self.script), data=str(self.data),
                            hyperparameters={"control": str(control)}, commit=commit, timeout_seconds=60)
        job = adapter.submit_training_job(spec)
        self.controls[job.name] = control
        return job

    def finish(
        self,
        adapter: Adapter,
        job_name: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
        metrics_text: str | None = None,
        fail: str | None = None,
    ) -> None:
        order = {
            "fail": fail,
            "files": {name: base64.b64encode(data).decode() for name, data in (files or {}).items()},
            "metrics_text": metrics_text if metrics_text is not None else json.dumps(dict(metrics or {})),
        }
        control = self.controls[job_name]
        tmp = control.with_suffix(".tmp")
        tmp.write_text(json.dumps(order))
        os.replace(tmp, control)

    def servable_files(self, label: str) -> dict[str, bytes]:
        """A real (tiny) scikit-learn model: local endpoints load what they serve."""
        import io

        import joblib
        from sklearn.dummy import DummyRegressor

        buffer = io.BytesIO()
        joblib.dump(DummyRegressor(strategy="constant", constant=float(len(label))).fit([[0.0]], [0.0]), buffer)
        return {"model.joblib": buffer.getvalue()}


@pytest.fixture
def adapter_factory(tmp_path: Path) -> Callable[[], Adapter]:
    state = tmp_path / "state"
    return lambda: LocalAdapter(state_dir=state)


@pytest.fixture
def driver(tmp_path: Path) -> LocalJobDriver:
    folder = tmp_path / "driver"
    folder.mkdir()
    return LocalJobDriver(folder)


class TestLocalJobs(JobConformance):
    pass


class TestLocalRegistry(RegistryConformance):
    pass


class TestLocalEndpoints(EndpointConformance):
    pass
