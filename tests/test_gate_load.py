"""The load gate's decision: sample-size-aware, fail-closed, with the figures in the message."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_mlgates.config import LoadSettings, Settings
from pytest_mlgates.gates import assert_slo
from pytest_mlgates.gates.context import collecting
from pytest_mlgates.gates.load import LoadResult, evaluate_slo, quantile_interval


def result(latencies: list[float], failed: list[bool] | None = None, errors: dict | None = None) -> LoadResult:
    return LoadResult.from_samples(latencies, failed, errors, duration_s=10.0, target="http://127.0.0.1:1")


def test_298_fast_requests_are_inconclusive_and_say_299_are_needed() -> None:
    with pytest.raises(AssertionError) as info:
        assert_slo(result([12.0] * 298), p99_ms=500, max_error_rate=0.01)
    message = str(info.value)
    assert message.startswith("load gate INCONCLUSIVE (fails closed)")
    assert "298 requests cannot show p99 < 500 ms at 95% confidence" in message
    assert "at least 299 requests" in message
    assert "unbounded" in message  # the p99 interval has no upper bound yet


def test_299_fast_requests_pass() -> None:
    verdict_ = assert_slo(result([12.0] * 299), p99_ms=500, max_error_rate=0.01)
    assert verdict_.passed and verdict_.figures["status"] == "passed"
    assert verdict_.figures["requests"] == 299 and verdict_.figures["p99_exceedances"] == 0


def test_a_slow_tail_fails_with_p99_interval_thresholds_and_count() -> None:
    rng = random.Random(3)
    latencies = [rng.uniform(20, 80) for _ in range(970)] + [rng.uniform(600, 900) for _ in range(30)]
    with pytest.raises(AssertionError) as info:
        assert_slo(result(latencies), p99_ms=500, max_error_rate=0.01)
    message = str(info.value)
    p99 = sorted(latencies)[989]
    assert message.startswith("load gate FAILED")
    assert f"p99 {p99:.1f} ms is not below the 500 ms threshold" in message
    assert "95% CI" in message and "30 of 1000 requests (3%) took >= 500 ms, at most 1% may" in message
    assert "error rate: 0% (0 of 1000" in message and "threshold < 1%" in message


def test_errors_fail_with_their_breakdown_and_interval() -> None:
    failed = [i % 20 == 0 for i in range(1000)]
    errors = {"HTTP 500 InjectedFault": 40, "ConnectionResetError: reset": 10}
    with pytest.raises(AssertionError) as info:
        assert_slo(result([10.0] * 1000, failed, errors), p99_ms=500, max_error_rate=0.01)
    message = str(info.value)
    assert "error rate 5% is not below 1%" in message
    assert "(50 of 1000; 95% CI 3.734% - 6.539%" in message
    assert "errors: HTTP 500 InjectedFault x 40; ConnectionResetError: reset x 10" in message


def test_few_errors_in_too_few_requests_are_inconclusive() -> None:
    failed = [i == 0 for i in range(400)]
    v = evaluate_slo(result([10.0] * 400, failed), p99_ms=500, max_error_rate=0.01)
    assert not v.passed and v.figures["status"] == "inconclusive"
    assert "cannot show an error rate < 1%" in v.message
    assert v.figures["error_rate_needed_requests"] > 400


def test_zero_requests_never_pass() -> None:
    empty = result([])
    empty.output = "locust said: connection refused"
    with pytest.raises(AssertionError, match="INCONCLUSIVE.*no request completed") as info:
        assert_slo(empty, p99_ms=500, max_error_rate=0.01)
    assert "locust said: connection refused" in str(info.value)
    assert math.isnan(empty.p99_ms) and empty.error_rate == 0.0 and empty.rps == 0.0


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), True, "500"])
def test_thresholds_must_be_positive_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match="p99_ms must be a positive number"):
        assert_slo(result([1.0] * 400), p99_ms=bad, max_error_rate=0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_error_rate must be a positive number"):
        assert_slo(result([1.0] * 400), p99_ms=500, max_error_rate=bad)  # type: ignore[arg-type]


def test_error_rate_of_one_or_more_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="below 1"):
        assert_slo(result([1.0] * 400), p99_ms=500, max_error_rate=1.0)


def test_not_a_result_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="LoadResult"):
        assert_slo([1.0, 2.0], p99_ms=500)  # type: ignore[arg-type]


def test_defaults_come_from_the_settings() -> None:
    strict = Settings(load=LoadSettings(p99_ms=5.0, max_error_rate=0.02))
    with pytest.raises(AssertionError, match="threshold < 5 ms"):
        assert_slo(result([10.0] * 400), settings=strict)
    assert assert_slo(result([1.0] * 400), settings=strict).figures["max_error_rate"] == 0.02


def test_extra_percentile_thresholds() -> None:
    latencies = [10.0] * 900 + [300.0] * 100  # p90 10, p95 300, p99 300
    with pytest.raises(AssertionError, match="p95 300.0 ms is not below the 200 ms threshold"):
        assert_slo(result(latencies), p99_ms=500, max_error_rate=0.01, p95_ms=200)


def test_every_verdict_is_recorded_for_the_report() -> None:
    with collecting() as recorded:
        assert_slo(result([3.0] * 500), p99_ms=500, max_error_rate=0.01)
        with pytest.raises(AssertionError):
            assert_slo(result([3.0] * 10), p99_ms=500, max_error_rate=0.01)
    assert [(v.gate, v.passed, v.figures["status"]) for v in recorded] == [
        ("load", True, "passed"), ("load", False, "inconclusive")]
    assert recorded[0].figures["p99_ms"] == 3.0 and recorded[0].figures["rps"] == 50.0


def test_percentiles_are_nearest_rank_observed_values() -> None:
    latencies = [float(i) for i in range(1, 1001)]
    random.Random(0).shuffle(latencies)
    r = result(latencies)
    assert (r.p50_ms, r.p90_ms, r.p95_ms, r.p99_ms, r.max_ms) == (500.0, 900.0, 950.0, 990.0, 1000.0)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 3000), exceed=st.integers(0, 60), seed=st.integers(0, 10**6))
def test_pass_only_when_the_binomial_test_supports_p99(n: int, exceed: int, seed: int) -> None:
    from scipy.stats import binom

    exceed = min(exceed, n)
    rng = random.Random(seed)
    latencies = [rng.uniform(1, 99) for _ in range(n - exceed)] + [rng.uniform(100, 200) for _ in range(exceed)]
    v = evaluate_slo(result(latencies), p99_ms=100, max_error_rate=0.5)
    supported = binom.cdf(exceed, n, 0.01) <= 0.05
    assert v.passed == supported
    if exceed / n > 0.01:
        assert v.figures["status"] == "failed"
    if v.passed:
        assert n >= 299  # nothing passes on fewer requests
    low, high = v.figures["p99_ci_ms"]
    assert low <= r_p99(latencies) <= high


def r_p99(latencies: list[float]) -> float:
    return sorted(latencies)[max(1, math.ceil(0.99 * len(latencies))) - 1]


def test_quantile_interval_covers_the_true_quantile_about_95_percent_of_the_time() -> None:
    rng = random.Random(11)
    true_p99 = -math.log(0.01) * 50  # exponential with mean 50 ms
    hits = 0
    for _ in range(300):
        sample = sorted(rng.expovariate(1 / 50) for _ in range(1000))
        low, high = quantile_interval(sample, 0.99, 0.95)
        hits += low <= true_p99 <= high
    assert 0.91 <= hits / 300 <= 0.995
