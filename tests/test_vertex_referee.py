"""A real model from training to a served prediction on Vertex AI, refereed by aiplatform's own prediction server.

For a regression model (the delivery-ETA example) and a classifier:
1. the adapter submits the CustomJob through google-cloud-aiplatform to the Vertex fake,
   and the fake's worker (tests/vertex_harness.py JobRunner) runs the staged source
   package as a prebuilt training image does, on the data the adapter staged in the
   GCS emulator, writing the model folder back to AIP_MODEL_DIR;
2. the adapter registers the model folder (models:upload with its containerSpec);
3. the test plays Vertex's serving: it reads the registered artifact folder back from
   the emulator and starts the custom prediction routine server with the registered
   containerSpec (port, routes, env with MLGATES_SHA256) and pytest-mlgates' predictor;
4. its answer to ``{"instances": [...]}`` equals the model's own ``predict`` on the rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from model_projects import PROJECT_IDS, PROJECTS, assert_served_as_predicted
from referees import ask_vertex_cpr
from rollout_projects import COMMIT
from vertex_harness import BUCKET, JobRunner, VertexHarness
from vertex_harness import gcp_env, gcs_emulator, vertex, vertex_fake  # noqa: F401

from pytest_mlgates.packaging import write_code_folder
from pytest_mlgates.records import TrainingSpec


@pytest.mark.parametrize("make_project", PROJECTS, ids=PROJECT_IDS)
def test_a_model_trained_on_vertex_is_served_by_its_prediction_server_as_registered(
    vertex: VertexHarness, tmp_path: Path, make_project: Any  # noqa: F811
) -> None:
    project, hyperparameters, rows = make_project(tmp_path / "project")
    vertex.fake.on_job_created = JobRunner(vertex, tmp_path / "vertex-jobs")
    adapter = vertex.adapter(project)
    try:
        job = adapter.submit_training_job(TrainingSpec(
            model_name="eta", entry_point="train.py", data="data.csv", hyperparameters=hyperparameters,
            commit=COMMIT, timeout_seconds=120))
        done = adapter.wait_for_job(job.name, timeout=120, poll_interval=0.05)
        assert done.metrics, done  # the training script really ran on the fake's worker
        version = adapter.register_model("eta", job.name, done.metrics)
    finally:
        adapter.close()
    model = vertex.fake.requests("POST", r"^models:upload$")[-1].body["model"]
    container = model["containerSpec"]
    assert {"name": "MLGATES_SHA256", "value": version.sha256} in container["env"]
    artifacts = tmp_path / "aip-storage"  # the artifact folder as the container sees it (AIP_STORAGE_URI)
    prefix = model["artifactUri"][len(f"gs://{BUCKET}/"):].rstrip("/") + "/"
    for blob in vertex.storage.list_blobs(BUCKET, prefix=prefix):
        target = artifacts / blob.name[len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
    # the serving image holds pytest-mlgates' predictor, built from the same files
    code = write_code_folder("vertex", tmp_path / "cpr-code").parent

    (answer,) = ask_vertex_cpr(tmp_path, code, artifacts, container, {"instances": rows})
    assert_served_as_predicted(answer, artifacts / "model.joblib", rows)
