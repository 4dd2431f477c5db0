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
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_mlgates.contract import digest_dir
from pytest_mlgates.packaging import write_code_folder
from referees import ask_azureml, ask_vertex_cpr


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


# -- Azure ML: azureml-inference-server-http, as a managed online endpoint runs it -------------
def ask_azure(tmp_path: Path, model_root: Path, sha256: str, *bodies: Any) -> list[tuple[int, str]]:
    score = write_code_folder("azureml", tmp_path / "code")
    return ask_azureml(tmp_path, score.parent, score.name, model_root, {"MLGATES_SHA256": sha256}, *bodies)


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
    write_code_folder("vertex", tmp_path / "code")
    container = {"env": [{"name": "MLGATES_SHA256", "value": sha256}]}  # the CPR defaults: 8080, /health, /predict
    return ask_vertex_cpr(tmp_path, tmp_path / "code", artifacts, container, *bodies)


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
