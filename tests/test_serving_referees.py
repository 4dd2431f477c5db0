"""Azure ML's and Vertex AI's own serving runtimes load what pytest_mlgates.packaging writes.

Each runtime runs from a venv of its own (.venv-referees/, ``make referees``), started
the way its container starts it (0.0.0.0, the container's port) inside a network
namespace whose only interface is loopback. For a real regression model and a real
classifier, its answer to ``{"instances": [...]}`` must equal the model's own
``predict`` on the same rows; a model whose digest is not the registered one must
never be served; a malformed request is the client's error (4xx).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_mlgates.contract import digest_dir
from pytest_mlgates.packaging import VERTEX_PREDICTOR_CLASS, write_code_folder
from referees import ask_container, referee_python


def train(kind: str, folder: Path) -> tuple[Any, list[dict[str, Any]]]:
    """A fitted scikit-learn pipeline with named columns, saved as the training contract saves it."""
    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"distance": rng.uniform(0, 10, 400), "zone": rng.choice(["n", "s", "e"], 400)})
    signal = frame["distance"] * 2 + frame["zone"].map({"n": 0, "s": 3, "e": -2}) + rng.normal(0, 1, 400)
    encode = ColumnTransformer([("zone", OneHotEncoder(handle_unknown="ignore"), ["zone"])], remainder="passthrough")
    if kind == "regression":
        model = make_pipeline(encode, HistGradientBoostingRegressor(max_iter=30)).fit(frame, signal)
    else:
        model = make_pipeline(encode, LogisticRegression()).fit(frame, (signal > signal.median()).astype(int))
    folder.mkdir(parents=True)
    joblib.dump(model, folder / "model.joblib")
    (folder / "metrics.json").write_text('{"val_mae": 1.0}')
    return model, json.loads(frame.head(30).to_json(orient="records"))


def expected(model: Any, rows: list[dict[str, Any]]) -> list[Any]:
    import pandas as pd

    values = model.predict(pd.DataFrame.from_records(rows)).tolist()
    assert len(set(map(str, values))) > 1  # rows told apart: a constant answer cannot pass
    return values  # type: ignore[no-any-return]


def base_env(tmp_path: Path, sha256: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MLGATES_SHA256": sha256, "NO_GCE_CHECK": "true",
            "NO_PROXY": "*"}


# -- Azure ML: azureml-inference-server-http, as a managed online endpoint runs it -------------
def ask_azure(tmp_path: Path, model_root: Path, sha256: str, *bodies: Any) -> list[tuple[int, str]]:
    code = tmp_path / "code"
    score = write_code_folder("azureml", code)
    server = referee_python("azureml-inference").parent / "azmlinfsrv"
    env = {**base_env(tmp_path, sha256), "AZUREML_MODEL_DIR": str(model_root), "AML_APP_ROOT": str(code),
           "AZUREML_ENTRY_SCRIPT": score.name, "GUNICORN_CMD_ARGS": "--no-control-socket"}
    # the managed endpoint's container: azmlinfsrv on 0.0.0.0:5001 with the deployment's code and model
    argv = [str(server), "--entry_script", str(score), "--model_dir", str(model_root), "--port", "5001"]
    return ask_container(argv, env, {}, "http://127.0.0.1:5001/", "http://127.0.0.1:5001/score", *bodies)


@pytest.mark.parametrize("kind", ["regression", "classifier"])
def test_azure_ml_serves_a_registered_model_with_the_generated_score_py(tmp_path: Path, kind: str) -> None:
    # a registered model folder is mounted as AZUREML_MODEL_DIR/<folder name>
    model, rows = train(kind, tmp_path / "azureml-models" / "model")
    (status, body), (bad_status, bad_body) = ask_azure(
        tmp_path, tmp_path / "azureml-models", digest_dir(tmp_path / "azureml-models" / "model"),
        {"instances": rows}, {"rows": rows})
    assert status == 200, body
    assert json.loads(body)["predictions"] == pytest.approx(expected(model, rows), rel=1e-12, abs=1e-12)
    assert bad_status == 400 and "instances" in bad_body  # the client's mistake, not a server error


# -- Vertex AI: the custom prediction routine server, as the CPR container runs it ------------
def ask_vertex(tmp_path: Path, artifacts: Path, sha256: str, *bodies: Any) -> list[tuple[int, str]]:
    code = tmp_path / "code"
    write_code_folder("vertex", code)
    python = referee_python("vertex-prediction")
    env = {**base_env(tmp_path, sha256), "PYTHONPATH": str(code), "AIP_HTTP_PORT": "8080",
           "AIP_HEALTH_ROUTE": "/health", "AIP_PREDICT_ROUTE": "/predict", "AIP_STORAGE_URI": str(artifacts),
           "HANDLER_MODULE": "google.cloud.aiplatform.prediction.handler", "HANDLER_CLASS": "PredictionHandler",
           "PREDICTOR_MODULE": "predictor", "PREDICTOR_CLASS": VERTEX_PREDICTOR_CLASS,
           # one worker: the default (one per core, at least 2) forks workers that die silently here
           "VERTEX_CPR_WEB_CONCURRENCY": "1"}
    # the CPR image's entrypoint: python -m google.cloud.aiplatform.prediction.model_server (0.0.0.0:8080)
    argv = [str(python), "-m", "google.cloud.aiplatform.prediction.model_server"]
    return ask_container(argv, env, {}, "http://127.0.0.1:8080/health", "http://127.0.0.1:8080/predict", *bodies)


@pytest.mark.parametrize("kind", ["regression", "classifier"])
def test_vertex_serves_a_registered_model_with_the_generated_predictor(tmp_path: Path, kind: str) -> None:
    model, rows = train(kind, tmp_path / "artifacts")
    (status, body), (bad_status, bad_body) = ask_vertex(
        tmp_path, tmp_path / "artifacts", digest_dir(tmp_path / "artifacts"), {"instances": rows}, {"instances": []})
    assert status == 200, body
    assert json.loads(body)["predictions"] == pytest.approx(expected(model, rows), rel=1e-12, abs=1e-12)
    assert bad_status == 400 and "instances" in bad_body  # the client's mistake, not a server error


# -- a model that is not the registered one is never served -----------------------------------
@pytest.mark.parametrize("platform", ["azureml", "vertex"])
def test_a_model_changed_after_registration_is_never_served(tmp_path: Path, platform: str) -> None:
    folder = tmp_path / "models" / "model"
    train("regression", folder)
    registered = digest_dir(folder)
    (folder / "metrics.json").write_text('{"val_mae": 0.5}')  # one byte of the artifact changed
    with pytest.raises(pytest.fail.Exception, match=f"{registered} was registered"):
        if platform == "azureml":
            ask_azure(tmp_path, tmp_path / "models", registered, {"instances": [{"distance": 1, "zone": "n"}]})
        else:
            ask_vertex(tmp_path, folder, registered, {"instances": [{"distance": 1, "zone": "n"}]})
