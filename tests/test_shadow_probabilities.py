"""Shadow on classifiers: class probabilities compared where the model has predict_proba, not only labels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from pytest_mlgates.contract import digest_dir
from pytest_mlgates.endpoint_client import EndpointClient, shadow_replay
from pytest_mlgates.gates.shadow import ShadowResult, evaluate_shadow

from test_serving import _start, _stop, _wait_ready


def result(rows: int, shift: float, noise: float = 0.0, seed: int = 0) -> ShadowResult:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.6, 0.9, rows)  # every label is 1 on both sides: label agreement is perfect
    q = np.clip(p - shift + noise * rng.normal(size=rows), 0.51, 1.0)
    labels = [1] * rows
    return ShadowResult(labels, labels, champion_probabilities=[[1 - a, a] for a in p],
                        challenger_probabilities=[[1 - b, b] for b in q])


def test_same_labels_but_moved_probabilities_fail_the_shadow_gate() -> None:
    v = evaluate_shadow(result(300, 0.2), max_latency_ratio=None)
    assert not v.passed and v.figures["agreement"] == 1.0
    assert "class probabilities moved by 0.18" in v.message and v.figures["probability_rows"] == 300


def test_a_small_shift_on_enough_rows_passes_and_on_few_rows_is_inconclusive() -> None:
    ok = evaluate_shadow(result(1000, 0.01, noise=0.005), max_latency_ratio=None, min_agreement=0.99)
    assert ok.passed and ok.figures["probability_shift_upper"] < 0.05
    few = evaluate_shadow(result(3, 0.03, noise=0.05, seed=1), max_latency_ratio=None, min_agreement=0.5)
    assert not few.passed and few.figures["status"] == "inconclusive"
    assert "cannot show a probability shift below 0.05" in few.message


def test_without_probabilities_only_labels_are_compared() -> None:
    v = evaluate_shadow(ShadowResult([1, 0] * 100, [1, 0] * 100), max_latency_ratio=None)
    assert v.passed and "probability_shift" not in v.figures


@pytest.fixture(scope="module")
def classifier_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("clf") / "m"
    folder.mkdir()
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    joblib.dump(LogisticRegression().fit(x, (x["a"] + x["b"] > 0).astype(int)), folder / "model.joblib")
    proc, ready = _start(["model", "--model-dir", str(folder), "--sha256", digest_dir(folder), "--model-id", "c:1"],
                         tmp_path_factory.mktemp("srv"))
    try:
        yield _wait_ready(proc, ready)
    finally:
        _stop(proc)


def test_the_shadow_replay_asks_a_real_server_for_probabilities(classifier_server: str) -> None:
    plain = requests.post(classifier_server + "/invocations", json={"instances": [{"a": 1.0, "b": 0.5}]}, timeout=10)
    assert "probabilities" not in plain.json()  # production traffic does not pay for them
    rows = [{"a": float(a), "b": float(b)} for a, b in np.random.default_rng(1).normal(size=(40, 2))]
    client = EndpointClient(url=classifier_server, name="c", model_id="c:1")
    replay = shadow_replay(client, EndpointClient(url=classifier_server, name="c2", model_id="c:1"), rows)
    assert all(len(p) == 2 and abs(sum(p) - 1) < 1e-9 for p in replay.champion_probabilities)
    v = evaluate_shadow(replay, max_latency_ratio=None, min_agreement=0.9)
    assert v.passed and v.figures["probability_rows"] == 40 and v.figures["probability_shift"] == 0.0
