"""Train the delivery-ETA model: the training contract of pytest-mlgates.

    python train.py --data data/deliveries.csv --model-dir out/ [--max_depth 6] [--learning_rate 0.1]

Writes ``out/model.joblib`` (a scikit-learn Pipeline whose ``predict`` takes a
DataFrame of feature columns) and ``out/metrics.json`` with the validation
metrics and the fingerprint of the validation rows. The same script runs on
the local platform and on the clouds, so it imports nothing of pytest-mlgates:
a cloud's training container does not have it installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

TARGET = "eta_minutes"
CATEGORICAL = ["city_zone", "courier_type", "weather"]


def split(frame: pd.DataFrame, validation_fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic split: every fifth row is validation, so every run scores on the same rows."""
    is_val = np.arange(len(frame)) % round(1 / validation_fraction) == 0
    return frame[~is_val], frame[is_val]


def fingerprint(rows: pd.DataFrame) -> str:
    """Names the raw validation rows: the champion gate compares only models scored on the same rows."""
    return "sha256:" + hashlib.sha256(rows.to_csv(index=False).encode()).hexdigest()[:32]


def build(max_depth: int, learning_rate: float, max_iter: int) -> Pipeline:
    features = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL)],
        remainder="passthrough",
    )
    model = HistGradientBoostingRegressor(max_depth=max_depth, learning_rate=learning_rate, max_iter=max_iter,
                                          random_state=0)
    return Pipeline([("features", features), ("model", model)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--max_depth", type=int, default=6)
    parser.add_argument("--learning_rate", type=float, default=0.1)
    parser.add_argument("--max_iter", type=int, default=200)
    parser.add_argument("--label_noise", type=float, default=0.0,
                        help="corrupt this fraction of training labels (to demo a worse challenger)")
    args = parser.parse_args()

    started = time.perf_counter()
    frame = pd.read_csv(args.data)
    train, val = split(frame)
    y_train = train[TARGET].to_numpy().copy()
    if args.label_noise > 0:
        rng = np.random.default_rng(1)
        noisy = rng.random(len(y_train)) < args.label_noise
        y_train[noisy] = rng.permutation(y_train[noisy])
    pipeline = build(args.max_depth, args.learning_rate, args.max_iter)
    pipeline.fit(train.drop(columns=[TARGET]), y_train)
    pred = pipeline.predict(val.drop(columns=[TARGET]))

    out = Path(args.model_dir)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, out / "model.joblib")
    metrics = {
        "val_mae": float(mean_absolute_error(val[TARGET], pred)),
        "val_rmse": float(np.sqrt(mean_squared_error(val[TARGET], pred))),
        "train_rows": len(train),
        "val_rows": len(val),
        "train_seconds": time.perf_counter() - started,
        "validation_fingerprint": fingerprint(val),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"trained on {len(train)} rows; val_mae={mean_absolute_error(val[TARGET], pred):.3f}")


if __name__ == "__main__":
    main()
