"""Models served by the stock scikit-learn image's own serving stack (``serving = "sklearn"``).

For a regression model (the delivery-ETA example) and a classifier:
1. the adapter submits the training job to moto, and SageMaker's training toolkit
   trains the real model in the /opt/ml layout (as tests/test_sagemaker_referee.py);
2. the adapter registers the version, building the served package, and deploys it
   (CreateModel on moto) on the stock scikit-learn inference image;
3. the package the adapter actually deployed (``ModelDataUrl``, read back from moto's
   S3) is mounted at /opt/ml/model, and the image's serving stack serves it: the
   sagemaker-containers library from the ``sagemaker-sklearn-serving`` referee venv,
   wired as the image's ``serve`` wires it (tests/sklearn_serving_stack.py), with the
   model's ``Environment``, gunicorn on 0.0.0.0:8080 in a network namespace of its own;
4. its answer to ``{"instances": [...]}`` equals the model's own ``predict`` on the rows,
   and a malformed request is the client's error (400).

A package changed after registration is refused by deploy, naming the served package's
digest; a trained file changed under a package is refused by the handler at start-up,
naming the trained artifact's digest.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pytest_mlgates.adapters.sagemaker.images import sklearn_image_uri
from pytest_mlgates.config import ConfigError
from pytest_mlgates.contract import digest_dir
from pytest_mlgates.records import IntegrityError, JobFailedError, TrainingSpec
from referees import ask_container, referee_python, run_with_mounts
from test_sagemaker import (  # noqa: F401
    COMMIT,
    REGION,
    MotoHarness,
    aws_env,
    completed_job,
    make_adapter,
    moto,
    project,
    sagemaker_table,
)
from model_projects import classifier_project, regression_project
from test_training_contract import run_toolkit

HERE = Path(__file__).resolve().parent
STACK = HERE / "sklearn_serving_stack.py"
# the facts of the SageMaker Python SDK's image_uri_config/sklearn.json, for us-east-1
STOCK_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def trained_and_deployed(moto: MotoHarness, tmp_path: Path, make_project: Any,  # noqa: F811
                         deploy: bool = True) -> tuple[Any, Path, list[dict[str, Any]], Any]:
    """Train through the toolkit, register with serving = "sklearn" and (optionally) deploy.

    Returns (adapter, the trained /opt/ml/model folder, rows, the registered version).
    """
    project, hyperparameters, rows = make_project(tmp_path / "project")
    adapter = make_adapter(moto, project, script_mode=True, serving="sklearn")
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
    if deploy:
        adapter.deploy_to_endpoint("eta-staging", version, "blue")
    return adapter, model_dir, rows, version


def s3_bytes(moto: MotoHarness, uri: str) -> bytes:  # noqa: F811
    bucket, _, key = uri[5:].partition("/")
    return moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def unpack(archive: bytes, dest: Path) -> Path:
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def stack_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The image's ``serve``, from the referee venv; its site-packages behind an overlay, so the user
    module that the library pip-installs lands in this run's layer, never in the shared venv."""
    python = referee_python("sagemaker-sklearn-serving")
    venv = python.parent.parent
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    layer = tmp_path / "site-layer"
    (layer / "upper").mkdir(parents=True)
    (layer / "work").mkdir()
    overlay = f"mount -t overlay overlay -o lowerdir={site},upperdir={layer}/upper,workdir={layer}/work {site}"
    argv = ["sh", "-c", f'{overlay} && exec "$@"', "sh", str(python), str(STACK)]
    image_env = {  # what the image's Dockerfile sets, and nginx (not installed here) left out
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path), "NO_PROXY": "*",
        "SAGEMAKER_SERVING_MODULE": f"{STACK.stem}:main", "SAGEMAKER_USE_NGINX": "false",
    }
    return argv, image_env


@pytest.mark.parametrize("make_project", [regression_project, classifier_project], ids=["regression", "classifier"])
def test_the_stock_sklearn_image_serves_the_package_the_adapter_deployed(
    moto: MotoHarness, tmp_path: Path, make_project: Any, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    import joblib
    import pandas as pd

    caplog.set_level(logging.INFO, logger="pytest_mlgates.sagemaker")
    _, model_dir, rows, version = trained_and_deployed(moto, tmp_path, make_project)
    container = moto.recorder.find("CreateModel")[0].json()["PrimaryContainer"]
    assert container["Image"] == STOCK_IMAGE
    environment = container["Environment"]
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert environment["SAGEMAKER_REGION"] == REGION
    assert environment["MLGATES_SHA256"] == version.sha256

    # the package: the trained files unchanged at the top, the handler and runtime under code/
    package = unpack(s3_bytes(moto, container["ModelDataUrl"]), tmp_path / "serve-opt" / "ml" / "model")
    for trained in (p for p in model_dir.iterdir() if p.is_file()):
        assert (package / trained.name).read_bytes() == trained.read_bytes()
    assert sorted(p.name for p in (package / "code").iterdir()) == ["inference.py", "mlgates_runtime.py"]
    assert container["ModelDataUrl"] != version.artifact_uri  # the trained artifact stays as it was trained
    assert digest_dir(package) == environment["MLGATES_SERVED_SHA256"] != version.sha256
    # deploy checked the package, and says which digest it checked
    assert f"sha256 {environment['MLGATES_SERVED_SHA256']}, the served package's digest" in caplog.text

    argv, image_env = stack_command(tmp_path)
    (status, body), (bad_status, bad_body), (junk_status, junk_body) = ask_container(
        argv, {**image_env, **environment}, {"/opt": tmp_path / "serve-opt"},
        "http://127.0.0.1:8080/ping", "http://127.0.0.1:8080/invocations",
        {"instances": rows}, {"rows": rows}, "not json")
    assert status == 200, body
    predictions = json.loads(body)["predictions"]
    model = joblib.load(model_dir / "model.joblib")
    expected = model.predict(pd.DataFrame.from_records(rows)).tolist()
    assert predictions == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert len(set(map(str, expected))) > 1  # the rows are told apart: no constant model slips through
    assert bad_status == 400 and "instances" in json.loads(bad_body)["error"]  # the client's mistake
    assert junk_status == 400 and "not JSON" in json.loads(junk_body)["error"]


def test_a_package_changed_after_registration_is_never_deployed(moto: MotoHarness, tmp_path: Path) -> None:  # noqa: F811
    adapter, _, _, version = trained_and_deployed(moto, tmp_path, classifier_project, deploy=False)
    (registered,) = moto.recorder.find("CreateModelPackage")
    container = registered.json()["InferenceSpecification"]["Containers"][0]
    adapter.verify_artifact(version)  # as registered: both digests hold
    package = unpack(s3_bytes(moto, container["ModelDataUrl"]), tmp_path / "package")
    inference = package / "code" / "inference.py"
    inference.write_text(inference.read_text() + "\nprint('changed')\n")  # one line of the handler changed
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(p for p in package.rglob("*") if p.is_file()):
            tar.add(path, arcname=path.relative_to(package).as_posix())
    bucket, _, key = container["ModelDataUrl"][5:].partition("/")
    moto.client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    served = container["Environment"]["MLGATES_SERVED_SHA256"]
    with pytest.raises(IntegrityError, match=f"recorded {served} for it \\(the served package's digest"):
        adapter.deploy_to_endpoint("eta-staging", version, "blue")
    assert not moto.recorder.find("CreateModel")  # refused before anything serves it
    with pytest.raises(IntegrityError, match="the served package's digest"):
        adapter.verify_artifact(version)  # and promotion, which verifies, refuses it too


_START = """\
import subprocess, sys, tempfile, time, urllib.request
log = tempfile.TemporaryFile(mode="w+")
server = subprocess.Popen(sys.argv[1:], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
deadline = time.time() + 60
try:
    while time.time() < deadline and server.poll() is None:
        try:  # the first request makes each worker load the model
            urllib.request.urlopen("http://127.0.0.1:8080/ping", timeout=2).read()
        except OSError:
            pass
        log.seek(0)
        if "was registered" in log.read():
            break
        time.sleep(0.3)
finally:
    import os, signal
    os.killpg(server.pid, signal.SIGKILL)
log.seek(0)
print(log.read())
"""


def test_a_trained_file_changed_under_the_package_is_refused_at_start_up(
    moto: MotoHarness, tmp_path: Path  # noqa: F811
) -> None:
    _, _, _, version = trained_and_deployed(moto, tmp_path, regression_project)
    container = moto.recorder.find("CreateModel")[0].json()["PrimaryContainer"]
    package = unpack(s3_bytes(moto, container["ModelDataUrl"]), tmp_path / "serve-opt" / "ml" / "model")
    (package / "metrics.json").write_text('{"val_mae": 0.1}')  # a trained file, not the handler
    argv, image_env = stack_command(tmp_path)
    result = run_with_mounts({"/opt": tmp_path / "serve-opt"}, [sys.executable, "-c", _START, *argv],
                             {**image_env, **container["Environment"]}, own_network=True, timeout=120)
    assert f"but {version.sha256} was registered (the trained artifact's digest" in result.stdout, (
        result.stdout[-4000:] + result.stderr[-2000:])
    assert "/opt/ml/model" in result.stdout


def test_a_model_with_its_own_code_folder_is_refused_at_registration(
    moto: MotoHarness, project: Path  # noqa: F811
) -> None:
    adapter = make_adapter(moto, project, serving="sklearn")
    job = completed_job(adapter, moto, files={"model.joblib": b"model", "code/features.py": b"X = 1"})
    with pytest.raises(JobFailedError, match="top-level code/ entry"):
        adapter.register_model("eta", job, adapter.job_metrics(job))
    assert not moto.recorder.find("CreateModelPackage")


def test_the_serving_setting_is_checked(moto: MotoHarness, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(ConfigError, match='serving must be "image"'):
        make_adapter(moto, tmp_path, serving="stock")
    with pytest.raises(ConfigError, match="sklearn_version must be one of"):
        make_adapter(moto, tmp_path, serving="sklearn", sklearn_version="0.19")
    with pytest.raises(ConfigError, match="set \\[tool.mlgates.sagemaker\\] inference_image_uri"):
        make_adapter(moto, tmp_path, serving="sklearn", region="xx-mars-1")
    # an image of your own (a mirror, an isolated region) takes the stock image's place
    own = make_adapter(moto, tmp_path, serving="sklearn", region="xx-mars-1", inference_image_uri="1.dkr/mirror:1")
    assert own.serving_image() == "1.dkr/mirror:1"
    assert make_adapter(moto, tmp_path, serving="sklearn").serving_image() == STOCK_IMAGE
    assert sagemaker_table(moto)["image_uri"] == make_adapter(moto, tmp_path).serving_image()  # "image": today's
    assert sklearn_image_uri("cn-north-1", "1.4-2-py312") == (
        "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-scikit-learn:1.4-2-py312-cpu-py3")


def test_the_handler_answers_the_serving_contract_without_the_serving_stack(tmp_path: Path) -> None:
    """The handler alone, in this interpreter: what each function returns for good and bad requests."""
    import joblib
    from sklearn.linear_model import LinearRegression

    from pytest_mlgates.packaging import write_code_folder

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    rows = [{"a": 1.0, "b": 0.0}, {"a": 2.0, "b": 1.0}, {"a": 3.0, "b": 5.0}]
    import pandas as pd

    fitted = LinearRegression().fit(pd.DataFrame.from_records(rows), [1.0, 3.0, 2.0])
    joblib.dump(fitted, model_dir / "model.joblib")
    sha256 = digest_dir(model_dir)
    write_code_folder("sagemaker", model_dir / "code")
    script = (
        "import json, sys, os; sys.path.insert(0, sys.argv[1] + '/code'); import inference as h\n"
        "m = h.model_fn(sys.argv[1])\n"
        "print(json.dumps(h.output_fn(h.predict_fn(h.input_fn(sys.argv[2].encode(), 'application/json; "
        "charset=utf-8'), m), 'application/json')))\n"
        "r = h.input_fn('{}', 'text/csv'); print(r.status, r.message)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(model_dir), json.dumps({"instances": rows})],
                            env={**os.environ, "MLGATES_SHA256": sha256}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    answer, refusal = result.stdout.strip().splitlines()
    body, media = json.loads(answer)
    assert media == "application/json"
    assert json.loads(body)["predictions"] == pytest.approx(fitted.predict(pd.DataFrame.from_records(rows)).tolist())
    assert refusal.startswith("415 send the request as application/json")


def _proof_settings(adapter: Any, project: Path) -> Any:
    """The adapter's settings with the training data registration takes its validation rows from."""
    import dataclasses

    from pytest_mlgates.config import TrainingSettings

    (project / "data.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    return dataclasses.replace(adapter.settings, training=TrainingSettings(data="data.csv", target="y"))


@pytest.mark.parametrize("serving", ["sklearn", "image"])
def test_registration_runs_the_packaged_handler_only_when_the_stock_image_serves(
    moto: MotoHarness, project: Path, serving: str  # noqa: F811
) -> None:
    from entry_models import project_class_model_bytes

    from pytest_mlgates.artifact_proof import ArtifactProofError, register_proven

    adapter = make_adapter(moto, project, serving=serving)
    settings = _proof_settings(adapter, project)
    data, module = project_class_model_bytes(project)  # loads with the project on the path, not in the image
    job = completed_job(adapter, moto, files={"model.joblib": data})
    if serving == "image":  # our own image puts the project on PYTHONPATH: nothing to refuse
        register_proven(adapter, settings, job, adapter.job_metrics(job))
        assert len(moto.recorder.find("CreateModelPackage")) == 1
        return
    with pytest.raises(ArtifactProofError) as caught:
        register_proven(adapter, settings, job, adapter.job_metrics(job))
    message = str(caught.value)
    assert "the sagemaker serving entry inference.py could not serve it" in message, message
    assert f"No module named '{module}'" in message, message
    assert not moto.recorder.find("CreateModelPackage")


def test_registration_passes_a_model_the_packaged_handler_serves(
    moto: MotoHarness, project: Path  # noqa: F811
) -> None:
    from entry_models import sklearn_model_bytes

    from pytest_mlgates.artifact_proof import register_proven

    adapter = make_adapter(moto, project, serving="sklearn")
    job = completed_job(adapter, moto, files={"model.joblib": sklearn_model_bytes()})
    version = register_proven(adapter, _proof_settings(adapter, project), job, adapter.job_metrics(job))
    assert [v.version for v in adapter.list_model_versions("eta")] == [version.version]
