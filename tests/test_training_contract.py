"""One training contract on every platform: the script sees the same text for each hyperparameter.

The referee is SageMaker's own training toolkit (sagemaker-training, the code inside
every SageMaker framework image), run on the very request the adapter submitted to
moto, in the /opt/ml layout SageMaker gives a container. What it hands the script
must equal, byte for byte, what the local platform hands the same script.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import ConfigError, load_settings
from pytest_mlgates.contract import (
    HyperparameterError,
    hyperparameter_args,
    render_hyperparameter,
    render_hyperparameters,
)
from pytest_mlgates.records import JobFailedError, TrainingSpec
from model_projects import DEPENDENCY, DEPENDENCY_VALUE, USES_DEPENDENCY, dependency_wheel, offline_pip
from referees import referee_python, run_with_mounts
from test_sagemaker import COMMIT, REGION, MotoHarness, aws_env, make_adapter, moto  # noqa: F401

# Records exactly what it was given, with nothing but the standard library: the
# toolkit's venv has no pytest-mlgates, as a real container has none.
ARGV_SCRIPT = """\
import json, os, sys
args = sys.argv[1:]
model_dir = args[args.index("--model-dir") + 1]
data = args[args.index("--data") + 1]
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(model_dir, "argv.json"), "w") as fh:
    json.dump({"argv": args, "data": open(data).read(), "cwd": os.getcwd(),
               "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")}}, fh)
with open(os.path.join(model_dir, "metrics.json"), "w") as fh:
    json.dump({"val_mae": 1.0}, fh)
"""

# Every kind of value a pyproject.toml or --mlgates-hyperparameter can give.
HYPERPARAMETERS: dict[str, Any] = {
    "max_depth": 6, "learning_rate": 0.05, "tiny": 1e-07, "big": 10**20, "early_stop": True, "warm": False,
    "criterion": "squared error", "layers": [64, 32], "class_weight": {"b": 2, "a": 1},
    "names": ["x", "y z"], "empty": "", "quote": 'say "hi"',
}


def user_args(argv: list[str]) -> dict[str, str]:
    """``--name value`` pairs of an argv, without the two the platform adds."""
    pairs = dict(zip(argv[::2], argv[1::2]))
    assert set(argv[::2]) == set(pairs) and all(name.startswith("--") for name in pairs), argv
    return {name[2:]: value for name, value in pairs.items() if name not in ("--data", "--model-dir")}


# -- the rendering --------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (6, "6"), (0.05, "0.05"), (1e-07, "1e-07"), (10**20, "100000000000000000000"),
    ("squared error", "squared error"), ("", ""), ([64, 32], "[64,32]"), ({"b": 2, "a": 1}, '{"a":1,"b":2}'),
    (["x", "y z"], '["x","y z"]'),
])
def test_each_kind_of_value_has_one_text(value: Any, text: str) -> None:
    assert render_hyperparameter("name", value) == text


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("k", 1, "one-letter"), ("x", 1, "-x"), ("1abc", 1, "starting with a letter"), ("--max", 1, "starting with a letter"),
    ("max depth", 1, "letters, digits"), ("ends-", 1, "letters, digits"), ("sagemaker_program", "x", "sagemaker_"),
    ("data", "x", "reserved"), ("model-dir", "x", "reserved"), ("model_dir", "x", "reserved"),
    ("seed", None, "null"), ("alpha", math.nan, "finite"), ("alpha", math.inf, "finite"),
    ("when", object(), "object"),
])
def test_what_a_cloud_would_mangle_is_refused_with_the_fix(name: str, value: Any, reason: str) -> None:
    with pytest.raises(HyperparameterError) as info:
        render_hyperparameter(name, value)
    assert name in str(info.value) and reason in str(info.value)


def test_names_are_passed_in_sorted_order_as_the_toolkit_does() -> None:
    assert hyperparameter_args({"zeta": 1, "alpha": True}) == ["--alpha", "true", "--zeta", "1"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(st.lists(json_values, max_size=4) | st.dictionaries(st.text(max_size=5), json_values, max_size=4))
def test_lists_and_objects_come_back_as_the_same_json(value: Any) -> None:
    assert json.loads(render_hyperparameter("value", value)) == value


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_numbers_come_back_as_the_same_number(value: float) -> None:
    text = render_hyperparameter("value", value)
    assert (float(text) if isinstance(value, float) else int(text)) == value


def test_a_bad_hyperparameter_in_the_config_is_a_config_error_naming_the_setting(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.mlgates]\nmetric = "val_mae"\n[tool.mlgates.training]\nentry_point = "t.py"\n'
                         "[tool.mlgates.training.hyperparameters]\nk = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(pyproject, env={})
    assert "training" in str(info.value) and "'k'" in str(info.value) and "-k" in str(info.value)
    pyproject.write_text('[tool.mlgates]\nmetric = "val_mae"\n[tool.mlgates.training]\nentry_point = "t.py"\n')
    with pytest.raises(ConfigError, match="--mlgates-hyperparameter.*'seed' is null"):
        load_settings(pyproject, cli={"mlgates_hyperparameter": ["seed=null"]}, env={})


def test_the_local_platform_refuses_before_starting_anything(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(ARGV_SCRIPT)
    adapter = LocalAdapter(None, state_dir=tmp_path / "state")
    with pytest.raises(JobFailedError, match="not submitted.*one-letter"):
        adapter.submit_training_job(TrainingSpec(model_name="m", entry_point=str(tmp_path / "train.py"),
                                                 data="d.csv", hyperparameters={"k": 1}))
    assert not (tmp_path / "state" / "jobs").exists() or not any((tmp_path / "state" / "jobs").iterdir())


def test_sagemaker_refuses_before_anything_is_sent(moto: MotoHarness, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "train.py").write_text(ARGV_SCRIPT)
    (tmp_path / "data.csv").write_text("x,y\n1,2\n")
    adapter = make_adapter(moto, tmp_path)
    before = len(moto.recorder.calls)
    with pytest.raises(JobFailedError, match="not submitted.*null"):
        adapter.submit_training_job(TrainingSpec(model_name="eta", entry_point="train.py", data="data.csv",
                                                 hyperparameters={"seed": None}, commit=COMMIT))
    assert moto.recorder.calls[before:] == []


# -- the referee ----------------------------------------------------------------------
def local_run(tmp_path: Path, script: Path, data: Path) -> dict[str, Any]:
    """What ARGV_SCRIPT recorded when the local platform ran it."""
    adapter = LocalAdapter(None, state_dir=tmp_path / "local-state")
    job = adapter.submit_training_job(TrainingSpec(model_name="eta", entry_point=str(script), data=str(data),
                                                   hyperparameters=HYPERPARAMETERS))
    adapter.wait_for_job(job.name, timeout=60)
    return json.loads((adapter.job_model_dir(job.name) / "argv.json").read_text())  # type: ignore[no-any-return]


def run_toolkit(moto: MotoHarness, request: dict[str, Any], opt: Path,  # noqa: F811
                extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Lay out /opt/ml as SageMaker does for ``request`` and run the toolkit's trainer on it."""
    ml = opt / "ml"
    for folder in ("input/config", "input/data/train", "model", "output/intermediate", "code"):
        (ml / folder).mkdir(parents=True)
    config = ml / "input" / "config"
    (config / "hyperparameters.json").write_text(json.dumps(request["HyperParameters"]))
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}))
    (config / "inputdataconfig.json").write_text(json.dumps(
        {"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}))
    data_uri = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, _, key = data_uri[5:].partition("/")
    body = moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    (ml / "input" / "data" / "train" / key.rsplit("/", 1)[-1]).write_bytes(body)
    env = {"PATH": os.environ["PATH"], "HOME": str(opt), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION, "S3_ENDPOINT_URL": moto.url,
           "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1",
           "TRAINING_JOB_NAME": request["TrainingJobName"], **(extra_env or {})}
    hosts = opt.parent / "hosts"
    hosts.write_text("127.0.0.1 localhost algo-1\n")  # SageMaker names each instance algo-N in /etc/hosts
    python = referee_python("sagemaker-training")
    return run_with_mounts({"/opt": opt, "/etc/hosts": hosts},
                           [str(python), "-c", "from sagemaker_training import trainer; trainer.train()"], env)


def test_the_toolkit_gives_the_script_exactly_what_the_local_platform_gives(
    moto: MotoHarness, tmp_path: Path  # noqa: F811
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(ARGV_SCRIPT)
    (project / "data.csv").write_text("x,y\n1,2\n3,4\n")
    adapter = make_adapter(moto, project, script_mode=True)
    adapter.submit_training_job(TrainingSpec(model_name="eta", entry_point="train.py", data="data.csv",
                                             hyperparameters=HYPERPARAMETERS, commit=COMMIT))
    (call,) = moto.recorder.find("CreateTrainingJob")
    opt = tmp_path / "opt"
    result = run_toolkit(moto, call.json(), opt)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    seen = json.loads((opt / "ml" / "model" / "argv.json").read_text())
    assert seen["data"] == "x,y\n1,2\n3,4\n"  # --data named the channel file SageMaker wrote
    toolkit = user_args(seen["argv"])
    local_seen = local_run(tmp_path, project / "train.py", project / "data.csv")
    local = user_args(local_seen["argv"])
    assert toolkit == local == render_hyperparameters(HYPERPARAMETERS)
    # the rest of docs/sagemaker.md's table "What a training script receives"
    assert seen["argv"][seen["argv"].index("--model-dir") + 1] == "/opt/ml/model" and seen["cwd"] == "/opt/ml/code"
    assert {k: seen["env"][k] for k in ("SM_MODEL_DIR", "SM_CHANNEL_TRAIN", "SM_HP_MAX_DEPTH", "SM_HP_LAYERS")} == {
        "SM_MODEL_DIR": "/opt/ml/model", "SM_CHANNEL_TRAIN": "/opt/ml/input/data/train", "SM_HP_MAX_DEPTH": "6",
        "SM_HP_LAYERS": "[64,32]"}
    # and of the local platform's: the project folder is the working folder, the arguments come first
    assert Path(local_seen["cwd"]).resolve() == Path.cwd().resolve()
    assert local_seen["argv"][:2] == ["--data", str(project / "data.csv")]


def test_the_requirements_beside_the_entry_point_are_shipped_and_the_toolkit_installs_them(
    moto: MotoHarness, tmp_path: Path  # noqa: F811
) -> None:
    """Without source_dir only the entry point and its requirements.txt go; the toolkit pip-installs the
    requirements before the script runs, so the script imports a package that no image here has."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(USES_DEPENDENCY)
    (project / "requirements.txt").write_text(f"{DEPENDENCY}==0.1\n")
    (project / "notes.txt").write_text("not shipped\n")
    (project / "data.csv").write_text("x,y\n1,2\n")
    adapter = make_adapter(moto, project, script_mode=True)
    adapter.submit_training_job(TrainingSpec(model_name="eta", entry_point="train.py", data="data.csv", commit=COMMIT))
    (call,) = moto.recorder.find("CreateTrainingJob")
    source = json.loads(call.json()["HyperParameters"]["sagemaker_submit_directory"])
    bucket, _, key = source[5:].partition("/")
    archive = moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["requirements.txt", "train.py"]

    dependency_wheel(tmp_path / "wheelhouse")
    installed = tmp_path / "installed"
    opt = tmp_path / "opt"
    result = run_toolkit(moto, call.json(), opt, offline_pip(tmp_path / "wheelhouse", installed))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Installing dependencies from requirements.txt" in result.stdout + result.stderr
    assert json.loads((opt / "ml" / "model" / "metrics.json").read_text()) == {"dependency_value": DEPENDENCY_VALUE}
    assert (installed / DEPENDENCY.replace("-", "_") / "__init__.py").is_file()  # pip put it there, no venv

