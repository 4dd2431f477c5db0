"""A small real scikit-learn model and its data, for tests, benchmarks and demos of the staging gates.

Why here: the serving, load and shadow gates need a genuine fitted estimator
(a ColumnTransformer with numeric and categorical features, so the server's
schema checks have something to check) without a full training job. The
model folder follows the training contract (``model.joblib`` +
``metrics.json``), so it can be registered like any trained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ZONES = ("center", "north", "south", "east", "west")
NUMERIC = ("distance_km", "items", "hour")
CATEGORICAL = ("zone",)
FEATURES = NUMERIC + CATEGORICAL
TARGET = "eta_minutes"


def demo_rows(n_rows: int, seed: int = 0) -> Any:
    """``n_rows`` deliveries (features and ``eta_minutes``) as a pandas DataFrame; the same for the same seed."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    distance = rng.gamma(2.0, 2.0, n_rows).round(3)
    items = rng.poisson(2.5, n_rows) + 1
    hour = rng.integers(0, 24, n_rows)
    zone = rng.choice(ZONES, n_rows)
    eta = 10 + 4.0 * distance + 0.8 * items + 3.0 * (zone == "center") + 2.0 * ((hour >= 18) & (hour <= 20))
    eta = eta + rng.normal(0, 2.0, n_rows)
    return pd.DataFrame({"distance_km": distance, "items": items, "hour": hour, "zone": zone,
                         TARGET: eta.round(2)})


def train_demo_model(
    model_dir: str | Path,
    task: str = "regression",
    seed: int = 0,
    n_rows: int = 400,
    target_shift: float = 0.0,
    label_flip: float = 0.0,
) -> Path:
    """Fit and save a small model; ``target_shift`` / ``label_flip`` make a challenger that disagrees.

    Regression predicts ``eta_minutes`` (+ ``target_shift``); classification
    predicts "late" / "on_time" with a fraction ``label_flip`` of the training
    labels flipped.
    """
    import joblib
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from ..contract import write_metrics

    rows = demo_rows(n_rows, seed)
    features = rows[list(FEATURES)]
    prep = ColumnTransformer([("num", StandardScaler(), list(NUMERIC)),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL))])
    if task == "regression":
        y = rows[TARGET] + target_shift
        model = Pipeline([("prep", prep), ("model", Ridge(alpha=1.0))]).fit(features, y)
        metrics = {"val_mae": float(np.mean(np.abs(model.predict(features) - y)))}
    elif task == "classification":
        late = rows[TARGET] > rows[TARGET].median()
        flip = np.random.default_rng(seed + 1).random(n_rows) < label_flip
        y = np.where(late ^ flip, "late", "on_time")
        model = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))]).fit(features, y)
        metrics = {"val_accuracy": float(np.mean(model.predict(features) == y))}
    else:
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    folder = Path(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    write_metrics(folder, metrics)
    return folder


class ConstantModel:
    """Predicts one number for every row: the lightest genuine artifact (joblib-loadable, has predict).

    Why: tests of everything around the model (jobs, registry, ledger, promotion)
    need a model that registration can prove loads and predicts, without paying
    for scikit-learn in every training run.
    """

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def predict(self, rows: Any) -> list[float]:
        return [self.value] * len(rows)
