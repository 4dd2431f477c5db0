"""A real model from training to a served prediction, refereed by SageMaker's own code and contract.

For a regression model (the delivery-ETA example) and a classifier:
1. the adapter submits the training job to moto;
2. SageMaker's training toolkit runs the submitted request in the /opt/ml layout
   (tests/test_training_contract.py) and trains the real model;
3. the test plays SageMaker's part: packs /opt/ml/model into model.tar.gz where the
   job's artifacts go and marks the job Completed;
4. the adapter registers the version and deploys it (CreateModel on moto);
5. the bring-your-own serving image runs as SageMaker runs it: the Dockerfile that
   ``mlgates init --only serving`` writes gives the command, the model from
   ``ModelDataUrl`` is mounted at /opt/ml/model, the environment is the model's
   ``Environment``, port 8080 on 0.0.0.0 in a network namespace of its own;
6. its answer to ``{"instances": [...]}`` equals the model's own ``predict`` on the rows.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pytest_mlgates.ci.scaffold import render_dockerfile
from pytest_mlgates.records import TrainingSpec
from model_projects import PROJECT_IDS, PROJECTS, assert_served_as_predicted
from referees import ask_container, run_with_mounts
from test_sagemaker import BUCKET, COMMIT, MotoHarness, aws_env, make_adapter, moto  # noqa: F401
from test_training_contract import run_toolkit

def image_command(dockerfile: str) -> list[str]:
    """ENTRYPOINT + CMD of the serving Dockerfile, with this interpreter standing in for the image's."""
    entry = cmd = []
    for line in dockerfile.splitlines():
        if line.startswith("ENTRYPOINT "):
            entry = json.loads(line[len("ENTRYPOINT "):])
        elif line.startswith("CMD "):
            cmd = json.loads(line[len("CMD "):])
    assert entry[:1] == ["python"], entry
    return [sys.executable, *entry[1:], *cmd]


@pytest.mark.parametrize("make_project", PROJECTS, ids=PROJECT_IDS)
def test_a_trained_model_is_served_by_the_image_as_sagemaker_runs_it(
    moto: MotoHarness, tmp_path: Path, make_project: Any  # noqa: F811
) -> None:
    project, hyperparameters, rows = make_project(tmp_path / "project")
    adapter = make_adapter(moto, project, script_mode=True, inference_image_uri="123.dkr.ecr/eta-serving:1")
    job = adapter.submit_training_job(TrainingSpec(model_name="eta", entry_point="train.py", data="data.csv",
                                                   hyperparameters=hyperparameters, commit=COMMIT))
    (call,) = moto.recorder.find("CreateTrainingJob")
    trained = run_toolkit(moto, call.json(), tmp_path / "train-opt")
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]

    model_dir = tmp_path / "train-opt" / "ml" / "model"  # SageMaker packs this folder into model.tar.gz
    files = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.is_file() and p.name != "metrics.json"}
    moto.upload_model(job.name, files, (model_dir / "metrics.json").read_text())
    moto.set_job(job.name, "Completed", "Completed")
    version = adapter.register_model("eta", job.name, adapter.job_metrics(job.name))
    adapter.deploy_to_endpoint("eta-staging", version, "blue")
    container = moto.recorder.find("CreateModel")[0].json()["PrimaryContainer"]
    assert container["Image"] == "123.dkr.ecr/eta-serving:1"

    serve_opt = tmp_path / "serve-opt"
    bucket, _, key = container["ModelDataUrl"][5:].partition("/")
    archive = moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    (serve_opt / "ml" / "model").mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(serve_opt / "ml" / "model", filter="data")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(project), **container["Environment"]}
    (answer,) = ask_container(image_command(render_dockerfile(project)), env, {"/opt": serve_opt},
                              "http://127.0.0.1:8080/ping", "http://127.0.0.1:8080/invocations", {"instances": rows})
    assert_served_as_predicted(answer, model_dir / "model.joblib", rows)


def test_the_image_refuses_a_model_whose_digest_is_not_the_registered_one(tmp_path: Path) -> None:
    serve_opt = tmp_path / "opt"
    (serve_opt / "ml" / "model").mkdir(parents=True)
    (serve_opt / "ml" / "model" / "model.joblib").write_bytes(b"not the registered model")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MLGATES_SHA256": "0" * 64}
    argv = image_command(render_dockerfile(tmp_path))
    result = run_with_mounts({"/opt": serve_opt}, argv, env, own_network=True, timeout=60)
    assert result.returncode == 2
    assert "0" * 64 + " was registered" in result.stderr and "/opt/ml/model" in result.stderr


def test_the_image_refuses_to_serve_without_a_registered_digest(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    result = run_with_mounts({"/opt": tmp_path}, image_command(render_dockerfile(tmp_path)), env,
                             own_network=True, timeout=60)
    assert result.returncode == 2 and "MLGATES_SHA256 is not set" in result.stderr


def test_init_writes_the_serving_dockerfile_only_when_asked(tmp_path: Path) -> None:
    from pytest_mlgates.cli import main

    (tmp_path / "requirements.txt").write_text("scikit-learn\n")
    assert main(["init", str(tmp_path)]) == 0
    assert not (tmp_path / "Dockerfile.mlgates-serving").exists()
    assert main(["init", str(tmp_path), "--only", "serving"]) == 0
    text = (tmp_path / "Dockerfile.mlgates-serving").read_text()
    assert "-r requirements.txt" in text and 'CMD ["serve"]' in text and "@@" not in text
