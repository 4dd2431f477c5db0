"""Scoring script of Azure ML online deployments made by pytest-mlgates (azureml-inference-server-http).

Serves the model file the training script wrote (model.joblib, or model.skops
when skops is installed) with the serving contract:
``{"instances": [{feature: value}, ...]}`` -> ``{"predictions": [...]}``.
Self-contained: the inference environment needs joblib and pandas, not
pytest-mlgates.
"""

import json
import os

_model = None


def _find(root, names):
    for folder, _dirs, files in os.walk(root):
        for name in names:
            if name in files:
                return os.path.join(folder, name)
    raise RuntimeError(f"no {' or '.join(names)} under {root}: the training script must write one into --model-dir")


def init():
    global _model
    path = _find(os.environ.get("AZUREML_MODEL_DIR", "."), ("model.joblib", "model.skops"))
    if path.endswith(".skops"):
        import skops.io as sio

        _model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    else:
        import joblib

        _model = joblib.load(path)


def run(raw_data):
    import pandas as pd

    rows = json.loads(raw_data)["instances"]
    predictions = _model.predict(pd.DataFrame(rows))
    return {"predictions": [p.item() if hasattr(p, "item") else p for p in predictions]}
