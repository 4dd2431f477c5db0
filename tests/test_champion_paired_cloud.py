"""The paired champion gate on a cloud: both registered artifacts fetched from their jobs and re-scored.

SageMaker through boto3 against moto (the harness of test_sagemaker.py): the champion's and the
challenger's model.tar.gz are real scikit-learn models; the gate must re-score exactly the
registered artifacts, and refuse one that changed after registration.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from pytest_mlgates.adapters.sagemaker import SageMakerAdapter
from pytest_mlgates.config import Settings, TrainingSettings
from pytest_mlgates.fixtures.champion import evaluate
from pytest_mlgates.records import IntegrityError
from test_sagemaker import MotoHarness, adapter, aws_env, make_tar, moto, project, registered, sleeps  # noqa: F401


def model_bytes(c: float, frame: pd.DataFrame) -> tuple[Any, bytes]:
    model = LogisticRegression(C=c).fit(frame[["a", "b"]], frame["label"])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return model, buffer.getvalue()


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(200, 2))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": (x[:, 0] - x[:, 1] + rng.normal(0, 1, 200) > 0).astype(int)})


def settings_for(adapter: SageMakerAdapter) -> Settings:  # noqa: F811
    return dataclasses.replace(adapter.settings, training=TrainingSettings(target="label"))


def test_both_registered_artifacts_are_fetched_and_rescored_on_the_same_rows(
    adapter: SageMakerAdapter, moto: MotoHarness, frame: pd.DataFrame  # noqa: F811
) -> None:
    old, old_bytes = model_bytes(0.001, frame)
    new, new_bytes = model_bytes(10.0, frame)
    rows = frame.to_csv(index=False).encode()
    champion = registered(adapter, moto, files={"model.joblib": old_bytes})
    challenger = registered(adapter, moto, files={"model.joblib": new_bytes, "validation.csv": rows})
    before = len(moto.recorder.calls)
    got = evaluate(adapter, settings_for(adapter), challenger, champion)
    features = frame[["a", "b"]]
    assert got.rows_source == "validation.csv in the challenger's model folder"
    assert got.y.tolist() == frame["label"].tolist()
    assert got.champion.proba.tolist() == pytest.approx(old.predict_proba(features)[:, 1].tolist())
    assert got.challenger.proba.tolist() == pytest.approx(new.predict_proba(features)[:, 1].tolist())
    assert got.champion.proba.tolist() != pytest.approx(got.challenger.proba.tolist())  # two models, not one twice
    fetched = [c.path for c in moto.recorder.calls[before:] if c.method == "GET" and c.path.endswith("model.tar.gz")]
    assert sorted(fetched) == sorted(f"/{m.artifact_uri[5:]}" for m in (champion, challenger))  # each artifact once


def test_an_artifact_changed_after_registration_fails_the_gate_closed(
    adapter: SageMakerAdapter, moto: MotoHarness, frame: pd.DataFrame  # noqa: F811
) -> None:
    _, old_bytes = model_bytes(0.001, frame)
    _, new_bytes = model_bytes(10.0, frame)
    champion = registered(adapter, moto, files={"model.joblib": old_bytes})
    challenger = registered(adapter, moto, files={"model.joblib": new_bytes,
                                                  "validation.csv": frame.to_csv(index=False).encode()})
    bucket, _, key = champion.artifact_uri[5:].partition("/")
    moto.client("s3").put_object(Bucket=bucket, Key=key, Body=make_tar({"model.joblib": new_bytes}, '{"val_mae": 1}'))
    with pytest.raises(IntegrityError) as info:
        evaluate(adapter, settings_for(adapter), challenger, champion)
    assert champion.id in str(info.value) and champion.sha256 in str(info.value)
    assert "changed after registration" in str(info.value)
