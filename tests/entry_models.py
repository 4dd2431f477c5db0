"""Models and serving entries for the tests of registration's serving check (tests/test_entry_*.py).

A real scikit-learn model, and one whose class lives in a module of the user's
project: it loads where it was trained (the project on the path) but not where
a cloud serves it (the code folder and installed packages only).
"""

from __future__ import annotations

import importlib.util
import io
import sys
import textwrap
import uuid
from pathlib import Path

ROWS = [{"x": 1.0}, {"x": 2.0}, {"x": 4.0}]


def sklearn_model_bytes() -> bytes:
    """A fitted LinearRegression on the column ``x``, as a joblib file's bytes."""
    import joblib
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    buffer = io.BytesIO()
    joblib.dump(LinearRegression().fit(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), [2.0, 4.0, 6.0]), buffer)
    return buffer.getvalue()


def project_class_model_bytes(project: Path) -> tuple[bytes, str]:
    """(joblib bytes of a model whose class is in ``project``/<module>.py, that module's name)."""
    import joblib

    module = f"features_{uuid.uuid4().hex[:8]}"
    path = project / f"{module}.py"
    path.write_text(textwrap.dedent('''
        class ProjectModel:
            def predict(self, rows):
                return [float(x) * 2 for x in rows["x"]]
    '''))
    spec = importlib.util.spec_from_file_location(module, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded
    try:
        spec.loader.exec_module(loaded)
        buffer = io.BytesIO()
        joblib.dump(loaded.ProjectModel(), buffer)
    finally:
        del sys.modules[module]
    return buffer.getvalue(), module


def write_model(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.joblib").write_bytes(data)
    (folder / "metrics.json").write_text('{"val_mae": 1.0}')
    return folder


# Azure scoring scripts (init/run), each answering wrongly in one way
AZURE_SCRIPTS = {
    "healthy": '''
        import json, os, joblib, pandas as pd
        from pathlib import Path
        def init():
            global model
            root = Path(os.environ["AZUREML_MODEL_DIR"])
            model = joblib.load(next(root.rglob("model.joblib")))
        def run(raw):
            rows = json.loads(raw)["instances"]
            return {"predictions": [float(p) for p in model.predict(pd.DataFrame.from_records(rows))]}
    ''',
    "no_run": '''
        def init():
            pass
    ''',
    "bare_list": '''
        import json
        def init():
            pass
        def run(raw):
            return [0.0 for _ in json.loads(raw)["instances"]]
    ''',
    "wrong_count": '''
        def init():
            pass
        def run(raw):
            return {"predictions": [0.0]}
    ''',
    "not_json": '''
        def init():
            pass
        def run(raw):
            return {"predictions": object()}
    ''',
}

# SageMaker inference.py files (model_fn/input_fn/predict_fn/output_fn)
SAGEMAKER_SCRIPTS = {
    "healthy": '''
        import json, os, joblib, pandas as pd
        def model_fn(model_dir):
            return joblib.load(os.path.join(model_dir, "model.joblib"))
        def input_fn(body, content_type):
            assert content_type == "application/json", content_type
            return pd.DataFrame.from_records(json.loads(body)["instances"])
        def predict_fn(data, model):
            return [float(p) for p in model.predict(data)]
        def output_fn(prediction, accept):
            return json.dumps({"predictions": prediction}), accept
    ''',
    "no_output_fn": '''
        def model_fn(model_dir):
            return None
        def input_fn(body, content_type):
            return body
        def predict_fn(data, model):
            return data
    ''',
    "bare_list": '''
        import json
        def model_fn(model_dir):
            return None
        def input_fn(body, content_type):
            return json.loads(body)["instances"]
        def predict_fn(data, model):
            return [0.0] * len(data)
        def output_fn(prediction, accept):
            return json.dumps(prediction)
    ''',
    "not_json": '''
        def model_fn(model_dir):
            return None
        def input_fn(body, content_type):
            return body
        def predict_fn(data, model):
            return data
        def output_fn(prediction, accept):
            return "predictions: 1, 2, 3"
    ''',
    "unencoded": '''
        def model_fn(model_dir):
            return None
        def input_fn(body, content_type):
            return body
        def predict_fn(data, model):
            return data
        def output_fn(prediction, accept):
            return {"predictions": [1, 2, 3]}
    ''',
}

VERTEX_SCRIPTS = {
    "no_class": '''
        class SomeOtherPredictor:
            pass
    ''',
    "wrong_count": '''
        class MlgatesPredictor:
            def load(self, artifacts_uri):
                pass
            def preprocess(self, prediction_input):
                return prediction_input["instances"]
            def predict(self, instances):
                return {"predictions": [1.0] * (len(instances) + 1)}
            def postprocess(self, results):
                return results
    ''',
}


def write_script(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path
