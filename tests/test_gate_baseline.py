"""The smoke gate: sane predictions that beat a trivial baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pytest_mlgates.gates import assert_beats_baseline
from pytest_mlgates.gates.baseline import infer_task


class Constant:
    def __init__(self, value: object) -> None:
        self.value = value

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return np.full(len(rows), self.value)


class Linear:
    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return rows["x"].to_numpy() * 2.0


class Broken:
    def __init__(self, out: object) -> None:
        self.out = out

    def predict(self, rows: pd.DataFrame) -> object:
        return self.out


@pytest.fixture
def rows() -> pd.DataFrame:
    x = np.arange(100, dtype=float)
    return pd.DataFrame({"x": x, "y": 2.0 * x + np.sin(x)})


def test_regression_model_beats_mean(rows: pd.DataFrame) -> None:
    v = assert_beats_baseline(Linear(), rows, target="y")
    assert v.figures["model_score"] < v.figures["baseline_score"]


def test_model_no_better_than_the_mean_fails(rows: pd.DataFrame) -> None:
    with pytest.raises(AssertionError, match="does not beat a trivial baseline"):
        assert_beats_baseline(Constant(rows["y"].mean()), rows, target="y")


@pytest.mark.parametrize("out, why", [
    (np.zeros(99), "99 predictions for 100 rows"),
    (np.zeros((100, 2)), "shape (100, 2)"),
    (np.full(100, np.nan), "non-finite"),
    (np.array(["a"] * 100), "must return numbers"),
])
def test_insane_predictions_fail(rows: pd.DataFrame, out: object, why: str) -> None:
    with pytest.raises(AssertionError, match="not sane") as err:
        assert_beats_baseline(Broken(out), rows, target="y", task="regression")
    assert why in str(err.value)


def test_classification_against_majority() -> None:
    rows = pd.DataFrame({"x": [0, 1] * 50, "label": ["no", "yes"] * 50})
    rows.loc[:19, "label"] = "no"

    class Echo:
        def predict(self, r: pd.DataFrame) -> np.ndarray:
            return np.where(r["x"] == 1, "yes", "no")

    assert assert_beats_baseline(Echo(), rows, target="label").figures["task"] == "classification"
    with pytest.raises(AssertionError, match="majority class 'no'"):
        assert_beats_baseline(Constant("no"), rows, target="label")
    with pytest.raises(AssertionError, match="never seen"):
        assert_beats_baseline(Constant("maybe"), rows, target="label")


def test_missing_target_is_a_clear_error(rows: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no target column 'eta'"):
        assert_beats_baseline(Linear(), rows, target="eta")


def test_task_inference() -> None:
    assert infer_task(np.array(["a", "b"])) == "classification"
    assert infer_task(np.array([0, 1] * 50)) == "classification"
    assert infer_task(np.linspace(0, 1, 100)) == "regression"
