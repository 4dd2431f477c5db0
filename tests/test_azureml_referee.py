"""A real model from training to a served prediction on Azure ML, refereed by Azure's own scoring server.

For a regression model (the delivery-ETA example) and a classifier:
1. the adapter submits the command job through azure-ai-ml to the ARM fake, and the
   fake's compute (tests/fakes/azureml_harness.py JobRunner) runs the real training
   script on the code and data the SDK uploaded to Azurite;
2. the adapter registers the job's model output and deploys it to a managed online
   endpoint (the scoring code is uploaded as a code asset);
3. the test plays the endpoint's container: it reads back the code asset and the
   registered model folder from Azurite, takes the deployment's environment variables
   as the adapter set them (MLGATES_SHA256), and starts azureml-inference-server-http
   (azmlinfsrv) on them in a network namespace of its own;
4. its answer to ``{"instances": [...]}`` equals the model's own ``predict`` on the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml", reason="the azureml extra is part of the dev install (make install)")

from fakes.azureml_harness import AzureEnvironment, environment, shutdown  # noqa: E402
from model_projects import PROJECT_IDS, PROJECTS, assert_served_as_predicted  # noqa: E402
from pytest_mlgates.adapters.azureml import AzureMLAdapter  # noqa: E402
from pytest_mlgates.config import Settings  # noqa: E402
from pytest_mlgates.records import TrainingSpec  # noqa: E402
from referees import ask_azureml  # noqa: E402
from rollout_projects import COMMIT  # noqa: E402


@pytest.fixture(scope="session")
def azure_env() -> Iterator[AzureEnvironment]:
    yield environment()
    shutdown()


@pytest.mark.parametrize("make_project", PROJECTS, ids=PROJECT_IDS)
def test_a_model_trained_on_azure_ml_is_served_by_its_inference_server_as_deployed(
    azure_env: AzureEnvironment, tmp_path: Path, make_project: Any
) -> None:
    project, hyperparameters, rows = make_project(tmp_path / "project")
    model_name = f"eta-{make_project.__name__[:3]}"
    adapter = AzureMLAdapter(Settings(platform="azureml", model_name=model_name, root=str(project),
                                      platforms={"azureml": azure_env.table()}))
    try:
        with azure_env.run_jobs() as runner:
            job = adapter.submit_training_job(TrainingSpec(
                model_name=model_name, entry_point="train.py", data="data.csv", hyperparameters=hyperparameters,
                commit=COMMIT, timeout_seconds=120))
            done = adapter.wait_for_job(job.name, timeout=120, poll_interval=0.05)
        assert runner.ran == [job.name] and done.metrics  # the training script really ran on the fake's compute
        version = adapter.register_model(model_name, job.name, done.metrics)
        start = len(azure_env.arm.calls)
        adapter.deploy_to_endpoint(f"{model_name}-staging", version, "blue")
    finally:
        adapter.close()
    (put,) = [c for c in azure_env.arm.calls[start:] if c.method == "PUT" and "/deployments/" in c.path]
    deployment = put.body["properties"]
    code_asset = azure_env.arm.resource(deployment["codeConfiguration"]["codeId"].lower())
    registered = azure_env.arm.resource(deployment["model"].lower())
    assert code_asset is not None and registered is not None
    code = tmp_path / "var-azureml-app"  # the deployment's code folder, as uploaded
    azure_env.download(code_asset["properties"]["codeUri"], code)
    # Azure mounts a registered folder as AZUREML_MODEL_DIR/<folder name>
    model_uri = registered["properties"]["modelUri"]
    model_root = tmp_path / "azureml-models" / model_name / version.version
    azure_env.download(model_uri, model_root / model_uri.rstrip("/").rsplit("/", 1)[-1])
    assert deployment["environmentVariables"]["MLGATES_SHA256"] == version.sha256

    (answer,) = ask_azureml(tmp_path, code, deployment["codeConfiguration"]["scoringScript"], model_root,
                            deployment["environmentVariables"], {"instances": rows})
    assert_served_as_predicted(answer, model_root / "model" / "model.joblib", rows)
