"""The shadow gate's decision on paired champion/challenger answers."""

from __future__ import annotations

import random

import pytest

from pytest_mlgates.config import Settings, ShadowSettings
from pytest_mlgates.gates import assert_shadow_agreement
from pytest_mlgates.gates.shadow import ShadowResult, detect_task, evaluate_shadow

SETTINGS = Settings(shadow=ShadowSettings(margin=1.0, min_agreement=0.95, max_latency_ratio=2.0))


def paired(champ: list, chall: list, champ_ms: list | None = None, chall_ms: list | None = None,
           chall_err: list | None = None) -> ShadowResult:
    n = len(champ)
    return ShadowResult(champ, chall, champ_ms or [5.0] * n, chall_ms or [5.0] * n, [None] * n,
                        chall_err or [None] * n, champion_id="eta:1", challenger_id="eta:2")


def regression(n: int, shift: float = 0.0, noise: float = 0.1, seed: int = 0) -> tuple[list, list]:
    rng = random.Random(seed)
    champ = [rng.uniform(10, 60) for _ in range(n)]
    return champ, [c + shift + rng.gauss(0, noise) for c in champ]


def test_equivalent_regression_passes_with_both_ids() -> None:
    champ, chall = regression(200, shift=0.05)
    v = assert_shadow_agreement(paired(champ, chall), settings=SETTINGS)
    assert v.passed and v.figures["task"] == "regression"
    assert "challenger eta:2 vs champion eta:1" in v.message
    assert v.figures["mean_abs_difference"] < 0.2 and v.figures["tost_p_value"] < 0.05


def test_a_shifted_challenger_fails_on_the_mean_absolute_difference() -> None:
    champ, chall = regression(200, shift=3.0)
    with pytest.raises(AssertionError) as info:
        assert_shadow_agreement(paired(champ, chall), settings=SETTINGS)
    message = str(info.value)
    assert message.startswith("shadow gate FAILED for challenger eta:2 vs champion eta:1")
    assert "mean absolute difference 3" in message and "margin 1" in message
    assert "TOST p =" in message


def test_differences_that_cancel_out_do_not_pass() -> None:
    rng = random.Random(2)
    champ = [rng.uniform(10, 60) for _ in range(300)]
    chall = [c + (4.0 if i % 2 else -4.0) for i, c in enumerate(champ)]  # mean difference 0, MAD 4
    v = evaluate_shadow(paired(champ, chall), margin=1.0)
    assert not v.passed and "mean absolute difference 4" in v.message


def test_too_few_rows_are_inconclusive() -> None:
    champ, chall = regression(4, shift=0.3, noise=0.6, seed=5)
    v = evaluate_shadow(paired(champ, chall), margin=1.0)
    assert not v.passed and v.figures["status"] == "inconclusive"
    assert "cannot show equivalence within +-1" in v.message


def test_challenger_failures_count_against_it() -> None:
    champ, chall = regression(200)
    errors = [None] * 200
    for i in range(0, 200, 10):
        chall[i], errors[i] = None, "HTTP 500 InjectedFault"
    with pytest.raises(AssertionError) as info:
        assert_shadow_agreement(paired(champ, chall, chall_err=errors), settings=SETTINGS)
    assert "challenger failed on 20 of 200 requests" in str(info.value)
    assert "HTTP 500 InjectedFault x 20" in str(info.value)


def test_champion_failures_are_left_out_and_said_so() -> None:
    champ, chall = regression(220)
    champ[:20] = [None] * 20
    v = evaluate_shadow(paired(champ, chall), margin=1.0)
    assert v.passed and v.figures["compared"] == 200 and "20 champion failures left out" in v.message
    nothing = evaluate_shadow(paired([None] * 5, [1.0] * 5), margin=1.0)
    assert not nothing.passed and "answered none of the 5 requests" in nothing.message


def test_default_margin_is_five_percent_of_the_champion_mean() -> None:
    champ = [40.0 + (i % 3) for i in range(200)]  # mean ~41 -> margin ~2.05
    within = evaluate_shadow(paired(champ, [c + 1.0 for c in champ]))
    assert within.passed and within.figures["margin"] == pytest.approx(0.05 * sum(champ) / 200)
    beyond = evaluate_shadow(paired(champ, [c + 2.5 for c in champ]))
    assert not beyond.passed


def test_classification_agreement_pass_fail_and_inconclusive() -> None:
    labels = ["late" if i % 3 else "on_time" for i in range(400)]
    same = evaluate_shadow(paired(labels, list(labels)), min_agreement=0.95)
    assert same.passed and same.figures["task"] == "classification" and same.figures["agreement"] == 1.0
    flipped = list(labels)
    for i in range(0, 400, 10):
        flipped[i] = "on_time" if flipped[i] == "late" else "late"
    worse = evaluate_shadow(paired(labels, flipped), min_agreement=0.95)
    assert not worse.passed and "agreement 90.00% is below the required 95.00%" in worse.message
    few = evaluate_shadow(paired(labels[:30], labels[:30]), min_agreement=0.95)
    assert few.figures["status"] == "inconclusive" and few.figures["needed_rows"] > 30


def test_failed_classification_answers_are_disagreements() -> None:
    labels = ["a", "b"] * 100
    chall: list = list(labels)
    chall[:15] = [None] * 15
    v = evaluate_shadow(paired(labels, chall, chall_err=["HTTP 502"] * 15 + [None] * 185), min_agreement=0.95)
    assert not v.passed and v.figures["agreement"] == pytest.approx(185 / 200)


def test_a_slower_challenger_fails_on_the_latency_ratio() -> None:
    champ, chall = regression(200)
    v = evaluate_shadow(paired(champ, chall, [4.0] * 200, [12.0] * 200), margin=1.0, max_latency_ratio=2.0)
    assert not v.passed and "3.00x slower (median) than the champion; at most 2x" in v.message
    unmeasured = ShadowResult(champ, chall)
    assert evaluate_shadow(unmeasured, margin=1.0).passed


def test_prediction_lists_without_a_result() -> None:
    champ, chall = regression(200)
    assert assert_shadow_agreement(champion_predictions=champ, challenger_predictions=chall, margin=1.0,
                                   settings=SETTINGS).passed
    with pytest.raises(TypeError, match="ShadowResult"):
        assert_shadow_agreement({"a": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pair up"):
        ShadowResult([1.0, 2.0], [1.0])


@pytest.mark.parametrize(("kwargs", "words"), [({"margin": -1.0}, "margin"), ({"confidence": 1.0}, "confidence"),
                                               ({"min_agreement": 0}, "min_agreement"),
                                               ({"task": "ranking"}, "task")])
def test_bad_arguments_are_value_errors(kwargs: dict, words: str) -> None:
    champ, chall = regression(20)
    with pytest.raises(ValueError, match=words):
        evaluate_shadow(paired(champ, chall), **kwargs)


def test_task_detection() -> None:
    assert detect_task(["late", "on_time"]) == "classification"
    assert detect_task([0, 1, 1]) == "classification"
    assert detect_task([1.5, 2.0]) == "regression"
    assert detect_task([None, 3.2]) == "regression"


def test_mirror_records_become_pairs() -> None:
    records = [
        {"seq": 1, "request": {"instances": [{"x": 1}, {"x": 2}]}, "deployment": "blue", "status": 200, "ms": 4.0,
         "body": {"predictions": [1.0, 2.0]}, "mirror": "green", "mirror_status": 200, "mirror_ms": 6.0,
         "mirror_body": {"predictions": [1.1, 2.1]}},
        {"seq": 2, "request": {"instances": [{"x": 3}]}, "deployment": "blue", "status": 200, "ms": 4.0,
         "body": {"predictions": [3.0]}, "mirror": "green", "mirror_status": 500, "mirror_ms": 1.0,
         "mirror_body": {"error": {"code": "InjectedFault", "message": "x"}}},
    ]
    result = ShadowResult.from_mirror_records(records)
    assert result.source == "mirror" and (result.champion_id, result.challenger_id) == ("blue", "green")
    assert result.champion_predictions == [1.0, 2.0, 3.0]
    assert result.challenger_predictions == [1.1, 2.1, None]
    assert result.challenger_errors == [None, None, "HTTP 500 InjectedFault"]
    assert result.challenger_latencies_ms == [6.0, 6.0, 1.0]
