"""Scoring script of Azure ML online deployments made by pytest-mlgates (azureml-inference-server-http).

Serves the model the training script wrote (model.joblib or model.skops) with
the serving contract: ``{"instances": [{feature: value}, ...]}`` ->
``{"predictions": [...]}``.
"""

import json
import os

_model = None


def init():
    global _model
    from pytest_mlgates.contract import load_model

    root = os.environ.get("AZUREML_MODEL_DIR", ".")
    for folder, _dirs, files in os.walk(root):
        if "model.joblib" in files or "model.skops" in files:
            _model = load_model(folder)
            return
    raise RuntimeError(f"no model.joblib or model.skops under {root}")


def run(raw_data):
    import pandas as pd

    rows = json.loads(raw_data)["instances"]
    predictions = _model.predict(pd.DataFrame(rows))
    return {"predictions": [float(p) for p in predictions]}
