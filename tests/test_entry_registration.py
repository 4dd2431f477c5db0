"""A model its platform's serving entry cannot serve gets no version, through the real adapters and the gate.

Registration (``register_proven``, what the ``challenger`` fixture calls) runs
the entry the adapter says it serves with (``Adapter.serving_entry()``) on a few
validation rows before ``register_model``; here against the Azure ML fakes (ARM
fake + Azurite) and the Vertex AI fakes (REST fake + GCS emulator), and once
through pytest with the plugin on Azure ML, where the training script really
runs on the fake's compute. A failure must leave no model version and create no
endpoint: the requests the fakes received say so.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml", reason="the azureml extra is part of the dev install (make install)")

from conftest import TRAIN_SCRIPT  # noqa: E402
from entry_models import AZURE_SCRIPTS, project_class_model_bytes, sklearn_model_bytes, write_script  # noqa: E402
from fakes.azureml_harness import AzureEnvironment, environment, shutdown  # noqa: E402
from leftovers import no_leftover_processes  # noqa: E402,F401 - autouse: nothing outlives a test
from vertex_harness import VertexHarness, training_spec  # noqa: E402
from vertex_harness import gcp_env, gcs_emulator, vertex, vertex_fake  # noqa: E402,F401

from pytest_mlgates.adapters.azureml import AzureMLAdapter  # noqa: E402
from pytest_mlgates.artifact_proof import ArtifactProofError, register_proven  # noqa: E402
from pytest_mlgates.config import Settings, TrainingSettings  # noqa: E402
from pytest_mlgates.records import TrainingSpec  # noqa: E402

pytest_plugins = ["pytester"]
COMMIT = "abcdef0123456789abcdef0123456789abcdef01"
METRICS = {"val_mae": 1.0}


@pytest.fixture(scope="session")
def azure_env() -> Iterator[AzureEnvironment]:
    yield environment()
    shutdown()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "train.py").write_text(TRAIN_SCRIPT)
    (root / "data.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    return root


def proof_settings(settings: Settings, model: str) -> Settings:
    """The adapter's settings with the training data registration takes its validation rows from."""
    return dataclasses.replace(settings, model_name=model, training=TrainingSettings(data="data.csv", target="y"))


# -- Azure ML -----------------------------------------------------------------------------------
def azure(env: AzureEnvironment, root: Path, model: str, **table: Any) -> tuple[AzureMLAdapter, Settings]:
    settings = Settings(platform="azureml", model_name=model, root=str(root), platforms={"azureml": env.table(**table)})
    return AzureMLAdapter(settings, sleep=lambda s: None), proof_settings(settings, model)


def azure_job(env: AzureEnvironment, adapter: AzureMLAdapter, model: str, data: bytes) -> str:
    job = adapter.submit_training_job(TrainingSpec(model_name=model, entry_point="src/train.py", data="data.csv",
                                                   hyperparameters={}, commit=COMMIT, timeout_seconds=60))
    env.finish(job.name, METRICS, {"model.joblib": data})
    return job.name


def writes(env: AzureEnvironment, start: int) -> list[str]:
    """Paths of the model versions and endpoints Azure was asked to create since ``start``."""
    return [c.path for c in env.arm.calls[start:] if c.method == "PUT"
            and ("/models/" in c.path or "/onlineEndpoints/" in c.path)]


@pytest.fixture
def model() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


def test_azure_registers_a_model_its_scoring_entry_serves(azure_env: AzureEnvironment, project: Path,
                                                          model: str) -> None:
    adapter, settings = azure(azure_env, project, model)
    assert adapter.serving_entry().convention == "azureml"
    job = azure_job(azure_env, adapter, model, sklearn_model_bytes())
    version = register_proven(adapter, settings, job, METRICS)
    assert [v.version for v in adapter.list_model_versions(model)] == [version.version]
    adapter.close()


def test_azure_refuses_a_model_whose_class_is_not_in_the_serving_environment(
    azure_env: AzureEnvironment, project: Path, model: str
) -> None:
    adapter, settings = azure(azure_env, project, model)
    data, module = project_class_model_bytes(project)
    job = azure_job(azure_env, adapter, model, data)
    start = len(azure_env.arm.calls)
    with pytest.raises(ArtifactProofError) as caught:
        register_proven(adapter, settings, job, METRICS)
    message = str(caught.value)
    assert "the azureml serving entry score.py could not serve it" in message
    assert f"No module named '{module}'" in message and "[tool.mlgates.azureml] inference_environment" in message
    assert writes(azure_env, start) == [] and adapter.list_model_versions(model) == []
    adapter.close()


@pytest.mark.parametrize(("kind", "expected"), [
    ("no_run", "score.py has no run() function"),
    ("wrong_count", "answered 1 predictions for 3 instances"),
    ("bare_list", 'answered a bare list of 3, not {"predictions": [...]}'),
])
def test_azure_refuses_a_scoring_script_that_cannot_answer_the_contract(
    azure_env: AzureEnvironment, project: Path, model: str, kind: str, expected: str
) -> None:
    write_script(project / "serving", "score.py", AZURE_SCRIPTS[kind])
    adapter, settings = azure(azure_env, project, model, scoring_script="serving/score.py")
    job = azure_job(azure_env, adapter, model, sklearn_model_bytes())
    start = len(azure_env.arm.calls)
    with pytest.raises(ArtifactProofError, match="was not registered and no endpoint was created") as caught:
        register_proven(adapter, settings, job, METRICS)
    assert expected in str(caught.value)
    assert writes(azure_env, start) == [] and adapter.list_model_versions(model) == []
    adapter.close()


# -- Vertex AI ----------------------------------------------------------------------------------
def vertex_job(vertex: VertexHarness, adapter: Any, data: bytes) -> str:  # noqa: F811
    job = adapter.submit_training_job(training_spec())
    vertex.finish(job.name, METRICS, {"model.joblib": data})
    return str(job.name)


def test_vertex_registers_a_model_the_mlgates_predictor_serves(vertex: VertexHarness, project: Path) -> None:  # noqa: F811
    adapter = vertex.adapter(project, mlgates_predictor=True)
    assert adapter.serving_entry().convention == "vertex"
    assert vertex.adapter(project).serving_entry() is None  # another image: the user's own, not run here
    job = vertex_job(vertex, adapter, sklearn_model_bytes())
    version = register_proven(adapter, proof_settings(adapter.settings, "eta"), job, METRICS)
    assert [v.version for v in adapter.list_model_versions("eta")] == [version.version]


def test_vertex_refuses_a_model_whose_class_is_not_in_the_serving_image(vertex: VertexHarness,  # noqa: F811
                                                                       project: Path) -> None:
    adapter = vertex.adapter(project, mlgates_predictor=True)
    data, module = project_class_model_bytes(project)
    job = vertex_job(vertex, adapter, data)
    with pytest.raises(ArtifactProofError) as caught:
        register_proven(adapter, proof_settings(adapter.settings, "eta"), job, METRICS)
    message = str(caught.value)
    assert "the vertex serving entry predictor.py could not serve it" in message
    assert f"No module named '{module}'" in message and "serving_image" in message
    assert vertex.fake.requests("POST", r"models:upload") == [] and vertex.fake.requests("POST", r"endpoints") == []
    assert adapter.list_model_versions("eta") == []


# -- the champion gate, end to end on Azure ML -------------------------------------------------------
PROJECT_TRAIN = textwrap.dedent('''
    import argparse, json, os, joblib
    import shapes  # a module of the project, beside this script

    p = argparse.ArgumentParser()
    p.add_argument("--data"); p.add_argument("--model-dir")
    a = p.parse_args()
    joblib.dump(shapes.Doubler(), os.path.join(a.model_dir, "model.joblib"))
    json.dump({"val_mae": 1.0}, open(os.path.join(a.model_dir, "metrics.json"), "w"))
''')


def test_the_champion_gate_errors_before_any_version_when_azure_cannot_serve_the_model(
    pytester: pytest.Pytester, azure_env: AzureEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_PLATFORM", "azureml")
    # the child pytest must not inherit a test cloud's name (MLClient writes it into os.environ)
    monkeypatch.delenv("AZUREML_CURRENT_CLOUD", raising=False)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in azure_env.table().items())
    pytester.makefile(".toml", pyproject=textwrap.dedent(f'''
        [tool.mlgates]
        model_name = "{name}"
        [tool.mlgates.training]
        entry_point = "train.py"
        data = "data.csv"
        target = "y"
        timeout_minutes = 1
        ''') + "[tool.mlgates.azureml]\n" + table + "\n")
    pytester.path.joinpath("train.py").write_text(PROJECT_TRAIN)
    pytester.path.joinpath("shapes.py").write_text(
        "class Doubler:\n    def predict(self, rows):\n        return [2 * x for x in rows['x']]\n")
    pytester.path.joinpath("data.csv").write_text("x,y\n1,2\n2,4\n")
    pytester.makepyfile(test_gates='''
        import pytest

        @pytest.mark.champion_gate
        def test_gate(challenger):
            pass
    ''')
    start = len(azure_env.arm.calls)
    with azure_env.run_jobs() as runner:
        result = pytester.runpytest_subprocess("-m", "champion_gate", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert len(runner.ran) == 1  # it trained, and loaded where it was trained
    result.stdout.fnmatch_lines(["*loads and predicts, but the azureml serving entry score.py could not serve it*"
                                 "No module named 'shapes'*", "Fix: *install that module*"])
    assert "Traceback" not in result.stdout.str()
    assert writes(azure_env, start) == []  # no model version, no endpoint
