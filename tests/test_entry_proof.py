"""Registration's serving check: each platform's entry run, in the proof child, the way its runtime calls it.

These go through ``prove_artifact`` (the child registration runs) with entries
the test writes, for each calling convention; the same check through the real
Azure ML and Vertex AI adapters and the champion gate is in
tests/test_entry_registration.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from entry_models import (
    AZURE_SCRIPTS,
    ROWS,
    SAGEMAKER_SCRIPTS,
    VERTEX_SCRIPTS,
    project_class_model_bytes,
    sklearn_model_bytes,
    write_model,
    write_script,
)
from leftovers import no_leftover_processes  # noqa: F401 - autouse: nothing outlives a test
from pytest_mlgates.artifact_proof import ArtifactProofError, prove_artifact
from pytest_mlgates.packaging import ENTRIES, ServingEntry


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_model(tmp_path / "artifact" / "model", sklearn_model_bytes())


@pytest.mark.parametrize("convention", ["azureml", "vertex"])
def test_the_packaged_entry_serves_a_sound_model(model_dir: Path, convention: str) -> None:
    assert prove_artifact(model_dir, ROWS, entry=ServingEntry(convention)) == len(ROWS)


@pytest.mark.parametrize("convention", ["azureml", "vertex"])
def test_a_project_class_loads_where_trained_but_is_refused_where_served(tmp_path: Path, convention: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    data, module = project_class_model_bytes(project)
    model_dir = write_model(tmp_path / "artifact" / "model", data)
    assert prove_artifact(model_dir, ROWS, project=project) == len(ROWS)  # no entry: the local platform
    with pytest.raises(ArtifactProofError) as caught:
        prove_artifact(model_dir, ROWS, entry=ServingEntry(convention), project=project)
    message = str(caught.value)
    assert "loads and predicts, but the" in message and f"No module named '{module}'" in message
    assert f"module '{module}' cannot be imported where the model is served" in message
    assert "install that module into the serving environment" in message
    assert "was not registered and no endpoint was created" in message


@pytest.mark.parametrize(("kind", "expected"), [
    ("healthy", None),
    ("no_run", "score.py has no run() function"),
    ("bare_list", 'answered a bare list of 3, not {"predictions": [...]}'),
    ("wrong_count", "answered 1 predictions for 3 instances"),
    ("not_json", "returned a dict that is not JSON"),
])
def test_a_users_azure_scoring_script_is_called_with_init_and_run(model_dir: Path, tmp_path: Path, kind: str,
                                                                    expected: str | None) -> None:
    script = write_script(tmp_path / "serving", "score.py", AZURE_SCRIPTS[kind])
    entry = ServingEntry("azureml", script)
    if expected is None:
        assert prove_artifact(model_dir, ROWS, entry=entry) == len(ROWS)
        return
    with pytest.raises(ArtifactProofError, match="azureml-inference-server-http") as caught:
        prove_artifact(model_dir, ROWS, entry=entry)
    assert expected in str(caught.value) and "Fix: " in str(caught.value)


@pytest.mark.parametrize(("kind", "expected"), [
    ("healthy", None),
    ("no_output_fn", "inference.py has no output_fn"),
    ("bare_list", 'answered a bare list of 3, not {"predictions": [...]}'),
    ("not_json", "which is not JSON"),
    ("unencoded", "output_fn() returned a dict, not the encoded body"),
])
def test_a_users_sagemaker_inference_py_is_called_with_the_four_handlers(model_dir: Path, tmp_path: Path, kind: str,
                                                                         expected: str | None) -> None:
    script = write_script(tmp_path / "code", "inference.py", SAGEMAKER_SCRIPTS[kind])
    entry = ServingEntry("sagemaker", script)
    if expected is None:
        assert prove_artifact(model_dir, ROWS, entry=entry) == len(ROWS)
        return
    with pytest.raises(ArtifactProofError, match="model_fn.*output_fn") as caught:
        prove_artifact(model_dir, ROWS, entry=entry)
    assert expected in str(caught.value)


@pytest.mark.parametrize(("kind", "expected"), [
    ("no_class", "predictor.py has no predictor class MlgatesPredictor"),
    ("wrong_count", "answered 4 predictions for 3 instances"),
])
def test_a_vertex_predictor_is_called_as_the_prediction_server_calls_it(model_dir: Path, tmp_path: Path, kind: str,
                                                                        expected: str) -> None:
    script = write_script(tmp_path / "code", "predictor.py", VERTEX_SCRIPTS[kind])
    with pytest.raises(ArtifactProofError, match="custom prediction routine server") as caught:
        prove_artifact(model_dir, ROWS, entry=ServingEntry("vertex", script))
    assert expected in str(caught.value)


def test_a_missing_entry_file_is_named(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactProofError, match=r"there is no entry file .*serving.score\.py"):
        prove_artifact(model_dir, ROWS, entry=ServingEntry("azureml", tmp_path / "serving" / "score.py"))


def test_the_entry_sees_the_digest_that_will_be_registered(model_dir: Path, tmp_path: Path) -> None:
    """The packaged runtime refuses a folder whose digest is not MLGATES_SHA256: the check sets the very digest
    registration records, computed from the files as fetched, so a sound model passes and the variable is real."""
    script = write_script(tmp_path / "serving", "score.py", '''
        import os
        from pytest_mlgates.contract import digest_dir
        from pathlib import Path
        def init():
            folder = next(Path(os.environ["AZUREML_MODEL_DIR"]).iterdir())
            assert os.environ["MLGATES_SHA256"] == digest_dir(folder), "digest"
        def run(raw):
            return {"predictions": [0, 0, 0]}
    ''')
    assert prove_artifact(model_dir, ROWS, entry=ServingEntry("azureml", script)) == len(ROWS)


def test_the_sagemaker_key_plugs_in_the_packaged_handler_entry_when_it_exists(model_dir: Path) -> None:
    entry = ServingEntry("sagemaker")
    if "sagemaker" in ENTRIES:
        assert prove_artifact(model_dir, ROWS, entry=entry) == len(ROWS)
    else:
        with pytest.raises(ArtifactProofError, match="no serving entry for platform 'sagemaker'.*not registered"):
            prove_artifact(model_dir, ROWS, entry=entry)


def test_an_unknown_convention_is_refused() -> None:
    with pytest.raises(ArtifactProofError, match="convention 'bentoml' is not one of azureml, vertex, sagemaker"):
        prove_artifact("/nonexistent", ROWS, entry=ServingEntry("bentoml"))
