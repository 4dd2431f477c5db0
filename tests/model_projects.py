"""Two real user projects (a regression and a classifier, each with its training script and data) and the check
that a served answer is the trained model's own ``predict``: the end-to-end referee tests of every cloud."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "delivery_eta"

# Needs nothing of pytest-mlgates: a cloud's training container does not have it.
CLASSIFIER = """\
import argparse, json
from pathlib import Path
import joblib, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
p = argparse.ArgumentParser(); p.add_argument("--data"); p.add_argument("--model-dir"); p.add_argument("--inverse_reg", type=float)
a = p.parse_args()
frame = pd.read_csv(a.data)
model = make_pipeline(StandardScaler(), LogisticRegression(C=a.inverse_reg)).fit(frame.drop(columns=["label"]), frame["label"])
Path(a.model_dir).mkdir(parents=True, exist_ok=True)
joblib.dump(model, Path(a.model_dir) / "model.joblib")
(Path(a.model_dir) / "metrics.json").write_text(json.dumps({"val_accuracy": float(model.score(frame.drop(columns=["label"]), frame["label"]))}))
"""

Project = tuple[Path, dict[str, Any], list[dict[str, Any]]]
"""(project folder with train.py and data.csv, hyperparameters, rows to predict)."""


def classifier_project(root: Path) -> Project:
    """A logistic regression on three numeric columns."""
    import numpy as np

    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 3))
    label = (x @ [1.5, -2.0, 0.5] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    rows = [{"a": float(r[0]), "b": float(r[1]), "c": float(r[2])} for r in x]
    lines = ["a,b,c,label"] + [f"{r['a']!r},{r['b']!r},{r['c']!r},{y}" for r, y in zip(rows, label)]
    root.mkdir(parents=True)
    (root / "train.py").write_text(CLASSIFIER)
    (root / "data.csv").write_text("\n".join(lines) + "\n")
    return root, {"inverse_reg": 0.5}, rows[:25]


def regression_project(root: Path) -> Project:
    """The delivery-ETA example's own training script on 1500 of its rows."""
    import pandas as pd

    root.mkdir(parents=True)
    shutil.copy(EXAMPLE / "train.py", root / "train.py")
    frame = pd.read_csv(EXAMPLE / "data" / "deliveries.csv").head(1500)
    frame.to_csv(root / "data.csv", index=False)
    rows = json.loads(frame.drop(columns=["eta_minutes"]).head(25).to_json(orient="records"))
    return root, {"max_iter": 20, "max_depth": 3}, rows


PROJECTS: list[Callable[[Path], Project]] = [regression_project, classifier_project]
PROJECT_IDS = ["regression", "classifier"]


def assert_served_as_predicted(answer: tuple[int, str], model_file: Path, rows: list[dict[str, Any]]) -> None:
    """The served ``{"predictions": [...]}`` equals ``predict`` of the model in ``model_file`` on ``rows``."""
    import joblib
    import pandas as pd

    status, body = answer
    assert status == 200, body
    expected = joblib.load(model_file).predict(pd.DataFrame.from_records(rows)).tolist()
    assert json.loads(body)["predictions"] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert len(set(map(str, expected))) > 1  # the rows are told apart: no constant model slips through


# -- a dependency that only the project's requirements.txt brings --------------------------
DEPENDENCY = "mlgates-demo-dependency"
"""A package on no index and in no venv here: a script that imports it runs only where requirements.txt went."""
DEPENDENCY_VALUE = 42.5

USES_DEPENDENCY = """\
import argparse, json, os
import mlgates_demo_dependency
p = argparse.ArgumentParser(); p.add_argument("--data"); p.add_argument("--model-dir")
a, _ = p.parse_known_args()
os.makedirs(a.model_dir, exist_ok=True)
open(os.path.join(a.model_dir, "model.joblib"), "wb").write(b"a model")
json.dump({"dependency_value": mlgates_demo_dependency.VALUE}, open(os.path.join(a.model_dir, "metrics.json"), "w"))
"""


def dependency_wheel(wheelhouse: Path) -> Path:
    """Write a one-module wheel of DEPENDENCY into ``wheelhouse`` (pip installs a wheel with no build step)."""
    import base64
    import hashlib
    import zipfile

    name, module = DEPENDENCY.replace("-", "_") + "-0.1", DEPENDENCY.replace("-", "_")
    members = {
        f"{module}/__init__.py": f"VALUE = {DEPENDENCY_VALUE!r}\n".encode(),
        f"{name}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {DEPENDENCY}\nVersion: 0.1\n".encode(),
        f"{name}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in members.items()) + f"{name}.dist-info/RECORD,,\n"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    wheel = wheelhouse / f"{name}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in {**members, f"{name}.dist-info/RECORD": record.encode()}.items():
            archive.writestr(path, data)
    return wheel


def offline_pip(wheelhouse: Path, target: Path) -> dict[str, str]:
    """Environment that makes a ``pip install`` inside a platform's runtime offline: no index, no machine
    config, packages from ``wheelhouse`` only, installed into ``target`` (on PYTHONPATH), never into a venv."""
    import os

    return {"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": str(wheelhouse),
            "PIP_TARGET": str(target), "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONPATH": str(target)}
